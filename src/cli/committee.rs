//! `oversight committee …`: standing committees and their members (Registry service).

use clap::{Args, Subcommand, ValueEnum};
use oversight::proto::registry_client::RegistryClient;
use oversight::proto::{
    AddCommitteeMemberRequest, AdoptSupervisionPolicyRequest, CommitteeLevel,
    CreateCommitteeRequest, GetCommitteeRequest, GetSupervisionPolicyRequest,
    ListCommitteesRequest, RemoveCommitteeMemberRequest, SupervisionPolicyInForce,
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

/// Changes to the supervision policy in force; a setting left out keeps its current value.
#[derive(Debug, Args)]
struct PolicyChanges {
    /// Lowest rating of a site-visit dimension (default 1).
    #[arg(long)]
    visit_rating_min: Option<u32>,
    /// Highest rating of a site-visit dimension (default 5).
    #[arg(long)]
    visit_rating_max: Option<u32>,
    /// Months from assignment to a finding's due date when none is given (default 3; 整改期限).
    #[arg(long)]
    finding_due_months: Option<u32>,
    /// Days before the due date from which a finding counts as due soon (default 14).
    #[arg(long)]
    finding_due_soon_days: Option<u32>,
    /// Fewest laws an annual inspection plan should list without a warning (default 3).
    #[arg(long)]
    annual_plan_min_laws: Option<u32>,
    /// Most laws an annual inspection plan should list without a warning (default 5).
    #[arg(long)]
    annual_plan_max_laws: Option<u32>,
    /// The rating options stakeholder feedback is counted under (comma-separated), e.g.
    /// satisfied,basically_satisfied,dissatisfied.
    #[arg(long, value_delimiter = ',')]
    feedback_options: Option<Vec<String>>,
    /// The committee's offset from UTC in minutes (default 480, China Standard Time).
    #[arg(long, allow_hyphen_values = true)]
    utc_offset_minutes: Option<i32>,
}

#[derive(Debug, Subcommand)]
enum CommitteeCommand {
    /// Show the supervision policy in force (监督工作规则): due periods, visit rating scale,
    /// plan size, feedback options.
    Policy {
        /// The committee.
        #[arg(long)]
        committee: String,
    },
    /// Adopt a new version of the committee's supervision policy (chair): the current policy
    /// with the settings given changed. Findings already assigned keep their due dates.
    AdoptPolicy {
        /// The committee.
        #[arg(long)]
        committee: String,
        #[command(flatten)]
        changes: PolicyChanges,
    },
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
        CommitteeCommand::Policy { committee } => {
            let min_position = fresh_position();
            let in_force = registry
                .get_supervision_policy(GetSupervisionPolicyRequest {
                    committee_id: committee,
                    min_position,
                })
                .await?
                .into_inner();
            print_policy(format, &in_force)?;
        }
        CommitteeCommand::AdoptPolicy { committee, changes } => {
            let min_position = fresh_position();
            let mut policy = registry
                .get_supervision_policy(GetSupervisionPolicyRequest {
                    committee_id: committee.clone(),
                    min_position,
                })
                .await?
                .into_inner()
                .policy
                .unwrap_or_default();
            let PolicyChanges {
                visit_rating_min,
                visit_rating_max,
                finding_due_months,
                finding_due_soon_days,
                annual_plan_min_laws,
                annual_plan_max_laws,
                feedback_options,
                utc_offset_minutes,
            } = changes;
            let set = |field: &mut u32, value: Option<u32>| {
                if let Some(value) = value {
                    *field = value;
                }
            };
            set(&mut policy.visit_rating_min, visit_rating_min);
            set(&mut policy.visit_rating_max, visit_rating_max);
            set(&mut policy.finding_due_months, finding_due_months);
            set(&mut policy.finding_due_soon_days, finding_due_soon_days);
            set(&mut policy.annual_plan_min_laws, annual_plan_min_laws);
            set(&mut policy.annual_plan_max_laws, annual_plan_max_laws);
            if let Some(options) = feedback_options {
                policy.feedback_rating_options = options;
            }
            if let Some(offset) = utc_offset_minutes {
                policy.utc_offset_minutes = offset;
            }
            let reply = registry
                .adopt_supervision_policy(AdoptSupervisionPolicyRequest {
                    command_id: String::new(),
                    committee_id: committee.clone(),
                    policy: Some(policy),
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "committee {committee} adopted supervision policy version {}; log position {}",
                    reply.version, reply.position
                ),
                json!({ "committee_id": committee, "version": reply.version,
                        "position": reply.position }),
            );
        }
        CommitteeCommand::Create {
            id,
            name,
            level,
            parent,
        } => {
            let reply = registry
                .create_committee(CreateCommitteeRequest {
                    command_id: String::new(),
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
                    command_id: String::new(),
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
                    command_id: String::new(),
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
            let min_position = fresh_position();
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
            let min_position = fresh_position();
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

/// Prints the supervision policy in force as one record.
fn print_policy(
    format: super::output::Format,
    in_force: &SupervisionPolicyInForce,
) -> anyhow::Result<()> {
    let policy = in_force.policy.clone().unwrap_or_default();
    record(
        format,
        &[
            (("committee_id", "委员会"), json!(in_force.committee_id)),
            (("version", "版本"), json!(in_force.version)),
            (("position", "日志位置"), json!(in_force.position)),
            (
                ("visit_rating_min", "三看最低分"),
                json!(policy.visit_rating_min),
            ),
            (
                ("visit_rating_max", "三看最高分"),
                json!(policy.visit_rating_max),
            ),
            (
                ("finding_due_months", "整改期限(月)"),
                json!(policy.finding_due_months),
            ),
            (
                ("finding_due_soon_days", "临近到期(天)"),
                json!(policy.finding_due_soon_days),
            ),
            (
                ("annual_plan_min_laws", "年度检查法律下限"),
                json!(policy.annual_plan_min_laws),
            ),
            (
                ("annual_plan_max_laws", "年度检查法律上限"),
                json!(policy.annual_plan_max_laws),
            ),
            (
                ("feedback_rating_options", "测评选项"),
                json!(policy.feedback_rating_options.join(", ")),
            ),
            (
                ("utc_offset_minutes", "时区(分钟)"),
                json!(policy.utc_offset_minutes),
            ),
        ],
    )
}
