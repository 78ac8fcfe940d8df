//! Optional verification of bearer tokens that are JWTs of an OpenID Connect provider
//! (`jsonwebtoken`), next to the server's own `ovs_` tokens.
//!
//! The provider's public keys come from a JWKS file ([`OidcSettings::jwks_file`]), re-read
//! when it changes (its modification time, size or inode, checked on every JWT, as
//! `tokens.json` is), so a rotation of the provider's keys needs no restart. Only asymmetric
//! keys are accepted and each key fixes its algorithm, so neither `alg: none` nor an HMAC token
//! "signed" with a public key can pass. A JWT must carry `iss` equal to the issuer, `aud`
//! containing the audience, an `exp` in the future (60 s of leeway) and a role claim that maps
//! to a [`Role`]; committee and deputy group come from their claims.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use thiserror::Error;

use crate::auth::principal::{AuthError, Authenticator, Principal, Role};
use crate::auth::store::{FileStamp, Followed, TOKEN_PREFIX, TokenStore};
use crate::config::OidcSettings;

/// Why the OpenID Connect settings cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The JWKS file cannot be read.
    #[error("cannot read the JWKS file {path} (oidc.jwks_file): {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The JWKS file is not a usable key set.
    #[error("the JWKS file {path} (oidc.jwks_file) {detail}")]
    Keys {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A value of `oidc.roles` is not a role.
    #[error("oidc.roles maps {claim:?} to {detail}")]
    Role {
        /// The claim value.
        claim: String,
        /// What is wrong.
        detail: String,
    },
}

struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies provider JWTs and turns their claims into principals.
pub struct OidcVerifier {
    keys: Followed<Key>,
    issuer: String,
    audience: String,
    settings: OidcSettings,
    roles: BTreeMap<String, Role>,
}

/// Reads and checks the key set at `path`.
fn read_keys(path: &Path) -> Result<Vec<Key>, OidcError> {
    let bytes = std::fs::read(path).map_err(|source| OidcError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let keys_error = |detail: String| OidcError::Keys {
        path: path.to_path_buf(),
        detail,
    };
    let set: JwkSet = serde_json::from_slice(&bytes)
        .map_err(|e| keys_error(format!("is not a JSON Web Key Set: {e}")))?;
    let mut keys = Vec::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let algorithm =
            algorithm_of(jwk).map_err(|detail| keys_error(format!("key {i}: {detail}")))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| keys_error(format!("key {i}: {e}")))?;
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    if keys.is_empty() {
        return Err(keys_error("holds no keys".to_string()));
    }
    Ok(keys)
}

impl OidcVerifier {
    /// The verifier of `settings`, or `None` when no JWKS file is configured.
    pub fn from_settings(settings: &OidcSettings) -> Result<Option<Self>, OidcError> {
        let Some(path) = &settings.jwks_file else {
            return Ok(None);
        };
        let stamp = FileStamp::of(path);
        let keys = read_keys(path)?;
        let mut roles = BTreeMap::new();
        for (claim, role) in &settings.roles {
            let role = role.parse::<Role>().map_err(|detail| OidcError::Role {
                claim: claim.clone(),
                detail,
            })?;
            roles.insert(claim.clone(), role);
        }
        Ok(Some(Self {
            keys: Followed::new(path.clone(), "OpenID Connect key set", keys, stamp),
            issuer: settings.issuer.clone().unwrap_or_default(),
            audience: settings.audience.clone().unwrap_or_default(),
            settings: settings.clone(),
            roles,
        }))
    }

