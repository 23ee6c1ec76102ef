//! Command-line interface (clap derive).

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Run and check GitLab CI pipelines locally.
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
    /// Run the pipeline (or the named jobs) on this machine.
    Run(RunArgs),
    /// Open an interactive shell in JOB's environment (workspace, variables, image, services),
    /// after the jobs it needs have run or been reused. Takes `gantry run`'s options.
    Shell(RunArgs),
    /// Remove containers, networks and workspaces left behind by runs that crashed.
    Gc(GcArgs),
    /// Print the JSON Schema of the YAML gantry accepts.
    Schema,
    /// Run a CI server: webhooks, a queue, history, live logs, an API and a web UI.
    Serve(ServeArgs),
    /// Render a template (e.g. a Kubernetes manifest) with variables as its context.
    Render(RenderArgs),
    /// Kubernetes environments gantry manages.
    Env(EnvArgs),
    /// Print a shell completion script (e.g. `gantry completions bash > /etc/bash_completion.d/gantry`).
    Completions(CompletionsArgs),
    /// Print the manual page in roff (`gantry man > gantry.1; man ./gantry.1`), or write one page
    /// per subcommand into a directory.
    Man(ManArgs),
    /// Take jobs from a GitLab instance as one of its runners (register, run, unregister).
    #[command(subcommand)]
    Runner(RunnerCommand),
}

/// Options of `gantry completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Options of `gantry man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write gantry.1 and one gantry-SUBCOMMAND.1 per subcommand into DIR instead of printing
    /// gantry.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Options of `gantry serve` (each overrides the config file).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (see the README).
    #[arg(long, value_name = "FILE", env = "GANTRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", env = "GANTRY_LISTEN")]
    pub listen: Option<String>,
    /// Directory for the database, checkouts, caches and artifacts.
    #[arg(long, value_name = "DIR", env = "GANTRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve repository NAME (e.g. group/app) from a local path or a clone URL (repeatable).
    #[arg(long = "repo", value_name = "NAME=PATH_OR_URL")]
    pub repos: Vec<String>,
    /// Webhook secret of repositories without their own.
    #[arg(
        long,
        value_name = "SECRET",
        env = "GANTRY_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: Option<String>,
    /// API token (default: generated at first start and printed once).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "GANTRY_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// Most pipelines running at once (all repositories).
    #[arg(long, value_name = "N", env = "GANTRY_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Most pipelines of one `--repo` repository running at once.
    #[arg(long, value_name = "N")]
    pub repo_concurrency: Option<usize>,
    /// Executor of repositories that name none in the config file (default `auto`).
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
    /// Cluster of repositories that name none in the config file (environments and the
    /// Kubernetes executor).
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Watch this branch of `--repo` repositories with a local path (repeatable).
    #[arg(long, value_name = "BRANCH")]
    pub watch: Vec<String>,
    /// Seconds between two looks at watched branches.
    #[arg(long, value_name = "SECONDS")]
    pub watch_interval: Option<u64>,
    /// Bytes of log kept per job.
    #[arg(long, value_name = "BYTES")]
    pub log_limit: Option<u64>,
    /// Largest request body accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_body: Option<usize>,
    /// Most pipelines waiting.
    #[arg(long, value_name = "N")]
    pub queue_limit: Option<usize>,
    /// Seconds running pipelines get on SIGTERM before they are canceled.
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,
}

/// The Kubernetes cluster environments use: opt-in, never the ambient current context.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig of the cluster for `environment:` jobs (else `.gantry/config.toml`; else none).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context in that kubeconfig (alone: in the default kubeconfig).
    #[arg(long, value_name = "NAME")]
    pub kube_context: Option<String>,
}

/// Options of `gantry env`.
#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EnvCommand,
}

/// `gantry env` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Show live environment namespaces: namespace, pipeline, age, expiry, context.
    List(ClusterArgs),
}

