//! The member's ballot: the list of sessions, the ballot (each subject with the session's scale
//! as large choices, a review, submit), the receipt, and the pages that say why someone cannot
//! vote. Every read and the cast go through the application layer (`app::evaluation`), as over
//! gRPC.
//!
//! Nothing of the choice stays in the browser: the form has `autocomplete="off"`, every page is
//! `no-store` (so no back-forward cache either), the review is drawn in the page by the script
//! without storing anything, and the cast is answered with a redirect (303) to the receipt
//! page, so no history entry holds the posted choices. The receipt reaches that page in a
//! cookie that lives a few minutes and is removed when shown: it is shown once.
//!
//! The form carries a command id made when the ballot page was drawn. A resubmission of the
//! same form (a dropped connection, a second press, a reload of the post) is the same command:
//! the ballot is recorded once, and the answer says it was recorded, without a second receipt.
//! Nothing here logs a choice or a receipt.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::app::evaluation::CastBallot;
use crate::app::evaluation::standing::{SessionPaper, Standing};
use crate::app::{Caller, Page, Wait};
use crate::auth::Principal;
use crate::domain::evaluation::session::Phase;
use crate::domain::evaluation::tally::Choice;
use crate::domain::evaluation::{AppointeeId, SessionId};
use crate::web::WebState;
use crate::web::failure::explain;
use crate::web::http::{cookie, set_cookie};
use crate::web::pages::{Ctx, Refusal, message};
use crate::web::templates::{
    BallotPage, Notice, NoticeLink, OptionView, ReceiptView, SessionRow, SessionsPage, SubjectView,
    render,
};

/// How long the receipt waits in its cookie for the receipt page (seconds).
const RECEIPT_COOKIE_SECS: i64 = 300;

/// The receipt cookie's name (`__Host-` under TLS, like every cookie of the pages).
fn receipt_cookie(web: &WebState) -> &'static str {
    if web.tls() {
        "__Host-oversight_receipt"
    } else {
        "oversight_receipt"
    }
}

/// The signed-in principal (the table admits only signed-in callers to these routes).
pub(crate) fn principal(ctx: &Ctx) -> Result<&Principal, Box<Response>> {
    ctx.viewer
        .as_ref()
        .map(|viewer| &viewer.principal)
        .ok_or_else(|| {
            Box::new(message(
                ctx,
                StatusCode::UNAUTHORIZED,
                Refusal::SignInRequired,
            ))
        })
}

/// The signed-in principal and the session named in the path (or the page that refuses).
pub(crate) fn in_session(ctx: &Ctx, raw: String) -> Result<(&Principal, SessionId), Box<Response>> {
    let principal = principal(ctx)?;
    let session = SessionId::parse(raw)
        .map_err(|_| Box::new(message(ctx, StatusCode::NOT_FOUND, Refusal::NotFound)))?;
    Ok((principal, session))
}

/// An application error as a page: its words (or "try again") under `title`.
pub(crate) fn failed(
    ctx: &Ctx,
    error: &crate::app::AppError,
    title: &'static str,
    links: Vec<NoticeLink>,
) -> Response {
    let (status, words) = explain(error);
    let t = ctx.lang.text();
    let body = if words.is_none() {
        vec![t.error_body]
    } else {
        Vec::new()
    };
    let page = Notice {
        chrome: ctx.chrome("failed", title),
        state: "failed",
        body,
        reason_label: ctx.lang.day().reason,
        reason: words,
        receipt: None,
        links,
    };
    (status, render(&page)).into_response()
}

