//! Just enough of a browser to log in headlessly: the forms of a page,
//! their action and method, and the fields a browser would submit (a
//! `<select>`'s chosen option, a `<textarea>`'s text, checked boxes). The
//! page is read by a WHATWG tokenizer (html5gum), so quoting, entities and
//! raw-text elements are read as a browser reads them.

use std::collections::BTreeMap;

use html5gum::{DefaultEmitter, HtmlString, StartTag, Token, Tokenizer};

/// A form of a page: where it posts and what it would submit.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub inputs: Vec<Input>,
}

/// A field a browser would submit: its name, value and kind (the input's
/// `type`, or `select` / `textarea`).
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: String,
    pub value: String,
    pub kind: String,
}

type Attrs = BTreeMap<String, String>;

fn text(s: &HtmlString) -> String {
    String::from_utf8_lossy(s).into_owned()
}

fn attrs(tag: &StartTag<()>) -> Attrs {
    tag.attributes
        .iter()
        .map(|(k, v)| (text(k).to_ascii_lowercase(), text(v)))
        .collect()
}

/// An option of the `<select>` being read: its value, text and whether
/// the page chose it.
struct Choice {
    value: Option<String>,
    label: String,
    selected: bool,
}

/// A field whose value is read from what follows its tag: a `<select>`
/// (its name, whether several may be chosen, its options) or a `<textarea>`.
enum Open {
    Select {
        name: String,
        multiple: bool,
        choices: Vec<Choice>,
    },
    TextArea {
        name: String,
        text: String,
    },
}

/// The forms of `html`, in page order.
pub fn forms(html: &str) -> Vec<Form> {
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut reader = Reader::default();
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => reader.start(&text(&tag.name), attrs(&tag)),
            Token::EndTag(tag) => reader.end(&text(&tag.name)),
            Token::String(s) => reader.text(&text(&s)),
            _ => {}
        }
    }
    reader.finish()
}

#[derive(Default)]
struct Reader {
    done: Vec<Form>,
    form: Option<Form>,
    open: Option<Open>,
}

impl Reader {
    fn start(&mut self, tag: &str, a: Attrs) {
        if tag == "form" {
            self.close_form();
            self.form = Some(Form {
                action: a.get("action").cloned().unwrap_or_default(),
                method: a
                    .get("method")
                    .map_or("get".to_string(), |m| m.to_ascii_lowercase()),
                inputs: Vec::new(),
            });
            return;
        }
        if self.form.is_none() || a.contains_key("disabled") && tag != "option" {
            return;
        }
        let name = a.get("name").cloned();
        match (tag, name) {
            ("input", Some(name)) => self.input(name, &a),
            ("select", Some(name)) => {
                self.open = Some(Open::Select {
                    name,
                    multiple: a.contains_key("multiple"),
                    choices: Vec::new(),
                })
            }
            ("option", _) => {
                if let Some(Open::Select { choices, .. }) = &mut self.open {
                    choices.push(Choice {
                        value: a.get("value").cloned(),
                        label: String::new(),
                        selected: a.contains_key("selected"),
                    });
                }
            }
            ("textarea", Some(name)) => {
                self.open = Some(Open::TextArea {
                    name,
                    text: String::new(),
                })
            }
            _ => {}
        }
    }

    /// An `<input>` as a browser submits it: buttons are not clicked,
    /// boxes count only when checked (`on` when they have no value).
    fn input(&mut self, name: String, a: &Attrs) {
        let kind = a
            .get("type")
            .map_or("text".into(), |t| t.to_ascii_lowercase());
        let checkable = matches!(kind.as_str(), "checkbox" | "radio");
        if matches!(
            kind.as_str(),
            "submit" | "button" | "reset" | "image" | "file"
        ) || checkable && !a.contains_key("checked")
        {
            return;
        }
        let value = a.get("value").cloned().unwrap_or_else(|| {
            if checkable {
                "on".into()
            } else {
                String::new()
            }
        });
        self.push(name, value, kind);
    }

    fn text(&mut self, s: &str) {
        match &mut self.open {
            Some(Open::Select { choices, .. }) => {
                if let Some(c) = choices.last_mut() {
                    c.label.push_str(s);
                }
            }
            Some(Open::TextArea { text, .. }) => text.push_str(s),
            _ => {}
        }
    }

    fn end(&mut self, tag: &str) {
        match tag {
            "form" => self.close_form(),
            "select" | "textarea" => self.close_field(),
            _ => {}
        }
    }

    /// A `<select>` submits its chosen options (the first when none is
    /// chosen and only one may be); a `<textarea>` its text, without the
    /// newline that may follow the opening tag.
    fn close_field(&mut self) {
        match self.open.take() {
            Some(Open::Select {
                name,
                multiple,
                choices,
            }) => {
                let value = |c: &Choice| {
                    c.value
                        .clone()
                        .unwrap_or_else(|| c.label.split_whitespace().collect::<Vec<_>>().join(" "))
                };
                let mut chosen: Vec<&Choice> = choices.iter().filter(|c| c.selected).collect();
                if !multiple {
                    chosen = chosen
                        .last()
                        .copied()
                        .or(choices.first())
                        .into_iter()
                        .collect();
                }
                for c in chosen {
                    self.push(name.clone(), value(c), "select".into());
                }
            }
            Some(Open::TextArea { name, text }) => {
                let text = text.strip_prefix('\n').map(str::to_string).unwrap_or(text);
                self.push(name, text, "textarea".into());
            }
            _ => {}
        }
    }

    fn push(&mut self, name: String, value: String, kind: String) {
        if let Some(form) = &mut self.form {
            form.inputs.push(Input { name, value, kind });
        }
    }

    fn close_form(&mut self) {
        self.close_field();
        self.done.extend(self.form.take());
    }

    fn finish(mut self) -> Vec<Form> {
        self.close_form();
        self.done
    }
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

    #[test]
    fn keeps_what_a_browser_submits_of_selects_textareas_and_boxes() {
        let html = r#"<form method=POST action="/consent">
              <select name="tenant"><option value="a">A</option><option value="b" selected>B</option></select>
              <select name="lang"><option>  en  GB </option><option>fr</option></select>
              <select name="scopes" multiple><option selected>read</option><option>write</option><option selected value="x">admin</option></select>
              <textarea name="note">
line one &amp; <b>not a tag</b></textarea>
              <input type="radio" name="remember" value="no">
              <input type="radio" name="remember" value="yes" checked>
              <input type="checkbox" name="terms" checked>
              <input type="checkbox" name="news">
              <input name="gone" value="1" disabled>
              <input type="submit" name="go" value="Go">
            </form>"#;
        let form = &forms(html)[0];
        assert_eq!(form.method, "post");
        let fields: Vec<(&str, &str)> = form
            .inputs
            .iter()
            .map(|i| (i.name.as_str(), i.value.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("tenant", "b"),
                ("lang", "en GB"),
                ("scopes", "read"),
                ("scopes", "x"),
                ("note", "line one & <b>not a tag</b>"),
                ("remember", "yes"),
                ("terms", "on"),
            ]
        );
    }
}
