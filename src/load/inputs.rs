//! `spec:inputs` — a header document declares inputs; `$[[ inputs.NAME ]]` in the body is
//! replaced by the value an `include:` passes, or the default. A whole-scalar interpolation keeps
//! the input's type (number, boolean, array); inside a longer string it is rendered as text.

use super::input_rules::{self, Rule};
use super::node::{Entry, Map, Node, Value};
use super::suggest;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::Span;
use indexmap::IndexMap;

use crate::model::keywords::{
    INPUT_SPEC as SPEC_KEYS, INPUT_TYPES as TYPES, MAX_INPUT_DESCRIPTION,
};

/// Applies the header's inputs (with `provided` values from an include) to `body`.
/// `site` is where the values come from (the include item, or the file's start).
/// `false` when an input failed (reported): the body then holds holes, and an included file
/// is better left unchecked than checked with them (GitLab stops at the inputs too).
pub fn apply(
    header: Option<&Node>,
    provided: Option<&Node>,
    component: Option<&super::component::Context>,
    body: &mut Map,
    site: Span,
    diags: &mut Diagnostics,
) -> bool {
    let specs = header
        .and_then(|h| h.as_map())
        .and_then(|m| m.get("spec"))
        .and_then(|s| s.value.as_map())
        .and_then(|m| m.get("inputs"));
    // GitLab interpolates only in files with a `spec:` header; without one (and without
    // inputs passed in) there is nothing to do, and the tree need not be walked.
    if header.is_none() && provided.is_none() {
        return true;
    }
    if specs.is_none() && provided.is_none() && !mentions_inputs(body) {
        return true;
    }
    let errors_before = diags.error_count();
    let values = resolve_values(specs.map(|e| &e.value), provided, site, diags);
    let complete = diags.error_count() == errors_before
        && !values
            .values()
            .any(|v| v.tag.as_deref() == Some(super::UNRESOLVED_TAG));
    // `$[[ component.KEY ]]` for the keys the header declares in `spec:component`.
    let declared: Vec<String> = header
        .and_then(|h| h.as_map())
        .and_then(|m| m.get("spec"))
        .and_then(|s| s.value.as_map())
        .and_then(|m| m.get("component"))
        .and_then(|c| c.value.as_seq())
        .map(|keys| keys.iter().filter_map(|k| k.scalar_string()).collect())
        .unwrap_or_default();
    let mut r = Interpolator {
        values: &values,
        component: component.map(|c| (c, declared)),
        diags,
    };
    let old = std::mem::take(body);
    *body = r.map(old);
    complete
}

fn mentions_inputs(map: &Map) -> bool {
    map.iter()
        .any(|(k, e)| k.contains("$[[") || node_mentions(&e.value))
}

fn node_mentions(node: &Node) -> bool {
    match &node.value {
        Value::Str(s) => s.contains("$[["),
        Value::Seq(items) => items.iter().any(node_mentions),
        Value::Map(m) => mentions_inputs(m),
        _ => false,
    }
}

