//! The pages in process: the router over a real log and token store, driven request by request
//! (the browser tests in `tests/web_browser.rs` drive the real server).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use chrono::{DateTime, Utc};
use tower::ServiceExt;

use crate::app::{App, Clock};
use crate::auth::tokens::{self, IssueRequest, Revoke};
use crate::auth::{Role, TokenStore};
use crate::ballot_box::BallotBox;
use crate::handler::Handler;
use crate::log::{EventStore, RedbStore, StoreOptions};
use crate::projection::{self, ProjectionRunner};
use crate::web::rules::{Access, Csrf, ROUTES};
use crate::web::{Sessions, WebKeys, WebState, issue_sign_in_link, pages};
use tokio_util::sync::CancellationToken;

/// A clock the test moves.
struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub(super) struct Pages {
    pub(super) dir: tempfile::TempDir,
    router: Router,
    pub(super) state: WebState,
    clock: Arc<TestClock>,
    /// Token ids by role.
    tokens: Vec<(Role, String)>,
}

const ROLES: [Role; 8] = [
    Role::Admin,
    Role::Clerk,
    Role::Chair,
    Role::CommitteeMember,
    Role::Deputy,
    Role::Appointee,
    Role::Reporter,
    Role::Auditor,
];

impl Pages {
    pub(super) fn start(tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token_store = Arc::new(TokenStore::open(dir.path()).unwrap());
        let now = Utc::now();
        let tokens = ROLES
            .iter()
            .map(|role| {
                let request = IssueRequest {
                    subject: format!("{}-1", role.as_str()),
                    role: *role,
                    // An admin acts on every committee; its token names none.
                    committee: (*role != Role::Admin).then(|| "xf".into()),
                    deputy_group: Some("g1".into()),
                    expires_at: None,
                };
                (*role, tokens::issue(dir.path(), request, now).unwrap().1.id)
            })
            .collect();
        let store: Arc<dyn EventStore> =
            RedbStore::open(&dir.path().join("log.redb"), StoreOptions::default()).unwrap();
        let keys = WebKeys::open(dir.path()).unwrap();
        let sessions = Sessions::new(
            store.clone(),
            token_store,
            keys,
            chrono::Duration::hours(12),
        );
        let clock = Arc::new(TestClock(Mutex::new(now)));
        let shutdown = CancellationToken::new();
        let (views, _) = ProjectionRunner::start(
            &dir.path().join("views"),
            store.clone(),
            projection::registry(),
            shutdown.clone(),
        )
        .unwrap();
        let app = App {
            store: store.clone(),
            handler: Handler::new(store),
            views,
            clock: clock.clone(),
            default_wait: std::time::Duration::from_secs(5),
            ballots: BallotBox::open(&dir.path().join("ballots.redb")).unwrap(),
            session_locks: Arc::default(),
        };
        let state = WebState::new(
            sessions,
            app,
            tls,
            "http://pages.test".to_string(),
            shutdown,
        );
        Self {
            router: pages::router(state.clone()),
            state,
            dir,
            clock,
            tokens,
        }
    }

    pub(super) fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }

    pub(super) fn link(&self, role: Role) -> String {
        let link = issue_sign_in_link(
            self.dir.path(),
            self.token(role),
            "http://pages.test",
            chrono::Duration::hours(24),
            self.clock.now(),
        )
        .unwrap();
        link.url
            .strip_prefix("http://pages.test")
            .unwrap()
            .to_string()
    }

    pub(super) async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        Reply::read(response).await
    }

    pub(super) async fn get(&self, path: &str, cookies: &str) -> Reply {
        self.send(
            Request::get(path)
                .header(header::COOKIE, cookies)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub(super) async fn post(&self, path: &str, cookies: &str, form: &str) -> Reply {
        self.send(
            Request::post(path)
                .header(header::COOKIE, cookies)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form.to_string()))
                .unwrap(),
        )
        .await
    }

    /// Opens a fresh link of `role` and presses its button: the session cookie.
    pub(super) async fn sign_in(&self, role: Role) -> String {
        self.sign_in_with(self.link(role)).await
    }

    /// Issues a token for `subject` in `role` of committee xf and signs in with a link of it.
    pub(super) async fn sign_in_as(&self, subject: &str, role: Role) -> String {
        let request = IssueRequest {
            subject: subject.to_string(),
            role,
            committee: Some("xf".into()),
            deputy_group: None,
            expires_at: None,
        };
        let (_, info) = tokens::issue(self.dir.path(), request, self.clock.now()).unwrap();
        let link = issue_sign_in_link(
            self.dir.path(),
            &info.id,
            "http://pages.test",
            chrono::Duration::hours(24),
            self.clock.now(),
        )
        .unwrap();
        let path = link.url.strip_prefix("http://pages.test").unwrap();
        self.sign_in_with(path.to_string()).await
    }

    async fn sign_in_with(&self, link: String) -> String {
        let page = self.get(&link, "").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let presession = page.cookie("oversight_presession").unwrap();
        let signed = self
            .post(
                &link,
                &format!("oversight_presession={presession}"),
                &format!("csrf={}", page.csrf()),
            )
            .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
        format!(
            "oversight_session={}",
            signed.cookie("oversight_session").unwrap()
        )
    }
}

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: axum::http::HeaderMap,
    pub(super) body: String,
}

