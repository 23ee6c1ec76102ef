//! Downstream pipelines in the plan. Each trigger job's pipeline is planned on its own — its
//! `workflow:rules`, `rules` and stages, in a context whose `CI_PIPELINE_SOURCE` is
//! `parent_pipeline` (a child) or `pipeline` (another project), with the variables GitLab
//! passes down: the trigger job's own and inherited YAML variables (`forward:yaml_variables`,
//! default on) and this pipeline's pipeline variables (`forward:pipeline_variables`, default
//! off), both as the downstream pipeline's pipeline variables. Its jobs then join this plan
//! right after their trigger job, named `TRIGGER ▸ JOB`, so one scheduler runs the whole tree:
//! an interrupt reaches every level, and the trigger job's status follows its pipeline's.

use super::variables::{Layer, Origin, Var};
use super::{Context, PipelineLayers, Plan, PlannedJob};
use crate::model::{Downstream, Pipeline};
use serde::Serialize;
use std::sync::Arc;

/// What separates a trigger job's name from its downstream jobs' names.
pub const NEST: &str = " ▸ ";

/// What a trigger job starts.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedTrigger {
    /// `strategy: depend` (or `mirror`): the trigger job ends as its pipeline ends.
    pub depend: bool,
    /// `trigger:project` of a multi-project pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The downstream pipeline.
    pub downstream: PlannedDownstream,
}

/// A trigger job's pipeline as planned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlannedDownstream {
    /// Its `CI_PIPELINE_SOURCE`.
    pub source: String,
    /// Its stages that have jobs.
    pub stages: Vec<String>,
    /// Its jobs' names in this plan (`TRIGGER ▸ JOB`), children's children included.
    pub jobs: Vec<String>,
    /// Its jobs left out, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<super::Excluded>,
    /// Why no pipeline is created (its `workflow:rules`, no jobs): the trigger job fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_created: Option<String>,
    /// Why it cannot be run here (another project without a checkout): the trigger job is
    /// skipped, never taken for a success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// A dynamic child pipeline: (job, artifact) that generates its file during the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<(String, String)>,
}

/// The pipeline a downstream job belongs to.
#[derive(Debug)]
pub struct Level {
    /// The trigger job (concrete name in this plan) that starts the pipeline.
    pub trigger: String,
    /// The trigger jobs' definition names from the root down (to find the job's model).
    pub path: Vec<String>,
    /// The downstream pipeline's variable layers.
    pub layers: Arc<PipelineLayers>,
    /// The checkout its jobs run in, when it is another project's pipeline (else this
    /// project's).
    pub project_dir: Option<std::path::PathBuf>,
}

impl PlannedJob {
    /// The job's definition, in its own pipeline (a downstream job's is in its trigger's).
    pub fn model<'a>(&self, pipeline: &'a Pipeline) -> Option<&'a crate::model::Job> {
        let path = self.level.as_ref().map_or(&[][..], |l| l.path.as_slice());
        pipeline.job_at(path, &self.job)
    }
}

