//! `oversight group …`: deputy groups (代表小组) and their deputies (Registry service).

use clap::{Args, Subcommand};
use oversight::proto::registry_client::RegistryClient;
use oversight::proto::{
    AddDeputyRequest, FormDeputyGroupRequest, GetDeputyGroupRequest, ListDeputyGroupsRequest,
    RemoveDeputyRequest,
};
use serde_json::json;

use super::client::{ClientArgs, block_on, fresh_position};
use super::output::{Format, Table, done, record};

/// Flags of `oversight group`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Form a deputy group under a committee.
    Form {
        /// The group's id, e.g. g3 (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The committee it works with.
        #[arg(long)]
        committee: String,
        /// Its name, e.g. 第三代表小组.
        #[arg(long)]
        name: String,
    },
    /// Add a deputy to a group.
    AddDeputy {
        /// The group.
        #[arg(long)]
        group: String,
        /// The deputy's id (empty: the server chooses one).
        #[arg(long, default_value = "", hide_default_value = true)]
        id: String,
        /// The deputy's name.
        #[arg(long)]
        name: String,
    },
    /// Remove a deputy from a group.
    RemoveDeputy {
        /// The group.
        #[arg(long)]
        group: String,
        /// The deputy.
        #[arg(long)]
        id: String,
    },
    /// Show one group with its deputies.
    Show {
        /// The group.
        id: String,
    },
    /// List a committee's deputy groups.
    List {
        /// The committee (admins and auditors may leave it out to list every group).
        #[arg(long, default_value = "", hide_default_value = true)]
        committee: String,
    },
}

/// Runs `oversight group …`.
pub fn run(args: GroupArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

async fn run_async(args: GroupArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let format = args.client.format();
    let mut registry = RegistryClient::new(channel.clone());
    match args.command {
        GroupCommand::Form {
            id,
            committee,
            name,
        } => {
            let reply = registry
                .form_deputy_group(FormDeputyGroupRequest {
                    command_id: String::new(),
                    group_id: id,
                    committee_id: committee.clone(),
                    name,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "formed deputy group {} under committee {committee}; log position {}",
                    reply.group_id, reply.position
                ),
                json!({ "group_id": reply.group_id, "position": reply.position }),
            );
        }
        GroupCommand::AddDeputy { group, id, name } => {
            let reply = registry
                .add_deputy(AddDeputyRequest {
                    command_id: String::new(),
                    group_id: group.clone(),
                    deputy_id: id,
                    name,
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "added deputy {} to group {group}; log position {}",
                    reply.deputy_id, reply.position
                ),
                json!({ "deputy_id": reply.deputy_id, "position": reply.position }),
            );
        }
        GroupCommand::RemoveDeputy { group, id } => {
            let reply = registry
                .remove_deputy(RemoveDeputyRequest {
                    command_id: String::new(),
                    group_id: group.clone(),
                    deputy_id: id.clone(),
                    correlation_id: String::new(),
                })
                .await?
                .into_inner();
            done(
                format,
                format!(
                    "removed deputy {id} from group {group}; log position {}",
                    reply.position
                ),
                json!({ "deputy_id": id, "position": reply.position }),
            );
        }
        GroupCommand::Show { id } => {
            let min_position = fresh_position();
            let g = registry
                .get_deputy_group(GetDeputyGroupRequest {
                    group_id: id,
                    min_position,
                })
                .await?
                .into_inner();
            let deputies: Vec<_> = g
                .deputies
                .iter()
                .map(|d| json!({ "deputy_id": d.deputy_id, "name": d.name }))
                .collect();
            let mut fields = vec![
                (("group_id", "代表小组"), json!(g.group_id)),
                (("committee_id", "委员会"), json!(g.committee_id)),
                (("name", "名称"), json!(g.name)),
                (("position", "日志位置"), json!(g.position)),
            ];
            if format == Format::Json {
                fields.push((("deputies", "代表"), json!(deputies)));
                return record(format, &fields);
            }
            record(format, &fields)?;
            if format == Format::Table {
                let mut table = Table::new(&[("deputy_id", "代表"), ("name", "姓名")]);
                for d in &g.deputies {
                    table.row(vec![json!(d.deputy_id), json!(d.name)]);
                }
                table.print(format)?;
            }
        }
        GroupCommand::List { committee } => {
            let min_position = fresh_position();
            let mut table = Table::new(&[
                ("group_id", "代表小组"),
                ("committee_id", "委员会"),
                ("name", "名称"),
                ("deputies", "代表人数"),
            ]);
            let mut page_token = String::new();
            loop {
                let reply = registry
                    .list_deputy_groups(ListDeputyGroupsRequest {
                        committee_id: committee.clone(),
                        page_size: 500,
                        page_token,
                        min_position,
                    })
                    .await?
                    .into_inner();
                for g in &reply.groups {
                    table.row(vec![
                        json!(g.group_id),
                        json!(g.committee_id),
                        json!(g.name),
                        json!(g.deputies.len()),
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
