//! The pages' router, the middleware every request passes, and the handlers: home, sign-in,
//! sign-out, the language switch, static files and the message pages (refusals and errors).
//!
//! Order for a request: the security headers wrap everything ([`super::http`]); the router
//! matches a route; [`authorize`] looks it up in [`super::rules`], reads the session, refuses
//! what the table refuses, checks the CSRF token and origin of every form, and hands the
//! handler a [`Ctx`]; the handler renders a template of [`super::templates`].

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::web::WebState;
use crate::web::http::{
    cookie, csrf_matches, local_path, new_presession, presession_csrf, same_origin,
    security_headers, session_csrf, set_cookie,
};
use crate::web::i18n::Lang;
use crate::web::rules::{self, Access, Csrf};
use crate::web::session::{SessionEnded, SignInRefused, Viewer};
use crate::web::templates::{Chrome, HomePage, Message, SignInPage, render};
use crate::web::{assets, ballot};

/// Largest form body the pages read.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What the middleware found out about a request, for its handler.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The language to answer in.
    pub lang: Lang,
    /// Who is signed in.
    pub viewer: Option<Viewer>,
    /// The CSRF token of the session's forms (empty when signed out).
    pub csrf: String,
    /// The path asked for (for the language switch to return to).
    pub path: String,
}

impl Ctx {
    /// The layout's part of a page named `page` titled `title`.
    pub(crate) fn chrome(&self, page: &'static str, title: &'static str) -> Chrome {
        Chrome::new(
            self.lang,
            self.viewer.as_ref(),
            &self.csrf,
            &self.path,
            page,
            title,
        )
    }
}

/// The pages' router, with every route of [`rules::ROUTES`].
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/signin/{link}", get(sign_in_page).post(sign_in))
        .route("/signout", post(sign_out))
        .route("/signed-out", get(signed_out))
        .route("/lang/{code}", get(switch_language))
        .route("/static/{file}", get(assets::serve))
        .route("/sessions", get(ballot::sessions_page))
        .route(
            "/sessions/{session}/ballot",
            get(ballot::ballot_page).post(ballot::cast),
        )
        .route("/sessions/{session}/receipt", get(ballot::receipt_page))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), headers))
        .with_state(state)
}

/// The security headers of every response, refusals and static files included.
async fn headers(State(web): State<WebState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    security_headers(response.headers_mut(), web.tls());
    response
}

/// The language of a request: its cookie, else Chinese.
fn lang_of(web: &WebState, headers: &HeaderMap) -> Lang {
    cookie(headers, web.cookies().lang)
        .and_then(Lang::from_code)
        .unwrap_or_default()
}

/// Looks the route up in the table, reads the session, refuses what the table refuses, and
/// checks every form's origin and CSRF token.
pub(crate) async fn authorize(
    State(web): State<WebState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let lang = lang_of(&web, request.headers());
    let path = request.uri().path().to_string();
    let mut ctx = Ctx {
        lang,
        viewer: None,
        csrf: String::new(),
        path,
    };
    let route = matched
        .as_ref()
        .and_then(|matched| rules::route(request.method().as_str(), matched.as_str()));
    let Some(route) = route else {
        tracing::warn!(method = %request.method(), path = %ctx.path,
            "a route missing from the pages' table was refused");
        return message(&ctx, StatusCode::FORBIDDEN, Refusal::Forbidden);
    };

    let now = web.now();
    let mut ended = false;
    if let Some(value) = cookie(request.headers(), web.cookies().session) {
        match web.sessions().viewer(value, now).await {
            Ok(viewer) => {
                ctx.csrf = session_csrf(web.sessions().keys(), &viewer.session_key);
                ctx.viewer = Some(viewer);
            }
            Err(SessionEnded::Storage(error)) => {
                tracing::error!(%error, "cannot check a session against the log");
                return message(&ctx, StatusCode::SERVICE_UNAVAILABLE, Refusal::Error);
            }
            Err(why) => {
                tracing::info!(%why, "a session cookie no longer signs in");
                ended = true;
            }
        }
    }
    let role = ctx.viewer.as_ref().map(|viewer| viewer.principal.role);
    let refused = match route.access {
        Access::SignedIn(_) if role.is_none() => {
            Some((StatusCode::UNAUTHORIZED, Refusal::SignInRequired))
        }
        _ if !route.admits(role) => Some((StatusCode::FORBIDDEN, Refusal::Forbidden)),
        _ => None,
    };
    let mut response = match refused {
        Some((status, why)) => message(&ctx, status, why),
        None => match check_form(&web, &ctx, route.csrf, request).await {
            Ok(request) => {
                let mut request = request;
                request.extensions_mut().insert(ctx);
                next.run(request).await
            }
            Err(response) => response,
        },
    };
    if ended {
        // A cookie that no longer signs in is removed (unless the handler set a new one).
        let name = web.cookies().session;
        let replaced = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|value| value.as_bytes().starts_with(name.as_bytes()));
        if !replaced {
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie(name, "", 0, web.tls()));
        }
    }
    response
}