impl Reply {
    pub(super) async fn read(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(super) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    /// The value `Set-Cookie` gives `name` (empty when it deletes it).
    pub(super) fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find_map(|line| {
            let (pair, _) = line.split_once(';')?;
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| value.to_string())
        })
    }

    /// The CSRF token of the page's last form (the sign-out form in the header comes first).
    pub(super) fn csrf(&self) -> String {
        let at = self.body.rfind("name=\"csrf\" value=\"").unwrap() + 19;
        self.body[at..].split('"').next().unwrap().to_string()
    }

    pub(super) fn refusal(&self) -> Option<&str> {
        let at = self.body.find("data-refusal=\"")? + 14;
        self.body[at..].split('"').next()
    }
}

#[tokio::test]
async fn every_route_admits_exactly_the_roles_of_its_table_entry() {
    let pages = Pages::start(false);
    let mut sessions = Vec::new();
    for role in ROLES {
        sessions.push((Some(role), pages.sign_in(role).await));
    }
    sessions.push((None, String::new()));
    for route in ROUTES {
        #[allow(clippy::needless_range_loop)] // a sign-out replaces its session in the loop
        for index in 0..sessions.len() {
            let (role, cookie) = sessions[index].clone();
            let (role, cookie) = (&role, &cookie);
            let path = match route.path {
                "/signin/{link}" => pages.link(Role::Reporter),
                "/lang/{code}" => "/lang/en".to_string(),
                "/static/{file}" => "/static/app.css".to_string(),
                path if path.contains("{session}") => path.replace("{session}", "s-none"),
                path => {
                    assert!(!path.contains('{'), "a test path for {path}");
                    path.to_string()
                }
            };
            let reply = match route.csrf {
                Csrf::None => pages.get(&path, cookie).await,
                Csrf::Session => {
                    let home = pages.get("/", cookie).await;
                    let csrf = if home.status == StatusCode::OK {
                        home.csrf()
                    } else {
                        String::new()
                    };
                    pages.post(&path, cookie, &format!("csrf={csrf}")).await
                }
                Csrf::PreSession => {
                    let page = pages.get(&path, cookie).await;
                    let pre = page.cookie("oversight_presession").unwrap();
                    let cookies = format!("{cookie}; oversight_presession={pre}");
                    pages
                        .post(&path, &cookies, &format!("csrf={}", page.csrf()))
                        .await
                }
            };
            let what = format!("{} {} as {role:?}", route.method, route.path);
            if route.admits(*role) {
                assert!(
                    !matches!(reply.refusal(), Some("sign-in-required" | "forbidden")),
                    "{what}: {} {}",
                    reply.status,
                    reply.body
                );
                if route.path.contains("{session}") {
                    // A session that does not exist: the application's answer, not the table's.
                    assert_eq!(
                        reply.status,
                        StatusCode::NOT_FOUND,
                        "{what}: {}",
                        reply.body
                    );
                } else {
                    assert!(reply.status.as_u16() < 400, "{what}: {}", reply.status);
                }
            } else {
                let (status, refusal) = match role {
                    None => (StatusCode::UNAUTHORIZED, "sign-in-required"),
                    Some(_) => (StatusCode::FORBIDDEN, "forbidden"),
                };
                assert_eq!(reply.status, status, "{what}");
                assert_eq!(reply.refusal(), Some(refusal), "{what}");
            }
            // Signing out ends the session under test: sign in again for the next route.
            if route.path == "/signout"
                && let Some(role) = role
            {
                sessions[index].1 = pages.sign_in(*role).await;
            }
        }
        assert!(
            matches!(route.access, Access::Public) || route.admits(Some(Role::Admin)),
            "{}: the administrator opens every signed-in page",
            route.path
        );
    }
}

