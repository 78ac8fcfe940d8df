//! Installs the process-wide tracing subscriber: human-readable or JSON lines on stderr,
//! filtered with `EnvFilter` syntax from the `log_level` setting.

use thiserror::Error;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Why the subscriber could not be installed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// `log_level` is not valid `EnvFilter` syntax.
    #[error("invalid log_level {level:?}: {detail}")]
    Filter {
        /// The rejected directive.
        level: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Another subscriber is already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Installs the global subscriber. Call once, at the start of the binary.
pub fn init(format: LogFormat, level: &str) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(level).map_err(|e| TelemetryError::Filter {
        level: level.to_string(),
        detail: e.to_string(),
    })?;
    // Colour codes only when a person is watching: a log file or journal gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))
}
