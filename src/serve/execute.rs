//! Running one queued pipeline: its checkout, its plan (exactly as `gantry run` makes one, for
//! the ref, source and variables the trigger gave), then `run::run` with a recorder observing
//! every job start, end and log line. Also the start-up reaping of what crashed runs left.

use super::App;
use super::checkout;
use super::config::{ExecutorChoice, RepoConfig};
use super::db::{NewJob, PipelineRow};
use super::queue::Start;
use super::sse::Event;
use crate::diagnostic::Diagnostics;
use crate::executor::Stream;
use crate::executor::auto::AutoExecutor;
use crate::executor::docker::{self, DockerExecutor, DockerOptions};
use crate::load::LoadOptions;
use crate::model::Pipeline;
use crate::plan::{self, Context, PipelineOptions, Plan};
use crate::report::run::{JobResult, Mode, Reporter, RunObserver};
use crate::run::{RunOptions, run};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pipeline's working directory (its checkout) under the data directory.
pub fn work_dir(app: &App, id: i64) -> PathBuf {
    app.config.data_dir.join("work").join(id.to_string())
}

/// Where `run` keeps a repository's caches and each pipeline's artifacts.
pub fn state_dir(app: &App, repo: &str) -> PathBuf {
    app.config
        .data_dir
        .join("repos")
        .join(checkout::dir_name(repo))
}

