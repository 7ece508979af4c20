//! Just enough HTML to log in headlessly: the forms of a page, their
//! action, method and fields. Login pages are machine-made and small; a
//! full HTML parser would be a large dependency for this.

use std::sync::OnceLock;

use regex::Regex;

use crate::secrets::shown::unescape;

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub inputs: Vec<Input>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: String,
    pub value: String,
    pub kind: String,
}

fn tag_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?is)<(/?)(form|input|button|select|textarea)\b([^>]*)>").expect("valid")
    })
}

fn attr_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?s)([A-Za-z_:][-A-Za-z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"#,
        )
        .expect("valid")
    })
}

fn attrs(text: &str) -> Vec<(String, String)> {
    attr_regex()
        .captures_iter(text)
        .map(|c| {
            let value = c
                .get(2)
                .or(c.get(3))
                .or(c.get(4))
                .map(|m| m.as_str())
                .unwrap_or("");
            (c[1].to_ascii_lowercase(), unescape(value))
        })
        .collect()
}

pub fn forms(html: &str) -> Vec<Form> {
    let mut out = Vec::new();
    let mut current: Option<Form> = None;
    for tag in tag_regex().captures_iter(html) {
        let closing = !tag[1].is_empty();
        let name = tag[2].to_ascii_lowercase();
        let a = attrs(&tag[3]);
        let get = |k: &str| a.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match (name.as_str(), closing) {
            ("form", false) => {
                if let Some(f) = current.take() {
                    out.push(f);
                }
                current = Some(Form {
                    action: get("action").unwrap_or_default(),
                    method: get("method")
                        .unwrap_or_else(|| "get".into())
                        .to_ascii_lowercase(),
                    inputs: Vec::new(),
                });
            }
            ("form", true) => out.extend(current.take()),
            (_, false) => {
                let (Some(form), Some(field)) = (current.as_mut(), get("name")) else {
                    continue;
                };
                let kind = get("type")
                    .unwrap_or_else(|| {
                        if name == "input" {
                            "text".into()
                        } else {
                            name.clone()
                        }
                    })
                    .to_ascii_lowercase();
                // Only the clicked submit button is sent; none is clicked here.
                if kind == "submit"
                    || name == "button"
                    || (kind == "checkbox" && get("checked").is_none())
                {
                    continue;
                }
                form.inputs.push(Input {
                    name: field,
                    value: get("value").unwrap_or_default(),
                    kind,
                });
            }
            _ => {}
        }
    }
    out.extend(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_forms_with_their_fields() {
        let html = r#"<html><body><p>Sign in</p>
            <form autocomplete="off" action="/interaction/abc/login" method="post">
              <input type="hidden" name="csrf" value="a&amp;b">
              <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
              <input required type="password" name="password">
              <button type="submit" class="login">Sign-in</button>
            </form>
            <form action='/other'><input name=q value=x></form></body></html>"#;
        let found = forms(html);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].action, "/interaction/abc/login");
        assert_eq!(found[0].method, "post");
        let names: Vec<(&str, &str, &str)> = found[0]
            .inputs
            .iter()
            .map(|i| (i.name.as_str(), i.value.as_str(), i.kind.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("csrf", "a&b", "hidden"),
                ("login", "", "text"),
                ("password", "", "password")
            ]
        );
        assert_eq!(found[1].method, "get");
        assert_eq!(found[1].inputs[0].value, "x");
    }
}
