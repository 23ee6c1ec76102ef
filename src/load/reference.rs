//! `!reference [key, sub, …]` — replaces the tagged list with a copy of the value it points to,
//! resolving nested references, after `extends` (as GitLab's `Tags::Resolver` does).

use super::node::{Map, Node, Value};
use super::suggest;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

/// GitLab's `MAX_NESTING_LEVEL` for references.
const MAX_DEPTH: usize = 10;
const TAG: &str = "!reference";

/// Resolves every `!reference` in the top-level mapping in place.
pub fn resolve(root: &mut Map, diags: &mut Diagnostics) {
    if !root.values().any(|e| has_tags(&e.value)) {
        return;
    }
    let original = root.clone();
    let mut stack = Vec::new();
    for entry in root.values_mut() {
        resolve_node(&mut entry.value, &original, &mut stack, diags);
    }
}

fn has_tags(node: &Node) -> bool {
    node.tag.is_some()
        || match &node.value {
            Value::Seq(items) => items.iter().any(has_tags),
            Value::Map(m) => m.values().any(|e| has_tags(&e.value)),
            _ => false,
        }
}

fn resolve_node(node: &mut Node, root: &Map, stack: &mut Vec<Vec<String>>, diags: &mut Diagnostics) {
    match node.tag.as_deref() {
        Some(TAG) => {
            if let Some(target) = lookup(node, root, stack, diags) {
                *node = target;
            } else {
                node.value = Value::Null;
                node.tag = None;
            }
            return;
        }
        Some(other) => {
            diags.push(Diagnostic::warning(
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
                resolve_node(item, root, stack, diags);
            }
        }
        Value::Map(m) => {
            for e in m.values_mut() {
                resolve_node(&mut e.value, root, stack, diags);
            }
        }
        _ => {}
    }
}

/// The resolved copy of the value a `!reference` node points to.
fn lookup(
    node: &Node,
    root: &Map,
    stack: &mut Vec<Vec<String>>,
    diags: &mut Diagnostics,
) -> Option<Node> {
    let error = |diags: &mut Diagnostics, code, msg: String| {
        diags.push(Diagnostic::error(code, node.span, msg));
        None
    };
    let path: Option<Vec<String>> = node
        .as_seq()
        .map(|items| items.iter().map(|i| i.scalar_string()).collect())
        .unwrap_or(None);
    let path = match path {
        Some(p) if !p.is_empty() => p,
        _ => {
            return error(
                diags,
                Code::InvalidReference,
                "`!reference` takes a list of keys, such as `!reference [.setup, script]`".into(),
            );
        }
    };
    let shown = format!("[{}]", path.join(", "));
    if stack.contains(&path) {
        return error(
            diags,
            Code::ReferenceCycle,
            format!("`!reference {shown}` refers back to itself"),
        );
    }
    if stack.len() >= MAX_DEPTH {
        return error(
            diags,
            Code::InvalidReference,
            format!("`!reference {shown}` nests deeper than {MAX_DEPTH} levels"),
        );
    }
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
            diags.push(d);
            return None;
        };
        found = Some(&entry.value);
        if i + 1 < path.len() {
            match entry.value.as_map() {
                Some(m) => map = m,
                None => {
                    return error(
                        diags,
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
    stack.push(path);
    resolve_node(&mut target, root, stack, diags);
    stack.pop();
    Some(target)
}