/// Runs the started pipeline to its end and records the result.
pub async fn execute(app: Arc<App>, start: Start) {
    let id = start.id;
    let began = Instant::now();
    let result = run_pipeline(&app, start).await;
    let (status, reason) = match result {
        Ok((status, reason)) => (status, reason),
        Err(e) => ("failed", Some(e)),
    };
    let reason = match status {
        "canceled" => reason.or_else(|| app.queue.cancel_reason(id)),
        _ => reason,
    };
    tracing::info!(
        pipeline = id,
        status,
        reason = reason.as_deref().unwrap_or(""),
        "pipeline finished"
    );
    if let Err(e) = app.db.set_pipeline_status(id, status, reason.as_deref()) {
        tracing::error!(pipeline = id, "{e}");
    }
    if let Ok(Some(row)) = app.db.pipeline(id) {
        app.publish_pipeline(&row);
    }
    app.metrics
        .pipeline_finished(status, began.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(work_dir(&app, id));
    app.queue.finished(id);
}

/// What planning gave.
enum Planned {
    /// A pipeline to run.
    Run(Box<(Pipeline, Plan, Vec<String>)>),
    /// `workflow:rules` or the job rules leave nothing to run.
    Nothing(String),
}

async fn run_pipeline(
    app: &Arc<App>,
    start: Start,
) -> Result<(&'static str, Option<String>), String> {
    let id = start.id;
    let row = app
        .db
        .pipeline(id)
        .map_err(|e| e.to_string())?
        .ok_or("pipeline row vanished")?;
    let repo = app
        .config
        .repo(&row.new.repository)
        .ok_or_else(|| format!("repository {} is no longer configured", row.new.repository))?
        .clone();
    app.db
        .set_pipeline_status(id, "running", None)
        .map_err(|e| e.to_string())?;
    if let Ok(Some(r)) = app.db.pipeline(id) {
        app.publish_pipeline(&r);
    }
    let src = work_dir(app, id).join("src");
    let state = state_dir(app, &repo.name);
    let planned = {
        let (data, repo, row, src, state) = (
            app.config.data_dir.clone(),
            repo.clone(),
            row.clone(),
            src.clone(),
            state.clone(),
        );
        tokio::task::spawn_blocking(move || {
            checkout::prepare(&data, &repo, &row.new, &src)?;
            plan_pipeline(&src, &row, &repo, &state, &marker(&data, row.id))
        })
        .await
        .map_err(|e| format!("planning panicked: {e}"))??
    };
    if app.queue.cancel_reason(id).is_some() {
        return Ok(("canceled", None));
    }
    let (pipeline, plan, secrets) = match planned {
        Planned::Nothing(why) => return Ok(("skipped", Some(why))),
        Planned::Run(p) => *p,
    };
    let jobs: Vec<NewJob> = plan
        .jobs
        .iter()
        .map(|j| NewJob {
            name: j.name.clone(),
            stage: j.stage.clone(),
            stage_index: j.stage_index,
            needs: j
                .needs
                .as_ref()
                .map(|n| n.iter().map(|n| n.job.clone()).collect()),
            when: j.when.to_string(),
            interruptible: j.interruptible,
            status: if j.when == "manual" {
                "manual"
            } else {
                "created"
            }
            .into(),
        })
        .collect();
    let ids = app.db.insert_jobs(id, &jobs).map_err(|e| e.to_string())?;
    let recorder = Arc::new(Recorder {
        app: app.clone(),
        pipeline: id,
        ids: jobs
            .iter()
            .map(|j| j.name.clone())
            .zip(ids.iter().copied())
            .collect(),
        interruptible: jobs
            .iter()
            .map(|j| (j.name.clone(), j.interruptible))
            .collect(),
        uninterruptible: start.uninterruptible.clone(),
        started: Mutex::new(HashMap::new()),
    });
    let names: Vec<String> = plan.jobs.iter().map(|j| j.name.clone()).collect();
    let reporter = Reporter::observed(Mode::Silent, &names, None, secrets, Some(recorder));
    let executor = match executor_for(&repo, &plan).await {
        Ok(e) => e,
        Err(e) => {
            for j in &ids {
                let _ = app.db.set_job_status(*j, "canceled", false, Some(&e), None);
            }
            return Err(e);
        }
    };
    let options = RunOptions {
        concurrency: repo
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        manual: Vec::new(),
        include_untracked: false,
        keep_workspaces: false,
        artifacts_dir: None,
        grace: Duration::from_secs(5),
        // serve has no cluster options yet: environment jobs run without a namespace.
        environments: None,
        reuse: None,
        shell: None,
    };
    let plan = Arc::new(plan);
    let outcome = run(
        &pipeline,
        plan.clone(),
        &src,
        &state,
        Arc::new(executor),
        options,
        reporter,
        start.interrupts,
    )
    .await;
    record_artifacts(app, &state, id, &plan, &ids);
    Ok((outcome.status, None))
}

async fn executor_for(repo: &RepoConfig, plan: &Plan) -> Result<AutoExecutor, String> {
    let wants_docker =
        repo.executor == ExecutorChoice::Auto && plan.jobs.iter().any(|j| j.image.is_some());
    if !wants_docker {
        return Ok(AutoExecutor::new(None));
    }
    let client = docker::connect().await.map_err(|e| {
        format!("{e}; jobs of this pipeline use an image (set `executor = \"shell\"` to run them in the shell)")
    })?;
    let image_map = repo
        .image_map
        .iter()
        .filter_map(|m| {
            m.split_once('=')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    Ok(AutoExecutor::new(Some(DockerExecutor::new(
        client,
        DockerOptions {
            image_map,
            ..DockerOptions::default()
        },
    ))))
}

/// Plans the checkout at `src` for the pipeline's trigger, like `gantry plan` would.
fn plan_pipeline(
    src: &Path,
    row: &PipelineRow,
    repo: &RepoConfig,
    state: &Path,
    marker: &str,
) -> Result<Planned, String> {
    let file = src.join(".gitlab-ci.yml");
    if !file.is_file() {
        return Err(format!("no .gitlab-ci.yml at {}", row.new.sha));
    }
    let git_ref = if row.new.kind == "tag" {
        format!("refs/tags/{}", row.new.git_ref)
    } else {
        row.new.git_ref.clone()
    };
    let options = PipelineOptions {
        git_ref: Some(git_ref),
        source: Some(row.new.source.clone()),
        target_branch: row.new.target_branch.clone(),
        changes_base: row
            .new
            .before_sha
            .clone()
            .filter(|b| !b.bytes().all(|c| c == b'0')),
        state_dir: Some(state.to_path_buf()),
    };
    let mut context = Context::new(&file, &options)?;
    context.pipeline_iid = row.id as u64;
    let mut var_sources = crate::source::SourceMap::default();
    let mut diags = Diagnostics::default();
    let project = match &repo.variables_file {
        Some(f) => plan::sources::project_file(f, &mut var_sources, &mut diags),
        None => plan::variables::Layer::default(),
    };
    if diags.has_errors() {
        return Err(format!("variables file of {} is invalid", repo.name));
    }
    let assignments: Vec<String> = row
        .new
        .variables
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain([format!("{MARKER}={marker}")])
        .collect();
    let cli = plan::sources::command_line(&assignments, std::iter::empty())?;
    let include_variables = context
        .predefined()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(
            project
                .iter()
                .chain(cli.iter())
                .map(|(k, v)| (k.clone(), v.value.clone())),
        )
        .collect();
    let load = LoadOptions {
        include_variables: Some(include_variables),
        ..LoadOptions::default()
    };
    let mut lint = crate::lint::lint_file(&file, &load).map_err(|e| e.to_string())?;
    let Some(pipeline) = lint.pipeline.take().filter(|_| lint.is_valid(false)) else {
        let text = crate::report::lint::human(&lint, ".gitlab-ci.yml", false, false);
        return Err(format!("invalid pipeline:\n{text}"));
    };
    let mut planned = plan::build(&pipeline, &context, project, cli);
    if let Some(job) = &row.new.only_job {
        planned.select(std::slice::from_ref(job), true)?;
    }
    if !planned.errors.is_empty() {
        return Err(planned.errors.join("; "));
    }
    if !planned.workflow.runs {
        return Ok(Planned::Nothing(format!(
            "no pipeline: {}",
            planned.workflow.reason
        )));
    }
    if planned.jobs.is_empty() {
        return Ok(Planned::Nothing(
            "no job matches this ref and source".into(),
        ));
    }
    let secrets: Vec<String> = planned
        .layers
        .project
        .values()
        .chain(planned.layers.cli.values())
        .filter(|v| v.masked)
        .map(|v| v.value.clone())
        .collect();
    Ok(Planned::Run(Box::new((pipeline, planned, secrets))))
}

/// Records the files each job left in the run's artifact store.
fn record_artifacts(app: &App, state: &Path, id: i64, plan: &Plan, ids: &[i64]) {
    let store = artifact_root(state, id);
    for (job, jid) in plan.jobs.iter().zip(ids) {
        let dir = store.join(crate::plan::slug::slug(&job.name));
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(meta) = e.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(e.path());
                } else if let Ok(rel) = e.path().strip_prefix(&dir) {
                    let _ = app
                        .db
                        .add_artifact(*jid, &rel.display().to_string(), meta.len());
                }
            }
        }
    }
}

