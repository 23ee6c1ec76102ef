//! Decoding helpers: turn [`Node`]s into typed values, recording a diagnostic for every value
//! that does not fit instead of stopping at the first.

use super::duration::parse;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::load::node::{Map, Node, Value};
use crate::load::{suggest, unknown_keys};
use crate::source::{Span, Spanned};

/// GitLab's limit on nested script lists.
const MAX_SCRIPT_NESTING: usize = 10;

/// Decoding context: where diagnostics go and which job they belong to.
pub struct Ctx<'a> {
    /// Collected diagnostics.
    pub diags: &'a mut Diagnostics,
    /// Job being decoded, if any.
    pub job: Option<String>,
}

impl Ctx<'_> {
    /// Records an error at `span`.
    pub fn error(&mut self, code: Code, span: Span, message: impl Into<String>) {
        self.push(Diagnostic::error(code, span, message));
    }

    /// Records `d`, tagged with the current job.
    pub fn push(&mut self, mut d: Diagnostic) {
        if d.job.is_none() {
            d.job = self.job.clone();
        }
        self.diags.push(d);
    }

    /// Records "`what` must be `expected`, not <found>".
    pub fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        if is_unresolved(node) {
            return;
        }
        self.error(
            Code::InvalidType,
            node.span,
            format!("{what} must be {expected}, not {}", node.kind_name()),
        );
    }

    /// Reports keys of `map` missing from `allowed`, with a "did you mean" hint.
    /// A key GitLab removed says which version removed it and what replaces it.
    pub fn check_keys(&mut self, map: &Map, allowed: &[&str], place: &str) {
        for mut d in unknown_keys(map, allowed, place) {
            let removed = super::keywords::REMOVED
                .iter()
                .find(|(at, key, _, _)| *at == place && d.message.contains(&format!("`{key}`")));
            if let Some((_, key, version, instead)) = removed {
                d.message = format!("`{key}` in {place} was removed in GitLab {version}");
                d.help = Some(format!("use {instead}"));
            }
            self.push(d);
        }
    }

    /// The mapping, or a type error.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n Map> {
        let m = node.as_map();
        if m.is_none() {
            self.type_error(node, what, "a mapping");
        }
        m
    }

    /// A string.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Str(s) => Some(Spanned::new(s.clone(), node.span)),
            _ => {
                self.type_error(node, what, "a string");
                None
            }
        }
    }

    /// A string, also accepting numbers (as GitLab does for names and refs).
    pub fn text(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Str(_) | Value::Int(_) | Value::Float(_) => {
                Some(Spanned::new(node.scalar_string()?, node.span))
            }
            _ => {
                self.type_error(node, what, "a string");
                None
            }
        }
    }

    /// A boolean.
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.type_error(node, what, "`true` or `false`");
                None
            }
        }
    }

    /// An integer within `min..=max`.
    pub fn int_in(&mut self, node: &Node, what: &str, min: i64, max: i64) -> Option<i64> {
        match node.value {
            Value::Int(i) if (min..=max).contains(&i) => Some(i),
            Value::Int(i) => {
                self.error(
                    Code::InvalidValue,
                    node.span,
                    format!("{what} must be between {min} and {max}, not {i}"),
                );
                None
            }
            _ => {
                self.type_error(node, what, "an integer");
                None
            }
        }
    }

    /// A string or a list of strings.
    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| self.text(i, &format!("each item of {what}")))
                .collect(),
            Value::Null => Vec::new(),
            _ => self.text(node, what).into_iter().collect(),
        }
    }

    /// A list of strings (a single string is not accepted).
    pub fn list_of_strings(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        match &node.value {
            Value::Seq(_) => self.string_list(node, what),
            _ => {
                self.type_error(node, what, "a list of strings");
                Vec::new()
            }
        }
    }

    /// One of `allowed`, as written.
    pub fn choice(&mut self, node: &Node, what: &str, allowed: &[&str]) -> Option<Spanned<String>> {
        let s = self.string(node, what)?;
        if allowed.contains(&s.value.as_str()) {
            return Some(s);
        }
        let mut d = Diagnostic::error(
            Code::InvalidValue,
            node.span,
            format!("{what} cannot be `{}`", s.value),
        );
        d = match suggest(&s.value, allowed.iter().copied()) {
            Some(m) => d.with_help(format!("did you mean `{m}`?")),
            None => d.with_help(format!("use one of: {}", allowed.join(", "))),
        };
        self.push(d);
        None
    }

    /// A duration (`1h 30m`, or an integer of seconds).
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Spanned<u64>> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) if *i >= 0 => return Some(Spanned::new(*i as u64, node.span)),
            _ => {
                self.type_error(node, what, "a duration such as `1h 30m`");
                return None;
            }
        };
        match parse(&text) {
            Some(p) if p.ignored.is_empty() => Some(Spanned::new(p.seconds, node.span)),
            // GitLab's ChronicDuration drops words it does not know; say so, as a warning.
            Some(p) => {
                self.push(
                    Diagnostic::warning(
                        Code::InvalidValue,
                        node.span,
                        format!(
                            "{what} `{text}`: GitLab ignores `{}` and reads {} seconds",
                            p.ignored.join(" "),
                            p.seconds
                        ),
                    )
                    .with_help("write durations like `30 minutes`, `1h 30m` or `2 days`"),
                );
                Some(Spanned::new(p.seconds, node.span))
            }
            None => {
                self.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        node.span,
                        format!("{what} `{text}` is not a duration"),
                    )
                    .with_help("write durations like `30 minutes`, `1h 30m` or `2 days`"),
                );
                None
            }
        }
    }

    /// A script: a string, or lists of strings nested up to 10 levels, flattened.
    pub fn script(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        let mut out = Vec::new();
        match &node.value {
            Value::Str(s) => out.push(Spanned::new(s.clone(), node.span)),
            Value::Seq(_) => self.flatten_script(node, what, 0, &mut out),
            _ => self.type_error(node, what, "a string or a list of strings"),
        }
        out
    }

    fn flatten_script(
        &mut self,
        node: &Node,
        what: &str,
        depth: usize,
        out: &mut Vec<Spanned<String>>,
    ) {
        match &node.value {
            Value::Str(s) => out.push(Spanned::new(s.clone(), node.span)),
            Value::Seq(items) if depth < MAX_SCRIPT_NESTING => {
                for item in items {
                    self.flatten_script(item, what, depth + 1, out);
                }
            }
            Value::Seq(_) => self.error(
                Code::InvalidType,
                node.span,
                format!("{what} nests lists more than {MAX_SCRIPT_NESTING} levels deep"),
            ),
            _ if is_unresolved(node) => {}
            _ => {
                let mut d = Diagnostic::error(
                    Code::InvalidType,
                    node.span,
                    format!(
                        "each line of {what} must be a string, not {}",
                        node.kind_name()
                    ),
                );
                if matches!(node.value, Value::Map(_)) {
                    d = d.with_help(
                        "a `: ` inside a command makes YAML read a mapping; quote the whole line",
                    );
                } else {
                    d = d.with_help("quote the line");
                }
                self.push(d);
            }
        }
    }
}

