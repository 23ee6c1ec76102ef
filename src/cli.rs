//! Command-line interface (clap derive).

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// gantry — run and check GitLab CI pipelines locally.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about, long_about = None)]
pub struct Cli {
    /// Pipeline file.
    #[arg(short, long, global = true, default_value = ".gitlab-ci.yml")]
    pub file: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a pipeline offline and report every problem with its file:line:col.
    Lint(LintArgs),
    /// Print the JSON Schema of the YAML gantry accepts.
    Schema,
}

/// Output formats of `lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Snippets with carets and hints.
    Human,
    /// One JSON document.
    Json,
}

/// Options of `gantry lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Directory with local copies of GitLab templates, for `include: template:`.
    #[arg(long, value_name = "DIR")]
    pub template_dir: Option<PathBuf>,
}
