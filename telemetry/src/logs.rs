//! Where the binary's logs go: standard error, as text for a person at a
//! terminal or as JSON lines for a log collector (`--log-format json`, or
//! `TRACEPIPE_LOG_FORMAT=json`, as the Helm chart sets). The level comes from
//! `TRACEPIPE_LOG` (`info` by default; any `tracing` filter such as
//! `tracepipe=debug`).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the process's log subscriber; once, before anything logs.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("TRACEPIPE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into a log file.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(std::io::stderr);
    // A second install (a test harness that set one) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
