//! `oversight session …`: evaluation sessions (履职测评) — the scoring policy, scheduling, roll
//! call, secret ballots, close, tally, announcement, corrections, recount and receipts.

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use oversight::proto::evaluation_client::EvaluationClient;
use oversight::proto::{
    AdoptScoringPolicyRequest, AnnouncementTiming, ApproveCorrectionRequest, BlankHandling,
    CastBallotRequest, CheckReceiptRequest, Constituency, CorrectionKind, ExactRate,
    GetScoringPolicyRequest, GetSessionResultRequest, ListSessionsRequest, MissingComponent,
    ProposeCorrectionRequest, RecordRollCallRequest, RecountRequest, ScheduleSessionRequest,
    SessionRef, SessionResult, SubjectResult, WatchAnnouncementsRequest,
};
use serde_json::{Value, json};

use super::client::{ClientArgs, block_on, fresh_position};
use super::output::{Format, Table, done, opt, record, word};
use super::session_policy::ScaleArgs;

/// Flags of `oversight session`.
#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: SessionCommand,
}

/// When results are announced.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Announce {
    /// 当场公布 on the spot, with the tally
    AtOnce,
    /// 由办事机构公布 held until the clerk announces
    ByClerk,
}

/// What a blank on a ballot means.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Blank {
    /// 无效 invalid
    Invalid,
    /// 弃权 abstention
    Abstain,
}

/// What a missing score component does.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Missing {
    /// 按比例折算 the other weights are scaled up to 100
    Renormalise,
    /// 记零分 the component scores 0
    Zero,
}

/// Who votes in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Voters {
    /// Standing-committee members (常委会组成人员).
    Members,
    /// People's deputies of the committee's deputy groups (人大代表).
    Deputies,
}

