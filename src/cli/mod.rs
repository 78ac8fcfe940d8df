//! The command line: `oversight serve` runs the server; `oversight log …` are client commands
//! that talk to a running server over gRPC; `oversight health` asks its health service;
//! `oversight bench` measures it. Errors print the gRPC code and the server's
//! message, and exit non-zero.

mod admin;
mod admin_link;
mod admin_setup;
mod admin_token;
mod backup;
mod bench;
mod broken_pipe;
mod checkpoint;
mod completions;
mod config_show;
mod connect;
mod export;
mod health;
mod log;
#[cfg(test)]
mod readme_config;
#[cfg(test)]
mod rpc_coverage;
mod serve;
mod tls;

// Client commands of the supervision services (one module per group) and what they share.
mod appointee;
mod client;
mod committee;
mod finding;
mod group;
mod hearing;
mod inspection;
mod output;
mod positions;
mod report;
mod session;
mod session_policy;
mod visit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Oversight: an event-sourced gRPC service for post-appointment supervision by the standing
/// committees of people's congresses.
///
/// Run the server with `oversight serve`; inspect and append to its event log with
/// `oversight log …` (the client commands read the admin token from `./data/admin.token`
/// by default); check it with `oversight health`; measure it with `oversight bench`.
#[derive(Debug, Parser)]
#[command(name = "oversight", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server until SIGINT or SIGTERM: the services EventLog, Operations,
    /// Registry, Supervision, Findings, Hearings, Evaluation and Reports (package
    /// oversight.v1), with gRPC health and reflection.
    ///
    /// Every setting can come from (lowest to highest precedence) the built-in default, a TOML
    /// file (`--config` or OVERSIGHT_CONFIG), an environment variable OVERSIGHT_<SETTING>
    /// (nested with `__`, e.g. OVERSIGHT_LIMITS__MAX_APPEND_EVENTS) or the flag.
    Serve(serve::ServeArgs),
    /// Client commands for the event log of a running server.
    Log(log::LogArgs),
    /// Ask a server's grpc.health.v1 Check; print the status, exit 0 only when SERVING.
    Health(health::HealthArgs),
    /// Measure the disk's fsync rate, then load a server over gRPC and print events/s,
    /// latency percentiles and the ratio to the fsync rate.
    ///
    /// Without --server, a server is started in this process in a temporary data directory,
    /// so `cargo run --release -- bench` needs nothing else.
    Bench(bench::BenchArgs),
    /// Standing committees and their members (委员会, 组成人员).
    Committee(committee::CommitteeArgs),
    /// Appointees: appointments, post changes, term ends (任命人员).
    Appointee(appointee::AppointeeArgs),
    /// Deputy groups and their deputies (代表小组).
    Group(group::GroupArgs),
    /// Site visits by deputy groups (三看: 暗访, 随机抽查, 旁听庭审).
    Visit(visit::VisitArgs),
    /// Inspections, their reports and annual inspection plans (执法检查, 年度计划).
    Inspection(inspection::InspectionArgs),
    /// Findings: raise, assign, respond, verify, and the findings board (问题清单).
    Finding(finding::FindingArgs),
    /// Duty reports and stakeholder feedback (述职报告, 座谈/测评/个别谈话).
    Hearing(hearing::HearingArgs),
    /// Evaluation sessions: policy, schedule, roll call, secret ballots, tally, announcement
    /// (履职测评).
    Session(session::SessionArgs),
    /// Scorecards, rankings, findings board and coverage, as tables, CSV, JSON or Excel.
    Report(report::ReportArgs),
    /// Show the effective configuration.
    Config(config_show::ConfigArgs),
    /// Operate a server: export/import, backup/restore, view rebuilds.
    Admin(admin::AdminArgs),
    /// Check an export offline: recompute every hash and name the first bad line.
    ///
    /// Exits 0 when the hash chain verifies, 1 when it does not, 2 when the file cannot be
    /// opened (nothing was verified).
    VerifyExport(export::VerifyExportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
}

/// An error that ends the command with an exit code of its own instead of 1, e.g. 2 for "the
/// input could not be read" where 1 means "the input was read and found wanting".
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitWith {
    /// The exit code.
    pub code: u8,
    /// What went wrong, printed as `error: …`.
    pub message: String,
}

/// Runs the command line and turns the outcome into the exit code.
///
/// A reader that closes the pipe early (`| head -1`) ends the command quietly with exit 0
/// (`broken_pipe`).
pub fn main() -> ExitCode {
    broken_pipe::run(run_command)
}

fn run_command() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Log(args) => log::run(args),
        Command::Health(args) => health::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Committee(args) => committee::run(args),
        Command::Appointee(args) => appointee::run(args),
        Command::Group(args) => group::run(args),
        Command::Visit(args) => visit::run(args),
        Command::Inspection(args) => inspection::run(args),
        Command::Finding(args) => finding::run(args),
        Command::Hearing(args) => hearing::run(args),
        Command::Session(args) => session::run(args),
        Command::Report(args) => report::run(args),
        Command::Config(args) => config_show::run(args),
        Command::Admin(args) => admin::run(args),
        Command::VerifyExport(args) => export::verify_export(args),
        Command::Completions(args) => completions::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if broken_pipe::is_broken_pipe_error(&error) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(status) = error.downcast_ref::<tonic::Status>() {
                eprintln!("error: {:?}: {}", status.code(), status.message());
                for (flag, violation) in output::flag_violations(status) {
                    eprintln!("{flag}: {}", violation.description);
                }
                if let Some(hint) = tls::tls_hint(status) {
                    eprintln!("{hint}");
                }
            } else {
                // Most errors already name their cause; print each cause only once.
                let mut text = error.to_string();
                for cause in error.chain().skip(1) {
                    let cause = cause.to_string();
                    if !text.contains(&cause) {
                        text = format!("{text}: {cause}");
                    }
                }
                eprintln!("error: {text}");
            }
            match error.downcast_ref::<ExitWith>() {
                Some(exit) => ExitCode::from(exit.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
