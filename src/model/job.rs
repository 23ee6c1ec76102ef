//! A job and the keywords that shape how it runs: `retry`, `parallel`, `trigger`, `inherit`.

use super::artifacts::{self, Artifacts, Cache};
use super::decode::Ctx;
use super::environment::{self, Environment};
use super::image::{self, Image, Service};
use super::keywords::{self, Shape};
use super::rules::{self, AllowFailure, Filter, Need, Rule, When};
use super::variables::{self, Variables};
use crate::diagnostic::{Code, Diagnostic};
use crate::load::node::{Map, Node, Value};
use crate::source::{Span, Spanned};

/// GitLab's upper bound for `parallel` and for the jobs one matrix makes.
pub const MAX_PARALLEL: i64 = 200;

pub use super::matrix::{MatrixEntry, decode_matrix};

/// `retry:`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Retry {
    /// Retries after the first attempt (0–2).
    pub max: u8,
    /// Failure reasons that are retried (empty: all).
    pub when: Vec<String>,
    /// Exit codes that are retried (empty: all).
    pub exit_codes: Vec<i64>,
}

/// `parallel:`.
#[derive(Clone, Debug, PartialEq)]
pub enum Parallel {
    /// `parallel: N`.
    Count(u32),
    /// `parallel: {matrix: [...]}`.
    Matrix(Vec<MatrixEntry>),
}

/// `trigger:` — a downstream pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    /// Downstream project path, if multi-project.
    pub project: Option<Spanned<String>>,
    /// `trigger:branch` of a multi-project trigger.
    pub branch: Option<Spanned<String>>,
    /// `trigger:include` as written: the same shapes as a top-level `include:` (plus
    /// `artifact` + `job`), which `load::trigger` resolves with the include machinery.
    pub include: Option<Node>,
    /// `strategy: depend|mirror`.
    pub strategy: Option<Spanned<String>>,
    /// `trigger:inputs`: the `spec:inputs` of another project's pipeline.
    pub inputs: Option<Node>,
    /// `trigger:forward:yaml_variables` (GitLab's default: true).
    pub forward_yaml: bool,
    /// `trigger:forward:pipeline_variables` (GitLab's default: false).
    pub forward_pipeline: bool,
    /// Where `trigger:` is written.
    pub span: Span,
}

impl Trigger {
    /// Whether the trigger job takes its downstream pipeline's status (`depend`, `mirror`).
    pub fn depends(&self) -> bool {
        self.strategy.is_some()
    }
}

/// What a job inherits: everything, nothing, or the listed names.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Inherit {
    /// Inherit all (the default).
    #[default]
    All,
    /// Inherit nothing.
    Nothing,
    /// Inherit only these names.
    Only(Vec<String>),
}

