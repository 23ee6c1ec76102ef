//! One job of a run: a workspace slot reset to the pipeline's snapshot, artifacts and dotenv
//! in, caches in, attempts (a retry starts from a reset workspace too), then artifacts, reports
//! and caches out. The slot goes back to the pool afterwards; nothing is deleted here.

use super::git_vars::{GitSettings, Strategy};
use super::pool::{Checkout, Slot};
use super::scheduler::{Start, Status};
use super::{RunCtx, artifacts, cache};
use crate::executor::{Executor, Exit, Interactive, JobSpec};
use crate::model::rules::AllowFailure;
use crate::plan::PlannedJob;
use crate::plan::slug::slug;
use crate::plan::variables::{Layer, Origin, Var};
use crate::report::run::JobResult;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Runs job `i` to completion (all attempts) and saves what it produced.
pub(super) async fn execute<E: Executor>(
    ctx: Arc<RunCtx<E>>,
    i: usize,
    start: Start,
    mut cancel: watch::Receiver<bool>,
) -> (Status, JobResult) {
    let job = &ctx.plan.jobs[i];
    let mut result = JobResult {
        name: job.name.clone(),
        stage: job.stage.clone(),
        status: String::new(),
        detail: None,
        duration: None,
        exit_code: None,
        attempts: 0,
        reused: None,
    };
    let finish = |mut r: JobResult, status: Status, detail: Option<String>| {
        r.status = status.label().to_string();
        r.detail = detail.or(r.detail);
        (status, r)
    };
    if let Start::After(secs) = start {
        let stop = cancel.clone();
        if !sleep_unless_cancelled(Duration::from_secs(secs), stop).await {
            return finish(result, Status::Canceled, None);
        }
    }
    let interactive = match &ctx.options.shell {
        Some(super::ShellAt::Job(name)) if *name == job.name => Interactive::Instead,
        Some(super::ShellAt::Failure) => Interactive::OnFailure,
        _ => Interactive::Off,
    };
    let pending = match super::reuse::lookup(&ctx, i, interactive).await {
        super::reuse::Lookup::Reused(r) => return (Status::Success, *r),
        super::reuse::Lookup::Run(p) => p,
    };
    let Ok(_slot) = ctx.slots.acquire().await else {
        return finish(result, Status::Canceled, None);
    };
    let group = job.resource_group.as_ref().map(|g| {
        let mut groups = ctx.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.entry(g.clone()).or_default().clone()
    });
    let _group_guard = match &group {
        Some(g) => Some(g.lock().await),
        None => None,
    };
    if *cancel.borrow_and_update() {
        return finish(result, Status::Canceled, None);
    }
    let mut slot = ctx.pool.lease();
    let workspace = slot.workspace();
    let scratch = slot.scratch();
    let prepared = match prepare(&ctx, i, &mut slot) {
        Ok((mut env, mut secrets, expanded)) => {
            super::environments::add_job_env(&ctx, i, &mut env, &mut secrets, &scratch)
                .await
                .map(|()| (env, secrets, expanded))
        }
        Err(e) => Err(e),
    };
    let (env, secrets, cache_keys) = match prepared {
        Ok(p) => p,
        Err(e) => {
            ctx.reporter.job_started(&job.name, 1);
            return finish(
                result,
                Status::Failed { allowed: false },
                Some(format!("preparing the job failed: {e}")),
            );
        }
    };
    let spec = JobSpec {
        name: job.name.clone(),
        workspace: workspace.clone(),
        scratch,
        env,
        script: job
            .before_script
            .iter()
            .chain(&job.script)
            .cloned()
            .collect(),
        after_script: job.after_script.clone(),
        image: job.image.clone(),
        entrypoint: job.image_options.0.clone(),
        user: job.image_options.1.clone(),
        services: job
            .services
            .iter()
            .map(|s| crate::executor::ServiceSpec {
                image: s.image.clone(),
                alias: s.alias.clone(),
                entrypoint: s.entrypoint.clone(),
                command: s.command.clone(),
                variables: s.variables.clone(),
            })
            .collect(),
        timeout: job.timeout.map(Duration::from_secs),
        grace: ctx.options.grace,
        executor: job.executor,
        read_only: ctx.checkouts_of(i).read_only(),
        interactive,
    };
    let mut exit;
    loop {
        result.attempts += 1;
        ctx.reporter.job_started(&job.name, result.attempts);
        let sink = ctx.reporter.sink(&job.name, &secrets);
        let began = Instant::now();
        exit = ctx
            .executor
            .run_job(&spec, sink.clone(), cancel.clone())
            .await;
        sink.flush();
        result.duration = Some(began.elapsed());
        result.exit_code = match exit {
            Exit::Code(c) => Some(c),
            _ => None,
        };
        if exit == Exit::Code(0)
            || exit == Exit::Canceled
            || interactive == Interactive::Instead
            || !should_retry(job, &exit, result.attempts)
        {
            break;
        }
        ctx.reporter
            .note(&format!("{}: retrying ({:?})", job.name, exit));
        // A retry is a new job in GitLab: it starts from a fresh workspace, not the failed one's.
        if let Err(e) = prepare(&ctx, i, &mut slot) {
            exit = Exit::Error(format!("preparing the retry failed: {e}"));
            break;
        }
    }
    let mut status = match &exit {
        Exit::Code(0) => Status::Success,
        Exit::Canceled => Status::Canceled,
        Exit::Code(c) => Status::Failed {
            allowed: allows(&job.allow_failure, Some(*c)),
        },
        Exit::TimedOut | Exit::Error(_) => Status::Failed {
            allowed: allows(&job.allow_failure, None),
        },
    };
    let mut detail = match &exit {
        Exit::TimedOut => Some(format!("timed out after {}s", job.timeout.unwrap_or(0))),
        Exit::Error(e) => Some(e.clone()),
        _ => None,
    };
    if interactive == Interactive::Instead {
        // A person's shell session is not the job: nothing of it is kept.
        drop(slot);
        return finish(result, status, Some("interactive shell".into()));
    }
    if let Err(e) = save_outputs(&ctx, i, &workspace, &status, &cache_keys) {
        ctx.reporter.note(&format!("{}: {e}", job.name));
        if status == Status::Success {
            status = Status::Failed {
                allowed: allows(&job.allow_failure, None),
            };
        }
        detail = Some(e.to_string());
    }
    drop(slot); // back to the pool, as it is: the next job's reset cleans it
    super::reuse::record(&ctx, i, pending, &status, result.duration);
    finish(result, status, detail)
}

