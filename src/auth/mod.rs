//! Identity, shared by every client: the [`Principal`] and its [`Role`], the token store that
//! turns a bearer token into one, the tokens' administration and the optional OpenID Connect
//! verifier. Transport-free: the gRPC layer (`api::auth`) and the pages both call it.
//!
//! * [`principal`] — [`Principal`], [`Role`], [`Authenticator`], [`AuthError`];
//! * [`store`] — [`TokenStore`]: digests of the issued tokens in `tokens.json`, followed as the
//!   file changes, and the admin token created on first start;
//! * [`tokens`] — issuing, listing and revoking tokens (`oversight admin token`);
//! * [`oidc`] — JWTs of an OpenID Connect provider, verified against a key set file.

pub mod oidc;
pub mod principal;
pub mod store;
pub mod tokens;

pub use principal::{AuthError, Authenticator, Principal, Role};
pub(crate) use store::write_secret;
pub use store::{ADMIN_TOKEN_FILE, TOKEN_PREFIX, TOKENS_FILE, TokenStore, TokenStoreError};
