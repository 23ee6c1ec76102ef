//! One function per subcommand: read inputs, call the pipeline stages, print, pick an exit code.

mod completions;
mod env;
mod error;
mod gc;
mod lint;
mod plan;
mod render;
mod reuse;
mod run;
mod runner;
mod serve;
mod shell;

pub use completions::{completions, man};
pub use env::{cluster_settings, env};
pub use error::CmdError;
pub use gc::gc;
pub use lint::lint;
pub use plan::plan;
pub use render::render;
pub use run::run;
pub use runner::runner;
pub use serve::serve;
pub use shell::shell;

use std::process::ExitCode;

/// Exit code for an invalid pipeline.
pub const INVALID: u8 = 1;
/// Exit code for a usage or I/O error.
pub const USAGE: u8 = 2;

fn color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("gantry: {message}");
    ExitCode::from(USAGE)
}

/// Structured logs on stderr (`GANTRY_LOG` filters, `info` by default) and a multi-threaded
/// runtime: what the long-running front doors (`serve`, `runner run`) start with.
fn logged_runtime() -> Result<tokio::runtime::Runtime, CmdError> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GANTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CmdError::Runtime)
}
