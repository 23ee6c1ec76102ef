//! One planned job: its instance of a definition, the rule that let it in, its resolved
//! environment, image and services, and (after [`link`]) the jobs it waits for.

use super::matrix::{self, Instance};
use super::rules::{Decision, Evaluator};
use super::slug::{environment_slug, slug};
use super::variables::{Layer, Origin, Scope, Var};
use super::{Context, Excluded, PipelineLayers, Plan, inherited, model_layer};
use crate::model::job::Retry;
use crate::model::rules::{AllowFailure, Need};
use crate::model::{Job, Pipeline, When};
use serde::Serialize;
use std::collections::HashMap;

/// A concrete job of the planned pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedJob {
    /// Concrete name (`test 1/3`, `build: [linux]`).
    pub name: String,
    /// Name of the definition it comes from.
    pub job: String,
    /// Stage.
    pub stage: String,
    /// Position of the stage in the pipeline's stages.
    #[serde(skip)]
    pub stage_index: usize,
    /// Position in definition order (ties within a stage keep it).
    #[serde(skip)]
    pub seq: u64,
    /// `CI_JOB_ID`.
    pub id: u64,
    /// `(CI_NODE_INDEX, CI_NODE_TOTAL)` for parallel jobs.
    #[serde(skip)]
    pub node: Option<(usize, usize)>,
    /// `on_success`, `on_failure`, `always`, `manual` or `delayed`.
    pub when: &'static str,
    /// Failure allowed: always (`true`), never (`false`), or for these exit codes.
    pub allow_failure: AllowFailure,
    /// Delay for `when: delayed`, seconds.
    pub start_in: Option<u64>,
    /// `needs` resolved to concrete jobs; `None` means "after all earlier stages".
    pub needs: Option<Vec<PlannedNeed>>,
    /// Jobs that must finish first (from `needs`, or all jobs of earlier stages).
    pub waits_for: Vec<String>,
    /// Jobs whose artifacts this job receives.
    pub dependencies: Vec<String>,
    /// Image, expanded.
    pub image: Option<String>,
    /// `image:entrypoint` and `image:docker:user`.
    #[serde(skip)]
    pub image_options: (Option<Vec<String>>, Option<String>),
    /// Services, expanded.
    pub services: Vec<PlannedService>,
    /// Environment, expanded.
    pub environment: Option<PlannedEnvironment>,
    /// `shell`, `docker` or `kubernetes` (`executor::choice` may change the image default).
    pub executor: &'static str,
    /// `tags:` (for `[executor] rules`).
    #[serde(skip)]
    pub tags: Vec<String>,
    /// Why the job is in the pipeline.
    pub reason: String,
    /// Index of the rule that matched, if any.
    #[serde(skip)]
    pub rule: Option<usize>,
    /// `timeout`, seconds.
    pub timeout: Option<u64>,
    /// `retry`.
    #[serde(skip)]
    pub retry: Retry,
    /// `interruptible`.
    pub interruptible: bool,
    /// `resource_group`, expanded.
    pub resource_group: Option<String>,
    /// `before_script` lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub before_script: Vec<String>,
    /// `script` lines.
    pub script: Vec<String>,
    /// `after_script` lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after_script: Vec<String>,
    /// Variable layers specific to this job.
    #[serde(skip)]
    pub layers: JobLayers,
    /// For a trigger job: the pipeline it starts (in JSON: `depend`, `project` and
    /// `downstream` beside the job's other keys).
    #[serde(flatten)]
    pub trigger: Option<super::downstream::PlannedTrigger>,
    /// For a job of a downstream pipeline: which pipeline (its trigger job, its variables).
    #[serde(skip)]
    pub level: Option<std::sync::Arc<super::downstream::Level>>,
}

/// A resolved need.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlannedNeed {
    /// Concrete job name.
    pub job: String,
    /// Whether its artifacts are downloaded.
    pub artifacts: bool,
}