/// The value of every declared input, checked against its spec.
fn resolve_values(
    specs: Option<&Node>,
    provided: Option<&Node>,
    site: Span,
    diags: &mut Diagnostics,
) -> IndexMap<String, Node> {
    let empty = Map::default();
    let spec_map = specs.and_then(Node::as_map).unwrap_or(&empty);
    let given = provided.and_then(Node::as_map).unwrap_or(&empty);
    for (name, e) in given {
        if !spec_map.contains_key(name) {
            let mut d = Diagnostic::error(
                Code::InvalidInput,
                e.key_span,
                format!("input `{name}` is not declared in the included file's `spec:inputs`"),
            );
            if let Some(s) = suggest(name, spec_map.keys().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
    }
    let mut r = Resolver {
        specs: spec_map,
        given,
        site,
        values: IndexMap::new(),
        visiting: Vec::new(),
        diags,
    };
    for name in spec_map.keys() {
        r.resolve(name);
    }
    // Declaration order, whatever order the rules resolved them in.
    let mut values = r.values;
    let mut ordered = IndexMap::with_capacity(values.len());
    for name in spec_map.keys() {
        if let Some(v) = values.swap_remove(name) {
            ordered.insert(name.clone(), v);
        }
    }
    ordered
}

/// Resolves inputs on demand, so that an input's `rules` see the inputs they name already
/// resolved (GitLab rejects rules that reference each other in a circle).
struct Resolver<'a, 'd> {
    specs: &'a Map,
    given: &'a Map,
    site: Span,
    values: IndexMap<String, Node>,
    visiting: Vec<String>,
    diags: &'d mut Diagnostics,
}

/// Where an input's value came from, for the checks that apply to it.
enum Source {
    /// Passed in, a `default`, or a matching rule's `default`.
    Value,
    /// No rule matched (or the matching rule had no `default`): GitLab gives `""`.
    NoRuleDefault,
}

impl<'a> Resolver<'a, '_> {
    fn unresolved(&self) -> Node {
        let mut missing = Node::new(Value::Null, self.site);
        missing.tag = Some(super::UNRESOLVED_TAG.to_string());
        missing
    }

    fn resolve(&mut self, name: &str) {
        if self.values.contains_key(name) {
            return;
        }
        let specs = self.specs;
        let Some(e) = specs.get(name) else {
            return;
        };
        if self.visiting.iter().any(|v| v == name) {
            let mut cycle: Vec<&str> = self
                .visiting
                .iter()
                .skip_while(|v| *v != name)
                .map(String::as_str)
                .collect();
            cycle.push(name);
            self.diags.error(
                Code::InvalidInput,
                e.key_span,
                format!(
                    "the `rules` of inputs depend on each other in a circle: {}",
                    cycle.join(" → ")
                ),
            );
            let missing = self.unresolved();
            self.values.insert(name.to_string(), missing);
            return;
        }
        self.visiting.push(name.to_string());
        let value = self.compute(name, e);
        self.visiting.pop();
        // A circle found below this input has already given it a value.
        self.values.entry(name.to_string()).or_insert(value);
    }

    fn compute(&mut self, name: &str, e: &'a Entry) -> Node {
        let spec = e.value.as_map();
        if let Some(spec) = spec {
            for d in super::unknown_keys(spec, SPEC_KEYS, &format!("input `{name}`")) {
                self.diags.push(d);
            }
        }
        let get = |k: &str| spec.and_then(|s| s.get(k)).map(|x| &x.value);
        if e.value.as_map().is_none() && !matches!(e.value.value, Value::Null) {
            self.diags.error(
                Code::InvalidInput,
                e.value.span,
                format!(
                    "input `{name}` must be a mapping of `type`, `default`, … or empty, not {}",
                    e.value.kind_name()
                ),
            );
        }
        if let Some(d) = get("description") {
            match d.as_str() {
                Some(text) if text.chars().count() > MAX_INPUT_DESCRIPTION => self.diags.error(
                    Code::InvalidInput,
                    d.span,
                    format!(
                        "the description of input `{name}` is longer than {MAX_INPUT_DESCRIPTION} characters"
                    ),
                ),
                Some(_) => {}
                None => self.diags.error(
                    Code::InvalidInput,
                    d.span,
                    format!("the description of input `{name}` must be a string"),
                ),
            }
        }
        let kind = get("type").and_then(Node::as_str).unwrap_or("string");
        if !TYPES.contains(&kind) {
            self.diags.error(
                Code::InvalidInput,
                get("type").map_or(e.key_span, |t| t.span),
                format!("input type `{kind}` is not one of {}", TYPES.join(", ")),
            );
        }
        let given = self.given.get(name).map(|g| &g.value);
        if given.is_some_and(|g| g.tag.as_deref() == Some(super::UNRESOLVED_TAG)) {
            // The includer's own input failed and was reported there.
            return self.unresolved();
        }
        let mut options = get("options").and_then(Node::as_seq);
        let mut from_rules: Option<Node> = None;
        let mut source = Source::Value;
        if let Some(rules_node) = get("rules") {
            for other in ["options", "default"] {
                if let Some(entry) = spec.and_then(|s| s.get(other)) {
                    self.diags.error(
                        Code::InvalidInput,
                        entry.key_span,
                        format!("input `{name}` cannot have both `rules` and `{other}`"),
                    );
                }
            }
            let rules = input_rules::parse(name, rules_node, self.diags);
            // GitLab: an input is optional when some rule has a `default` or is the fallback.
            let required = !rules
                .iter()
                .any(|r| r.default.is_some() || r.condition.is_none());
            let Ok(matched) = self.matching_rule(name, &rules) else {
                return self.unresolved();
            };
            options = matched.and_then(|r| r.options);
            from_rules = match matched.and_then(|r| r.default) {
                Some(d) if !matches!(d.value, Value::Null) => Some(d.clone()),
                // GitLab's nil (no rule matched, a rule without `default`, or `default:` with
                // nothing after it) becomes "" (gitlab-org/gitlab#587643).
                d if !required => {
                    source = Source::NoRuleDefault;
                    Some(Node::new(
                        Value::Str(String::new()),
                        d.map_or(rules_node.span, |d| d.span),
                    ))
                }
                _ => None,
            };
        }
        let value = match given {
            Some(g) => {
                source = Source::Value;
                g.clone()
            }
            None => match from_rules.or_else(|| get("default").cloned()) {
                Some(v) => v,
                None => {
                    self.diags.push(
                        Diagnostic::error(
                            Code::InvalidInput,
                            self.site,
                            format!("required input `{name}` has no value"),
                        )
                        .with_help(format!(
                            "pass it with `inputs: {{{name}: …}}` or give it a `default`"
                        )),
                    );
                    // Reported once here; uses of it are not reported again.
                    return self.unresolved();
                }
            },
        };
        if let Source::NoRuleDefault = source {
            if kind != "string" {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidInput,
                        value.span,
                        format!(
                            "input `{name}` is declared as {kind}, but no rule gives it a `default`, and GitLab then gives it the string \"\""
                        ),
                    )
                    .with_help("add a `default` to the matching rule, or a fallback rule without `if`"),
                );
                return self.unresolved();
            }
            return value;
        }
        self.check(name, kind, &value, options, get("regex"));
        value
    }

    /// The first rule that applies: its `if` holds, or it has none. `Err` when a condition
    /// cannot be decided (reported, or an input it reads failed already).
    fn matching_rule<'r>(
        &mut self,
        name: &str,
        rules: &'r [Rule<'a>],
    ) -> Result<Option<&'r Rule<'a>>, ()> {
        let mut undefined = false;
        for (index, rule) in rules.iter().enumerate() {
            let Some((condition, span)) = rule.condition else {
                continue;
            };
            for other in input_rules::references(condition) {
                if self.specs.contains_key(&other) {
                    self.resolve(&other);
                    continue;
                }
                undefined = true;
                let mut d = Diagnostic::error(
                    Code::InvalidInput,
                    span,
                    format!(
                        "rule {} of input `{name}` references undefined input `{other}`",
                        index + 1
                    ),
                );
                if let Some(s) = suggest(&other, self.specs.keys().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
            }
        }
        if undefined {
            return Err(());
        }
        for (index, rule) in rules.iter().enumerate() {
            let Some((condition, span)) = rule.condition else {
                return Ok(Some(rule));
            };
            let values = &self.values;
            let failed = input_rules::references(condition).iter().any(|other| {
                values
                    .get(other)
                    .is_some_and(|v| v.tag.as_deref() == Some(super::UNRESOLVED_TAG))
            });
            if failed {
                return Err(());
            }
            match input_rules::holds(condition, |other| values.get(other)) {
                Ok(true) => return Ok(Some(rule)),
                Ok(false) => {}
                Err(e) => {
                    self.diags.error(
                        Code::InvalidInput,
                        span,
                        format!(
                            "the `if` of rule {} of input `{name}` is not a valid expression: {}",
                            index + 1,
                            e.message
                        ),
                    );
                    return Err(());
                }
            }
        }
        Ok(None)
    }

    /// Type, `options` and `regex` of a value that was passed in or given by a default.
    fn check(
        &mut self,
        name: &str,
        kind: &str,
        value: &Node,
        options: Option<&[Node]>,
        regex: Option<&Node>,
    ) {
        let diags = &mut *self.diags;
        check_type(name, kind, value, diags);
        if let Some(options) = options
            && !options
                .iter()
                .any(|o| o.scalar_string() == value.scalar_string())
        {
            diags.error(
                Code::InvalidInput,
                value.span,
                format!("input `{name}` must be one of its `options`"),
            );
        }
        if let (Some(re), Some(text)) = (regex.and_then(Node::as_str), value.scalar_string()) {
            let pattern = re.trim_start_matches('/').trim_end_matches('/');
            match regex::Regex::new(pattern) {
                Ok(r) if !r.is_match(&text) => diags.error(
                    Code::InvalidInput,
                    value.span,
                    format!("input `{name}` does not match /{pattern}/"),
                ),
                Err(_) => diags.error(
                    Code::InvalidInput,
                    value.span,
                    format!("input `{name}` has an invalid `regex`"),
                ),
                _ => {}
            }
        }
    }
}