impl Inherit {
    /// Whether `name` is inherited.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Inherit::All => true,
            Inherit::Nothing => false,
            Inherit::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// A job, with `default:` values already applied.
#[derive(Clone, Debug)]
pub struct Job {
    /// Name as written.
    pub name: String,
    /// Span of the job's key.
    pub span: Span,
    /// Stage (default `test`).
    pub stage: Spanned<String>,
    /// `before_script` lines.
    pub before_script: Vec<Spanned<String>>,
    /// `script` lines.
    pub script: Vec<Spanned<String>>,
    /// `after_script` lines.
    pub after_script: Vec<Spanned<String>>,
    /// `image:`.
    pub image: Option<Box<Image>>,
    /// `services:`.
    pub services: Vec<Service>,
    /// Job-level `variables:`.
    pub variables: Variables,
    /// `rules:`.
    pub rules: Option<Vec<Rule>>,
    /// `only:`.
    pub only: Option<Box<Filter>>,
    /// `except:`.
    pub except: Option<Box<Filter>>,
    /// `needs:` (`Some(vec![])` is `needs: []`: start at once).
    pub needs: Option<Vec<Need>>,
    /// `dependencies:`.
    pub dependencies: Option<Vec<Spanned<String>>>,
    /// `when:` (default `on_success`).
    pub when: Spanned<When>,
    /// `start_in:` seconds.
    pub start_in: Option<Spanned<u64>>,
    /// `allow_failure:` (absent: false, or true for `when: manual`).
    pub allow_failure: Option<AllowFailure>,
    /// `retry:`.
    pub retry: Retry,
    /// `timeout:` seconds.
    pub timeout: Option<Spanned<u64>>,
    /// `parallel:`.
    pub parallel: Option<Parallel>,
    /// `artifacts:`.
    pub artifacts: Option<Box<Artifacts>>,
    /// `cache:`.
    pub cache: Vec<Cache>,
    /// `environment:`.
    pub environment: Option<Box<Environment>>,
    /// `trigger:`.
    pub trigger: Option<Box<Trigger>>,
    /// `tags:`.
    pub tags: Vec<Spanned<String>>,
    /// `coverage:` regex.
    pub coverage: Option<Spanned<String>>,
    /// `interruptible:`.
    pub interruptible: Option<bool>,
    /// `resource_group:`.
    pub resource_group: Option<Spanned<String>>,
    /// Which global variables the job inherits.
    pub inherit_variables: Inherit,
    /// Keywords of [`keywords::OFFLINE`] the job uses (run says what it skips).
    pub offline: Vec<&'static str>,
}

impl Job {
    /// Whether a failure of this job lets the pipeline go on, for a given exit code.
    pub fn allows_failure(&self, exit_code: Option<i64>) -> bool {
        match &self.allow_failure {
            Some(AllowFailure::Bool(b)) => *b,
            Some(AllowFailure::ExitCodes(codes)) => exit_code.is_some_and(|c| codes.contains(&c)),
            None => self.when.value == When::Manual,
        }
    }
}

/// Decodes `inherit:` into (default, variables) selections.
pub fn decode_inherit(node: &Node, ctx: &mut Ctx) -> (Inherit, Inherit) {
    let Some(m) = ctx.map(node, "`inherit`") else {
        return (Inherit::All, Inherit::All);
    };
    ctx.check_keys(m, keywords::INHERIT, "`inherit`");
    let one = |key: &str, ctx: &mut Ctx| match m.get(key).map(|e| &e.value) {
        None => Inherit::All,
        Some(n) => match &n.value {
            Value::Bool(true) => Inherit::All,
            Value::Bool(false) => Inherit::Nothing,
            Value::Seq(_) => Inherit::Only(
                ctx.list_of_strings(n, &format!("`inherit:{key}`"))
                    .into_iter()
                    .map(|s| s.value)
                    .collect(),
            ),
            _ => {
                ctx.type_error(
                    n,
                    &format!("`inherit:{key}`"),
                    "`true`, `false` or a list of names",
                );
                Inherit::All
            }
        },
    };
    let default = one("default", ctx);
    if let Inherit::Only(names) = &default
        && let Some(e) = m.get("default")
    {
        for name in names {
            if !keywords::DEFAULT.contains(&name.as_str()) {
                ctx.error(
                    Code::InvalidValue,
                    e.value.span,
                    format!("`inherit:default` lists `{name}`, which `default` does not have"),
                );
            }
        }
    }
    (default, one("variables", ctx))
}

/// Decodes one visible job from its (defaults-merged) mapping. `complete` is false when its
/// `extends` chain failed, so keys it lacks may simply not have arrived.
pub fn decode_job(name: &str, key_span: Span, map: &Map, complete: bool, ctx: &mut Ctx) -> Job {
    let bridge = is_set(map, "trigger");
    if bridge {
        check_bridge_keys(name, map, ctx);
    } else {
        ctx.check_keys(map, keywords::job_keyword_slice(), &format!("job `{name}`"));
    }
    let mut job = Job {
        name: name.to_string(),
        span: key_span,
        stage: Spanned::new("test".into(), key_span),
        before_script: Vec::new(),
        script: Vec::new(),
        after_script: Vec::new(),
        image: None,
        services: Vec::new(),
        variables: Variables::new(),
        rules: None,
        only: None,
        except: None,
        needs: None,
        dependencies: None,
        when: Spanned::new(When::OnSuccess, key_span),
        start_in: None,
        allow_failure: None,
        retry: Retry::default(),
        timeout: None,
        parallel: None,
        artifacts: None,
        cache: Vec::new(),
        environment: None,
        trigger: None,
        tags: Vec::new(),
        coverage: None,
        interruptible: None,
        resource_group: None,
        inherit_variables: Inherit::All,
        offline: keywords::OFFLINE
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| is_set(map, k))
            .collect(),
    };
    for (key, e) in map {
        let v = &e.value;
        // GitLab's entry factory reads `null` as "not specified" (`Entry::Unspecified`): the
        // keyword is absent. A null `script` is still reported (it cannot be empty).
        if is_null(v) && key != "script" {
            continue;
        }
        match key.as_str() {
            "stage" => job.stage = stage(v, ctx, "`stage`").unwrap_or(job.stage),
            "type" => {
                deprecated(key, e.key_span, ctx);
                if !map.contains_key("stage") {
                    job.stage = stage(v, ctx, "`type`").unwrap_or(job.stage);
                }
            }
            "script" => job.script = script(v, ctx, "`script`"),
            "before_script" => job.before_script = ctx.script(v, "`before_script`"),
            "after_script" => job.after_script = ctx.script(v, "`after_script`"),
            "image" => job.image = image::decode_image(v, ctx).map(Box::new),
            "services" => job.services = image::decode_services(v, ctx),
            "variables" => job.variables = variables::decode(v, ctx, "job `variables`"),
            "rules" => job.rules = Some(rules::decode_rules(v, ctx, false)),
            "only" => job.only = Some(Box::new(rules::decode_filter(v, ctx, "`only`"))),
            "except" => job.except = Some(Box::new(rules::decode_filter(v, ctx, "`except`"))),
            "needs" => job.needs = Some(rules::decode_needs(v, ctx)),
            "dependencies" => job.dependencies = Some(ctx.list_of_strings(v, "`dependencies`")),
            "when" if bridge => {
                job.when = rules::decode_when(v, ctx, keywords::BRIDGE_WHEN).unwrap_or(job.when)
            }
            "when" => job.when = rules::decode_when(v, ctx, keywords::WHEN).unwrap_or(job.when),
            "allow_failure" if bridge && !matches!(v.value, Value::Bool(_)) => {
                ctx.type_error(v, "`allow_failure` of a trigger job", "`true` or `false`");
            }
            "start_in" => job.start_in = ctx.duration(v, "`start_in`"),
            "allow_failure" => job.allow_failure = rules::decode_allow_failure(v, ctx),
            "retry" => job.retry = decode_retry(v, ctx),
            "timeout" => job.timeout = ctx.duration(v, "`timeout`"),
            "parallel" => job.parallel = decode_parallel(v, ctx),
            "artifacts" => job.artifacts = artifacts::decode_artifacts(v, ctx).map(Box::new),
            "cache" => job.cache = artifacts::decode_caches(v, ctx),
            "environment" => {
                job.environment = environment::decode_environment(v, ctx).map(Box::new)
            }
            "trigger" => job.trigger = decode_trigger(v, ctx).map(Box::new),
            "tags" => job.tags = ctx.string_list(v, "`tags`"),
            "coverage" => job.coverage = coverage(v, ctx),
            "interruptible" => job.interruptible = ctx.bool(v, "`interruptible`"),
            "resource_group" => job.resource_group = ctx.text(v, "`resource_group`"),
            "inherit" => job.inherit_variables = decode_inherit(v, ctx).1,
            other => check_untyped(other, v, ctx),
        }
    }
    check_job(&job, map, complete, ctx);
    job
}

