//! `rules`, `when`, `allow_failure`, `needs`, `only`/`except` and `workflow`.

use super::decode::Ctx;
use super::keywords;
use super::variables::{self, Variables};
use crate::diagnostic::{Code, Diagnostic};
use crate::expr::{self, Expr};
use crate::load::node::{Node, Value};
use crate::source::{Span, Spanned};

/// When a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// All earlier jobs succeeded (the default).
    OnSuccess,
    /// An earlier job failed.
    OnFailure,
    /// Regardless of earlier results.
    Always,
    /// Only when started by hand.
    Manual,
    /// After `start_in`.
    Delayed,
    /// Never (rules only, in practice).
    Never,
}

impl When {
    /// Parses a `when:` value already checked against [`keywords::WHEN`].
    pub fn from_keyword(s: &str) -> When {
        match s {
            "on_failure" => When::OnFailure,
            "always" => When::Always,
            "manual" => When::Manual,
            "delayed" => When::Delayed,
            "never" => When::Never,
            _ => When::OnSuccess,
        }
    }

    /// The keyword as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            When::OnSuccess => "on_success",
            When::OnFailure => "on_failure",
            When::Always => "always",
            When::Manual => "manual",
            When::Delayed => "delayed",
            When::Never => "never",
        }
    }
}

/// `allow_failure:` — a boolean or specific exit codes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum AllowFailure {
    /// `true`/`false`.
    Bool(bool),
    /// `{exit_codes: [..]}`: only these codes are allowed to fail.
    ExitCodes(Vec<i64>),
}

/// A parsed `if:` with its text.
#[derive(Clone, Debug)]
pub struct Condition {
    /// The expression as written.
    pub text: Spanned<String>,
    /// The parsed expression.
    pub expr: Expr,
}

/// `rules:changes`.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    /// Glob patterns.
    pub paths: Vec<Spanned<String>>,
    /// Ref to diff against.
    pub compare_to: Option<Spanned<String>>,
}

/// One rule.
#[derive(Clone, Debug, Default)]
pub struct Rule {
    /// Where the rule was written.
    pub span: Span,
    /// `if:`.
    pub condition: Option<Condition>,
    /// `changes:`.
    pub changes: Option<Changes>,
    /// `exists:` globs.
    pub exists: Option<Vec<Spanned<String>>>,
    /// `when:` applied when the rule matches.
    pub when: Option<Spanned<When>>,
    /// `allow_failure:` applied when the rule matches.
    pub allow_failure: Option<AllowFailure>,
    /// `variables:` added when the rule matches.
    pub variables: Variables,
    /// `needs:` replacing the job's when the rule matches.
    pub needs: Option<Vec<Need>>,
    /// `start_in:` for `when: delayed`.
    pub start_in: Option<Spanned<u64>>,
    /// `interruptible:`.
    pub interruptible: Option<bool>,
}

/// One entry of `needs:`.
#[derive(Clone, Debug, PartialEq)]
pub struct Need {
    /// The job needed.
    pub job: Spanned<String>,
    /// Whether its artifacts are downloaded (default true).
    pub artifacts: bool,
    /// Whether a missing job is fine.
    pub optional: bool,
    /// Set for cross-project or parent-pipeline needs (not checked locally).
    pub external: bool,
    /// `needs: [{pipeline: $PARENT_PIPELINE_ID, job: NAME}]`: a job of the parent pipeline
    /// whose artifacts a child pipeline's job downloads.
    pub parent_pipeline: bool,
    /// `parallel:matrix` selecting specific matrix jobs.
    pub matrix: Option<Vec<super::matrix::MatrixEntry>>,
}

/// `only:` / `except:`.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Refs: keywords (`branches`, `tags`, …), names or `/regex/`.
    pub refs: Vec<Spanned<String>>,
    /// Variable expressions (any true matches).
    pub variables: Vec<Condition>,
    /// Changed-file globs.
    pub changes: Vec<Spanned<String>>,
    /// `kubernetes: active`.
    pub kubernetes: bool,
}

/// `workflow:`.
#[derive(Clone, Debug, Default)]
pub struct Workflow {
    /// Pipeline-level rules: first match decides, no match means no pipeline.
    pub rules: Option<Vec<Rule>>,
    /// `name:` of the pipeline.
    pub name: Option<Spanned<String>>,
}

