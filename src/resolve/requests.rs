//! A request's templates: compiled, checked against the variables defined
//! where the request runs, and what they read recorded.

use std::collections::BTreeSet;

use super::{check_defined, ResolveError, Templates};
use crate::load::{Data, Request, Template, Text};

/// The variables defined where a request runs.
pub struct Scope<'a> {
    pub known: &'a BTreeSet<String>,
    /// Whether `auth` (the request's own token) is defined.
    pub auth: bool,
}

/// What a request's templates read.
#[derive(Default)]
pub struct Reads {
    pub vars: Vec<String>,
    pub auths: Vec<String>,
}

struct Checker<'a, 't> {
    templates: &'t mut Templates,
    scope: &'a Scope<'a>,
    reads: Reads,
}

impl Checker<'_, '_> {
    fn check(&mut self, used: Vec<String>, at: &crate::load::Pos) -> Result<(), ResolveError> {
        let missing: Vec<String> = used
            .iter()
            .filter(|v| !(self.scope.known.contains(*v) || self.scope.auth && *v == "auth"))
            .cloned()
            .collect();
        check_defined(&missing, self.scope.known, at, "")?;
        self.reads.vars.extend(used);
        Ok(())
    }

    fn text(&mut self, t: &Text) -> Result<(), ResolveError> {
        let reading = self.templates.compile_text_reading(t)?;
        self.check(reading.vars, &t.at)?;
        self.reads.auths.extend(reading.auths);
        Ok(())
    }

    fn data(&mut self, d: &Data) -> Result<(), ResolveError> {
        let reading = self.templates.compile_data_reading(d)?;
        self.check(reading.vars, &d.at)?;
        self.reads.auths.extend(reading.auths);
        Ok(())
    }
}

/// Compiles every template of a request and checks the variables it reads
/// are known at that point of the collection.
pub fn check_request(
    r: &Request,
    templates: &mut Templates,
    scope: &Scope,
) -> Result<Reads, ResolveError> {
    let mut c = Checker {
        templates,
        scope,
        reads: Reads::default(),
    };
    for template in r.templates() {
        match template {
            Template::Text(t) => c.text(t)?,
            Template::Data(d) => c.data(d)?,
        }
    }
    let mut reads = c.reads;
    reads.vars.sort();
    reads.vars.dedup();
    reads.auths.sort();
    reads.auths.dedup();
    // Kept with every planned request: no slack.
    reads.vars.shrink_to_fit();
    reads.auths.shrink_to_fit();
    Ok(reads)
}
