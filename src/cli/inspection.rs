//! `oversight inspection …`: inspections (执法检查, 代表视察), their reports, and the annual
//! inspection plan (Supervision service).

use clap::{Args, Subcommand, ValueEnum};
use oversight::proto::supervision_client::SupervisionClient;
use oversight::proto::{
    AdoptAnnualPlanReply, AdoptAnnualPlanRequest, AnnualPlanChange, AnnualPlanChangeKind,
    GetAnnualPlanRequest, GetInspectionRequest, InspectionKind, InspectionRecord,
    ListInspectionsRequest, OpenInspectionRequest, RecordInspectionReportRequest,
    ReviseAnnualPlanRequest,
};
use serde_json::{Value, json};

use super::client::{ClientArgs, block_on, fresh_position};
use super::output::{Format, Table, done, record, word};

/// Flags of `oversight inspection`.
#[derive(Debug, Args)]
pub struct InspectionArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: InspectionCommand,
}

/// What kind of inspection.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// 执法检查 how a law is enforced (needs --law)
    LawEnforcement,
    /// 代表视察 a deputies' view
    DeputiesView,
    /// 干部履职能力检查 a check of officials' competence
    CompetenceCheck,
}

#[derive(Debug, Subcommand)]
enum InspectionCommand {
    /// Open an inspection.
    Open {
        /// The inspection's id, e.g. i2026-food (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The committee that inspects.
        #[arg(long)]
        committee: String,
        /// Kind: law-enforcement 执法检查, deputies-view 代表视察, competence-check 履职能力检查.
        #[arg(long, value_enum)]
        kind: Kind,
        /// Its title, e.g. 《食品安全法》执法检查.
        #[arg(long)]
        title: String,
        /// The law inspected (required for law-enforcement).
        #[arg(long)]
        law: Option<String>,
        /// The year it belongs to.
        #[arg(long)]
        year: i32,
        /// An organ in scope (comma-separated or repeated; at least one).
        #[arg(long = "organ", value_delimiter = ',', required = true)]
        organs: Vec<String>,
    },
    /// Record an inspection's report.
    Report {
        /// The inspection.
        #[arg(long)]
        id: String,
        /// The overall evaluation.
        #[arg(long)]
        evaluation: String,
        /// A problem found (repeatable; each may become a finding).
        #[arg(long = "problem")]
        problems: Vec<String>,
        /// A suggestion to the organs (repeatable).
        #[arg(long = "suggestion")]
        suggestions: Vec<String>,
    },
    /// Adopt the committee's annual inspection plan (年度执法检查计划; chair or admin).
    Plan {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// The year planned.
        #[arg(long)]
        year: i32,
        /// A law to inspect (repeatable; the policy expects 3 to 5).
        #[arg(long = "law", required = true)]
        laws: Vec<String>,
    },
    /// Revise the committee's annual inspection plan: replace its laws, saying why (chair or
    /// admin).
    PlanRevise {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// The year of the adopted plan.
        #[arg(long)]
        year: i32,
        /// A law now planned (repeatable; replaces the list; the policy expects 3 to 5).
        #[arg(long = "law", required = true)]
        laws: Vec<String>,
        /// Why the plan changes.
        #[arg(long)]
        reason: String,
    },
    /// Show the committee's annual inspection plan of a year as in force, with its adoption and
    /// every revision (reason, who decided).
    PlanShow {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// The year planned.
        #[arg(long)]
        year: i32,
    },
    /// Show one inspection with its report.
    Show {
        /// The inspection.
        id: String,
    },
    /// List a committee's inspections.
    List {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// Only this year.
        #[arg(long, default_value_t = 0)]
        year: i32,
    },
}

