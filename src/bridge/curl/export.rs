//! A collection's request as a curl command: variables captured by earlier
//! requests and whatever a template reads of a token become shell
//! variables, explained in comments; secrets are masked unless asked.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

use minijinja::value::{Object, ObjectRepr};
use minijinja::Value;
use regex::Regex;

use crate::bridge::identifier;
use crate::execute;
use crate::load::{Body, PartKind, SendToken};
use crate::resolve::Plan;
use crate::secrets::mask_header;

/// Quotes a word for a POSIX shell: single quotes, or double quotes when
/// it holds `${var}` placeholders that the shell must expand.
pub(super) fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
    {
        return word.to_string();
    }
    if word.contains("${") {
        let escaped = word
            .replace('\\', r"\\")
            .replace('"', "\\\"")
            .replace('`', "\\`");
        return format!("\"{escaped}\"");
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Request `name` of the plan's one collection as a curl command. Variables
/// captured by earlier requests, and the auth token, become shell variables
/// (`${token}`) explained in comments; secrets are masked unless
/// `show_secrets`.
pub async fn export(plan: &Plan, name: &str, show_secrets: bool) -> Result<String, String> {
    let planned = plan.collections.first().ok_or("no collection")?;
    let index = request_index(&planned.collection, name)?;
    let mut words = Words {
        plan,
        show_secrets,
        comments: Vec::new(),
        out: String::new(),
    };
    let (ctx, later) = words.context(planned, index);
    let request = &planned.collection.requests[index];
    let client = execute::client(planned, &plan.secrets)?;
    let mut outgoing = execute::outgoing(planned, index);
    // Multipart bodies are streams: written as -F from the model below.
    if let Some(Body::Multipart(_)) = request.body.as_deref() {
        outgoing.body = None;
    }
    let built = execute::build(&client, &plan.templates, &outgoing, &ctx)
        .await
        .map_err(|e| e.to_string())?;
    let (url, headers) = words.with_token(planned, index, &built);
    for path in later.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        words.comments.push(format!(
            "# ${{{}}}: `{path}` of the token, as a run would have it",
            shell_name(path)
        ));
    }
    let jar = format!("{}.cookies", identifier(&planned.collection.name));
    words.comments.push(format!(
        "# {jar}: the cookies earlier responses set, as a run keeps them (run the collection's requests in order with the same -b/-c)"
    ));
    words.line(format!("curl -X {} {}", built.method(), words.word(&url)));
    words.flag(&format!("-b {jar} -c"), &jar);
    for (k, v) in &headers {
        let v = if show_secrets || v.contains("${") {
            v.clone()
        } else {
            mask_header(k, v)
        };
        words.flag("-H", &format!("{k}: {v}"));
    }
    if let Some(bytes) = built.body().and_then(|b| b.as_bytes()) {
        words.flag("--data-raw", &String::from_utf8_lossy(bytes));
    }
    if let Some(Body::Multipart(parts)) = request.body.as_deref() {
        for part in parts {
            words.flag("-F", &multipart_field(plan, part, &ctx)?);
        }
    }
    Ok(words.finish())
}

fn request_index(c: &crate::load::Collection, name: &str) -> Result<usize, String> {
    c.requests
        .iter()
        .position(|r| r.name == name)
        .ok_or_else(|| {
            let names: Vec<String> = c.requests.iter().map(|r| format!("`{}`", r.name)).collect();
            format!(
                "collection `{}` has no request `{name}`; it has {}",
                c.name,
                names.join(", ")
            )
        })
}

/// `name=value`, or `name=@file;type=..;filename=..`.
fn multipart_field(plan: &Plan, part: &crate::load::Part, ctx: &Value) -> Result<String, String> {
    let render = |t| {
        plan.templates
            .render_text(t, ctx)
            .map_err(|e| e.to_string())
    };
    Ok(match &part.kind {
        PartKind::Text(t) => format!("{}={}", part.name, render(t)?),
        PartKind::File {
            path,
            filename,
            content_type,
        } => {
            let mut f = format!("{}=@{}", part.name, render(path)?);
            if let Some(ct) = content_type {
                f.push_str(&format!(";type={ct}"));
            }
            if let Some(name) = filename {
                f.push_str(&format!(";filename={name}"));
            }
            f
        }
    })
}

/// The command being written: comments first, then its words, each masked
/// before it is quoted (quoting changes how a secret is spelled: `'`
/// becomes `'\''`).
struct Words<'a> {
    plan: &'a Plan,
    show_secrets: bool,
    comments: Vec<String>,
    out: String,
}

