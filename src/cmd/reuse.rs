//! The front doors' side of job reuse: whether a run reuses (`--reuse` or `reuse = true`), and
//! `gantry plan --reuse`, which computes every job's input key as `gantry run --reuse` would and
//! says which jobs would be reused and, for the others, why not (which inputs changed).

use super::CmdError;
use crate::cli::PlanArgs;
use crate::executor::ExecutorError;
use crate::executor::docker::{self, DockerExecutor, DockerOptions};
use crate::executor::{Executor, kubernetes};
use crate::model::Pipeline;
use crate::plan::Plan;
use crate::plan::variables::{Origin, Var};
use crate::project::config::ProjectConfig;
use crate::reuse::ReuseConfig;
use crate::reuse::{Facts, Session, Unknown, trees};
use crate::run::layout::StateDir;
use crate::run::workspace::Snapshot;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The reuse session of a run: `Some` with `--reuse` or `reuse = true` in the config.
pub fn session(
    config: &ReuseConfig,
    state: &Path,
    flag: bool,
) -> Result<Option<Arc<Session>>, crate::reuse::StoreError> {
    if !(flag || config.enabled) {
        return Ok(None);
    }
    Session::open(config.clone(), state).map(|s| Some(Arc::new(s)))
}

/// One job's verdict.
struct Verdict {
    job: String,
    reused: bool,
    why: String,
    key: Option<String>,
}

