//! `extends:` — each key that extends others becomes its bases deep-merged left to right,
//! with its own keys on top (GitLab's `Config::Extendable`), at most 10 levels deep.

use super::node::{Map, Node, Value, deep_merge};
use super::suggest;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::Spanned;
use std::collections::{HashMap, HashSet};

/// GitLab's `MAX_NESTING_LEVELS`.
const MAX_DEPTH: usize = 10;

/// Applies every `extends:` in the top-level mapping in place; returns the keys whose chain
/// could not be fully resolved (later checks skip what may be missing because of it).
pub fn resolve(root: &mut Map, diags: &mut Diagnostics) -> HashSet<String> {
    let names: Vec<String> = root
        .iter()
        .filter(|(_, e)| e.value.as_map().is_some_and(|m| m.contains_key("extends")))
        .map(|(k, _)| k.clone())
        .collect();
    let mut r = Resolver {
        root,
        diags,
        done: HashSet::new(),
        depth: HashMap::new(),
        failed: HashSet::new(),
    };
    for name in names {
        r.resolve(&name, &mut Vec::new());
    }
    r.failed
}

struct Resolver<'a> {
    root: &'a mut Map,
    diags: &'a mut Diagnostics,
    done: HashSet<String>,
    /// Length of the longest `extends` chain below each resolved key.
    depth: HashMap<String, usize>,
    failed: HashSet<String>,
}

impl Resolver<'_> {
    fn resolve(&mut self, name: &str, chain: &mut Vec<String>) {
        if !self.done.insert(name.to_string()) {
            return;
        }
        let Some(ext) = self
            .root
            .get(name)
            .and_then(|e| e.value.as_map())
            .and_then(|m| m.get("extends"))
            .map(|e| e.value.clone())
        else {
            return;
        };
        let Some(bases) = base_names(&ext, name, self.diags) else {
            self.failed.insert(name.to_string());
            self.strip(name);
            return;
        };
        chain.push(name.to_string());
        let mut merged = Map::default();
        let mut depth = 0;
        for base in bases {
            let Some(m) = self.base(name, &base, chain) else {
                self.failed.insert(name.to_string());
                continue;
            };
            let below = self.depth.get(&base.value).copied().unwrap_or(0);
            if below + 1 > MAX_DEPTH {
                self.too_deep(name, &base, below + 1);
                self.failed.insert(name.to_string());
                continue;
            }
            if self.failed.contains(&base.value) {
                self.failed.insert(name.to_string());
            }
            depth = depth.max(below + 1);
            deep_merge(&mut merged, m);
        }
        self.depth.insert(name.to_string(), depth);
        chain.pop();
        if let Some(entry) = self.root.get_mut(name)
            && let Value::Map(own) = &mut entry.value.value
        {
            own.shift_remove("extends");
            let own = std::mem::take(own);
            deep_merge(&mut merged, *own);
            entry.value.value = Value::Map(Box::new(merged));
        }
    }

    /// The resolved mapping of `base`, or `None` after reporting why it cannot be used.
    fn base(&mut self, job: &str, base: &Spanned<String>, chain: &mut Vec<String>) -> Option<Map> {
        if chain.contains(&base.value) {
            let mut path = chain.clone();
            path.push(base.value.clone());
            self.diags.push(
                Diagnostic::error(
                    Code::ExtendsCycle,
                    base.span,
                    format!("circular `extends`: {}", path.join(" → ")),
                )
                .in_job(job),
            );
            return None;
        }
        let Some(entry) = self.root.get(&base.value) else {
            let mut d = Diagnostic::error(
                Code::UnknownExtends,
                base.span,
                format!("`{job}` extends `{}`, which is not defined", base.value),
            )
            .in_job(job);
            if let Some(s) = suggest(&base.value, self.root.keys().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.diags.push(d);
            return None;
        };
        if entry.value.as_map().is_none() {
            self.diags.push(
                Diagnostic::error(
                    Code::InvalidType,
                    base.span,
                    format!(
                        "`{}` cannot be extended: it is {}, not a mapping",
                        base.value,
                        entry.value.kind_name()
                    ),
                )
                .in_job(job),
            );
            return None;
        }
        self.resolve(&base.value, chain);
        let mut map = self.root.get(&base.value)?.value.as_map()?.clone();
        map.shift_remove("extends");
        Some(map)
    }

    fn too_deep(&mut self, job: &str, base: &Spanned<String>, depth: usize) {
        self.diags.push(
            Diagnostic::error(
                Code::ExtendsTooDeep,
                base.span,
                format!(
                    "`extends` nests {depth} levels through `{}`; GitLab allows {MAX_DEPTH}",
                    base.value
                ),
            )
            .with_help("flatten the chain of templates")
            .in_job(job),
        );
    }

    fn strip(&mut self, name: &str) {
        if let Some(entry) = self.root.get_mut(name)
            && let Value::Map(m) = &mut entry.value.value
        {
            m.shift_remove("extends");
        }
    }
}

fn base_names(ext: &Node, job: &str, diags: &mut Diagnostics) -> Option<Vec<Spanned<String>>> {
    let invalid = |node: &Node, diags: &mut Diagnostics| {
        diags.push(
            Diagnostic::error(
                Code::InvalidType,
                node.span,
                format!(
                    "`extends` takes a job name or a list of names, not {}",
                    node.kind_name()
                ),
            )
            .in_job(job),
        );
    };
    match &ext.value {
        Value::Str(s) => Some(vec![Spanned::new(s.clone(), ext.span)]),
        Value::Seq(items) => {
            let mut names = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(s) => names.push(Spanned::new(s.to_string(), item.span)),
                    None => invalid(item, diags),
                }
            }
            Some(names)
        }
        _ => {
            invalid(ext, diags);
            None
        }
    }
}