/// The items of a list with nested lists flattened into it, as GitLab's `ComposableArray`
/// entries (`rules`, `needs`, `cache`, `services`) do with Ruby's unbounded `flatten` — what a
/// `!reference` or an alias of a list inside the list produces. A non-list is one item.
pub fn flat_items(node: &Node) -> Vec<&Node> {
    fn walk<'n>(node: &'n Node, out: &mut Vec<&'n Node>) {
        match &node.value {
            Value::Seq(items) => items.iter().for_each(|i| walk(i, out)),
            _ => out.push(node),
        }
    }
    let mut out = Vec::new();
    walk(node, &mut out);
    out
}

/// A value whose `!reference` failed; it was reported already.
fn is_unresolved(node: &Node) -> bool {
    node.tag.as_deref() == Some(crate::load::UNRESOLVED_TAG)
}

impl Ctx<'_> {
    /// A string of at least one character (GitLab's `minLength: 1`).
    pub fn non_empty(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let s = self.string(node, what)?;
        if s.value.is_empty() {
            self.error(
                Code::InvalidValue,
                node.span,
                format!("{what} cannot be empty"),
            );
            return None;
        }
        Some(s)
    }

    /// A list (not a single value) with at least one item, each reported once if repeated.
    pub fn unique_items<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        let Some(items) = node.as_seq() else {
            self.type_error(node, what, "a list");
            return None;
        };
        if items.is_empty() {
            self.error(
                Code::InvalidValue,
                node.span,
                format!("{what} cannot be an empty list"),
            );
            return None;
        }
        for (i, item) in items.iter().enumerate() {
            if items[..i].iter().any(|earlier| same_scalar(earlier, item)) {
                self.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        item.span,
                        format!(
                            "{what} lists `{}` twice",
                            item.scalar_string().unwrap_or_default()
                        ),
                    )
                    .with_help("remove the repeated item"),
                );
            }
        }
        Some(items)
    }

    /// Checks that every key of `map` is a step-style name (`^[a-zA-Z_][a-zA-Z0-9_]*$`).
    pub fn identifier_keys(&mut self, map: &Map, what: &str) {
        for (key, e) in map {
            if !is_identifier(key) {
                self.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        e.key_span,
                        format!("{what} name `{key}` is not an identifier"),
                    )
                    .with_help("use letters, digits and `_`, not starting with a digit"),
                );
            }
        }
    }
}

/// Whether `s` matches `^[a-zA-Z_][a-zA-Z0-9_]*$`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn same_scalar(a: &Node, b: &Node) -> bool {
    !matches!(a.value, Value::Seq(_) | Value::Map(_))
        && a.kind_name() == b.kind_name()
        && a.scalar_string() == b.scalar_string()
}
