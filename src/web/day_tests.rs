//! The evaluation day's pages in process, over a real log, views and ballot box: a committee
//! with members and appointees written through the handler, a session run through the
//! application layer, and the pages driven request by request.

use chrono::{NaiveDate, Utc};

use super::tests::{Pages, Reply};
use crate::app::Caller;
use crate::app::evaluation::{RollCall, ScheduleSession, Step};
use crate::auth::{Principal, Role};
use crate::domain::appointee::{Appointee, AppointeeCommand, OrganKind};
use crate::domain::committee::{Committee, CommitteeCommand, CommitteeLevel};
use crate::domain::evaluation::session::Constituency;
use crate::domain::evaluation::{AppointeeId, MemberId, SessionId};
use crate::domain::ids::{CommitteeId, appointee_stream, committee_stream};
use crate::domain::lookup::{CommitteeFacts, Lookup};
use crate::domain::{Aggregate, Context};
use crate::log::{Metadata, StreamName};

/// The committee's members: m1–m5.
pub(super) const MEMBERS: [&str; 5] = ["m1", "m2", "m3", "m4", "m5"];
/// The subjects rated.
pub(super) const SUBJECTS: [&str; 2] = ["a1", "a2"];

async fn run<A: Aggregate>(pages: &Pages, stream: String, command: A::Command) {
    let ctx = Context {
        now: Utc::now(),
        actor: "setup".into(),
        role: crate::domain::Role::Admin,
    };
    pages
        .state
        .app()
        .handler
        .execute::<A>(
            &StreamName::new(stream).unwrap(),
            &command,
            &ctx,
            &Metadata::default(),
        )
        .await
        .unwrap();
}

/// Committee xf with members m1–m5 and appointees a1, a2.
pub(super) async fn committee(pages: &Pages) {
    let xf = CommitteeId::parse("xf").unwrap();
    let stream = committee_stream(&xf);
    run::<Committee>(
        pages,
        stream.clone(),
        CommitteeCommand::Create {
            id: xf.clone(),
            name: "香坊区人大常委会".into(),
            level: CommitteeLevel::District,
            parent: None,
        },
    )
    .await;
    for member in MEMBERS {
        run::<Committee>(
            pages,
            stream.clone(),
            CommitteeCommand::AddMember {
                member: MemberId::parse(member).unwrap(),
                name: format!("委员{member}"),
                from: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
                to: None,
            },
        )
        .await;
    }
    for subject in SUBJECTS {
        let id = AppointeeId::parse(subject).unwrap();
        run::<Appointee>(
            pages,
            appointee_stream(&id),
            AppointeeCommand::Register {
                id,
                committee: Lookup::found(
                    xf.clone(),
                    CommitteeFacts {
                        level: CommitteeLevel::District,
                    },
                ),
                name: format!("干部{subject}"),
                post: "副局长".into(),
                organ_kind: OrganKind::Government,
                organ_name: "区人民政府".into(),
                appointed_on: NaiveDate::from_ymd_opt(2016, 12, 1).unwrap(),
                appointing_meeting: "第五次会议".into(),
            },
        )
        .await;
    }
}

/// The clerk of xf.
pub(super) fn clerk() -> Caller {
    Caller::new(Principal {
        subject: "clerk-1".into(),
        role: Role::Clerk,
        committee: Some("xf".into()),
        deputy_group: None,
    })
}

/// Session `id` of xf, scheduled for today with both subjects, `present` recorded present,
/// and (with `open`) voting open.
pub(super) async fn session(pages: &Pages, id: &str, present: &[&str], open: bool) -> SessionId {
    let app = pages.state.app();
    let session = SessionId::parse(id).unwrap();
    app.schedule_session(
        &clerk(),
        ScheduleSession {
            committee: CommitteeId::parse("xf").unwrap(),
            session: Some(session.clone()),
            meeting_name: "第八次会议".into(),
            date: Utc::now().date_naive(),
            subjects: SUBJECTS.map(|s| AppointeeId::parse(s).unwrap()).to_vec(),
            constituency: Constituency::CommitteeMembers,
            deputy_groups: Vec::new(),
        },
    )
    .await
    .unwrap();
    if present.is_empty() {
        return session;
    }
    app.record_roll_call(
        &clerk(),
        RollCall {
            session: session.clone(),
            present: present
                .iter()
                .map(|m| MemberId::parse(*m).unwrap())
                .collect(),
        },
    )
    .await
    .unwrap();
    if open {
        app.session_step(&clerk(), &session, Step::OpenVoting)
            .await
            .unwrap();
    }
    session
}

impl Reply {
    /// The `data-state` of the page's notice.
    pub(super) fn state(&self) -> Option<&str> {
        let at = self.body.find("data-state=\"")? + 12;
        self.body[at..].split('"').next()
    }

    /// The value of the hidden input `name` of the page's form.
    pub(super) fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self.body.find(&marker).unwrap() + marker.len();
        self.body[at..].split('"').next().unwrap().to_string()
    }

    pub(super) fn location(&self) -> &str {
        self.headers["location"].to_str().unwrap()
    }
}

