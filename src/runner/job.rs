//! One job GitLab handed out: sources, variables, dependencies and caches in; the script on
//! gantry's executor with the trace streamed to GitLab; caches and artifacts out; the result
//! reported (`PUT /api/v4/jobs/:id`) with exit code and failure reason.

use super::client::Client;
use super::config::RunnerConfig;
use super::files;
use super::payload::Job;
use super::trace::{Remote, Trace, Uploader};
use crate::executor::docker::{DockerExecutor, DockerOptions, Pull};
use crate::executor::kubernetes::{KubeOptions, KubernetesExecutor};
use crate::executor::{Executor, Exit, JobSpec, ServiceSpec, Sink};
use crate::plan::variables::{Layer, Origin, Scope, Var};
use http::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// GitLab's default job timeout when the payload names none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// What every job of one runner shares.
pub struct Context {
    /// GitLab.
    pub client: Client,
    /// The configuration.
    pub config: RunnerConfig,
    /// Where jobs run.
    pub backend: Backend,
    /// Which concurrent slots are taken (each has its own checkout per project).
    pub slots: Mutex<Vec<bool>>,
}

/// The executor's connection, made once when the runner starts.
pub enum Backend {
    /// The local shell.
    Shell,
    /// A Docker engine.
    Docker(bollard::Docker),
    /// A cluster.
    Kubernetes(crate::environment::cluster::Cluster),
}

/// A taken slot, given back on drop.
struct Slot<'a> {
    slots: &'a Mutex<Vec<bool>>,
    index: usize,
}

impl<'a> Slot<'a> {
    fn take(slots: &'a Mutex<Vec<bool>>) -> Self {
        let index = slots
            .lock()
            .map(|mut s| match s.iter().position(|t| !t) {
                Some(i) => {
                    s[i] = true;
                    i
                }
                None => {
                    s.push(true);
                    s.len() - 1
                }
            })
            .unwrap_or(0);
        Slot { slots, index }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.slots.lock()
            && let Some(t) = s.get_mut(self.index)
        {
            *t = false;
        }
    }
}

/// How a job ended, as GitLab is told.
#[derive(Debug)]
pub struct Outcome {
    /// The script's end.
    pub exit: Exit,
    /// Set when the runner itself failed (sources, dependencies, artifacts): `failure_reason`.
    pub reason: Option<&'static str>,
}

impl Outcome {
    fn system(message: impl std::fmt::Display, trace: &Trace, reason: &'static str) -> Self {
        trace.line(&format!("ERROR: {message}"));
        Outcome {
            exit: Exit::Error(message.to_string()),
            reason: Some(reason),
        }
    }

    fn succeeded(&self) -> bool {
        self.reason.is_none() && self.exit == Exit::Code(0)
    }

    /// `state`, `failure_reason` and `exit_code` of the final update.
    fn report(&self) -> (&'static str, Option<&'static str>, Option<i32>) {
        if self.succeeded() {
            return ("success", None, Some(0));
        }
        let reason = self.reason.unwrap_or(match self.exit {
            Exit::TimedOut => "job_execution_timeout",
            Exit::Canceled => "job_canceled",
            Exit::Error(_) => "runner_system_failure",
            Exit::Code(_) => "script_failure",
        });
        let code = match self.exit {
            Exit::Code(c) => Some(c),
            _ => None,
        };
        ("failed", Some(reason), code)
    }
}