async fn sleep_unless_cancelled(d: Duration, mut cancel: watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = crate::executor::cancelled(&mut cancel) => false,
    }
}

fn allows(allow: &AllowFailure, code: Option<i32>) -> bool {
    match allow {
        AllowFailure::Bool(b) => *b,
        AllowFailure::ExitCodes(codes) => code.is_some_and(|c| codes.contains(&i64::from(c))),
    }
}

/// GitLab's `retry`: up to `max` more attempts, for the listed failure kinds and exit codes.
fn should_retry(job: &PlannedJob, exit: &Exit, attempts: u32) -> bool {
    let r = &job.retry;
    if attempts > u32::from(r.max) {
        return false;
    }
    let reason = match exit {
        Exit::Code(_) => "script_failure",
        Exit::TimedOut => "job_execution_timeout",
        Exit::Error(_) => "runner_system_failure",
        Exit::Canceled => return false,
    };
    let when_ok = r.when.is_empty()
        || r.when.iter().any(|w| {
            w == "always"
                || w == reason
                || (reason == "job_execution_timeout" && w == "stuck_or_timeout_failure")
        });
    let code_ok = r.exit_codes.is_empty()
        || matches!(exit, Exit::Code(c) if r.exit_codes.contains(&i64::from(*c)));
    when_ok && code_ok
}

type Prepared = (Vec<(String, String)>, Vec<String>, Expanded);