/// Runs `oversight inspection …`.
pub fn run(args: InspectionArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

/// Prints what adopting or revising (`verb`) an annual plan did, its warnings on stderr.
fn plan_done(format: Format, verb: &str, reply: AdoptAnnualPlanReply) {
    for warning in &reply.warnings {
        eprintln!("warning: {warning}");
    }
    done(
        format,
        format!(
            "{verb} annual plan {}; log position {}",
            reply.id, reply.position
        ),
        json!({ "plan_id": reply.id, "position": reply.position,
                "warnings": reply.warnings }),
    );
}

fn row(i: &InspectionRecord) -> Vec<Value> {
    vec![
        json!(i.inspection_id),
        json!(i.committee_id),
        json!(i.year),
        json!(word(i.kind().as_str_name(), "INSPECTION_KIND_")),
        json!(i.title),
        json!(i.law_reference),
        json!(i.organs),
        json!(i.report.is_some()),
    ]
}

const COLUMNS: &[(&str, &str)] = &[
    ("inspection_id", "检查"),
    ("committee_id", "委员会"),
    ("year", "年度"),
    ("kind", "类别"),
    ("title", "名称"),
    ("law", "法律"),
    ("organs", "检查单位"),
    ("reported", "已有报告"),
];

async fn run_async(args: InspectionArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let mut supervision = SupervisionClient::new(channel.clone());
    match args.command {
        InspectionCommand::Open {
            id,
            committee,
            kind,
            title,
            law,
            year,
            organs,
        } => {
            let kind = match kind {
                Kind::LawEnforcement => InspectionKind::LawEnforcement,
                Kind::DeputiesView => InspectionKind::DeputiesView,
                Kind::CompetenceCheck => InspectionKind::CompetenceCheck,
            };
            let reply = supervision
                .open_inspection(OpenInspectionRequest {
                    command_id: String::new(),
                    inspection_id: id,
                    committee_id: committee,
                    kind: kind as i32,
                    title,
                    law_reference: law,
                    year,
                    organs,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "opened inspection {}; log position {}",
                    reply.id, reply.position
                ),
                json!({ "inspection_id": reply.id, "position": reply.position }),
            );
        }
        InspectionCommand::Report {
            id,
            evaluation,
            problems,
            suggestions,
        } => {
            let reply = supervision
                .record_inspection_report(RecordInspectionReportRequest {
                    command_id: String::new(),
                    inspection_id: id,
                    evaluation,
                    problems,
                    suggestions,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "recorded the report of inspection {}; log position {}",
                    reply.id, reply.position
                ),
                json!({ "inspection_id": reply.id, "position": reply.position }),
            );
        }
        InspectionCommand::Plan {
            committee,
            year,
            laws,
        } => {
            let reply = supervision
                .adopt_annual_plan(AdoptAnnualPlanRequest {
                    command_id: String::new(),
                    committee_id: committee,
                    year,
                    laws,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            plan_done(format, "adopted", reply);
        }
        InspectionCommand::PlanRevise {
            committee,
            year,
            laws,
            reason,
        } => {
            let reply = supervision
                .revise_annual_plan(ReviseAnnualPlanRequest {
                    command_id: String::new(),
                    committee_id: committee,
                    year,
                    laws,
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            plan_done(format, "revised", reply);
        }
        InspectionCommand::PlanShow { committee, year } => {
            let plan = supervision
                .get_annual_plan(GetAnnualPlanRequest {
                    committee_id: committee,
                    year,
                    min_position: fresh_position(),
                })
                .await?
                .into_inner();
            record(
                format,
                &[
                    (("committee_id", "委员会"), json!(plan.committee_id)),
                    (("year", "年度"), json!(plan.year)),
                    (("laws", "法律"), json!(plan.laws)),
                    (("warnings", "提示"), json!(plan.warnings)),
                    (("changes", "变更记录"), plan_changes(format, &plan.changes)),
                ],
            )?;
        }
        InspectionCommand::Show { id } => {
            let i = supervision
                .get_inspection(GetInspectionRequest {
                    inspection_id: id,
                    min_position: fresh_position(),
                })
                .await?
                .into_inner();
            let mut fields: Vec<_> = COLUMNS.iter().copied().zip(row(&i)).collect();
            fields.push((("opened_by", "发起人"), json!(i.opened_by)));
            if let Some(report) = &i.report {
                fields.extend([
                    (("evaluation", "总体评价"), json!(report.evaluation)),
                    (("problems", "发现问题"), json!(report.problems)),
                    (("suggestions", "建议"), json!(report.suggestions)),
                    (("recorded_by", "报告录入人"), json!(report.recorded_by)),
                ]);
            }
            record(format, &fields)?;
        }
        InspectionCommand::List { committee, year } => {
            let min_position = fresh_position();
            let mut table = Table::new(COLUMNS);
            let mut page_token = String::new();
            loop {
                let reply = supervision
                    .list_inspections(ListInspectionsRequest {
                        committee_id: committee.clone(),
                        year,
                        page_size: 500,
                        page_token,
                        min_position,
                    })
                    .await?
                    .into_inner();
                for i in &reply.inspections {
                    table.row(row(i));
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

/// A plan's adoption and revisions: one line each for people (position, decision, who, why, the
/// laws) in a table or CSV, objects in JSON.
fn plan_changes(format: Format, changes: &[AnnualPlanChange]) -> Value {
    let kind = |change: &AnnualPlanChange| match change.kind() {
        AnnualPlanChangeKind::Adopted => ("adopted", "通过"),
        AnnualPlanChangeKind::Revised => ("revised", "修订"),
        AnnualPlanChangeKind::Unspecified => ("unspecified", "未知"),
    };
    if format != Format::Json {
        let lines: Vec<String> = changes
            .iter()
            .map(|change| {
                let (en, zh) = kind(change);
                let why = if change.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", change.reason)
                };
                format!(
                    "#{} {zh} {en} by {}{why}: {}",
                    change.position,
                    change.decided_by,
                    change.laws.join("、")
                )
            })
            .collect();
        return json!(lines.join("\n"));
    }
    json!(
        changes
            .iter()
            .map(|change| json!({
                "kind": kind(change).0,
                "laws": change.laws,
                "reason": change.reason,
                "decided_by": change.decided_by,
                "position": change.position,
            }))
            .collect::<Vec<_>>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_changes_are_lines_for_people_and_objects_for_scripts() {
        let changes = [
            AnnualPlanChange {
                kind: AnnualPlanChangeKind::Adopted.into(),
                laws: vec!["食品安全法".into(), "环境保护法".into()],
                reason: String::new(),
                decided_by: "chair".into(),
                position: 2,
            },
            AnnualPlanChange {
                kind: AnnualPlanChangeKind::Revised.into(),
                laws: vec!["食品安全法".into()],
                reason: "主任会议调整".into(),
                decided_by: "chair".into(),
                position: 9,
            },
        ];
        let lines = "#2 通过 adopted by chair: 食品安全法、环境保护法\n\
                     #9 修订 revised by chair (主任会议调整): 食品安全法";
        assert_eq!(plan_changes(Format::Table, &changes), json!(lines));
        assert_eq!(plan_changes(Format::Csv, &changes), json!(lines));
        let objects = plan_changes(Format::Json, &changes);
        assert_eq!(objects[1]["kind"], "revised");
        assert_eq!(objects[1]["reason"], "主任会议调整");
        assert_eq!(objects[0]["laws"], json!(["食品安全法", "环境保护法"]));
        assert_eq!(objects[0]["position"], 2);
    }
}