fn stage(v: &Node, ctx: &mut Ctx, what: &str) -> Option<Spanned<String>> {
    let s = ctx.text(v, what)?;
    if s.value.is_empty() {
        ctx.error(
            Code::InvalidValue,
            v.span,
            format!("{what} cannot be empty"),
        );
        return None;
    }
    Some(s)
}

/// A deprecated keyword GitLab still accepts: a warning naming its replacement.
fn deprecated(key: &str, span: Span, ctx: &mut Ctx) {
    let Some((_, instead)) = keywords::DEPRECATED.iter().find(|(k, _)| *k == key) else {
        return;
    };
    ctx.push(
        Diagnostic::warning(
            Code::Deprecated,
            span,
            format!("`{key}` is deprecated; GitLab reads it as `{instead}`"),
        )
        .with_help(format!("rename `{key}:` to `{instead}:`")),
    );
}

fn script(v: &Node, ctx: &mut Ctx, what: &str) -> Vec<Spanned<String>> {
    let lines = ctx.script(v, what);
    let written_empty = match &v.value {
        Value::Seq(items) => items.is_empty(),
        Value::Str(s) => s.is_empty(),
        Value::Null => v.tag.is_none(),
        _ => false,
    };
    if written_empty {
        ctx.error(
            Code::InvalidValue,
            v.span,
            format!("{what} cannot be empty"),
        );
    }
    lines
}

