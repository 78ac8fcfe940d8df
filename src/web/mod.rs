//! The pages: server-rendered HTML on a listener of its own (`web.listen`), the only code that
//! knows HTTP forms, cookies and templates. Thin: identity comes from [`crate::auth`], records
//! from the application layer, and the pages only turn requests into calls and answers into
//! HTML.
//!
//! * [`rules`] — THE authorization table of the pages: every route and the roles it admits;
//! * [`pages`] — the router, the middleware every request passes (table, session, CSRF) and
//!   the handlers;
//! * [`session`] — signing in with a one-time link, the session cookie, signing out;
//! * [`link`] — issuing sign-in links ([`issue_sign_in_link`]) and their QR codes;
//! * [`keys`] — the pages' key (`web.key`) that signs links, cookies and CSRF tokens;
//! * [`http`] — cookies, CSRF tokens, the security headers, safe redirects;
//! * [`ballot`] — the member's ballot and receipt;
//! * [`failure`] — the application layer's errors as pages, in words;
//! * [`templates`], [`i18n`], [`day_text`], [`assets`] — the layout and pages, the message
//!   catalogues (Chinese, English), the embedded style sheet and script.

pub mod assets;
pub mod ballot;
pub mod day_text;
pub mod failure;
pub mod http;
pub mod i18n;
pub mod keys;
pub mod link;
pub mod pages;
pub mod rules;
pub mod session;
pub mod templates;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod day_tests;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::app::App;
pub use keys::{KeyError, WEB_KEY_FILE, WebKeys};
pub use link::{LinkError, SIGN_IN_STREAM_PREFIX, SignInLink, issue_sign_in_link};
pub use session::{Sessions, Viewer};

/// How long a connection may take to send a request's headers, and a TLS handshake to finish:
/// a client that holds a connection open without sending is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler of the pages shares; cheap to clone.
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: Sessions,
    app: App,
    tls: bool,
    cookies: http::CookieNames,
    base_url: String,
    shutdown: CancellationToken,
}

impl WebState {
    /// The pages' state: sessions over the log and the token store, every command and query
    /// through `app` (decisions at its clock's time); `tls` says whether the listener speaks
    /// TLS (cookie names and flags, HSTS); `base_url` (`web.public_url`) roots the links the
    /// pages print (QR codes); `shutdown` ends the pages' live streams.
    pub fn new(
        sessions: Sessions,
        app: App,
        tls: bool,
        base_url: String,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions,
                app,
                tls,
                cookies: http::CookieNames::new(tls),
                base_url: base_url.trim_end_matches('/').to_string(),
                shutdown,
            }),
        }
    }

    /// The application layer: every command and query of the pages.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// The base of the links the pages print, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Fires when the server shuts down: live streams end.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Signing in and out.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// The time decisions are made at.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.app.clock.now()
    }

    /// Whether the listener speaks TLS.
    pub fn tls(&self) -> bool {
        self.inner.tls
    }

    /// The cookies' names.
    pub fn cookies(&self) -> &http::CookieNames {
        &self.inner.cookies
    }
}

/// Serves the pages on `listener` (over TLS with `tls`) until `shutdown`, then lets open
/// requests finish for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: WebState,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let app = pages::router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: the next accept may succeed.
                    tracing::warn!(%error, "the pages' listener could not accept a connection");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        match &tls {
            None => {
                let connection = http.serve_connection(TokioIo::new(stream), service);
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = watched.await {
                        tracing::debug!(%peer, %error, "a connection to the pages ended");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let http = http.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "a TLS handshake with the pages failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "a TLS handshake with the pages timed out");
                            return;
                        }
                    };
                    let connection = http.serve_connection(TokioIo::new(stream), service);
                    if let Err(error) = watcher.watch(connection).await {
                        tracing::debug!(%peer, %error, "a connection to the pages ended");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("the pages' grace period is over; closing their remaining connections");
    }
}