    /// The principal of a valid JWT.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let refuse = |reason: String| AuthError::Jwt { reason };
        let header = decode_header(token).map_err(|e| refuse(format!("bad header: {e}")))?;
        let keys = self.keys.current(read_keys);
        let candidates = keys.iter().filter(|key| {
            key.algorithm == header.alg
                && match (&header.kid, &key.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    _ => true,
                }
        });
        let mut last = None;
        for key in candidates {
            let mut validation = Validation::new(key.algorithm);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            match decode::<BTreeMap<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return self.principal(&data.claims),
                Err(error) => last = Some(error),
            }
        }
        Err(match last {
            Some(error) => refuse(error.to_string()),
            None => refuse(format!(
                "no key of the configured JWKS matches algorithm {:?} and key id {:?}",
                header.alg, header.kid
            )),
        })
    }

    fn principal(&self, claims: &BTreeMap<String, Value>) -> Result<Principal, AuthError> {
        let refuse = |reason: String| AuthError::Jwt { reason };
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
        let subject = text(&self.settings.subject_claim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refuse(format!("no {} claim", self.settings.subject_claim)))?;
        let values: Vec<&str> = match claims.get(&self.settings.role_claim) {
            Some(Value::String(value)) => vec![value.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let role = values
            .iter()
            .find_map(|value| {
                if self.roles.is_empty() {
                    value.parse::<Role>().ok()
                } else {
                    self.roles.get(*value).copied()
                }
            })
            .ok_or_else(|| {
                refuse(format!(
                    "the {} claim names no role this server maps",
                    self.settings.role_claim
                ))
            })?;
        Principal {
            subject,
            role,
            committee: text(&self.settings.committee_claim),
            deputy_group: text(&self.settings.deputy_group_claim),
        }
        .refuse_scoped_admin()
    }
}

/// The algorithm a JWKS key is used with: its `alg`, else the one its curve or type implies.
/// Symmetric keys are refused: a shared secret does not belong in a published key set.
fn algorithm_of(jwk: &Jwk) -> Result<Algorithm, String> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err("uses an elliptic curve other than P-256 or P-384".to_string()),
        },
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => {
            return Err("is a symmetric key; only public keys are accepted".to_string());
        }
    };
    let Some(declared) = jwk.common.key_algorithm else {
        return Ok(implied);
    };
    let declared = match declared {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        other => return Err(format!("declares the unsupported algorithm {other:?}")),
    };
    let family = |a: Algorithm| match a {
        Algorithm::ES256 | Algorithm::ES384 => 1,
        Algorithm::EdDSA => 2,
        _ => 3,
    };
    if family(declared) != family(implied)
        || (matches!(implied, Algorithm::ES256 | Algorithm::ES384) && declared != implied)
    {
        return Err(format!(
            "declares {declared:?}, which does not fit its key type"
        ));
    }
    Ok(declared)
}

/// The server's authenticator: its own `ovs_` tokens, and provider JWTs when configured.
pub struct Authenticators {
    tokens: Arc<TokenStore>,
    oidc: Option<OidcVerifier>,
}

impl Authenticators {
    /// Own tokens from `tokens`, JWTs through `oidc` if any.
    pub fn new(tokens: Arc<TokenStore>, oidc: Option<OidcVerifier>) -> Self {
        Self { tokens, oidc }
    }
}