/// Decodes a job (or workflow) `when:`.
pub fn decode_when(node: &Node, ctx: &mut Ctx, allowed: &[&str]) -> Option<Spanned<When>> {
    let s = ctx.choice(node, "`when`", allowed)?;
    Some(Spanned::new(When::from_keyword(&s.value), s.span))
}

/// Decodes `allow_failure:`.
pub fn decode_allow_failure(node: &Node, ctx: &mut Ctx) -> Option<AllowFailure> {
    match &node.value {
        Value::Bool(b) => Some(AllowFailure::Bool(*b)),
        Value::Map(m) => {
            ctx.check_keys(m, &["exit_codes"], "`allow_failure`");
            let codes = m.get("exit_codes")?;
            Some(AllowFailure::ExitCodes(exit_codes(
                &codes.value,
                ctx,
                "`allow_failure:exit_codes`",
            )))
        }
        _ => {
            ctx.type_error(
                node,
                "`allow_failure`",
                "`true`, `false` or `{exit_codes: [..]}`",
            );
            None
        }
    }
}

/// An exit code or a non-empty list of distinct ones.
pub fn exit_codes(node: &Node, ctx: &mut Ctx, what: &str) -> Vec<i64> {
    match &node.value {
        Value::Seq(_) => ctx
            .unique_items(node, what)
            .unwrap_or_default()
            .iter()
            .filter_map(|i| ctx.int_in(i, what, 0, 255))
            .collect(),
        _ => ctx.int_in(node, what, 0, 255).into_iter().collect(),
    }
}

/// Parses an expression scalar, reporting syntax errors at their exact column.
pub fn condition(node: &Node, ctx: &mut Ctx, what: &str) -> Option<Condition> {
    let text = ctx.string(node, what)?;
    match expr::parse(&text.value) {
        Ok(expr) => Some(Condition { text, expr }),
        Err(e) => {
            let single_line = !text.value.contains('\n');
            let span = if single_line {
                let quote = usize::from(node.quoted);
                Span {
                    offset: node.span.offset + quote as u32,
                    col: node.span.col + quote as u32,
                    ..node.span
                }
                .within(&text.value, e.at, e.len.max(1))
            } else {
                node.span
            };
            ctx.push(
                Diagnostic::error(Code::InvalidExpression, span, format!("invalid {what}: {}", e.message))
                    .with_help("expressions compare `$VARIABLES` with \"strings\", /regexes/ or null using ==, !=, =~, !~, &&, ||"),
            );
            None
        }
    }
}

/// Decodes a list of rules; `workflow` restricts keys and `when` values.
pub fn decode_rules(node: &Node, ctx: &mut Ctx, workflow: bool) -> Vec<Rule> {
    let Some(items) = node.as_seq() else {
        ctx.type_error(node, "`rules`", "a list of rules");
        return Vec::new();
    };
    let (keys, whens): (&[&str], &[&str]) = if workflow {
        (keywords::WORKFLOW_RULE, &["always", "never"])
    } else {
        (keywords::RULE, keywords::WHEN)
    };
    // A `!reference` may put lists of rules inside the list: GitLab flattens them all.
    let mut rules = Vec::new();
    for item in items.iter().flat_map(super::decode::flat_items) {
        rules.extend(decode_rule(item, ctx, keys, whens));
    }
    rules
}

fn decode_rule(node: &Node, ctx: &mut Ctx, keys: &[&str], whens: &[&str]) -> Option<Rule> {
    let m = ctx.map(node, "a rule")?;
    ctx.check_keys(m, keys, "a rule");
    let mut rule = Rule {
        span: node.span,
        ..Rule::default()
    };
    for (key, e) in m {
        let v = &e.value;
        match key.as_str() {
            "if" => rule.condition = condition(v, ctx, "`rules:if` expression"),
            "changes" => rule.changes = Some(decode_changes(v, ctx)),
            "exists" => {
                let globs = match v.as_map() {
                    Some(m) => {
                        ctx.check_keys(m, &["paths", "project", "ref"], "`exists`");
                        if !m.contains_key("paths") {
                            ctx.error(Code::InvalidValue, v.span, "`exists` needs `paths:`");
                        }
                        if m.contains_key("ref") && !m.contains_key("project") {
                            ctx.error(
                                Code::InvalidValue,
                                m["ref"].key_span,
                                "`exists:ref` needs `exists:project`",
                            );
                        }
                        m.get("paths")
                            .map(|p| ctx.list_of_strings(&p.value, "`exists:paths`"))
                            .unwrap_or_default()
                    }
                    None => ctx.string_list(v, "`exists`"),
                };
                rule.exists = Some(globs);
            }
            "when" => rule.when = decode_when(v, ctx, whens),
            "allow_failure" => rule.allow_failure = decode_allow_failure(v, ctx),
            "variables" => rule.variables = variables::decode(v, ctx, "`rules:variables`"),
            "needs" => rule.needs = Some(decode_needs(v, ctx)),
            "start_in" => rule.start_in = ctx.duration(v, "`start_in`"),
            "interruptible" => rule.interruptible = ctx.bool(v, "`interruptible`"),
            "auto_cancel" => decode_auto_cancel(v, ctx),
            _ => {}
        }
    }
    if let Some(w) = &rule.when
        && w.value == When::Delayed
        && rule.start_in.is_none()
    {
        ctx.error(
            Code::InvalidValue,
            w.span,
            "`when: delayed` needs `start_in` in the same rule",
        );
    }
    Some(rule)
}

