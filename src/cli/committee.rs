//! `oversight committee …`: standing committees and their members (Registry service).

use clap::{Args, Subcommand, ValueEnum};
use oversight::proto::registry_client::RegistryClient;
use oversight::proto::{
    AddCommitteeMemberRequest, CommitteeLevel, CreateCommitteeRequest, GetCommitteeRequest,
    ListCommitteesRequest, RemoveCommitteeMemberRequest,
};
use serde_json::json;

use super::client::{ClientArgs, block_on, fresh_position};
use super::output::{Table, done, opt, record, word};

/// Flags of `oversight committee`.
#[derive(Debug, Args)]
pub struct CommitteeArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: CommitteeCommand,
}

/// The level of government a committee sits at.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Level {
    /// 市 city (may have district and county committees under it)
    City,
    /// 区 district
    District,
    /// 县 county (or county-level city)
    County,
    /// 乡镇 township
    Township,
}

impl From<Level> for CommitteeLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::City => CommitteeLevel::City,
            Level::District => CommitteeLevel::District,
            Level::County => CommitteeLevel::County,
            Level::Township => CommitteeLevel::Township,
        }
    }
}

#[derive(Debug, Subcommand)]
enum CommitteeCommand {
    /// Register a standing committee (admin only).
    Create {
        /// The committee's id, e.g. xiangfang (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// Its name, e.g. 哈尔滨市香坊区人大常委会.
        #[arg(long)]
        name: String,
        /// Its level: city 市, district 区, county 县, township 乡镇.
        #[arg(long, value_enum)]
        level: Level,
        /// The committee one level up (a city for a district).
        #[arg(long, default_value = "", hide_default_value = true)]
        parent: String,
    },
    /// Seat a committee member (组成人员).
    AddMember {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// The member's id, e.g. m1 (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The member's name.
        #[arg(long)]
        name: String,
        /// First day of membership, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day of membership when already known, YYYY-MM-DD.
        #[arg(long, default_value = "", hide_default_value = true)]
        to: String,
    },
    /// End a membership.
    RemoveMember {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// The member.
        #[arg(long)]
        id: String,
        /// Last day of membership, YYYY-MM-DD.
        #[arg(long)]
        to: String,
    },
    /// Show one committee with its members.
    Show {
        /// The committee.
        id: String,
    },
    /// List committees.
    List {
        /// Only the committees under this one (a city's districts and counties).
        #[arg(long, default_value = "", hide_default_value = true)]
        parent: String,
    },
}

/// Runs `oversight committee …`.
pub fn run(args: CommitteeArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

async fn run_async(args: CommitteeArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let mut registry = RegistryClient::new(channel.clone());
    match args.command {
        CommitteeCommand::Create {
            id,
            name,
            level,
            parent,
        } => {
            let reply = registry
                .create_committee(CreateCommitteeRequest {
                    committee_id: id,
                    name,
                    level: CommitteeLevel::from(level) as i32,
                    parent_committee_id: parent,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "created committee {}; log position {}",
                    reply.committee_id, reply.position
                ),
                json!({ "committee_id": reply.committee_id, "position": reply.position }),
            );
        }
        CommitteeCommand::AddMember {
            committee,
            id,
            name,
            from,
            to,
        } => {
            let reply = registry
                .add_committee_member(AddCommitteeMemberRequest {
                    committee_id: committee.clone(),
                    member_id: id,
                    name,
                    from,
                    to,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "seated member {} on committee {committee}; log position {}",
                    reply.member_id, reply.position
                ),
                json!({ "member_id": reply.member_id, "position": reply.position }),
            );
        }
        CommitteeCommand::RemoveMember { committee, id, to } => {
            let reply = registry
                .remove_committee_member(RemoveCommitteeMemberRequest {
                    committee_id: committee.clone(),
                    member_id: id.clone(),
                    to,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "ended the membership of {id} on committee {committee}; log position {}",
                    reply.position
                ),
                json!({ "member_id": id, "position": reply.position }),
            );
        }
        CommitteeCommand::Show { id } => {
            let min_position = fresh_position(&channel).await;
            let committee = registry
                .get_committee(GetCommitteeRequest {
                    committee_id: id,
                    min_position,
                })
                .await?
                .into_inner();
            let level = word(committee.level().as_str_name(), "COMMITTEE_LEVEL_");
            if format == super::output::Format::Json {
                let members: Vec<_> = committee
                    .members
                    .iter()
                    .map(|m| {
                        json!({ "member_id": m.member_id, "name": m.name, "from": m.from,
                                "to": opt(&m.to), "seated": m.seated })
                    })
                    .collect();
                println!(
                    "{}",
                    json!({
                        "committee_id": committee.committee_id,
                        "name": committee.name,
                        "level": level,
                        "parent_committee_id": opt(&committee.parent_committee_id),
                        "child_committee_ids": committee.child_committee_ids,
                        "seated_members": committee.seated_members,
                        "members": members,
                        "position": committee.position,
                    })
                );
                return Ok(());
            }
            record(
                format,
                &[
                    (("committee_id", "委员会"), json!(committee.committee_id)),
                    (("name", "名称"), json!(committee.name)),
                    (("level", "级别"), json!(level)),
                    (("parent", "上级"), opt(&committee.parent_committee_id)),
                    (("children", "下级"), json!(committee.child_committee_ids)),
                    (
                        ("seated_members", "在任组成人员"),
                        json!(committee.seated_members),
                    ),
                    (("position", "日志位置"), json!(committee.position)),
                ],
            )?;
            if format == super::output::Format::Table {
                let mut members = Table::new(&[
                    ("member_id", "组成人员"),
                    ("name", "姓名"),
                    ("from", "起"),
                    ("to", "止"),
                    ("seated", "在任"),
                ]);
                for m in &committee.members {
                    members.row(vec![
                        json!(m.member_id),
                        json!(m.name),
                        json!(m.from),
                        opt(&m.to),
                        json!(m.seated),
                    ]);
                }
                members.print(format)?;
            }
        }
        CommitteeCommand::List { parent } => {
            let min_position = fresh_position(&channel).await;
            let mut table = Table::new(&[
                ("committee_id", "委员会"),
                ("name", "名称"),
                ("level", "级别"),
                ("parent", "上级"),
                ("seated_members", "在任组成人员"),
            ]);
            let mut page_token = String::new();
            loop {
                let reply = registry
                    .list_committees(ListCommitteesRequest {
                        parent_committee_id: parent.clone(),
                        page_size: 500,
                        page_token,
                        min_position,
                    })
                    .await?
                    .into_inner();
                for c in &reply.committees {
                    table.row(vec![
                        json!(c.committee_id),
                        json!(c.name),
                        json!(word(c.level().as_str_name(), "COMMITTEE_LEVEL_")),
                        opt(&c.parent_committee_id),
                        json!(c.seated_members),
                    ]);
                }
                if reply.next_page_token.is_empty() {
                    break;
                }
                page_token = reply.next_page_token;
            }
            table.print(format)?;
        }
    }
    Ok(())
}
