//! A reader that closes the pipe early (`oversight log read | head -1`) ends the command
//! quietly instead of with a panic.
//!
//! Rust programs ignore SIGPIPE, so a write to a pipe whose reader has gone fails with EPIPE:
//! `println!` then panics ("failed printing to stdout: Broken pipe") and writers that return
//! errors (the CSV writer) return an `io::Error` of kind `BrokenPipe`. Both mean the same thing
//! to a person at a shell: the reader has what it wanted. [`run`] suppresses that panic's
//! message, catches it and exits 0, and [`is_broken_pipe_error`] recognises the returned error,
//! so neither prints anything. Any other panic keeps the default hook and its exit code.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

/// The start of the message std's `print!` family panics with when writing to stdout fails.
const PRINT_FAILED: &str = "failed printing to stdout";

/// Runs `main`, turning a panic of `println!` on a closed stdout into a quiet, successful exit.
pub fn run(main: impl FnOnce() -> ExitCode) -> ExitCode {
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe_panic(info.payload()) {
            default_hook(info);
        }
    }));
    match panic::catch_unwind(AssertUnwindSafe(main)) {
        Ok(code) => code,
        Err(payload) if is_broken_pipe_panic(payload.as_ref()) => ExitCode::SUCCESS,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Whether a panic's payload is `println!`'s failure on a closed pipe.
fn is_broken_pipe_panic(payload: &(dyn Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    // The message ends with the OS's text for EPIPE ("Broken pipe (os error 32)"), which is
    // the text of `ErrorKind::BrokenPipe` ("broken pipe") up to case.
    text.is_some_and(|text| {
        text.starts_with(PRINT_FAILED) && text.to_lowercase().contains(&broken_pipe_text())
    })
}

fn broken_pipe_text() -> String {
    std::io::Error::from(std::io::ErrorKind::BrokenPipe)
        .to_string()
        .to_lowercase()
}

/// Whether a command's error is, at its root, a write to a closed pipe.
///
/// A broken pipe under a failed gRPC call (a `tonic::Status` or transport error) is the
/// connection to the server, not the reader of the output: that error is reported, never
/// swallowed. The chain is walked only down to the first such error.
pub fn is_broken_pipe_error(error: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    for cause in error.chain() {
        if cause.is::<tonic::Status>() || cause.is::<tonic::transport::Error>() {
            return false;
        }
        // The CSV writer's error holds the io::Error without naming it as its source.
        let pipe = cause.downcast_ref::<std::io::Error>().is_some_and(broken)
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|csv| matches!(csv.kind(), csv::ErrorKind::Io(io) if broken(io)));
        if pipe {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_print_panic_on_a_closed_pipe_is_recognised_and_others_are_not() {
        let epipe = std::io::Error::from_raw_os_error(32);
        assert_eq!(epipe.kind(), std::io::ErrorKind::BrokenPipe);
        let message = format!("{PRINT_FAILED}: {epipe}");
        assert!(is_broken_pipe_panic(&message));
        let full = format!("{PRINT_FAILED}: No space left on device (os error 28)");
        assert!(!is_broken_pipe_panic(&full));
        assert!(!is_broken_pipe_panic(&"index out of bounds"));
        assert!(!is_broken_pipe_panic(&42_u32));
    }

    #[test]
    fn a_broken_pipe_error_is_recognised_through_its_context() {
        let error = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the CSV");
        assert!(is_broken_pipe_error(&error));
        let csv = anyhow::Error::from(csv::Error::from(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )));
        assert!(is_broken_pipe_error(&csv));
        let other = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(!is_broken_pipe_error(&other));
    }

    #[test]
    fn a_call_that_failed_on_a_broken_connection_is_not_a_closed_output() {
        // What a plaintext call to a TLS server can fail with: the server closed the
        // connection, and the client's write met EPIPE under the gRPC status.
        let status = tonic::Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )));
        assert!(std::error::Error::source(&status).is_some());
        assert!(!is_broken_pipe_error(&anyhow::Error::from(status)));
    }
}
