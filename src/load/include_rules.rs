//! `include: rules` — whether an include applies to this pipeline. Evaluated only when the
//! loader is given the pipeline's variables (plan and run); lint includes every file so that all
//! of them are checked.

use super::node::{Node, Value};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::expr;
use std::collections::HashMap;
use std::path::Path;

/// `true` when `rules` (the include item's `rules:` value) let the include in.
pub fn applies(
    rules: &Node,
    vars: &HashMap<String, String>,
    root: &Path,
    diags: &mut Diagnostics,
) -> bool {
    let Some(items) = rules.as_seq() else {
        diags.push(Diagnostic::error(
            Code::InvalidType,
            rules.span,
            format!("include `rules` must be a list, not {}", rules.kind_name()),
        ));
        return true;
    };
    for rule in items {
        let Some(m) = rule.as_map() else {
            diags.push(Diagnostic::error(
                Code::InvalidType,
                rule.span,
                format!(
                    "an include rule must be a mapping, not {}",
                    rule.kind_name()
                ),
            ));
            continue;
        };
        for d in super::unknown_keys(m, &["if", "exists", "changes", "when"], "an include rule") {
            diags.push(d);
        }
        let mut matches = true;
        if let Some(cond) = m.get("if").and_then(|e| e.value.as_str()) {
            match expr::parse(cond) {
                Ok(e) => matches &= expr::evaluate(&e, vars),
                Err(err) => {
                    diags.push(Diagnostic::error(
                        Code::InvalidExpression,
                        m["if"].value.span,
                        format!("invalid include `rules:if`: {}", err.message),
                    ));
                    matches = false;
                }
            }
        }
        if let Some(exists) = m.get("exists") {
            let globs: Vec<&str> = match &exists.value.value {
                Value::Str(s) => vec![s.as_str()],
                Value::Seq(items) => items.iter().filter_map(Node::as_str).collect(),
                _ => Vec::new(),
            };
            matches &= globs.iter().any(|g| {
                glob::glob(&root.join(g.trim_start_matches('/')).to_string_lossy())
                    .is_ok_and(|mut paths| paths.any(|p| p.is_ok()))
            });
        }
        // `changes` needs a diff base the loader does not have; like GitLab without one, it holds.
        if matches {
            return m.get("when").and_then(|w| w.value.as_str()) != Some("never");
        }
    }
    false
}