/// A service container.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedService {
    /// Image.
    pub image: String,
    /// Extra hostname.
    pub alias: Option<String>,
    /// Entrypoint override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Command override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Service variables, expanded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<(String, String)>,
}

/// An environment, with its variables' values.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedEnvironment {
    /// `CI_ENVIRONMENT_NAME`.
    pub name: String,
    /// `CI_ENVIRONMENT_SLUG`.
    pub slug: String,
    /// `CI_ENVIRONMENT_URL`.
    pub url: Option<String>,
    /// `start`, `stop`, …
    pub action: String,
    /// `environment:kubernetes:namespace`.
    pub namespace: Option<String>,
    /// `environment:deployment_tier`.
    pub tier: Option<String>,
}

/// Variable layers that belong to one job. Job-level predefined variables are not stored:
/// [`predefined`] derives them from the job when needed (they are most of a job's variables).
#[derive(Debug, Clone, Default)]
pub struct JobLayers {
    /// Top-level variables when `inherit:variables` filters them.
    pub pipeline: Option<Layer>,
    /// Job `variables:`.
    pub job: Layer,
    /// Matrix variables.
    pub matrix: Layer,
    /// Variables of the matching rule.
    pub rule: Layer,
    /// Dotenv reports received at run time.
    pub dotenv: Layer,
}

/// Evaluates every instance of every job and records it as planned or excluded.
pub(crate) fn plan_jobs(
    pipeline: &Pipeline,
    ctx: &Context,
    layers: &PipelineLayers,
    eval: &Evaluator,
    plan: &mut Plan,
) {
    let mut seq = 0u64;
    plan.jobs
        .reserve_exact(pipeline.jobs.values().map(matrix::count).sum());
    for job in pipeline.jobs.values() {
        let stage_index = pipeline.stage_index(&job.stage.value).unwrap_or(usize::MAX);
        for instance in matrix::instances(job) {
            seq += 1;
            match plan_instance(job, instance, stage_index, seq, ctx, layers, eval) {
                Ok(planned) => plan.jobs.push(planned),
                Err(excluded) => plan.excluded.push(excluded),
            }
        }
    }
    // Unstable sort on a unique key: same order as a stable sort, without its scratch buffer.
    plan.jobs.sort_unstable_by_key(|j| (j.stage_index, j.seq));
}