fn decode_changes(node: &Node, ctx: &mut Ctx) -> Changes {
    match node.as_map() {
        Some(m) => {
            ctx.check_keys(m, &["paths", "compare_to"], "`changes`");
            if !m.contains_key("paths") {
                ctx.error(Code::InvalidValue, node.span, "`changes` needs `paths:`");
            }
            Changes {
                paths: m
                    .get("paths")
                    .map(|p| ctx.string_list(&p.value, "`changes:paths`"))
                    .unwrap_or_default(),
                compare_to: m
                    .get("compare_to")
                    .and_then(|c| ctx.string(&c.value, "`compare_to`")),
            }
        }
        None => Changes {
            paths: ctx.string_list(node, "`changes`"),
            compare_to: None,
        },
    }
}

/// Decodes `needs:` (strings or `{job, artifacts, optional, parallel}` mappings).
pub fn decode_needs(node: &Node, ctx: &mut Ctx) -> Vec<Need> {
    let items: Vec<&Node> = match &node.value {
        // A `!reference` to another job's `needs` puts a list inside the list: GitLab
        // flattens them (`[@config].flatten` in `Entry::Needs`).
        Value::Seq(_) => super::decode::flat_items(node),
        Value::Null => vec![],
        _ => {
            ctx.type_error(node, "`needs`", "a list of job names");
            return Vec::new();
        }
    };
    let mut needs = Vec::new();
    for item in items {
        match &item.value {
            // An empty list item (`-` alone, often from an alias of one): `Entry::Needs#value`
            // keeps only entries with a type, and a nil element is an untyped `Undefined`.
            Value::Null => {}
            Value::Str(s) => needs.push(Need {
                job: Spanned::new(s.clone(), item.span),
                artifacts: true,
                optional: false,
                external: false,
                parent_pipeline: false,
                matrix: None,
            }),
            Value::Map(m) => {
                ctx.check_keys(m, keywords::NEED, "a need");
                let external = m.contains_key("pipeline") || m.contains_key("project");
                if m.contains_key("project") && !m.contains_key("ref") {
                    ctx.error(
                        Code::InvalidValue,
                        item.span,
                        "a cross-project need (`project:`) needs `ref:`",
                    );
                }
                let Some(job) = m.get("job").and_then(|j| ctx.text(&j.value, "`needs:job`")) else {
                    if !m.contains_key("job") {
                        ctx.error(
                            Code::InvalidValue,
                            item.span,
                            "a need in mapping form needs `job:`",
                        );
                    }
                    continue;
                };
                let flag = |key: &str, ctx: &mut Ctx, default: bool| {
                    m.get(key)
                        .and_then(|e| ctx.bool(&e.value, &format!("`needs:{key}`")))
                        .unwrap_or(default)
                };
                let matrix = m
                    .get("parallel")
                    .and_then(|p| {
                        p.value
                            .as_map()
                            .and_then(|pm| pm.get("matrix"))
                            .map(|x| &x.value)
                    })
                    .map(|mx| super::matrix::decode_matrix(mx, ctx));
                needs.push(Need {
                    job,
                    artifacts: flag("artifacts", ctx, true),
                    optional: flag("optional", ctx, false),
                    external,
                    parent_pipeline: m.contains_key("pipeline") && !m.contains_key("project"),
                    matrix,
                });
            }
            _ => ctx.type_error(item, "each need", "a job name or a mapping with `job:`"),
        }
    }
    needs
}

