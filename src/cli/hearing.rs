//! `oversight hearing …`: duty reports (述职报告) and stakeholder feedback (服务对象和干部职工的
//!评价) gathered before an evaluation session (Hearings service).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use oversight::proto::hearings_client::HearingsClient;
use oversight::proto::{
    FeedbackMethod, FeedbackSource, FileDutyReportRequest, ListDutyReportsRequest,
    ListStakeholderFeedbackRequest, RatingCount, RecordStakeholderFeedbackRequest,
    RetractStakeholderFeedbackRequest, ReviseDutyReportRequest, WithdrawDutyReportRequest,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client::{ClientArgs, block_on, fresh_position};
use super::output::{Table, done, opt, parse_time, rating, timestamp, word};

/// Flags of `oversight hearing`.
#[derive(Debug, Args)]
pub struct HearingArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: HearingCommand,
}

/// Whose opinion was gathered.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Source {
    /// 服务对象 people the office serves
    ServiceRecipients,
    /// 干部职工 the appointee's own staff
    Staff,
}

/// How it was gathered.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    /// 座谈会 a forum
    Forum,
    /// 民主测评/问卷 a survey
    Survey,
    /// 个别谈话 one-to-one interviews (always confidential)
    Interview,
}

/// The document of a duty report: a file, whose SHA-256 is recorded, or the digest itself.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct DocumentArgs {
    /// The report's document; only its SHA-256 is recorded (the file stays with the office).
    #[arg(long, value_name = "FILE")]
    document: Option<PathBuf>,
    /// The SHA-256 of the document (64 lowercase hex characters), instead of --document.
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
}

impl DocumentArgs {
    fn digest(self) -> anyhow::Result<String> {
        match (self.document, self.sha256) {
            (Some(path), _) => {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read --document {}", path.display()))?;
                Ok(hex::encode(Sha256::digest(&bytes)))
            }
            (None, Some(hex)) => Ok(hex),
            (None, None) => bail!("give the report's --document FILE or its --sha256"),
        }
    }
}

