//! Transport security: the server's TLS configuration (rustls, PEM files named in
//! [`TlsSettings`]), the rule that plaintext is served only on loopback unless allowed, and the
//! client side used by the command-line clients (`https://` URLs, a CA to trust, a client
//! certificate for mutual TLS).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::config::TlsSettings;

/// Why the transport could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Plaintext on an address other machines can reach, without the setting that allows it.
    #[error(
        "refusing to serve plaintext on the non-loopback address {addr}: set tls.cert and \
         tls.key (--tls-cert/--tls-key, OVERSIGHT_TLS__CERT/OVERSIGHT_TLS__KEY) to serve TLS, \
         listen on 127.0.0.1, or set tls.allow_plaintext = true (--allow-plaintext) if a \
         TLS-terminating proxy or a private network protects the port"
    )]
    PlaintextNotAllowed {
        /// The listen address.
        addr: SocketAddr,
    },
    /// A PEM file could not be read.
    #[error("cannot read the {what} {path}: {source}")]
    Read {
        /// Which file it is, e.g. "TLS certificate".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate, key or CA was refused by the TLS library.
    #[error(
        "invalid TLS configuration ({detail}); check that tls.cert, tls.key and tls.client_ca are PEM files that belong together"
    )]
    Invalid {
        /// What the TLS library said.
        detail: String,
    },
    /// A client option that needs another one.
    #[error("{0}")]
    Client(String),
}

/// The server's TLS configuration, or `None` for plaintext; refuses plaintext on a non-loopback
/// `listen` address unless `tls.allow_plaintext` is set.
pub fn server_tls(
    tls: &TlsSettings,
    listen: SocketAddr,
) -> Result<Option<ServerTlsConfig>, TransportError> {
    let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
        if !listen.ip().is_loopback() && !tls.allow_plaintext {
            return Err(TransportError::PlaintextNotAllowed { addr: listen });
        }
        return Ok(None);
    };
    let identity = Identity::from_pem(
        read("TLS certificate", cert)?,
        read("TLS private key", key)?,
    );
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca {
        config = config
            .client_ca_root(Certificate::from_pem(read("client CA certificate", ca)?))
            .client_auth_optional(false);
    }
    Ok(Some(config))
}

/// The pages' TLS configuration (the same `[tls]` files as gRPC, HTTP/1.1), or `None` for
/// plaintext; refuses plaintext on a non-loopback `listen` address unless
/// `tls.allow_plaintext` is set, as [`server_tls`] does.
pub fn web_tls(
    tls: &TlsSettings,
    listen: SocketAddr,
) -> Result<Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>, TransportError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;

    let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
        if !listen.ip().is_loopback() && !tls.allow_plaintext {
            return Err(TransportError::PlaintextNotAllowed { addr: listen });
        }
        return Ok(None);
    };
    let invalid = |detail: String| TransportError::Invalid { detail };
    let certs = CertificateDer::pem_slice_iter(&read("TLS certificate", cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{}: {e}", cert.display())))?;
    let private_key = PrivateKeyDer::from_pem_slice(&read("TLS private key", key)?)
        .map_err(|e| invalid(format!("{}: {e}", key.display())))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for der in CertificateDer::pem_slice_iter(&read("client CA certificate", ca)?) {
                let der = der.map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
                roots.add(der).map_err(|e| invalid(e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| invalid(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, private_key)
        .map_err(|e| invalid(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(std::sync::Arc::new(config)))
}

/// What a client needs to reach a server over TLS.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// PEM file of the CA that signed the server's certificate.
    pub ca: Option<PathBuf>,
    /// PEM file of the client's certificate (mutual TLS).
    pub cert: Option<PathBuf>,
    /// PEM file of the client's private key (mutual TLS).
    pub key: Option<PathBuf>,
    /// The name to check the server's certificate against (default: the URL's host).
    pub domain: Option<String>,
}

/// An endpoint for `url`: plaintext for `http://`, TLS for `https://` (which needs `tls.ca`).
pub fn client_endpoint(url: &str, tls: &ClientTls) -> Result<Endpoint, TransportError> {
    let endpoint = Endpoint::from_shared(url.to_string()).map_err(|e| {
        TransportError::Client(format!(
            "{url:?} is not a valid server address ({e}); use http://HOST:PORT or https://HOST:PORT"
        ))
    })?;
    let https = url.starts_with("https://");
    if !https {
        if tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() {
            return Err(TransportError::Client(format!(
                "TLS options were given but {url} is not an https:// URL; use https://"
            )));
        }
        return Ok(endpoint);
    }
    let Some(ca) = &tls.ca else {
        return Err(TransportError::Client(format!(
            "{url} needs --tls-ca FILE: the PEM certificate of the CA that signed the server's certificate"
        )));
    };
    let mut config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("CA certificate", ca)?));
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            config = config.identity(Identity::from_pem(
                read("client certificate", cert)?,
                read("client private key", key)?,
            ));
        }
        (None, None) => {}
        _ => {
            return Err(TransportError::Client(
                "--tls-cert and --tls-key must be given together".to_string(),
            ));
        }
    }
    if let Some(domain) = &tls.domain {
        config = config.domain_name(domain.clone());
    }
    endpoint
        .tls_config(config)
        .map_err(|e| TransportError::Invalid {
            detail: e.to_string(),
        })
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_on_loopback_unless_allowed() {
        let open: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        let error = server_tls(&TlsSettings::default(), open).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("tls.cert"), "{text}");
        assert!(text.contains("allow_plaintext"), "{text}");
        for loopback in ["127.0.0.1:1", "[::1]:1"] {
            let addr: SocketAddr = loopback.parse().unwrap();
            assert!(server_tls(&TlsSettings::default(), addr).unwrap().is_none());
        }
        let allowed = TlsSettings {
            allow_plaintext: true,
            ..TlsSettings::default()
        };
        assert!(server_tls(&allowed, open).unwrap().is_none());
        // The pages follow the same rule.
        let error = web_tls(&TlsSettings::default(), open).unwrap_err();
        assert!(error.to_string().contains("tls.cert"), "{error}");
        assert!(
            web_tls(&TlsSettings::default(), "127.0.0.1:1".parse().unwrap())
                .unwrap()
                .is_none()
        );
        assert!(web_tls(&allowed, open).unwrap().is_none());
    }

    #[test]
    fn missing_pem_file_is_named() {
        let tls = TlsSettings {
            cert: Some("/nonexistent/server.crt".into()),
            key: Some("/nonexistent/server.key".into()),
            ..TlsSettings::default()
        };
        let error = server_tls(&tls, "127.0.0.1:1".parse().unwrap()).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/server.crt"),
            "{error}"
        );
    }

    #[test]
    fn https_needs_a_ca_and_http_refuses_tls_options() {
        let error = client_endpoint("https://localhost:1", &ClientTls::default()).unwrap_err();
        assert!(error.to_string().contains("--tls-ca"), "{error}");
        let with_ca = ClientTls {
            ca: Some("/x/ca.pem".into()),
            ..ClientTls::default()
        };
        let error = client_endpoint("http://localhost:1", &with_ca).unwrap_err();
        assert!(error.to_string().contains("https://"), "{error}");
        assert!(client_endpoint("http://localhost:1", &ClientTls::default()).is_ok());
    }
}