fn check_type(name: &str, kind: &str, value: &Node, diags: &mut Diagnostics) {
    let ok = match kind {
        "number" => matches!(value.value, Value::Int(_) | Value::Float(_)),
        "boolean" => matches!(value.value, Value::Bool(_)),
        "array" => matches!(value.value, Value::Seq(_)),
        _ => matches!(value.value, Value::Str(_)),
    };
    if !ok {
        diags.error(
            Code::InvalidInput,
            value.span,
            format!(
                "input `{name}` is declared as {kind}, but the value is {}",
                value.kind_name()
            ),
        );
    }
}

struct Interpolator<'a> {
    values: &'a IndexMap<String, Node>,
    /// The including component's context and the keys its header declares.
    component: Option<(&'a super::component::Context, Vec<String>)>,
    diags: &'a mut Diagnostics,
}

impl Interpolator<'_> {
    fn map(&mut self, map: Map) -> Map {
        let mut out = Map::with_capacity_and_hasher(map.len(), Default::default());
        for (key, entry) in map {
            let key = if key.contains("$[[") {
                self.text(&key, entry.key_span)
                    .scalar_string()
                    .unwrap_or(key)
            } else {
                key
            };
            let value = self.node(entry.value);
            out.insert(
                key,
                Entry {
                    key_span: entry.key_span,
                    value,
                },
            );
        }
        out
    }

    fn node(&mut self, node: Node) -> Node {
        match node.value {
            Value::Str(ref s) if s.contains("$[[") => {
                let mut replaced = self.text(s, node.span);
                replaced.span = node.span;
                replaced
            }
            Value::Seq(items) => Node {
                value: Value::Seq(items.into_iter().map(|i| self.node(i)).collect()),
                ..node
            },
            Value::Map(m) => Node {
                value: Value::Map(Box::new(self.map(*m))),
                ..node
            },
            _ => node,
        }
    }

    /// Interpolates one string; a string that is exactly one `$[[ … ]]` keeps the input's type.
    fn text(&mut self, s: &str, span: Span) -> Node {
        let mut out = String::new();
        let mut rest = s;
        let mut whole: Option<Node> = None;
        while let Some(start) = rest.find("$[[") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find("]]") else {
                self.diags
                    .error(Code::InvalidInput, span, "`$[[` is not closed with `]]`");
                return Node::new(Value::Str(s.to_string()), span);
            };
            let inner = &rest[start + 3..start + len];
            // Matrix expressions are left for planning, which knows each job's matrix values
            // (GitLab skips them during interpolation too).
            if inner.trim().starts_with("matrix.") {
                out.push_str(&rest[start..start + len + 2]);
                rest = &rest[start + len + 2..];
                continue;
            }
            let value = self.evaluate(inner.trim(), span);
            if start == 0
                && start + len + 2 == rest.len()
                && out.is_empty()
                && rest.len() == s.len()
            {
                whole = value.clone();
            }
            if let Some(v) = value {
                out.push_str(&render(&v));
            }
            rest = &rest[start + len + 2..];
        }
        out.push_str(rest);
        whole.unwrap_or_else(|| Node::new(Value::Str(out), span))
    }

    /// The value `head` (`inputs.NAME` or a declared `component.KEY`) names.
    fn lookup(&mut self, head: &str, span: Span) -> Option<Node> {
        if let Some(key) = head.strip_prefix("component.")
            && let Some((context, declared)) = &self.component
            && declared.iter().any(|d| d == key)
            && let Some(value) = context.get(key)
        {
            return Some(Node::new(Value::Str(value.to_string()), span));
        }
        let Some(name) = head.strip_prefix("inputs.") else {
            let message = if head.starts_with("component.") {
                format!(
                    "`$[[ {head} ]]`: a component's file interpolates `component.name`, `sha`, `version` or `reference` when its header declares them in `spec:component`"
                )
            } else {
                format!("`$[[ {head} ]]`: only `inputs.NAME` can be interpolated")
            };
            self.diags.error(Code::InvalidInput, span, message);
            return None;
        };
        let Some(value) = self.values.get(name) else {
            let mut d =
                Diagnostic::error(Code::InvalidInput, span, format!("unknown input `{name}`"));
            if let Some(s) = suggest(name, self.values.keys().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.diags.push(d);
            return None;
        };
        Some(value.clone())
    }

    fn evaluate(&mut self, expr: &str, span: Span) -> Option<Node> {
        let mut parts = expr.split('|').map(str::trim);
        let head = parts.next().unwrap_or("");
        let mut value = self.lookup(head, span)?;
        if value.tag.as_deref() == Some(super::UNRESOLVED_TAG) {
            // Kept marked, so that a value passed on to an include is not reported again.
            return Some(value);
        }
        for f in parts {
            if f == "expand_vars" || f == "posix_escape" {
                continue;
            }
            if let Some(args) = f
                .strip_prefix("truncate(")
                .and_then(|a| a.strip_suffix(')'))
            {
                let nums: Vec<usize> = args
                    .split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect();
                if let ([offset, length], Some(text)) = (nums.as_slice(), value.scalar_string()) {
                    let cut: String = text.chars().skip(*offset).take(*length).collect();
                    value = Node::new(Value::Str(cut), value.span);
                    continue;
                }
            }
            self.diags.error(
                Code::InvalidInput,
                span,
                format!("unknown interpolation function `{f}`"),
            );
        }
        Some(value)
    }
}

