//! `oversight completions SHELL`: prints a completion script for the shell.

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
    clap_complete::generate(
        args.shell,
        &mut command,
        "oversight",
        &mut std::io::stdout(),
    );
    Ok(())
}
