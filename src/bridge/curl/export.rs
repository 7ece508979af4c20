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
    let pc = plan.collections.first().ok_or("no collection")?;
    let c = &pc.collection;
    let index = c
        .requests
        .iter()
        .position(|r| r.name == name)
        .ok_or_else(|| {
            let names: Vec<String> = c.requests.iter().map(|r| format!("`{}`", r.name)).collect();
            format!(
                "collection `{}` has no request `{name}`; it has {}",
                c.name,
                names.join(", ")
            )
        })?;
    let request = &c.requests[index];

    let mut comments = Vec::new();
    let mut vars = pc.vars.clone();
    for earlier in &c.requests[..index] {
        for cap in &earlier.captures {
            vars.insert(cap.var.clone(), Value::from(format!("${{{}}}", cap.var)));
            comments.push(format!(
                "# ${{{}}}: captured by `{}`",
                cap.var, earlier.name
            ));
        }
    }
    let auth = c.auth_of(index);
    // Register the auth's secrets so that a body quoting them is masked too.
    for spec in c.auths.values() {
        if let crate::load::AuthFlow::Password { password, .. } = &spec.flow {
            if let Ok(p) = plan
                .templates
                .render_text(password, &Value::from(vars.clone()))
            {
                plan.secrets.add(&p);
            }
        }
        if let Some(secret) = spec.flow.endpoint().and_then(|e| e.client_secret.as_ref()) {
            if let Ok(s) = plan
                .templates
                .render_text(secret, &Value::from(vars.clone()))
            {
                plan.secrets.add(&s);
            }
        }
    }
    // Tokens are not fetched for an export: what templates read of them
    // (`auth.claims.sub`, `auths.svc.response.x`) becomes shell variables.
    let later = Arc::new(Mutex::new(BTreeSet::new()));
    for root in ["auth", "auths"] {
        vars.insert(
            root.into(),
            Value::from_object(ShellVar {
                path: root.into(),
                used: later.clone(),
            }),
        );
    }
    let ctx = Value::from(vars);

    let client = execute::client().map_err(|e| e.to_string())?;
    let mut outgoing = execute::outgoing(pc, index);
    // Multipart bodies are streams: written as -F from the model below.
    if let Some(Body::Multipart(_)) = &request.body {
        outgoing.body = None;
    }
    let built = execute::build(&client, &plan.templates, &outgoing, &ctx)
        .await
        .map_err(|e| e.to_string())?;

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
    if let Some(spec) = auth {
        let var = format!("{}_token", spec.name);
        comments.push(format!(
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

    // Each word is masked before it is quoted: quoting changes how a
    // secret is spelled (`'` becomes `'\''`).
    let word = |text: &str| {
        if show_secrets {
            quote(text)
        } else {
            quote(&plan.secrets.redact(text))
        }
    };
    for path in later.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        comments.push(format!(
            "# ${{{}}}: `{path}` of the token, as a run would have it",
            shell_name(path)
        ));
    }
    let jar = format!("{}.cookies", identifier(&c.name));
    comments.push(format!(
        "# {jar}: the cookies earlier responses set, as a run keeps them (run the collection's requests in order with the same -b/-c)"
    ));
    let mut out = String::new();
    for comment in &comments {
        out.push_str(comment);
        out.push('\n');
    }
    out.push_str(&format!("curl -X {} {}", built.method(), word(&url)));
    out.push_str(&format!(" \\\n  -b {jar} -c {jar}"));
    for (k, v) in &headers {
        let v = if show_secrets || v.contains("${") {
            v.clone()
        } else {
            mask_header(k, v)
        };
        out.push_str(&format!(" \\\n  -H {}", word(&format!("{k}: {v}"))));
    }
    if let Some(bytes) = built.body().and_then(|b| b.as_bytes()) {
        out.push_str(&format!(
            " \\\n  --data-raw {}",
            word(&String::from_utf8_lossy(bytes))
        ));
    }
    if let Some(Body::Multipart(parts)) = &request.body {
        for part in parts {
            let field = match &part.kind {
                PartKind::Text(t) => format!(
                    "{}={}",
                    part.name,
                    plan.templates
                        .render_text(t, &ctx)
                        .map_err(|e| e.to_string())?
                ),
                PartKind::File {
                    path,
                    filename,
                    content_type,
                } => {
                    let mut f = format!(
                        "{}=@{}",
                        part.name,
                        plan.templates
                            .render_text(path, &ctx)
                            .map_err(|e| e.to_string())?
                    );
                    if let Some(ct) = content_type {
                        f.push_str(&format!(";type={ct}"));
                    }
                    if let Some(name) = filename {
                        f.push_str(&format!(";filename={name}"));
                    }
                    f
                }
            };
            out.push_str(&format!(" \\\n  -F {}", word(&field)));
        }
    }
    out.push('\n');
    Ok(if show_secrets {
        out
    } else {
        plan.secrets.redact(&out).into_owned()
    })
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
