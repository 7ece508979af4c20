//! `for_each` requests expanded into one copy per item before the run, so
//! that every item is a test of its own, listed and filtered like any.

use std::collections::HashMap;

use minijinja::Value;
use serde_json::Value as Json;

use super::{is_template, ResolveError, Templates, Vars};
use crate::load::{Collection, ForEach, Item, Pos, Request, Text, MAX_ROWS};

/// `c` with each `for_each` request replaced by its copies, one per item,
/// named by the request's name rendered with the item (else `name[N]`).
pub(super) fn expand(
    mut c: Collection,
    vars: &Vars,
    templates: &mut Templates,
) -> Result<Collection, ResolveError> {
    for request in &mut c.requests {
        if !request.with.is_empty() && is_template(&request.name) {
            request.name = spliced_name(request, vars, templates)?;
        }
    }
    if c.requests.iter().all(|r| r.for_each.is_none()) {
        unique_names(&c.requests)?;
        return Ok(c);
    }
    let mut out = Vec::with_capacity(c.requests.len());
    for (index, request) in std::mem::take(&mut c.requests).into_iter().enumerate() {
        match request.for_each.as_deref().cloned() {
            None => out.push(request),
            // A list captured during the run: its items become tests when
            // it comes; the name they render is checked now.
            Some(ForEach::Var { data, .. }) if reads_captures(&data, vars, templates)? => {
                templates.compile_text(&title(&request))?;
                out.push(request)
            }
            Some(each) => {
                let (items, name) = items(each, vars, templates)?;
                copies(&request, index, items, &name, vars, templates, &mut out)?;
            }
        }
    }
    unique_names(&out)?;
    c.requests = out;
    Ok(c)
}

fn error(at: &Pos, message: String) -> ResolveError {
    ResolveError::Environment {
        file: at.to_string(),
        message,
    }
}

/// Whether a `for_each` template reads what only the run will set.
fn reads_captures(
    data: &crate::load::Data,
    vars: &Vars,
    templates: &mut Templates,
) -> Result<bool, ResolveError> {
    let used = templates.compile_data(data)?;
    Ok(used.iter().any(|u| !vars.contains_key(u)))
}

/// The items of a `for_each` and the variable they are bound to.
fn items(
    each: ForEach,
    vars: &Vars,
    templates: &mut Templates,
) -> Result<(Vec<Json>, String), ResolveError> {
    let (items, name, at) = match each {
        ForEach::List { items, name } => (items, name, None),
        ForEach::Var { data, name } => {
            match templates.render_data(&data, &Value::from(vars.clone()))? {
                Json::Array(items) => (items, name, Some(data.at)),
                other => {
                    return Err(error(
                        &data.at,
                        format!("`for_each` gives {other}, not a list"),
                    ))
                }
            }
        }
    };
    if items.len() > MAX_ROWS {
        let at = at.map(|a| a.to_string()).unwrap_or_default();
        return Err(ResolveError::Environment {
            file: at,
            message: format!("`for_each` has {} items: at most {MAX_ROWS}", items.len()),
        });
    }
    Ok((items, name))
}

/// One copy of `request` per item, each bound to its item.
fn copies(
    request: &Request,
    index: usize,
    items: Vec<Json>,
    name: &str,
    vars: &Vars,
    templates: &mut Templates,
    out: &mut Vec<Request>,
) -> Result<(), ResolveError> {
    if items.is_empty() {
        return Err(error(
            &request.at,
            format!(
                "`for_each` of `{}` has no items: no test would run",
                request.name
            ),
        ));
    }
    templates.compile_text(&title(request))?;
    for (i, item) in items.into_iter().enumerate() {
        let mut copy = request.clone();
        copy.name = item_name(templates, request, i, &item, name, vars)?;
        copy.for_each = None;
        copy.item = Some(Box::new(Item {
            name: name.to_string(),
            value: item,
            group: index,
        }));
        out.push(copy);
    }
    Ok(())
}

/// A `for_each` request's name as a template.
fn title(request: &Request) -> Text {
    Text {
        src: request.name.as_str().into(),
        at: request.at.clone(),
    }
}

/// The test name of item `i` of a `for_each` request: its name rendered
/// with the item bound to `as_name`, else `name[N]`. The name was compiled
/// when the plan was resolved.
pub fn item_name(
    templates: &Templates,
    request: &Request,
    i: usize,
    item: &Json,
    as_name: &str,
    vars: &Vars,
) -> Result<String, super::RenderError> {
    let title = title(request);
    if !is_template(&title.src) {
        return Ok(format!("{}[{}]", request.name, i + 1));
    }
    let mut with_item = vars.clone();
    with_item.insert(as_name.to_string(), Value::from_serialize(item));
    let name = templates.render_text(&title, &Value::from(with_item))?;
    Ok(name.trim().to_string())
}

/// The name of a request spliced in by an `include` with `with` values:
/// rendered with them (and the starting variables), since it names a test.
fn spliced_name(
    request: &Request,
    vars: &Vars,
    templates: &mut Templates,
) -> Result<String, ResolveError> {
    let mut bound = vars.clone();
    for (name, data) in &request.with {
        templates.compile_data(data)?;
        let value = templates.render_data(data, &Value::from(bound.clone()))?;
        bound.insert(name.clone(), Value::from_serialize(&value));
    }
    let title = Text {
        src: request.name.as_str().into(),
        at: request.at.clone(),
    };
    templates.compile_text(&title)?;
    Ok(templates
        .render_text(&title, &Value::from(bound))?
        .trim()
        .to_string())
}

/// Test names stay unique once `for_each` names are rendered.
fn unique_names(requests: &[Request]) -> Result<(), ResolveError> {
    let mut seen: HashMap<&str, &Pos> = HashMap::new();
    for r in requests {
        if let Some(first) = seen.insert(&r.name, &r.at) {
            return Err(error(
                &r.at,
                format!(
                    "two tests are named `{}` (the first from line {}): give `for_each` items names that differ, such as `create {{{{ item.id }}}}`",
                    r.name, first.line
                ),
            ));
        }
    }
    Ok(())
}