/// `GET /sessions`: the sessions of the viewer's committee, with the pages of each.
pub async fn sessions_page(
    State(web): State<WebState>,
    Extension(ctx): Extension<Ctx>,
) -> Response {
    let principal = match principal(&ctx) {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    let d = ctx.lang.day();
    let page = Page {
        size: 200,
        after: None,
    };
    let (docs, _) = match web
        .app()
        .sessions(principal, Wait::default(), None, &page)
        .await
    {
        Ok(found) => found,
        Err(error) => return failed(&ctx, &error, d.sessions_title, Vec::new()),
    };
    let rows = docs
        .into_iter()
        .map(|doc| SessionRow {
            href_ballot: format!("/sessions/{}/ballot", doc.session_id),
            href_console: format!("/sessions/{}/console", doc.session_id),
            href_board: doc
                .committee
                .as_deref()
                .map(|c| format!("/board/{c}"))
                .unwrap_or_default(),
            phase: d.phase_name(doc.phase),
            id: doc.session_id,
            meeting: doc.meeting_name,
            date: doc.date,
            round: doc.round,
        })
        .collect();
    let role = principal.role;
    let page = SessionsPage {
        chrome: ctx.chrome("sessions", d.sessions_title),
        d,
        rows,
        votes: crate::web::rules::VOTERS.contains(&role) && role != crate::auth::Role::Admin,
        runs: crate::web::rules::RUNS_SESSIONS.contains(&role),
    };
    render(&page).into_response()
}

/// A notice of the ballot's pages: `state` names it for scripts and tests.
fn notice(
    ctx: &Ctx,
    status: StatusCode,
    state: &'static str,
    title: &'static str,
    body: Vec<&'static str>,
    session: &SessionId,
) -> Response {
    let page = Notice {
        chrome: ctx.chrome("ballot-notice", title),
        state,
        body,
        reason_label: ctx.lang.day().reason,
        reason: None,
        receipt: None,
        links: vec![back_to_ballot(ctx, session)],
    };
    (status, render(&page)).into_response()
}

fn back_to_ballot(ctx: &Ctx, session: &SessionId) -> NoticeLink {
    NoticeLink {
        href: format!("/sessions/{session}/ballot"),
        text: ctx.lang.day().back_to_ballot,
        id: "back-to-ballot",
    }
}

/// Why the viewer cannot vote now, if they cannot.
fn cannot_vote(ctx: &Ctx, paper: &SessionPaper, standing: Standing) -> Option<Response> {
    let d = ctx.lang.day();
    let session = &paper.session;
    let (state, title, body) = if !standing.on_roster {
        ("not-on-roster", d.not_on_roster_title, d.not_on_roster_body)
    } else if standing.voted && paper.phase == Phase::VotingOpen {
        ("voted", d.voted_title, d.voted_body)
    } else if paper.phase != Phase::VotingOpen {
        ("not-open", d.not_open_title, d.not_open_body)
    } else if !standing.present {
        ("not-present", d.not_present_title, d.not_present_body)
    } else {
        return None;
    };
    Some(notice(
        ctx,
        StatusCode::OK,
        state,
        title,
        vec![body],
        session,
    ))
}

/// `GET /sessions/{session}/ballot`: the ballot, or why the viewer cannot vote.
pub async fn ballot_page(
    State(web): State<WebState>,
    Extension(ctx): Extension<Ctx>,
    Path(session): Path<String>,
) -> Response {
    let (principal, session) = match in_session(&ctx, session) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let d = ctx.lang.day();
    let (paper, standing) = match web.app().ballot_paper(principal, &session).await {
        Ok(found) => found,
        Err(error) => return failed(&ctx, &error, d.ballot_title, Vec::new()),
    };
    if let Some(response) = cannot_vote(&ctx, &paper, standing) {
        return response;
    }
    let mut subjects = Vec::with_capacity(paper.subjects.len());
    for subject in &paper.subjects {
        subjects.push(subject_view(&web, principal, subject).await);
    }
    let english = ctx.lang.is_english();
    let page = BallotPage {
        chrome: ctx.chrome("ballot", d.ballot_title),
        d,
        meeting: paper.meeting_name.clone(),
        date: paper.date.to_string(),
        action: format!("/sessions/{session}/ballot"),
        command_id: Uuid::new_v4().to_string(),
        subjects,
        options: paper
            .policy
            .scale
            .iter()
            .map(|option| OptionView {
                code: option.code.clone(),
                label: if english {
                    option.label_en.clone()
                } else {
                    option.label_zh.clone()
                },
            })
            .collect(),
    };
    render(&page).into_response()
}

/// A subject as the ballot shows it: name, current post and organ (the id alone when the
/// record cannot be read).
async fn subject_view(web: &WebState, principal: &Principal, id: &AppointeeId) -> SubjectView {
    let mut view = SubjectView {
        id: id.to_string(),
        name: id.to_string(),
        post: String::new(),
        organ: String::new(),
    };
    match web.app().appointee(principal, Wait::default(), id).await {
        Ok(doc) => {
            view.name = doc.name;
            if let Some(post) = doc.posts.iter().rev().find(|p| p.to.is_none()) {
                view.post = post.post.clone();
                view.organ = post.organ_name.clone();
            }
        }
        Err(error) => tracing::info!(%error, "a subject's record could not be read for a ballot"),
    }
    view
}

/// `POST /sessions/{session}/ballot`: casts the ballot through the application layer, then
/// redirects to the receipt (303, so that no history entry holds the posted choices).
pub async fn cast(
    State(web): State<WebState>,
    Extension(ctx): Extension<Ctx>,
    Path(session): Path<String>,
    body: Bytes,
) -> Response {
    let (principal, session) = match in_session(&ctx, session) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let d = ctx.lang.day();
    let subjects = match web.app().ballot_paper(principal, &session).await {
        Ok((paper, _)) => paper.subjects,
        Err(error) => return failed(&ctx, &error, d.ballot_failed_title, Vec::new()),
    };
    let mut command_id = None;
    let mut choices = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(&body) {
        if key == "command_id" {
            command_id = Uuid::parse_str(&value).ok();
        } else if let Some(subject) = key.strip_prefix("c.") {
            let Ok(subject) = AppointeeId::parse(subject) else {
                continue;
            };
            let choice = if value.is_empty() {
                Choice::Blank
            } else {
                Choice::Option(value.into_owned())
            };
            choices.insert(subject, choice);
        }
    }
    // Subjects left unmarked are blank, as the session's policy reads them.
    for subject in subjects {
        choices.entry(subject).or_insert(Choice::Blank);
    }
    let Some(command_id) = command_id else {
        // Every form of the ballot page carries one; without it a resubmission could not be
        // recognised, so nothing is cast.
        return notice(
            &ctx,
            StatusCode::BAD_REQUEST,
            "failed",
            d.ballot_failed_title,
            vec![d.ballot_failed_body],
            &session,
        );
    };
    let caller = Caller {
        principal: principal.clone(),
        command_id: Some(command_id),
        correlation_id: String::new(),
    };
    let ballot = CastBallot {
        session: session.clone(),
        choices,
    };
    let receipt_path = format!("/sessions/{session}/receipt");
    match web.app().cast_ballot(&caller, ballot).await {
        Ok(cast) => {
            tracing::info!(session = %session, round = cast.round, "a ballot was cast from the pages");
            let mut response = Redirect::to(&receipt_path).into_response();
            if let Some(receipt) = cast.receipt {
                let value = URL_SAFE_NO_PAD.encode(format!("{session}\n{}\n{receipt}", cast.round));
                response.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(receipt_cookie(&web), &value, RECEIPT_COOKIE_SECS, web.tls()),
                );
            }
            response
        }
        Err(error) => {
            // Tell the truth: a refusal because the viewer has voted says so.
            if let Ok((paper, standing)) = web.app().ballot_paper(principal, &session).await
                && standing.voted
                && paper.phase == Phase::VotingOpen
            {
                return notice(
                    &ctx,
                    StatusCode::CONFLICT,
                    "voted",
                    d.voted_title,
                    vec![d.voted_body],
                    &session,
                );
            }
            failed(
                &ctx,
                &error,
                d.ballot_failed_title,
                vec![back_to_ballot(&ctx, &session)],
            )
        }
    }
}

