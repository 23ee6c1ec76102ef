//! The executor of a `runners` repository: each attempt becomes GitLab's job payload, queued
//! for the runners; the attempt's result is what its runner reports. Also [`Served`], the
//! server's choice between its own executors and the runners.

use super::super::App;
use super::super::config::{ExecutorChoice, RepoConfig};
use super::super::db::PipelineRow;
use super::{Event, Pending};
use crate::executor::auto::AutoExecutor;
use crate::executor::{Cancel, Executor, ExecutorError, Exit, JobSpec, Sink, Stream};
use crate::plan::Plan;
use crate::plan::variables::Origin;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Variables of the server's own job processes that mean nothing on a runner (it sets its
/// own project and builds directories).
const LOCAL_ONLY: &[&str] = &[
    "CI_PROJECT_DIR",
    "CI_BUILDS_DIR",
    "CI_CONCURRENT_ID",
    "CI_CONCURRENT_PROJECT_ID",
    "GIT_CEILING_DIRECTORIES",
    crate::run::orphans::MARKER,
    super::super::execute::MARKER,
];

/// GitLab's default job timeout (seconds), when the job names none.
const DEFAULT_TIMEOUT: u64 = 3600;

/// What a pipeline's executor is chosen from.
pub struct Hand<'a> {
    /// The pipeline's row.
    pub row: &'a PipelineRow,
    /// The pipeline's model.
    pub pipeline: &'a crate::model::Pipeline,
    /// Its plan.
    pub plan: &'a Arc<Plan>,
    /// Job ids, in the plan's order.
    pub ids: &'a [i64],
}

/// The server's executor for one pipeline: its own, or the runners.
pub enum Served {
    /// Shell, Docker, Kubernetes on the server.
    Local(Arc<AutoExecutor>),
    /// Runners on other machines.
    Runners(RunnersExecutor),
}

impl Served {
    /// The runners for a repository with `executor = "runners"`, else `local`.
    pub fn choose(
        app: &Arc<App>,
        repo: &RepoConfig,
        local: Arc<AutoExecutor>,
        hand: Hand<'_>,
    ) -> Arc<Served> {
        Arc::new(if repo.executor() == ExecutorChoice::Runners {
            Served::Runners(RunnersExecutor::new(app.clone(), hand))
        } else {
            Served::Local(local)
        })
    }
}

impl Executor for Served {
    fn name(&self) -> &'static str {
        match self {
            Served::Local(e) => e.name(),
            Served::Runners(_) => "runners",
        }
    }

    async fn setup_pipeline(&self, pipeline: &str) -> Result<(), ExecutorError> {
        match self {
            Served::Local(e) => e.setup_pipeline(pipeline).await,
            Served::Runners(_) => Ok(()),
        }
    }

    async fn run_job(&self, job: &JobSpec, out: Sink, cancel: Cancel) -> Exit {
        match self {
            Served::Local(e) => e.run_job(job, out, cancel).await,
            Served::Runners(r) => r.run_job(job, out, cancel).await,
        }
    }

    async fn teardown_pipeline(&self) -> Vec<String> {
        match self {
            Served::Local(e) => e.teardown_pipeline().await,
            Served::Runners(_) => Vec::new(),
        }
    }

    async fn image_digest(
        &self,
        executor: &'static str,
        image: &str,
    ) -> Result<Option<String>, ExecutorError> {
        match self {
            Served::Local(e) => e.image_digest(executor, image).await,
            Served::Runners(_) => Ok(None),
        }
    }

    fn fingerprint(&self, executor: &'static str) -> String {
        match self {
            Served::Local(e) => e.fingerprint(executor),
            Served::Runners(_) => "runners".into(),
        }
    }
}

/// What the payload of one job takes from the plan, gathered once per pipeline.
struct Known {
    id: i64,
    stage: String,
    tags: Vec<String>,
    /// Variable name → (masked, file, public).
    flags: HashMap<String, (bool, bool, bool)>,
    artifacts: Value,
    /// Jobs whose artifacts it receives: (name, id).
    dependencies: Vec<(String, i64)>,
    /// Its `cache` entries (keys are computed per attempt, from its workspace).
    caches: Vec<crate::model::artifacts::Cache>,
}

