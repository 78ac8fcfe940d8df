//! The pages' static files, embedded in the binary (`src/web/static/`): nothing is read from
//! disk at run time and nothing is loaded from another site. Pages link them with a hash of
//! their content in the URL, so a browser may keep them for a day and still never use a stale
//! one after an upgrade.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Every static file: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("static/app.js"),
    ),
];

static STYLESHEET: LazyLock<String> = LazyLock::new(|| href("app.css"));
static SCRIPT: LazyLock<String> = LazyLock::new(|| href("app.js"));

/// The script's URL, with its content hash.
pub fn script_href() -> &'static str {
    SCRIPT.as_str()
}

/// The style sheet's URL, with its content hash.
pub fn stylesheet_href() -> &'static str {
    STYLESHEET.as_str()
}

fn href(name: &str) -> String {
    let version = FILES
        .iter()
        .find(|(file, _, _)| *file == name)
        .map(|(_, _, bytes)| hex::encode(&Sha256::digest(bytes)[..6]))
        .unwrap_or_default();
    format!("/static/{name}?v={version}")
}

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_sheet_is_linked_by_content_and_has_no_remote_reference() {
        assert!(stylesheet_href().starts_with("/static/app.css?v="));
        for (name, _, bytes) in FILES {
            let text = String::from_utf8_lossy(bytes);
            for remote in ["http://", "https://", "@import", "url("] {
                assert!(!text.contains(remote), "{name} refers to {remote}");
            }
        }
    }
}
