//! A collection's proxies as curl reads them: `--proxy` or `defaults.proxy`
//! for everything, else `HTTPS_PROXY` for https, `HTTP_PROXY` for http and
//! `ALL_PROXY` for the rest (each in either case, the lower-case one
//! first), with `NO_PROXY` (or `--noproxy`) hosts going direct.

use reqwest::{ClientBuilder, NoProxy};

use crate::resolve::{url_password, Proxy};
use crate::secrets::Secrets;

/// `builder` with the proxies of `proxy` (and of the environment); their
/// passwords are registered in `secrets`.
pub fn configure(
    builder: ClientBuilder,
    proxy: &Proxy,
    secrets: &Secrets,
) -> Result<ClientBuilder, String> {
    // reqwest's own reading of the environment is replaced by ours, so
    // that --noproxy and the collection's settings apply to it too.
    let mut builder = builder.no_proxy();
    let no_proxy = proxy
        .no_proxy
        .clone()
        .or_else(|| env(&["no_proxy", "NO_PROXY"]))
        .and_then(|hosts| NoProxy::from_string(&hosts));
    for (scheme, url) in proxies(proxy) {
        if let Some(password) = url_password(&url) {
            secrets.add(&password);
        }
        let made = match scheme {
            Scheme::Http => reqwest::Proxy::http(&url),
            Scheme::Https => reqwest::Proxy::https(&url),
            Scheme::All => reqwest::Proxy::all(&url),
        };
        let mut made = made.map_err(|e| {
            format!(
                "the proxy {} is not a usable URL: {e}",
                secrets.redact(&url)
            )
        })?;
        if let Some((user, password)) = &proxy.credentials {
            made = made.basic_auth(user, password);
        }
        builder = builder.proxy(made.no_proxy(no_proxy.clone()));
    }
    Ok(builder)
}

/// Whether plain `http://` requests go without a proxy: none is set for
/// them, here or in the environment.
pub fn http_goes_direct(proxy: &Proxy) -> bool {
    proxies(proxy)
        .iter()
        .all(|(scheme, _)| matches!(scheme, Scheme::Https))
}

enum Scheme {
    Http,
    Https,
    All,
}

/// The proxies to use, most specific first (reqwest takes the first that
/// matches a request).
fn proxies(proxy: &Proxy) -> Vec<(Scheme, String)> {
    if let Some(url) = &proxy.url {
        return vec![(Scheme::All, url.clone())];
    }
    let mut found = Vec::new();
    if let Some(url) = env(&["https_proxy", "HTTPS_PROXY"]) {
        found.push((Scheme::Https, url));
    }
    if let Some(url) = env(&["http_proxy", "HTTP_PROXY"]) {
        found.push((Scheme::Http, url));
    }
    if let Some(url) = env(&["all_proxy", "ALL_PROXY"]) {
        found.push((Scheme::All, url));
    }
    found
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .find(|v| !v.trim().is_empty())
}
