//! The command line: `oversight serve` runs the server; `oversight log …` are client commands
//! that talk to a running server over gRPC. Errors print the gRPC code and the server's
//! message, and exit non-zero.

mod log;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Oversight: an event-sourced gRPC service for post-appointment supervision by the standing
/// committees of people's congresses.
///
/// Run the server with `oversight serve`; inspect and append to its event log with
/// `oversight log …` (the client commands read the admin token from `./data/admin.token`
/// by default).
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
}

/// Runs the command line and turns the outcome into the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Log(args) => log::run(args),
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
