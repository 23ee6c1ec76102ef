//! Variables as a job sees them: layers from lowest to highest precedence, looked up without
//! copying, and expanded the way GitLab does (`$VAR`, `${VAR}`, `%VAR%`, `$$` for a literal `$`,
//! nested references, `expand: false` kept raw, reference cycles left unexpanded).

use crate::expr::Lookup;
use indexmap::IndexMap;
use serde::Serialize;
use std::borrow::Cow;

/// Where a variable's value came from, lowest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `CI_*` and friends.
    Predefined,
    /// Top-level `variables:`.
    Pipeline,
    /// `workflow:rules:variables`.
    Workflow,
    /// Job `variables:`.
    Job,
    /// `parallel:matrix`.
    Matrix,
    /// `rules:variables` of the matching rule.
    Rule,
    /// `artifacts:reports:dotenv` of an earlier job.
    Dotenv,
    /// The project variables file (`.gantry/variables.yml`).
    Project,
    /// `--var` or `GANTRY_VAR_*`.
    Cli,
}

/// One variable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Var {
    /// Value as declared (before expansion).
    pub value: String,
    /// Whether references in the value are expanded.
    pub expand: bool,
    /// Hidden in logs and output.
    pub masked: bool,
    /// Passed to the job as a path to a file holding the value.
    pub file: bool,
    /// Only for pipelines on protected refs (GitLab's protected variables; a project
    /// variable's setting, dropped before planning where the ref is not protected).
    pub protected: bool,
    /// Where it came from.
    pub origin: Origin,
}

impl Var {
    /// A plain, expandable variable.
    pub fn plain(value: impl Into<String>, origin: Origin) -> Var {
        Var {
            value: value.into(),
            expand: true,
            masked: false,
            file: false,
            protected: false,
            origin,
        }
    }
}

/// A set of variables of one origin, in declaration order.
pub type Layer = IndexMap<String, Var, foldhash::fast::RandomState>;

/// The variables a job sees: layers, lowest precedence first.
#[derive(Clone, Debug, Default)]
pub struct Scope<'a> {
    layers: Vec<&'a Layer>,
}

/// A variable with its final value, for display and execution.
#[derive(Clone, Debug, Serialize)]
pub struct Resolved {
    /// Name.
    pub name: String,
    /// Expanded value.
    pub value: String,
    /// Hidden in output.
    pub masked: bool,
    /// File-type variable.
    pub file: bool,
    /// Where it came from.
    pub origin: Origin,
}

/// Deepest chain of nested references followed.
const MAX_DEPTH: usize = 32;

impl<'a> Scope<'a> {
    /// A scope over `layers`, lowest precedence first.
    pub fn new(layers: Vec<&'a Layer>) -> Self {
        Scope { layers }
    }

    /// Adds a layer on top.
    pub fn push(&mut self, layer: &'a Layer) {
        self.layers.push(layer);
    }