/// Hands each attempt to a runner and waits for its result.
pub struct RunnersExecutor {
    app: Arc<App>,
    pipeline: i64,
    repository: String,
    git_info: Value,
    jobs: HashMap<String, Known>,
    plan: Arc<Plan>,
}

impl RunnersExecutor {
    fn new(app: Arc<App>, hand: Hand<'_>) -> Self {
        let ids: HashMap<&str, i64> = hand
            .plan
            .jobs
            .iter()
            .map(|j| j.name.as_str())
            .zip(hand.ids.iter().copied())
            .collect();
        let jobs = hand
            .plan
            .jobs
            .iter()
            .zip(hand.ids)
            .map(|(j, id)| {
                let flags = hand
                    .plan
                    .variables(j)
                    .scope()
                    .resolved()
                    .into_iter()
                    .map(|v| {
                        let public = v.origin == Origin::Predefined && !v.masked;
                        (v.name, (v.masked, v.file, public))
                    })
                    .collect();
                let artifacts = hand
                    .pipeline
                    .jobs
                    .get(&j.job)
                    .and_then(|m| m.artifacts.as_deref())
                    .map_or(Value::Null, |a| {
                        let strings = |v: &[crate::source::Spanned<String>]| {
                            v.iter().map(|s| s.value.clone()).collect::<Vec<_>>()
                        };
                        json!([{
                            "name": a.name.as_ref().map_or("artifacts", |n| n.value.as_str()),
                            "untracked": a.untracked,
                            "paths": strings(&a.paths),
                            "exclude": strings(&a.exclude),
                            "when": a.when.as_ref().map_or("on_success", |w| w.value.as_str()),
                            "artifact_type": "archive",
                            "artifact_format": "zip",
                            "expire_in": a.expire_in.as_ref().map(|e| format!("{} sec", e.value)),
                        }])
                    });
                let known = Known {
                    caches: hand
                        .pipeline
                        .jobs
                        .get(&j.job)
                        .map(|m| m.cache.clone())
                        .unwrap_or_default(),
                    id: *id,
                    stage: j.stage.clone(),
                    tags: j.tags.clone(),
                    flags,
                    artifacts,
                    dependencies: j
                        .dependencies
                        .iter()
                        .filter_map(|d| ids.get(d.as_str()).map(|i| (d.clone(), *i)))
                        .collect(),
                };
                (j.name.clone(), known)
            })
            .collect();
        let row = hand.row;
        let (git_ref, ref_type, refspec) = if row.new.kind == "tag" {
            (
                row.new.git_ref.clone(),
                "tag",
                format!("+refs/tags/{0}:refs/tags/{0}", row.new.git_ref),
            )
        } else {
            (
                row.new.git_ref.clone(),
                "branch",
                format!("+refs/heads/{0}:refs/remotes/origin/{0}", row.new.git_ref),
            )
        };
        RunnersExecutor {
            app,
            pipeline: row.id,
            repository: row.new.repository.clone(),
            git_info: json!({
                "repo_type": "git",
                "ref": git_ref,
                "sha": row.new.sha,
                "before_sha": row.new.before_sha.clone().unwrap_or_else(|| "0".repeat(40)),
                "ref_type": ref_type,
                "refspecs": [refspec],
                "depth": 0,
                // The server's own, taken out at pickup (`api::complete`).
                "repo_path": row.new.repository,
            }),
            jobs,
            plan: hand.plan.clone(),
        }
    }

    /// GitLab's `cache` entries of `spec`: keys computed as the server's own jobs compute
    /// them (`cache:key:files` from the attempt's workspace), policy expanded.
    fn caches(&self, spec: &JobSpec, known: &Known) -> Vec<Value> {
        let Some(planned) = self.plan.job(&spec.name) else {
            return Vec::new();
        };
        let vars = self.plan.variables(planned);
        let scope = vars.scope();
        known
            .caches
            .iter()
            .map(|c| {
                let expand = |v: &[crate::source::Spanned<String>]| {
                    v.iter().map(|s| scope.expand(&s.value)).collect::<Vec<_>>()
                };
                json!({
                    "key": crate::run::cache::key(c, &scope, &spec.workspace),
                    "untracked": c.untracked,
                    "policy": c.policy.as_ref().map_or("pull-push".into(), |p| scope.expand(&p.value)),
                    "paths": expand(&c.paths),
                    "when": c.when.as_ref().map_or("on_success", |w| w.value.as_str()),
                    "fallback_keys": expand(&c.fallback_keys),
                })
            })
            .collect()
    }

