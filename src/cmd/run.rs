//! `gantry run`: plan, then execute on this machine with the shell executor, forwarding
//! Ctrl-C/SIGTERM to the runner (first: stop and cancel but run `when: always` jobs; second:
//! abort those too). Teardown always runs.

use super::plan::prepare;
use super::{INVALID, color, usage_error};
use crate::cli::{ExecutorKind, PullPolicy};
use crate::cli::{RunArgs, RunFormat};
use crate::executor::auto::AutoExecutor;
use crate::executor::choice;
use crate::executor::docker::{self, DockerExecutor, DockerOptions, Pull};
use crate::executor::kubernetes::{KubeOptions, KubernetesExecutor};
use crate::plan::state;
use crate::report::run::{Mode, Reporter, junit};
use crate::run::{RunOptions, run as run_pipeline};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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
    let take_iid = |ctx: &crate::plan::Context| {
        state::next_pipeline_iid(&ctx.project_dir.join(".gantry"))
            .map_err(|e| format!("cannot update .gantry/: {e}"))
    };
    let planned = match prepare(file, &args.pipeline, Some(&take_iid)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut plan = planned.plan;
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
    let state_dir = planned.context.project_dir.join(".gantry");
    let run_dir = state_dir
        .join("pipelines")
        .join(plan.pipeline.iid.to_string());
    let names: Vec<String> = plan.jobs.iter().map(|j| j.name.clone()).collect();
    let secrets: Vec<String> = plan
        .layers
        .project
        .values()
        .chain(plan.layers.cli.values())
        .filter(|v| v.masked)
        .map(|v| v.value.clone())
        .collect();
    let reporter = Reporter::new(mode, &names, Some(run_dir.join("logs")), secrets);
    let options = RunOptions {
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
    let project_dir = planned.context.project_dir.clone();
    let (cluster_choice, env_settings) = match super::cluster_settings(&project_dir, &args.cluster)
    {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let env_settings_timeout = env_settings.delete_timeout;
    let mut options = options;
    match super::reuse::session(&project_dir, &state_dir, args.reuse || shell.is_some()) {
        Ok(s) => options.reuse = s,
        Err(e) => return usage_error(e),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_error(format!("cannot start the runtime: {e}")),
    };
    let rules = match choice::load(&project_dir) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let forced = match args.executor {
        ExecutorKind::Auto => None,
        ExecutorKind::Shell => Some(choice::Kind::Shell),
        ExecutorKind::Kubernetes => Some(choice::Kind::Kubernetes),
    };
    choice::assign(&mut plan, forced, &rules);
    let image_jobs: Vec<String> = plan
        .jobs
        .iter()
        .filter(|j| j.executor == "docker")
        .map(|j| j.name.clone())
        .collect();
    let kube_jobs: Vec<String> = plan
        .jobs
        .iter()
        .filter(|j| j.executor == "kubernetes")
        .map(|j| j.name.clone())
        .collect();
    let docker_options = match docker_options(args) {
        Ok(o) => o,
        Err(e) => return usage_error(e),
    };
    let wants_docker = !image_jobs.is_empty();
    // Leftovers of crashed runs go first, so they cannot collide with this one.
    for r in super::sweep_workspaces(&state_dir, false) {
        reporter.note(&format!("removed leftover {r}"));
    }
    let outcome = runtime.block_on(async {
        // Only a cluster the user named is contacted, and before any job starts.
        let mut kube_cluster = None;
        if cluster_choice.is_set() {
            let cluster = crate::environment::cluster::connect(&cluster_choice)
                .await
                .map_err(|e| e.to_string())?;
            kube_cluster = Some(cluster.clone());
            reporter.note(&format!(
                "environments: cluster {} (context {})",
                cluster.server, cluster.context
            ));
            options.environments = Some(Arc::new(crate::environment::Environments::new(
                cluster,
                env_settings,
                plan.pipeline.iid,
                &project_dir,
                args.keep_environments,
            )));
        }
        let docker = if wants_docker {
            match docker::connect().await {
                Ok(d) => {
                    if let Some(envs) = &options.environments {
                        let Some(gateway) = crate::environment::proxy::bridge_gateway(&d).await else {
                            return Err("environments: cannot find the Docker bridge's gateway address, which container jobs reach the cluster by".to_string());
                        };
                        envs.enable_containers(gateway).await?;
                    }
                    for r in DockerExecutor::sweep(&d, None).await {
                        reporter.note(&format!("removed leftover {r}"));
                    }
                    Some(DockerExecutor::new(d, docker_options.clone()))
                }
                Err(e) => {
                    let n = image_jobs.len();
                    let some: Vec<&str> = image_jobs.iter().take(5).map(String::as_str).collect();
                    return Err(format!(
                        "{e}\n{n} job{} use an image ({}); start a Docker engine, or run them in the local shell with --executor shell",
                        if n == 1 { "" } else { "s" },
                        some.join(", ")
                    ));
                }
            }
        } else {
            None
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(forward_signals(tx));
        let kube_pod = crate::executor::kubernetes::settings::load(&project_dir).map_err(|e| e.to_string())?;
        let kubernetes = if kube_jobs.is_empty() {
            None
        } else {
            let Some(cluster) = kube_cluster else {
                let some: Vec<&str> = kube_jobs.iter().take(5).map(String::as_str).collect();
                return Err(format!(
                    "the kubernetes executor needs a cluster: --kubeconfig FILE (or --kube-context, or [kubernetes] in .gantry/config.toml); it would run {}",
                    some.join(", ")
                ));
            };
            // Pods are told the in-cluster address by their kubelet; the bridge forwarder is the
            // fallback for a loopback API server whose pods are local containers.
            if let Some(envs) = &options.environments
                && let Ok(d) = docker::connect().await
                && let Some(gateway) = crate::environment::proxy::bridge_gateway(&d).await
            {
                let _ = envs.enable_containers(gateway).await;
            }
            for r in crate::executor::kubernetes::gc::sweep(&cluster, false).await.unwrap_or_default() {
                reporter.note(&format!("removed leftover {r}"));
            }
            Some(KubernetesExecutor::new(cluster, KubeOptions {
                namespace: args.kube_namespace.clone(),
                pull: docker_options.pull,
                image_map: docker_options.image_map.clone(),
                start_timeout: Duration::from_secs(300),
                project: project_dir.clone(),
                delete_timeout: env_settings_timeout,
                privileged_dind: docker_options.privileged_dind,
                pod: kube_pod,
            }))
        };
        if args.executor == ExecutorKind::Kubernetes && let Some(k) = kubernetes {
            return Ok(run_pipeline(&planned.pipeline, Arc::new(plan), &project_dir, &state_dir, Arc::new(k), options, reporter.clone(), rx).await);
        }
        let mut executor = AutoExecutor::new(docker);
        if let Some(k) = kubernetes {
            executor = executor.with_kubernetes(k);
        }
        let executor = Arc::new(executor);
        Ok(run_pipeline(&planned.pipeline, Arc::new(plan), &project_dir, &state_dir, executor, options, reporter.clone(), rx).await)
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

fn docker_options(args: &RunArgs) -> Result<DockerOptions, String> {
    let image_map = args
        .image_map
        .iter()
        .map(|m| {
            m.split_once('=')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("--image-map {m}: expected FROM=TO"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DockerOptions {
        pull: match args.pull {
            PullPolicy::Always => Pull::Always,
            PullPolicy::IfNotPresent => Pull::IfNotPresent,
            PullPolicy::Never => Pull::Never,
        },
        image_map,
        service_timeout: Duration::from_secs(args.service_timeout),
        privileged_dind: args.privileged_dind,
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
