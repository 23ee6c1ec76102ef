//! Variables from outside the pipeline file: the project variables file (GitLab's project
//! settings, with masked and file-type variables) and the command line (pipeline variables).

use super::error::VarError;
use super::variables::{Layer, Origin, Var};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::load::node::{Node, Value};
use crate::load::{Limits, yaml};
use crate::source::SourceMap;
use std::path::Path;

/// GitLab refuses to mask values shorter than this; masking short strings would also hide
/// common substrings all over the log.
pub const MIN_MASKED_LEN: usize = 8;

const KEYS: &[&str] = &[
    "value",
    "masked",
    "file",
    "expand",
    "description",
    "protected",
];

/// Reads a project variables file: `NAME: value` or `NAME: {value, masked, file, expand,
/// protected}`,
/// optionally under a top-level `variables:` key. A missing file is an empty layer.
pub fn project_file(path: &Path, sources: &mut SourceMap, diags: &mut Diagnostics) -> Layer {
    let mut layer = Layer::default();
    let Ok(text) = std::fs::read_to_string(path) else {
        return layer;
    };
    let id = sources.add(path.to_path_buf(), path.display().to_string(), text);
    let Some(file) = sources.get(id) else {
        return layer;
    };
    let Some(docs) = yaml::parse(file, id, Limits::default(), diags) else {
        return layer;
    };
    let Some(root) = docs.first() else {
        return layer;
    };
    let map = match root.as_map() {
        Some(m) if m.len() == 1 && m.contains_key("variables") => m["variables"].value.as_map(),
        other => other,
    };
    let Some(map) = map else {
        diags.error(
            Code::InvalidType,
            root.span,
            "the variables file must be a mapping of NAME: value",
        );
        return layer;
    };
    for (name, entry) in map {
        if !crate::model::variables::valid_name(name) {
            diags.error(
                Code::InvalidValue,
                entry.key_span,
                format!("`{name}` is not a valid variable name"),
            );
            continue;
        }
        if let Some(var) = project_var(name, &entry.value, diags) {
            layer.insert(name.clone(), var);
        }
    }
    layer
}

fn project_var(name: &str, node: &Node, diags: &mut Diagnostics) -> Option<Var> {
    let Value::Map(m) = &node.value else {
        return match node.scalar_string() {
            Some(v) if !matches!(node.value, Value::Seq(_) | Value::Map(_)) => {
                Some(Var::plain(v, Origin::Project))
            }
            _ => {
                diags.error(
                    Code::InvalidType,
                    node.span,
                    format!("variable `{name}` must be a string or a mapping"),
                );
                None
            }
        };
    };
    for d in crate::load::unknown_keys(m, KEYS, &format!("variable `{name}`")) {
        diags.push(d);
    }
    let flag = |key: &str, diags: &mut Diagnostics| match m.get(key).map(|e| &e.value.value) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            diags.error(
                Code::InvalidType,
                m[key].value.span,
                format!("`{key}` must be true or false"),
            );
            false
        }
    };
    let value = m
        .get("value")
        .and_then(|e| e.value.scalar_string())
        .unwrap_or_default();
    let masked = flag("masked", diags);
    if masked && value.len() < MIN_MASKED_LEN {
        diags.push(
            Diagnostic::error(
                Code::InvalidValue,
                m.get("value").map_or(node.span, |e| e.value.span),
                format!("masked variable `{name}` must be at least {MIN_MASKED_LEN} characters"),
            )
            .with_help("short values would be masked everywhere they happen to appear"),
        );
    }
    Some(Var {
        value,
        masked,
        file: flag("file", diags),
        protected: flag("protected", diags),
        expand: if m.contains_key("expand") {
            flag("expand", diags)
        } else {
            true
        },
        origin: Origin::Project,
    })
}

/// `--var KEY=VALUE` arguments and `GANTRY_VAR_KEY` environment variables (the former win).
pub fn command_line(
    args: &[String],
    env: impl Iterator<Item = (String, String)>,
) -> Result<Layer, VarError> {
    let mut layer = Layer::default();
    let mut from_env: Vec<(String, String)> = env
        .filter_map(|(k, v)| k.strip_prefix("GANTRY_VAR_").map(|n| (n.to_string(), v)))
        .collect();
    from_env.sort();
    for (name, value) in from_env {
        layer.insert(name, Var::plain(value, Origin::Cli));
    }
    for arg in args {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(VarError::NoEquals { arg: arg.clone() });
        };
        if !crate::model::variables::valid_name(name) {
            return Err(VarError::BadName {
                arg: arg.clone(),
                name: name.to_string(),
            });
        }
        layer.insert(name.to_string(), Var::plain(value, Origin::Cli));
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_variables_beat_environment_ones() {
        let env = vec![
            ("GANTRY_VAR_A".to_string(), "env".to_string()),
            ("PATH".into(), "/bin".into()),
        ];
        let layer = command_line(&["A=cli".into(), "B=x=y".into()], env.into_iter()).unwrap();
        assert_eq!(layer["A"].value, "cli");
        assert_eq!(layer["B"].value, "x=y");
        assert!(!layer.contains_key("PATH"));
        assert!(matches!(
            command_line(&["NOEQUALS".into()], std::iter::empty()),
            Err(VarError::NoEquals { .. })
        ));
        assert!(matches!(
            command_line(&["BAD-NAME=1".into()], std::iter::empty()),
            Err(VarError::BadName { name, .. }) if name == "BAD-NAME"
        ));
    }

    #[test]
    fn project_file_reads_masked_and_file_variables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("variables.yml");
        std::fs::write(&path, "variables:\n  TOKEN: {value: s3cr3t-t0ken, masked: true, protected: true}\n  CA: {value: 'PEM', file: true}\n  PORT: 8080\n  SHORT: {value: abc, masked: true}\n").unwrap();
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let layer = project_file(&path, &mut sources, &mut diags);
        assert!(layer["TOKEN"].masked && !layer["TOKEN"].file && layer["TOKEN"].protected);
        assert!(layer["CA"].file && !layer["CA"].protected);
        assert_eq!(layer["PORT"].value, "8080");
        let found = diags.into_vec();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("SHORT"));
        assert_eq!(found[0].span.unwrap().line, 5);
    }
}