#[tokio::test]
async fn a_route_missing_from_the_table_is_refused() {
    let pages = Pages::start(false);
    let cookie = pages.sign_in(Role::Admin).await;
    let state = pages.state.clone();
    let router = Router::new()
        .route("/unlisted", axum::routing::get(|| async { "secret" }))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::authorize,
        ))
        .with_state(state);
    let reply = Reply::read(
        router
            .oneshot(
                Request::get("/unlisted")
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(!reply.body.contains("secret"));
}

#[tokio::test]
async fn a_link_signs_in_once_and_the_page_says_who_is_signed_in() {
    let pages = Pages::start(false);
    let link = pages.link(Role::CommitteeMember);
    let page = pages.get(&link, "").await;
    assert!(page.body.contains("committee_member-1"), "{}", page.body);
    assert!(
        page.body.contains("常委会组成人员"),
        "the role's name, in Chinese"
    );
    assert!(page.body.contains("<html lang=\"zh-CN\">"));
    // Opening the link spends nothing.
    assert_eq!(pages.get(&link, "").await.status, StatusCode::OK);

    let pre = page.cookie("oversight_presession").unwrap();
    let cookies = format!("oversight_presession={pre}");
    let form = format!("csrf={}", page.csrf());
    let signed = pages.post(&link, &cookies, &form).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.headers[header::LOCATION], "/");
    let line = signed
        .set_cookies()
        .into_iter()
        .find(|line| line.starts_with("oversight_session="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(line.contains(flag), "{line}");
    }
    assert!(!line.contains("Secure"), "no Secure flag over plaintext");
    let session = format!(
        "oversight_session={}",
        signed.cookie("oversight_session").unwrap()
    );
    let home = pages.get("/", &session).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("committee_member-1") && home.body.contains("常委会组成人员"));
    assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");

    for reply in [
        pages.get(&link, "").await,
        pages.post(&link, &cookies, &form).await,
    ] {
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        assert_eq!(reply.refusal(), Some("link-spent"));
        assert!(reply.body.contains("使用时间"), "says when: {}", reply.body);
    }
}

#[tokio::test]
async fn refused_links_say_why() {
    let pages = Pages::start(false);
    let link = pages.link(Role::Clerk);
    // Damage the signature's last-but-one character (every bit of it is signature, unlike the
    // last one's padding bits), to a different one whatever it was.
    let mut tampered = link.clone();
    let last = tampered.pop().unwrap();
    let damaged = tampered.pop().unwrap();
    tampered.push(if damaged == 'A' { 'B' } else { 'A' });
    tampered.push(last);
    let reply = pages.get(&tampered, "").await;
    assert_eq!(
        (reply.status, reply.refusal()),
        (StatusCode::NOT_FOUND, Some("link-invalid"))
    );

    *pages.clock.0.lock().unwrap() += chrono::Duration::hours(25);
    let reply = pages.get(&link, "").await;
    assert_eq!(
        (reply.status, reply.refusal()),
        (StatusCode::GONE, Some("link-expired"))
    );
    *pages.clock.0.lock().unwrap() -= chrono::Duration::hours(25);

    tokens::revoke(
        pages.dir.path(),
        &Revoke::Id(pages.token(Role::Clerk).into()),
        Utc::now(),
    )
    .unwrap();
    let reply = pages.get(&link, "").await;
    assert_eq!(
        (reply.status, reply.refusal()),
        (StatusCode::FORBIDDEN, Some("withdrawn"))
    );
}