/// Runs `job` to the end and reports it; `force` cancels it (a forced stop of the runner).
pub async fn run(ctx: Arc<Context>, job: Job, mut force: watch::Receiver<bool>) -> Outcome {
    let trace = Arc::new(Trace::new(job.secrets()));
    let (cancel_tx, cancel) = watch::channel(false);
    let (done_tx, mut done) = watch::channel(false);
    let mut uploader = Uploader::new(ctx.client.clone(), job.id, job.token.clone());
    let watcher = {
        let trace = trace.clone();
        let client = ctx.client.clone();
        let (id, token) = (job.id, job.token.clone());
        tokio::spawn(async move {
            let mut forced = false;
            // The first update goes out at once: GitLab shows the job started, and its answer
            // says how often it wants updates.
            let mut wait = Duration::from_millis(100);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => wait = uploader.interval,
                    _ = done.changed() => return uploader,
                    _ = crate::executor::cancelled(&mut force), if !forced => {
                        forced = true;
                        trace.line("ERROR: the runner is stopping; job canceled");
                        let _ = cancel_tx.send(true);
                    }
                }
                // New output goes as a trace patch; without any, a `running` update tells
                // GitLab the job is alive and says whether it was canceled.
                let remote = match uploader.push(&trace).await {
                    Ok(Some(r)) => Some(r),
                    Ok(None) => touch(&client, id, &token, &trace).await,
                    Err(e) => {
                        tracing::warn!(job = id, "trace not sent: {e}");
                        None
                    }
                };
                if remote == Some(Remote::Cancel) && !*cancel_tx.borrow() {
                    trace.line("Job canceled in GitLab; stopping it");
                    let _ = cancel_tx.send(true);
                }
            }
        })
    };
    let outcome = execute(&ctx, &job, trace.clone(), cancel).await;
    let (state, reason, code) = outcome.report();
    trace.line(&match (state, &outcome.exit) {
        ("success", _) => "Job succeeded".to_string(),
        (_, Exit::Code(c)) => format!("ERROR: Job failed: exit code {c}"),
        (_, Exit::TimedOut) => "ERROR: Job failed: execution took longer than the timeout".into(),
        (_, Exit::Canceled) => "ERROR: Job failed: canceled".into(),
        (_, Exit::Error(e)) => format!("ERROR: Job failed: {e}"),
    });
    trace.finish();
    let _ = done_tx.send(true);
    if let Ok(mut uploader) = watcher.await {
        // What GitLab has not got yet; a 416 moves the offset, so try a few times.
        for _ in 0..5 {
            match uploader.push(&trace).await {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(job = job.id, "trace not sent: {e}");
                    break;
                }
            }
        }
    }
    finish(&ctx.client, &job, &trace, state, reason, code).await;
    tracing::info!(job = job.id, name = %job.job_info.name, state, "job finished");
    outcome
}

/// A `running` update; GitLab's answer says whether the job still runs.
async fn touch(client: &Client, id: u64, token: &str, trace: &Trace) -> Option<Remote> {
    let (size, checksum) = trace.summary();
    let body = json!({
        "token": token,
        "state": "running",
        "output": {"checksum": checksum, "bytesize": size},
    });
    let a = client
        .json(Method::PUT, &format!("/api/v4/jobs/{id}"), &body)
        .await
        .ok()?;
    Some(super::trace::remote(&a))
}

