//! `oversight visit …`: site visits (三看) by deputy groups — filing, correcting, retracting,
//! the committee's visit report, lists and averages (Supervision service).

use clap::{Args, Subcommand, ValueEnum};
use oversight::proto::supervision_client::SupervisionClient;
use oversight::proto::{
    CorrectSiteVisitRequest, FileSiteVisitRequest, IssueVisitReportRequest, ListSiteVisitsRequest,
    RatingAverage, RetractSiteVisitRequest, SupervisionReply, VisitAveragesRequest, VisitMode,
    VisitRatings, list_site_visits_request, visit_averages_request,
};
use serde_json::{Value, json};

use super::client::{ClientArgs, block_on, fresh_position};
use super::output::{Format, Table, done, opt, parse_time, record, timestamp, word};

/// Flags of `oversight visit`.
#[derive(Debug, Args)]
pub struct VisitArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: VisitCommand,
}

/// How a deputy group visited.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    /// 暗访 unannounced; hidden from the appointee until the visit report is issued
    Incognito,
    /// 随机抽查 random check
    RandomCheck,
    /// 旁听庭审 attending a trial
    TrialAttendance,
    /// 公开走访 an announced visit
    Open,
}

/// The three ratings of a visit (三看), each on the committee's scale (default 1–5).
#[derive(Debug, Args)]
struct RatingArgs {
    /// 看工作纪律: work discipline rating.
    #[arg(long, value_name = "N")]
    discipline: Option<u32>,
    /// 看服务质量: service quality rating.
    #[arg(long, value_name = "N")]
    service: Option<u32>,
    /// 看办事效率: efficiency rating.
    #[arg(long, value_name = "N")]
    efficiency: Option<u32>,
}

impl RatingArgs {
    fn ratings(&self) -> VisitRatings {
        VisitRatings {
            work_discipline: self.discipline,
            service_quality: self.service,
            efficiency: self.efficiency,
        }
    }
}

