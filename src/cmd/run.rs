//! `gantry run`: prepare (the project layer), build the executors the plan needs (the project
//! layer again), then execute on this machine, forwarding Ctrl-C/SIGTERM to the runner (first:
//! stop and cancel but run `when: always` jobs; second: abort those too). Teardown always runs.

use super::plan::{inputs, prepare};
use super::{CmdError, INVALID, color, usage_error};
use crate::cli::{ExecutorKind, PullPolicy};
use crate::cli::{RunArgs, RunFormat};
use crate::environment::config::ClusterChoice;
use crate::executor::choice::Kind;
use crate::executor::docker::{DockerOptions, Pull};
use crate::plan::state;
use crate::project::executors::{self, ExecutorSettings};
use crate::project::prepare::Prepared;
use crate::report::run::{Mode, Reporter, junit};
use crate::run::layout::StateDir;
use crate::run::{RunOptions, run as run_pipeline};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The executor `--executor` forces on every job (`None`: per job, by `[executor]` rules).
pub(super) fn forced(kind: ExecutorKind) -> Option<Kind> {
    match kind {
        ExecutorKind::Auto => None,
        ExecutorKind::Shell => Some(Kind::Shell),
        ExecutorKind::Docker => Some(Kind::Docker),
        ExecutorKind::Kubernetes => Some(Kind::Kubernetes),
    }
}

/// Runs `file`.
pub fn run(file: &Path, args: &RunArgs) -> ExitCode {
    if args.shell_on_failure
        && let Err(e) = crate::executor::terminal::require_terminal("--shell-on-failure")
    {
        return usage_error(e);
    }
    run_with(file, args, None)
}

/// Runs `file`; with `shell`, that job opens an interactive shell instead of its script (and
/// reuse is on, so what it needs comes from the store when it can).
pub(super) fn run_with(file: &Path, args: &RunArgs, shell: Option<&str>) -> ExitCode {
    let take_iid =
        |ctx: &crate::plan::Context| state::next_pipeline_iid(&ctx.project_dir.join(".gantry"));
    let planned = match inputs(&args.pipeline, forced(args.executor), Some(&take_iid))
        .and_then(|i| prepare(file, i))
    {
        Ok(p) => p,
        Err(code) => return code,
    };
    let secrets = planned.secrets();
    let Prepared {
        pipeline,
        context,
        plan,
        config,
        ..
    } = planned;
    if !plan.errors.is_empty() {
        for e in &plan.errors {
            eprintln!("gantry: {e}");
        }
        return ExitCode::from(INVALID);
    }
    if !plan.workflow.runs {
        println!("no pipeline: {}", plan.workflow.reason);
        return ExitCode::SUCCESS;
    }
    if args.strict {
        let unavailable: Vec<String> = plan
            .jobs
            .iter()
            .filter_map(|j| {
                let why = j.trigger.as_ref()?.downstream.unavailable.as_ref()?;
                Some(format!("{}: {why}", j.name))
            })
            .collect();
        if !unavailable.is_empty() {
            for u in &unavailable {
                eprintln!("gantry: {u}");
            }
            eprintln!("gantry: --strict: a downstream pipeline cannot be run here");
            return ExitCode::from(INVALID);
        }
    }
    let shell_job = match shell.map(|name| super::shell::concrete(&plan, name)) {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => return usage_error(e),
        None => None,
    };
    let mode = match args.format {
        RunFormat::Json => Mode::Json,
        RunFormat::Human => Mode::Human {
            color: color(),
            quiet: args.quiet,
            status: !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        },
    };
    let project_dir = context.project_dir.clone();
    let state = StateDir::new(project_dir.join(".gantry"));
    let names: Vec<String> = plan.jobs.iter().map(|j| j.name.clone()).collect();
    let reporter = Reporter::new(
        mode,
        &names,
        Some(state.run(plan.pipeline.iid).logs()),
        secrets,
    );
    let mut options = RunOptions {
        concurrency: args
            .concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        manual: args.manual.clone(),
        include_untracked: args.include_untracked,
        keep_workspaces: args.keep_workspaces,
        artifacts_dir: args.artifacts_dir.clone(),
        grace: Duration::from_secs(args.grace),
        environments: None,
        reuse: None,
        shell: match shell_job {
            Some(job) => Some(crate::run::ShellAt::Job(job)),
            None => args
                .shell_on_failure
                .then_some(crate::run::ShellAt::Failure),
        },
    };
    let cli_cluster = ClusterChoice {
        kubeconfig: args.cluster.kubeconfig.clone(),
        context: args.cluster.kube_context.clone(),
    };
    let settings = ExecutorSettings {
        cluster: config.cluster.overridden_by(&cli_cluster),
        environments: config.environments,
        pod: config.pod,
        docker: match docker_options(args) {
            Ok(o) => o,
            Err(e) => return usage_error(e),
        },
        kube_namespace: args.kube_namespace.clone(),
        keep_environments: args.keep_environments,
        project: project_dir.clone(),
        sweep_leftovers: true,
    };
    match super::reuse::session(&config.reuse, state.root(), args.reuse || shell.is_some()) {
        Ok(s) => options.reuse = s,
        Err(e) => return usage_error(e),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_error(CmdError::Runtime(e)),
    };
    // Leftovers of crashed runs go first, so they cannot collide with this one.
    for r in state.sweep_workspaces(false) {
        reporter.note(&format!("removed leftover {r}"));
    }
    let outcome = runtime.block_on(async {
        let note = |text: &str| reporter.note(text);
        let built = executors::build(&plan, &settings, &note).await?;
        options.environments = built.environments;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(forward_signals(tx));
        Ok::<_, CmdError>(
            run_pipeline(
                &pipeline,
                Arc::new(plan),
                &project_dir,
                state.root(),
                built.executor,
                options,
                reporter.clone(),
                rx,
            )
            .await,
        )
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return usage_error(e),
    };
    for c in &outcome.cleaned {
        reporter.note(&format!("cleaned: {c}"));
    }
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, junit(&outcome.results, &outcome.junit))
    {
        eprintln!("gantry: cannot write {}: {e}", path.display());
    }
    if outcome.status == "success" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

fn docker_options(args: &RunArgs) -> Result<DockerOptions, CmdError> {
    Ok(DockerOptions {
        pull: match args.pull {
            PullPolicy::Always => Pull::Always,
            PullPolicy::IfNotPresent => Pull::IfNotPresent,
            PullPolicy::Never => Pull::Never,
        },
        image_map: executors::image_map(&args.image_map)?,
        service_timeout: Duration::from_secs(args.service_timeout),
        privileged_dind: args.privileged_dind,
        // Whoever runs gantry locally owns the host: dind is its socket, as before.
        host_socket: true,
    })
}

async fn forward_signals(tx: tokio::sync::mpsc::UnboundedSender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        if tx.send(()).is_err() {
            return;
        }
    }
}
