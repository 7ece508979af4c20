//! `reqtest curl` and `reqtest login`: one request, or one auth, of a
//! suite's one collection.

use super::{Suite, SuiteError};

impl Suite {
    /// `reqtest curl`: request `name` of the suite's one collection as a
    /// curl command.
    pub fn curl(&self, name: &str, show_secrets: bool) -> Result<String, SuiteError> {
        let (plan, _standins) = self.plan_with_standins()?;
        if plan.collections.len() != 1 {
            return Err(SuiteError::Usage(format!(
                "curl takes one collection; {} were given",
                plan.collections.len()
            )));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SuiteError::Runtime)?;
        runtime
            .block_on(crate::bridge::curl::export(&plan, name, show_secrets))
            .map_err(SuiteError::Usage)
    }

    /// `reqtest login`: logs auth `auth` of the suite's one collection in
    /// (interactively if it says so) and keeps its refresh token in the
    /// token cache. Returns what to tell the user; never the token.
    pub fn login(&self, auth: Option<&str>) -> Result<String, SuiteError> {
        let (plan, _standins) = self.plan_with_standins()?;
        let [planned] = plan.collections.as_slice() else {
            return Err(SuiteError::Usage(format!(
                "login takes one collection; {} were given",
                plan.collections.len()
            )));
        };
        let auths = &planned.collection.auths;
        let names = || {
            auths
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = match auth {
            Some(a) if auths.contains_key(a) => a.to_string(),
            Some(a) => {
                return Err(SuiteError::Usage(format!(
                    "collection `{}` has no auth `{a}`; it has {}",
                    planned.collection.name,
                    names()
                )))
            }
            None if auths.contains_key(crate::load::DEFAULT_AUTH) => {
                crate::load::DEFAULT_AUTH.to_string()
            }
            None if auths.len() == 1 => auths.keys().next().cloned().expect("one"),
            None if auths.is_empty() => {
                return Err(SuiteError::Usage(format!(
                    "collection `{}` has no auth to log in with",
                    planned.collection.name
                )))
            }
            None => {
                return Err(SuiteError::Usage(format!(
                    "collection `{}` has several auths ({}): choose one with --auth",
                    planned.collection.name,
                    names()
                )))
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SuiteError::Runtime)?;
        let kept = runtime.block_on(async {
            let shared = crate::execute::auth::Shared::new(plan.token_cache.clone());
            let mut session = crate::execute::Session::new(planned, &plan.templates, shared, false)
                .map_err(SuiteError::Usage)?;
            session.tokens.interactive_allowed = true;
            let client = session.auth_client(&name);
            session
                .tokens
                .login_and_cache(&name, &client, &plan.templates, &planned.vars)
                .await
                .map_err(|mut e| {
                    // Printed by the caller: masked here, where the secrets are.
                    e.message = plan.secrets.redact(&e.message).into_owned();
                    SuiteError::Login(e)
                })
        })?;
        let spec = &auths[&name];
        Ok(match kept {
            Some(path) if spec.cache => format!("auth `{name}`: logged in; its refresh token is kept in {}", path.display()),
            Some(path) => format!(
                "auth `{name}`: logged in; its refresh token is kept in {}, but runs use it only with `cache: true` in the auth",
                path.display()
            ),
            None => format!("auth `{name}`: logged in, but the server gave no refresh token: nothing to keep"),
        })
    }
}