/// Where `run` stores pipeline `id`'s artifacts (one directory per job slug).
pub fn artifact_root(state: &Path, id: i64) -> PathBuf {
    state
        .join("pipelines")
        .join(id.to_string())
        .join("artifacts")
}

/// Records job starts, ends and output of one pipeline.
struct Recorder {
    app: Arc<App>,
    pipeline: i64,
    ids: HashMap<String, i64>,
    interruptible: HashMap<String, bool>,
    uninterruptible: Arc<AtomicBool>,
    started: Mutex<HashMap<String, Instant>>,
}

impl Recorder {
    fn publish(&self, job: i64, name: &str, status: &str) {
        let _ = self.app.events.send(Event::Job {
            id: job,
            pipeline_id: self.pipeline,
            name: name.to_string(),
            status: status.to_string(),
        });
    }
}

impl RunObserver for Recorder {
    fn job_started(&self, job: &str, _attempt: u32) {
        let Some(&id) = self.ids.get(job) else { return };
        if !self.interruptible.get(job).copied().unwrap_or(false) {
            self.uninterruptible.store(true, Ordering::SeqCst);
        }
        let first = self
            .started
            .lock()
            .map(|mut s| s.insert(job.to_string(), Instant::now()).is_none())
            .unwrap_or(false);
        if first {
            self.app.metrics.job_started();
        }
        if let Err(e) = self.app.db.set_job_status(id, "running", false, None, None) {
            tracing::error!(job = id, "{e}");
        }
        self.publish(id, job, "running");
    }

