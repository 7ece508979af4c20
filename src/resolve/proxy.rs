//! A collection's proxy, rendered once before anything is sent: `--proxy`
//! and `--noproxy` over `defaults.proxy`, over the environment (read when
//! the client is made). Its password is a secret from here on.

use super::tls::render_setting;
use super::{ResolveError, Templates, Vars};
use crate::load::Collection;

/// The command line's proxy options (curl's names); they win.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// `--proxy URL`
    pub proxy: Option<String>,
    /// `--noproxy HOSTS`
    pub noproxy: Option<String>,
}

/// Where a collection's requests go through.
#[derive(Debug, Clone, Default)]
pub struct Proxy {
    /// The proxy for every request; `None`: the environment's
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, either case).
    pub url: Option<String>,
    /// Credentials for the proxy, besides any in its URL.
    pub credentials: Option<(String, String)>,
    /// Hosts that go direct; `None`: `NO_PROXY` (either case).
    pub no_proxy: Option<String>,
}

/// The proxy of `c`: the command line's over `defaults.proxy`; passwords
/// (given apart or in the URL) are registered as secrets.
pub(super) fn plan_proxy(
    c: &Collection,
    vars: &Vars,
    templates: &mut Templates,
    cli: &ProxyOptions,
) -> Result<Proxy, ResolveError> {
    let mut proxy = Proxy::default();
    if let Some(spec) = &c.defaults.proxy {
        proxy.url = Some(render_setting(templates, vars, &spec.url)?);
        if let Some(user) = &spec.username {
            let user = render_setting(templates, vars, user)?;
            let password = match &spec.password {
                Some(p) => render_setting(templates, vars, p)?,
                None => String::new(),
            };
            proxy.credentials = Some((user, password));
        }
        if let Some(hosts) = &spec.no_proxy {
            proxy.no_proxy = Some(render_setting(templates, vars, hosts)?);
        }
    }
    if let Some(url) = &cli.proxy {
        proxy.url = Some(url.clone());
        proxy.credentials = None;
    }
    if let Some(hosts) = &cli.noproxy {
        proxy.no_proxy = Some(hosts.clone());
    }
    if let Some((_, password)) = &proxy.credentials {
        templates.secrets().add(password);
    }
    if let Some(password) = proxy.url.as_deref().and_then(url_password) {
        templates.secrets().add(&password);
    }
    Ok(proxy)
}

/// The password in a proxy URL (`http://user:pw@host`), decoded.
pub fn url_password(url: &str) -> Option<String> {
    // reqwest reads `user:pw@host:3128` as `http://user:pw@host:3128`.
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| u.password().is_some())
        .or_else(|| url::Url::parse(&format!("http://{url}")).ok())?;
    let encoded = parsed.password()?.as_bytes();
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        let hex = encoded
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (encoded[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}
