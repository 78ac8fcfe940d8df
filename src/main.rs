//! The `oversight` binary: parses the command line and hands over to [`cli`].

mod cli;

use std::process::ExitCode;

/// The server's work is many small, short-lived allocations on a few threads (decoded records,
/// view documents, gRPC messages, redb's page buffers). mimalloc serves them faster than the
/// system allocator for about 50 MiB more resident memory (`docs/PERFORMANCE.md`, "Where the
/// time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::main()
}