impl Words<'_> {
    fn word(&self, text: &str) -> String {
        if self.show_secrets {
            quote(text)
        } else {
            quote(&self.plan.secrets.redact(text))
        }
    }

    fn line(&mut self, text: String) {
        self.out.push_str(&text);
    }

    fn flag(&mut self, flag: &str, value: &str) {
        let word = self.word(value);
        self.out.push_str(&format!(" \\\n  {flag} {word}"));
    }

    fn finish(self) -> String {
        let mut text = String::new();
        for comment in &self.comments {
            text.push_str(comment);
            text.push('\n');
        }
        text.push_str(&self.out);
        text.push('\n');
        if self.show_secrets {
            text
        } else {
            self.plan.secrets.redact(&text).into_owned()
        }
    }

    /// The variables a template of the request sees: the run's, captures of
    /// earlier requests as shell variables, and `auth`/`auths` as objects
    /// whose every attribute is a shell variable (tokens are not fetched
    /// for an export). The second value collects the attributes read.
    fn context(
        &mut self,
        planned: &crate::resolve::PlannedCollection,
        index: usize,
    ) -> (Value, Arc<Mutex<BTreeSet<String>>>) {
        let c = &planned.collection;
        let mut vars = planned.vars.clone();
        for earlier in &c.requests[..index] {
            for cap in &earlier.captures {
                vars.insert(cap.var.clone(), Value::from(format!("${{{}}}", cap.var)));
                self.comments.push(format!(
                    "# ${{{}}}: captured by `{}`",
                    cap.var, earlier.name
                ));
            }
        }
        self.register_auth_secrets(c, &vars);
        let later = Arc::new(Mutex::new(BTreeSet::new()));
        for root in ["auth", "auths"] {
            let var = ShellVar {
                path: root.into(),
                used: later.clone(),
            };
            vars.insert(root.into(), Value::from_object(var));
        }
        (Value::from(vars), later)
    }

    /// The auths' passwords and client secrets, so that a body quoting them
    /// is masked too.
    fn register_auth_secrets(&self, c: &crate::load::Collection, vars: &crate::resolve::Vars) {
        let ctx = Value::from(vars.clone());
        for spec in c.auths.values() {
            let password = match &spec.flow {
                crate::load::AuthFlow::Password { password, .. } => Some(password),
                _ => None,
            };
            let secret = spec.flow.endpoint().and_then(|e| e.client_secret.as_ref());
            for text in password.into_iter().chain(secret) {
                if let Ok(value) = self.plan.templates.render_text(text, &ctx) {
                    self.plan.secrets.add(&value);
                }
            }
        }
    }

    /// The built request's URL and headers, with the auth's token as a
    /// shell variable where the run would put it.
    fn with_token(
        &mut self,
        planned: &crate::resolve::PlannedCollection,
        index: usize,
        built: &reqwest::Request,
    ) -> (String, Vec<(String, String)>) {
        let mut url = unescape_placeholders(built.url().as_str());
        let mut headers: Vec<(String, String)> = built
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if let Some(spec) = planned.collection.auth_of(index) {
            let var = format!("{}_token", spec.name);
            self.comments.push(format!(
                "# ${{{var}}}: a token of auth `{}` ({} flow; `reqtest login` can fill the token cache)",
                spec.name,
                spec.flow.kind()
            ));
            match &spec.send {
                SendToken::Header { name, prefix } => {
                    headers.push((name.to_ascii_lowercase(), format!("{prefix}${{{var}}}")))
                }
                SendToken::Query { name } => {
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str(&format!("{name}=${{{var}}}"));
                }
            }
        }
        (url, headers)
    }
}

/// A value a run would know and an exported command cannot: it prints as
/// a shell variable named after its path (`${auth_claims_sub}`), and so
/// does any attribute of it.
#[derive(Debug)]
struct ShellVar {
    path: String,
    used: Arc<Mutex<BTreeSet<String>>>,
}

impl Object for ShellVar {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| key.to_string());
        Some(Value::from_object(ShellVar {
            path: format!("{}.{key}", self.path),
            used: self.used.clone(),
        }))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.path.clone());
        write!(f, "${{{}}}", shell_name(&self.path))
    }
}

/// A URL with its `${var}` placeholders as the shell must see them: the
/// URL parser percent-encodes their braces (and `$` in a query).
fn unescape_placeholders(url: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"(?:\$|%24)%7B([A-Za-z0-9_]+)%7D").expect("valid"));
    re.replace_all(url, "$${${1}}").into_owned()
}

/// `auth.claims.sub` → `auth_claims_sub`.
fn shell_name(path: &str) -> String {
    path.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
