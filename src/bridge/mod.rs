//! Bridges to where users already work: curl commands both ways, Postman
//! collections in. They produce or read collections; the pipeline does not
//! know them.

pub mod curl;
pub mod postman;

/// A name from another tool (`base-url`, `api.key`, `1st`) as a variable name.
fn identifier(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if id.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        id.insert(0, '_');
    }
    id
}
