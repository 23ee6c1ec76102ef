//! `spec:inputs:<name>:rules` — conditional defaults and options. As GitLab's
//! `Header::Input::Rules` checks them and `Ci::Inputs::RulesEvaluator` applies them: the first
//! rule whose `if` holds over the other inputs (`$[[ inputs.x ]]` or `inputs.x`), or the first
//! rule without `if`, gives the input its `default` and `options`.

use super::node::{Node, Value};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::expr;
use crate::source::Span;
use std::collections::HashMap;

/// Keys of one input rule (GitLab's `Rule::ALLOWED_KEYS`).
const RULE_KEYS: &[&str] = &["if", "options", "default"];
/// Most `options` one rule may list (GitLab's `Input::ALLOWED_OPTIONS_LIMIT`).
const MAX_OPTIONS: usize = 50;

/// One well-formed rule.
#[derive(Debug)]
pub struct Rule<'a> {
    /// The `if` text and where it is; `None` for the fallback rule.
    pub condition: Option<(&'a str, Span)>,
    /// The rule's `options`.
    pub options: Option<&'a [Node]>,
    /// The rule's `default` (a `null` default is present, as `default:` with nothing after it).
    pub default: Option<&'a Node>,
}

/// Checks `rules` of input `name` as the server does and returns the rules it can use; a
/// malformed rule is reported and left out.
pub fn parse<'a>(name: &str, rules: &'a Node, diags: &mut Diagnostics) -> Vec<Rule<'a>> {
    let Some(items) = rules.as_seq() else {
        diags.error(
            Code::InvalidInput,
            rules.span,
            format!(
                "`rules` of input `{name}` must be a list, not {}",
                rules.kind_name()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, rule) in items.iter().enumerate() {
        let place = format!("rule {} of input `{name}`", index + 1);
        let Some(map) = rule.as_map() else {
            diags.error(
                Code::InvalidInput,
                rule.span,
                format!("{place} must be a mapping, not {}", rule.kind_name()),
            );
            continue;
        };
        let before = diags.len();
        for d in super::unknown_keys(map, RULE_KEYS, &place) {
            diags.push(d);
        }
        let condition = match map.get("if").map(|e| &e.value) {
            None
            | Some(Node {
                value: Value::Null, ..
            }) => None,
            Some(n) => match n.as_str() {
                Some(text) => Some((text, n.span)),
                None => {
                    diags.error(
                        Code::InvalidInput,
                        n.span,
                        format!("the `if` of {place} must be a string"),
                    );
                    continue;
                }
            },
        };
        let options = match map.get("options").map(|e| &e.value) {
            None
            | Some(Node {
                value: Value::Null, ..
            }) => None,
            Some(n) => match n.as_seq() {
                Some(list) if list.len() > MAX_OPTIONS => {
                    diags.error(
                        Code::InvalidInput,
                        n.span,
                        format!("{place} cannot define more than {MAX_OPTIONS} options"),
                    );
                    continue;
                }
                Some(list) => Some(list),
                None => {
                    diags.error(
                        Code::InvalidInput,
                        n.span,
                        format!("the `options` of {place} must be a list"),
                    );
                    continue;
                }
            },
        };
        let default = map.get("default").map(|e| &e.value);
        if condition.is_some() && options.is_none() && default.is_none() {
            diags.error(
                Code::InvalidInput,
                rule.span,
                format!("{place} has an `if` but neither `options` nor `default`"),
            );
            continue;
        }
        if condition.is_none() && options.is_none() {
            diags.push(
                Diagnostic::error(
                    Code::InvalidInput,
                    rule.span,
                    format!("{place} is a fallback rule (no `if`) and must define `options`"),
                )
                .with_help("GitLab requires `options` in the rule without `if`"),
            );
            continue;
        }
        if diags.len() > before {
            continue;
        }
        out.push(Rule {
            condition,
            options,
            default,
        });
    }
    out
}

/// The inputs `condition` reads, in order of appearance.
pub fn references(condition: &str) -> Vec<String> {
    let mut names = Vec::new();
    rewrite(condition, |name| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        String::new()
    });
    names
}

