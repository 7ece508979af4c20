//! Every template of a request and of an auth, in one walk: the resolve
//! stage compiles and checks exactly these, so none is left out to fail at
//! render time.

use super::model::*;

/// A template of the model: a string, or structured data whose strings are.
#[derive(Debug, Clone, Copy)]
pub enum Template<'a> {
    /// A string.
    Text(&'a Text),
    /// Structured data, every string inside it a template.
    Data(&'a Data),
}

fn pairs<'a>(pairs: &'a [(String, Text)], out: &mut Vec<Template<'a>>) {
    out.extend(pairs.iter().map(|(_, t)| Template::Text(t)));
}

impl Body {
    fn templates<'a>(&'a self, out: &mut Vec<Template<'a>>) {
        match self {
            Body::Json(d) => out.push(Template::Data(d)),
            Body::Form(form) => pairs(form, out),
            Body::Raw(t) => out.push(Template::Text(t)),
            Body::Multipart(parts) => out.extend(parts.iter().map(|part| match &part.kind {
                PartKind::Text(t) => Template::Text(t),
                PartKind::File { path, .. } => Template::Text(path),
            })),
        }
    }
}

fn predicate_templates<'a>(predicates: &'a [Predicate], out: &mut Vec<Template<'a>>) {
    for p in predicates {
        match p {
            Predicate::Eq(d)
            | Predicate::Ne(d)
            | Predicate::Lt(d)
            | Predicate::Le(d)
            | Predicate::Gt(d)
            | Predicate::Ge(d)
            | Predicate::Contains(d)
            | Predicate::OneOf(d) => out.push(Template::Data(d)),
            Predicate::Length(inner) | Predicate::Every(inner) => predicate_templates(inner, out),
            Predicate::Matches(_) | Predicate::Exists(_) | Predicate::Type(_) => {}
        }
    }
}

/// The expected values of `expect` (a request's, or a retry's `until`).
fn expect_templates<'a>(expect: &'a Expect, out: &mut Vec<Template<'a>>) {
    for check in expect.headers.iter().flat_map(|h| &h.checks) {
        if let HeaderCheck::Equals(t) | HeaderCheck::Contains(t) = check {
            out.push(Template::Text(t));
        }
    }
    if let Some(b) = &expect.body {
        out.extend(b.equals.iter().chain(&b.contains).map(Template::Text));
        out.extend(b.json.iter().map(Template::Data));
    }
    for a in &expect.json {
        predicate_templates(&a.predicates, out);
    }
}

impl Request {
    /// Its URL, query, headers, body and every expected value.
    pub fn templates(&self) -> Vec<Template<'_>> {
        let mut out = vec![Template::Text(&self.url)];
        pairs(&self.query, &mut out);
        pairs(&self.headers, &mut out);
        if let Some(body) = &self.body {
            body.templates(&mut out);
        }
        expect_templates(&self.expect, &mut out);
        if let Some(until) = self.retry.as_ref().and_then(|r| r.until.as_deref()) {
            expect_templates(until, &mut out);
        }
        out.extend(self.when.as_deref().map(Template::Text));
        out.extend(self.with.iter().map(|(_, d)| Template::Data(d)));
        // A `for_each` left for the run (its list is captured) is read then.
        if let Some(ForEach::Var { data, .. }) = self.for_each.as_deref() {
            out.push(Template::Data(data));
        }
        out
    }
}

impl AuthSpec {
    /// Everything its flow renders: endpoint, credentials, login steps,
    /// a custom token request.
    pub fn templates(&self) -> Vec<Template<'_>> {
        let mut out = Vec::new();
        if let Some(ep) = self.flow.endpoint() {
            out.push(Template::Text(&ep.token_url));
            out.extend(
                ep.client_id
                    .iter()
                    .chain(&ep.client_secret)
                    .chain(&ep.scope)
                    .map(Template::Text),
            );
            pairs(&ep.extra, &mut out);
        }
        match &self.flow {
            AuthFlow::Password {
                username, password, ..
            } => out.extend([Template::Text(username), Template::Text(password)]),
            AuthFlow::ClientCredentials { .. } => {}
            AuthFlow::RefreshToken { refresh_token, .. } => out.push(Template::Text(refresh_token)),
            AuthFlow::AuthorizationCode {
                authorize_url,
                authorize_params,
                redirect_uri,
                login,
                login_origins,
                ..
            } => {
                out.extend([Template::Text(authorize_url), Template::Text(redirect_uri)]);
                pairs(authorize_params, &mut out);
                out.extend(login_origins.iter().map(Template::Text));
                if let CodeLogin::Headless(steps) = login {
                    for step in steps {
                        pairs(&step.fields, &mut out);
                    }
                }
            }
            AuthFlow::Request { request, .. } => {
                out.push(Template::Text(&request.url));
                pairs(&request.query, &mut out);
                pairs(&request.headers, &mut out);
                if let Some(body) = &request.body {
                    body.templates(&mut out);
                }
            }
        }
        out
    }
}
