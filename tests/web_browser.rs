//! The pages in a real headless Chromium (see `tests/browser/mod.rs`): the real server on
//! `127.0.0.1:0` for gRPC and the pages, one browser context per person. One test binary and
//! one test, walking named steps, so that CI starts few browsers.
//!
//! `OVERSIGHT_SCREENSHOTS=docs/web cargo test --test web_browser` also writes a screenshot of
//! each page into `docs/web/` (the ones `docs/WEB.md` shows).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use browser::{Context, Driver, day};
use common::TestServer;
use oversight::auth::Role;

fn url(server: &TestServer, path: &str) -> String {
    format!("http://{}{path}", server.web_addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_in_a_real_browser() {
    if !browser::available("the_pages_in_a_real_browser") {
        return;
    }
    let driver = Driver::start();
    let server = TestServer::start().await;
    let (_, link) = day::person(&server, "m1", Role::CommitteeMember);
    let member = driver.context("member").await;
    let other = driver.context("someone-else").await;

    a_sign_in_link_signs_in_once(&server, &link, &member, &other).await;
    let server = server.restart(None).await;
    the_link_stays_spent_and_the_session_survives_a_restart(&server, &link, &member, &other).await;
    english_and_signing_out(&server, &member).await;

    member.close().await;
    other.close().await;
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}

async fn a_sign_in_link_signs_in_once(
    server: &TestServer,
    link: &str,
    member: &Context,
    other: &Context,
) {
    member.open(&url(server, link)).await;
    assert_eq!(member.lang().await, "zh-CN", "Chinese by default");
    member.assert_accessible("the sign-in page").await;
    member.screenshot("signin-phone", 390, 844).await;
    member.submit("sign-in", "home").await;

    assert_eq!(member.path().await, "/");
    assert_eq!(member.text("whoami-subject").await, "m1");
    assert_eq!(member.text("whoami-role").await, "常委会组成人员");
    member.assert_accessible("the home page").await;
    member.screenshot("home-tablet", 1024, 768).await;
    assert!(
        member.inline_script_is_blocked().await,
        "the Content-Security-Policy must stop inline scripts"
    );
    let cookies = member.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "oversight_session")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    assert_eq!(
        member.eval("return document.cookie;").await,
        serde_json::json!(""),
        "no cookie is readable by scripts"
    );

    // Someone else opening the same link is told it was used.
    other.open(&url(server, link)).await;
    assert_eq!(other.refusal().await.as_deref(), Some("link-spent"));
    other.assert_accessible("the page of a spent link").await;
    other.screenshot("link-spent-desktop", 1280, 800).await;
    // And a page that needs signing in says how.
    other.open(&url(server, "/")).await;
    assert_eq!(other.refusal().await.as_deref(), Some("sign-in-required"));
}

async fn the_link_stays_spent_and_the_session_survives_a_restart(
    server: &TestServer,
    link: &str,
    member: &Context,
    other: &Context,
) {
    other.open(&url(server, link)).await;
    assert_eq!(
        other.refusal().await.as_deref(),
        Some("link-spent"),
        "spent in the log, so still spent after a restart"
    );
    // Cookies belong to the host, not the port: the member's session reaches the new server.
    member.open(&url(server, "/")).await;
    assert_eq!(member.text("whoami-subject").await, "m1");
}

async fn english_and_signing_out(server: &TestServer, member: &Context) {
    member.click_link("English").await;
    assert_eq!(member.lang().await, "en");
    assert_eq!(member.path().await, "/");
    assert_eq!(member.text("whoami-role").await, "committee member");
    member.assert_accessible("the home page in English").await;
    member.screenshot("home-projector", 1920, 1080).await;

    member.submit("sign-out", "signed-out").await;
    assert_eq!(member.path().await, "/signed-out");
    member.assert_accessible("the signed-out page").await;
    member.screenshot("signed-out-phone", 390, 844).await;
    member.open(&url(server, "/")).await;
    assert_eq!(member.refusal().await.as_deref(), Some("sign-in-required"));
    let cookies = member.client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|c| c.name() != "oversight_session"),
        "signing out removes the session cookie: {cookies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evaluation_day_in_a_real_browser() {
    if !browser::available("the_evaluation_day_in_a_real_browser") {
        return;
    }
    let driver = Driver::start();
    let server = TestServer::start().await;
    day::seed(&server).await;
    let (clerk_secret, _) = day::person(&server, "clerk-1", Role::Clerk);
    let mut clerk = day::evaluation(&server, &clerk_secret).await;
    day::schedule(&mut clerk, "s1").await;
    day::roll_call_and_open(&mut clerk, "s1", &["m1", "m2", "m3"]).await;

    let (_, m1_link) = day::person(&server, "m1", Role::CommitteeMember);
    let m1 = driver.context("m1").await;
    a_member_reviews_votes_and_keeps_only_the_receipt(&server, &m1_link, &m1).await;
    let (_, m4_link) = day::person(&server, "m4", Role::CommitteeMember);
    let m4 = driver.context("m4").await;
    sign_in(&server, &m4_link, &m4).await;
    m4.open(&url(&server, "/sessions/s1/ballot")).await;
    assert_eq!(m4.state().await.as_deref(), Some("not-present"));
    m4.assert_accessible("the not-present page").await;

    m1.close().await;
    m4.close().await;
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}

async fn sign_in(server: &TestServer, link: &str, person: &Context) {
    person.open(&url(server, link)).await;
    person.submit("sign-in", "home").await;
}

async fn a_member_reviews_votes_and_keeps_only_the_receipt(
    server: &TestServer,
    link: &str,
    m1: &Context,
) {
    sign_in(server, link, m1).await;
    m1.click("nav-sessions").await;
    m1.submit("ballot-s1", "ballot").await;
    m1.assert_accessible("the ballot").await;
    m1.click("c-a1-satisfied").await;
    m1.click("c-a2-basically_satisfied").await;
    m1.screenshot("ballot-tablet", 1024, 768).await;
    m1.click("review").await;
    let review = m1.text("review-list").await;
    assert!(
        review.contains("满意") && review.contains("基本满意"),
        "{review}"
    );
    m1.assert_accessible("the ballot's review").await;
    m1.screenshot("ballot-review-phone", 390, 844).await;
    m1.click("change").await;
    m1.click("review").await;
    m1.submit("submit-ballot", "receipt").await;

    assert_eq!(
        m1.path().await,
        "/sessions/s1/receipt",
        "no choice in the address"
    );
    assert!(!m1.text("receipt-text").await.is_empty());
    m1.assert_accessible("the receipt").await;
    m1.screenshot("receipt-phone", 390, 844).await;
    assert_eq!(
        m1.eval("return [localStorage.length, sessionStorage.length, document.cookie];")
            .await,
        serde_json::json!([0, 0, ""]),
        "nothing kept in the browser"
    );
    // Back: the ballot is asked of the server again (no-store) and says the member voted.
    m1.client.back().await.unwrap();
    assert_eq!(m1.state().await.as_deref(), Some("voted"));
    m1.assert_accessible("the already-voted page").await;
    // The receipt is shown once.
    m1.open(&url(server, "/sessions/s1/receipt")).await;
    assert_eq!(m1.state().await.as_deref(), Some("recorded"));
}