/// An input's value as text (inside a longer string, or compared in a rule's `if`).
pub(super) fn render(node: &Node) -> String {
    match &node.value {
        Value::Seq(items) => {
            let parts: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", parts.join(", "))
        }
        _ => node.scalar_string().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves the inputs of a header `spec:` text with `given` values (YAML mapping text).
    fn resolve(header: &str, given: &str) -> (IndexMap<String, Node>, Vec<String>) {
        let mut diags = Diagnostics::default();
        let mut sources = crate::source::SourceMap::default();
        let mut doc = |text: &str, diags: &mut Diagnostics| {
            let id = sources.add("t.yml".into(), "t.yml".into(), text.to_string());
            let file = sources.get(id).expect("registered");
            super::super::yaml::parse(file, id, Default::default(), diags)
                .expect("valid YAML")
                .remove(0)
        };
        let header = doc(header, &mut diags);
        let given = doc(given, &mut diags);
        let specs = header
            .as_map()
            .and_then(|m| m.get("inputs"))
            .map(|e| &e.value);
        let values = resolve_values(specs, Some(&given), Span::default(), &mut diags);
        let messages = diags.into_vec().into_iter().map(|d| d.message).collect();
        (values, messages)
    }

    fn text(values: &IndexMap<String, Node>, name: &str) -> Option<String> {
        values.get(name).and_then(Node::scalar_string)
    }

    #[test]
    fn rules_give_defaults_in_the_order_they_need() {
        let header = concat!(
            "inputs:\n",
            // Names an input declared after it: resolved first.
            "  size:\n    rules:\n      - if: inputs.env == 'prod'\n        default: big\n",
            "      - options: [small, tiny]\n        default: small\n",
            "  env: {default: prod}\n",
            "  none:\n    rules:\n      - if: inputs.env == 'dev'\n        default: x\n",
            "  empty:\n    rules:\n      - if: inputs.env == 'prod'\n        default:\n",
            "  picked:\n    rules:\n      - if: inputs.env == 'prod'\n        options: [a, b]\n",
            "        default: a\n",
        );
        let (values, messages) = resolve(header, "picked: b\n");
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(text(&values, "size").as_deref(), Some("big"));
        assert_eq!(text(&values, "none").as_deref(), Some(""));
        assert_eq!(text(&values, "empty").as_deref(), Some(""));
        assert_eq!(text(&values, "picked").as_deref(), Some("b"));
        // Declaration order is kept.
        let names: Vec<&str> = values.keys().map(String::as_str).collect();
        assert_eq!(names, ["size", "env", "none", "empty", "picked"]);

        // A passed value is checked against the matching rule's options.
        let (_, messages) = resolve(header, "picked: c\n");
        assert_eq!(messages, ["input `picked` must be one of its `options`"]);
        // The fallback applies when no `if` holds; with no rule matching, no options bind.
        let (values, messages) = resolve(header, "env: dev\npicked: c\n");
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(text(&values, "size").as_deref(), Some("small"));
        assert_eq!(text(&values, "none").as_deref(), Some("x"));
        assert_eq!(text(&values, "picked").as_deref(), Some("c"));
    }

    #[test]
    fn an_input_whose_rules_have_no_default_or_fallback_is_required() {
        let header = "inputs:\n  env: {default: a}\n  tag:\n    rules:\n      - if: inputs.env == 'a'\n        options: [x]\n";
        let (values, messages) = resolve(header, "{}\n");
        assert_eq!(messages, ["required input `tag` has no value"]);
        assert_eq!(
            values["tag"].tag.as_deref(),
            Some(super::super::UNRESOLVED_TAG)
        );
        let (values, messages) = resolve(header, "tag: x\n");
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(text(&values, "tag").as_deref(), Some("x"));
    }
}
