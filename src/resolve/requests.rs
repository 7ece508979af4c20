//! A request's templates: compiled, checked against the variables defined
//! where the request runs, and what they read recorded.

use std::collections::BTreeSet;

use super::{check_defined, ResolveError, Templates};
use crate::load::{Body, Data, HeaderCheck, PartKind, Predicate, Request, Text};

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
        let used = self.templates.compile_text(t)?;
        self.check(used, &t.at)?;
        self.reads.auths.extend(self.templates.auths_of_text(t));
        Ok(())
    }

    fn data(&mut self, d: &Data) -> Result<(), ResolveError> {
        let used = self.templates.compile_data(d)?;
        self.check(used, &d.at)?;
        self.reads.auths.extend(self.templates.auths_of_data(d));
        Ok(())
    }

    fn predicates(&mut self, predicates: &[Predicate]) -> Result<(), ResolveError> {
        for p in predicates {
            match p {
                Predicate::Eq(d)
                | Predicate::Ne(d)
                | Predicate::Lt(d)
                | Predicate::Le(d)
                | Predicate::Gt(d)
                | Predicate::Ge(d)
                | Predicate::Contains(d)
                | Predicate::OneOf(d) => self.data(d)?,
                Predicate::Length(inner) | Predicate::Every(inner) => self.predicates(inner)?,
                Predicate::Matches(_) | Predicate::Exists(_) | Predicate::Type(_) => {}
            }
        }
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
    c.text(&r.url)?;
    for (_, t) in r.query.iter().chain(&r.headers) {
        c.text(t)?;
    }
    match &r.body {
        Some(Body::Form(pairs)) => pairs.iter().try_for_each(|(_, t)| c.text(t))?,
        Some(Body::Multipart(parts)) => {
            for part in parts {
                match &part.kind {
                    PartKind::Text(t) => c.text(t)?,
                    PartKind::File { path, .. } => c.text(path)?,
                }
            }
        }
        Some(Body::Raw(t)) => c.text(t)?,
        Some(Body::Json(d)) => c.data(d)?,
        None => {}
    }
    for h in &r.expect.headers {
        for check in &h.checks {
            if let HeaderCheck::Equals(t) | HeaderCheck::Contains(t) = check {
                c.text(t)?;
            }
        }
    }
    if let Some(b) = &r.expect.body {
        for t in b.equals.iter().chain(&b.contains) {
            c.text(t)?;
        }
        if let Some(d) = &b.json {
            c.data(d)?;
        }
    }
    for a in &r.expect.json {
        c.predicates(&a.predicates)?;
    }
    let mut reads = c.reads;
    reads.vars.sort();
    reads.vars.dedup();
    reads.auths.sort();
    reads.auths.dedup();
    Ok(reads)
}
