//! Running one queued pipeline: its checkout, its plan (exactly as `gantry run` makes one, for
//! the ref, source and variables the trigger gave), then `run::run` with a recorder observing
//! every job start, end and log line. Also the start-up reaping of what crashed runs left.

use super::App;
use super::checkout;
use super::config::RepoConfig;
use super::db::{Deployment, NewJob, PipelineRow};
use super::queue::Start;
use super::sse::Event;
use crate::executor::Stream;
use crate::executor::docker::{self, DockerExecutor, DockerOptions};
use crate::plan::{self, PipelineOptions, Plan};
use crate::project::config::ProjectConfig;
use crate::project::executors::{self, ExecutorSettings};
use crate::project::narrow::Operator;
use crate::project::prepare::{self, Inputs, PrepareError, Prepared, VariablesFile};
use crate::report::run::{JobResult, Mode, Reporter, RunObserver};
use crate::run::layout::StateDir;
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

/// The dispatcher: starts what may start whenever something changes (or every second).
pub async fn dispatch(app: Arc<App>) {
    let mut stop = app.shutdown.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        for start in app.queue.take_startable(&app) {
            app.metrics
                .queue_latency
                .observe(start.waited.as_secs_f64());
            tokio::spawn(execute(app.clone(), start));
        }
        tokio::select! {
            _ = app.queue.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Why a served pipeline failed before or around its jobs (recorded as the pipeline's reason;
/// a job's own failure is the job's status, not this).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] super::db::DbError),
    /// The pipeline's row is gone.
    #[error("pipeline row vanished")]
    RowVanished,
    /// The repository was removed from the server's config.
    #[error("repository {0} is no longer configured")]
    NotConfigured(String),
    /// The commit could not be checked out.
    #[error(transparent)]
    Checkout(#[from] checkout::CloneError),
    /// Planning panicked (a bug): the task's error.
    #[error("planning panicked: {0}")]
    Panicked(#[source] tokio::task::JoinError),
    /// The commit has no pipeline file.
    #[error("no .gitlab-ci.yml at {sha}")]
    NoPipelineFile {
        /// The commit.
        sha: String,
    },
    /// The pipeline file is a symlink out of the checkout.
    #[error(".gitlab-ci.yml is a symlink leading outside the checkout; refused")]
    PipelineFileOutside,
    /// The commit's `.gantry/config.toml` cannot be read.
    #[error(transparent)]
    Config(#[from] crate::project::config::ConfigError),
    /// The commit's config asks for more than the operator allows.
    #[error(".gantry/config.toml: {0}")]
    Narrow(#[source] crate::project::narrow::NarrowError),
    /// A pipeline variable is not `KEY=VALUE`.
    #[error(transparent)]
    Variable(#[from] plan::VarError),
    /// The pipeline is invalid: lint's report.
    #[error("invalid pipeline:\n{0}")]
    Invalid(String),
    /// The pipeline could not be prepared.
    #[error(transparent)]
    Prepare(PrepareError),
    /// A job retried or stopped is not in the plan.
    #[error(transparent)]
    Select(#[from] plan::NotInPipeline),
    /// The plan has errors (unresolvable `needs`, …).
    #[error("{}", .0.join("; "))]
    Plan(Vec<String>),
    /// The repository's image map is malformed.
    #[error(transparent)]
    ImageMap(#[from] executors::ImageMapError),
    /// The executors cannot be had.
    #[error(transparent)]
    Build(#[from] executors::BuildError),
    /// An untrusted pipeline asked for what the operator does not allow it (`serve::trust`):
    /// why it is untrusted.
    #[error(
        "untrusted pipeline ({0}): its jobs run on the cluster, which the repository does not allow untrusted pipelines (untrusted_cluster)"
    )]
    Denied(String),
}

/// Runs the started pipeline to its end and records the result.
pub async fn execute(app: Arc<App>, start: Start) {
    let id = start.id;
    let began = Instant::now();
    let result = run_pipeline(&app, start).await;
    let (status, reason) = match result {
        Ok((status, reason)) => (status, reason),
        Err(e) => ("failed", Some(e.to_string())),
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
    Run(Box<Prepared>),
    /// `workflow:rules` or the job rules leave nothing to run.
    Nothing(String),
}

async fn run_pipeline(
    app: &Arc<App>,
    start: Start,
) -> Result<(&'static str, Option<String>), PipelineError> {
    let id = start.id;
    let row = app.db.pipeline(id)?.ok_or(PipelineError::RowVanished)?;
    let repo = app
        .config
        .repo(&row.new.repository)
        .ok_or_else(|| PipelineError::NotConfigured(row.new.repository.clone()))?
        .clone();
    let grants = super::trust::grants(&repo, &row.new);
    if let Some(why) = &grants.untrusted
        && app.db.approved_at(id)?.is_none()
    {
        // Queued without approval (a crash between its creation and its hold): it waits.
        return Ok(("manual", Some(super::trust::waiting(why))));
    }
    app.db.set_pipeline_status(id, "running", None)?;
    if let Ok(Some(r)) = app.db.pipeline(id) {
        app.publish_pipeline(&r);
    }
    let src = work_dir(app, id).join("src");
    let state = app.state_of(&repo.name);
    let planned = {
        let (data, repo, row, src, state, grants) = (
            app.config.data_dir.clone(),
            repo.clone(),
            row.clone(),
            src.clone(),
            state.clone(),
            grants.clone(),
        );
        tokio::task::spawn_blocking(move || {
            checkout::prepare(&data, &repo, &row.new, &src)?;
            plan_pipeline(&src, &row, &repo, &state, &marker(&data, row.id), &grants)
        })
        .await
        .map_err(PipelineError::Panicked)??
    };
    if app.queue.cancel_reason(id).is_some() {
        return Ok(("canceled", None));
    }
    let prepared = match planned {
        Planned::Nothing(why) => return Ok(("skipped", Some(why))),
        Planned::Run(p) => *p,
    };
    let secrets = prepared.secrets();
    let Prepared {
        pipeline,
        plan,
        mut config,
        withheld,
        ..
    } = prepared;
    let notice = grants.notice(&repo, &withheld, config.cluster.is_set());
    if !grants.cluster {
        if config.cluster.is_set() && plan.jobs.iter().any(|j| j.executor == "kubernetes") {
            return Err(PipelineError::Denied(
                grants.untrusted.clone().unwrap_or_default(),
            ));
        }
        config.cluster = Default::default();
    }
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
    let ids = app.db.insert_jobs(id, &jobs)?;
    let deployments = deployments(&row, &pipeline, &plan, config.cluster.is_set());
    // Environments that stop by themselves (`auto_stop_in`) outlive the pipeline; the server
    // stops them on time (`environments.rs`).
    let keep = deployments.values().any(|d| d.auto_stop_at.is_some());

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
        deployments,
        stops: stop_jobs(&plan),
        repository: repo.name.clone(),
        notice,
    });
    let names: Vec<String> = plan.jobs.iter().map(|j| j.name.clone()).collect();
    let reporter = Reporter::observed(Mode::Silent, &names, None, secrets, Some(recorder));
    let cluster_set = config.cluster.is_set();
    let settings = ExecutorSettings {
        cluster: config.cluster,
        environments: config.environments,
        pod: config.pod,
        docker: DockerOptions {
            image_map: executors::image_map(&repo.image_map)?,
            privileged_dind: grants.privileged_dind,
            host_socket: grants.host_socket,
            ..DockerOptions::default()
        },
        kube_namespace: None,
        keep_environments: keep,
        project: src.clone(),
        // The server sweeps once at start-up (`reap`); its own runs are alive.
        sweep_leftovers: false,
    };
    let note = |text: &str| tracing::info!(pipeline = id, "{text}");
    let built = match executors::build(&plan, &settings, &note).await {
        Ok(b) => b,
        Err(e) => {
            let why = e.to_string();
            for j in &ids {
                let _ = app
                    .db
                    .set_job_status(*j, "canceled", false, Some(&why), None);
            }
            return Err(e.into());
        }
    };
    let options = RunOptions {
        concurrency: repo
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        // A job run on its own (a retry, an environment's stop) runs even when manual.
        manual: row.new.only_job.iter().chain(&row.retry).cloned().collect(),
        include_untracked: false,
        keep_workspaces: false,
        artifacts_dir: None,
        grace: Duration::from_secs(5),
        environments: built.environments,
        reuse: None,
        shell: None,
    };
    let plan = Arc::new(plan);
    let executor = super::runners::Served::choose(
        app,
        &repo,
        built.executor,
        super::runners::Hand {
            row: &row,
            pipeline: &pipeline,
            plan: &plan,
            ids: &ids,
        },
    );
    let outcome = run(
        &pipeline,
        plan.clone(),
        &src,
        state.root(),
        executor,
        options,
        reporter,
        start.interrupts,
    )
    .await;
    record_artifacts(app, &state, id, &plan, &ids);
    if cluster_set && !keep {
        // Teardown deleted the namespaces: what this pipeline deployed is gone.
        super::environments::stopped_with(app, &repo.name, id);
    }
    if row.retry.is_empty() {
        return Ok((outcome.status, None));
    }
    Ok((after_retry(app, id, outcome.status)?, None))
}

/// The status of a pipeline whose retried jobs ended with `rerun`: GitLab's status follows
/// the latest attempt of every job, so jobs not re-run still count (a failure elsewhere keeps
/// the pipeline failed).
fn after_retry(app: &App, id: i64, rerun: &'static str) -> Result<&'static str, PipelineError> {
    if rerun != "success" {
        return Ok(rerun);
    }
    let jobs = app.db.jobs(id)?;
    let latest = || jobs.iter().filter(|j| !j.retried);
    Ok(
        if latest().any(|j| j.job.status == "failed" && !j.allow_failure) {
            "failed"
        } else if latest().any(|j| j.job.status == "canceled") {
            "canceled"
        } else {
            "success"
        },
    )
}

/// Plans the checkout at `src` for the pipeline's trigger through the project layer, as
/// `gantry run` would: the commit's `.gantry/config.toml` within the operator's bounds, the
/// operator's variables file, the repository's executor.
fn plan_pipeline(
    src: &Path,
    row: &PipelineRow,
    repo: &RepoConfig,
    state: &StateDir,
    marker: &str,
    grants: &super::trust::Grants,
) -> Result<Planned, PipelineError> {
    let file = src.join(".gitlab-ci.yml");
    if !file.is_file() {
        return Err(PipelineError::NoPipelineFile {
            sha: row.new.sha.clone(),
        });
    }
    if crate::files::confine(src, Path::new(".gitlab-ci.yml")).is_err() {
        return Err(PipelineError::PipelineFileOutside);
    }
    let git_ref = if row.new.kind == "tag" {
        format!("refs/tags/{}", row.new.git_ref)
    } else {
        row.new.git_ref.clone()
    };
    let operator = Operator {
        cluster: crate::environment::config::ClusterChoice {
            kubeconfig: repo.kubeconfig.clone(),
            context: repo.kube_context.clone(),
        },
        kubernetes: repo.kubernetes.clone(),
    };
    let config = ProjectConfig::load(src)?
        .within(src, &operator)
        .map_err(PipelineError::Narrow)?;
    let assignments: Vec<String> = row
        .new
        .variables
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain([format!("{MARKER}={marker}")])
        .collect();
    let iid = |_: &plan::Context| Ok(row.id as u64);
    let inputs = Inputs {
        options: PipelineOptions {
            git_ref: Some(git_ref),
            source: Some(row.new.source.clone()),
            target_branch: row.new.target_branch.clone(),
            changes_base: row
                .new
                .before_sha
                .clone()
                .filter(|b| !b.bytes().all(|c| c == b'0')),
            state_dir: Some(state.root().to_path_buf()),
            // The checkout is a clone of a local path: GitLab names the project by its path.
            project_path: Some(repo.name.clone()),
            ref_protected: grants.ref_protected,
        },
        variables: repo
            .variables_file
            .clone()
            .map_or(VariablesFile::Nothing, VariablesFile::Given),
        pipeline_variables: plan::sources::command_line(&assignments, std::iter::empty())?,
        component_dirs: Vec::new(),
        remote: None,
        project_dirs: Vec::new(),
        config: Some(config),
        iid: Some(&iid),
        jobs: row.new.only_job.iter().cloned().collect(),
        needs: true,
        executor: repo.executor().forced(),
        drop_protected: !grants.ref_protected,
    };
    let mut planned = match prepare::prepare(&file, inputs) {
        Ok(p) => p,
        Err(e @ PrepareError::Invalid(..)) => {
            return Err(PipelineError::Invalid(e.text(false)));
        }
        Err(e) => return Err(PipelineError::Prepare(e)),
    };
    // An environment's stop job runs alone, as GitLab's Stop does (not what it needs).
    if let Some(job) = &row.new.only_job
        && planned
            .plan
            .jobs
            .iter()
            .any(|j| j.name == *job && j.environment.as_ref().is_some_and(|e| e.action == "stop"))
    {
        planned.plan.select(std::slice::from_ref(job), false)?;
    }
    // A job retried inside the pipeline runs again with the jobs that wait for it (they were
    // skipped or used its old result); the others keep their rows.
    if !row.retry.is_empty() {
        let again = waiting_on(&planned.plan, &row.retry);
        let received: HashMap<String, Vec<String>> = planned
            .plan
            .jobs
            .iter()
            .map(|j| (j.name.clone(), j.dependencies.clone()))
            .collect();
        planned.plan.select(&again, false)?;
        // The jobs not run again keep their artifacts and dotenv in the pipeline's run
        // directory: a retried job still receives them, as on GitLab.
        for j in &mut planned.plan.jobs {
            if let Some(deps) = received.get(&j.name) {
                j.dependencies.clone_from(deps);
            }
        }
    }
    let plan = &planned.plan;
    if !plan.errors.is_empty() {
        return Err(PipelineError::Plan(plan.errors.clone()));
    }
    if !plan.workflow.runs {
        return Ok(Planned::Nothing(format!(
            "no pipeline: {}",
            plan.workflow.reason
        )));
    }
    if plan.jobs.is_empty() {
        return Ok(Planned::Nothing(
            "no job matches this ref and source".into(),
        ));
    }
    Ok(Planned::Run(Box::new(planned)))
}

/// `jobs` (names, or base names of parallel jobs) and every job of `plan` that waits for one
/// of them, directly or not.
fn waiting_on(plan: &Plan, jobs: &[String]) -> Vec<String> {
    let mut keep: Vec<String> = plan
        .jobs
        .iter()
        .filter(|j| jobs.contains(&j.name) || jobs.contains(&j.job))
        .map(|j| j.name.clone())
        .collect();
    if keep.is_empty() {
        // Not in the plan any more: `select` reports it.
        return jobs.to_vec();
    }
    loop {
        let more: Vec<String> = plan
            .jobs
            .iter()
            .filter(|j| !keep.contains(&j.name) && j.waits_for.iter().any(|w| keep.contains(w)))
            .map(|j| j.name.clone())
            .collect();
        if more.is_empty() {
            return keep;
        }
        keep.extend(more);
    }
}

/// The environments `plan`'s jobs deploy (`environment:` with action `start`), by job name;
/// namespaces only with a cluster.
fn deployments(
    row: &PipelineRow,
    pipeline: &crate::model::Pipeline,
    plan: &Plan,
    cluster: bool,
) -> HashMap<String, Deployment> {
    let now = super::db::now_ms();
    plan.jobs
        .iter()
        .filter_map(|j| {
            let env = j.environment.as_ref()?;
            if !matches!(env.action.as_str(), "" | "start") {
                return None;
            }
            let model = pipeline.jobs.get(&j.job)?.environment.as_ref()?;
            let auto_stop_at = model.auto_stop_in.as_ref().map(|a| match a.value {
                u64::MAX => i64::MAX,
                secs => now.saturating_add((secs as i64).saturating_mul(1000)),
            });
            Some((
                j.name.clone(),
                Deployment {
                    repository: row.new.repository.clone(),
                    name: env.name.clone(),
                    url: env.url.clone(),
                    namespace: if cluster {
                        crate::environment::name::namespace_of(plan, j)
                    } else {
                        None
                    },
                    pipeline_id: row.id,
                    job_id: None,
                    sha: row.new.sha.clone(),
                    on_stop: model.on_stop.as_ref().map(|o| o.value.clone()),
                    auto_stop_at,
                },
            ))
        })
        .collect()
}

/// Jobs of `plan` that stop an environment, with its name.
fn stop_jobs(plan: &Plan) -> HashMap<String, String> {
    plan.jobs
        .iter()
        .filter_map(|j| {
            let env = j.environment.as_ref()?;
            (env.action == "stop").then(|| (j.name.clone(), env.name.clone()))
        })
        .collect()
}

/// Records the files each job left in the run's artifact store.
fn record_artifacts(app: &App, state: &StateDir, id: i64, plan: &Plan, ids: &[i64]) {
    let store = state.run(id as u64).artifacts();
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

/// Records job starts, ends and output of one pipeline.
struct Recorder {
    app: Arc<App>,
    pipeline: i64,
    ids: HashMap<String, i64>,
    interruptible: HashMap<String, bool>,
    uninterruptible: Arc<AtomicBool>,
    started: Mutex<HashMap<String, Instant>>,
    /// Jobs that deploy an environment, with what their start records.
    deployments: HashMap<String, Deployment>,
    /// Jobs that stop an environment (`action: stop`) → its name.
    stops: HashMap<String, String>,
    repository: String,
    /// What an untrusted or unprotected pipeline was denied, at the top of each job's log.
    notice: Option<String>,
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
    fn job_pending(&self, job: &str) {
        let Some(&id) = self.ids.get(job) else { return };
        if let Err(e) = self.app.db.set_job_status(id, "pending", false, None, None) {
            tracing::error!(job = id, "{e}");
        }
        self.publish(id, job, "pending");
    }

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
            if let Some(n) = &self.notice {
                self.app.logs.append(&self.app, id, n);
            }
            if let Some(d) = self.deployments.get(job) {
                let d = Deployment {
                    job_id: Some(id),
                    ..d.clone()
                };
                if let Err(e) = self.app.db.record_deployment(&d) {
                    tracing::error!(job = id, "{e}");
                }
            }
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
        if let Some(env) = self.stops.get(&r.name)
            && super::db::TERMINAL.contains(&status)
        {
            super::environments::stop_job_finished(
                &self.app,
                &self.repository,
                env,
                status == "success",
            );
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

/// At start-up: removes the checkouts and job workspaces of pipelines a crash interrupted and
/// the containers and networks of runs whose gantry process is gone (Docker's label sweep).
pub async fn reap(app: &App, interrupted: &[i64]) {
    let markers: Vec<String> = interrupted
        .iter()
        .map(|id| marker(&app.config.data_dir, *id))
        .collect();
    for k in crate::process::kill_leftovers(None, MARKER, &markers) {
        tracing::info!("stopped leftover {k}");
    }
    for id in interrupted {
        let _ = std::fs::remove_dir_all(work_dir(app, *id));
    }
    if let Ok(repos) = std::fs::read_dir(app.config.data_dir.join("repos")) {
        for r in repos.flatten() {
            for c in StateDir::new(r.path()).sweep_workspaces(false) {
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