/// `gantry plan --reuse`: prints, per job, whether it would be reused and why not.
/// `plan`'s jobs already carry the executor they would get (`prepare` assigned them).
pub fn plan(
    pipeline: &Pipeline,
    plan: &Plan,
    config: &ProjectConfig,
    project: &Path,
    args: &PlanArgs,
) -> Result<String, CmdError> {
    let state = StateDir::new(project.join(".gantry"));
    let session = Session::open(config.reuse.clone(), state.root())?;
    let image_map = crate::project::executors::image_map(&args.image_map)?;
    let mapped = |image: &str| {
        image_map
            .iter()
            .find(|(from, _)| from == image)
            .map_or_else(|| image.to_string(), |(_, to)| to.clone())
    };
    let pod = &config.pod;
    let snapshot = Snapshot::take(project, false);
    let listing = session.listing(&snapshot);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CmdError::Runtime)?;
    let wants_docker = plan.jobs.iter().any(|j| j.executor == "docker");
    let docker = if wants_docker {
        runtime.block_on(docker::connect()).ok().map(|d| {
            DockerExecutor::new(
                d,
                DockerOptions {
                    pull: docker::Pull::Never, // a plan never pulls: an image not here is unknown
                    image_map: image_map.clone(),
                    ..DockerOptions::default()
                },
            )
        })
    } else {
        None
    };
    let digest = |executor: &'static str, image: &str| -> crate::reuse::Digest {
        match executor {
            "docker" => match &docker {
                Some(d) => runtime.block_on(d.image_digest(executor, image)),
                None => Err(ExecutorError::NoDocker),
            },
            "kubernetes" => runtime
                .block_on(kubernetes::image_digest(
                    &mapped(image),
                    docker::Pull::IfNotPresent,
                ))
                .map(Some),
            _ => Ok(None),
        }
    };
    let mut verdicts: Vec<Verdict> = Vec::new();
    // What each job would hand on: `key:outputs` when reused, else why it is unknown.
    let mut handed: HashMap<String, Result<String, Unknown>> = HashMap::new();
    let mut dotenv: HashMap<String, crate::plan::variables::Layer> = HashMap::new();
    for i in 0..plan.jobs.len() {
        let job = &plan.jobs[i];
        let model = job.model(pipeline);
        let mut planned = job.clone();
        for dep in &job.dependencies {
            if let Some(layer) = dotenv.get(dep) {
                for (k, v) in layer {
                    planned.layers.dotenv.insert(k.clone(), v.clone());
                }
            }
        }
        let verdict =
            (|| -> Result<(String, crate::reuse::store::Entry), (String, Option<String>)> {
                if let Some(why) = session.never(job) {
                    return Err((why, None));
                }
                let mut images = Vec::new();
                if let Some(image) = &job.image {
                    images.push((
                        "image".to_string(),
                        image.clone(),
                        digest(job.executor, image),
                    ));
                }
                for (n, s) in job.services.iter().enumerate() {
                    images.push((
                        format!("service {n}"),
                        s.image.clone(),
                        digest(job.executor, &s.image),
                    ));
                }
                let mut deps = Vec::new();
                for dep in job.waits_for.iter().chain(&job.dependencies) {
                    if deps.iter().any(|(d, _): &(String, _)| d == dep) {
                        continue;
                    }
                    let state = handed
                        .get(dep)
                        .cloned()
                        .unwrap_or_else(|| Err(Unknown::NotInPlan { job: dep.clone() }));
                    deps.push((dep.clone(), state));
                }
                let executor = match job.executor {
                    "docker" => docker::fingerprint(false),
                    "kubernetes" => kubernetes::fingerprint(false, pod),
                    other => other.to_string(),
                };
                let caches = model.map(|m| m.cache.as_slice()).unwrap_or_default();
                let facts = Facts {
                    plan,
                    job: &planned,
                    artifacts: model.and_then(|m| m.artifacts.as_deref()),
                    caches,
                    cache_root: &state.cache(),
                    images,
                    executor,
                    deps,
                };
                let inputs = session
                    .inputs(&listing, facts)
                    .map_err(|e| (e.to_string(), None))?;
                let key = inputs.key();
                if let Some(entry) = session.store.get(&key) {
                    return Ok((key, entry));
                }
                let why = match session.store.latest(&job.name) {
                    None => "no earlier successful run with --reuse".to_string(),
                    Some(last) => {
                        let mut changed = inputs.changes_since(&last.inputs);
                        if let (Some(pos), Some(tree)) =
                            (changed.iter().position(|c| c == "files"), &last.tree)
                            && let Some(files) = trees::changed_files(
                                &session.store,
                                tree,
                                &listing.files,
                                &session.keeps(job),
                                5,
                            )
                        {
                            changed[pos] = format!("files ({files})");
                        }
                        let date = crate::plan::iso8601(last.created_at as i64, 0);
                        if changed.is_empty() {
                            format!("its run of {date} is no longer stored")
                        } else {
                            format!(
                                "changed since its success of {date}: {}",
                                changed.join(", ")
                            )
                        }
                    }
                };
                Err((why, Some(key)))
            })();
        let name = job.name.clone();
        match verdict {
            Ok((key, entry)) => {
                let dir = session
                    .store
                    .root()
                    .join("entries")
                    .join(&key)
                    .join("artifacts");
                let mut layer = crate::plan::variables::Layer::default();
                for f in &entry.dotenv {
                    if let Ok(text) = std::fs::read_to_string(dir.join(f)) {
                        for (k, v) in crate::run::artifacts::parse_dotenv(&text).0 {
                            layer.insert(k, Var::plain(v, Origin::Dotenv));
                        }
                    }
                }
                dotenv.insert(name.clone(), layer);
                handed.insert(
                    name.clone(),
                    Ok(format!("{key}:{}", outputs_of(&session, &dir))),
                );
                let date = crate::plan::iso8601(entry.created_at as i64, 0);
                verdicts.push(Verdict {
                    job: name,
                    reused: true,
                    why: format!(
                        "matches its run of {date} (took {})",
                        crate::report::run::human(std::time::Duration::from_millis(
                            entry.duration_ms
                        ))
                    ),
                    key: Some(key),
                });
            }
            Err((why, key)) => {
                handed.insert(name.clone(), Err(Unknown::WouldRun { job: name.clone() }));
                verdicts.push(Verdict {
                    job: name,
                    reused: false,
                    why,
                    key,
                });
            }
        }
    }
    Ok(render(
        &verdicts,
        args.format == crate::cli::PlanFormat::Json,
    ))
}

/// The outputs digest a reused job hands on, as the runner computes it from the artifacts.
fn outputs_of(session: &Session, dir: &Path) -> String {
    session.outputs_of(dir)
}

fn render(verdicts: &[Verdict], as_json: bool) -> String {
    if as_json {
        let v: Vec<_> = verdicts
            .iter()
            .map(|v| json!({"job": v.job, "reused": v.reused, "reason": v.why, "key": v.key}))
            .collect();
        return format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"jobs": v})).unwrap_or_default()
        );
    }
    let w = verdicts
        .iter()
        .map(|v| v.job.chars().count())
        .max()
        .unwrap_or(3);
    let mut out = String::new();
    let n = verdicts.iter().filter(|v| v.reused).count();
    out.push_str(&format!(
        "with --reuse: {n} of {} jobs would be reused\n\n",
        verdicts.len()
    ));
    for v in verdicts {
        let what = if v.reused { "reused" } else { "runs  " };
        out.push_str(&format!(
            "{}  {what}  {}\n",
            crate::report::pad(&v.job, w),
            v.why
        ));
    }
    out
}