/// A correction of a result.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Correction {
    /// 重新计票 replace the tally with a recount of the published ballots
    Retally,
    /// 宣布本轮无效 annul the round; the session returns to roll call
    AnnulRound,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Show a committee's current scoring policy (version 0 is the shipped default).
    Show {
        /// The committee.
        #[arg(long)]
        committee: String,
    },
    /// Adopt a new version of the scoring policy: the current one with the given changes
    /// (chair only). Sessions already scheduled keep the version they froze.
    Adopt {
        /// The committee.
        #[arg(long)]
        committee: String,
        /// Composite weights in percent: committee vote, stakeholder feedback, site visits,
        /// findings (sum 100), e.g. 50,20,20,10.
        #[arg(long, value_name = "V,F,S,P", value_delimiter = ',', num_args = 4)]
        weights: Option<Vec<u32>>,
        /// When results are announced: at-once 当场公布, by-clerk 由办事机构公布.
        #[arg(long, value_enum)]
        announce: Option<Announce>,
        /// Quorum share of the entitled members, e.g. 1/2 (more than half must be present).
        #[arg(long, value_name = "N/D")]
        quorum: Option<String>,
        /// Whether exactly the quorum share is enough.
        #[arg(long, value_name = "BOOL")]
        quorum_inclusive: Option<bool>,
        /// What a blank means: invalid 无效, abstain 弃权. Spoiled marks and codes not on the
        /// scale are always invalid.
        #[arg(long, value_enum)]
        blank: Option<Blank>,
        /// What a component without data does: renormalise 折算, zero 记零分.
        #[arg(long, value_enum)]
        missing: Option<Missing>,
        /// Breakdowns from fewer people than this are suppressed.
        #[arg(long, value_name = "N")]
        suppression_threshold: Option<u32>,
        #[command(flatten)]
        scale: ScaleArgs,
    },
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// The committee's scoring policy (测评办法): show or adopt.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Schedule a session: the roster is the committee's members on the meeting date (or,
    /// with --constituency deputies, the current deputies of its deputy groups), and the
    /// committee's current policy is frozen for it (clerk).
    Schedule {
        /// The committee holding the session.
        #[arg(long)]
        committee: String,
        /// The session's id, e.g. s2026 (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The meeting, e.g. 第十六届常委会第八次会议.
        #[arg(long)]
        meeting: String,
        /// The meeting date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// The appointees rated, in ballot order (comma-separated or repeated).
        #[arg(long = "subject", value_delimiter = ',', required = true)]
        subjects: Vec<String>,
        /// Who votes: members 常委会组成人员 (default) or deputies 人大代表.
        #[arg(long, value_enum, default_value = "members")]
        constituency: Voters,
        /// With --constituency deputies: the deputy groups whose deputies vote (default: every
        /// deputy group of the committee; comma-separated or repeated).
        #[arg(long = "deputy-group", value_delimiter = ',')]
        deputy_groups: Vec<String>,
    },
    /// Record who is present (点名); repeatable until voting opens (clerk).
    RollCall {
        /// The session.
        #[arg(long)]
        session: String,
        /// The members present (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', required = true)]
        present: Vec<String>,
    },
    /// Open a voting round; refused below the quorum (clerk).
    Open {
        /// The session.
        #[arg(long)]
        session: String,
    },
    /// Cast your own secret ballot (committee member). Prints only a receipt.
    Vote {
        /// The session.
        #[arg(long)]
        session: String,
        /// A rating, APPOINTEE=OPTION, e.g. a1=satisfied (满意), a2=basically_satisfied
        /// (基本满意), a3=dissatisfied (不满意); repeat for each appointee. An appointee left
        /// out is blank.
        #[arg(
            long = "choice",
            value_name = "APPOINTEE=OPTION",
            value_delimiter = ','
        )]
        choices: Vec<String>,
    },
    /// Close the round: the sealed ballots are published, shuffled and without voters (clerk).
    Close {
        /// The session.
        #[arg(long)]
        session: String,
    },
    /// Count the published ballots under the frozen policy (clerk). With the default policy
    /// the result is announced at once.
    Tally {
        /// The session.
        #[arg(long)]
        session: String,
    },
    /// Announce a result held under embargo (clerk).
    Announce {
        /// The session.
        #[arg(long)]
        session: String,
    },
    /// Propose a correction of the current round with a reason (clerk or chair); you are its
    /// first approver. Nothing changes until a different clerk or chair approves it.
    ProposeCorrection {
        /// The session.
        #[arg(long)]
        session: String,
        /// The round corrected (the current one).
        #[arg(long)]
        round: u32,
        /// What to do: retally 重新计票, annul-round 宣布本轮无效.
        #[arg(long, value_enum)]
        kind: Correction,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Approve a pending correction as its second approver (a clerk or chair other than the
    /// proposer); the correction takes effect at once.
    ApproveCorrection {
        /// The session.
        #[arg(long)]
        session: String,
        /// The proposal's number, as printed by propose-correction.
        #[arg(long)]
        proposal: u32,
        /// The round you expect the proposal to correct.
        #[arg(long)]
        round: u32,
        /// The correction you expect the proposal to make.
        #[arg(long, value_enum)]
        kind: Correction,
    },
    /// Recount from the published ballots in the log and compare with the recorded tally;
    /// exits non-zero when they differ.
    Recount {
        /// The session.
        #[arg(long)]
        session: String,
    },
    /// Check that your receipt is among the published ballots; exits 0 when it is and 1 when
    /// it is not (the answer is printed either way), so a script can rely on the exit code.
    Receipt {
        /// The session.
        #[arg(long)]
        session: String,
        /// The receipt printed by `session vote`.
        #[arg(long)]
        ballot: String,
    },
    /// A session's result: counts per option, satisfaction rate and grade per appointee.
    Result {
        /// The session.
        #[arg(long)]
        session: String,
    },
    /// List sessions.
    List {
        /// Only this committee's sessions.
        #[arg(long, default_value = "", hide_default_value = true)]
        committee: String,
    },
    /// Print each result the moment it is announced, until interrupted.
    Watch {
        /// Only this committee's sessions.
        #[arg(long, default_value = "", hide_default_value = true)]
        committee: String,
        /// Start from this log position (0: only announcements from now on). To resume, pass
        /// the last announced_position printed + 1.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

/// Runs `oversight session …`.
pub fn run(args: SessionArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

fn rate(rate: Option<&ExactRate>) -> Value {
    rate.map_or(Value::Null, |r| json!(r.display))
}

fn grade(subject: &SubjectResult) -> String {
    if subject.grade_label_zh.is_empty() {
        String::new()
    } else {
        format!("{} {}", subject.grade_label_zh, subject.grade_label_en)
    }
}

fn consequence(subject: &SubjectResult) -> String {
    word(subject.consequence().as_str_name(), "ADVISORY_CONSEQUENCE_").replace('_', " ")
}

/// The result per subject as a table: one column per option of the scale.
pub fn result_table(result: &SessionResult) -> Table {
    let mut columns = vec![("appointee_id".to_string(), "任命人员".to_string())];
    if let Some(first) = result.subjects.first() {
        for option in &first.counts {
            columns.push((option.code.clone(), option.label_zh.clone()));
        }
    }
    for (key, zh) in [
        ("cast", "投票数"),
        ("valid", "有效票"),
        ("satisfaction_rate", "满意率"),
        ("weighted_score", "加权得分"),
        ("grade", "测评等次"),
        ("consequence", "处理意见"),
    ] {
        columns.push((key.to_string(), zh.to_string()));
    }
    let mut table = Table::with_columns(columns);
    for s in &result.subjects {
        let mut row = vec![json!(s.appointee_id)];
        row.extend(s.counts.iter().map(|c| json!(c.count)));
        row.extend([
            json!(s.cast),
            json!(s.valid),
            rate(s.satisfaction_rate.as_ref()),
            rate(s.weighted_score.as_ref()),
            json!(grade(s)),
            json!(consequence(s)),
        ]);
        table.row(row);
    }
    table
}

fn result_json(result: &SessionResult) -> Value {
    let subjects: Vec<_> = result
        .subjects
        .iter()
        .map(|s| {
            let counts: serde_json::Map<String, Value> = s
                .counts
                .iter()
                .map(|c| (c.code.clone(), json!(c.count)))
                .collect();
            json!({
                "appointee_id": s.appointee_id,
                "counts": counts,
                "cast": s.cast,
                "valid": s.valid,
                "invalid": s.invalid,
                "abstain": s.abstain,
                "dont_know": s.dont_know,
                "satisfaction_rate": s.satisfaction_rate.as_ref().map(|r| json!({
                    "numerator": r.numerator, "denominator": r.denominator, "display": r.display })),
                "weighted_score": rate(s.weighted_score.as_ref()),
                "grade": word(s.grade().as_str_name(), "EVALUATION_GRADE_"),
                "grade_label_zh": s.grade_label_zh,
                "grade_label_en": s.grade_label_en,
                "consequence": consequence(s),
            })
        })
        .collect();
    json!({
        "session_id": result.session_id,
        "committee_id": result.committee_id,
        "meeting_name": result.meeting_name,
        "date": result.date,
        "round": result.round,
        "policy_version": result.policy_version,
        "membership": result.membership,
        "present": result.present,
        "announced": result.announced,
        "corrected": result.corrected,
        "ballot_set_hash": result.ballot_set_hash,
        "tallied_position": result.tallied_position,
        "announced_position": result.announced_position,
        "subjects": subjects,
    })
}

fn print_result(result: &SessionResult, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            println!("{}", result_json(result));
            Ok(())
        }
        Format::Csv => result_table(result).print(format),
        Format::Table => {
            let state = if result.announced {
                "announced 已公布"
            } else {
                "under embargo 未公布"
            };
            println!(
                "{} {} {} — round 第{}轮, {state}; present 出席 {}/{}; policy version {}",
                result.session_id,
                result.meeting_name,
                result.date,
                result.round,
                result.present,
                result.membership,
                result.policy_version
            );
            result_table(result).print(format)?;
            println!(
                "ballot set SHA-256 {}; tally at log position {}{}",
                result.ballot_set_hash,
                result.tallied_position,
                if result.announced_position > 0 {
                    format!(", announced at {}", result.announced_position)
                } else {
                    String::new()
                }
            );
            Ok(())
        }
    }
}

fn parse_choice(text: &str) -> anyhow::Result<(String, String)> {
    let (subject, option) = text
        .split_once('=')
        .with_context(|| format!("--choice {text:?} is not APPOINTEE=OPTION, e.g. a1=satisfied"))?;
    Ok((subject.trim().to_string(), option.trim().to_string()))
}

async fn run_async(args: SessionArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let mut evaluation = EvaluationClient::new(channel.clone());
    let session_done = |what: &str, session: &str, position: u64| {
        done(
            format,
            format!("{what} session {session}; log position {position}"),
            json!({ "session_id": session, "position": position }),
        );
    };
    match args.command {
        SessionCommand::Policy { command } => match command {
            PolicyCommand::Show { committee } => {
                let min_position = fresh_position();
                let reply = evaluation
                    .get_scoring_policy(GetScoringPolicyRequest {
                        committee_id: committee,
                        min_position,
                    })
                    .await?
                    .into_inner();
                let p = reply.policy.unwrap_or_default();
                let scale: Vec<String> = p
                    .scale
                    .iter()
                    .map(|o| {
                        format!(
                            "{} {} ({}): {}{}",
                            o.label_zh,
                            o.label_en,
                            o.code,
                            o.weight,
                            if o.dont_know { ", don't know" } else { "" }
                        )
                    })
                    .collect();
                record(
                    format,
                    &[
                        (("committee_id", "委员会"), json!(reply.committee_id)),
                        (("version", "版本"), json!(reply.version)),
                        (("scale", "评价档次"), json!(scale)),
                        (
                            ("blank", "空白票"),
                            json!(word(p.blank().as_str_name(), "BLANK_HANDLING_")),
                        ),
                        (
                            ("quorum", "法定人数"),
                            json!(format!(
                                "{} {}/{}",
                                if p.quorum_inclusive { ">=" } else { ">" },
                                p.quorum_numerator,
                                p.quorum_denominator
                            )),
                        ),
                        (
                            ("weights", "权重"),
                            json!(format!(
                                "vote 测评 {}, feedback 座谈 {}, visits 三看 {}, findings 问题 {}",
                                p.weight_committee_vote,
                                p.weight_stakeholder_feedback,
                                p.weight_site_visits,
                                p.weight_findings
                            )),
                        ),
                        (
                            ("missing", "缺项"),
                            json!(word(
                                p.missing_component().as_str_name(),
                                "MISSING_COMPONENT_"
                            )),
                        ),
                        (
                            ("suppression_threshold", "最少人数"),
                            json!(p.suppression_threshold),
                        ),
                        (
                            ("announcement", "公布"),
                            json!(word(p.announcement().as_str_name(), "ANNOUNCEMENT_TIMING_")),
                        ),
                    ],
                )?;
            }
            PolicyCommand::Adopt {
                committee,
                weights,
                announce,
                quorum,
                quorum_inclusive,
                blank,
                missing,
                suppression_threshold,
                scale,
            } => {
                let current = evaluation
                    .get_scoring_policy(GetScoringPolicyRequest {
                        committee_id: committee.clone(),
                        min_position: fresh_position(),
                    })
                    .await?
                    .into_inner();
                let mut policy = current.policy.unwrap_or_default();
                if let Some(w) = weights {
                    if let [vote, feedback, visits, findings] = w[..] {
                        policy.weight_committee_vote = vote;
                        policy.weight_stakeholder_feedback = feedback;
                        policy.weight_site_visits = visits;
                        policy.weight_findings = findings;
                    } else {
                        bail!("--weights takes four numbers, e.g. 50,20,20,10");
                    }
                }
                if let Some(a) = announce {
                    policy.announcement = match a {
                        Announce::AtOnce => AnnouncementTiming::AtOnce,
                        Announce::ByClerk => AnnouncementTiming::ByClerk,
                    } as i32;
                }
                if let Some(q) = quorum {
                    let (n, d) = q
                        .split_once('/')
                        .with_context(|| format!("--quorum {q:?} is not N/D, e.g. 1/2"))?;
                    policy.quorum_numerator = n
                        .trim()
                        .parse()
                        .with_context(|| format!("--quorum {q:?}: {n:?} is not a number"))?;
                    policy.quorum_denominator = d
                        .trim()
                        .parse()
                        .with_context(|| format!("--quorum {q:?}: {d:?} is not a number"))?;
                }
                if let Some(inclusive) = quorum_inclusive {
                    policy.quorum_inclusive = inclusive;
                }
                if let Some(b) = blank {
                    policy.blank = match b {
                        Blank::Invalid => BlankHandling::Invalid,
                        Blank::Abstain => BlankHandling::Abstain,
                    } as i32;
                }
                if let Some(m) = missing {
                    policy.missing_component = match m {
                        Missing::Renormalise => MissingComponent::Renormalise,
                        Missing::Zero => MissingComponent::Zero,
                    } as i32;
                }
                if let Some(t) = suppression_threshold {
                    policy.suppression_threshold = t;
                }
                scale.apply(&mut policy)?;
                let reply = evaluation
                    .adopt_scoring_policy(AdoptScoringPolicyRequest {
                        command_id: String::new(),
                        committee_id: committee.clone(),
                        policy: Some(policy),
                    })
                    .await?
                    .into_inner();
                done(
                    format,
                    format!(
                        "committee {committee} adopted scoring policy version {}; log position {}",
                        reply.version, reply.position
                    ),
                    json!({ "committee_id": committee, "version": reply.version,
                            "position": reply.position }),
                );
            }
        },
        SessionCommand::Schedule {
            committee,
            id,
            meeting,
            date,
            subjects,
            constituency,
            deputy_groups,
        } => {
            let reply = evaluation
                .schedule_session(ScheduleSessionRequest {
                    command_id: String::new(),
                    committee_id: committee,
                    session_id: id,
                    meeting_name: meeting,
                    date,
                    subjects,
                    constituency: match constituency {
                        Voters::Members => Constituency::CommitteeMembers,
                        Voters::Deputies => Constituency::Deputies,
                    } as i32,
                    deputy_groups,
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "scheduled session {}: {} voters entitled, policy version {}; log position {}",
                    reply.session_id, reply.entitled, reply.policy_version, reply.position
                ),
                json!({ "session_id": reply.session_id, "entitled": reply.entitled,
                        "policy_version": reply.policy_version, "position": reply.position }),
            );
        }
        SessionCommand::RollCall { session, present } => {
            let count = present.len();
            let reply = evaluation
                .record_roll_call(RecordRollCallRequest {
                    command_id: String::new(),
                    session_id: session.clone(),
                    present,
                })
                .await?
                .into_inner();
            session_done(
                &format!("recorded {count} members present at"),
                &session,
                reply.position,
            );
        }
        SessionCommand::Open { session } => {
            let reply = evaluation
                .open_voting(SessionRef {
                    command_id: String::new(),
                    session_id: session.clone(),
                })
                .await?
                .into_inner();
            session_done("opened voting in", &session, reply.position);
        }
        SessionCommand::Vote { session, choices } => {
            let choices = choices
                .iter()
                .map(|c| parse_choice(c))
                .collect::<anyhow::Result<_>>()?;
            let reply = evaluation
                .cast_ballot(CastBallotRequest {
                    command_id: String::new(),
                    session_id: session.clone(),
                    choices,
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "ballot cast in session {session}, round {}; receipt {} (keep it to check \
                     the published ballots); log position {}",
                    reply.round, reply.ballot_id, reply.position
                ),
                json!({ "session_id": session, "round": reply.round,
                        "receipt": reply.ballot_id, "position": reply.position }),
            );
        }
        SessionCommand::Close { session } => {
            let reply = evaluation
                .close_voting(SessionRef {
                    command_id: String::new(),
                    session_id: session.clone(),
                })
                .await?
                .into_inner();
            let sentence = if reply.voided {
                format!(
                    "round {} of session {session} is VOID ({}); hold a new roll call; log position {}",
                    reply.round, reply.void_reason, reply.position
                )
            } else {
                format!(
                    "closed round {} of session {session}: {} ballots published; log position {}",
                    reply.round, reply.ballots, reply.position
                )
            };
            done(
                format,
                sentence,
                json!({ "session_id": session, "round": reply.round, "ballots": reply.ballots,
                        "voided": reply.voided, "void_reason": opt(&reply.void_reason),
                        "position": reply.position }),
            );
        }
        SessionCommand::Tally { session } => {
            let reply = evaluation
                .tally(SessionRef {
                    command_id: String::new(),
                    session_id: session.clone(),
                })
                .await?
                .into_inner();
            session_done("tallied", &session, reply.position);
        }
        SessionCommand::Announce { session } => {
            let reply = evaluation
                .announce(SessionRef {
                    command_id: String::new(),
                    session_id: session.clone(),
                })
                .await?
                .into_inner();
            session_done("announced the result of", &session, reply.position);
        }
        SessionCommand::ProposeCorrection {
            session,
            round,
            kind,
            reason,
        } => {
            let reply = evaluation
                .propose_correction(ProposeCorrectionRequest {
                    command_id: String::new(),
                    session_id: session.clone(),
                    round,
                    kind: correction_kind(kind) as i32,
                    reason,
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "proposed correction {} of session {session}; it takes effect when a second clerk or chair approves it; log position {}",
                    reply.proposal, reply.position
                ),
                json!({ "session_id": session, "proposal": reply.proposal,
                        "position": reply.position }),
            );
        }
        SessionCommand::ApproveCorrection {
            session,
            proposal,
            round,
            kind,
        } => {
            let reply = evaluation
                .approve_correction(ApproveCorrectionRequest {
                    command_id: String::new(),
                    session_id: session.clone(),
                    proposal,
                    round,
                    kind: correction_kind(kind) as i32,
                })
                .await?
                .into_inner();
            session_done("approved the correction of", &session, reply.position);
        }
        SessionCommand::Recount { session } => {
            let reply = evaluation
                .recount(RecountRequest {
                    session_id: session.clone(),
                })
                .await?
                .into_inner();
            if format == Format::Json {
                println!(
                    "{}",
                    json!({ "session_id": session, "round": reply.round, "matches": reply.matches,
                            "recorded_ballot_set_hash": reply.recorded_ballot_set_hash,
                            "recomputed_ballot_set_hash": reply.recomputed_ballot_set_hash })
                );
            } else {
                let verdict = if reply.matches {
                    "MATCHES 一致"
                } else {
                    "DIFFERS 不一致"
                };
                println!(
                    "recount of session {session}, round {}: {verdict}\n  recorded ballot set   {}\n  recomputed ballot set {}",
                    reply.round, reply.recorded_ballot_set_hash, reply.recomputed_ballot_set_hash
                );
            }
            if !reply.matches {
                bail!("the recount of session {session} differs from the recorded tally");
            }
        }
        SessionCommand::Receipt { session, ballot } => {
            let reply = evaluation
                .check_receipt(CheckReceiptRequest {
                    session_id: session.clone(),
                    ballot_id: ballot.clone(),
                })
                .await?
                .into_inner();
            done(
                format,
                if reply.published {
                    format!(
                        "receipt {ballot} IS among the {} ballots published in round {} of session {session}",
                        reply.published_ballots, reply.round
                    )
                } else {
                    format!(
                        "receipt {ballot} is NOT among the {} ballots published in round {} of session {session}",
                        reply.published_ballots, reply.round
                    )
                },
                json!({ "session_id": session, "receipt": ballot, "published": reply.published,
                        "round": reply.round, "published_ballots": reply.published_ballots,
                        "commitment": reply.commitment }),
            );
            if !reply.published {
                bail!("receipt {ballot} is not among the published ballots of session {session}");
            }
        }
        SessionCommand::Result { session } => {
            let min_position = fresh_position();
            let result = evaluation
                .get_session_result(GetSessionResultRequest {
                    session_id: session,
                    min_position,
                })
                .await?
                .into_inner();
            print_result(&result, format)?;
        }
        SessionCommand::List { committee } => {
            let min_position = fresh_position();
            let mut table = Table::new(&[
                ("session_id", "测评"),
                ("committee_id", "委员会"),
                ("meeting", "会议"),
                ("date", "日期"),
                ("phase", "阶段"),
                ("round", "轮次"),
                ("entitled", "应到"),
                ("present", "实到"),
                ("voted", "已投票"),
                ("subjects", "测评对象"),
                ("announced_position", "公布位置"),
            ]);
            let mut page_token = String::new();
            loop {
                let reply = evaluation
                    .list_sessions(ListSessionsRequest {
                        committee_id: committee.clone(),
                        page_size: 500,
                        page_token,
                        min_position,
                    })
                    .await?
                    .into_inner();
                for s in &reply.sessions {
                    table.row(vec![
                        json!(s.session_id),
                        json!(s.committee_id),
                        json!(s.meeting_name),
                        json!(s.date),
                        json!(word(s.phase().as_str_name(), "SESSION_PHASE_")),
                        json!(s.round),
                        json!(s.entitled),
                        json!(s.present),
                        json!(s.participants),
                        json!(s.subjects),
                        if s.announced_position > 0 {
                            json!(s.announced_position)
                        } else {
                            Value::Null
                        },
                    ]);
                }
                if reply.next_page_token.is_empty() {
                    break;
                }
                page_token = reply.next_page_token;
            }
            table.print(format)?;
        }
        SessionCommand::Watch { committee, from } => {
            let mut stream = evaluation
                .watch_announcements(WatchAnnouncementsRequest {
                    from_position: from,
                    committee_id: committee,
                })
                .await?
                .into_inner();
            if format == Format::Table {
                eprintln!("-- waiting for announcements (Ctrl-C to stop) --");
            }
            while let Some(announcement) = stream.message().await? {
                if let Some(result) = announcement.result {
                    print_result(&result, format)?;
                }
            }
        }
    }
    Ok(())
}

fn correction_kind(kind: Correction) -> CorrectionKind {
    match kind {
        Correction::Retally => CorrectionKind::Retally,
        Correction::AnnulRound => CorrectionKind::AnnulRound,
    }
}
