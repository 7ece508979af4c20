//! A collection's TLS settings, rendered once before anything is sent: the
//! command line's (curl's names) over `defaults.tls`, files read and
//! located, so a missing certificate is bad input with its place, not a
//! failed request.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use minijinja::Value;

use super::{check_defined, ResolveError, Templates, Vars};
use crate::load::{Collection, Pos, Text};

/// The command line's TLS options; each wins over the collection's.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `--cacert FILE`
    pub ca_cert: Option<PathBuf>,
    /// `--cert FILE`
    pub client_cert: Option<PathBuf>,
    /// `--key FILE`
    pub client_key: Option<PathBuf>,
    /// `-k` / `--insecure`
    pub insecure: bool,
}

/// A PEM file as read, and where it was named.
#[derive(Debug, Clone)]
pub struct PemFile {
    /// The file, as it was opened.
    pub path: PathBuf,
    /// Its contents.
    pub pem: Vec<u8>,
    /// Where the collection names it; `None` when the command line does.
    pub named_at: Option<Pos>,
}

impl PemFile {
    /// `file.yaml:3:5: certs/ca.pem` or `--cacert certs/ca.pem`, for messages.
    pub fn describe(&self, flag: &str) -> String {
        match &self.named_at {
            Some(at) => format!("{at}: {}", self.path.display()),
            None => format!("{flag} {}", self.path.display()),
        }
    }
}

/// A collection's TLS settings, ready for its client.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// CA certificates trusted besides the system's.
    pub ca_cert: Option<PemFile>,
    /// The client certificate (and its key, when `client_key` is not given).
    pub client_cert: Option<PemFile>,
    /// The client certificate's private key.
    pub client_key: Option<PemFile>,
    /// A PKCS#12 archive with the client certificate and key, and its
    /// password (registered as a secret).
    pub pkcs12: Option<(PemFile, String)>,
    /// Certificates are not checked at all.
    pub insecure: bool,
}

/// The TLS settings of `c`: `cli` over `defaults.tls`, rendered with the
/// collection's starting variables (TLS is set up before any request, so a
/// capture cannot be read).
pub(super) fn plan_tls(
    c: &Collection,
    vars: &Vars,
    templates: &mut Templates,
    cli: &TlsOptions,
) -> Result<Tls, ResolveError> {
    plan_spec(c.defaults.tls.as_ref(), c, vars, templates, cli)
}

/// The TLS of each auth that has its own `tls`, by auth name.
pub(super) fn plan_auth_tls(
    c: &Collection,
    vars: &Vars,
    templates: &mut Templates,
    cli: &TlsOptions,
) -> Result<indexmap::IndexMap<String, Tls>, ResolveError> {
    let mut out = indexmap::IndexMap::new();
    for (name, spec) in &c.auths {
        if let Some(tls) = &spec.tls {
            out.insert(name.clone(), plan_spec(Some(tls), c, vars, templates, cli)?);
        }
    }
    Ok(out)
}

fn plan_spec(
    spec: Option<&crate::load::TlsSpec>,
    c: &Collection,
    vars: &Vars,
    templates: &mut Templates,
    cli: &TlsOptions,
) -> Result<Tls, ResolveError> {
    let secrets = templates.secrets().clone();
    // Relative to the file that writes the settings (an included piece's).
    let file = spec.map_or(&c.file, |s| &s.at.file);
    let folder = Path::new(&**file).parent().unwrap_or(Path::new(""));
    let mut render = |text: Option<&Text>| -> Result<Option<(String, Pos)>, ResolveError> {
        let Some(text) = text else { return Ok(None) };
        Ok(Some((
            render_setting(templates, vars, text)?,
            text.at.clone(),
        )))
    };
    let from_file = |rendered: Option<(String, Pos)>| -> Result<Option<PemFile>, ResolveError> {
        rendered
            .filter(|(path, _)| !path.is_empty())
            .map(|(path, at)| read(&folder.join(path), Some(at)))
            .transpose()
    };
    let ca = render(spec.and_then(|s| s.ca_cert.as_ref()))?;
    let cert = render(spec.and_then(|s| s.client_cert.as_ref()))?;
    let key = render(spec.and_then(|s| s.client_key.as_ref()))?;
    let pkcs12 = match render(spec.and_then(|s| s.pkcs12.as_ref()))? {
        Some((path, at)) if cli.client_cert.is_none() && !path.is_empty() => {
            let password = render(spec.and_then(|s| s.password.as_ref()))?
                .map(|(p, _)| p)
                .unwrap_or_default();
            secrets.add(&password);
            Some((read(&folder.join(path), Some(at))?, password))
        }
        _ => None,
    };
    let insecure = match render(spec.and_then(|s| s.insecure.as_ref()))? {
        None => false,
        Some((v, at)) => parse_bool(&v, &at)?,
    };
    let from_cli = |path: &Option<PathBuf>| path.as_ref().map(|p| read(p, None)).transpose();
    Ok(Tls {
        ca_cert: from_cli(&cli.ca_cert)?.map_or_else(|| from_file(ca), |f| Ok(Some(f)))?,
        client_cert: from_cli(&cli.client_cert)?
            .map_or_else(|| from_file(cert), |f| Ok(Some(f)))?,
        // A key goes with its certificate: --cert without --key does not
        // borrow the file's key.
        client_key: if cli.client_cert.is_some() {
            from_cli(&cli.client_key)?
        } else {
            from_cli(&cli.client_key)?.map_or_else(|| from_file(key), |f| Ok(Some(f)))?
        },
        insecure: cli.insecure || insecure,
        pkcs12,
    })
}

/// A connection setting rendered with the starting variables: it is set
/// up before any request, so a captured variable cannot be read.
pub(super) fn render_setting(
    templates: &mut Templates,
    vars: &Vars,
    text: &Text,
) -> Result<String, ResolveError> {
    let known: BTreeSet<String> = vars.keys().cloned().collect();
    let used = templates.compile_text(text)?;
    check_defined(
        &used,
        &known,
        &text.at,
        " (connections are set up before any request)",
    )?;
    let ctx = Value::from(vars.clone());
    Ok(templates.render_text(text, &ctx)?.trim().to_string())
}

fn read(path: &Path, named_at: Option<Pos>) -> Result<PemFile, ResolveError> {
    let where_ = match &named_at {
        Some(at) => at.to_string(),
        None => "the command line".to_string(),
    };
    let pem = std::fs::read(path).map_err(|e| ResolveError::Environment {
        file: where_,
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(PemFile {
        path: path.to_path_buf(),
        pem,
        named_at,
    })
}

fn parse_bool(value: &str, at: &Pos) -> Result<bool, ResolveError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" | "" => Ok(false),
        other => Err(ResolveError::Environment {
            file: at.to_string(),
            message: format!("`insecure` is true or false, not {other:?}"),
        }),
    }
}
