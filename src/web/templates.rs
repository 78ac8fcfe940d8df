//! The pages' templates, compiled into the binary by askama from `src/web/templates/`: one
//! layout (`layout.html`: skip link, header with the signed-in principal and the language
//! switch, main, footer) that every page extends. Templates escape every value; their text
//! comes from the catalogue ([`super::i18n`]), never from the template.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::web::assets;
use crate::web::i18n::{Lang, Text};
use crate::web::session::Viewer;

/// What the layout shows around every page.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The catalogue of the page's language.
    pub t: &'static Text,
    /// The page's title (the document title adds the site's name).
    pub title: &'static str,
    /// The page's stable name (`<main data-page>`), for scripts and tests.
    pub page: &'static str,
    /// The signed-in principal, if any.
    pub viewer: Option<ViewerView>,
    /// The CSRF token of the sign-out form.
    pub csrf: String,
    /// The language switch.
    pub languages: Vec<LanguageLink>,
    /// The style sheet's URL (with its content hash, so a new build is never served stale).
    pub stylesheet: &'static str,
}

/// The signed-in principal as the header shows it.
#[derive(Debug, Clone)]
pub struct ViewerView {
    /// The token's subject.
    pub subject: String,
    /// The role's name in the page's language.
    pub role: &'static str,
    /// The committee, if any.
    pub committee: Option<String>,
    /// The deputy group, if any.
    pub deputy_group: Option<String>,
}

/// One entry of the language switch.
#[derive(Debug, Clone)]
pub struct LanguageLink {
    /// Where it goes (`/lang/en?next=…`).
    pub href: String,
    /// The language's own name.
    pub name: &'static str,
    /// Its `lang` attribute.
    pub html_lang: &'static str,
    /// Whether the page is in it.
    pub current: bool,
}

impl Chrome {
    /// The chrome of a page in `lang` at `path`.
    pub fn new(
        lang: Lang,
        viewer: Option<&Viewer>,
        csrf: &str,
        path: &str,
        page: &'static str,
        title: &'static str,
    ) -> Self {
        let t = lang.text();
        let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
        Self {
            t,
            title,
            page,
            viewer: viewer.map(|viewer| ViewerView {
                subject: viewer.principal.subject.clone(),
                role: t.role_name(&viewer.principal.role),
                committee: viewer.principal.committee.clone(),
                deputy_group: viewer.principal.deputy_group.clone(),
            }),
            csrf: csrf.to_string(),
            languages: Lang::ALL
                .into_iter()
                .map(|other| LanguageLink {
                    href: format!("/lang/{}?next={next}", other.code()),
                    name: other.text().own_name,
                    html_lang: other.text().html_lang,
                    current: other == lang,
                })
                .collect(),
            stylesheet: assets::stylesheet_href(),
        }
    }
}

/// `GET /`.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// The layout's part.
    pub chrome: Chrome,
}

/// `GET /signin/{link}`.
#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    /// The layout's part.
    pub chrome: Chrome,
    /// Whom the link signs in as.
    pub subject: String,
    /// In which role (its name).
    pub role: &'static str,
    /// Of which committee.
    pub committee: Option<String>,
    /// The link's expiry, formatted.
    pub valid_until: String,
    /// Where the form posts (the link's own path).
    pub action: String,
    /// The form's CSRF token (bound to the pre-session cookie).
    pub form_csrf: String,
}

/// A message: a refusal, an error, or a short notice such as "signed out".
#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    /// The layout's part.
    pub chrome: Chrome,
    /// The heading.
    pub title: &'static str,
    /// Paragraphs.
    pub body: Vec<&'static str>,
    /// One labelled value (e.g. when a link was used).
    pub detail: Option<(&'static str, String)>,
    /// The refusal's stable name (`data-refusal`), empty for a notice.
    pub refusal: &'static str,
}

/// Renders `template` as an HTML response (a plain 500 if rendering fails).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = html.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "cannot render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}
