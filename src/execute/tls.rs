//! TLS for a collection's client: the system's trust store (rustls with
//! native roots, which reads `SSL_CERT_FILE` and `SSL_CERT_DIR` as OpenSSL
//! does), the collection's extra CAs and client certificate, or no check;
//! and TLS failures told in words a person can act on.

use std::error::Error as _;
use std::sync::{Arc, OnceLock};

use reqwest::{Certificate, ClientBuilder, Identity};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::load::HttpVersion;
use crate::resolve::{PemFile, Tls};

/// The platform's trust store (with `SSL_CERT_FILE`, `SSL_CERT_DIR`), read
/// and parsed once per process, at the first TLS handshake: every client
/// of a run shares it, and a run over plain HTTP never reads it.
fn native_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        // Stores often hold a few certificates rustls cannot parse; like
        // reqwest, skip those.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

/// Checks server certificates against the platform's store and a
/// collection's extra CAs, built when the first handshake needs it.
#[derive(Debug)]
struct LazyVerifier {
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    built: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl LazyVerifier {
    fn verifier(&self) -> Result<&WebPkiServerVerifier, rustls::Error> {
        let built = self.built.get_or_init(|| {
            let mut roots = native_roots().clone();
            roots.add_parsable_certificates(self.extra.iter().cloned());
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| format!("no certificate authority to trust ({e}): give one with --cacert or `defaults.tls.ca_cert`"))
        });
        built
            .as_deref()
            .map_err(|e| rustls::Error::General(e.clone()))
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls configuration trusting the platform's store and `extra`, with
/// ALPN for the HTTP versions `version` allows.
fn trusting(
    extra: Option<&PemFile>,
    version: Option<HttpVersion>,
) -> Result<rustls::ClientConfig, String> {
    let mut certs = Vec::new();
    if let Some(ca) = extra {
        certs = CertificateDer::pem_slice_iter(&ca.pem)
            .filter_map(Result::ok)
            .collect();
        if certs.is_empty() {
            return Err(no_pem(ca));
        }
        let mut check = rustls::RootCertStore::empty();
        for der in &certs {
            check.add(der.clone()).map_err(|e| {
                format!(
                    "{}: a certificate rustls cannot use: {e}",
                    ca.describe("--cacert")
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = LazyVerifier {
        extra: certs,
        provider: provider.clone(),
        built: OnceLock::new(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS cannot be set up: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = match version {
        Some(HttpVersion::Http1) => vec![b"http/1.1".to_vec()],
        Some(HttpVersion::Http2) => vec![b"h2".to_vec()],
        None => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(config)
}

fn no_pem(ca: &PemFile) -> String {
    format!(
        "{}: no PEM certificate in it (a CA file holds `-----BEGIN CERTIFICATE-----` blocks)",
        ca.describe("--cacert")
    )
}

/// `builder` with `tls` applied for a client of `version`; why not,
/// naming the file and the place that names it.
pub fn configure(
    mut builder: ClientBuilder,
    tls: &Tls,
    version: Option<HttpVersion>,
) -> Result<ClientBuilder, String> {
    if tls.client_cert.is_none() && tls.pkcs12.is_none() && !tls.insecure {
        // The common case, built from the store read once.
        return Ok(builder.use_preconfigured_tls(trusting(tls.ca_cert.as_ref(), version)?));
    }
    if let Some(ca) = &tls.ca_cert {
        let certs = Certificate::from_pem_bundle(&ca.pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| no_pem(ca))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(cert) = &tls.client_cert {
        builder = builder.identity(identity(cert, tls.client_key.as_ref())?);
    }
    if let Some((archive, password)) = &tls.pkcs12 {
        builder = builder.identity(pkcs12::identity(archive, password)?);
    }
    if tls.insecure {
        builder = builder.danger_accept_invalid_certs(true);
    }
    Ok(builder)
}

/// The client certificate with its key: from two files, or one that holds both.
fn identity(cert: &PemFile, key: Option<&PemFile>) -> Result<Identity, String> {
    let mut pem = cert.pem.clone();
    if let Some(key) = key {
        pem.push(b'\n');
        pem.extend_from_slice(&key.pem);
    }
    let has_key = std::str::from_utf8(&pem).is_ok_and(|t| t.contains("PRIVATE KEY-----"));
    if !has_key {
        return Err(format!(
            "{}: no private key for the client certificate (give it with --key or `client_key`)",
            cert.describe("--cert")
        ));
    }
    Identity::from_pem(&pem).map_err(|e| {
        format!(
            "{}: not a usable PEM certificate and key ({})",
            cert.describe("--cert"),
            e.source().map_or(e.to_string(), |s| s.to_string())
        )
    })
}

/// What went wrong in the TLS handshake with `host`, in words a person can
/// act on; `None` when `error` is no TLS failure.
pub fn explain(error: &(dyn std::error::Error + 'static), host: &str) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(explain_rustls(tls, host));
        }
        // An io::Error's source is its inner error's source, not the inner
        // error (where rustls puts its own).
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static));
        cause = inner.or_else(|| e.source());
    }
    None
}

const TRUST: &str = "trust its CA with --cacert FILE, `defaults.tls.ca_cert` or SSL_CERT_FILE, or skip the check with --insecure";

fn explain_rustls(error: &rustls::Error, host: &str) -> String {
    match error {
        rustls::Error::InvalidCertificate(c) => explain_certificate(c, host),
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure,
        ) => format!(
            "{host} asks for a client certificate and none was accepted: give one with --cert/--key or `defaults.tls.client_cert`"
        ),
        rustls::Error::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied,
        ) => format!("{host} refused the client certificate"),
        other => format!("TLS with {host} failed: {other}"),
    }
}

fn explain_certificate(error: &CertificateError, host: &str) -> String {
    match error {
        CertificateError::UnknownIssuer => format!(
            "the certificate of {host} is self-signed or signed by a CA this machine does not trust: {TRUST}"
        ),
        CertificateError::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => format!(
            "the certificate of {host} is self-signed (a CA certificate serves as the server's own): {TRUST}"
        ),
        CertificateError::NotValidForNameContext { presented, .. } => format!(
            "the certificate of {host} is for {}, not for {host}",
            names(presented)
        ),
        CertificateError::NotValidForName => {
            format!("the certificate of {host} is not for {host}")
        }
        CertificateError::ExpiredContext { not_after, .. } => format!(
            "the certificate of {host} expired on {}",
            date(not_after.as_secs())
        ),
        CertificateError::Expired => format!("the certificate of {host} has expired"),
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "the certificate of {host} is not valid before {}",
            date(not_before.as_secs())
        ),
        CertificateError::NotValidYet => format!("the certificate of {host} is not valid yet"),
        other => format!("the certificate of {host} was rejected: {other:?}"),
    }
}

fn names(presented: &[String]) -> String {
    if presented.is_empty() {
        return "no name at all".into();
    }
    // rustls gives each name as its Debug form: `DnsName("a.example")`.
    let plain = |n: &str| {
        n.strip_prefix("DnsName(\"")
            .and_then(|n| n.strip_suffix("\")"))
            .map(str::to_string)
            .unwrap_or_else(|| n.to_string())
    };
    presented
        .iter()
        .map(|n| format!("`{}`", plain(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn date(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{secs} s after 1970"))
}

/// PKCS#12 archives, opened into the PEM rustls reads.
#[cfg(feature = "pkcs12")]
mod pkcs12 {
    use base64::Engine as _;
    use reqwest::Identity;

    use crate::resolve::PemFile;

    /// The client certificate chain and key of `archive`.
    pub fn identity(archive: &PemFile, password: &str) -> Result<Identity, String> {
        let place = archive.describe("pkcs12");
        let store = p12_keystore::KeyStore::from_pkcs12(
            &archive.pem,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| {
            format!("{place}: cannot open the PKCS#12 file ({e}); is the password right?")
        })?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            format!("{place}: the PKCS#12 file holds no private key with its certificate")
        })?;
        let mut pem = block("PRIVATE KEY", chain.key().as_der());
        for cert in chain.certs() {
            pem.push_str(&block("CERTIFICATE", cert.as_der()));
        }
        Identity::from_pem(pem.as_bytes())
            .map_err(|e| format!("{place}: the PKCS#12 certificate or key is not usable ({e})"))
    }

    fn block(label: &str, der: &[u8]) -> String {
        let text = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }
}

/// Without the `pkcs12` feature: says how to get one or what to use instead.
#[cfg(not(feature = "pkcs12"))]
mod pkcs12 {
    use reqwest::Identity;

    use crate::resolve::PemFile;

    /// Always an error: this build cannot open PKCS#12 files.
    pub fn identity(archive: &PemFile, _password: &str) -> Result<Identity, String> {
        Err(format!(
            "{}: this reqtest was built without PKCS#12 support (cargo feature `pkcs12`); convert the file with `openssl pkcs12 -in FILE.p12 -out client.pem -nodes` and use `client_cert`",
            archive.describe("pkcs12")
        ))
    }
}