fn plan_instance(
    job: &Job,
    instance: Instance,
    stage_index: usize,
    seq: u64,
    ctx: &Context,
    layers: &PipelineLayers,
    eval: &Evaluator,
) -> Result<PlannedJob, Excluded> {
    let id = ctx.pipeline_iid * 1000 + seq;
    let manual = job.when.value == When::Manual;
    let mut predefined = predefined_layer(
        &instance.name,
        &job.stage.value,
        id,
        instance.node,
        manual,
        None,
    );
    let mut jl = JobLayers {
        pipeline: inherited(&layers.pipeline, &job.inherit_variables),
        job: model_layer(&job.variables, Origin::Job),
        matrix: instance
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), Var::plain(v.clone(), Origin::Matrix)))
            .collect(),
        rule: Layer::default(),
        dotenv: Layer::default(),
    };
    let excluded = |reason: String| Excluded {
        name: instance.name.clone(),
        stage: job.stage.value.clone(),
        reason,
    };
    let scope = scope_of(layers, &predefined, &jl);
    let decision = match &job.rules {
        Some(rules) => eval.rules(rules, &scope),
        None => eval.only_except(job, &scope),
    };
    let (rule_index, rule, reason) = match decision {
        Decision::Excluded { reason } => return Err(excluded(reason)),
        Decision::Included { rule, reason } => (rule.map(|(i, _)| i), rule.map(|(_, r)| r), reason),
    };
    let when_from_rule = rule.and_then(|r| r.when.as_ref()).map(|w| w.value);
    let when = when_from_rule.unwrap_or(job.when.value);
    if when == When::Never {
        return Err(excluded("`when: never`".into()));
    }
    let allow_failure = match (
        rule.and_then(|r| r.allow_failure.clone()),
        &job.allow_failure,
    ) {
        (Some(a), _) => a,
        (None, Some(a)) => a.clone(),
        // A job-level `when: manual` may fail; a manual job made by a rule blocks (GitLab).
        (None, None) => AllowFailure::Bool(when == When::Manual && when_from_rule.is_none()),
    };
    if let Some(r) = rule {
        jl.rule = model_layer(&r.variables, Origin::Rule);
    }
    let needs_model: Option<&Vec<Need>> =
        rule.and_then(|r| r.needs.as_ref()).or(job.needs.as_ref());
    let environment = job.environment.as_ref().map(|env| {
        let scope = scope_of(layers, &predefined, &jl);
        let name = scope.expand(&env.name.value);
        PlannedEnvironment {
            slug: environment_slug(&name),
            url: env.url.as_ref().map(|u| scope.expand(&u.value)),
            action: env
                .action
                .as_ref()
                .map_or("start".into(), |a| a.value.clone()),
            namespace: env
                .kubernetes_namespace
                .as_ref()
                .map(|n| scope.expand(&n.value)),
            tier: env.deployment_tier.as_ref().map(|t| t.value.clone()),
            name,
        }
    });
    if environment.is_some() {
        predefined = predefined_layer(
            &instance.name,
            &job.stage.value,
            id,
            instance.node,
            manual,
            environment.as_ref(),
        );
    }
    let scope = scope_of(layers, &predefined, &jl);
    let image = job.image.as_ref().map(|i| scope.expand(&i.name.value));
    let services = job
        .services
        .iter()
        .map(|s| PlannedService {
            image: scope.expand(&s.image.name.value),
            alias: s.alias.as_ref().map(|a| scope.expand(a)),
            entrypoint: s.image.entrypoint.clone(),
            command: s.command.clone(),
            variables: s
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), scope.expand(&v.value)))
                .collect(),
        })
        .collect();
    let resource_group = job.resource_group.as_ref().map(|g| scope.expand(&g.value));
    let needs = needs_model.map(|needs| {
        needs
            .iter()
            .filter(|n| !n.external)
            .map(|n| PlannedNeed {
                job: n.job.value.clone(),
                artifacts: n.artifacts,
            })
            .collect()
    });
    let lines = |v: &[crate::source::Spanned<String>]| {
        v.iter().map(|s| s.value.clone()).collect::<Vec<_>>()
    };
    Ok(PlannedJob {
        name: instance.name,
        job: job.name.clone(),
        stage: job.stage.value.clone(),
        stage_index,
        seq,
        id,
        node: instance.node,
        when: when.as_str(),
        allow_failure,
        start_in: rule
            .and_then(|r| r.start_in.as_ref())
            .or(job.start_in.as_ref())
            .map(|s| s.value),
        needs,
        waits_for: Vec::new(),
        dependencies: Vec::new(),
        executor: if image.is_some() { "docker" } else { "shell" },
        tags: job.tags.iter().map(|t| scope.expand(&t.value)).collect(),
        image_options: job
            .image
            .as_ref()
            .map_or((None, None), |i| (i.entrypoint.clone(), i.user.clone())),
        image,
        services,
        environment,
        reason,
        rule: rule_index,
        timeout: job.timeout.as_ref().map(|t| t.value),
        retry: job.retry.clone(),
        interruptible: rule
            .and_then(|r| r.interruptible)
            .or(job.interruptible)
            .unwrap_or(false),
        resource_group,
        before_script: lines(&job.before_script),
        script: lines(&job.script),
        after_script: lines(&job.after_script),
        layers: jl,
        trigger: None,
        level: None,
    })
}

fn scope_of<'a>(l: &'a PipelineLayers, predefined: &'a Layer, jl: &'a JobLayers) -> Scope<'a> {
    Scope::new(vec![
        &l.predefined,
        predefined,
        jl.pipeline.as_ref().unwrap_or(&l.pipeline),
        &l.workflow,
        &jl.job,
        &jl.matrix,
        &jl.rule,
        &l.project,
        &l.cli,
    ])
}

