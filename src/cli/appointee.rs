//! `oversight appointee …`: the officials a committee appoints and their terms (Registry).

use clap::{Args, Subcommand, ValueEnum};
use oversight::proto::registry_client::RegistryClient;
use oversight::proto::{
    AppointeeStatus, ChangeAppointeePostRequest, EndAppointeeTermRequest, GetAppointeeRequest,
    ListAppointeesRequest, OrganKind, RegisterAppointeeRequest, TermEndKind,
};
use serde_json::json;

use super::client::{ClientArgs, block_on, fresh_position};
use super::output::{Format, Table, done, opt, record, word};

/// Flags of `oversight appointee`.
#[derive(Debug, Args)]
pub struct AppointeeArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: AppointeeCommand,
}

/// The kind of state organ.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Organ {
    /// 人民政府 government and its departments
    Government,
    /// 人民法院 court
    Court,
    /// 人民检察院 procuratorate
    Procuratorate,
    /// 监察委员会 supervisory commission
    SupervisoryCommission,
}

impl From<Organ> for OrganKind {
    fn from(organ: Organ) -> Self {
        match organ {
            Organ::Government => OrganKind::Government,
            Organ::Court => OrganKind::Court,
            Organ::Procuratorate => OrganKind::Procuratorate,
            Organ::SupervisoryCommission => OrganKind::SupervisoryCommission,
        }
    }
}

/// How a term ended.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EndKind {
    /// 免职/撤职 removal
    Removal,
    /// 辞职 resignation
    Resignation,
    /// 调任 transfer
    Transfer,
    /// 任期届满 end of term
    TermEnd,
}

/// Serving or not.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    /// 在任 in office
    Serving,
    /// 离任 term ended
    Ended,
}

#[derive(Debug, Subcommand)]
enum AppointeeCommand {
    /// Record an appointment made by a committee.
    Register {
        /// The appointee's id, e.g. a1 (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The appointing committee.
        #[arg(long)]
        committee: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Post, e.g. 区法院副院长.
        #[arg(long)]
        post: String,
        /// Kind of organ: government 政府, court 法院, procuratorate 检察院,
        /// supervisory-commission 监察委员会.
        #[arg(long, value_enum)]
        organ_kind: Organ,
        /// Name of the organ, e.g. 香坊区人民法院.
        #[arg(long)]
        organ: String,
        /// Day the appointment took effect, YYYY-MM-DD.
        #[arg(long)]
        appointed_on: String,
        /// The meeting that appointed them, e.g. 区十六届人大常委会第五次会议.
        #[arg(long)]
        meeting: String,
    },
    /// Record a new post (and optionally organ) of an appointee in office.
    ChangePost {
        /// The appointee.
        #[arg(long)]
        id: String,
        /// The new post.
        #[arg(long)]
        post: String,
        /// The new organ's name (default: unchanged).
        #[arg(long, default_value = "", hide_default_value = true)]
        organ: String,
        /// Day the change took effect, YYYY-MM-DD.
        #[arg(long)]
        on: String,
        /// The meeting that decided it.
        #[arg(long)]
        meeting: String,
    },
    /// End an appointee's term.
    EndTerm {
        /// The appointee.
        #[arg(long)]
        id: String,
        /// How: removal 免职, resignation 辞职, transfer 调任, term-end 任期届满.
        #[arg(long, value_enum)]
        kind: EndKind,
        /// Last day in office, YYYY-MM-DD.
        #[arg(long)]
        on: String,
        /// Why: the decision or letter.
        #[arg(long)]
        reason: String,
    },
    /// Show one appointee with the posts of their term.
    Show {
        /// The appointee.
        id: String,
    },
    /// List the appointee register.
    List {
        /// Only this committee's appointees.
        #[arg(long, default_value = "", hide_default_value = true)]
        committee: String,
        /// Only this organ kind.
        #[arg(long, value_enum)]
        organ_kind: Option<Organ>,
        /// Only serving (在任) or only ended (离任).
        #[arg(long, value_enum)]
        status: Option<Status>,
    },
}

