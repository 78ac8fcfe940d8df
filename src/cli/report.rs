//! `oversight report …`: scorecards, rankings, the findings board and coverage, printed as
//! tables, JSON or CSV, or written with `--xlsx FILE` as a results sheet with Chinese headers.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use oversight::proto::reports_client::ReportsClient;
use oversight::proto::{
    ComponentScore, CoverageRequest, ExactRate, GetScorecardRequest, RankingsRequest, Scorecard,
};
use serde_json::{Value, json};

use super::appointee::Organ;
use super::client::{ClientArgs, block_on, fresh_position};
use super::finding::{board, board_counts, board_due, print_board};
use super::output::{Format, Table, opt};

/// Flags of `oversight report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Also write the report to this Excel file (.xlsx), with Chinese headers, ready to print.
    #[arg(long, global = true, value_name = "FILE")]
    xlsx: Option<PathBuf>,
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// One appointee's evaluation scores, session by session: the composite and each component
    /// (committee vote, stakeholder feedback, site visits, findings).
    Scorecard {
        /// The appointee.
        #[arg(long)]
        appointee: String,
    },
    /// A committee's appointees ranked by their latest announced score.
    Rankings {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// Only this organ kind: government 政府, court 法院, procuratorate 检察院,
        /// supervisory-commission 监察委员会.
        #[arg(long, value_enum)]
        organ_kind: Option<Organ>,
        /// Rank by this session's scores instead.
        #[arg(long, default_value = "", hide_default_value = true)]
        session: String,
        /// Show the committee's child committees (a city's districts and counties) in aggregate
        /// instead: appointees, how many are scored and their mean score (各区县汇总).
        #[arg(long)]
        districts: bool,
    },
    /// The findings board of a committee: counts per facet and status, overdue and due soon.
    FindingsBoard {
        /// The committee.
        #[arg(long)]
        committee: String,
    },
    /// Serving appointees without a duty report or an announced evaluation this term.
    Coverage {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// Show the committee's child committees (a city's districts and counties) in aggregate
        /// instead: serving appointees, reported, evaluated and gaps per child (各区县汇总).
        #[arg(long)]
        districts: bool,
    },
}

/// Runs `oversight report …`.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

const COMPONENTS: [(&str, &str); 4] = [
    ("committee_vote", "测评得分"),
    ("stakeholder_feedback", "座谈测评"),
    ("site_visits", "三看"),
    ("findings", "问题整改"),
];

/// Decimals of a score as people read it (the server's `display`).
const SCORE_DECIMALS: usize = 2;

