//! `oversight finding …`: findings (问题清单) through assignment, responses on the explanation
//! (说清) and rectification (整改) facets, extension and verification (销号), and the board.

use clap::{Args, Subcommand, ValueEnum};
use oversight::proto::findings_client::FindingsClient;
use oversight::proto::{
    AssignFindingRequest, ExtendFindingDeadlineRequest, FindingExplanation, FindingRecord,
    FindingRectification, FindingReply, FindingScope, FindingSeverity, FindingSource,
    FindingStatus, FindingVerdict, FindingsBoardReply, FindingsBoardRequest, GetFindingRequest,
    ListFindingsRequest, RaiseFindingRequest, RespondToFindingRequest, VerifyFindingRequest,
    finding_scope::Scope,
};
use serde_json::{Value, json};

use super::client::{AuthChannel, ClientArgs, block_on, fresh_position};
use super::output::{Column, Format, Table, done, opt, record, timestamp, word};

/// Flags of `oversight finding`.
#[derive(Debug, Args)]
pub struct FindingArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: FindingCommand,
}

/// Where a finding came from.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Source {
    /// 检查 an inspection (--source-ref: its id)
    Inspection,
    /// 三看 a site visit (--source-ref: its id)
    Visit,
    /// 视察 a deputies' view
    View,
    /// 审议意见/代表建议 a deliberation opinion or suggestion
    Opinion,
    /// 预算联网监督疑点 a doubt from online budget supervision
    BudgetDoubt,
    /// 审计 an audit
    Audit,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Severity {
    /// 轻微 minor
    Minor,
    /// 一般 moderate
    Moderate,
    /// 严重 serious
    Serious,
}

/// The rectification facet reported in a response.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Rectification {
    /// 正在整改 being rectified
    InProgress,
    /// 已经整改 rectified
    Done,
    /// 未整改 will not or cannot rectify
    NotDone,
    /// 长期坚持 a standing, continuing effort
    Ongoing,
}

/// A finding's handling status.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    /// 已提出 raised
    Raised,
    /// 已交办 assigned
    Assigned,
    /// 已答复 responded
    Responded,
    /// 重新办理 reopened
    Reopened,
    /// 已销号 closed
    Closed,
}

/// Which findings a list or board covers (default: the whole committee).
#[derive(Debug, Args)]
#[group(multiple = false)]
struct ScopeArgs {
    /// Only findings against this organ (exact name).
    #[arg(long)]
    organ: Option<String>,
    /// Only findings raised from this inspection.
    #[arg(long)]
    inspection: Option<String>,
    /// Only findings raised in this year.
    #[arg(long)]
    year: Option<i32>,
    /// Only findings naming this appointee.
    #[arg(long)]
    appointee: Option<String>,
}

impl ScopeArgs {
    fn scope(self) -> FindingScope {
        let scope = if let Some(organ) = self.organ {
            Scope::Organ(organ)
        } else if let Some(id) = self.inspection {
            Scope::InspectionId(id)
        } else if let Some(year) = self.year {
            Scope::Year(year)
        } else if let Some(id) = self.appointee {
            Scope::AppointeeId(id)
        } else {
            Scope::WholeCommittee(true)
        };
        FindingScope { scope: Some(scope) }
    }
}