/// Runs `oversight appointee …`.
pub fn run(args: AppointeeArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

async fn run_async(args: AppointeeArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let mut registry = RegistryClient::new(channel.clone());
    match args.command {
        AppointeeCommand::Register {
            id,
            committee,
            name,
            post,
            organ_kind,
            organ,
            appointed_on,
            meeting,
        } => {
            let reply = registry
                .register_appointee(RegisterAppointeeRequest {
                    command_id: String::new(),
                    appointee_id: id,
                    committee_id: committee.clone(),
                    name: name.clone(),
                    post,
                    organ_kind: OrganKind::from(organ_kind) as i32,
                    organ_name: organ,
                    appointed_on,
                    appointing_meeting: meeting,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "registered appointee {} ({name}) of committee {committee}; log position {}",
                    reply.appointee_id, reply.position
                ),
                json!({ "appointee_id": reply.appointee_id, "position": reply.position }),
            );
        }
        AppointeeCommand::ChangePost {
            id,
            post,
            organ,
            on,
            meeting,
        } => {
            let reply = registry
                .change_appointee_post(ChangeAppointeePostRequest {
                    command_id: String::new(),
                    appointee_id: id.clone(),
                    post: post.clone(),
                    organ_name: organ,
                    on,
                    appointing_meeting: meeting,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "appointee {id} now holds the post {post}; log position {}",
                    reply.position
                ),
                json!({ "appointee_id": id, "position": reply.position }),
            );
        }
        AppointeeCommand::EndTerm {
            id,
            kind,
            on,
            reason,
        } => {
            let kind = match kind {
                EndKind::Removal => TermEndKind::Removal,
                EndKind::Resignation => TermEndKind::Resignation,
                EndKind::Transfer => TermEndKind::Transfer,
                EndKind::TermEnd => TermEndKind::TermEnd,
            };
            let reply = registry
                .end_appointee_term(EndAppointeeTermRequest {
                    command_id: String::new(),
                    appointee_id: id.clone(),
                    kind: kind as i32,
                    on: on.clone(),
                    reason,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "ended the term of appointee {id} on {on}; log position {}",
                    reply.position
                ),
                json!({ "appointee_id": id, "position": reply.position }),
            );
        }
        AppointeeCommand::Show { id } => {
            let min_position = fresh_position();
            let a = registry
                .get_appointee(GetAppointeeRequest {
                    appointee_id: id,
                    min_position,
                })
                .await?
                .into_inner();
            let term_end = a.term_end.as_ref().map(|end| {
                format!(
                    "{} {} ({})",
                    word(end.kind().as_str_name(), "TERM_END_KIND_"),
                    end.on,
                    end.reason
                )
            });
            let posts: Vec<_> = a
                .posts
                .iter()
                .map(|p| {
                    json!({ "post": p.post, "organ": p.organ_name, "from": p.from, "to": opt(&p.to),
                            "meeting": p.appointing_meeting })
                })
                .collect();
            let mut fields = vec![
                (("appointee_id", "任命人员"), json!(a.appointee_id)),
                (("committee_id", "委员会"), json!(a.committee_id)),
                (("name", "姓名"), json!(a.name)),
                (("post", "职务"), json!(a.post)),
                (
                    ("organ_kind", "机关类别"),
                    json!(word(a.organ_kind().as_str_name(), "ORGAN_KIND_")),
                ),
                (("organ", "机关"), json!(a.organ_name)),
                (("appointed_on", "任命日期"), json!(a.appointed_on)),
                (
                    ("status", "状态"),
                    json!(word(a.status().as_str_name(), "APPOINTEE_STATUS_")),
                ),
                (("term_end", "离任"), json!(term_end)),
                (("position", "日志位置"), json!(a.position)),
            ];
            if format == Format::Json {
                fields.push((("posts", "职务经历"), json!(posts)));
                return record(format, &fields);
            }
            record(format, &fields)?;
            if format == Format::Table {
                let mut table = Table::new(&[
                    ("post", "职务"),
                    ("organ", "机关"),
                    ("from", "起"),
                    ("to", "止"),
                    ("meeting", "任命会议"),
                ]);
                for p in &a.posts {
                    table.row(vec![
                        json!(p.post),
                        json!(p.organ_name),
                        json!(p.from),
                        opt(&p.to),
                        json!(p.appointing_meeting),
                    ]);
                }
                table.print(format)?;
            }
        }
        AppointeeCommand::List {
            committee,
            organ_kind,
            status,
        } => {
            let min_position = fresh_position();
            let mut table = Table::new(&[
                ("appointee_id", "任命人员"),
                ("committee_id", "委员会"),
                ("name", "姓名"),
                ("post", "职务"),
                ("organ", "机关"),
                ("appointed_on", "任命日期"),
                ("status", "状态"),
            ]);
            let mut page_token = String::new();
            loop {
                let reply = registry
                    .list_appointees(ListAppointeesRequest {
                        committee_id: committee.clone(),
                        organ_kind: organ_kind.map_or(OrganKind::Unspecified, OrganKind::from)
                            as i32,
                        status: match status {
                            None => AppointeeStatus::Unspecified,
                            Some(Status::Serving) => AppointeeStatus::Serving,
                            Some(Status::Ended) => AppointeeStatus::Ended,
                        } as i32,
                        page_size: 500,
                        page_token,
                        min_position,
                    })
                    .await?
                    .into_inner();
                for a in &reply.appointees {
                    table.row(vec![
                        json!(a.appointee_id),
                        json!(a.committee_id),
                        json!(a.name),
                        json!(a.post),
                        json!(a.organ_name),
                        json!(a.appointed_on),
                        json!(word(a.status().as_str_name(), "APPOINTEE_STATUS_")),
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