/// Keywords gantry passes through without modelling still get their basic type checked.
fn check_untyped(key: &str, v: &Node, ctx: &mut Ctx) {
    let Some(kw) = keywords::JOB.iter().find(|k| k.name == key) else {
        return;
    };
    match kw.shape {
        Shape::Object if key == "pages" && !matches!(v.value, Value::Map(_) | Value::Bool(_)) => {
            ctx.type_error(v, "`pages`", "`true`, `false` or a mapping");
        }
        Shape::Object if key == "pages" => {
            if let Some(m) = v.as_map() {
                ctx.check_keys(m, &["path_prefix", "expire_in", "publish"], "`pages`");
            }
        }
        Shape::Object if key == "dast_configuration" => {
            if let Some(m) = ctx.map(v, "`dast_configuration`") {
                ctx.check_keys(m, keywords::DAST_CONFIGURATION, "`dast_configuration`");
                for (k, e) in m {
                    ctx.string(&e.value, &format!("`dast_configuration:{k}`"));
                }
            }
        }
        Shape::Object if key == "inputs" => {
            // Job inputs (for step-based jobs) always need a `default`.
            let Some(m) = ctx.map(v, "`inputs`") else {
                return;
            };
            let keys = keywords::JOB_INPUT;
            for (name, e) in m {
                let what = format!("job input `{name}`");
                if let Some(spec) = ctx.map(&e.value, &what) {
                    ctx.check_keys(spec, keys, &what);
                    super::steps::require(spec, &["default"], &e.value, &what, ctx);
                }
            }
        }
        Shape::Object => {
            ctx.map(v, &format!("`{key}`"));
        }
        Shape::Hooks => {
            if let Some(m) = ctx.map(v, "`hooks`") {
                ctx.check_keys(m, keywords::HOOKS, "`hooks`");
                if let Some(e) = m.get("pre_get_sources_script") {
                    ctx.script(&e.value, "`hooks:pre_get_sources_script`");
                }
            }
        }
        Shape::Secrets => super::secrets::check_secrets(v, ctx),
        Shape::IdTokens => super::secrets::check_id_tokens(v, ctx),
        Shape::Release => super::secrets::check_release(v, ctx),
        Shape::Steps => super::steps::check_steps(v, ctx),
        Shape::Choice(values) => {
            ctx.choice(v, &format!("`{key}`"), values);
        }
        Shape::Str => {
            ctx.string(v, &format!("`{key}`"));
        }
        _ => {}
    }
}

/// A `null` written as such (not a failed `!reference`, which keeps its tag).
pub fn is_null(node: &Node) -> bool {
    matches!(node.value, Value::Null) && node.tag.is_none()
}

/// Whether `map` sets `key` to something other than `null`.
pub fn is_set(map: &Map, key: &str) -> bool {
    map.get(key).is_some_and(|e| !is_null(&e.value))
}

fn check_job(job: &Job, map: &Map, complete: bool, ctx: &mut Ctx) {
    let has = |k: &str| is_set(map, k);
    // A misspelt `script` is reported as an unknown keyword already; one mistake, one diagnostic.
    let misspelt = map.keys().any(|k| {
        !keywords::job_keyword_names().any(|n| n == k)
            && crate::load::suggest(k, ["script", "trigger", "run"]).is_some()
    });
    if complete && !misspelt && !map.contains_key("script") && !has("trigger") && !has("run") {
        ctx.push(
            Diagnostic::error(
                Code::MissingScript,
                job.span,
                format!("job `{}` has no `script`, `trigger` or `run`", job.name),
            )
            .with_help(format!(
                "add a `script:`, or rename it to `.{}` to make it a hidden template",
                job.name
            )),
        );
    }
    if has("script") && has("run") {
        ctx.push(
            Diagnostic::error(
                Code::InvalidValue,
                map["run"].key_span,
                "a job has either `script` or `run` (steps), not both",
            )
            .with_help("keep one of them"),
        );
    }
    if job.when.value == When::Delayed && job.start_in.is_none() {
        ctx.push(
            Diagnostic::error(
                Code::InvalidValue,
                job.when.span,
                "`when: delayed` needs `start_in`",
            )
            .with_help("add e.g. `start_in: 30 minutes`"),
        );
    }
    if let Some(s) = &job.start_in {
        if job.when.value != When::Delayed && job.rules.is_none() {
            ctx.error(
                Code::InvalidValue,
                s.span,
                "`start_in` is only valid with `when: delayed`",
            );
        } else if s.value > 7 * 86_400 {
            ctx.error(
                Code::InvalidValue,
                s.span,
                "`start_in` must be at most one week",
            );
        }
    }
    if job.rules.is_some() {
        for key in ["only", "except"] {
            if let Some(e) = map.get(key).filter(|e| !is_null(&e.value)) {
                ctx.push(
                    Diagnostic::error(
                        Code::RulesWithOnly,
                        e.key_span,
                        format!("`{key}` cannot be used together with `rules`"),
                    )
                    .with_help("express the condition as a rule instead"),
                );
            }
        }
    }
}

