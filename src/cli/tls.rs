//! The TLS flags shared by the client commands (`log`, `health`, `bench --server`, `admin`):
//! an `https://` server URL needs `--tls-ca`; `--tls-cert` and `--tls-key` present a client
//! certificate to a server that requires one (mutual TLS).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use oversight::transport::{ClientTls, client_endpoint};
use tonic::transport::{Channel, Endpoint};

/// The server this process connected to (one per command).
static SERVER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// What to do when a call to a plaintext `http://` address failed on the connection: when the
/// server there answers a plaintext HTTP/2 greeting with a TLS alert, it speaks TLS only, and
/// the client should use `https://` with the CA of its certificate. `None` for other failures.
pub fn tls_hint(status: &tonic::Status) -> Option<String> {
    use tonic::Code;
    let server = SERVER.get()?;
    let rest = server.strip_prefix("http://")?;
    if !matches!(
        status.code(),
        Code::Unknown | Code::Internal | Code::Unavailable
    ) {
        return None;
    }
    speaks_tls(rest).then(|| {
        format!(
            "the server at {server} speaks TLS: use --server https://{rest} with --tls-ca FILE \
             (the PEM certificate of the CA that signed the server's certificate)"
        )
    })
}

/// Whether the server at `authority` (`host:port`) answers the HTTP/2 connection preface with a
/// TLS alert record (content type 21, version 3.x), as a TLS-only server does.
fn speaks_tls(authority: &str) -> bool {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;
    let authority = authority.trim_end_matches('/');
    let Some(addr) = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
    else {
        return false;
    };
    let wait = Duration::from_secs(2);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, wait) else {
        return false;
    };
    let mut reply = [0u8; 2];
    stream.set_read_timeout(Some(wait)).is_ok()
        && stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && reply == [21, 3]
}

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

    /// An endpoint for `server` (http:// or https://); the server is remembered for the hint
    /// a failed call may need ([`tls_hint`]).
    pub fn endpoint(&self, server: &str) -> anyhow::Result<Endpoint> {
        let _ = SERVER.set(server.to_string());
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
