//! The whole pipeline: stages, global variables, workflow, and jobs with `default:` applied.

use super::decode::Ctx;
use super::job::{self, Inherit, Job, Parallel};
use super::keywords;
use super::rules::{self, Workflow};
use super::variables::{self, Variables};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::load::node::{Entry, Map, Node, Value};
use crate::load::{Loaded, suggest};
use crate::source::{Span, Spanned};
use indexmap::IndexMap;

/// Stages when the pipeline declares none.
pub const DEFAULT_STAGES: &[&str] = &[".pre", "build", "test", "deploy", ".post"];

/// A decoded pipeline.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// Stages in order, `.pre` first and `.post` last.
    pub stages: Vec<Spanned<String>>,
    /// Top-level `variables:`.
    pub variables: Variables,
    /// `workflow:`.
    pub workflow: Option<Workflow>,
    /// Visible jobs in the order written.
    pub jobs: IndexMap<String, Job>,
    /// Hidden keys (`.name`) and where they are.
    pub hidden: IndexMap<String, Span>,
    /// Span of the main document (for whole-pipeline diagnostics).
    pub span: Span,
    /// The downstream pipeline of each trigger job (by job name), as lint resolved it.
    pub downstream: IndexMap<String, Downstream>,
}

/// What a trigger job starts, as far as it could be read before the run.
#[derive(Clone, Debug)]
pub enum Downstream {
    /// A child pipeline, or another project's pipeline from a local checkout: decoded and
    /// checked like any pipeline.
    Pipeline {
        /// The pipeline.
        pipeline: Box<Pipeline>,
        /// `trigger:project`, for a multi-project pipeline.
        project: Option<String>,
        /// The directory its local files resolve against (the project's root).
        root_dir: std::path::PathBuf,
    },
    /// A dynamic child pipeline: `job` generates `artifact` during the run.
    Generated {
        /// The job whose artifacts hold the file.
        job: String,
        /// The file's path in its artifacts.
        artifact: String,
    },
    /// Not available before the run, and why (another project without a checkout, an
    /// include of unknown variables, a nesting too deep).
    Unavailable(String),
}

impl Pipeline {
    /// The model of a job of this pipeline or of a downstream one: `path` names the trigger
    /// jobs from this pipeline down.
    pub fn job_at(&self, path: &[String], name: &str) -> Option<&Job> {
        match path.split_first() {
            None => self.jobs.get(name),
            Some((first, rest)) => match self.downstream.get(first)? {
                Downstream::Pipeline { pipeline, .. } => pipeline.job_at(rest, name),
                _ => None,
            },
        }
    }
}

impl Pipeline {
    /// Index of `stage` in [`Pipeline::stages`].
    pub fn stage_index(&self, stage: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.value == stage)
    }

    /// The job called `name`, or the job one of whose generated instances is called `name`
    /// (`test 2/3` of `parallel: 3`, `build: [linux, amd64]` of a matrix) — GitLab lets
    /// `needs` and `dependencies` name an instance by its full name.
    pub fn job_or_instance(&self, name: &str) -> Option<&Job> {
        if let Some(job) = self.jobs.get(name) {
            return Some(job);
        }
        if let Some((base, index)) = name.rsplit_once(' ')
            && let Some((n, total)) = index.split_once('/')
            && let (Ok(n), Ok(total)) = (n.parse::<u32>(), total.parse::<u32>())
            && let Some(job) = self.jobs.get(base)
            && matches!(job.parallel, Some(Parallel::Count(c)) if c == total && (1..=total).contains(&n))
        {
            return Some(job);
        }
        let (base, values) = name.strip_suffix(']')?.split_once(": [")?;
        let job = self.jobs.get(base)?;
        let Some(Parallel::Matrix(entries)) = &job.parallel else {
            return None;
        };
        entries
            .iter()
            .any(|e| matches_values(values, &e.values().collect::<Vec<_>>()))
            .then_some(job)
    }
}

/// Whether `text` is `v1, v2, …` with each `vi` one of the values of the i-th variable.
fn matches_values(text: &str, vars: &[&Vec<String>]) -> bool {
    let Some((first, rest)) = vars.split_first() else {
        return text.is_empty();
    };
    first.iter().any(|v| match text.strip_prefix(v.as_str()) {
        Some("") => rest.is_empty(),
        Some(tail) => tail
            .strip_prefix(", ")
            .is_some_and(|tail| !rest.is_empty() && matches_values(tail, rest)),
        None => false,
    })
}

/// Decodes a loaded pipeline, consuming its tree: each job's subtree is freed as soon as the
/// job is decoded, so the tree and the model never both exist whole (large pipelines).
pub fn decode(loaded: Loaded, diags: &mut Diagnostics) -> Pipeline {
    let Loaded {
        root,
        root_span,
        incomplete,
        ..
    } = loaded;
    decode_root(root, root_span, &incomplete, diags)
}

