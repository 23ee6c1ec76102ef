//! `variables:` — `KEY: value` or `KEY: {value, description, expand, options}`.

use super::decode::Ctx;
use super::keywords;
use crate::diagnostic::Code;
use crate::load::node::{Node, Value};
use crate::source::Span;
use indexmap::IndexMap;

/// One declared variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    /// The value as written (numbers rendered as Ruby would).
    pub value: String,
    /// Where the value was written.
    pub span: Span,
    /// False for `expand: false`: the value is passed raw.
    pub expand: bool,
    /// `description:` (for pipeline variables shown in the UI).
    pub description: Option<String>,
    /// `options:` (allowed values for manual runs).
    pub options: Vec<String>,
}

/// Variables in the order written.
pub type Variables = IndexMap<String, Variable>;

/// Decodes a `variables:` mapping; `place` names it in messages.
pub fn decode(node: &Node, ctx: &mut Ctx, place: &str) -> Variables {
    let mut vars = Variables::new();
    let Some(map) = ctx.map(node, place) else {
        return vars;
    };
    for (name, entry) in map {
        if !valid_name(name) {
            ctx.error(
                Code::InvalidValue,
                entry.key_span,
                format!("`{name}` is not a valid variable name (letters, digits and `_` only)"),
            );
            continue;
        }
        // Only top-level variables take `description`/`options` (they prefill the UI's form);
        // job and service variables take `value` and `expand` (GitLab's `allowed_value_data`).
        let keys: &[&str] = if place == "`variables`" {
            keywords::VARIABLE
        } else {
            &["value", "expand"]
        };
        if let Some(v) = decode_one(name, &entry.value, ctx, keys) {
            vars.insert(name.clone(), v);
        }
    }
    vars
}

fn decode_one(name: &str, node: &Node, ctx: &mut Ctx, keys: &[&str]) -> Option<Variable> {
    // GitLab's `Entry::Variable` takes any scalar (`ScalarValidator`: strings, integers,
    // floats, booleans) and passes its Ruby `to_s`: a YAML 1.1 `no` is read as false by Psych
    // and becomes "false".
    let scalar = |node: &Node, ctx: &mut Ctx| match &node.value {
        Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Null => {
            node.scalar_string()
        }
        _ => {
            ctx.type_error(
                node,
                &format!("variable `{name}`"),
                "a string or a mapping with `value`",
            );
            None
        }
    };
    let Value::Map(m) = &node.value else {
        return Some(Variable {
            value: scalar(node, ctx)?,
            span: node.span,
            expand: true,
            description: None,
            options: Vec::new(),
        });
    };
    ctx.check_keys(m, keys, &format!("variable `{name}`"));
    let (value, span) = match m.get("value") {
        Some(e) => (scalar(&e.value, ctx)?, e.value.span),
        None => (String::new(), node.span),
    };
    let expand = m
        .get("expand")
        .and_then(|e| ctx.bool(&e.value, "`expand`"))
        .unwrap_or(true);
    let description = m
        .get("description")
        .and_then(|e| ctx.text(&e.value, "`description`"))
        .map(|s| s.value);
    let options: Vec<String> = m
        .get("options")
        .map(|e| ctx.list_of_strings(&e.value, "`options`"))
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.value)
        .collect();
    if !options.is_empty() && !options.contains(&value) {
        ctx.error(
            Code::InvalidValue,
            span,
            format!("the value of `{name}` must be one of its `options`"),
        );
    }
    Some(Variable {
        value,
        span,
        expand,
        description,
        options,
    })
}

/// GitLab variable names: letters, digits and underscores.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