#[tokio::test]
async fn forms_without_their_csrf_token_or_from_another_site_are_refused() {
    let pages = Pages::start(false);
    let session = pages.sign_in(Role::Clerk).await;
    let home = pages.get("/", &session).await;
    let good = format!("csrf={}", home.csrf());
    let other = pages.sign_in(Role::Chair).await;
    let others_token = format!("csrf={}", pages.get("/", &other).await.csrf());
    for form in ["", "csrf=", "csrf=AAAA", others_token.as_str()] {
        let reply = pages.post("/signout", &session, form).await;
        assert_eq!(
            (reply.status, reply.refusal()),
            (StatusCode::FORBIDDEN, Some("csrf")),
            "{form}"
        );
    }
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ] {
        let reply = pages
            .send(
                Request::post("/signout")
                    .header(header::COOKIE, &session)
                    .header(header::HOST, "pages.test")
                    .header(name, value)
                    .body(Body::from(good.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            (reply.status, reply.refusal()),
            (StatusCode::FORBIDDEN, Some("csrf")),
            "{name}"
        );
    }
    // Signing in needs the pre-session cookie the link's page set, not just a token.
    let link = pages.link(Role::Chair);
    let page = pages.get(&link, "").await;
    let reply = pages
        .post(&link, "", &format!("csrf={}", page.csrf()))
        .await;
    assert_eq!(reply.refusal(), Some("csrf"));
    let reply = pages
        .post(
            &link,
            "oversight_presession=forged",
            &format!("csrf={}", page.csrf()),
        )
        .await;
    assert_eq!(reply.refusal(), Some("csrf"));
    // The refused forms changed nothing: the session still works and the link is unspent.
    assert_eq!(pages.get("/", &session).await.status, StatusCode::OK);
    assert_eq!(pages.get(&link, "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn signing_out_revoking_or_forging_ends_the_session() {
    let pages = Pages::start(false);
    let session = pages.sign_in(Role::Deputy).await;
    let csrf = pages.get("/", &session).await.csrf();
    let out = pages
        .post("/signout", &session, &format!("csrf={csrf}"))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.headers[header::LOCATION], "/signed-out");
    assert_eq!(out.cookie("oversight_session").as_deref(), Some(""));
    // The cookie kept by someone else no longer signs in: the log says signed out.
    let replay = pages.get("/", &session).await;
    assert_eq!(
        (replay.status, replay.refusal()),
        (StatusCode::UNAUTHORIZED, Some("sign-in-required"))
    );
    assert_eq!(
        replay.cookie("oversight_session").as_deref(),
        Some(""),
        "the stale cookie is removed"
    );

    let session = pages.sign_in(Role::Auditor).await;
    assert_eq!(pages.get("/", &session).await.status, StatusCode::OK);
    tokens::revoke(
        pages.dir.path(),
        &Revoke::Id(pages.token(Role::Auditor).into()),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(
        pages.get("/", &session).await.status,
        StatusCode::UNAUTHORIZED
    );

    let session = pages.sign_in(Role::Appointee).await;
    // A later expiry, a session of another stream, another token: each breaks the signature.
    let parts: Vec<&str> = session.split('.').collect();
    let later = format!(
        "{}.{}.{}.{}",
        parts[0],
        parts[1],
        parts[2].parse::<i64>().unwrap() + 86_400,
        parts[3]
    );
    let other_stream = format!("{}.{}.{}.{}", parts[0], "0".repeat(64), parts[2], parts[3]);
    let other_token = session.replacen(pages.token(Role::Appointee), pages.token(Role::Admin), 1);
    for cookie in [
        later,
        other_stream,
        other_token,
        "oversight_session=a.b.c.d".to_string(),
    ] {
        assert_eq!(
            pages.get("/", &cookie).await.status,
            StatusCode::UNAUTHORIZED,
            "{cookie}"
        );
    }
    *pages.clock.0.lock().unwrap() += chrono::Duration::hours(12);
    assert_eq!(
        pages.get("/", &session).await.status,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let pages = Pages::start(false);
    let session = pages.sign_in(Role::Reporter).await;
    for (path, cookie) in [
        ("/", session.as_str()),
        ("/", ""),
        ("/no/such/page", ""),
        ("/static/app.css", ""),
        ("/signed-out", ""),
    ] {
        let reply = pages.get(path, cookie).await;
        let csp = reply.headers["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(reply.headers["referrer-policy"], "same-origin", "{path}");
        assert!(!reply.headers.contains_key("strict-transport-security"));
        let cache = reply.headers[header::CACHE_CONTROL].to_str().unwrap();
        if path.starts_with("/static/") {
            assert!(cache.starts_with("public"), "{cache}");
        } else {
            assert_eq!(cache, "no-store", "{path}");
            assert!(!reply.body.contains("style="), "{path}");
            assert_eq!(
                reply.body.matches("<script").count(),
                reply
                    .body
                    .matches("<script src=\"/static/app.js?v=")
                    .count(),
                "{path}: no script but the embedded one"
            );
        }
    }
}

#[tokio::test]
async fn under_tls_cookies_are_secure_and_host_bound() {
    let pages = Pages::start(true);
    let link = pages.link(Role::Chair);
    let page = pages.get(&link, "").await;
    let pre = page.cookie("__Host-oversight_presession").unwrap();
    let signed = pages
        .post(
            &link,
            &format!("__Host-oversight_presession={pre}"),
            &format!("csrf={}", page.csrf()),
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    for line in signed.set_cookies() {
        assert!(
            line.starts_with("__Host-") && line.contains("; Secure"),
            "{line}"
        );
    }
    assert!(signed.headers.contains_key("strict-transport-security"));
}

#[tokio::test]
async fn the_language_switch_remembers_english_and_stays_on_the_site() {
    let pages = Pages::start(false);
    let session = pages.sign_in(Role::Clerk).await;
    let switched = pages.get("/lang/en?next=%2Fsigned-out", "").await;
    assert_eq!(switched.headers[header::LOCATION], "/signed-out");
    let lang = switched.cookie("oversight_lang").unwrap();
    let home = pages
        .get("/", &format!("{session}; oversight_lang={lang}"))
        .await;
    assert!(home.body.contains("<html lang=\"en\">"), "{}", home.body);
    assert!(home.body.contains("Sign out") && home.body.contains("clerk (committee office)"));
    let away = pages.get("/lang/zh?next=%2F%2Fevil.example", "").await;
    assert_eq!(away.headers[header::LOCATION], "/");
    assert_eq!(
        pages.get("/lang/fr", "").await.status,
        StatusCode::NOT_FOUND
    );
}