#[derive(Debug, Subcommand)]
enum HearingCommand {
    /// File a duty report by or for an appointee in office.
    DutyReport {
        /// The report's id, e.g. r1 (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The reporting appointee.
        #[arg(long)]
        appointee: String,
        /// Its title.
        #[arg(long)]
        title: String,
        #[command(flatten)]
        document: DocumentArgs,
        /// The evaluation session it is for, e.g. s2026.
        #[arg(long)]
        session: String,
        /// When it was handed in: YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC) or RFC 3339 (default:
        /// now).
        #[arg(long, value_name = "WHEN")]
        filed_at: Option<String>,
    },
    /// Replace a duty report's document with a revised one, with a reason.
    ReviseReport {
        /// The report.
        #[arg(long)]
        id: String,
        /// The revised title.
        #[arg(long)]
        title: String,
        #[command(flatten)]
        document: DocumentArgs,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Withdraw a duty report, with a reason.
    WithdrawReport {
        /// The report.
        #[arg(long)]
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Record a batch of stakeholder feedback about an appointee.
    Feedback {
        /// The batch's id (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The appointee it concerns.
        #[arg(long)]
        appointee: String,
        /// The evaluation session it is for.
        #[arg(long)]
        session: String,
        /// Whose opinion: service-recipients 服务对象, staff 干部职工.
        #[arg(long, value_enum)]
        source: Source,
        /// How gathered: forum 座谈会, survey 民主测评, interview 个别谈话.
        #[arg(long, value_enum)]
        method: Method,
        /// How many people took part.
        #[arg(long)]
        participants: u32,
        /// A count per rating, OPTION=N, e.g. satisfied=12 (满意), basically_satisfied=3
        /// (基本满意), dissatisfied=1 (不满意) (comma-separated or repeated).
        #[arg(long = "count", value_name = "OPTION=N", value_delimiter = ',')]
        counts: Vec<String>,
        /// What was said, summarised by the office.
        #[arg(long)]
        summary: String,
        /// The summary is confidential (always so for interviews).
        #[arg(long)]
        confidential: bool,
    },
    /// Retract a batch of feedback, with a reason.
    RetractFeedback {
        /// The batch.
        #[arg(long)]
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List an appointee's duty reports.
    Reports {
        /// The appointee.
        #[arg(long)]
        appointee: String,
    },
    /// List the stakeholder feedback about an appointee.
    FeedbackList {
        /// The appointee.
        #[arg(long)]
        appointee: String,
    },
}

/// Runs `oversight hearing …`.
pub fn run(args: HearingArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

fn parse_count(text: &str) -> anyhow::Result<RatingCount> {
    let (option, count) = text
        .split_once('=')
        .with_context(|| format!("--count {text:?} is not OPTION=N, e.g. satisfied=12"))?;
    Ok(RatingCount {
        option: option.trim().to_string(),
        count: count
            .trim()
            .parse()
            .with_context(|| format!("--count {text:?}: {count:?} is not a number"))?,
    })
}

async fn run_async(args: HearingArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let mut hearings = HearingsClient::new(channel.clone());
    match args.command {
        HearingCommand::DutyReport {
            id,
            appointee,
            title,
            document,
            session,
            filed_at,
        } => {
            let reply = hearings
                .file_duty_report(FileDutyReportRequest {
                    command_id: String::new(),
                    duty_report_id: id,
                    appointee_id: appointee.clone(),
                    title,
                    document_sha256: document.digest()?,
                    filed_at: Some(parse_time("--filed-at", filed_at.as_deref())?),
                    session_ref: session,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "filed duty report {} of appointee {appointee}; log position {}",
                    reply.duty_report_id, reply.position
                ),
                json!({ "duty_report_id": reply.duty_report_id, "position": reply.position }),
            );
        }
        HearingCommand::ReviseReport {
            id,
            title,
            document,
            reason,
        } => {
            let reply = hearings
                .revise_duty_report(ReviseDutyReportRequest {
                    command_id: String::new(),
                    duty_report_id: id.clone(),
                    title,
                    document_sha256: document.digest()?,
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!("revised duty report {id}; log position {}", reply.position),
                json!({ "duty_report_id": id, "position": reply.position }),
            );
        }
        HearingCommand::WithdrawReport { id, reason } => {
            let reply = hearings
                .withdraw_duty_report(WithdrawDutyReportRequest {
                    command_id: String::new(),
                    duty_report_id: id.clone(),
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!("withdrew duty report {id}; log position {}", reply.position),
                json!({ "duty_report_id": id, "position": reply.position }),
            );
        }
        HearingCommand::Feedback {
            id,
            appointee,
            session,
            source,
            method,
            participants,
            counts,
            summary,
            confidential,
        } => {
            let counts = counts
                .iter()
                .map(|c| parse_count(c))
                .collect::<anyhow::Result<_>>()?;
            let reply = hearings
                .record_stakeholder_feedback(RecordStakeholderFeedbackRequest {
                    command_id: String::new(),
                    feedback_id: id,
                    appointee_id: appointee.clone(),
                    session_ref: session,
                    source: match source {
                        Source::ServiceRecipients => FeedbackSource::ServiceRecipients,
                        Source::Staff => FeedbackSource::Staff,
                    } as i32,
                    method: match method {
                        Method::Forum => FeedbackMethod::Forum,
                        Method::Survey => FeedbackMethod::Survey,
                        Method::Interview => FeedbackMethod::Interview,
                    } as i32,
                    participants,
                    counts,
                    summary,
                    confidential,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "recorded feedback {} about appointee {appointee}; log position {}",
                    reply.feedback_id, reply.position
                ),
                json!({ "feedback_id": reply.feedback_id, "position": reply.position }),
            );
        }
        HearingCommand::RetractFeedback { id, reason } => {
            let reply = hearings
                .retract_stakeholder_feedback(RetractStakeholderFeedbackRequest {
                    command_id: String::new(),
                    feedback_id: id.clone(),
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!("retracted feedback {id}; log position {}", reply.position),
                json!({ "feedback_id": id, "position": reply.position }),
            );
        }
        HearingCommand::Reports { appointee } => {
            let min_position = fresh_position();
            let mut table = Table::new(&[
                ("duty_report_id", "述职报告"),
                ("appointee_id", "任命人员"),
                ("title", "标题"),
                ("session", "测评"),
                ("filed_at", "提交时间"),
                ("revisions", "修改次数"),
                ("withdrawn", "已撤回"),
                ("document_sha256", "文件摘要"),
            ]);
            let mut page_token = String::new();
            loop {
                let reply = hearings
                    .list_duty_reports(ListDutyReportsRequest {
                        appointee_id: appointee.clone(),
                        page_size: 500,
                        page_token,
                        min_position,
                    })
                    .await?
                    .into_inner();
                for r in &reply.reports {
                    table.row(vec![
                        json!(r.duty_report_id),
                        json!(r.appointee_id),
                        json!(r.title),
                        json!(r.session_ref),
                        json!(timestamp(r.filed_at.as_ref())),
                        json!(r.revisions.len()),
                        json!(r.withdrawn),
                        json!(r.document_sha256),
                    ]);
                }
                if reply.next_page_token.is_empty() {
                    break;
                }
                page_token = reply.next_page_token;
            }
            table.print(format)?;
        }
        HearingCommand::FeedbackList { appointee } => {
            let min_position = fresh_position();
            let mut table = Table::new(&[
                ("feedback_id", "评价"),
                ("session", "测评"),
                ("source", "对象"),
                ("method", "方式"),
                ("participants", "参加人数"),
                ("counts", "评价结果"),
                ("summary", "意见摘要"),
                ("retracted", "已撤回"),
            ]);
            let mut page_token = String::new();
            loop {
                let reply = hearings
                    .list_stakeholder_feedback(ListStakeholderFeedbackRequest {
                        appointee_id: appointee.clone(),
                        page_size: 500,
                        page_token,
                        min_position,
                    })
                    .await?
                    .into_inner();
                for f in &reply.feedback {
                    let counts: Vec<String> = f
                        .counts
                        .iter()
                        .map(|c| format!("{} {}", rating(&c.option), c.count))
                        .collect();
                    let summary = if f.summary_hidden {
                        json!("(confidential 保密)")
                    } else {
                        opt(&f.summary)
                    };
                    table.row(vec![
                        json!(f.feedback_id),
                        json!(f.session_ref),
                        json!(word(f.source().as_str_name(), "FEEDBACK_SOURCE_")),
                        json!(word(f.method().as_str_name(), "FEEDBACK_METHOD_")),
                        json!(f.participants),
                        json!(counts),
                        summary,
                        json!(f.retracted),
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
