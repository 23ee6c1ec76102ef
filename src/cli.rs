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
    /// Show the jobs a pipeline would run for a ref and source, in order, and why.
    Plan(PlanArgs),
    /// Print the JSON Schema of the YAML gantry accepts.
    Schema,
}

/// Output formats of `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Stages and jobs, aligned.
    Text,
    /// The whole plan as JSON.
    Json,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

/// Options of `gantry plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Only these jobs (definition or concrete names).
    pub jobs: Vec<String>,
    /// Also include what the named jobs wait for.
    #[arg(long)]
    pub needs: bool,
    /// Branch or tag to plan for (default: the checked-out branch).
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Pipeline source: push, merge_request_event, tag, schedule, web, api, trigger, …
    #[arg(long, default_value = "push")]
    pub source: String,
    /// Target branch of a merge request pipeline (default: the default branch).
    #[arg(long, value_name = "BRANCH")]
    pub target_branch: Option<String>,
    /// Revision `rules:changes` compares with (default: upstream branch or merge base).
    #[arg(long, value_name = "REV")]
    pub changes_base: Option<String>,
    /// Pipeline variable KEY=VALUE (highest precedence; repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Project variables file (default: .gantry/variables.yml in the project).
    #[arg(long, value_name = "FILE")]
    pub variables_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Say for every job why it is in or out.
    #[arg(long)]
    pub explain: bool,
    /// Print one job's environment and script as it would run.
    #[arg(long, value_name = "JOB")]
    pub show_script: Option<String>,
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
