//! The gRPC server's authentication layer: the bearer token becomes a [`Principal`] (through
//! an [`Authenticator`], usually the [`crate::auth::TokenStore`]) and the policy table
//! ([`crate::api::rules::rule`]) says which roles may call each RPC.
//!
//! [`AuthLayer`] wraps the whole tonic server, so no RPC can be added without passing through
//! it: health checks and reflection go through unauthenticated, every other path needs a valid
//! token and an entry in the table (a path without one is refused). The principal is put into the
//! request's extensions for the handlers.
//!
//! A refused caller is told what is wrong with its credential, never anything about the server:
//! where the admin token is goes to the server's own log, next to the refusal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::api::rules::{is_public, rule};
pub use crate::auth::{AuthError, Authenticator, Principal, Role};

/// The tower layer that authenticates and authorizes every call to the server.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
}

/// The longest bearer token looked up (bytes). The server's own tokens are 68 bytes and JWTs a
/// few kilobytes; anything longer is refused as invalid without being hashed.
pub const MAX_BEARER_BYTES: usize = 16 * 1024;

struct AuthState {
    authenticator: Arc<dyn Authenticator>,
    hint: String,
}

impl AuthLayer {
    /// `hint` says where the admin token is (a path, never the token); it is logged on the
    /// server's console when a call is refused for its credential, never sent to the caller.
    pub fn new(authenticator: Arc<dyn Authenticator>, hint: impl Into<String>) -> Self {
        Self {
            state: Arc::new(AuthState {
                authenticator,
                hint: hint.into(),
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
}

impl AuthState {
    /// `Ok(None)`: a public path; `Ok(Some)`: an authorized principal.
    fn check<B>(&self, request: &http::Request<B>) -> Result<Option<Principal>, AuthError> {
        let path = request.uri().path();
        if is_public(path) {
            return Ok(None);
        }
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Malformed)?;
        if token.len() > MAX_BEARER_BYTES {
            return Err(AuthError::TooLong {
                bytes: token.len(),
                max: MAX_BEARER_BYTES,
            });
        }
        let principal = self.authenticator.authenticate(token)?;
        let rule = rule(path).ok_or_else(|| AuthError::UnknownMethod {
            path: path.to_string(),
        })?;
        if !rule.admits(principal.role) {
            return Err(AuthError::Forbidden {
                path: path.to_string(),
                role: principal.role,
            });
        }
        Ok(Some(principal))
    }
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.state.check(&request) {
            Ok(Some(principal)) => {
                request.extensions_mut().insert(principal);
            }
            Ok(None) => {}
            Err(error) => {
                let extensions = request.extensions();
                let peer = extensions
                    .get::<TcpConnectInfo>()
                    .or_else(|| {
                        extensions
                            .get::<TlsConnectInfo<TcpConnectInfo>>()
                            .map(TlsConnectInfo::get_ref)
                    })
                    .and_then(TcpConnectInfo::remote_addr)
                    .map_or_else(|| "unknown".to_string(), |a| a.to_string());
                if matches!(
                    error,
                    AuthError::Missing | AuthError::Malformed | AuthError::Invalid
                ) {
                    tracing::warn!(
                        %peer,
                        path = request.uri().path(),
                        reason = %error,
                        "call refused; the admin token is in {}",
                        self.state.hint
                    );
                } else {
                    tracing::warn!(
                        %peer,
                        path = request.uri().path(),
                        reason = %error,
                        "call refused"
                    );
                }
                let response = Status::from(error).into_http();
                return Box::pin(async move { Ok(response) });
            }
        }
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{ADMIN_TOKEN_FILE, TOKEN_PREFIX, TOKENS_FILE, TokenStore};

    struct Fixed(Role);

    impl Authenticator for Fixed {
        fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
            if bearer != "good" {
                return Err(AuthError::Invalid);
            }
            Ok(Principal {
                subject: "someone".into(),
                role: self.0,
                committee: None,
                deputy_group: None,
            })
        }
    }

    #[test]
    fn a_role_outside_the_rule_is_permission_denied() {
        let state = AuthState {
            authenticator: Arc::new(Fixed(Role::Auditor)),
            hint: "x".into(),
        };
        let request = |path: &str| {
            http::Request::builder()
                .uri(path)
                .header("authorization", "Bearer good")
                .body(())
                .unwrap()
        };
        let denied = state
            .check(&request("/oversight.v1.EventLog/Append"))
            .unwrap_err();
        assert!(matches!(
            denied,
            AuthError::Forbidden {
                role: Role::Auditor,
                ..
            }
        ));
        assert!(denied.to_string().contains("auditor"), "{denied}");
        assert_eq!(Status::from(denied).code(), tonic::Code::PermissionDenied);
        let allowed = state
            .check(&request("/oversight.v1.EventLog/ReadAll"))
            .unwrap();
        assert_eq!(allowed.unwrap().role, Role::Auditor);
        let unknown = state
            .check(&request("/oversight.v1.Other/Thing"))
            .unwrap_err();
        assert_eq!(Status::from(unknown).code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn first_start_creates_a_private_admin_token_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        assert_eq!(store.admin_token_path(), path);
        let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for file in [ADMIN_TOKEN_FILE, TOKENS_FILE] {
                let mode = std::fs::metadata(dir.path().join(file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{file}");
            }
        }
        let tokens = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(
            !tokens.contains(&token),
            "the token itself must not be stored"
        );

        let principal = store.authenticate(&token).unwrap();
        assert_eq!(principal.role, Role::Admin);
        assert!(matches!(
            store.authenticate("ovs_wrong"),
            Err(AuthError::Invalid)
        ));

        // A restart keeps the same token.
        let again = TokenStore::open(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), token);
        assert!(again.authenticate(&token).is_ok());
    }

    #[test]
    fn checks_header_then_rule() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let token = std::fs::read_to_string(store.admin_token_path())
            .unwrap()
            .trim()
            .to_string();
        let state = AuthState {
            authenticator: Arc::new(store),
            hint: "data/admin.token".into(),
        };
        let request = |path: &str, auth: Option<&str>| {
            let mut builder = http::Request::builder().uri(path);
            if let Some(auth) = auth {
                builder = builder.header("authorization", auth);
            }
            builder.body(()).unwrap()
        };
        let bearer = format!("Bearer {token}");
        assert!(matches!(
            state.check(&request("/oversight.v1.EventLog/Head", None)),
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            state.check(&request("/oversight.v1.EventLog/Head", Some(&token))),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            state.check(&request("/oversight.v1.EventLog/Head", Some("Bearer nope"))),
            Err(AuthError::Invalid)
        ));
        assert!(matches!(
            state.check(&request("/oversight.v1.EventLog/Nope", Some(&bearer))),
            Err(AuthError::UnknownMethod { .. })
        ));
        assert!(matches!(
            state.check(&request("/grpc.health.v1.Health/Check", None)),
            Ok(None)
        ));
        let principal = state
            .check(&request("/oversight.v1.EventLog/Append", Some(&bearer)))
            .unwrap()
            .unwrap();
        assert_eq!(principal.subject, "admin");
        let missing = state
            .check(&request("/oversight.v1.EventLog/Head", None))
            .unwrap_err();
        assert_eq!(Status::from(missing).code(), tonic::Code::Unauthenticated);
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn state() -> (tempfile::TempDir, AuthState) {
            let dir = tempfile::tempdir().unwrap();
            let store = TokenStore::open(dir.path()).unwrap();
            let state = AuthState {
                authenticator: Arc::new(store),
                hint: "admin.token".into(),
            };
            (dir, state)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any bytes as the authorization header, on any path: refused or admitted, never a
            /// panic, and never admitted without the real token.
            #[test]
            fn random_headers_never_panic(
                header in proptest::collection::vec(any::<u8>(), 0..200),
                path in "/[a-zA-Z./]{0,60}",
            ) {
                let (_dir, state) = state();
                let mut builder = http::Request::builder().uri(path.as_str());
                if let Ok(value) = http::HeaderValue::from_bytes(&header) {
                    builder = builder.header(http::header::AUTHORIZATION, value);
                }
                if let Ok(request) = builder.body(()) {
                    let outcome = state.check(&request);
                    prop_assert!(!matches!(outcome, Ok(Some(_))));
                }
            }

            /// Any string as a bearer token is refused without a panic.
            #[test]
            fn random_tokens_are_refused(token in "\\PC{0,120}") {
                let (_dir, state) = state();
                prop_assert!(state.authenticator.authenticate(&token).is_err());
            }

            /// Any bytes as `tokens.json`: an error naming the file or a store, never a panic.
            #[test]
            fn random_token_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join(TOKENS_FILE), &bytes).unwrap();
                if let Err(error) = TokenStore::open(dir.path()) {
                    prop_assert!(error.to_string().contains(TOKENS_FILE));
                }
            }
        }
    }
}