/// For a form (any method but GET): the origin and the CSRF token the route's table entry
/// names; the request comes back whole for the handler.
async fn check_form(
    web: &WebState,
    ctx: &Ctx,
    csrf: Csrf,
    request: Request,
) -> Result<Request, Response> {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return Ok(request);
    }
    let refuse = |what: &str| {
        tracing::info!(path = %ctx.path, what, "a form was refused");
        message(ctx, StatusCode::FORBIDDEN, Refusal::Csrf)
    };
    if !same_origin(request.headers()) {
        return Err(refuse("sent from another site"));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| refuse("body unreadable or too large"))?;
    let sent = form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let keys = web.sessions().keys();
    let valid = match csrf {
        Csrf::None => false,
        Csrf::Session => ctx
            .viewer
            .as_ref()
            .is_some_and(|viewer| csrf_matches(keys, b"session", &viewer.session_key, &sent)),
        Csrf::PreSession => cookie(&parts.headers, web.cookies().presession)
            .is_some_and(|bound| csrf_matches(keys, b"presession", bound, &sent)),
    };
    if !valid {
        return Err(refuse("missing or wrong csrf token"));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Why a page is refused or failed; each has its message page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A page that needs a session, without one.
    SignInRequired,
    /// A role the route's entry leaves out, or a route without an entry.
    Forbidden,
    /// A form without a valid CSRF token or from another site.
    Csrf,
    /// No such page.
    NotFound,
    /// Signing in: not a link of ours.
    LinkInvalid,
    /// Signing in: the link expired.
    LinkExpired,
    /// Signing in: the link was used before.
    LinkSpent,
    /// Signing in: the token behind the link is revoked or expired.
    Withdrawn,
    /// The server failed.
    Error,
}

/// The message page of `why`.
pub(crate) fn message(ctx: &Ctx, status: StatusCode, why: Refusal) -> Response {
    message_with(ctx, status, why, None)
}

fn message_with(
    ctx: &Ctx,
    status: StatusCode,
    why: Refusal,
    detail: Option<(&'static str, String)>,
) -> Response {
    let t = ctx.lang.text();
    let (title, body): (&'static str, Vec<&'static str>) = match why {
        Refusal::SignInRequired => (t.signin_required_title, vec![t.signin_required_body]),
        Refusal::Forbidden => (t.forbidden_title, vec![t.forbidden_body]),
        Refusal::Csrf => (t.csrf_title, vec![t.csrf_body]),
        Refusal::NotFound => (t.not_found_title, vec![t.not_found_body]),
        Refusal::LinkInvalid => (t.link_invalid_title, vec![t.link_invalid_body]),
        Refusal::LinkExpired => (t.link_expired_title, vec![t.link_expired_body]),
        Refusal::LinkSpent => (
            t.link_spent_title,
            vec![t.link_spent_body, t.link_spent_advice],
        ),
        Refusal::Withdrawn => (t.withdrawn_title, vec![t.withdrawn_body]),
        Refusal::Error => (t.error_title, vec![t.error_body]),
    };
    let page = Message {
        chrome: ctx.chrome("message", title),
        title,
        body,
        detail,
        refusal: refusal_code(why),
    };
    (status, render(&page)).into_response()
}

/// A stable name of each refusal, on the page as `data-refusal` (tests and scripts read it).
fn refusal_code(why: Refusal) -> &'static str {
    match why {
        Refusal::SignInRequired => "sign-in-required",
        Refusal::Forbidden => "forbidden",
        Refusal::Csrf => "csrf",
        Refusal::NotFound => "not-found",
        Refusal::LinkInvalid => "link-invalid",
        Refusal::LinkExpired => "link-expired",
        Refusal::LinkSpent => "link-spent",
        Refusal::Withdrawn => "withdrawn",
        Refusal::Error => "error",
    }
}