fn coverage(v: &Node, ctx: &mut Ctx) -> Option<Spanned<String>> {
    let s = ctx.string(v, "`coverage`")?;
    let inner = s
        .value
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .filter(|r| !r.is_empty());
    let Some(inner) = inner else {
        ctx.push(
            Diagnostic::error(
                Code::InvalidValue,
                v.span,
                "`coverage` must be a regular expression between slashes",
            )
            .with_help("e.g. `coverage: '/Code coverage: \\d+\\.\\d+/'`"),
        );
        return None;
    };
    if let Err(e) = regex::Regex::new(inner) {
        let msg = e.to_string();
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        ctx.error(
            Code::InvalidValue,
            v.span,
            format!(
                "`coverage` is not a valid regular expression: {}",
                last.trim_start_matches("error: ")
            ),
        );
        return None;
    }
    Some(s)
}

fn decode_retry(node: &Node, ctx: &mut Ctx) -> Retry {
    let mut r = Retry::default();
    match &node.value {
        Value::Int(_) => r.max = ctx.int_in(node, "`retry`", 0, 2).unwrap_or(0) as u8,
        Value::Map(m) => {
            ctx.check_keys(m, keywords::RETRY, "`retry`");
            if let Some(e) = m.get("max") {
                r.max = ctx.int_in(&e.value, "`retry:max`", 0, 2).unwrap_or(0) as u8;
            }
            if let Some(e) = m.get("when") {
                let items: Vec<&Node> = match &e.value.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![&e.value],
                };
                r.when = items
                    .into_iter()
                    .filter_map(|i| ctx.choice(i, "`retry:when`", keywords::RETRY_WHEN))
                    .map(|s| s.value)
                    .collect();
            }
            if let Some(e) = m.get("exit_codes") {
                r.exit_codes = rules::exit_codes(&e.value, ctx, "`retry:exit_codes`");
            }
        }
        _ => ctx.type_error(
            node,
            "`retry`",
            "a number from 0 to 2 or a mapping with `max`",
        ),
    }
    r
}

fn decode_parallel(node: &Node, ctx: &mut Ctx) -> Option<Parallel> {
    match &node.value {
        Value::Int(_) => Some(Parallel::Count(
            ctx.int_in(node, "`parallel`", 1, MAX_PARALLEL)? as u32,
        )),
        Value::Map(m) => {
            ctx.check_keys(m, &["matrix"], "`parallel`");
            let mx = m.get("matrix")?;
            let entries = decode_matrix(&mx.value, ctx);
            let total: usize = entries
                .iter()
                .map(|e| e.values().map(Vec::len).product::<usize>())
                .sum();
            if total > MAX_PARALLEL as usize {
                ctx.error(
                    Code::InvalidValue,
                    mx.value.span,
                    format!(
                        "`parallel:matrix` makes {total} jobs; GitLab allows at most {MAX_PARALLEL}"
                    ),
                );
            }
            Some(Parallel::Matrix(entries))
        }
        _ => {
            ctx.type_error(
                node,
                "`parallel`",
                "a number from 1 to 200 or a mapping with `matrix`",
            );
            None
        }
    }
}