/// `GET /sessions/{session}/receipt`: the receipt once (from its cookie, which is removed), or
/// that the ballot is recorded and its receipt was shown before.
pub async fn receipt_page(
    State(web): State<WebState>,
    Extension(ctx): Extension<Ctx>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (principal, session) = match in_session(&ctx, session) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let d = ctx.lang.day();
    let name = receipt_cookie(&web);
    let held = cookie(&headers, name)
        .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let mut parts = text.splitn(3, '\n');
            let (s, round, receipt) = (parts.next()?, parts.next()?, parts.next()?);
            (s == session.as_str()).then(|| (round.to_string(), receipt.to_string()))
        });
    let standing = match web.app().ballot_paper(principal, &session).await {
        Ok((_, standing)) => standing,
        Err(error) => return failed(&ctx, &error, d.receipt_title, Vec::new()),
    };
    let mut response = match held {
        Some((round, receipt)) => {
            let check = format!("/receipts?session={session}&receipt={receipt}");
            let page = Notice {
                chrome: ctx.chrome("receipt", d.receipt_title),
                state: "receipt",
                body: vec![d.receipt_intro],
                reason_label: d.reason,
                reason: None,
                receipt: Some(ReceiptView::new(
                    d,
                    &session,
                    &round,
                    &receipt,
                    &format!("{}{check}", web.base_url()),
                    check,
                )),
                links: Vec::new(),
            };
            render(&page).into_response()
        }
        None if standing.voted => {
            let page = Notice {
                chrome: ctx.chrome("receipt", d.voted_title),
                state: "recorded",
                body: vec![d.receipt_again_body],
                reason_label: d.reason,
                reason: None,
                receipt: None,
                links: Vec::new(),
            };
            render(&page).into_response()
        }
        None => Redirect::to(&format!("/sessions/{session}/ballot")).into_response(),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(name, "", 0, web.tls()));
    response
}
