//! The command line: `oversight serve` runs the server; `oversight log …` are client commands
//! that talk to a running server over gRPC; `oversight health` asks its health service;
//! `oversight bench` measures it. Errors print the gRPC code and the server's
//! message, and exit non-zero.

mod admin_token;
mod bench;
mod health;
mod log;
mod serve;
mod tls;

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
    /// Run the gRPC server (EventLog, health, reflection) until SIGINT or SIGTERM.
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
    /// Administration on the server's host: `admin token issue|list|revoke` manage the bearer
    /// tokens in the data directory (a running server picks changes up on its next call).
    Admin(admin_token::AdminArgs),
}

/// Runs the command line and turns the outcome into the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Log(args) => log::run(args),
        Command::Health(args) => health::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Admin(args) => admin_token::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(status) = error.downcast_ref::<tonic::Status>() {
                eprintln!("error: {:?}: {}", status.code(), status.message());
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
            ExitCode::FAILURE
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