#[derive(Debug, Subcommand)]
enum VisitCommand {
    /// File a site visit for a deputy group (deputy of the group, or admin).
    File {
        /// The visit's id, e.g. v1 (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The filing deputy group.
        #[arg(long)]
        group: String,
        /// The office visited, e.g. 区政务服务中心不动产登记窗口.
        #[arg(long)]
        organ: String,
        /// Appointees responsible for that office (comma-separated or repeated).
        #[arg(long = "appointee", value_delimiter = ',')]
        appointees: Vec<String>,
        /// How: incognito 暗访, random-check 随机抽查, trial-attendance 旁听庭审, open 公开走访.
        #[arg(long, value_enum)]
        mode: Mode,
        /// When the visit took place: YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC) or RFC 3339
        /// (default: now).
        #[arg(long, value_name = "WHEN")]
        visited_at: Option<String>,
        #[command(flatten)]
        ratings: RatingArgs,
        /// What the deputies saw.
        #[arg(long, default_value = "", hide_default_value = true)]
        notes: String,
        /// SHA-256 of a photo, recording or document kept elsewhere (repeatable).
        #[arg(long = "evidence", value_name = "SHA256")]
        evidence: Vec<String>,
    },
    /// Replace a visit's ratings, notes and evidence, with a reason.
    Correct {
        /// The visit.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        ratings: RatingArgs,
        /// The corrected notes.
        #[arg(long, default_value = "", hide_default_value = true)]
        notes: String,
        /// The corrected evidence digests (repeatable).
        #[arg(long = "evidence", value_name = "SHA256")]
        evidence: Vec<String>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Withdraw a visit, with a reason; it then counts nowhere.
    Retract {
        /// The visit.
        #[arg(long)]
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Issue the committee's visit report; an incognito visit becomes visible to its
    /// appointees.
    Report {
        /// The visit.
        #[arg(long)]
        id: String,
        /// The report's reference, e.g. 香人常函〔2017〕12号.
        #[arg(long = "ref")]
        reference: String,
    },
    /// List visits of an appointee, a deputy group or an organ, oldest first.
    List {
        /// Visits concerning this appointee.
        #[arg(long, group = "whose")]
        appointee: Option<String>,
        /// Visits filed by this deputy group.
        #[arg(long, group = "whose")]
        group: Option<String>,
        /// Visits to this organ (exact name; with --committee).
        #[arg(long, group = "whose", requires = "committee")]
        organ: Option<String>,
        /// The committee of --organ.
        #[arg(long, default_value = "", hide_default_value = true)]
        committee: String,
        /// Visits from this day (YYYY-MM-DD) or moment.
        #[arg(long)]
        from: Option<String>,
        /// Visits before this day (YYYY-MM-DD) or moment.
        #[arg(long)]
        to: Option<String>,
    },
    /// Average ratings of the visits to an appointee or an organ, or of a deputy group, over a
    /// period.
    Averages {
        /// Visits concerning this appointee.
        #[arg(long, group = "whose")]
        appointee: Option<String>,
        /// Visits to this organ (exact name; with --committee).
        #[arg(long, group = "whose", requires = "committee")]
        organ: Option<String>,
        /// Visits filed by this deputy group.
        #[arg(long, group = "whose")]
        group: Option<String>,
        /// The committee of --organ.
        #[arg(long, default_value = "", hide_default_value = true)]
        committee: String,
        /// From this day (YYYY-MM-DD) or moment.
        #[arg(long)]
        from: Option<String>,
        /// Before this day (YYYY-MM-DD) or moment.
        #[arg(long)]
        to: Option<String>,
    },
}

/// Runs `oversight visit …`.
pub fn run(args: VisitArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

fn visit_done(format: Format, what: &str, reply: &SupervisionReply) {
    done(
        format,
        format!("{what} visit {}; log position {}", reply.id, reply.position),
        json!({ "visit_id": reply.id, "position": reply.position }),
    );
}

fn average(a: Option<&RatingAverage>) -> Value {
    match a {
        Some(a) if a.ratings > 0 => json!(a.display),
        _ => Value::Null,
    }
}

async fn run_async(args: VisitArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let mut supervision = SupervisionClient::new(channel.clone());
    match args.command {
        VisitCommand::File {
            id,
            group,
            organ,
            appointees,
            mode,
            visited_at,
            ratings,
            notes,
            evidence,
        } => {
            let mode = match mode {
                Mode::Incognito => VisitMode::Incognito,
                Mode::RandomCheck => VisitMode::RandomCheck,
                Mode::TrialAttendance => VisitMode::TrialAttendance,
                Mode::Open => VisitMode::Open,
            };
            let reply = supervision
                .file_site_visit(FileSiteVisitRequest {
                    command_id: String::new(),
                    visit_id: id,
                    group_id: group,
                    target_organ: organ,
                    appointee_ids: appointees,
                    mode: mode as i32,
                    visited_at: Some(parse_time("--visited-at", visited_at.as_deref())?),
                    ratings: Some(ratings.ratings()),
                    notes,
                    evidence_sha256: evidence,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            visit_done(format, "filed", &reply);
        }
        VisitCommand::Correct {
            id,
            ratings,
            notes,
            evidence,
            reason,
        } => {
            let reply = supervision
                .correct_site_visit(CorrectSiteVisitRequest {
                    command_id: String::new(),
                    visit_id: id,
                    ratings: Some(ratings.ratings()),
                    notes,
                    evidence_sha256: evidence,
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            visit_done(format, "corrected", &reply);
        }
        VisitCommand::Retract { id, reason } => {
            let reply = supervision
                .retract_site_visit(RetractSiteVisitRequest {
                    command_id: String::new(),
                    visit_id: id,
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            visit_done(format, "retracted", &reply);
        }
        VisitCommand::Report { id, reference } => {
            let reply = supervision
                .issue_visit_report(IssueVisitReportRequest {
                    command_id: String::new(),
                    visit_id: id,
                    report_ref: reference.clone(),
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            visit_done(format, &format!("issued report {reference} on"), &reply);
        }
        VisitCommand::List {
            appointee,
            group,
            organ,
            committee,
            from,
            to,
        } => {
            use list_site_visits_request::Scope;
            let scope = if let Some(id) = appointee {
                Scope::AppointeeId(id)
            } else if let Some(id) = group {
                Scope::GroupId(id)
            } else if let Some(name) = organ {
                Scope::Organ(name)
            } else {
                anyhow::bail!("name whose visits: --appointee, --group or --organ");
            };
            let from = from.map(|t| parse_time("--from", Some(&t))).transpose()?;
            let to = to.map(|t| parse_time("--to", Some(&t))).transpose()?;
            let min_position = fresh_position();
            let mut table = Table::new(&[
                ("visit_id", "走访"),
                ("group_id", "代表小组"),
                ("organ", "走访单位"),
                ("appointees", "任命人员"),
                ("mode", "方式"),
                ("visited_at", "时间"),
                ("discipline", "工作纪律"),
                ("service", "服务质量"),
                ("efficiency", "办事效率"),
                ("report_ref", "走访报告"),
                ("retracted", "已撤回"),
            ]);
            let mut page_token = String::new();
            loop {
                let reply = supervision
                    .list_site_visits(ListSiteVisitsRequest {
                        scope: Some(scope.clone()),
                        committee_id: committee.clone(),
                        page_size: 500,
                        page_token,
                        min_position,
                        from,
                        to,
                    })
                    .await?
                    .into_inner();
                for v in &reply.visits {
                    let r = v.ratings.unwrap_or_default();
                    table.row(vec![
                        json!(v.visit_id),
                        json!(v.group_id),
                        json!(v.target_organ),
                        json!(v.appointee_ids),
                        json!(word(v.mode().as_str_name(), "VISIT_MODE_")),
                        json!(timestamp(v.visited_at.as_ref())),
                        json!(r.work_discipline),
                        json!(r.service_quality),
                        json!(r.efficiency),
                        opt(&v.report_ref),
                        json!(v.retracted),
                    ]);
                }
                if reply.next_page_token.is_empty() {
                    break;
                }
                page_token = reply.next_page_token;
            }
            table.print(format)?;
        }
        VisitCommand::Averages {
            appointee,
            organ,
            group,
            committee,
            from,
            to,
        } => {
            use visit_averages_request::Scope;
            let scope = if let Some(id) = appointee {
                Scope::AppointeeId(id)
            } else if let Some(name) = organ {
                Scope::Organ(name)
            } else if let Some(id) = group {
                Scope::GroupId(id)
            } else {
                anyhow::bail!("name whose visits: --appointee, --organ or --group");
            };
            let from = from.map(|t| parse_time("--from", Some(&t))).transpose()?;
            let to = to.map(|t| parse_time("--to", Some(&t))).transpose()?;
            let reply = supervision
                .visit_averages(VisitAveragesRequest {
                    scope: Some(scope),
                    committee_id: committee,
                    from,
                    to,
                    min_position: fresh_position(),
                })
                .await?
                .into_inner();
            record(
                format,
                &[
                    (("visits", "走访次数"), json!(reply.visits)),
                    (
                        ("discipline", "工作纪律"),
                        average(reply.work_discipline.as_ref()),
                    ),
                    (
                        ("service", "服务质量"),
                        average(reply.service_quality.as_ref()),
                    ),
                    (
                        ("efficiency", "办事效率"),
                        average(reply.efficiency.as_ref()),
                    ),
                ],
            )?;
        }
    }
    Ok(())
}