/// Decodes a resolved top-level mapping (a downstream pipeline's, which `load::trigger`
/// loads); `incomplete` names the keys whose `extends` failed.
pub fn decode_root(
    root: Map,
    root_span: Span,
    incomplete: &std::collections::HashSet<String>,
    diags: &mut Diagnostics,
) -> Pipeline {
    let mut ctx = Ctx { diags, job: None };
    let stages = decode_stages(root.get("stages"), root_span, &mut ctx);
    let variables = root
        .get("variables")
        .filter(|e| !job::is_null(&e.value))
        .map(|e| variables::decode(&e.value, &mut ctx, "`variables`"))
        .unwrap_or_default();
    let workflow = root
        .get("workflow")
        .filter(|e| !job::is_null(&e.value))
        .map(|e| rules::decode_workflow(&e.value, &mut ctx));
    let defaults = collect_defaults(&root, &mut ctx);
    let mut jobs = IndexMap::with_capacity(root.len());
    let mut hidden = IndexMap::new();
    for (name, entry) in root {
        if keywords::TOP_LEVEL.contains(&name.as_str()) {
            continue;
        }
        if name.starts_with('.') {
            hidden.insert(name, entry.key_span);
            continue;
        }
        ctx.job = Some(name.clone());
        if entry.value.tag.as_deref() == Some(crate::load::UNRESOLVED_TAG) {
            // `job: !reference [...]` that failed: reported once, at the reference.
            continue;
        }
        let Some(map) = entry.value.as_map() else {
            not_a_job(&name, &entry, &mut ctx);
            continue;
        };
        // A trigger job inherits nothing from `default:` (every key of GitLab's bridge entry
        // is `inherit: false`): `default: image` does not make it a job with an image.
        let merged = if job::is_set(map, "trigger") {
            std::borrow::Cow::Borrowed(map)
        } else {
            with_defaults(map, &defaults)
        };
        let complete = !incomplete.contains(&name);
        let decoded = job::decode_job(&name, entry.key_span, &merged, complete, &mut ctx);
        jobs.insert(name, decoded);
    }
    ctx.job = None;
    if jobs.is_empty() {
        ctx.push(
            Diagnostic::error(Code::NoJobs, root_span, "the pipeline has no visible job")
                .with_help(
                    "jobs are top-level keys that do not start with `.`, each with a `script:`",
                ),
        );
    }
    Pipeline {
        stages,
        variables,
        workflow,
        jobs,
        hidden,
        span: root_span,
        downstream: IndexMap::new(),
    }
}

fn decode_stages(entry: Option<&Entry>, root: Span, ctx: &mut Ctx) -> Vec<Spanned<String>> {
    let Some(entry) = entry else {
        return DEFAULT_STAGES
            .iter()
            .map(|s| Spanned::new(s.to_string(), root))
            .collect();
    };
    let mut declared = Vec::new();
    flatten_stages(&entry.value, ctx, &mut declared, 0);
    let mut stages = vec![Spanned::new(".pre".to_string(), entry.key_span)];
    for s in declared {
        if s.value == ".pre" || s.value == ".post" {
            continue;
        }
        if stages.iter().any(|x| x.value == s.value) {
            ctx.push(Diagnostic::warning(
                Code::DuplicateKey,
                s.span,
                format!("stage `{}` is listed twice", s.value),
            ));
            continue;
        }
        stages.push(s);
    }
    stages.push(Spanned::new(".post".to_string(), entry.key_span));
    stages
}

fn flatten_stages(node: &Node, ctx: &mut Ctx, out: &mut Vec<Spanned<String>>, depth: usize) {
    match &node.value {
        Value::Seq(items) if depth < 10 => {
            for i in items {
                flatten_stages(i, ctx, out, depth + 1);
            }
        }
        Value::Null if depth == 0 => {}
        _ if depth == 0 => ctx.type_error(node, "`stages`", "a list of stage names"),
        _ => out.extend(ctx.text(node, "a stage name")),
    }
}

/// `default:` values, with deprecated top-level keys filling the gaps.
fn collect_defaults(root: &Map, ctx: &mut Ctx) -> Map {
    let mut defaults = Map::default();
    if let Some(e) = root.get("default").filter(|e| !job::is_null(&e.value))
        && let Some(m) = ctx.map(&e.value, "`default`")
    {
        ctx.check_keys(m, keywords::DEFAULT, "`default`");
        for (k, v) in m {
            if keywords::DEFAULT.contains(&k.as_str()) && !job::is_null(&v.value) {
                defaults.insert(k.clone(), v.clone());
            }
        }
    }
    for key in keywords::GLOBAL_DEFAULTS {
        if let Some(e) = root.get(*key).filter(|e| !job::is_null(&e.value)) {
            defaults.entry(key.to_string()).or_insert_with(|| e.clone());
        }
    }
    defaults
}

/// The job's mapping with inherited `default:` keys added where the job has none or sets
/// `null` — GitLab's "not specified", which `default:` fills (borrowed as is when there is
/// nothing to add).
fn with_defaults<'a>(job: &'a Map, defaults: &Map) -> std::borrow::Cow<'a, Map> {
    if defaults.is_empty() {
        return std::borrow::Cow::Borrowed(job);
    }
    let inherit = job
        .get("inherit")
        .map(|e| {
            let mut scratch = Diagnostics::default();
            job::decode_inherit(
                &e.value,
                &mut Ctx {
                    diags: &mut scratch,
                    job: None,
                },
            )
            .0
        })
        .unwrap_or(Inherit::All);
    let mut merged = job.clone();
    for (k, v) in defaults {
        if inherit.allows(k) && !job::is_set(&merged, k) {
            merged.insert(k.clone(), v.clone());
        }
    }
    std::borrow::Cow::Owned(merged)
}

fn not_a_job(name: &str, entry: &Entry, ctx: &mut Ctx) {
    let mut d = Diagnostic::error(
        Code::InvalidType,
        entry.key_span,
        format!(
            "`{name}` is not a GitLab keyword, so it is read as a job, but its value is {}",
            entry.value.kind_name()
        ),
    );
    if let Some(s) = suggest(name, keywords::TOP_LEVEL.iter().copied()) {
        d = d.with_help(format!("did you mean the keyword `{s}`?"));
    } else {
        d = d.with_help("a job is a mapping with at least `script:`");
    }
    ctx.push(d);
}