/// Job-level predefined variables of a planned job (`CI_JOB_*`, `CI_NODE_*`,
/// `CI_ENVIRONMENT_*`, `KUBE_NAMESPACE`, and the 9-era `CI_BUILD_*` names).
pub fn predefined(job: &PlannedJob) -> Layer {
    predefined_layer(
        &job.name,
        &job.stage,
        job.id,
        job.node,
        job.when == "manual",
        job.environment.as_ref(),
    )
}

fn predefined_layer(
    name: &str,
    stage: &str,
    id: u64,
    node: Option<(usize, usize)>,
    manual: bool,
    env: Option<&PlannedEnvironment>,
) -> Layer {
    let token = format!("glcbt-gantry-{id:012}");
    let mut v: Vec<(&str, String, bool)> = vec![
        ("CI_JOB_NAME", name.to_string(), false),
        ("CI_JOB_NAME_SLUG", slug(name), false),
        ("CI_JOB_STAGE", stage.to_string(), false),
        ("CI_JOB_ID", id.to_string(), false),
        ("CI_JOB_TOKEN", token.clone(), true),
        ("CI_REGISTRY_PASSWORD", token.clone(), true),
        ("CI_BUILD_ID", id.to_string(), false),
        ("CI_BUILD_NAME", name.to_string(), false),
        ("CI_BUILD_STAGE", stage.to_string(), false),
        ("CI_BUILD_TOKEN", token, true),
    ];
    if let Some((index, total)) = node {
        v.push(("CI_NODE_INDEX", index.to_string(), false));
        v.push(("CI_NODE_TOTAL", total.to_string(), false));
    }
    if manual {
        v.push(("CI_JOB_MANUAL", "true".into(), false));
        v.push(("CI_BUILD_MANUAL", "true".into(), false));
    }
    if let Some(env) = env {
        v.push(("CI_ENVIRONMENT_NAME", env.name.clone(), false));
        v.push(("CI_ENVIRONMENT_SLUG", env.slug.clone(), false));
        v.push(("CI_ENVIRONMENT_ACTION", env.action.clone(), false));
        if let Some(url) = &env.url {
            v.push(("CI_ENVIRONMENT_URL", url.clone(), false));
        }
        if let Some(tier) = &env.tier {
            v.push(("CI_ENVIRONMENT_TIER", tier.clone(), false));
        }
        if let Some(ns) = &env.namespace {
            v.push(("KUBE_NAMESPACE", ns.clone(), false));
        }
    }
    v.into_iter()
        .map(|(k, value, masked)| {
            (
                k.to_string(),
                Var {
                    masked,
                    ..Var::plain(value, Origin::Predefined)
                },
            )
        })
        .collect()
}

/// A job's resolved predecessors.
struct Links {
    needs: Option<Vec<PlannedNeed>>,
    waits_for: Vec<String>,
    dependencies: Vec<String>,
}

