//! `run`: executes a [`Plan`] — a ready-queue DAG on tokio. A job starts as soon as what it waits
//! for has finished (never waiting for unrelated jobs), within the concurrency limit and its
//! `resource_group`. Each job gets its own workspace, its dependencies' artifacts and dotenv
//! variables, its caches; its artifacts and caches are saved after it. The first interrupt
//! stops running jobs and cancels pending ones but still runs `when: always` jobs; the second
//! aborts those too. Teardown always happens.
//! May not touch: how commands are executed (that is `executor`), YAML or rules.

pub mod artifacts;
pub mod cache;
pub mod checkouts;
mod environments;
mod git_dir;
pub mod git_vars;
mod job;
pub mod layout;
pub mod manifest;
pub mod orphans;
pub mod pool;
mod reuse;
pub mod scheduler;
mod stop;
mod submodules;
pub mod workspace;

use crate::executor::Executor;
use crate::model::artifacts::{Artifacts, Cache};
use crate::model::{Job, Pipeline};
use crate::plan::variables::Layer;
use crate::plan::{Plan, PlannedJob};
use crate::report::run::{JobResult, Reporter};
use checkouts::Checkouts;
use layout::{RunDir, StateDir};
use pool::Pool;
use scheduler::{Scheduler, Status};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use workspace::Snapshot;

/// Options of one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Most jobs running at once.
    pub concurrency: usize,
    /// Manual jobs to start.
    pub manual: Vec<String>,
    /// Copy untracked (non-ignored) files into workspaces too.
    pub include_untracked: bool,
    /// Keep job workspaces after the run (for debugging).
    pub keep_workspaces: bool,
    /// Also copy every job's artifacts to `DIR/<job>/`.
    pub artifacts_dir: Option<PathBuf>,
    /// Between SIGTERM and SIGKILL when stopping a job.
    pub grace: Duration,
    /// Kubernetes environments, when the user named a cluster (else jobs get none).
    pub environments: Option<Arc<crate::environment::Environments>>,
    /// Job reuse (`--reuse`): jobs whose input key matches an earlier success are replayed.
    pub reuse: Option<Arc<crate::reuse::Session>>,
    /// Interactive shells: in one job instead of its script (`gantry shell JOB`), or in every
    /// job whose script fails (`--shell-on-failure`).
    pub shell: Option<ShellAt>,
}

/// Where `run` opens interactive shells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellAt {
    /// In this job (concrete name), instead of its script; nothing it does is kept.
    Job(String),
    /// In any job whose script failed, before its `after_script`.
    Failure,
}

/// How the run ended.
#[derive(Debug)]
pub struct RunOutcome {
    /// `success`, `failed` or `canceled`.
    pub status: &'static str,
    /// One row per job, in plan order.
    pub results: Vec<JobResult>,
    /// Collected `reports:junit` files: (job, XML).
    pub junit: Vec<(String, String)>,
    /// What teardown removed.
    pub cleaned: Vec<String>,
}

/// What a job needs from the pipeline model besides its plan entry.
#[derive(Clone, Debug, Default)]
struct JobFiles {
    artifacts: Option<Artifacts>,
    caches: Vec<Cache>,
    env: environments::EnvFacts,
}

/// What every job task of one run shares.
struct RunCtx<E> {
    plan: Arc<Plan>,
    files: Vec<JobFiles>,
    executor: Arc<E>,
    reporter: Arc<Reporter>,
    options: RunOptions,
    run_dir: RunDir,
    cache_root: PathBuf,
    checkouts: Checkouts,
    /// Other projects' checkouts, for the jobs of their downstream pipelines.
    downstream_checkouts: HashMap<PathBuf, Checkouts>,
    pool: Pool,
    slots: Semaphore,
    groups: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    dotenv: Mutex<Vec<Option<Layer>>>,
    junit: Mutex<Vec<(String, String)>>,
}