/// Plans each trigger job's downstream pipeline and puts its jobs after the trigger job.
pub(super) fn expand(pipeline: &Pipeline, ctx: &Context, plan: &mut Plan) {
    if pipeline.downstream.is_empty() {
        return;
    }
    let mut i = 0;
    while i < plan.jobs.len() {
        let Some(model) = pipeline
            .jobs
            .get(&plan.jobs[i].job)
            .filter(|_| plan.jobs[i].level.is_none())
        else {
            i += 1;
            continue;
        };
        let Some(t) = model.trigger.as_deref() else {
            i += 1;
            continue;
        };
        let mut trigger = PlannedTrigger {
            depend: t.depends(),
            project: t.project.as_ref().map(|p| p.value.clone()),
            downstream: PlannedDownstream::default(),
        };
        let jobs = match pipeline.downstream.get(&model.name) {
            Some(Downstream::Pipeline {
                pipeline: child,
                project,
                root_dir,
            }) => {
                let source = if project.is_some() {
                    "pipeline"
                } else {
                    "parent_pipeline"
                };
                let child_ctx = match project {
                    Some(path) => other_project(ctx, root_dir, path, t),
                    None => Context {
                        source: source.to_string(),
                        ..ctx.clone()
                    },
                };
                let project_dir = project.as_ref().map(|_| child_ctx.project_dir.clone());
                let cli = forwarded(plan, &plan.jobs[i], t.forward_yaml, t.forward_pipeline);
                let child_plan = super::build(child, &child_ctx, plan.layers.project.clone(), cli);
                trigger.downstream.source = source.to_string();
                let adopted = Adopted {
                    definition: &model.name,
                    child,
                    project_dir,
                };
                adopt(plan, i, adopted, child_plan, &mut trigger.downstream)
            }
            Some(Downstream::Generated { job, artifact }) => {
                trigger.downstream.source = "parent_pipeline".into();
                trigger.downstream.generated = Some((job.clone(), artifact.clone()));
                Vec::new()
            }
            Some(Downstream::Unavailable(why)) => {
                trigger.downstream.unavailable = Some(why.clone());
                Vec::new()
            }
            None => {
                trigger.downstream.unavailable = Some("its pipeline was not read".into());
                Vec::new()
            }
        };
        let added = jobs.len();
        plan.jobs[i].trigger = Some(trigger);
        plan.jobs.splice(i + 1..i + 1, jobs);
        i += 1 + added;
    }
}

