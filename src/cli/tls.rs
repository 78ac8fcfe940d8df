//! The TLS flags shared by the client commands (`log`, `health`, `bench --server`, `admin`):
//! an `https://` server URL needs `--tls-ca`; `--tls-cert` and `--tls-key` present a client
//! certificate to a server that requires one (mutual TLS).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use oversight::transport::{ClientTls, client_endpoint};
use tonic::transport::{Channel, Endpoint};

/// Flags for reaching a server over TLS.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// PEM certificate of the CA that signed the server's certificate (needed for https://).
    #[arg(long, global = true, value_name = "FILE", env = "OVERSIGHT_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate, for a server that requires client certificates.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "OVERSIGHT_TLS_CLIENT_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "OVERSIGHT_TLS_CLIENT_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the host of the URL).
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_domain: Option<String>,
}

impl TlsArgs {
    /// The library's client TLS options.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            domain: self.tls_domain.clone(),
        }
    }

    /// An endpoint for `server` (http:// or https://).
    pub fn endpoint(&self, server: &str) -> anyhow::Result<Endpoint> {
        Ok(client_endpoint(server, &self.client_tls())?)
    }

    /// A connected channel to `server`.
    pub async fn connect(&self, server: &str) -> anyhow::Result<Channel> {
        self.endpoint(server)?
            .connect()
            .await
            .with_context(|| format!("cannot connect to {server}"))
    }
}