#[tokio::test]
async fn a_member_votes_once_sees_the_receipt_once_and_a_resubmission_records_once() {
    let pages = Pages::start(false);
    committee(&pages).await;
    session(&pages, "s1", &["m1", "m2", "m3"], true).await;
    let m1 = pages.sign_in_as("m1", Role::CommitteeMember).await;

    let ballot = pages.get("/sessions/s1/ballot", &m1).await;
    assert_eq!(ballot.status, 200, "{}", ballot.body);
    assert_eq!(ballot.headers["cache-control"], "no-store");
    assert!(ballot.body.contains("autocomplete=\"off\""));
    for subject in SUBJECTS {
        assert!(ballot.body.contains(&format!("干部{subject}")), "{subject}");
        assert!(
            ballot
                .body
                .contains(&format!("name=\"c.{subject}\" value=\"satisfied\""))
        );
    }
    let command_id = ballot.hidden("command_id");
    let form = format!(
        "csrf={}&command_id={command_id}&c.a1=satisfied&c.a2=dissatisfied",
        ballot.csrf()
    );
    let cast = pages.post("/sessions/s1/ballot", &m1, &form).await;
    assert_eq!(cast.status, 303, "{}", cast.body);
    assert_eq!(
        cast.location(),
        "/sessions/s1/receipt",
        "no choice in the URL"
    );
    let held = cast
        .cookie("oversight_receipt")
        .expect("the receipt, for one page");

    let receipt = pages
        .get(
            "/sessions/s1/receipt",
            &format!("{m1}; oversight_receipt={held}"),
        )
        .await;
    assert_eq!(receipt.state(), Some("receipt"), "{}", receipt.body);
    assert!(receipt.body.contains("id=\"receipt-text\""));
    assert!(receipt.body.contains("<svg"), "the receipt's QR code");
    assert!(!receipt.body.contains("<?xml"));
    assert_eq!(
        receipt.cookie("oversight_receipt").as_deref(),
        Some(""),
        "shown once: the cookie goes"
    );
    let again = pages.get("/sessions/s1/receipt", &m1).await;
    assert_eq!(again.state(), Some("recorded"), "{}", again.body);
    assert!(!again.body.contains("id=\"receipt-text\""));

    // The same form again (a dropped connection, a second press): recorded once, no receipt.
    let resubmitted = pages.post("/sessions/s1/ballot", &m1, &form).await;
    assert_eq!(resubmitted.status, 303, "{}", resubmitted.body);
    assert_eq!(resubmitted.cookie("oversight_receipt"), None);
    let (paper, roll) = pages
        .state
        .app()
        .session_roll(&clerk().principal, &paper_session())
        .await
        .unwrap();
    assert_eq!(paper.round, 1);
    assert_eq!(roll.cast, 1, "one ballot, whatever was resubmitted");

    // A new ballot (a fresh form) is refused, and the page says why.
    let fresh = format!(
        "csrf={}&command_id={}&c.a1=dissatisfied",
        ballot.csrf(),
        uuid::Uuid::new_v4()
    );
    let second = pages.post("/sessions/s1/ballot", &m1, &fresh).await;
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(second.state(), Some("voted"));
    let page = pages.get("/sessions/s1/ballot", &m1).await;
    assert_eq!(page.state(), Some("voted"));
    assert!(!page.body.contains("name=\"c.a1\""), "no ballot to fill in");
}

fn paper_session() -> SessionId {
    SessionId::parse("s1").unwrap()
}

#[tokio::test]
async fn who_cannot_vote_is_told_why() {
    let pages = Pages::start(false);
    committee(&pages).await;
    session(&pages, "s1", &["m1", "m2", "m3"], false).await;
    let m1 = pages.sign_in_as("m1", Role::CommitteeMember).await;
    let page = pages.get("/sessions/s1/ballot", &m1).await;
    assert_eq!(page.state(), Some("not-open"), "{}", page.body);

    pages
        .state
        .app()
        .session_step(&clerk(), &paper_session(), Step::OpenVoting)
        .await
        .unwrap();
    let m4 = pages.sign_in_as("m4", Role::CommitteeMember).await;
    let m4_page = pages.get("/sessions/s1/ballot", &m4).await;
    assert_eq!(m4_page.state(), Some("not-present"), "{}", m4_page.body);
    let stranger = pages.sign_in_as("m9", Role::CommitteeMember).await;
    let page = pages.get("/sessions/s1/ballot", &stranger).await;
    assert_eq!(page.state(), Some("not-on-roster"), "{}", page.body);
    // Posting anyway: the application refuses, in words.
    let form = format!(
        "csrf={}&command_id={}&c.a1=satisfied",
        m4_page.csrf(),
        uuid::Uuid::new_v4()
    );
    let refused = pages.post("/sessions/s1/ballot", &m4, &form).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.state(), Some("failed"));
    assert!(refused.body.contains("id=\"reason\""), "{}", refused.body);
    let list = pages.get("/sessions", &m1).await;
    assert!(
        list.body.contains("href=\"/sessions/s1/ballot\""),
        "{}",
        list.body
    );
}