/// Decodes `only:`/`except:`.
pub fn decode_filter(node: &Node, ctx: &mut Ctx, what: &str) -> Filter {
    let mut f = Filter::default();
    match &node.value {
        Value::Map(m) => {
            ctx.check_keys(m, keywords::FILTER, what);
            if let Some(e) = m.get("refs") {
                f.refs = ctx.string_list(&e.value, &format!("{what}:refs"));
            }
            if let Some(e) = m.get("variables") {
                for v in items(&e.value) {
                    f.variables
                        .extend(condition(v, ctx, &format!("{what}:variables expression")));
                }
            }
            if let Some(e) = m.get("changes") {
                f.changes = match e.value.as_map() {
                    Some(cm) => cm
                        .get("paths")
                        .map(|p| ctx.string_list(&p.value, "`changes:paths`"))
                        .unwrap_or_default(),
                    None => ctx.string_list(&e.value, &format!("{what}:changes")),
                };
            }
            if let Some(e) = m.get("kubernetes") {
                f.kubernetes = ctx.choice(&e.value, "`kubernetes`", &["active"]).is_some();
            }
        }
        _ => f.refs = ctx.string_list(node, what),
    }
    for r in &f.refs {
        if let Some(body) = r.value.strip_prefix('/')
            && let Some(close) = body.rfind('/')
            && let Err(e) = expr::compile_pattern(&body[..close], &body[close + 1..])
        {
            ctx.error(
                Code::InvalidValue,
                r.span,
                format!("invalid ref pattern: {e}"),
            );
        }
    }
    f
}

fn items(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    }
}

/// Decodes `workflow:`.
pub fn decode_workflow(node: &Node, ctx: &mut Ctx) -> Workflow {
    let mut w = Workflow::default();
    let Some(m) = ctx.map(node, "`workflow`") else {
        return w;
    };
    ctx.check_keys(m, keywords::WORKFLOW, "`workflow`");
    if let Some(e) = m.get("rules") {
        w.rules = Some(decode_rules(&e.value, ctx, true));
    }
    if let Some(e) = m.get("name") {
        w.name = ctx.text(&e.value, "`workflow:name`");
        if let Some(n) = &w.name
            && !(1..=255).contains(&n.value.chars().count())
        {
            ctx.error(
                Code::InvalidValue,
                e.value.span,
                "`workflow:name` must be 1 to 255 characters long",
            );
        }
    }
    if let Some(e) = m.get("auto_cancel") {
        decode_auto_cancel(&e.value, ctx);
    }
    w
}

/// Checks `auto_cancel:` (`on_new_commit`, `on_job_failure`); gantry runs one pipeline, so
/// there is nothing to cancel.
fn decode_auto_cancel(node: &Node, ctx: &mut Ctx) {
    let Some(m) = ctx.map(node, "`auto_cancel`") else {
        return;
    };
    let keys: Vec<&str> = keywords::AUTO_CANCEL.iter().map(|(k, _)| *k).collect();
    ctx.check_keys(m, &keys, "`auto_cancel`");
    for (key, values) in keywords::AUTO_CANCEL {
        if let Some(e) = m.get(*key) {
            ctx.choice(&e.value, &format!("`auto_cancel:{key}`"), values);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Ctx, decode_needs};
    use crate::diagnostic::Diagnostics;
    use crate::load::node::{Node, Value};
    use crate::source::Span;

    fn text(s: &str) -> Node {
        Node::new(Value::Str(s.into()), Span::default())
    }

    #[test]
    fn null_needs_are_dropped_and_nested_lists_flattened() {
        let null = Node::new(Value::Null, Span::default());
        let nested = Node::new(Value::Seq(vec![null.clone(), text("b")]), Span::default());
        let needs = Node::new(Value::Seq(vec![null, text("a"), nested]), Span::default());
        let mut diags = Diagnostics::default();
        let decoded = decode_needs(
            &needs,
            &mut Ctx {
                diags: &mut diags,
                job: None,
            },
        );
        let names: Vec<&str> = decoded.iter().map(|n| n.job.value.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(diags.is_empty(), "{:?}", diags.into_vec());
        // Anything else that is neither a name nor a mapping is still refused.
        let wrong = Node::new(
            Value::Seq(vec![Node::new(Value::Int(3), Span::default())]),
            Span::default(),
        );
        decode_needs(
            &wrong,
            &mut Ctx {
                diags: &mut diags,
                job: None,
            },
        );
        assert!(diags.has_errors());
    }
}
