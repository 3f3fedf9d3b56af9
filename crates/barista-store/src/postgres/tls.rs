//! TLS to PostgreSQL (rustls), with `sslmode` and `sslrootcert` read from the
//! URL as libpq reads them, since managed PostgreSQL requires TLS:
//!
//! | sslmode | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (the default) | when the server offers it | no (encryption only, as libpq) |
//! | `require` | always | no, unless `sslrootcert` is given (then as `verify-ca`) |
//! | `verify-ca` | always | chains to a trusted root |
//! | `verify-full` | always | chains to a trusted root and names the host |
//!
//! Trusted roots: the PEM file `sslrootcert` names, or with `sslrootcert=system`
//! (or none) the Mozilla roots built in (webpki-roots).

use crate::{Result, StoreError};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme,
};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Encryption only.
    Nothing,
    /// The chain, not the name.
    Chain,
    /// The chain and the name.
    Full,
}

/// A database URL taken apart: what tokio-postgres reads, and the TLS to use.
pub(super) struct Target {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: MakeRustlsConnect,
}

/// Parses a `postgres://` URL, taking out `sslmode` and `sslrootcert`
/// (tokio-postgres knows only some of libpq's modes, and no root file).
pub(super) fn target(url: &str) -> Result<Target> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = "prefer".to_owned();
    let mut root = None;
    let mut kept = vec![];
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = v.to_owned(),
            Some(("sslrootcert", v)) => root = Some(v.to_owned()),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let mut config: tokio_postgres::Config = format!("{base}{rest}")
        .parse()
        .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
    let (ssl, check) = match (mode.as_str(), &root) {
        ("disable", _) => (SslMode::Disable, Check::Nothing),
        ("allow" | "prefer", _) => (SslMode::Prefer, Check::Nothing),
        ("require", None) => (SslMode::Require, Check::Nothing),
        ("require" | "verify-ca", _) => (SslMode::Require, Check::Chain),
        ("verify-full", _) => (SslMode::Require, Check::Full),
        (other, _) => {
            return Err(StoreError::Config(format!(
                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    config.ssl_mode(ssl);
    let roots = roots(root.as_deref())?;
    let tls = MakeRustlsConnect::new(client_config(roots, check)?);
    Ok(Target { config, tls })
}

fn roots(file: Option<&str>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match file {
        None | Some("system") => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let bad = |e: String| StoreError::Config(format!("sslrootcert={path}: {e}"));
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
        }
    }
    Ok(roots)
}

fn client_config(roots: RootCertStore, check: Check) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))?;
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| StoreError::Config(format!("TLS roots: {e}")))?;
    let config = match check {
        Check::Full => builder.with_webpki_verifier(webpki),
        check => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Partial { webpki, check })),
    };
    Ok(config.with_no_client_auth())
}

/// Checks less than rustls would, as libpq's `prefer`, `require` and
/// `verify-ca` do; the handshake's signatures are always checked.
#[derive(Debug)]
struct Partial {
    webpki: Arc<WebPkiServerVerifier>,
    check: Check,
}

impl ServerCertVerifier for Partial {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        if self.check == Check::Nothing {
            return Ok(ServerCertVerified::assertion());
        }
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(TlsError::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(TlsError::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_ssl_parameters_are_taken_out_of_the_url() {
        let t =
            target("postgres://u@db.example/app?sslmode=verify-full&application_name=x").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.config.get_application_name(), Some("x"));
        let t = target("postgres://u@localhost/app").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Prefer);
        let t = target("postgres://u@localhost/app?sslmode=disable").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        assert!(target("postgres://u@localhost/app?sslmode=sometimes").is_err());
        assert!(
            target("postgres://u@localhost/app?sslmode=verify-ca&sslrootcert=/nonexistent.pem")
                .is_err()
        );
    }
}
