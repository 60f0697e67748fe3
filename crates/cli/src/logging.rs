//! Logging for the long-running commands: JSON lines when standard error is not a terminal
//! (a container's log collector reads them; no ANSI codes), readable lines with colour when
//! it is. `RAMPART_LOG` sets the filter (`info` by default).

use std::io::IsTerminal as _;

/// Installs the subscriber once.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder
            .json()
            .with_ansi(false)
            .flatten_event(true)
            .try_init()
    };
}
