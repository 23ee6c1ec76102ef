//! `!reference [key, sub, …]` — replaces the tagged list with a copy of the value it points to,
//! resolving nested references, after `extends` (as GitLab's `Tags::Resolver` does).

use super::node::{Map, Node, Value};
use super::suggest;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use std::collections::HashSet;

/// GitLab's `MAX_NESTING_LEVEL` for references.
const MAX_DEPTH: usize = 10;
const TAG: &str = "!reference";
/// Tag left on a value whose reference failed, so later stages do not report it again.
pub const UNRESOLVED: &str = "!unresolved";

/// Resolves every `!reference` in the top-level mapping in place.
pub fn resolve(root: &mut Map, diags: &mut Diagnostics) {
    if !root.values().any(|e| has_tags(&e.value)) {
        return;
    }
    let original = root.clone();
    let mut r = Resolver {
        root: &original,
        stack: Vec::new(),
        cycles: HashSet::new(),
        diags,
    };
    for entry in root.values_mut() {
        r.node(&mut entry.value);
    }
}

struct Resolver<'a> {
    root: &'a Map,
    /// References being resolved, innermost last.
    stack: Vec<Vec<String>>,
    /// Cycles already reported, by their sorted members.
    cycles: HashSet<Vec<Vec<String>>>,
    diags: &'a mut Diagnostics,
}

fn has_tags(node: &Node) -> bool {
    node.tag.is_some()
        || match &node.value {
            Value::Seq(items) => items.iter().any(has_tags),
            Value::Map(m) => m.values().any(|e| has_tags(&e.value)),
            _ => false,
        }
}

impl Resolver<'_> {
    fn node(&mut self, node: &mut Node) {
        match node.tag.as_deref() {
            Some(TAG) => {
                match self.lookup(node) {
                    Some(target) => *node = target,
                    None => {
                        node.value = Value::Null;
                        node.tag = Some(UNRESOLVED.to_string());
                    }
                }
                return;
            }
            Some(UNRESOLVED) => return,
            Some(other) => {
                self.diags.push(Diagnostic::warning(
                    Code::InvalidReference,
                    node.span,
                    format!("unknown YAML tag `{other}` is ignored"),
                ));
                node.tag = None;
            }
            None => {}
        }
        match &mut node.value {
            Value::Seq(items) => {
                for item in items {
                    self.node(item);
                }
            }
            Value::Map(m) => {
                for e in m.values_mut() {
                    self.node(&mut e.value);
                }
            }
            _ => {}
        }
    }

    fn error(&mut self, node: &Node, code: Code, message: String) -> Option<Node> {
        self.diags.push(Diagnostic::error(code, node.span, message));
        None
    }

    /// The resolved copy of the value a `!reference` node points to.
    fn lookup(&mut self, node: &Node) -> Option<Node> {
        let path: Option<Vec<String>> = node
            .as_seq()
            .map(|items| items.iter().map(|i| i.scalar_string()).collect())
            .unwrap_or(None);
        let path = match path {
            Some(p) if !p.is_empty() => p,
            _ => {
                return self.error(
                    node,
                    Code::InvalidReference,
                    "`!reference` takes a list of keys, such as `!reference [.setup, script]`"
                        .into(),
                );
            }
        };
        let shown = format!("[{}]", path.join(", "));
        if let Some(from) = self.stack.iter().position(|p| *p == path) {
            let mut members = self.stack[from..].to_vec();
            members.sort();
            if !self.cycles.insert(members) {
                return None;
            }
            return self.error(
                node,
                Code::ReferenceCycle,
                format!("`!reference {shown}` refers back to itself"),
            );
        }
        if self.stack.len() >= MAX_DEPTH {
            return self.error(
                node,
                Code::InvalidReference,
                format!("`!reference {shown}` nests deeper than {MAX_DEPTH} levels"),
            );
        }
        let root = self.root;
        let mut map = root;
        let mut found: Option<&Node> = None;
        for (i, key) in path.iter().enumerate() {
            let Some(entry) = map.get(key) else {
                let place = if i == 0 {
                    "the pipeline".to_string()
                } else {
                    format!("`{}`", path[..i].join("."))
                };
                let mut d = Diagnostic::error(
                    Code::InvalidReference,
                    node.span,
                    format!("`!reference {shown}`: `{key}` is not defined in {place}"),
                );
                if let Some(s) = suggest(key, map.keys().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
                return None;
            };
            found = Some(&entry.value);
            if i + 1 < path.len() {
                match entry.value.as_map() {
                    Some(m) => map = m,
                    None => {
                        return self.error(
                            node,
                            Code::InvalidReference,
                            format!(
                                "`!reference {shown}`: `{key}` is {}, so it has no `{}`",
                                entry.value.kind_name(),
                                path[i + 1]
                            ),
                        );
                    }
                }
            }
        }
        let mut target = found?.clone();
        self.stack.push(path);
        self.node(&mut target);
        self.stack.pop();
        Some(target)
    }
}