    fn job_finished(&self, r: &JobResult) {
        let Some(&id) = self.ids.get(&r.name) else {
            return;
        };
        let (status, allowed) = match r.status.as_str() {
            "failed (allowed)" => ("failed", true),
            s => (s, false),
        };
        self.app.logs.finish(&self.app.db, id);
        if let Err(e) =
            self.app
                .db
                .set_job_status(id, status, allowed, r.detail.as_deref(), r.exit_code)
        {
            tracing::error!(job = id, "{e}");
        }
        let began = self.started.lock().ok().and_then(|mut s| s.remove(&r.name));
        if let Some(t) = began {
            self.app.metrics.job_finished(t.elapsed().as_secs_f64());
        }
        self.publish(id, &r.name, status);
    }

    fn job_line(&self, job: &str, _stream: Stream, line: &str) {
        if let Some(&id) = self.ids.get(job) {
            self.app.logs.append(&self.app, id, line);
        }
    }

    fn note(&self, text: &str) {
        tracing::info!(pipeline = self.pipeline, "{text}");
    }
}

/// Variable every job process of a served pipeline carries: its label, so processes a crash
/// orphaned (shell jobs run in their own process group) can be found and stopped.
pub const MARKER: &str = "GANTRY_SERVE_PIPELINE";

/// The [`MARKER`] value of pipeline `id` of the server using `data_dir`.
pub fn marker(data_dir: &Path, id: i64) -> String {
    format!("{}#{id}", data_dir.display())
}

/// Kills the process groups of processes labelled with one of `markers` (read from
/// `/proc/*/environ`); returns what was stopped.
fn kill_labelled(markers: &[String]) -> Vec<String> {
    let mut killed = Vec::new();
    if markers.is_empty() {
        return killed;
    }
    let own = unsafe { libc::getpgid(0) };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return killed;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(p.path().join("environ")) else {
            continue;
        };
        let label = environ
            .split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .find_map(|kv| kv.strip_prefix(MARKER).and_then(|r| r.strip_prefix('=')));
        if let Some(label) = label
            && markers.iter().any(|m| m == label)
        {
            // SAFETY: plain syscalls on a process id read from /proc.
            let pgid = unsafe { libc::getpgid(pid) };
            let target = if pgid > 1 && pgid != own { -pgid } else { pid };
            if unsafe { libc::kill(target, libc::SIGKILL) } == 0 {
                killed.push(format!("process {pid} of {label}"));
            }
        }
    }
    killed
}

/// At start-up: removes the checkouts and job workspaces of pipelines a crash interrupted and
/// the containers and networks of runs whose gantry process is gone (Docker's label sweep).
pub async fn reap(app: &App, interrupted: &[i64]) {
    let markers: Vec<String> = interrupted
        .iter()
        .map(|id| marker(&app.config.data_dir, *id))
        .collect();
    for k in kill_labelled(&markers) {
        tracing::info!("stopped leftover {k}");
    }
    for id in interrupted {
        let _ = std::fs::remove_dir_all(work_dir(app, *id));
    }
    if let Ok(repos) = std::fs::read_dir(app.config.data_dir.join("repos")) {
        for r in repos.flatten() {
            for c in crate::cmd::sweep_workspaces(&r.path(), false) {
                tracing::info!("removed leftover {c}");
            }
        }
    }
    let connect = tokio::time::timeout(Duration::from_secs(5), docker::connect()).await;
    match connect {
        Ok(Ok(d)) => {
            for c in DockerExecutor::sweep(&d, None).await {
                tracing::info!("removed leftover {c}");
            }
        }
        Ok(Err(e)) => tracing::debug!("no Docker sweep: {e}"),
        Err(_) => tracing::debug!("no Docker sweep: the engine does not answer"),
    }
}