/// Runs `plan` with `executor`; `interrupts` delivers Ctrl-C / SIGTERM.
#[allow(clippy::too_many_arguments)]
pub async fn run<E: Executor>(
    pipeline: &Pipeline,
    plan: Arc<Plan>,
    project_dir: &Path,
    state_dir: &Path,
    executor: Arc<E>,
    options: RunOptions,
    reporter: Arc<Reporter>,
    mut interrupts: mpsc::UnboundedReceiver<()>,
) -> RunOutcome {
    let started = Instant::now();
    let state = StateDir::new(state_dir);
    let run_dir = state.run(plan.pipeline.iid);
    run_dir.claim();
    let files = plan
        .jobs
        .iter()
        .map(|j| {
            let model: Option<&Job> = j.model(pipeline);
            JobFiles {
                artifacts: model.and_then(|m| m.artifacts.as_deref().cloned()),
                caches: model.map(|m| m.cache.clone()).unwrap_or_default(),
                env: model
                    .and_then(|m| m.environment.as_ref())
                    .map(|e| environments::EnvFacts {
                        auto_stop_in: e.auto_stop_in.as_ref().map(|a| a.value),
                        // A downstream job's `on_stop` names a job of its own pipeline.
                        on_stop: e.on_stop.as_ref().map(|o| match &j.level {
                            Some(l) => {
                                format!("{}{}{}", l.trigger, crate::plan::downstream::NEST, o.value)
                            }
                            None => o.value.clone(),
                        }),
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let ctx = Arc::new(RunCtx {
        files,
        executor: executor.clone(),
        reporter: reporter.clone(),
        run_dir: run_dir.clone(),
        cache_root: state.cache(),
        checkouts: Checkouts::new(
            Snapshot::take(project_dir, options.include_untracked),
            &plan.pipeline.sha,
            (plan.pipeline.kind != "tag").then_some(plan.pipeline.r#ref.as_str()),
            run_dir.pristine(),
        ),
        downstream_checkouts: downstream_checkouts(&plan, &options, &run_dir),
        pool: Pool::new(state.workspaces(), run_dir.job_trash()),
        slots: Semaphore::new(options.concurrency.max(1)),
        groups: Mutex::new(HashMap::new()),
        dotenv: Mutex::new(vec![None; plan.jobs.len()]),
        junit: Mutex::new(Vec::new()),
        options: options.clone(),
        plan: plan.clone(),
    });
    reporter.pipeline_started(plan.pipeline.iid, plan.jobs.len(), executor.name());
    for j in &plan.jobs {
        let model = j.model(pipeline);
        for key in model.map_or(&[][..], |m| m.offline.as_slice()) {
            if let Some((_, what)) = crate::model::keywords::OFFLINE
                .iter()
                .find(|(k, _)| k == key)
            {
                reporter.note(&format!("{}: uses `{key}`, but {what} offline", j.name));
            }
        }
    }
    let mut results: Vec<Option<JobResult>> = vec![None; plan.jobs.len()];
    let mut sched = Scheduler::new(&plan, &options.manual);
    if let Err(e) = executor
        .setup_pipeline(&format!("gantry-{}", plan.pipeline.iid))
        .await
    {
        reporter.note(&format!("executor setup failed: {e}"));
        sched.abort();
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(usize, Status, JobResult)>();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let (abort_tx, abort_rx) = watch::channel(false);
    let mut running = 0usize;
    let mut announced = vec![false; plan.jobs.len()];
    loop {
        let ready = sched.ready();
        for (i, done) in announced.iter_mut().enumerate() {
            if !*done && sched.created(i) {
                *done = true;
                let j = &plan.jobs[i];
                let jobs = j.trigger.as_ref().map_or(0, |t| t.downstream.jobs.len());
                reporter.note(&format!(
                    "{}: started its downstream pipeline ({jobs} job{})",
                    j.name,
                    if jobs == 1 { "" } else { "s" }
                ));
            }
        }
        for (i, start) in ready {
            running += 1;
            reporter.job_pending(&plan.jobs[i].name);
            let cancel = if plan.jobs[i].when == "always" {
                abort_rx.clone()
            } else {
                cancel_rx.clone()
            };
            let (ctx, tx) = (ctx.clone(), done_tx.clone());
            tokio::spawn(async move {
                let (status, result) = job::execute(ctx, i, start, cancel).await;
                let _ = tx.send((i, status, result));
            });
        }
        for (i, row) in results.iter_mut().enumerate() {
            let trigger_done = sched.is_trigger(i) && sched.status(i).is_terminal();
            if row.is_none()
                && (trigger_done
                    || matches!(
                        sched.status(i),
                        Status::Skipped(_) | Status::Manual | Status::Canceled
                    ))
            {
                let r = not_run(&plan.jobs[i], sched.status(i));
                reporter.job_finished(&r);
                *row = Some(r);
            }
        }
        if running == 0 && sched.is_done() {
            break;
        }
        tokio::select! {
            Some((i, status, result)) = done_rx.recv() => {
                running -= 1;
                sched.finish(i, status);
                reporter.job_finished(&result);
                results[i] = Some(result);
            }
            Some(()) = interrupts.recv() => {
                if sched.is_cancelled() {
                    sched.abort();
                    let _ = abort_tx.send(true);
                    reporter.note("second interrupt: aborting `when: always` jobs too; cleaning up");
                } else {
                    sched.cancel();
                    let _ = cancel_tx.send(true);
                    reporter.note("interrupt: stopping running jobs; `when: always` jobs still run (interrupt again to abort them)");
                }
            }
        }
    }
    // Environments first: their `on_stop` jobs still need the executor.
    let mut cleaned = stop::finish(&ctx, &mut results, abort_rx.clone()).await;
    cleaned.extend(executor.teardown_pipeline().await);
    let results: Vec<JobResult> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| not_run(&plan.jobs[i], sched.status(i))))
        .collect();
    reporter.summary(&results, sched.outcome(), started.elapsed());
    if let Some(session) = &options.reuse {
        cleaned.extend(session.prune());
    }
    // What jobs threw away and the pipeline's pristine files go after the summary, in the
    // background: never between jobs. Slots stay for the next run (`gantry gc` removes them).
    if !options.keep_workspaces
        && pool::delete_in_background(&run_dir.jobs(), &state.trash()).is_ok()
    {
        cleaned.push(format!("pipeline files under {}", run_dir.jobs().display()));
    }
    run_dir.release();
    let junit = std::mem::take(&mut *ctx.junit.lock().unwrap_or_else(|e| e.into_inner()));
    RunOutcome {
        status: sched.outcome(),
        results,
        junit,
        cleaned,
    }
}

/// A checkout per other project whose pipeline a trigger job starts: its snapshot, its
/// commit, its pristine files beside this pipeline's.
fn downstream_checkouts(
    plan: &Plan,
    options: &RunOptions,
    run_dir: &RunDir,
) -> HashMap<PathBuf, Checkouts> {
    let mut out = HashMap::new();
    for job in &plan.jobs {
        let Some(dir) = job.level.as_ref().and_then(|l| l.project_dir.as_ref()) else {
            continue;
        };
        if out.contains_key(dir) {
            continue;
        }
        let options_of = crate::plan::PipelineOptions::default();
        let sha = crate::plan::Context::new(&dir.join(".gitlab-ci.yml"), &options_of)
            .map(|c| c.sha)
            .unwrap_or_default();
        let pristine = run_dir.jobs().join(format!("pristine-{}", out.len() + 1));
        let checkouts = Checkouts::new(
            Snapshot::take(dir, options.include_untracked),
            &sha,
            None,
            pristine,
        );
        out.insert(dir.clone(), checkouts);
    }
    out
}

impl<E> RunCtx<E> {
    /// The checkout job `i` runs in: its project's (another project's for the jobs of its
    /// downstream pipeline).
    fn checkouts_of(&self, i: usize) -> &Checkouts {
        self.plan.jobs[i]
            .level
            .as_ref()
            .and_then(|l| l.project_dir.as_ref())
            .and_then(|d| self.downstream_checkouts.get(d))
            .unwrap_or(&self.checkouts)
    }
}

/// The row of a job that ran no script: not run, or a trigger job.
fn not_run(job: &PlannedJob, status: &Status) -> JobResult {
    let downstream = job.trigger.as_ref().map(|t| &t.downstream);
    JobResult {
        name: job.name.clone(),
        stage: job.stage.clone(),
        status: status.label().to_string(),
        detail: match (status, downstream) {
            (Status::Skipped(why), Some(d)) if d.unavailable.is_some() => {
                let hint = job
                    .trigger
                    .as_ref()
                    .and_then(|t| t.project.as_ref())
                    .map(|p| format!(" (map a checkout with --project-dir {p}=DIR)"))
                    .unwrap_or_default();
                Some(format!("{why}{hint}"))
            }
            (Status::Skipped(why), _) => Some(why.clone()),
            (Status::Manual, _) => Some("manual job not started (use --manual)".into()),
            (Status::Failed { .. }, Some(d)) => Some(match &d.not_created {
                Some(why) => format!("downstream pipeline not created: {why}"),
                None => "downstream pipeline failed".into(),
            }),
            (Status::Success, Some(t)) if job.trigger.as_ref().is_some_and(|t| !t.depend) => {
                Some(format!(
                    "started its downstream pipeline ({} jobs); without `strategy: depend` its result does not count here",
                    t.jobs.len()
                ))
            }
            (Status::Success, Some(_)) => Some("downstream pipeline succeeded".into()),
            (Status::Canceled, Some(_)) => Some("downstream pipeline canceled".into()),
            _ => None,
        },
        duration: None,
        exit_code: None,
        attempts: 0,
        reused: None,
    }
}
