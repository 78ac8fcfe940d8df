//! Test fixtures of the supervision domain written straight through `oversight::handler`
//! (committees, appointees, deputy groups), so supervision tests need no Registry RPCs; tokens
//! of every role; a clock the test sets.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use oversight::api::Clock;
use oversight::domain::appointee::{Appointee, AppointeeCommand, OrganKind};
use oversight::domain::committee::{Committee, CommitteeCommand, CommitteeLevel};
use oversight::domain::deputy_group::{DeputyGroup, DeputyGroupCommand};
use oversight::domain::ids::{
    AppointeeId, CommitteeId, DeputyGroupId, appointee_stream, committee_stream,
    deputy_group_stream,
};
use oversight::domain::lookup::{CommitteeFacts, Lookup};
use oversight::domain::{Aggregate, Context};
use oversight::handler::Handler;
use oversight::log::{EventStore, Metadata, StreamName};

/// A clock the test moves by hand.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn at(y: i32, m: u32, d: u32) -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            Utc.with_ymd_and_hms(y, m, d, 2, 0, 0).unwrap(),
        )))
    }

    pub fn set(&self, y: i32, m: u32, d: u32) {
        *self.0.lock().unwrap() = Utc.with_ymd_and_hms(y, m, d, 2, 0, 0).unwrap();
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Writes `admin.token` (`ovs_admin`) and a `tokens.json` with one token per entry:
/// `(token, role, subject, deputy group, committee)`.
pub fn write_tokens(
    data_dir: &Path,
    tokens: &[(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    )],
) {
    let specs: Vec<super::TokenSpec> = tokens
        .iter()
        .map(
            |&(token, role, subject, deputy_group, committee)| super::TokenSpec {
                token,
                subject,
                role,
                committee: Some(committee),
                deputy_group,
            },
        )
        .collect();
    super::write_token_specs(data_dir, &specs);
}

async fn run<A: Aggregate>(store: &Arc<dyn EventStore>, stream: String, command: A::Command) {
    let ctx = Context {
        now: Utc.with_ymd_and_hms(2017, 6, 1, 0, 0, 0).unwrap(),
        actor: "setup".into(),
        role: oversight::domain::Role::Admin,
    };
    Handler::new(store.clone())
        .execute::<A>(
            &StreamName::new(stream).unwrap(),
            &command,
            &ctx,
            &Metadata::default(),
        )
        .await
        .unwrap();
}

fn committee_ref(id: &str) -> Lookup<CommitteeId, CommitteeFacts> {
    Lookup::found(
        CommitteeId::parse(id).unwrap(),
        CommitteeFacts {
            level: CommitteeLevel::District,
        },
    )
}

/// A district committee.
pub async fn committee(store: &Arc<dyn EventStore>, id: &str) {
    let cid = CommitteeId::parse(id).unwrap();
    run::<Committee>(
        store,
        committee_stream(&cid),
        CommitteeCommand::Create {
            id: cid,
            name: format!("{id} standing committee"),
            level: CommitteeLevel::District,
            parent: None,
        },
    )
    .await;
}

/// An appointee of `committee`, in office.
pub async fn appointee(store: &Arc<dyn EventStore>, committee: &str, id: &str) {
    let aid = AppointeeId::parse(id).unwrap();
    run::<Appointee>(
        store,
        appointee_stream(&aid),
        AppointeeCommand::Register {
            id: aid,
            committee: committee_ref(committee),
            name: format!("official {id}"),
            post: "deputy director".into(),
            organ_kind: OrganKind::Government,
            organ_name: "district government".into(),
            appointed_on: NaiveDate::from_ymd_opt(2016, 12, 1).unwrap(),
            appointing_meeting: "5th meeting".into(),
        },
    )
    .await;
}

/// A deputy group of `committee`.
pub async fn deputy_group(store: &Arc<dyn EventStore>, committee: &str, id: &str) {
    let gid = DeputyGroupId::parse(id).unwrap();
    run::<DeputyGroup>(
        store,
        deputy_group_stream(&gid),
        DeputyGroupCommand::Form {
            id: gid,
            committee: committee_ref(committee),
            name: format!("group {id}"),
        },
    )
    .await;
}

/// Rebuilds a view over gRPC (admin) and waits until the rebuild reports done.
pub async fn rebuild_view(server: &super::TestServer, name: &str) {
    use oversight::proto::RebuildViewRequest;
    use oversight::proto::operations_client::OperationsClient;
    let mut ops = OperationsClient::with_interceptor(
        server.channel().await,
        super::Bearer(Some(server.token.clone())),
    );
    let mut progress = ops
        .rebuild_view(RebuildViewRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner();
    while let Some(step) = progress.message().await.unwrap() {
        if step.done {
            return;
        }
    }
    panic!("rebuild of {name} ended without reporting done");
}

impl TestClock {
    /// The clock as the server takes it.
    pub fn shared(self: &Arc<Self>) -> Arc<dyn Clock> {
        self.clone()
    }
}
