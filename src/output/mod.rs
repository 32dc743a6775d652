//! What olympus shows people and machines: colours and log set-up.
//!
//! Owns: deciding whether to colour and setting up `tracing` for the terminal or for
//! unattended runs (exit codes live in [`crate::exit`]). Must not: decide what runs or how; it is
//! given results and renders them.

use std::io::IsTerminal;

pub mod exec;
pub mod heal;
pub mod play;
pub mod profile;
pub mod report;

/// `--color auto|always|never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream: `always`/`never` win; `auto` colours a terminal unless
    /// `NO_COLOR` is set to anything non-empty (<https://no-color.org>).
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }

    pub fn for_stderr(self) -> bool {
        self.enabled(std::io::stderr().is_terminal())
    }

    pub fn for_stdout(self) -> bool {
        self.enabled(std::io::stdout().is_terminal())
    }
}

/// Sets up logging to stderr. `verbosity` counts `-v` (positive) and `-q` (negative);
/// `RUST_LOG` overrides it. `json` writes one JSON object per event, for unattended runs.
pub fn init_logging(verbosity: i8, color: ColorChoice, json: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("olympus={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = if json {
        builder.json().try_init()
    } else {
        builder
            .without_time()
            .with_ansi(color.for_stderr())
            .try_init()
    };
    // A second initialisation (tests calling twice) is harmless.
    let _ = result;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_choices_ignore_terminal() {
        assert!(ColorChoice::Always.enabled(false));
        assert!(!ColorChoice::Never.enabled(true));
        assert!(!ColorChoice::Auto.enabled(false));
    }
}