/// Options of `gantry render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The template (minijinja syntax); `-` reads standard input.
    pub template: PathBuf,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Variable KEY=VALUE on top of the process environment (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
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
    /// Which pipeline.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Say for every job why it is in or out.
    #[arg(long)]
    pub explain: bool,
    /// Print one job's environment and script as it would run.
    #[arg(long, value_name = "JOB")]
    pub show_script: Option<String>,
    /// Say which jobs `gantry run --reuse` would reuse, and for the others which input changed.
    #[arg(long)]
    pub reuse: bool,
    /// With `--reuse`: image substitutions FROM=TO, as `gantry run` gets them.
    #[arg(long, value_name = "FROM=TO", requires = "reuse")]
    pub image_map: Vec<String>,
    /// With `--reuse`: where jobs would run, as for `gantry run`.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Auto, requires = "reuse")]
    pub executor: ExecutorKind,
}

/// Output formats of `run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// Prefixed job output and a summary.
    Human,
    /// One JSON event per line.
    Json,
}

/// Options of `gantry run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Which pipeline.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Most jobs running at once (default: number of CPUs).
    #[arg(short = 'j', long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Start this manual job (repeatable).
    #[arg(long, value_name = "JOB")]
    pub manual: Vec<String>,
    /// Also copy untracked (not ignored) files into job workspaces.
    #[arg(long)]
    pub include_untracked: bool,
    /// Keep the run's discarded workspaces and pristine files under .gantry/pipelines/ (slots under
    /// .gantry/workspaces/ are always kept for the next run; `gantry gc` removes them).
    #[arg(long)]
    pub keep_workspaces: bool,
    /// Copy every job's artifacts to DIR/<job>/ as well.
    #[arg(long, value_name = "DIR")]
    pub artifacts_dir: Option<PathBuf>,
    /// Write a JUnit report of job results (and collected reports:junit) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
    /// Show only job starts, ends and the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Seconds a stopped job gets between SIGTERM and SIGKILL.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub grace: u64,
    /// Where jobs run: `auto` (`[executor]` rules, else Docker for jobs with an image and the shell
    /// otherwise), `shell`, `docker` or `kubernetes`.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Auto)]
    pub executor: ExecutorKind,
    /// When to pull images.
    #[arg(long, value_enum, default_value_t = PullPolicy::IfNotPresent)]
    pub pull: PullPolicy,
    /// Use image TO wherever the pipeline says FROM (repeatable), e.g. a locally built image.
    #[arg(long, value_name = "FROM=TO")]
    pub image_map: Vec<String>,
    /// Seconds services get to accept connections on their exposed ports (Kubernetes: on their health-check port).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub service_timeout: u64,
    /// Run `docker:dind` services as real privileged containers instead of passing the host engine through.
    #[arg(long)]
    pub privileged_dind: bool,
    /// Cluster for `environment:` jobs.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Leave environment namespaces in place until they expire (`gantry gc` removes them then).
    #[arg(long)]
    pub keep_environments: bool,
    /// With `--executor kubernetes`: run jobs without an environment in this existing namespace
    /// instead of one gantry creates for the pipeline.
    #[arg(long, value_name = "NAME")]
    pub kube_namespace: Option<String>,
    /// Skip jobs whose inputs match an earlier successful run: replay its log, restore its
    /// artifacts (see docs/reuse.md; `reuse = true` in .gantry/config.toml does the same).
    #[arg(long)]
    pub reuse: bool,
    /// When a job's script fails, open an interactive shell in its environment (before its
    /// after_script); leaving the shell continues the pipeline. Needs a terminal.
    #[arg(long)]
    pub shell_on_failure: bool,
    /// Refuse to run when a trigger job's downstream pipeline cannot be run here (another
    /// project without `--project-dir`) instead of skipping it.
    #[arg(long)]
    pub strict: bool,
}

/// Executors `run` can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// Docker for jobs with an image, the shell for the rest.
    Auto,
    /// Everything in the local shell; images are ignored.
    Shell,
    /// Jobs with an image in Docker, the rest in the shell; `[executor]` rules are ignored.
    Docker,
    /// Every job as a pod on the cluster named by `--kubeconfig`/`--kube-context`.
    Kubernetes,
}

