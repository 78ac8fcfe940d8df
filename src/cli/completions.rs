//! `oversight completions SHELL`: prints a completion script for the shell.

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Flags of `oversight completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// Writes the script to stdout.
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = super::Cli::command();
    // Generated into memory first: `generate` panics when its writer fails (a closed pipe),
    // while a failed write to stdout here is an error the caller handles.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "oversight", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(())
}