impl Authenticator for Authenticators {
    fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        match &self.oidc {
            Some(oidc) if !bearer.starts_with(TOKEN_PREFIX) && bearer.split('.').count() == 3 => {
                oidc.verify(bearer)
            }
            _ => self.tokens.authenticate(bearer),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;

    struct Provider {
        _dir: tempfile::TempDir,
        path: PathBuf,
        verifier: OidcVerifier,
        signing: EncodingKey,
        other: EncodingKey,
        other_jwk: Value,
    }

    fn es256() -> (EncodingKey, Value) {
        let pair = rcgen::KeyPair::generate().unwrap();
        let signing = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let raw = pair.public_key_raw();
        assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
        });
        (signing, jwk)
    }

    fn provider(roles: &[(&str, &str)]) -> Provider {
        let dir = tempfile::tempdir().unwrap();
        let (signing, jwk) = es256();
        let (other, other_jwk) = es256();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, json!({ "keys": [jwk] }).to_string()).unwrap();
        let settings = OidcSettings {
            issuer: Some("https://id.example.org".into()),
            audience: Some("oversight".into()),
            jwks_file: Some(path.clone()),
            roles: roles
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..OidcSettings::default()
        };
        let verifier = OidcVerifier::from_settings(&settings).unwrap().unwrap();
        Provider {
            _dir: dir,
            path,
            verifier,
            signing,
            other,
            other_jwk,
        }
    }

    fn claims(exp_offset: i64) -> Value {
        json!({
            "iss": "https://id.example.org",
            "aud": ["oversight", "other-app"],
            "sub": "wang.li",
            "exp": chrono::Utc::now().timestamp() + exp_offset,
            "oversight_role": "npc-clerk",
            "oversight_committee": "xiangfang",
        })
    }

    fn sign(key: &EncodingKey, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        encode(&header, claims, key).unwrap()
    }

    fn reason(result: Result<Principal, AuthError>) -> String {
        match result {
            Err(AuthError::Jwt { reason }) => reason,
            other => panic!("expected a refused JWT, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_token_maps_its_claims() {
        let p = provider(&[("npc-clerk", "clerk")]);
        let principal = p.verifier.verify(&sign(&p.signing, &claims(600))).unwrap();
        assert_eq!(principal.subject, "wang.li");
        assert_eq!(principal.role, Role::Clerk);
        assert_eq!(principal.committee.as_deref(), Some("xiangfang"));
        assert_eq!(principal.deputy_group, None);
    }

    #[test]
    fn expired_wrong_issuer_wrong_audience_and_foreign_signatures_are_refused() {
        let p = provider(&[("npc-clerk", "clerk")]);
        let expired = reason(p.verifier.verify(&sign(&p.signing, &claims(-600))));
        assert!(expired.contains("Expired"), "{expired}");

        let mut wrong_issuer = claims(600);
        wrong_issuer["iss"] = json!("https://evil.example.org");
        let text = reason(p.verifier.verify(&sign(&p.signing, &wrong_issuer)));
        assert!(text.contains("Issuer"), "{text}");

        let mut wrong_audience = claims(600);
        wrong_audience["aud"] = json!("another-service");
        let text = reason(p.verifier.verify(&sign(&p.signing, &wrong_audience)));
        assert!(text.contains("Audience"), "{text}");

        let text = reason(p.verifier.verify(&sign(&p.other, &claims(600))));
        assert!(text.contains("Signature"), "{text}");

        let mut unmapped = claims(600);
        unmapped["oversight_role"] = json!("admin");
        reason(p.verifier.verify(&sign(&p.signing, &unmapped)));
    }

    /// Replaces the key set file the way a deployment does: a new file renamed over it.
    fn replace(path: &Path, contents: &str) {
        let next = path.with_extension("next");
        std::fs::write(&next, contents).unwrap();
        std::fs::rename(&next, path).unwrap();
    }

    #[test]
    fn a_rotated_key_set_is_read_again_and_a_broken_one_keeps_the_keys_in_force() {
        let p = provider(&[("npc-clerk", "clerk")]);
        let old = sign(&p.signing, &claims(600));
        let new = sign(&p.other, &claims(600));
        p.verifier.verify(&old).unwrap();
        reason(p.verifier.verify(&new));

        // The provider rotates its key: the new one verifies, the old one no longer does.
        replace(&p.path, &json!({ "keys": [p.other_jwk] }).to_string());
        assert_eq!(p.verifier.verify(&new).unwrap().role, Role::Clerk);
        let text = reason(p.verifier.verify(&old));
        assert!(text.contains("Signature"), "{text}");

        // A broken or unusable file keeps the keys in force; the next good one is read.
        for broken in [
            "not json".to_string(),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}]}).to_string(),
        ] {
            replace(&p.path, &broken);
            p.verifier.verify(&new).unwrap();
            reason(p.verifier.verify(&old));
        }
        std::fs::remove_file(&p.path).unwrap();
        p.verifier.verify(&new).unwrap();
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        let p = provider(&[]);
        let mut body = claims(600);
        body["oversight_role"] = json!("admin");
        // An admin acts on every committee: a committee claim would be a scope never honoured.
        let scoped = sign(&p.signing, &body);
        assert!(matches!(
            p.verifier.verify(&scoped),
            Err(AuthError::ScopedAdmin { .. })
        ));
        body.as_object_mut().unwrap().remove("oversight_committee");
        let payload = URL_SAFE_NO_PAD.encode(body.to_string());
        for header in [
            json!({"alg": "none", "typ": "JWT"}),
            json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}),
        ] {
            let header = URL_SAFE_NO_PAD.encode(header.to_string());
            for signature in ["", "c2lnbmF0dXJl"] {
                let token = format!("{header}.{payload}.{signature}");
                reason(p.verifier.verify(&token));
            }
        }
        // With role names in the claim (no mapping), a properly signed admin token passes.
        let principal = p.verifier.verify(&sign(&p.signing, &body)).unwrap();
        assert_eq!(principal.role, Role::Admin);
    }

    #[test]
    fn own_tokens_still_work_next_to_jwts() {
        let p = provider(&[("npc-clerk", "clerk")]);
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(TokenStore::open(dir.path()).unwrap());
        let admin = std::fs::read_to_string(store.admin_token_path())
            .unwrap()
            .trim()
            .to_string();
        let jwt = sign(&p.signing, &claims(600));
        let both = Authenticators::new(store, Some(p.verifier));
        assert_eq!(both.authenticate(&admin).unwrap().role, Role::Admin);
        assert_eq!(both.authenticate(&jwt).unwrap().role, Role::Clerk);
        assert!(matches!(
            both.authenticate("a.b.c"),
            Err(AuthError::Jwt { .. })
        ));
    }

    #[test]
    fn symmetric_keys_and_bad_role_maps_are_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(
            &path,
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}).to_string(),
        )
        .unwrap();
        let settings = OidcSettings {
            issuer: Some("i".into()),
            audience: Some("a".into()),
            jwks_file: Some(path),
            ..OidcSettings::default()
        };
        let error = OidcVerifier::from_settings(&settings).err().unwrap();
        assert!(error.to_string().contains("symmetric"), "{error}");
        assert!(
            OidcVerifier::from_settings(&OidcSettings::default())
                .unwrap()
                .is_none()
        );
    }
}