/// The final update, repeated while GitLab answers 202 (trace not yet complete on its side).
async fn finish(
    client: &Client,
    job: &Job,
    trace: &Trace,
    state: &str,
    reason: Option<&str>,
    code: Option<i32>,
) {
    let (size, checksum) = trace.summary();
    let known = &job.features.failure_reasons;
    let reason = reason.map(|r| {
        if r == "job_canceled" || (!known.is_empty() && !known.iter().any(|k| k == r)) {
            "unknown_failure"
        } else {
            r
        }
    });
    let mut body = json!({
        "token": job.token,
        "state": state,
        "checksum": checksum,
        "output": {"checksum": checksum, "bytesize": size},
    });
    if let Some(r) = reason {
        body["failure_reason"] = json!(r);
    }
    if let Some(c) = code {
        body["exit_code"] = json!(c);
    }
    let path = format!("/api/v4/jobs/{}", job.id);
    for attempt in 0..10u32 {
        match client.json(Method::PUT, &path, &body).await {
            Ok(a) if a.status == 202 => {
                let wait = a
                    .header("X-GitLab-Trace-Update-Interval")
                    .or(a.header("Retry-After"))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait.min(30))).await;
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(job = job.id, attempt, "final update failed: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The job's variables as the executor gets them: values expanded unless `raw`, file-type
/// ones written to files in `scratch`, and what the runner itself defines.
fn variables(
    job: &Job,
    project_dir: &Path,
    builds_dir: &Path,
    scratch: &Path,
) -> std::io::Result<Vec<(String, String)>> {
    let mut layer = Layer::default();
    let mut add = |key: &str, value: String, raw: bool, masked: bool, file: bool| {
        layer.insert(
            key.to_string(),
            Var {
                value,
                expand: !raw,
                masked,
                file,
                // GitLab sent only what this job's ref may see.
                protected: false,
                origin: Origin::Predefined,
            },
        );
    };
    for v in &job.variables {
        add(&v.key, v.value.clone(), v.raw, v.masked, v.file);
    }
    let dir = project_dir.display().to_string();
    add("CI_PROJECT_DIR", dir, true, false, false);
    add(
        "CI_BUILDS_DIR",
        builds_dir.display().to_string(),
        true,
        false,
        false,
    );
    add(
        "CI_RUNNER_VERSION",
        env!("CARGO_PKG_VERSION").into(),
        true,
        false,
        false,
    );
    add("CI_SERVER", "yes".into(), true, false, false);
    let files_dir = scratch.join("variables");
    let mut env = Vec::new();
    for r in Scope::new(vec![&layer]).resolved() {
        if r.file {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::create_dir_all(&files_dir)?;
            let path = files_dir.join(&r.name);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            std::io::Write::write_all(&mut f, r.value.as_bytes())?;
            env.push((r.name, path.display().to_string()));
        } else {
            env.push((r.name, r.value));
        }
    }
    Ok(env)
}

/// The job's directories: its checkout (per project and slot, kept for `fetch`) and scratch.
fn dirs(config: &RunnerConfig, job: &Job, slot: usize) -> (PathBuf, PathBuf) {
    let base = config
        .builds_dir
        .join(format!("project-{}", job.job_info.project_id));
    (
        base.join(slot.to_string()),
        base.join(format!("{slot}.tmp")),
    )
}

fn service(s: &super::payload::Image) -> ServiceSpec {
    ServiceSpec {
        image: s.name.clone(),
        alias: s.alias.clone(),
        entrypoint: s.entrypoint.clone(),
        command: s.command.clone(),
        variables: s
            .variables
            .iter()
            .map(|v| (v.key.clone(), v.value.clone()))
            .collect(),
    }
}

async fn execute(
    ctx: &Context,
    job: &Job,
    trace: Arc<Trace>,
    cancel: crate::executor::Cancel,
) -> Outcome {
    let config = &ctx.config;
    let slot = Slot::take(&ctx.slots);
    let (project_dir, scratch) = dirs(config, job, slot.index);
    let out: Sink = trace.clone();
    trace.line(&format!(
        "Running with gantry {} ({} executor) on {}",
        env!("CARGO_PKG_VERSION"),
        config.executor.name(),
        config.system_id
    ));
    let _ = std::fs::remove_dir_all(&scratch);
    // File-type variables and downloads live here: removed however the job ends.
    let _scratch = RemoveOnDrop(scratch.clone());
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        return Outcome::system(
            format!("{}: {e}", scratch.display()),
            &trace,
            "runner_system_failure",
        );
    }
    if let Err(e) = super::git::checkout(job, &project_dir, &out, cancel.clone()).await {
        if matches!(e, super::git::GitError::Canceled) {
            return Outcome {
                exit: Exit::Canceled,
                reason: None,
            };
        }
        return Outcome::system(e, &trace, "runner_system_failure");
    }
    let env = match variables(job, &project_dir, &config.builds_dir, &scratch) {
        Ok(e) => e,
        Err(e) => return Outcome::system(e, &trace, "runner_system_failure"),
    };
    let caches = job.cache.clone().unwrap_or_default();
    let cache_root = files::cache_root(&config.cache_dir, job.job_info.project_id);
    let fallback = job.variable("CACHE_FALLBACK_KEY");
    for c in &caches {
        trace.line(&files::cache_pull(&cache_root, c, fallback, &project_dir));
    }
    for dep in job
        .dependencies
        .iter()
        .filter(|d| d.artifacts_file.is_some())
    {
        match files::download(&ctx.client, &job.token, dep, &project_dir, &scratch).await {
            Ok(n) => trace.line(&format!(
                "Downloaded the artifacts of {} ({n} files)",
                dep.name
            )),
            Err(e) => return Outcome::system(e, &trace, "missing_dependency_failure"),
        }
    }
    let script = job.step("script");
    let timeout = script
        .and_then(|s| s.timeout)
        .or(Some(job.runner_info.timeout).filter(|t| *t > 0))
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let image = job
        .image
        .as_ref()
        .filter(|i| !i.name.is_empty())
        .map(|i| i.name.clone())
        .or_else(|| config.docker.image.clone());
    let spec = JobSpec {
        name: job.job_info.name.clone(),
        workspace: project_dir.clone(),
        scratch: scratch.join("scripts"),
        env,
        script: script.map(|s| s.script.clone()).unwrap_or_default(),
        after_script: job
            .step("after_script")
            .map(|s| s.script.clone())
            .unwrap_or_default(),
        image,
        entrypoint: job.image.as_ref().and_then(|i| i.entrypoint.clone()),
        user: None,
        services: job.services.iter().map(service).collect(),
        timeout: Some(timeout),
        grace: Duration::from_secs(10),
        executor: config.executor.name(),
        read_only: Vec::new(),
        interactive: crate::executor::Interactive::Off,
    };
    // Job ids are unique per GitLab instance only; the system id tells runners apart, so one
    // runner's teardown never removes another's containers or pods.
    let pipeline = format!("gitlab-{}-job-{}", config.system_id, job.id);
    let exit = match &ctx.backend {
        Backend::Shell => {
            crate::executor::shell::ShellExecutor
                .run_job(&spec, out.clone(), cancel)
                .await
        }
        Backend::Docker(docker) => {
            let options = DockerOptions {
                // GitLab's jobs are not trusted with this machine's Docker engine.
                host_socket: false,
                ..DockerOptions::default()
            };
            let executor = DockerExecutor::new(docker.clone(), options);
            on(&executor, &pipeline, &spec, out.clone(), cancel).await
        }
        Backend::Kubernetes(cluster) => {
            let options = KubeOptions {
                namespace: config.kubernetes.namespace.clone(),
                pull: Pull::IfNotPresent,
                image_map: Vec::new(),
                start_timeout: Duration::from_secs(300),
                service_timeout: Duration::from_secs(30),
                project: config.builds_dir.clone(),
                delete_timeout: Duration::from_secs(120),
                privileged_dind: false,
                // GitLab's jobs are not trusted with the node's Docker engine.
                node_socket: false,
                pod: Default::default(),
            };
            let executor = KubernetesExecutor::new(cluster.clone(), options);
            on(&executor, &pipeline, &spec, out.clone(), cancel).await
        }
    };
    let succeeded = exit == Exit::Code(0);
    for c in &caches {
        if let Some(line) = files::cache_push(&cache_root, c, succeeded, &project_dir) {
            trace.line(&line);
        }
    }
    let mut outcome = Outcome { exit, reason: None };
    for a in job.artifacts.iter().flatten() {
        if !files::applies(a.when.as_deref(), succeeded) {
            continue;
        }
        match files::upload(&ctx.client, job.id, &job.token, a, &project_dir, &scratch).await {
            Ok(line) => trace.line(&line),
            Err(e) => {
                trace.line(&format!("ERROR: {e}"));
                if succeeded {
                    outcome.reason = Some("runner_system_failure");
                }
            }
        }
    }
    drop(slot);
    outcome
}

/// Runs `spec` as the only job of a pipeline on `executor`: set up, run, tear down.
async fn on(
    executor: &impl Executor,
    pipeline: &str,
    spec: &JobSpec,
    out: Sink,
    cancel: crate::executor::Cancel,
) -> Exit {
    match executor.setup_pipeline(pipeline).await {
        Ok(()) => {
            let exit = executor.run_job(spec, out, cancel).await;
            executor.teardown_pipeline().await;
            exit
        }
        Err(e) => Exit::Error(e.to_string()),
    }
}

/// A directory removed when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