/// The downstream pipeline's pipeline variables: the trigger job's YAML variables (its own,
/// inherited top-level ones, its matrix and rule's), expanded where the trigger job is, and
/// this pipeline's pipeline variables when forwarded.
fn forwarded(plan: &Plan, trigger: &PlannedJob, yaml: bool, pipeline: bool) -> Layer {
    let mut out = Layer::default();
    if pipeline {
        out.extend(plan.layers.cli.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if yaml {
        let vars = plan.variables(trigger);
        let scope = vars.scope();
        let l = &plan.layers;
        let jl = &trigger.layers;
        let names = jl
            .pipeline
            .as_ref()
            .unwrap_or(&l.pipeline)
            .keys()
            .chain(jl.job.keys())
            .chain(jl.matrix.keys())
            .chain(jl.rule.keys());
        for name in names {
            if let Some(raw) = scope.raw(name) {
                let value = if raw.expand {
                    scope.expand(&raw.value)
                } else {
                    raw.value.clone()
                };
                out.insert(
                    name.clone(),
                    Var {
                        value,
                        expand: false,
                        masked: raw.masked,
                        file: raw.file,
                        protected: raw.protected,
                        origin: Origin::Cli,
                    },
                );
            }
        }
    }
    out
}

/// Another project's pipeline context: its checkout's ref, commit and project directory (the
/// branch `trigger:branch` names, else its checked-out one), `CI_PIPELINE_SOURCE=pipeline`,
/// this pipeline's IID. When the checkout cannot make one, this pipeline's context stands in.
fn other_project(
    ctx: &Context,
    root_dir: &std::path::Path,
    path: &str,
    t: &crate::model::job::Trigger,
) -> Context {
    let options = super::PipelineOptions {
        git_ref: t.branch.as_ref().map(|b| b.value.clone()),
        source: Some("pipeline".into()),
        project_path: Some(path.to_string()),
        ..super::PipelineOptions::default()
    };
    match Context::new(&root_dir.join(".gitlab-ci.yml"), &options) {
        Ok(other) => Context {
            pipeline_iid: ctx.pipeline_iid,
            ..other
        },
        Err(_) => Context {
            source: "pipeline".into(),
            project_dir: root_dir.to_path_buf(),
            ..ctx.clone()
        },
    }
}

/// A downstream pipeline about to join this plan.
struct Adopted<'a> {
    /// The trigger job's definition name.
    definition: &'a str,
    /// The downstream pipeline's model.
    child: &'a Pipeline,
    /// Its checkout, when it is another project's.
    project_dir: Option<std::path::PathBuf>,
}

/// The child plan's jobs renamed under the trigger job `plan.jobs[at]`, its problems added to
/// `plan`'s, and its summary in `summary`.
fn adopt(
    plan: &mut Plan,
    at: usize,
    adopted: Adopted,
    child_plan: Plan,
    summary: &mut PlannedDownstream,
) -> Vec<PlannedJob> {
    let Adopted {
        definition,
        child,
        project_dir,
    } = adopted;
    let trigger = plan.jobs[at].name.clone();
    let offset = plan.jobs[at].seq * 1_000_000_000;
    let prefix = |name: &str| format!("{trigger}{NEST}{name}");
    for w in child_plan.warnings {
        plan.warnings
            .push(format!("downstream of `{trigger}`: {w}"));
    }
    for (i, e) in child_plan.errors.into_iter().enumerate() {
        if let Some((_, span)) = child_plan.error_spans.iter().find(|(k, _)| *k == i) {
            plan.error_spans.push((plan.errors.len(), *span));
        }
        plan.errors.push(format!("downstream of `{trigger}`: {e}"));
    }
    summary.excluded = child_plan
        .excluded
        .into_iter()
        .map(|mut e| {
            e.name = prefix(&e.name);
            e
        })
        .collect();
    if !child_plan.workflow.runs {
        summary.not_created = Some(child_plan.workflow.reason);
        return Vec::new();
    }
    if child_plan.jobs.is_empty() {
        summary.not_created = Some("no job of the downstream pipeline is added".into());
        return Vec::new();
    }
    summary.stages = child_plan.stages;
    let layers = Arc::new(child_plan.layers);
    let mut jobs = child_plan.jobs;
    for j in &mut jobs {
        // `needs: [{pipeline: $PARENT_PIPELINE_ID, job: NAME}]`: the parent's job's artifacts.
        if j.level.is_none()
            && let Some(model) = child.jobs.get(&j.job)
        {
            let parent_needs = model
                .needs
                .iter()
                .flatten()
                .filter(|n| n.parent_pipeline)
                .map(|n| n.job.value.clone());
            let mut deps: Vec<String> = j.dependencies.iter().map(|d| prefix(d)).collect();
            deps.extend(parent_needs);
            j.dependencies = deps;
        } else {
            j.dependencies = j.dependencies.iter().map(|d| prefix(d)).collect();
        }
        j.name = prefix(&j.name);
        j.id += offset;
        j.waits_for = j.waits_for.iter().map(|w| prefix(w)).collect();
        if let Some(needs) = &mut j.needs {
            for n in needs {
                n.job = prefix(&n.job);
            }
        }
        if let Some(t) = &mut j.trigger {
            t.downstream.jobs = t.downstream.jobs.iter().map(|n| prefix(n)).collect();
        }
        j.level = Some(Arc::new(match j.level.take() {
            None => Level {
                trigger: trigger.clone(),
                path: vec![definition.to_string()],
                layers: layers.clone(),
                project_dir: project_dir.clone(),
            },
            Some(inner) => Level {
                trigger: prefix(&inner.trigger),
                path: std::iter::once(definition.to_string())
                    .chain(inner.path.iter().cloned())
                    .collect(),
                layers: inner.layers.clone(),
                project_dir: inner.project_dir.clone().or_else(|| project_dir.clone()),
            },
        }));
        summary.jobs.push(j.name.clone());
    }
    jobs
}

/// Keeps the tree around a job selection: a selected trigger job starts its whole pipeline
/// (its downstream jobs are kept), and a selected downstream job needs its trigger jobs.
pub(super) fn keep_tree(jobs: &[PlannedJob], keep: &mut Vec<String>) {
    // Jobs are listed after their trigger job: one pass reaches children's children.
    for j in jobs {
        if let Some(level) = &j.level
            && keep.contains(&level.trigger)
            && !keep.contains(&j.name)
        {
            keep.push(j.name.clone());
        }
    }
    for j in jobs.iter().rev() {
        if let Some(level) = &j.level
            && keep.contains(&j.name)
            && !keep.contains(&level.trigger)
        {
            keep.push(level.trigger.clone());
        }
    }
}

/// The rows of `plan` that belong to the pipeline the trigger job `trigger` starts (direct
/// children only).
pub fn children<'a>(plan: &'a Plan, trigger: &'a str) -> impl Iterator<Item = &'a PlannedJob> {
    plan.jobs
        .iter()
        .filter(move |j| j.level.as_ref().is_some_and(|l| l.trigger == trigger))
}