/// A trigger job may only have the keys GitLab's bridge entry allows: job keywords such as
/// `script`, `image` or `artifacts` are errors naming the bridge, unknown keys as usual.
fn check_bridge_keys(name: &str, map: &Map, ctx: &mut Ctx) {
    for (key, e) in map {
        if keywords::BRIDGE.contains(&key.as_str()) {
            continue;
        }
        if keywords::job_keyword_names().any(|k| k == key) {
            ctx.push(
                Diagnostic::error(
                    Code::UnknownKeyword,
                    e.key_span,
                    format!("trigger job `{name}` cannot have `{key}`: it starts a downstream pipeline and runs nothing itself"),
                )
                .with_help(format!(
                    "a trigger job accepts: {}; move `{key}` into a job of the downstream pipeline",
                    keywords::BRIDGE.join(", ")
                )),
            );
        } else {
            let single: Map = std::iter::once((key.clone(), e.clone())).collect();
            ctx.check_keys(&single, keywords::BRIDGE, &format!("trigger job `{name}`"));
        }
    }
}

fn decode_trigger(node: &Node, ctx: &mut Ctx) -> Option<Trigger> {
    match &node.value {
        Value::Str(_) => Some(Trigger {
            project: project_path(node, ctx, "`trigger`"),
            branch: None,
            include: None,
            strategy: None,
            inputs: None,
            forward_yaml: true,
            forward_pipeline: false,
            span: node.span,
        }),
        Value::Map(m) => {
            ctx.check_keys(m, keywords::TRIGGER, "`trigger`");
            if m.contains_key("branch") && !m.contains_key("project") {
                ctx.error(
                    Code::InvalidValue,
                    m["branch"].key_span,
                    "`trigger:branch` needs `trigger:project`",
                );
            }
            let (mut forward_yaml, mut forward_pipeline) = (true, false);
            if let Some(f) = m.get("forward")
                && let Some(fm) = ctx.map(&f.value, "`trigger:forward`")
            {
                ctx.check_keys(fm, keywords::TRIGGER_FORWARD, "`trigger:forward`");
                for (k, e) in fm {
                    let value = ctx.bool(&e.value, &format!("`trigger:forward:{k}`"));
                    match (k.as_str(), value) {
                        ("yaml_variables", Some(b)) => forward_yaml = b,
                        ("pipeline_variables", Some(b)) => forward_pipeline = b,
                        _ => {}
                    }
                }
            }
            if m.contains_key("include") && m.contains_key("project") {
                ctx.error(
                    Code::InvalidValue,
                    m["project"].key_span,
                    "`trigger` has either `include` (a child pipeline) or `project` (a multi-project pipeline), not both",
                );
            }
            if let Some(items) = m.get("include").and_then(|i| i.value.as_seq())
                && items.len() > 3
            {
                ctx.error(
                    Code::InvalidValue,
                    m["include"].value.span,
                    format!(
                        "`trigger:include` takes at most 3 files, not {}",
                        items.len()
                    ),
                );
            }
            if !m.contains_key("include") && !m.contains_key("project") {
                ctx.error(
                    Code::InvalidValue,
                    node.span,
                    "`trigger` needs `include` or `project`",
                );
            }
            Some(Trigger {
                project: m
                    .get("project")
                    .and_then(|p| project_path(&p.value, ctx, "`trigger:project`")),
                branch: m
                    .get("branch")
                    .and_then(|b| ctx.text(&b.value, "`trigger:branch`")),
                include: m.get("include").map(|i| i.value.clone()),
                inputs: m.get("inputs").map(|i| i.value.clone()),
                strategy: m.get("strategy").and_then(|s| {
                    ctx.choice(&s.value, "`trigger:strategy`", keywords::TRIGGER_STRATEGY)
                }),
                forward_yaml,
                forward_pipeline,
                span: node.span,
            })
        }
        _ => {
            ctx.type_error(node, "`trigger`", "a project path or a mapping");
            None
        }
    }
}

/// A project path such as `group/project` or a variable holding one (GitLab's pattern:
/// a `/` between non-blank characters, or `$VAR`); no leading or trailing `/`.
pub fn project_path(node: &Node, ctx: &mut Ctx, what: &str) -> Option<Spanned<String>> {
    let s = ctx.string(node, what)?;
    if keywords::valid_project_path(&s.value) {
        return Some(s);
    }
    ctx.push(
        Diagnostic::error(
            Code::InvalidValue,
            node.span,
            format!("{what} `{}` is not a project path", s.value),
        )
        .with_help("write the full path, e.g. `my-group/my-project`, or a `$VARIABLE`"),
    );
    None
}