/// A score as a number for the score columns (the server's rounded `display`, so a table, a
/// CSV and a sheet show what the server showed); `null`, an empty cell, when there is none.
fn number(rate: Option<&ExactRate>) -> Value {
    rate.and_then(|r| r.display.parse::<f64>().ok())
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Why a scorecard row's empty cells are empty: each component without a score, with the
/// server's reason (suppressed, or no data in the period).
fn scorecard_notes(components: &[ComponentScore]) -> Value {
    let notes: Vec<String> = COMPONENTS
        .iter()
        .filter_map(|(name, zh)| {
            let c = components.iter().find(|c| c.component == *name)?;
            (c.score.is_none()).then(|| {
                let why = if c.note.is_empty() {
                    "no score"
                } else {
                    c.note.as_str()
                };
                format!("{zh} {}: {why}", name.replace('_', " "))
            })
        })
        .collect();
    if notes.is_empty() {
        Value::Null
    } else {
        json!(notes.join("; "))
    }
}

fn scorecard_table(card: &Scorecard) -> Table {
    let mut columns = vec![
        ("session_id", "测评"),
        ("date", "日期"),
        ("announced", "已公布"),
        ("composite", "综合得分"),
    ];
    columns.extend(COMPONENTS);
    columns.push(("policy_version", "办法版本"));
    columns.push(("notes", "说明"));
    let mut scores: Vec<&str> = vec!["composite"];
    scores.extend(COMPONENTS.iter().map(|(name, _)| *name));
    let mut table = Table::new(&columns).decimals(&scores, SCORE_DECIMALS);
    for s in &card.sessions {
        let mut row = vec![
            json!(s.session_id),
            json!(s.date),
            json!(s.announced),
            number(s.score.as_ref()),
        ];
        for (name, _) in COMPONENTS {
            row.push(number(
                s.components
                    .iter()
                    .find(|c| c.component == name)
                    .and_then(|c| c.score.as_ref()),
            ));
        }
        row.push(json!(s.provenance.as_ref().map_or(0, |p| p.policy_version)));
        row.push(scorecard_notes(&s.components));
        table.row(row);
    }
    table
}

fn scorecard_json(card: &Scorecard) -> Value {
    let rate = |r: Option<&ExactRate>| {
        r.map(|r| {
            json!({ "numerator": r.numerator, "denominator": r.denominator,
                          "display": r.display })
        })
    };
    let sessions: Vec<_> = card
        .sessions
        .iter()
        .map(|s| {
            let components: Vec<_> = s
                .components
                .iter()
                .map(|c| {
                    json!({ "component": c.component, "weight": c.weight,
                            "effective_weight": rate(c.effective_weight.as_ref()),
                            "score": rate(c.score.as_ref()),
                            "contribution": rate(c.contribution.as_ref()),
                            "suppressed": c.suppressed, "basis": c.basis,
                            "note": super::output::opt(&c.note) })
                })
                .collect();
            let provenance = s.provenance.clone().unwrap_or_default();
            json!({
                "session_id": s.session_id,
                "date": s.date,
                "announced": s.announced,
                "score": rate(s.score.as_ref()),
                "components": components,
                "period_start": s.period_start,
                "provenance": {
                    "policy_version": provenance.policy_version,
                    "scheduled_position": provenance.scheduled_position,
                    "tallied_position": provenance.tallied_position,
                    "announced_position": provenance.announced_position,
                    "visit_positions": provenance.visit_positions,
                    "finding_positions": provenance.finding_positions,
                    "feedback_positions": provenance.feedback_positions,
                    "suppression_threshold": provenance.suppression_threshold,
                },
            })
        })
        .collect();
    json!({ "appointee_id": card.appointee_id, "committee_id": card.committee_id,
            "sessions": sessions })
}

fn write(table: &Table, xlsx: Option<&PathBuf>, title: &str) -> anyhow::Result<()> {
    if let Some(path) = xlsx {
        table.write_xlsx(path, title)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

async fn run_async(args: ReportArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let xlsx = args.xlsx.as_ref();
    let mut reports = ReportsClient::new(channel.clone());
    let min_position = fresh_position();
    match args.command {
        ReportCommand::Scorecard { appointee } => {
            let card = reports
                .get_scorecard(GetScorecardRequest {
                    appointee_id: appointee,
                    min_position,
                })
                .await?
                .into_inner();
            let table = scorecard_table(&card);
            match format {
                Format::Json => println!("{}", scorecard_json(&card)),
                Format::Table => {
                    println!(
                        "scorecard 测评得分 of appointee {} (committee {})",
                        card.appointee_id, card.committee_id
                    );
                    table.print(format)?;
                }
                Format::Csv => table.print(format)?,
            }
            write(
                &table,
                xlsx,
                &format!("履职测评得分 {} ({})", card.appointee_id, card.committee_id),
            )?;
        }
        ReportCommand::Rankings {
            committee,
            organ_kind,
            session,
            districts,
        } => {
            let organ_kind = organ_kind
                .map(|o| match o {
                    Organ::Government => "government",
                    Organ::Court => "court",
                    Organ::Procuratorate => "procuratorate",
                    Organ::SupervisoryCommission => "supervisory_commission",
                })
                .unwrap_or_default()
                .to_string();
            let mut table = Table::new(&[
                ("rank", "排名"),
                ("appointee_id", "任命人员"),
                ("name", "姓名"),
                ("session_id", "测评"),
                ("score", "综合得分"),
                ("note", "说明"),
            ])
            .decimals(&["score"], SCORE_DECIMALS);
            let mut page_token = String::new();
            loop {
                let reply = reports
                    .rankings(RankingsRequest {
                        committee_id: committee.clone(),
                        organ_kind: organ_kind.clone(),
                        session_id: session.clone(),
                        page_size: 500,
                        page_token,
                        min_position,
                        child_aggregates: districts,
                    })
                    .await?
                    .into_inner();
                if districts {
                    let mut children = Table::new(&[
                        ("committee_id", "委员会"),
                        ("name", "名称"),
                        ("appointees", "任命人员数"),
                        ("scored", "已测评"),
                        ("mean_score", "平均得分"),
                        ("note", "说明"),
                    ])
                    .decimals(&["mean_score"], SCORE_DECIMALS);
                    for c in &reply.children {
                        let note = if c.suppressed {
                            json!(format!(
                                "suppressed 人数不足: fewer than {} appointees scored",
                                c.suppression_threshold
                            ))
                        } else if c.mean_score.is_none() {
                            json!("no announced score 无已公布得分")
                        } else {
                            Value::Null
                        };
                        children.row(vec![
                            json!(c.committee_id),
                            json!(c.name),
                            json!(c.appointees),
                            json!(c.scored),
                            number(c.mean_score.as_ref()),
                            note,
                        ]);
                    }
                    children.print(format)?;
                    write(&children, xlsx, &format!("各区县测评汇总 {committee}"))?;
                    return Ok(());
                }
                for e in &reply.entries {
                    let note = if !e.latest_session_id.is_empty() {
                        json!(format!(
                            "latest session {} has no publishable score 最近一次测评无可公布得分",
                            e.latest_session_id
                        ))
                    } else if e.session_id.is_empty() {
                        json!("no announced session 尚无已公布测评")
                    } else if e.score.is_none() {
                        json!("no publishable score 无可公布得分")
                    } else {
                        Value::Null
                    };
                    table.row(vec![
                        json!(e.rank),
                        json!(e.appointee_id),
                        json!(e.name),
                        opt(&e.session_id),
                        number(e.score.as_ref()),
                        note,
                    ]);
                }
                if reply.next_page_token.is_empty() {
                    break;
                }
                page_token = reply.next_page_token;
            }
            table.print(format)?;
            write(&table, xlsx, &format!("履职测评排名 {committee}"))?;
        }
        ReportCommand::FindingsBoard { committee } => {
            let scope = oversight::proto::FindingScope {
                scope: Some(oversight::proto::finding_scope::Scope::WholeCommittee(true)),
            };
            let board = board(&channel, committee.clone(), scope).await?;
            print_board(&board, format)?;
            if let Some(path) = xlsx {
                let mut counts = board_counts(&board);
                for row in board_due(&board).rows() {
                    counts.row(vec![
                        row[0].clone(),
                        json!(format!(
                            "{} {} {}",
                            super::output::display(&row[1]),
                            super::output::display(&row[2]),
                            super::output::display(&row[4])
                        )),
                        row[5].clone(),
                    ]);
                }
                counts.write_xlsx(
                    path,
                    &format!("问题清单办理情况 {committee}（截至 {}）", board.as_of),
                )?;
                eprintln!("wrote {}", path.display());
            }
        }
        ReportCommand::Coverage {
            committee,
            districts,
        } => {
            let reply = reports
                .coverage(CoverageRequest {
                    committee_id: committee.clone(),
                    min_position,
                    child_aggregates: districts,
                })
                .await?
                .into_inner();
            if districts {
                let mut children = Table::new(&[
                    ("committee_id", "委员会"),
                    ("name", "名称"),
                    ("serving", "在任人数"),
                    ("with_duty_report", "已述职"),
                    ("evaluated", "已测评"),
                    ("gaps", "未覆盖"),
                ]);
                for c in &reply.children {
                    children.row(vec![
                        json!(c.committee_id),
                        json!(c.name),
                        json!(c.serving),
                        json!(c.with_duty_report),
                        json!(c.evaluated),
                        json!(c.gaps),
                    ]);
                }
                children.print(format)?;
                write(
                    &children,
                    xlsx,
                    &format!("各区县述职测评覆盖情况 {committee}"),
                )?;
                return Ok(());
            }
            let mut table = Table::new(&[
                ("appointee_id", "任命人员"),
                ("name", "姓名"),
                ("has_duty_report", "已述职"),
                ("evaluated", "已测评"),
            ]);
            for g in &reply.gaps {
                table.row(vec![
                    json!(g.appointee_id),
                    json!(g.name),
                    json!(g.has_duty_report),
                    json!(g.evaluated),
                ]);
            }
            if format == Format::Table {
                println!(
                    "{} of {} serving appointees not yet fully covered 尚未述职或测评",
                    reply.gaps.len(),
                    reply.serving
                );
            }
            table.print(format)?;
            write(&table, xlsx, &format!("述职测评覆盖情况 {committee}"))?;
        }
    }
    Ok(())
}
