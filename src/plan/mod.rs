//! `plan`: from a decoded pipeline and a context (ref, source, variables) to the concrete DAG
//! GitLab would create — which jobs, which instances of parallel jobs, with which `when`,
//! `allow_failure`, variables and predecessors, and why each job is in or out.
//! May not touch: YAML (that is `load`), processes or containers (that is `run`/`executor`).

pub mod context;
pub mod downstream;
mod error;
mod git;
pub mod job;
pub mod matrix;
pub mod rules;
pub mod slug;
pub mod sources;
pub mod state;
pub mod variables;

pub use context::{Context, PipelineOptions, RefKind};
pub use error::{ContextError, DiffError, NotInPipeline, VarError};
pub use git::iso8601;
pub use job::{PlannedEnvironment, PlannedJob, PlannedNeed, PlannedService};

use crate::model::Pipeline;
use crate::model::job::Inherit;
use rules::{Decision, Evaluator};
use serde::Serialize;
use variables::{Layer, Origin, Scope, Var};

/// The pipeline GitLab would create for a context.
#[derive(Debug, Serialize)]
pub struct Plan {
    /// What the pipeline runs for.
    pub pipeline: Summary,
    /// Whether `workflow:rules` let the pipeline run, and why.
    pub workflow: WorkflowOutcome,
    /// Stages that have jobs, in order.
    pub stages: Vec<String>,
    /// Jobs in the pipeline, in stage order.
    pub jobs: Vec<PlannedJob>,
    /// Jobs not added, with the reason.
    pub excluded: Vec<Excluded>,
    /// Problems that stop GitLab from creating the pipeline (a needed job left out, …).
    pub errors: Vec<String>,
    /// Where each located error of `errors` was written (index into `errors`), until
    /// [`Plan::locate_errors`] prefixes them with `file:line:col`.
    #[serde(skip)]
    pub error_spans: Vec<(usize, crate::source::Span)>,
    /// Things worth knowing that do not stop the pipeline.
    pub warnings: Vec<String>,
    /// Pipeline-wide variable layers.
    #[serde(skip)]
    pub layers: PipelineLayers,
}

/// Identity of the planned pipeline.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `CI_PIPELINE_SOURCE`.
    pub source: String,
    /// `branch`, `tag` or `merge_request`.
    pub kind: &'static str,
    /// `CI_COMMIT_REF_NAME`.
    pub r#ref: String,
    /// `CI_COMMIT_SHA`.
    pub sha: String,
    /// `CI_PIPELINE_IID`.
    pub iid: u64,
    /// `workflow:name`, expanded.
    pub name: Option<String>,
}

/// Outcome of `workflow:rules`.
#[derive(Debug, Serialize)]
pub struct WorkflowOutcome {
    /// Whether a pipeline is created.
    pub runs: bool,
    /// Why.
    pub reason: String,
}

/// A job left out.
#[derive(Clone, Debug, Serialize)]
pub struct Excluded {
    /// Concrete name.
    pub name: String,
    /// Its stage.
    pub stage: String,
    /// Why it is not in the pipeline.
    pub reason: String,
}

/// A job's variables: borrow a [`Scope`] from it with [`JobVariables::scope`].
pub struct JobVariables<'a> {
    plan: &'a Plan,
    job: &'a PlannedJob,
    predefined: Layer,
}

impl JobVariables<'_> {
    /// Sets a job-level predefined variable (e.g. `CI_PROJECT_DIR` for the job's workspace).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.predefined
            .insert(name.to_string(), Var::plain(value, Origin::Predefined));
        self
    }

    /// The layers in precedence order, lowest first.
    pub fn scope(&self) -> Scope<'_> {
        let l = self
            .job
            .level
            .as_ref()
            .map_or(&self.plan.layers, |level| &level.layers);
        let jl = &self.job.layers;
        Scope::new(vec![
            &l.predefined,
            &self.predefined,
            jl.pipeline.as_ref().unwrap_or(&l.pipeline),
            &l.workflow,
            &jl.job,
            &jl.matrix,
            &jl.rule,
            &jl.dotenv,
            &l.project,
            &l.cli,
        ])
    }
}

/// Variable layers shared by all jobs, lowest precedence first.
#[derive(Debug, Default)]
pub struct PipelineLayers {
    /// Pipeline-level predefined variables.
    pub predefined: Layer,
    /// Top-level `variables:`.
    pub pipeline: Layer,
    /// `workflow:rules:variables` of the matching rule.
    pub workflow: Layer,
    /// The project variables file.
    pub project: Layer,
    /// Command line.
    pub cli: Layer,
}

impl Plan {
    /// Prefixes the errors that know where they were written with `file:line:col: `, the way
    /// lint's diagnostics start.
    pub fn locate_errors(&mut self, sources: &crate::source::SourceMap) {
        for (i, span) in std::mem::take(&mut self.error_spans) {
            if let Some(e) = self.errors.get_mut(i) {
                *e = format!(
                    "{}:{}:{}: {e}",
                    sources.name(span.file),
                    span.line,
                    span.col
                );
            }
        }
    }

    /// The variables `job` sees (its predefined ones rebuilt on demand).
    pub fn variables<'a>(&'a self, job: &'a PlannedJob) -> JobVariables<'a> {
        JobVariables {
            plan: self,
            job,
            predefined: job::predefined(job),
        }
    }

    /// The job named `name` (concrete name, or the definition name of a non-parallel job).
    pub fn job(&self, name: &str) -> Option<&PlannedJob> {
        self.jobs
            .iter()
            .find(|j| j.name == name)
            .or_else(|| self.jobs.iter().find(|j| j.job == name))
    }