/// Whether `condition` holds when each input reads as `value_of` gives it (`None`: not set).
/// Input values enter the expression as values, never as text to be parsed: a boolean input is
/// `true`/`false`, a missing one `null`, anything else a string.
pub fn holds<'a>(
    condition: &str,
    value_of: impl Fn(&str) -> Option<&'a Node>,
) -> Result<bool, expr::SyntaxError> {
    let mut vars: HashMap<String, String> = HashMap::new();
    let text = rewrite(condition, |name| match value_of(name).map(|n| &n.value) {
        None | Some(Value::Null) => " null ".to_string(),
        Some(Value::Bool(b)) => format!(" {b} "),
        Some(_) => {
            let var = format!("GANTRY_INPUT_{}", vars.len());
            let text = value_of(name)
                .map(super::inputs::render)
                .unwrap_or_default();
            vars.insert(var.clone(), text);
            format!(" ${var} ")
        }
    });
    let parsed = expr::parse(&text)?;
    Ok(expr::evaluate(&parsed, &vars))
}

/// Replaces every input reference outside strings and patterns by what `each` gives for it.
fn rewrite(condition: &str, mut each: impl FnMut(&str) -> String) -> String {
    let bytes = condition.as_bytes();
    let mut out = String::with_capacity(condition.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if matches!(c, b'"' | b'\'' | b'/') {
            // Strings and `/patterns/` are copied as they are (a pattern's `\/` does not end it).
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != c {
                j += if c == b'/' && bytes[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(bytes.len());
            out.push_str(&condition[i..end]);
            i = end;
            continue;
        }
        let rest = &condition[i..];
        if let Some(body) = rest.strip_prefix("$[[")
            && let Some(len) = body.find("]]")
            && let Some(name) = body[..len].trim().strip_prefix("inputs.")
            && !name.is_empty()
            && name.bytes().all(name_byte)
        {
            out.push_str(&each(name));
            i += 3 + len + 2;
            continue;
        }
        if let Some(body) = rest.strip_prefix("inputs.")
            && (i == 0 || !(name_byte(bytes[i - 1]) || matches!(bytes[i - 1], b'$' | b'.')))
        {
            let len = body.bytes().take_while(|b| name_byte(*b)).count();
            if len > 0 {
                out.push_str(&each(&body[..len]));
                i += "inputs.".len() + len;
                continue;
            }
        }
        let Some(ch) = rest.chars().next() else { break };
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(value: Value) -> Node {
        Node::new(value, Span::default())
    }

    #[test]
    fn both_reference_forms_are_found_outside_strings() {
        assert_eq!(
            references(r#"$[[ inputs.mode ]] == "inputs.no" && inputs.env-name =~ /inputs.x/"#),
            vec!["mode".to_string(), "env-name".to_string()]
        );
        assert!(references("$INPUTS_X == 'inputs.y'").is_empty());
    }

    #[test]
    fn conditions_compare_typed_values() {
        let mode = node(Value::Str("b".into()));
        let off = node(Value::Bool(false));
        let values = |n: &str| match n {
            "mode" => Some(&mode),
            "auto" => Some(&off),
            _ => None,
        };
        assert_eq!(holds(r#"$[[ inputs.mode ]] == "b""#, values), Ok(true));
        assert_eq!(holds(r#"inputs.mode == "a""#, values), Ok(false));
        assert_eq!(holds("$[[ inputs.auto ]] != true", values), Ok(true));
        assert_eq!(holds("$[[ inputs.auto ]]", values), Ok(false));
        assert_eq!(holds("inputs.missing == null", values), Ok(true));
        assert!(holds("$[[ inputs.mode ]] ==", values).is_err());
    }

    #[test]
    fn malformed_rules_are_reported_and_left_out() {
        let text = "- {if: '$[[ inputs.a ]] == \"x\"'}\n- {default: x}\n- {if: 'true', default: y, when: z}\n- {if: 'true', default: ok}\n";
        let mut diags = Diagnostics::default();
        let mut sources = crate::source::SourceMap::default();
        let id = sources.add("t.yml".into(), "t.yml".into(), text.to_string());
        let file = sources.get(id).expect("registered");
        let docs = super::super::yaml::parse(file, id, Default::default(), &mut diags)
            .expect("valid YAML");
        let rules = parse("tag", &docs[0], &mut diags);
        let messages: Vec<String> = diags.into_vec().into_iter().map(|d| d.message).collect();
        assert_eq!(rules.len(), 1, "{messages:?}");
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("neither `options` nor `default`"));
        assert!(messages[1].contains("fallback rule"));
        assert!(messages[2].contains("unknown keyword `when`"));
    }
}