/// Resolves `needs` and `dependencies` to concrete instances and fills `waits_for`.
/// Linear in jobs and needs: instances are indexed once; the list of earlier-stage jobs is
/// built only for jobs that wait on stages (jobs are sorted by stage, so it is a prefix).
pub(super) fn link(pipeline: &Pipeline, plan: &mut Plan) {
    let mut by_definition: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, j) in plan.jobs.iter().enumerate() {
        by_definition.entry(j.job.as_str()).or_default().push(i);
        by_name.insert(j.name.as_str(), i);
    }
    let stage_start: Vec<usize> = plan
        .jobs
        .iter()
        .map(|j| plan.jobs.partition_point(|o| o.stage_index < j.stage_index))
        .collect();
    let mut errors = Vec::new();
    let mut resolved: Vec<Links> = Vec::with_capacity(plan.jobs.len());
    for (index, job) in plan.jobs.iter().enumerate() {
        let model = &pipeline.jobs[&job.job];
        let earlier = || {
            plan.jobs[..stage_start[index]]
                .iter()
                .map(|o| o.name.clone())
                .collect::<Vec<_>>()
        };
        // A definition's instances, or the one instance named in full (`build: [linux]`,
        // `test 2/3`), as GitLab allows in `needs` and `dependencies`.
        let instances = |def: &str| -> Vec<usize> {
            match by_definition.get(def) {
                Some(all) => all.clone(),
                None => by_name.get(def).map(|&i| vec![i]).unwrap_or_default(),
            }
        };
        let needs = job.needs.as_ref().map(|needs| {
            let mut out = Vec::new();
            let model_needs = model_needs(model, job);
            for need in needs {
                let wanted = model_needs.iter().find(|n| n.job.value == need.job);
                let mut found: Vec<usize> = instances(&need.job);
                if let Some(filter) = wanted.and_then(|n| n.matrix.as_ref()) {
                    // `$[[ matrix.NAME ]]` stands for this job's own value of NAME.
                    let combos: Vec<Vec<(String, String)>> = filter
                        .iter()
                        .flat_map(matrix::combinations)
                        .map(|c| {
                            c.into_iter()
                                .map(|(k, v)| (k, matrix::own_value(&v, &job.layers.matrix)))
                                .collect()
                        })
                        .collect();
                    found.retain(|&i| {
                        let m = &plan.jobs[i].layers.matrix;
                        combos.iter().any(|c| {
                            c.iter()
                                .all(|(k, v)| m.get(k).is_some_and(|x| x.value == *v))
                        })
                    });
                }
                if found.is_empty() {
                    // A need of a job defined nowhere got past lint only as a warning (an
                    // include gantry cannot read may define it): nothing to wait for here.
                    let undefined = pipeline.job_or_instance(&need.job).is_none();
                    if !undefined && !wanted.is_some_and(|n| n.optional) {
                        errors.push((
                            missing_need(plan, &job.name, &need.job),
                            wanted.map(|n| n.job.span),
                        ));
                    }
                    continue;
                }
                out.extend(found.into_iter().map(|i| PlannedNeed {
                    job: plan.jobs[i].name.clone(),
                    artifacts: need.artifacts,
                }));
            }
            out
        });
        let waits_for: Vec<String> = match &needs {
            Some(n) => n.iter().map(|n| n.job.clone()).collect(),
            None => earlier(),
        };
        let dependencies = match (&model.dependencies, &needs) {
            (Some(deps), _) => deps
                .iter()
                .flat_map(|d| {
                    instances(&d.value)
                        .into_iter()
                        .map(|i| plan.jobs[i].name.clone())
                })
                .collect(),
            (None, Some(n)) => n
                .iter()
                .filter(|n| n.artifacts)
                .map(|n| n.job.clone())
                .collect(),
            (None, None) => waits_for.clone(),
        };
        resolved.push(Links {
            needs,
            waits_for,
            dependencies,
        });
    }
    for (job, links) in plan.jobs.iter_mut().zip(resolved) {
        job.needs = links.needs;
        job.waits_for = links.waits_for;
        job.dependencies = links.dependencies;
    }
    for (message, span) in errors {
        if let Some(span) = span {
            plan.error_spans.push((plan.errors.len(), span));
        }
        plan.errors.push(message);
    }
}

fn missing_need(plan: &Plan, job: &str, need: &str) -> String {
    let why = plan
        .excluded
        .iter()
        .find(|e| {
            e.name == need
                || e.name.starts_with(&format!("{need}:"))
                || e.name.starts_with(&format!("{need} "))
        })
        .map(|e| format!(" ({})", e.reason))
        .unwrap_or_default();
    format!("`{job}` needs `{need}`, which is not in this pipeline{why}")
}

/// The model's needs for `job`: the matching rule's, or the job's own.
fn model_needs<'a>(model: &'a Job, planned: &PlannedJob) -> &'a [Need] {
    planned
        .rule
        .and_then(|i| model.rules.as_ref()?.get(i)?.needs.as_deref())
        .or(model.needs.as_deref())
        .unwrap_or(&[])
}