    /// "job `NAME` is not in this pipeline", with the reason when rules left it out.
    pub fn not_in_pipeline(&self, name: &str) -> NotInPipeline {
        NotInPipeline {
            name: name.to_string(),
            reason: self
                .excluded
                .iter()
                .find(|e| e.name == name)
                .map(|e| e.reason.clone()),
        }
    }

    /// Keeps only the named jobs (and, with `with_needs`, everything they wait for).
    pub fn select(&mut self, names: &[String], with_needs: bool) -> Result<(), NotInPipeline> {
        let mut keep: Vec<String> = Vec::new();
        for n in names {
            let matched: Vec<String> = self
                .jobs
                .iter()
                .filter(|j| j.name == *n || j.job == *n)
                .map(|j| j.name.clone())
                .collect();
            if matched.is_empty() {
                return Err(self.not_in_pipeline(n));
            }
            keep.extend(matched);
        }
        if with_needs {
            let mut i = 0;
            while i < keep.len() {
                if let Some(j) = self.jobs.iter().find(|j| j.name == keep[i]) {
                    for w in j.waits_for.clone() {
                        if !keep.contains(&w) {
                            keep.push(w);
                        }
                    }
                }
                i += 1;
            }
        }
        downstream::keep_tree(&self.jobs, &mut keep);
        self.jobs.retain(|j| keep.contains(&j.name));
        for j in &mut self.jobs {
            j.waits_for.retain(|w| keep.contains(w));
            j.dependencies.retain(|w| keep.contains(w));
        }
        let used: Vec<String> = self.jobs.iter().map(|j| j.stage.clone()).collect();
        self.stages.retain(|s| used.contains(s));
        Ok(())
    }
}

/// Plans `pipeline` for `ctx`, with the project file's and command line's variables.
pub fn build(pipeline: &Pipeline, ctx: &Context, project: Layer, cli: Layer) -> Plan {
    let mut layers = PipelineLayers {
        predefined: ctx
            .predefined()
            .into_iter()
            .map(|(k, v)| (k.to_string(), Var::plain(v, Origin::Predefined)))
            .collect(),
        pipeline: model_layer(&pipeline.variables, Origin::Pipeline),
        workflow: Layer::default(),
        project,
        cli,
    };
    let eval = Evaluator::new(ctx);
    let summary = Summary {
        source: ctx.source.clone(),
        kind: match ctx.kind {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
            RefKind::MergeRequest => "merge_request",
        },
        r#ref: ctx.ref_name.clone(),
        sha: ctx.sha.clone(),
        iid: ctx.pipeline_iid,
        name: None,
    };
    let mut plan = Plan {
        pipeline: summary,
        workflow: WorkflowOutcome {
            runs: true,
            reason: "no `workflow:rules`".into(),
        },
        stages: Vec::new(),
        jobs: Vec::new(),
        excluded: Vec::new(),
        errors: Vec::new(),
        error_spans: Vec::new(),
        warnings: Vec::new(),
        layers: PipelineLayers::default(),
    };
    if let Some(rules) = pipeline.workflow.as_ref().and_then(|w| w.rules.as_ref()) {
        let scope = Scope::new(vec![
            &layers.predefined,
            &layers.pipeline,
            &layers.project,
            &layers.cli,
        ]);
        match eval.rules(rules, &scope) {
            Decision::Included { rule, reason } => {
                plan.workflow.reason = format!("workflow {reason}");
                if let Some((_, r)) = rule {
                    layers.workflow = model_layer(&r.variables, Origin::Workflow);
                }
            }
            Decision::Excluded { reason } => {
                plan.workflow = WorkflowOutcome {
                    runs: false,
                    reason: format!("workflow: {reason}, so no pipeline is created"),
                };
            }
        }
    }
    if let Some(name) = pipeline.workflow.as_ref().and_then(|w| w.name.as_ref()) {
        let scope = Scope::new(vec![
            &layers.predefined,
            &layers.pipeline,
            &layers.workflow,
            &layers.project,
            &layers.cli,
        ]);
        plan.pipeline.name = Some(scope.expand(&name.value));
    }
    if plan.workflow.runs {
        job::plan_jobs(pipeline, ctx, &layers, &eval, &mut plan);
        job::link(pipeline, &mut plan);
        if !plan.jobs.is_empty()
            && plan
                .jobs
                .iter()
                .all(|j| j.stage == ".pre" || j.stage == ".post")
        {
            plan.workflow = WorkflowOutcome {
                runs: false,
                reason: "only `.pre`/`.post` jobs would run, so GitLab creates no pipeline".into(),
            };
            plan.jobs.clear();
        }
    }
    plan.stages = pipeline
        .stages
        .iter()
        .map(|s| s.value.clone())
        .filter(|s| plan.jobs.iter().any(|j| j.stage == *s))
        .collect();
    plan.warnings.extend(eval.warnings.into_inner());
    plan.layers = layers;
    downstream::expand(pipeline, ctx, &mut plan);
    plan
}

/// A model `variables:` map as a layer.
fn model_layer(vars: &crate::model::variables::Variables, origin: Origin) -> Layer {
    vars.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Var {
                    value: v.value.clone(),
                    expand: v.expand,
                    masked: false,
                    file: false,
                    protected: false,
                    origin,
                },
            )
        })
        .collect()
}

/// The top-level variables a job inherits.
fn inherited(pipeline: &Layer, inherit: &Inherit) -> Option<Layer> {
    match inherit {
        Inherit::All => None,
        Inherit::Nothing => Some(Layer::default()),
        Inherit::Only(names) => Some(
            pipeline
                .iter()
                .filter(|(k, _)| names.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    }
}