/// Image pull policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull only missing images.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// Options of `gantry gc`.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Also remove what belongs to runs that are still going.
    #[arg(long)]
    pub all: bool,
    /// Also delete abandoned or expired environment namespaces on this cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Which pipeline to plan or run.
#[derive(Clone, Debug, clap::Args)]
pub struct PipelineArgs {
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
    /// Local checkout of another project's CI/CD components (repeatable).
    #[arg(long, value_name = "HOST/GROUP/PROJECT=DIR")]
    pub component_dir: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Local checkout of a project a `trigger: project:` job starts (repeatable).
    #[arg(long, value_name = "GROUP/PROJECT=DIR")]
    pub project_dir: Vec<String>,
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
    /// Local checkout of another project's CI/CD components (repeatable).
    #[arg(long, value_name = "HOST/GROUP/PROJECT=DIR")]
    pub component_dir: Vec<String>,
    /// Local checkout of a project a `trigger: project:` job starts (repeatable).
    #[arg(long, value_name = "GROUP/PROJECT=DIR")]
    pub project_dir: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print what each network include resolved to (a lock-like listing), not the report.
    #[arg(long)]
    pub list_includes: bool,
}

/// How `project`, `remote`, `template` and `component` includes are fetched.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RemoteArgs {
    /// The GitLab instance includes come from (default: `[gitlab] url`, `CI_SERVER_URL`,
    /// https://gitlab.com).
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,
    /// Use only cached includes; what is not cached is left unread (a warning). Wins over
    /// `--refresh`.
    #[arg(
        long,
        env = "GANTRY_OFFLINE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub offline: bool,
    /// Resolve refs, component versions and URLs again instead of using the cache.
    #[arg(long)]
    pub refresh: bool,
}

impl RemoteArgs {
    /// The project layer's form.
    pub fn choice(&self) -> crate::project::config::RemoteChoice {
        use crate::load::remote::Mode;
        crate::project::config::RemoteChoice {
            gitlab_url: self.gitlab_url.clone(),
            mode: match (self.offline, self.refresh) {
                (true, _) => Mode::Offline,
                (false, true) => Mode::Refresh,
                (false, false) => Mode::Online,
            },
        }
    }
}

/// `gantry runner` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// Register with GitLab using a runner authentication token (`glrt-…`, created in
    /// GitLab's runner settings) and write the runner's configuration file (mode 0600).
    Register {
        /// The GitLab instance, e.g. https://gitlab.com.
        #[arg(long, value_name = "URL", env = "GANTRY_RUNNER_URL")]
        url: String,
        /// The runner authentication token; prefer the environment variable, which keeps it
        /// off the command line.
        #[arg(
            long,
            value_name = "TOKEN",
            env = "GANTRY_RUNNER_TOKEN",
            hide_env_values = true
        )]
        token: String,
        /// The configuration file to write.
        #[command(flatten)]
        config: RunnerConfigArg,
        /// Where jobs run.
        #[arg(long, value_enum, default_value = "shell")]
        executor: RunnerExecutorKind,
        /// Jobs run at once.
        #[arg(long, default_value_t = 1)]
        concurrent: usize,
    },
    /// Take and run jobs until SIGTERM/SIGQUIT (running jobs finish) or SIGINT or a second
    /// signal (running jobs are canceled).
    Run {
        /// The configuration file.
        #[command(flatten)]
        config: RunnerConfigArg,
    },
    /// Remove this machine from the runner at GitLab and delete the configuration file.
    Unregister {
        /// The configuration file.
        #[command(flatten)]
        config: RunnerConfigArg,
    },
}

/// `--config FILE` of `gantry runner`.
#[derive(Debug, clap::Args)]
pub struct RunnerConfigArg {
    /// The runner's configuration file (default: ~/.config/gantry/runner.toml).
    #[arg(long = "config", value_name = "FILE", env = "GANTRY_RUNNER_CONFIG")]
    pub file: Option<PathBuf>,
}

/// Executors `gantry runner` can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunnerExecutorKind {
    /// The local shell.
    Shell,
    /// Docker: every job in its image, with its services.
    Docker,
    /// A pod per job on the cluster of the configuration's `[kubernetes]` table.
    Kubernetes,
}