/// Why a job's files could not be put in place before it, or kept after it: the job fails
/// with this as its detail (the script's own failure is an `Exit`, not this).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The clean checkout could not be prepared.
    #[error(transparent)]
    Checkout(#[from] super::checkouts::CheckoutError),
    /// The slot's workspace could not be reset to it.
    #[error("preparing the workspace {}: {source}", path.display())]
    Workspace {
        /// The workspace.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A needed job's artifacts could not be restored.
    #[error("artifacts of `{job}`: {source}")]
    Restore {
        /// The job that made them.
        job: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// A file-type variable could not be written (the message names the file, never the value).
    #[error("{}: {source}", path.display())]
    FileVariable {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// `cache:policy` expanded to something GitLab does not know.
    #[error("cache:policy `{written}` is `{value}`, not one of pull, push, pull-push")]
    CachePolicy {
        /// As written.
        written: String,
        /// After expansion.
        value: String,
    },
    /// The environment's namespace could not be prepared.
    #[error("preparing environment namespace: {0}")]
    Environment(#[source] crate::environment::EnvError),
    /// The environment's kubeconfig could not be written.
    #[error("writing kubeconfig: {0}")]
    Kubeconfig(#[source] std::io::Error),
    /// Artifacts or a cache could not be collected.
    #[error(transparent)]
    Collect(#[from] artifacts::CollectError),
    /// Artifacts could not be copied to `--artifacts-dir`.
    #[error("{}: {source}", path.display())]
    ArtifactsDir {
        /// The destination.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A report path leaves the workspace.
    #[error("{kind} report {source}")]
    Report {
        /// `dotenv` or `junit`.
        kind: String,
        /// Which path.
        source: crate::files::Outside,
    },
    /// A dotenv report could not be read.
    #[error("dotenv report {}: {source}", path.display())]
    Dotenv {
        /// The report.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The dotenv report could not be kept for later jobs.
    #[error("keeping the dotenv report: {0}")]
    KeepDotenv(#[source] std::io::Error),
}

/// Values GitLab Runner expands with the job's variables before use: per cache its key,
/// `policy` and `paths`; the artifacts' `paths` and `exclude`.
#[derive(Default)]
struct Expanded {
    caches: Vec<(String, String, Vec<String>)>,
    artifact_paths: Vec<String>,
    artifact_exclude: Vec<String>,
}

/// Workspace, artifacts in, variables (with dotenv), caches in. Returns env, secrets, cache keys.
fn prepare<E>(ctx: &RunCtx<E>, i: usize, slot: &mut Slot) -> Result<Prepared, JobError> {
    let plan = &ctx.plan;
    let job = &plan.jobs[i];
    let workspace = &slot.workspace();
    let scratch = &slot.scratch();
    let planned = with_dotenv(ctx, i);
    let (git, warnings) = GitSettings::from_scope(&plan.variables(&planned).scope());
    for w in warnings {
        ctx.reporter.note(&format!("{}: {w}", job.name));
    }
    checkout(ctx, i, slot, &git)?;
    for dep in &job.dependencies {
        let store = ctx.run_dir.artifacts().join(slug(dep));
        if store.is_dir() {
            artifacts::restore(&store, workspace).map_err(|source| JobError::Restore {
                job: dep.clone(),
                source,
            })?;
        }
    }
    let ws = workspace.display().to_string();
    let builds = ctx.run_dir.jobs().display().to_string();
    // git in a job must never find the user's repository above the workspace (which lives
    // inside it, under .gantry/): not even with GIT_STRATEGY none, where there is no .git.
    let ceiling = workspace
        .parent()
        .unwrap_or(workspace)
        .display()
        .to_string();
    let vars = plan
        .variables(&planned)
        .with("CI_PROJECT_DIR", &ws)
        .with("CI_BUILDS_DIR", &builds)
        .with("CI_CONCURRENT_ID", &slot.id().to_string())
        .with("CI_CONCURRENT_PROJECT_ID", &slot.id().to_string())
        .with("GIT_CEILING_DIRECTORIES", &ceiling);
    let scope = vars.scope();
    // Every job process carries its run directory, so a leftover is found if gantry dies.
    let mut env = vec![(
        super::orphans::MARKER.to_string(),
        ctx.run_dir.path().display().to_string(),
    )];
    let mut secrets = Vec::new();
    for v in scope.resolved() {
        if v.masked && v.value.len() >= crate::plan::sources::MIN_MASKED_LEN {
            secrets.push(v.value.clone());
        }
        if v.file {
            let path = scratch.join("vars").join(&v.name);
            std::fs::create_dir_all(scratch.join("vars"))
                .and_then(|()| std::fs::write(&path, &v.value))
                .map_err(|source| JobError::FileVariable {
                    path: path.clone(),
                    source,
                })?;
            env.push((v.name, path.display().to_string()));
        } else {
            env.push((v.name, v.value));
        }
    }
    let mut expanded = Expanded::default();
    if let Some(a) = &ctx.files[i].artifacts {
        expanded.artifact_paths = a.paths.iter().map(|p| scope.expand(&p.value)).collect();
        expanded.artifact_exclude = a.exclude.iter().map(|p| scope.expand(&p.value)).collect();
    }
    for c in &ctx.files[i].caches {
        let key = cache::key(c, &scope, workspace);
        let policy = match &c.policy {
            None => "pull-push".to_string(),
            Some(p) => {
                let value = scope.expand(&p.value);
                if !crate::model::keywords::CACHE_POLICY.contains(&value.as_str()) {
                    return Err(JobError::CachePolicy {
                        written: p.value.clone(),
                        value,
                    });
                }
                value
            }
        };
        if policy != "push" {
            let mut candidates = vec![key.clone()];
            candidates.extend(c.fallback_keys.iter().map(|k| scope.expand(&k.value)));
            // A cache that cannot be restored is a warning, as in GitLab; the job runs.
            match cache::restore(&ctx.cache_root, &candidates, workspace) {
                Ok(Some(used)) => ctx
                    .reporter
                    .note(&format!("{}: restored cache `{used}`", job.name)),
                Ok(None) => {}
                Err(e) => ctx
                    .reporter
                    .note(&format!("{}: cache `{key}` not restored: {e}", job.name)),
            }
        }
        let paths = c.paths.iter().map(|p| scope.expand(&p.value)).collect();
        expanded.caches.push((key, policy, paths));
    }
    Ok((env, secrets, expanded))
}

/// Job `i` with the dotenv variables of the jobs whose artifacts it receives.
pub(super) fn with_dotenv<E>(ctx: &RunCtx<E>, i: usize) -> PlannedJob {
    let plan = &ctx.plan;
    let job = &plan.jobs[i];
    let mut planned = job.clone();
    let dotenv = ctx.dotenv.lock().unwrap_or_else(|e| e.into_inner());
    for dep in &job.dependencies {
        match plan.jobs.iter().position(|p| p.name == *dep) {
            Some(j) => {
                if let Some(layer) = &dotenv[j] {
                    for (k, v) in layer {
                        planned.layers.dotenv.insert(k.clone(), v.clone());
                    }
                }
            }
            // Not in this run (a job retried on its own): what the earlier attempt kept.
            None => {
                let kept = ctx.run_dir.dotenv().join(format!("{}.env", slug(dep)));
                if let Ok(text) = std::fs::read_to_string(kept) {
                    for (k, v) in artifacts::parse_dotenv(&text).0 {
                        planned
                            .layers
                            .dotenv
                            .insert(k, Var::plain(v, Origin::Dotenv));
                    }
                }
            }
        }
    }
    planned
}

/// Resets the slot's workspace as the job's `GIT_*` variables ask.
fn checkout<E>(
    ctx: &RunCtx<E>,
    i: usize,
    slot: &mut Slot,
    git: &GitSettings,
) -> Result<(), JobError> {
    let checkouts = ctx.checkouts_of(i);
    let needs_files = matches!(git.strategy, Strategy::Fetch | Strategy::Clone);
    let empty = super::manifest::Manifest::default();
    let (tree, dot_git) = if needs_files {
        (
            Some(checkouts.tree(git.submodules)?),
            checkouts.git(git.depth)?,
        )
    } else {
        (None, None)
    };
    slot.prepare(&Checkout {
        strategy: git.strategy,
        checkout: git.checkout,
        clean: &git.clean,
        tree: tree.as_deref().unwrap_or(&empty),
        git: dot_git.as_deref(),
    })
    .map_err(|source| JobError::Workspace {
        path: slot.workspace(),
        source,
    })?;
    Ok(())
}

/// GitLab's default artifact retention.
const DEFAULT_EXPIRE_SECS: u64 = 30 * 86_400;

/// Writes `<store>.json` beside an artifact directory: when it was made and when it expires
/// (`expire_in`, 30 days by default, `never` recorded as null), for `gantry gc` to honour.
pub(super) fn record_expiry(store: &Path, expire_in: Option<u64>, files: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires = match expire_in.unwrap_or(DEFAULT_EXPIRE_SECS) {
        u64::MAX => serde_json::Value::Null,
        secs => serde_json::json!(now.saturating_add(secs)),
    };
    let meta = serde_json::json!({"created_at": now, "expires_at": expires, "files": files});
    let _ = std::fs::write(store.with_extension("json"), meta.to_string());
}

/// Job `i`'s `reports:dotenv` files become the variables of the jobs receiving its artifacts;
/// its `reports:junit` files join the run's JUnit report.
pub(super) fn take_reports<E>(
    ctx: &RunCtx<E>,
    i: usize,
    dotenv: &[PathBuf],
    junit: &[PathBuf],
) -> Result<(), JobError> {
    let job = &ctx.plan.jobs[i];
    let mut layer = Layer::default();
    let mut kept = String::new();
    for f in dotenv {
        let text = std::fs::read_to_string(f).map_err(|source| JobError::Dotenv {
            path: f.clone(),
            source,
        })?;
        kept.push_str(&text);
        kept.push('\n');
        let (vars, bad) = artifacts::parse_dotenv(&text);
        for line in bad {
            ctx.reporter
                .note(&format!("{}: ignoring dotenv line `{line}`", job.name));
        }
        for (k, v) in vars {
            layer.insert(k, Var::plain(v, Origin::Dotenv));
        }
    }
    ctx.dotenv.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(layer);
    if !dotenv.is_empty() {
        let dir = ctx.run_dir.dotenv();
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(format!("{}.env", slug(&job.name))), kept))
            .map_err(JobError::KeepDotenv)?;
    }
    for f in junit {
        if let Ok(xml) = std::fs::read_to_string(f) {
            ctx.junit
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((job.name.clone(), xml));
        }
    }
    Ok(())
}

/// Artifacts, dotenv and JUnit reports out; caches saved.
fn save_outputs<E>(
    ctx: &RunCtx<E>,
    i: usize,
    workspace: &Path,
    status: &Status,
    expanded: &Expanded,
) -> Result<(), JobError> {
    let job = &ctx.plan.jobs[i];
    let succeeded = matches!(status, Status::Success);
    let failed = matches!(status, Status::Failed { .. });
    let applies = |when: Option<&str>| match when.unwrap_or("on_success") {
        "always" => succeeded || failed,
        "on_failure" => failed,
        _ => succeeded,
    };
    if let Some(a) = &ctx.files[i].artifacts
        && applies(a.when.as_ref().map(|w| w.value.as_str()))
    {
        let store = ctx.run_dir.artifacts().join(slug(&job.name));
        let mut paths = expanded.artifact_paths.clone();
        for reports in a.reports.values() {
            paths.extend(reports.iter().map(|p| p.value.clone()));
        }
        let exclude = expanded.artifact_exclude.clone();
        if a.untracked {
            // `untracked: true` adds every file the project does not track (GitLab: git-untracked).
            paths.extend(
                artifacts::list(workspace)
                    .into_iter()
                    .filter(|rel| !ctx.checkouts_of(i).snapshot().tracks(rel))
                    .map(|rel| rel.to_string_lossy().into_owned()),
            );
        }
        let kept = artifacts::collect(workspace, &paths, &exclude, &store)?;
        record_expiry(&store, a.expire_in.as_ref().map(|e| e.value), kept.len());
        if let Some(dir) = &ctx.options.artifacts_dir {
            let dest = dir.join(slug(&job.name));
            artifacts::restore(&store, &dest)
                .map_err(|source| JobError::ArtifactsDir { path: dest, source })?;
        }
        // Reports are read only inside the workspace, symlinks resolved (`files::confine`).
        let report_files = |kind: &str| -> Result<Vec<PathBuf>, JobError> {
            a.reports
                .get(kind)
                .into_iter()
                .flatten()
                .map(|p| {
                    crate::files::confine(workspace, Path::new(&p.value)).map_err(|source| {
                        JobError::Report {
                            kind: kind.to_string(),
                            source,
                        }
                    })
                })
                .collect()
        };
        take_reports(ctx, i, &report_files("dotenv")?, &report_files("junit")?)?;
        let _ = kept;
    }
    for (c, (key, policy, paths)) in ctx.files[i].caches.iter().zip(&expanded.caches) {
        if policy != "pull" && applies(c.when.as_ref().map(|w| w.value.as_str())) {
            cache::save(&ctx.cache_root, key, paths, workspace)?;
        }
    }
    Ok(())
}