fn when(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The page of a refused sign-in link.
fn link_refused(ctx: &Ctx, why: SignInRefused) -> Response {
    let t = ctx.lang.text();
    match why {
        SignInRefused::Invalid => message(ctx, StatusCode::NOT_FOUND, Refusal::LinkInvalid),
        SignInRefused::Expired(at) => message_with(
            ctx,
            StatusCode::GONE,
            Refusal::LinkExpired,
            Some((t.signin_valid_until, when(at))),
        ),
        SignInRefused::Withdrawn => message(ctx, StatusCode::FORBIDDEN, Refusal::Withdrawn),
        SignInRefused::Spent(at) => message_with(
            ctx,
            StatusCode::CONFLICT,
            Refusal::LinkSpent,
            at.map(|at| (t.link_spent_at, when(at))),
        ),
        SignInRefused::Storage(error) => {
            tracing::error!(%error, "cannot check a sign-in link against the log");
            message(ctx, StatusCode::SERVICE_UNAVAILABLE, Refusal::Error)
        }
    }
}

/// `GET /`: who is signed in.
async fn home(Extension(ctx): Extension<Ctx>) -> Response {
    let page = HomePage {
        chrome: ctx.chrome("home", ctx.lang.text().home_title),
    };
    render(&page).into_response()
}

/// `GET /signin/{link}`: whom the link signs in as, and the button that spends it. Opening
/// the link spends nothing (a link previewer or scanner that fetches it must not use it up).
async fn sign_in_page(
    State(web): State<WebState>,
    Extension(ctx): Extension<Ctx>,
    Path(link): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (claim, principal) = match web.sessions().preview(&link, web.now()).await {
        Ok(found) => found,
        Err(why) => return link_refused(&ctx, why),
    };
    let cookies = web.cookies();
    let existing = cookie(&headers, cookies.presession).map(str::to_string);
    let presession = existing.clone().unwrap_or_else(new_presession);
    let t = ctx.lang.text();
    let page = SignInPage {
        chrome: ctx.chrome("signin", t.signin_title),
        subject: principal.subject.clone(),
        role: t.role_name(&principal.role),
        committee: principal.committee.clone(),
        valid_until: when(claim.expiry()),
        action: ctx.path.clone(),
        form_csrf: presession_csrf(web.sessions().keys(), &presession),
    };
    let mut response = render(&page).into_response();
    if existing.is_none() {
        // A day is enough to press the button.
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(cookies.presession, &presession, 86_400, web.tls()),
        );
    }
    response
}

/// `POST /signin/{link}`: spends the link, sets the session cookie, goes home.
async fn sign_in(
    State(web): State<WebState>,
    Extension(ctx): Extension<Ctx>,
    Path(link): Path<String>,
) -> Response {
    let now = web.now();
    let (viewer, value) = match web.sessions().spend(&link, now).await {
        Ok(spent) => spent,
        Err(why) => return link_refused(&ctx, why),
    };
    tracing::info!(token = %viewer.token_id, role = %viewer.principal.role, "signed in with a link");
    let cookies = web.cookies();
    let lifetime = (viewer.expires_at - now).num_seconds();
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(cookies.session, &value, lifetime, web.tls()),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(cookies.presession, "", 0, web.tls()),
    );
    response
}

/// `POST /signout`: ends the session in the log and removes the cookie.
async fn sign_out(State(web): State<WebState>, Extension(ctx): Extension<Ctx>) -> Response {
    let Some(viewer) = &ctx.viewer else {
        return message(&ctx, StatusCode::UNAUTHORIZED, Refusal::SignInRequired);
    };
    if let Err(error) = web.sessions().sign_out(viewer).await {
        tracing::error!(%error, "cannot record a sign-out in the log");
        return message(&ctx, StatusCode::SERVICE_UNAVAILABLE, Refusal::Error);
    }
    tracing::info!(token = %viewer.token_id, "signed out");
    let mut response = Redirect::to("/signed-out").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(web.cookies().session, "", 0, web.tls()),
    );
    response
}

/// `GET /signed-out`.
async fn signed_out(Extension(ctx): Extension<Ctx>) -> Response {
    let t = ctx.lang.text();
    let page = Message {
        chrome: ctx.chrome("signed-out", t.signed_out_title),
        title: t.signed_out_title,
        body: vec![t.signed_out_body],
        detail: None,
        refusal: "",
    };
    render(&page).into_response()
}

/// The language switch's query.
#[derive(Debug, serde::Deserialize)]
pub struct SwitchQuery {
    next: Option<String>,
}

/// `GET /lang/{code}?next=/path`: remembers the language, returns to the page.
async fn switch_language(
    State(web): State<WebState>,
    Extension(ctx): Extension<Ctx>,
    Path(code): Path<String>,
    Query(query): Query<SwitchQuery>,
) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return message(&ctx, StatusCode::NOT_FOUND, Refusal::NotFound);
    };
    let mut response = Redirect::to(&local_path(query.next.as_deref())).into_response();
    // A year: it is a preference, not a credential.
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(web.cookies().lang, lang.code(), 31_536_000, web.tls()),
    );
    response
}

/// Any path the router does not know.
async fn not_found(State(web): State<WebState>, request: Request) -> Response {
    let ctx = Ctx {
        lang: lang_of(&web, request.headers()),
        viewer: None,
        csrf: String::new(),
        path: request.uri().path().to_string(),
    };
    message(&ctx, StatusCode::NOT_FOUND, Refusal::NotFound)
}
