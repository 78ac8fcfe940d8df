//! HTTP details the pages share: cookies (read and set, with the flags every cookie carries),
//! CSRF tokens, the security headers of every response and where a redirect may go.

use axum::http::header::{self, HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::web::keys::{Purpose, WebKeys};

/// The Content-Security-Policy of every response: nothing but this origin's own files, no
/// inline script or style, no framing, forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; \
     manifest-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The names of the pages' cookies: `__Host-` prefixed under TLS, which binds them to this
/// host, path `/` and `Secure`.
#[derive(Debug, Clone)]
pub struct CookieNames {
    /// The session.
    pub session: &'static str,
    /// The pre-session cookie that the sign-in form's CSRF token is bound to.
    pub presession: &'static str,
    /// The language chosen.
    pub lang: &'static str,
}

impl CookieNames {
    /// The names for a listener that does (or does not) speak TLS.
    pub fn new(tls: bool) -> Self {
        if tls {
            Self {
                session: "__Host-oversight_session",
                presession: "__Host-oversight_presession",
                lang: "__Host-oversight_lang",
            }
        } else {
            Self {
                session: "oversight_session",
                presession: "oversight_presession",
                lang: "oversight_lang",
            }
        }
    }
}

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/`, Secure under TLS, living
/// `max_age_secs` (0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age_secs.max(0)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The CSRF token of forms sent within the session `session_key`.
pub fn session_csrf(keys: &WebKeys, session_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(keys.sign(Purpose::Csrf, &[b"session", session_key.as_bytes()]))
}

/// The CSRF token of forms sent before signing in, bound to the pre-session cookie's value.
pub fn presession_csrf(keys: &WebKeys, presession: &str) -> String {
    URL_SAFE_NO_PAD.encode(keys.sign(Purpose::Csrf, &[b"presession", presession.as_bytes()]))
}

/// Whether `token` is the CSRF token of `kind` (`b"session"` or `b"presession"`) for `bound`.
pub fn csrf_matches(keys: &WebKeys, kind: &[u8], bound: &str, token: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(token)
        .is_ok_and(|tag| keys.verify(Purpose::Csrf, &[kind, bound.as_bytes()], &tag))
}

/// A fresh pre-session cookie value.
pub fn new_presession() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// Whether a state-changing request comes from this site: the browser's `Sec-Fetch-Site`, when
/// sent, says same-origin (or a direct navigation), and `Origin`, when sent, names the host
/// the request was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.to_str(), Ok("same-origin" | "none"))
    {
        return false;
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => match (origin.to_str(), host.to_str()) {
            (Ok(origin), Ok(host)) => origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host),
            _ => false,
        },
        (Some(_), None) => false,
    }
}

/// `next` if it is a path of this site (so a redirect cannot leave it), else `/`.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The security headers every response carries (HSTS only under TLS).
pub fn security_headers(headers: &mut HeaderMap, tls: bool) {
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(headers, "x-content-type-options", "nosniff");
    // Sign-in links are secrets in the URL: never send one to another site. (Not
    // `no-referrer`: under it browsers send `Origin: null` with the pages' own forms.)
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-frame-options", "DENY");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    if tls {
        set(headers, "strict-transport-security", "max-age=31536000");
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name_and_set_with_every_flag() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; oversight_session=x.y"),
        );
        assert_eq!(cookie(&headers, "oversight_session"), Some("x.y"));
        assert_eq!(cookie(&headers, "b"), None);
        let plain = set_cookie("s", "v", 60, false);
        assert_eq!(plain, "s=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60");
        let secure = set_cookie("s", "v", 60, true);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn csrf_tokens_are_bound_to_what_they_were_made_for() {
        let keys = WebKeys::from_master(&[1; 32]);
        let token = session_csrf(&keys, "abc");
        assert!(csrf_matches(&keys, b"session", "abc", &token));
        assert!(!csrf_matches(&keys, b"session", "abd", &token));
        assert!(!csrf_matches(&keys, b"presession", "abc", &token));
        assert!(!csrf_matches(&keys, b"session", "abc", "not base64!"));
        let pre = new_presession();
        assert!(csrf_matches(
            &keys,
            b"presession",
            &pre,
            &presession_csrf(&keys, &pre)
        ));
    }

    #[test]
    fn only_same_origin_requests_change_state() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        assert!(same_origin(&headers(&[])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ])));
        assert!(!same_origin(&headers(&[("host", "h"), ("origin", "null")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn redirects_stay_on_the_site() {
        assert_eq!(local_path(Some("/signin/x")), "/signin/x");
        for away in ["//evil.example", "https://evil.example", "/\\evil", "", "x"] {
            assert_eq!(local_path(Some(away)), "/", "{away}");
        }
        assert_eq!(local_path(None), "/");
    }
}
