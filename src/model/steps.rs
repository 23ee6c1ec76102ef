//! `run:` — CI steps. gantry does not execute steps, but checks their shape as GitLab's schema
//! does, so a malformed step list fails here and not on the GitLab server.

use super::decode::{Ctx, is_identifier};
use crate::diagnostic::{Code, Diagnostic};
use crate::load::node::{Map, Node, Value};

/// What a step does, named by its one distinguishing key, with the keys it may have besides.
const KINDS: &[(&str, &[&str], bool)] = &[
    ("step", &["name", "env", "inputs"], true),
    ("run", &["env", "outputs", "delegate"], false),
    ("action", &["name", "env", "inputs"], true),
    ("script", &["name", "env"], true),
    ("exec", &["env"], false),
];

/// Checks `run:`: a list of steps.
pub fn check_steps(node: &Node, ctx: &mut Ctx) {
    let Some(items) = node.as_seq() else {
        ctx.type_error(node, "`run`", "a list of steps");
        return;
    };
    for item in items {
        check_step(item, ctx, 0);
    }
}

fn check_step(node: &Node, ctx: &mut Ctx, depth: usize) {
    let Some(m) = ctx.map(node, "each step of `run`") else {
        return;
    };
    let kinds: Vec<&(&str, &[&str], bool)> = KINDS
        .iter()
        .filter(|(k, _, _)| m.contains_key(*k))
        .collect();
    let [(kind, others, needs_name)] = kinds[..] else {
        let found: Vec<&str> = kinds.iter().map(|(k, _, _)| *k).collect();
        let message = if found.is_empty() {
            "a step needs one of `step`, `run`, `action`, `script` or `exec`".to_string()
        } else {
            format!("a step has only one of {}", quoted(&found))
        };
        ctx.push(
            Diagnostic::error(Code::InvalidValue, node.span, message)
                .with_help("e.g. `- name: build` with `script: make`"),
        );
        return;
    };
    let mut allowed: Vec<&str> = others.to_vec();
    allowed.push(kind);
    ctx.check_keys(m, &allowed, &format!("a `{kind}` step"));
    match m.get("name") {
        Some(e) => {
            if let Some(name) = ctx.string(&e.value, "a step's `name`")
                && !is_identifier(&name.value)
            {
                ctx.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        e.value.span,
                        format!("step name `{}` is not an identifier", name.value),
                    )
                    .with_help("use letters, digits and `_`, not starting with a digit"),
                );
            }
        }
        None if *needs_name => ctx.error(
            Code::InvalidValue,
            node.span,
            format!("a `{kind}` step needs a `name`"),
        ),
        None => {}
    }
    if let Some(e) = m.get("env")
        && let Some(env) = ctx.map(&e.value, "a step's `env`")
    {
        ctx.identifier_keys(env, "`env`");
        for (k, v) in env {
            ctx.string(&v.value, &format!("`env:{k}`"));
        }
    }
    for key in ["inputs", "outputs"] {
        if let Some(e) = m.get(key)
            && let Some(values) = ctx.map(&e.value, &format!("a step's `{key}`"))
        {
            ctx.identifier_keys(values, &format!("`{key}`"));
        }
    }
    let v = &m[*kind].value;
    match *kind {
        "step" => check_reference(v, ctx),
        "run" => match v.as_seq() {
            Some(items) if depth < 10 => {
                for i in items {
                    check_step(i, ctx, depth + 1);
                }
            }
            Some(_) => ctx.error(Code::InvalidValue, v.span, "steps nest too deep"),
            None => ctx.type_error(v, "a step's `run`", "a list of steps"),
        },
        "action" => {
            ctx.non_empty(v, "a step's `action`");
        }
        "script" => {
            ctx.non_empty(v, "a step's `script`");
        }
        _ => check_exec(v, ctx),
    }
    if let Some(e) = m.get("delegate") {
        ctx.string(&e.value, "a step's `delegate`");
    }
}

/// `step:` a name, `{git: {url, rev, dir, file}}` or `{oci: {registry, repository, tag, dir, file}}`.
fn check_reference(v: &Node, ctx: &mut Ctx) {
    let m = match &v.value {
        Value::Str(_) => return,
        Value::Map(m) => m,
        _ => return ctx.type_error(v, "`step`", "a step reference or `git:`/`oci:` mapping"),
    };
    ctx.check_keys(m, &["git", "oci"], "`step`");
    let (key, required, optional): (&str, &[&str], &[&str]) = if m.contains_key("git") {
        ("git", &["url", "rev"], &["dir", "file"])
    } else if m.contains_key("oci") {
        ("oci", &["registry", "repository", "tag"], &["dir", "file"])
    } else {
        return ctx.error(Code::InvalidValue, v.span, "`step` needs `git:` or `oci:`");
    };
    let e = &m[key];
    let Some(r) = ctx.map(&e.value, &format!("`step:{key}`")) else {
        return;
    };
    let all: Vec<&str> = required.iter().chain(optional).copied().collect();
    ctx.check_keys(r, &all, &format!("`step:{key}`"));
    require(r, required, &e.value, &format!("`step:{key}`"), ctx);
    for (k, x) in r {
        ctx.string(&x.value, &format!("`step:{key}:{k}`"));
    }
}

fn check_exec(v: &Node, ctx: &mut Ctx) {
    let Some(m) = ctx.map(v, "`exec`") else {
        return;
    };
    ctx.check_keys(m, &["command", "work_dir"], "`exec`");
    require(m, &["command"], v, "`exec`", ctx);
    if let Some(c) = m.get("command") {
        match c.value.as_seq() {
            Some([]) => ctx.error(
                Code::InvalidValue,
                c.value.span,
                "`exec:command` cannot be empty",
            ),
            _ => {
                ctx.list_of_strings(&c.value, "`exec:command`");
            }
        }
    }
    if let Some(w) = m.get("work_dir") {
        ctx.string(&w.value, "`exec:work_dir`");
    }
}

/// Reports each of `keys` missing from `m`.
pub fn require(m: &Map, keys: &[&str], node: &Node, what: &str, ctx: &mut Ctx) {
    for key in keys {
        if !m.contains_key(*key) {
            ctx.error(
                Code::InvalidValue,
                node.span,
                format!("{what} needs `{key}:`"),
            );
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