    /// The declared variable `name`, from the highest layer that has it.
    pub fn raw(&self, name: &str) -> Option<&'a Var> {
        self.layers.iter().rev().find_map(|l| l.get(name))
    }

    /// The expanded value of `name`.
    pub fn value(&self, name: &str) -> Option<Cow<'a, str>> {
        let var = self.raw(name)?;
        if !var.expand || !has_reference(&var.value) {
            return Some(Cow::Borrowed(var.value.as_str()));
        }
        let mut stack = vec![name.to_string()];
        Some(Cow::Owned(self.expand_with(&var.value, &mut stack)))
    }

    /// Expands references in `text` (unknown variables become empty, as the runner does).
    pub fn expand(&self, text: &str) -> String {
        if !has_reference(text) {
            return text.to_string();
        }
        self.expand_with(text, &mut Vec::new())
    }

    fn expand_with(&self, text: &str, stack: &mut Vec<String>) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'$' if bytes.get(i + 1) == Some(&b'$') => {
                    out.push('$');
                    i += 2;
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => match text[i + 2..].find('}') {
                    Some(close) if is_name(&text[i + 2..i + 2 + close]) => {
                        let name = &text[i + 2..i + 2 + close];
                        self.substitute(name, &text[i..i + 3 + close], stack, &mut out, true);
                        i += close + 3;
                    }
                    _ => {
                        out.push('$');
                        i += 1;
                    }
                },
                b'$' => {
                    let len = name_len(&text[i + 1..]);
                    if len == 0 {
                        out.push('$');
                        i += 1;
                    } else {
                        let name = &text[i + 1..i + 1 + len];
                        self.substitute(name, &text[i..i + 1 + len], stack, &mut out, true);
                        i += 1 + len;
                    }
                }
                b'%' => match text[i + 1..].find('%') {
                    Some(close) if close > 0 && is_name(&text[i + 1..i + 1 + close]) => {
                        let name = &text[i + 1..i + 1 + close];
                        // `%NAME%` only when NAME exists: a lone `%` in text is common.
                        self.substitute(name, &text[i..i + 2 + close], stack, &mut out, false);
                        i += close + 2;
                    }
                    _ => {
                        out.push('%');
                        i += 1;
                    }
                },
                _ => {
                    let ch = text[i..].chars().next().unwrap_or('\0');
                    out.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        out
    }

    fn substitute(
        &self,
        name: &str,
        written: &str,
        stack: &mut Vec<String>,
        out: &mut String,
        unknown_empty: bool,
    ) {
        let Some(var) = self.raw(name) else {
            if !unknown_empty {
                out.push_str(written);
            }
            return;
        };
        if !var.expand || !has_reference(&var.value) {
            out.push_str(&var.value);
        } else if stack.iter().any(|s| s == name) || stack.len() >= MAX_DEPTH {
            out.push_str(written);
        } else {
            stack.push(name.to_string());
            let expanded = self.expand_with(&var.value, stack);
            stack.pop();
            out.push_str(&expanded);
        }
    }

    /// Every variable once, highest layer winning, in first-declared order, expanded.
    pub fn resolved(&self) -> Vec<Resolved> {
        let mut seen: IndexMap<&str, &Var> = IndexMap::new();
        for layer in &self.layers {
            for (name, var) in layer.iter() {
                seen.insert(name.as_str(), var);
            }
        }
        seen.into_iter()
            .map(|(name, var)| Resolved {
                name: name.to_string(),
                value: self
                    .value(name)
                    .map(Cow::into_owned)
                    .unwrap_or_else(|| var.value.clone()),
                masked: var.masked,
                file: var.file,
                origin: var.origin,
            })
            .collect()
    }
}

impl Lookup for Scope<'_> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.value(name)
    }
}

fn has_reference(s: &str) -> bool {
    s.contains('$') || s.contains('%')
}

fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first()
        .is_none_or(|c| !(c.is_ascii_alphabetic() || *c == b'_'))
    {
        return 0;
    }
    b.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && name_len(s) == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pairs: &[(&str, &str)], origin: Origin) -> Layer {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Var::plain(*v, origin)))
            .collect()
    }

    #[test]
    fn expands_like_gitlab() {
        let base = layer(
            &[
                ("A", "a"),
                ("B", "$A-b"),
                ("C", "${B}/c"),
                ("WIN", "%A%!"),
                ("CASH", "$$A costs 5%"),
            ],
            Origin::Pipeline,
        );
        let mut raw = layer(&[("RAW", "$A")], Origin::Job);
        raw.get_mut("RAW").unwrap().expand = false;
        let cyc = layer(&[("X", "x$Y"), ("Y", "y$X")], Origin::Job);
        let scope = Scope::new(vec![&base, &raw, &cyc]);
        assert_eq!(scope.value("C").unwrap(), "a-b/c");
        assert_eq!(scope.value("WIN").unwrap(), "a!");
        assert_eq!(scope.value("CASH").unwrap(), "$A costs 5%");
        assert_eq!(scope.value("RAW").unwrap(), "$A");
        assert_eq!(
            scope.value("X").unwrap(),
            "xy$X",
            "a cycle is left unexpanded, not looped"
        );
        assert_eq!(
            scope.expand("[$UNKNOWN] [${A}] [%UNKNOWN%] [$] [${bad-name}]"),
            "[] [a] [%UNKNOWN%] [$] [${bad-name}]"
        );
        assert_eq!(scope.expand("ünï $A"), "ünï a");
    }

    #[test]
    fn higher_layers_win_and_lower_values_see_them() {
        let pipeline = layer(
            &[("URL", "https://$HOST/x"), ("HOST", "example.com")],
            Origin::Pipeline,
        );
        let job = layer(&[("HOST", "job.example.com")], Origin::Job);
        let scope = Scope::new(vec![&pipeline, &job]);
        assert_eq!(scope.value("URL").unwrap(), "https://job.example.com/x");
        let all = scope.resolved();
        let host = all.iter().find(|r| r.name == "HOST").unwrap();
        assert_eq!(
            (host.value.as_str(), host.origin),
            ("job.example.com", Origin::Job)
        );
        assert_eq!(all.len(), 2);
    }
}
