//! The pages' templates, compiled into the binary by askama from `src/web/templates/`: one
//! layout (`layout.html`: skip link, header with the signed-in principal and the language
//! switch, main, footer) that every page extends. Templates escape every value; their text
//! comes from the catalogue ([`super::i18n`]), never from the template.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::web::assets;
use crate::web::day_text::DayText;
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
    /// The script's URL (likewise).
    pub script: &'static str,
    /// The link to the sessions' list, for the signed-in.
    pub sessions_link: &'static str,
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
            script: assets::script_href(),
            sessions_link: lang.day().home_sessions,
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

/// `GET /sessions`.
#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    /// The layout's part.
    pub chrome: Chrome,
    /// The day's catalogue.
    pub d: &'static DayText,
    /// The sessions.
    pub rows: Vec<SessionRow>,
    /// Whether the viewer votes (ballot links).
    pub votes: bool,
    /// Whether the viewer runs sessions (console links).
    pub runs: bool,
}

/// One session in the list.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Its id.
    pub id: String,
    /// The meeting.
    pub meeting: String,
    /// The date.
    pub date: String,
    /// The phase's name.
    pub phase: &'static str,
    /// The round.
    pub round: u32,
    /// The ballot.
    pub href_ballot: String,
    /// The console.
    pub href_console: String,
    /// The committee's board (empty: none).
    pub href_board: String,
}

/// `GET /sessions/{session}/ballot`.
#[derive(Template)]
#[template(path = "ballot.html")]
pub struct BallotPage {
    /// The layout's part.
    pub chrome: Chrome,
    /// The day's catalogue.
    pub d: &'static DayText,
    /// The meeting.
    pub meeting: String,
    /// Its date.
    pub date: String,
    /// Where the form posts.
    pub action: String,
    /// The form's command id: a resubmission is the same command.
    pub command_id: String,
    /// The subjects, in ballot order.
    pub subjects: Vec<SubjectView>,
    /// The scale, in ballot order.
    pub options: Vec<OptionView>,
}

/// A subject on the ballot.
#[derive(Debug, Clone)]
pub struct SubjectView {
    /// The appointee id (the form field is `c.<id>`).
    pub id: String,
    /// The name.
    pub name: String,
    /// The current post.
    pub post: String,
    /// The organ.
    pub organ: String,
}

/// An option of the scale.
#[derive(Debug, Clone)]
pub struct OptionView {
    /// Its code (the form value).
    pub code: String,
    /// Its label in the page's language.
    pub label: String,
}

/// A notice of the evaluation day: why someone cannot vote, a receipt, a failure in words.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct Notice {
    /// The layout's part (its title is the heading).
    pub chrome: Chrome,
    /// Its stable name (`data-state`), for scripts and tests.
    pub state: &'static str,
    /// Paragraphs.
    pub body: Vec<&'static str>,
    /// The label of `reason`.
    pub reason_label: &'static str,
    /// The server's words, when it refused.
    pub reason: Option<String>,
    /// A receipt to show.
    pub receipt: Option<ReceiptView>,
    /// Where to go from here.
    pub links: Vec<NoticeLink>,
}

/// A link of a notice.
#[derive(Debug, Clone)]
pub struct NoticeLink {
    /// Where.
    pub href: String,
    /// Its text.
    pub text: &'static str,
    /// Its id.
    pub id: &'static str,
}

/// A ballot's receipt as the pages show it (`receipt.html`, the one place that draws one).
#[derive(Debug, Clone)]
pub struct ReceiptView {
    /// The heading.
    pub label: &'static str,
    /// The session.
    pub session: String,
    /// The round.
    pub round: String,
    /// The receipt as text.
    pub text: String,
    /// Its QR code (an SVG element; empty if it could not be drawn).
    pub qr_svg: String,
    /// The QR code's accessible name.
    pub qr_label: &'static str,
    /// The check page of this receipt.
    pub check_href: String,
    /// The check link's text.
    pub check_text: &'static str,
}

impl ReceiptView {
    /// The receipt `receipt` of `session`'s round `round`; its QR code holds `check_url`
    /// (the check page, under `web.public_url`).
    pub fn new(
        d: &'static DayText,
        session: &impl std::fmt::Display,
        round: &str,
        receipt: &str,
        check_url: &str,
        check_href: String,
    ) -> Self {
        Self {
            label: d.receipt_label,
            session: session.to_string(),
            round: round.to_string(),
            text: receipt.to_string(),
            qr_svg: inline_svg(crate::web::link::qr_svg(check_url).ok()),
            qr_label: d.receipt_qr_label,
            check_href,
            check_text: d.receipt_check_link,
        }
    }
}

/// An SVG document as an element to put into a page (its XML declaration removed).
pub fn inline_svg(document: Option<String>) -> String {
    let Some(document) = document else {
        return String::new();
    };
    match document.find("<svg") {
        Some(start) => document[start..].to_string(),
        None => String::new(),
    }
}