#[derive(Debug, Subcommand)]
enum FindingCommand {
    /// Raise a finding against an organ (and optionally an appointee).
    Raise {
        /// The finding's id, e.g. f1 (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The committee.
        #[arg(long)]
        committee: String,
        /// Where it came from: inspection 检查, visit 三看, view 视察, opinion 审议意见,
        /// budget-doubt 预算疑点, audit 审计.
        #[arg(long, value_enum)]
        source: Source,
        /// The source's reference: the inspection or visit id, or a document number (e.g.
        /// 审计报告 2026-3).
        #[arg(long)]
        source_ref: String,
        /// The organ it is raised against.
        #[arg(long)]
        organ: String,
        /// The appointee responsible, if one is named.
        #[arg(long, default_value = "", hide_default_value = true)]
        appointee: String,
        /// How serious: minor 轻微, moderate 一般, serious 严重.
        #[arg(long, value_enum, default_value = "moderate")]
        severity: Severity,
        /// What the problem is.
        #[arg(long)]
        description: String,
        /// Rectification (整改) is required from the start.
        #[arg(long)]
        rectification_required: bool,
        /// The day it was raised, YYYY-MM-DD, when it is recorded after the fact (e.g. the day
        /// of the visit or inspection that found it); not after today (default: today). A
        /// scorecard counts it for the sessions dated on or after that day.
        #[arg(
            long,
            value_name = "DATE",
            default_value = "",
            hide_default_value = true
        )]
        raised_on: String,
    },
    /// Assign a finding to the organ or office that handles it (交办), with a due date.
    Assign {
        /// The finding.
        #[arg(long)]
        id: String,
        /// Who handles it.
        #[arg(long)]
        assignee: String,
        /// Due date YYYY-MM-DD (default: today plus the policy's months, normally 3).
        #[arg(long, default_value = "", hide_default_value = true)]
        due: String,
    },
    /// Move the due date later, with the approver (主任会议) and a reason.
    Extend {
        /// The finding.
        #[arg(long)]
        id: String,
        /// The new due date, YYYY-MM-DD.
        #[arg(long)]
        due: String,
        /// Who approved the extension.
        #[arg(long)]
        approved_by: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Record the handling organ's response: an explanation (说清), a rectification report
    /// (整改), or both.
    Respond {
        /// The finding.
        #[arg(long)]
        id: String,
        /// The problem is explained (说清).
        #[arg(long)]
        explained: bool,
        /// Rectification: in-progress 正在整改, done 已经整改, not-done 未整改, ongoing 长期坚持.
        #[arg(long, value_enum)]
        rectification: Option<Rectification>,
        /// What the organ says.
        #[arg(long)]
        note: String,
    },
    /// Verify a response (by someone who did not respond): accept closes the finding (销号),
    /// reject reopens it.
    Verify {
        /// The finding.
        #[arg(long)]
        id: String,
        /// Reject the response with this reason (default: accept).
        #[arg(long, value_name = "REASON")]
        reject: Option<String>,
    },
    /// Show one finding.
    Show {
        /// The finding.
        id: String,
    },
    /// List a committee's findings, by id.
    List {
        /// The committee.
        #[arg(long)]
        committee: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Only findings in this status.
        #[arg(long, value_enum)]
        status: Option<Status>,
    },
    /// The findings board: counts per facet and status, overdue and due-soon lists.
    Board {
        /// The committee.
        #[arg(long)]
        committee: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

/// Runs `oversight finding …`.
pub fn run(args: FindingArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

fn reply_done(format: Format, what: String, reply: &FindingReply) {
    let due = if reply.due_on.is_empty() {
        String::new()
    } else {
        format!(", due {}", reply.due_on)
    };
    done(
        format,
        format!(
            "{what} finding {}{due}; log position {}",
            reply.finding_id, reply.position
        ),
        json!({ "finding_id": reply.finding_id, "due_on": opt(&reply.due_on),
                "position": reply.position }),
    );
}

/// The columns of a finding in lists.
pub const FINDING_COLUMNS: &[Column] = &[
    ("finding_id", "问题"),
    ("organ", "机关"),
    ("appointee_id", "任命人员"),
    ("severity", "程度"),
    ("status", "状态"),
    ("explanation", "说清"),
    ("rectification", "整改"),
    ("due_on", "期限"),
    ("overdue", "逾期"),
    ("description", "问题描述"),
];

/// A finding as a row under [`FINDING_COLUMNS`].
pub fn finding_row(f: &FindingRecord) -> Vec<Value> {
    vec![
        json!(f.finding_id),
        json!(f.organ),
        opt(&f.appointee_id),
        json!(word(f.severity().as_str_name(), "FINDING_SEVERITY_")),
        json!(word(f.status().as_str_name(), "FINDING_STATUS_")),
        json!(word(f.explanation().as_str_name(), "FINDING_EXPLANATION_")),
        json!(word(
            f.rectification().as_str_name(),
            "FINDING_RECTIFICATION_"
        )),
        opt(&f.due_on),
        json!(f.overdue),
        json!(f.description),
    ]
}

/// Reads the board of a committee scope.
pub async fn board(
    channel: &AuthChannel,
    committee: String,
    scope: FindingScope,
) -> anyhow::Result<FindingsBoardReply> {
    let min_position = fresh_position();
    Ok(FindingsClient::new(channel.clone())
        .findings_board(FindingsBoardRequest {
            committee_id: committee,
            scope: Some(scope),
            list_limit: 500,
            min_position,
        })
        .await?
        .into_inner())
}

/// The board's counts as rows: facet, state, count.
pub fn board_counts(board: &FindingsBoardReply) -> Table {
    let mut table = Table::new(&[("facet", "类别"), ("state", "状态"), ("count", "数量")]);
    table.row(vec![json!("total 合计"), json!(""), json!(board.total)]);
    for (facet, counts) in [
        ("explanation 说清", &board.explanation),
        ("rectification 整改", &board.rectification),
        ("status 办理状态", &board.status),
    ] {
        for c in counts {
            table.row(vec![json!(facet), json!(c.state), json!(c.count)]);
        }
    }
    table.row(vec![
        json!("overdue 逾期"),
        json!(""),
        json!(board.overdue_total),
    ]);
    table.row(vec![
        json!("due soon 即将到期"),
        json!(""),
        json!(board.due_soon_total),
    ]);
    table
}

/// The board's overdue and due-soon lists as rows.
pub fn board_due(board: &FindingsBoardReply) -> Table {
    let mut table = Table::new(&[
        ("list", "清单"),
        ("finding_id", "问题"),
        ("organ", "机关"),
        ("appointee_id", "任命人员"),
        ("due_on", "期限"),
        ("days", "天数"),
    ]);
    for (list, entries) in [
        ("overdue 逾期", &board.overdue),
        ("due soon 即将到期", &board.due_soon),
    ] {
        for d in entries {
            table.row(vec![
                json!(list),
                json!(d.finding_id),
                json!(d.organ),
                opt(&d.appointee_id),
                json!(d.due_on),
                json!(d.days),
            ]);
        }
    }
    table
}

/// What a board without overdue or due-soon entries to list says instead of an empty table.
fn board_due_summary(board: &FindingsBoardReply) -> String {
    let days = board.due_soon_days;
    if board.overdue_total == 0 && board.due_soon_total == 0 {
        format!("no overdue findings, none due within {days} days 无逾期、{days}天内无到期问题")
    } else {
        // Counted but not listed: the lists are not shown to this role.
        format!(
            "{} overdue, {} due within {days} days (the lists are not shown to this role)",
            board.overdue_total, board.due_soon_total
        )
    }
}

/// Prints a board: both tables for people, one JSON document, or the counts as CSV.
pub fn print_board(board: &FindingsBoardReply, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            println!("as of 截至 {}", board.as_of);
            board_counts(board).print(format)?;
            let due = board_due(board);
            if due.rows().is_empty() {
                println!("{}", board_due_summary(board));
                Ok(())
            } else {
                due.print(format)
            }
        }
        Format::Csv => board_counts(board).print(format),
        Format::Json => {
            let counts = |list: &[oversight::proto::FindingCount]| -> Value {
                list.iter()
                    .map(|c| (c.state.clone(), json!(c.count)))
                    .collect()
            };
            let due = |list: &[oversight::proto::DueFinding]| -> Value {
                list.iter()
                    .map(|d| {
                        json!({ "finding_id": d.finding_id, "organ": d.organ,
                                "appointee_id": opt(&d.appointee_id), "due_on": d.due_on,
                                "days": d.days })
                    })
                    .collect()
            };
            println!(
                "{}",
                json!({
                    "as_of": board.as_of,
                    "due_soon_days": board.due_soon_days,
                    "total": board.total,
                    "explanation": counts(&board.explanation),
                    "rectification": counts(&board.rectification),
                    "status": counts(&board.status),
                    "overdue_total": board.overdue_total,
                    "due_soon_total": board.due_soon_total,
                    "overdue": due(&board.overdue),
                    "due_soon": due(&board.due_soon),
                })
            );
            Ok(())
        }
    }
}

async fn run_async(args: FindingArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let mut findings = FindingsClient::new(channel.clone());
    match args.command {
        FindingCommand::Raise {
            id,
            committee,
            source,
            source_ref,
            organ,
            appointee,
            severity,
            description,
            rectification_required,
            raised_on,
        } => {
            let source = match source {
                Source::Inspection => FindingSource::Inspection,
                Source::Visit => FindingSource::Visit,
                Source::View => FindingSource::View,
                Source::Opinion => FindingSource::Opinion,
                Source::BudgetDoubt => FindingSource::BudgetDoubt,
                Source::Audit => FindingSource::Audit,
            };
            let severity = match severity {
                Severity::Minor => FindingSeverity::Minor,
                Severity::Moderate => FindingSeverity::Moderate,
                Severity::Serious => FindingSeverity::Serious,
            };
            let reply = findings
                .raise_finding(RaiseFindingRequest {
                    command_id: String::new(),
                    finding_id: id,
                    committee_id: committee,
                    source: source as i32,
                    source_ref,
                    organ,
                    appointee_id: appointee,
                    severity: severity as i32,
                    description,
                    rectification_required,
                    correlation_id: String::new(),
                    raised_on,
                })
                .await?
                .into_inner();
            reply_done(format, "raised".into(), &reply);
        }
        FindingCommand::Assign { id, assignee, due } => {
            let reply = findings
                .assign_finding(AssignFindingRequest {
                    command_id: String::new(),
                    finding_id: id,
                    assignee: assignee.clone(),
                    due_on: due,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            reply_done(format, format!("assigned to {assignee}:"), &reply);
        }
        FindingCommand::Extend {
            id,
            due,
            approved_by,
            reason,
        } => {
            let reply = findings
                .extend_finding_deadline(ExtendFindingDeadlineRequest {
                    command_id: String::new(),
                    finding_id: id,
                    due_on: due,
                    approved_by,
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            reply_done(format, "extended the deadline of".into(), &reply);
        }
        FindingCommand::Respond {
            id,
            explained,
            rectification,
            note,
        } => {
            let rectification = match rectification {
                None => FindingRectification::Unspecified,
                Some(Rectification::InProgress) => FindingRectification::InProgress,
                Some(Rectification::Done) => FindingRectification::Done,
                Some(Rectification::NotDone) => FindingRectification::NotDone,
                Some(Rectification::Ongoing) => FindingRectification::Ongoing,
            };
            let explanation = if explained {
                FindingExplanation::Explained
            } else {
                FindingExplanation::Unspecified
            };
            let reply = findings
                .respond_to_finding(RespondToFindingRequest {
                    command_id: String::new(),
                    finding_id: id,
                    explanation: explanation as i32,
                    rectification: rectification as i32,
                    note,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            reply_done(format, "recorded the response to".into(), &reply);
        }
        FindingCommand::Verify { id, reject } => {
            let (verdict, reason, what) = match reject {
                Some(reason) => (FindingVerdict::Reject, reason, "rejected (reopened)"),
                None => (FindingVerdict::Accept, String::new(), "accepted (closed)"),
            };
            let reply = findings
                .verify_finding(VerifyFindingRequest {
                    command_id: String::new(),
                    finding_id: id,
                    verdict: verdict as i32,
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            reply_done(format, what.into(), &reply);
        }
        FindingCommand::Show { id } => {
            let min_position = fresh_position();
            let f = findings
                .get_finding(GetFindingRequest {
                    finding_id: id,
                    min_position,
                })
                .await?
                .into_inner();
            let mut fields: Vec<_> = FINDING_COLUMNS
                .iter()
                .copied()
                .zip(finding_row(&f))
                .collect();
            fields.extend([
                (("committee_id", "委员会"), json!(f.committee_id)),
                (
                    ("source", "来源"),
                    json!(word(f.source().as_str_name(), "FINDING_SOURCE_")),
                ),
                (("source_ref", "来源编号"), opt(&f.source_ref)),
                (("year", "年度"), json!(f.year)),
                (("assignee", "承办"), opt(&f.assignee)),
                (("extensions", "延期次数"), json!(f.extensions)),
                (("due_soon", "即将到期"), json!(f.due_soon)),
                (("raised_by", "提出人"), json!(f.raised_by)),
                (("raised_on", "提出日期"), json!(f.raised_on)),
                (
                    ("raised_at", "提出时间"),
                    json!(timestamp(f.raised_at.as_ref())),
                ),
                (("responders", "答复人"), json!(f.responders)),
                (("last_note", "最近答复"), opt(&f.last_note)),
                (("verified_by", "验收人"), opt(&f.verified_by)),
            ]);
            record(format, &fields)?;
        }
        FindingCommand::List {
            committee,
            scope,
            status,
        } => {
            let min_position = fresh_position();
            let status = match status {
                None => FindingStatus::Unspecified,
                Some(Status::Raised) => FindingStatus::Raised,
                Some(Status::Assigned) => FindingStatus::Assigned,
                Some(Status::Responded) => FindingStatus::Responded,
                Some(Status::Reopened) => FindingStatus::Reopened,
                Some(Status::Closed) => FindingStatus::Closed,
            };
            let scope = scope.scope();
            let mut table = Table::new(FINDING_COLUMNS);
            let mut page_token = String::new();
            loop {
                let reply = findings
                    .list_findings(ListFindingsRequest {
                        committee_id: committee.clone(),
                        scope: Some(scope.clone()),
                        status: status as i32,
                        page_size: 500,
                        page_token,
                        min_position,
                    })
                    .await?
                    .into_inner();
                for f in &reply.findings {
                    table.row(finding_row(f));
                }
                if reply.next_page_token.is_empty() {
                    break;
                }
                page_token = reply.next_page_token;
            }
            table.print(format)?;
        }
        FindingCommand::Board { committee, scope } => {
            let board = board(&channel, committee, scope.scope()).await?;
            print_board(&board, format)?;
        }
    }
    Ok(())
}