    /// GitLab's job payload for `spec` (`Entities::Ci::JobRequest::Response`), without the
    /// job token and the clone URL, which [`api::request`](super::api) adds at pickup.
    fn payload(&self, spec: &JobSpec, known: &Known) -> Value {
        let timeout = spec.timeout.map_or(DEFAULT_TIMEOUT, |t| t.as_secs());
        let mut variables: Vec<Value> = spec
            .env
            .iter()
            .filter(|(k, _)| !LOCAL_ONLY.contains(&k.as_str()))
            .map(|(k, v)| {
                let (masked, file, public) = known.flags.get(k).copied().unwrap_or_default();
                // A file variable's value is a path on the server: the runner gets its content.
                let value = if file {
                    std::fs::read_to_string(v).unwrap_or_default()
                } else {
                    v.clone()
                };
                // Values are expanded already: the runner must not expand them again.
                json!({"key": k, "value": value, "public": public, "file": file, "masked": masked, "raw": true})
            })
            .collect();
        variables.retain(|v| v["key"] != "CI_JOB_ID");
        variables.push(json!({"key": "CI_JOB_ID", "value": known.id.to_string(), "public": true, "file": false, "masked": false, "raw": true}));
        let mut steps = vec![json!({
            "name": "script",
            "script": spec.script,
            "timeout": timeout,
            "when": "on_success",
            "allow_failure": false,
        })];
        if !spec.after_script.is_empty() {
            steps.push(json!({
                "name": "after_script",
                "script": spec.after_script,
                "timeout": crate::executor::AFTER_SCRIPT_TIMEOUT.as_secs(),
                "when": "always",
                "allow_failure": true,
            }));
        }
        let image = spec
            .image
            .as_ref()
            .map(|i| json!({"name": i, "entrypoint": spec.entrypoint}));
        let services: Vec<Value> = spec
            .services
            .iter()
            .map(|s| {
                json!({
                    "name": s.image,
                    "alias": s.alias,
                    "entrypoint": s.entrypoint,
                    "command": s.command,
                    "variables": s.variables.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let dependencies: Vec<Value> = known
            .dependencies
            .iter()
            .map(|(name, id)| json!({"id": id, "name": name}))
            .collect();
        json!({
            "id": known.id,
            "allow_git_fetch": true,
            "job_info": {
                "id": known.id,
                "name": spec.name,
                "stage": known.stage,
                "project_id": 0,
                "project_name": self.repository.rsplit('/').next().unwrap_or_default(),
            },
            "git_info": self.git_info,
            "runner_info": {"timeout": timeout},
            "variables": variables,
            "steps": steps,
            "image": image,
            "services": services,
            "artifacts": known.artifacts,
            "cache": self.caches(spec, known),
            "credentials": [],
            "dependencies": dependencies,
            "features": {"trace_sections": true, "failure_reasons": FAILURE_REASONS},
            // The server's own, taken out at pickup (`api::complete`).
            "pipeline_id": self.pipeline,
        })
    }

    /// Records and announces job `id`'s status while it waits for or runs on a runner.
    fn mark(&self, id: i64, name: &str, status: &str) {
        if let Err(e) = self.app.db.set_job_status(id, status, false, None, None) {
            tracing::error!(job = id, "{e}");
        }
        let _ = self.app.events.send(super::super::sse::Event::Job {
            id,
            pipeline_id: self.pipeline,
            name: name.to_string(),
            status: status.to_string(),
        });
    }

    /// One attempt of `spec` on a runner.
    async fn run_job(&self, spec: &JobSpec, out: Sink, mut cancel: Cancel) -> Exit {
        let Some(known) = self.jobs.get(&spec.name) else {
            return Exit::Error(format!("job {} is not in the pipeline", spec.name));
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let coord = &self.app.runners;
        coord.push(Pending {
            job: known.id,
            pipeline: self.pipeline,
            repository: self.repository.clone(),
            name: spec.name.clone(),
            tags: known.tags.clone(),
            payload: self.payload(spec, known),
            workspace: spec.workspace.clone(),
            events: tx,
        });
        let _forget = Forget(&self.app, known.id);
        // GitLab's words: pending until a runner picks it up, then running.
        self.mark(known.id, &spec.name, "pending");
        let silence = Duration::from_secs(self.app.config.runner_timeout.max(1));
        let mut last: Option<Instant> = None;
        out.write(
            Stream::Stdout,
            format!(
                "Waiting for a runner{}\n",
                if known.tags.is_empty() {
                    String::new()
                } else {
                    format!(" with tags {}", known.tags.join(", "))
                }
            )
            .as_bytes(),
        );
        loop {
            let quiet = last.map(|l| silence.saturating_sub(l.elapsed()));
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(Event::Picked { runner, description }) => {
                        last = Some(Instant::now());
                        out.write(Stream::Stdout, format!("Running on runner #{runner} ({description})\n").as_bytes());
                        self.mark(known.id, &spec.name, "running");
                    }
                    Some(Event::Contact) => last = Some(Instant::now()),
                    Some(Event::Trace(data)) => {
                        last = Some(Instant::now());
                        out.write(Stream::Stdout, &data);
                    }
                    Some(Event::Done(exit)) => return exit,
                    None => return Exit::Error("runner_system_failure: the job left the queue".into()),
                },
                _ = crate::executor::cancelled(&mut cancel) => {
                    if coord.cancel(known.id) || last.is_none() {
                        coord.forget(known.id, "canceled");
                        return Exit::Canceled;
                    }
                    // The runner learns it at its next update; give it the grace to stop.
                    let grace = spec.grace.max(Duration::from_secs(1)) * 2;
                    let _ = tokio::time::timeout(grace, async {
                        while let Some(ev) = rx.recv().await {
                            match ev {
                                Event::Trace(data) => out.write(Stream::Stdout, &data),
                                Event::Done(_) => return,
                                _ => {}
                            }
                        }
                    })
                    .await;
                    coord.forget(known.id, "canceled");
                    return Exit::Canceled;
                }
                _ = tokio::time::sleep(quiet.unwrap_or(Duration::MAX)), if quiet.is_some() => {
                    let why = format!(
                        "runner_system_failure: the runner sent nothing for {}s",
                        silence.as_secs()
                    );
                    out.write(Stream::Stderr, format!("{why}\n").as_bytes());
                    return Exit::Error(why);
                }
            }
        }
    }
}

/// Failure reasons this server understands (GitLab's `features.failure_reasons`).
const FAILURE_REASONS: &[&str] = &[
    "unknown_failure",
    "script_failure",
    "job_execution_timeout",
    "runner_system_failure",
    "stuck_or_timeout_failure",
];

/// Takes a job out of the coordinator when its attempt ends on the server's side, however
/// it ends (a late runner is then told the job is over).
struct Forget<'a>(&'a Arc<App>, i64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.runners.forget(self.1, "failed");
    }
}

/// How a runner's final state (`PUT /api/v4/jobs/:id`) ends the attempt.
pub fn exit_of(
    state: &str,
    exit_code: Option<i64>,
    failure_reason: Option<&str>,
) -> Option<(&'static str, Exit)> {
    match state {
        "success" => Some(("success", Exit::Code(0))),
        "canceled" => Some(("canceled", Exit::Canceled)),
        "failed" => Some((
            "failed",
            match failure_reason.unwrap_or("script_failure") {
                "script_failure" => Exit::Code(
                    exit_code
                        .and_then(|c| i32::try_from(c).ok())
                        .filter(|c| *c != 0)
                        .unwrap_or(1),
                ),
                "job_execution_timeout" | "stuck_or_timeout_failure" => Exit::TimedOut,
                other => Exit::Error(format!(
                    "runner_system_failure: the runner reported {other}"
                )),
            },
        )),
        _ => None,
    }
}
