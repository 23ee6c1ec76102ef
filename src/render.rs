//! `render`: text templates (Kubernetes manifests above all) rendered with minijinja, so job
//! scripts stop patching YAML with `sed`. Variables are the context, an unknown name is an
//! error naming the template line, and the filters are the ones manifests need.
//! May not touch: the pipeline model, plans or execution.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use std::collections::BTreeMap;

/// Why a template could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The template used a name the context does not hold.
    #[error("{file}:{line}: undefined variable{} {}", if names.len() == 1 { "" } else { "s" }, names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))]
    Undefined {
        /// Template name (its path).
        file: String,
        /// 1-based line of the use.
        line: usize,
        /// The names missing on that line (best effort; never empty).
        names: Vec<String>,
    },
    /// Any other template error (syntax, a filter's argument, …).
    #[error("{file}:{line}: {message}")]
    Template {
        /// Template name (its path).
        file: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// What went wrong.
        message: String,
    },
}

/// Renders `source` (named `file` in messages) with `vars` as its context.
pub fn render(
    file: &str,
    source: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, RenderError> {
    let mut env = environment();
    env.add_template(file, source)
        .map_err(|e| template_error(file, &e))?;
    let template = env
        .get_template(file)
        .map_err(|e| template_error(file, &e))?;
    let context: BTreeMap<String, Value> = vars
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    template.render(Value::from_object(context)).map_err(|e| {
        if e.kind() == ErrorKind::UndefinedError {
            let line = e.line().unwrap_or(0);
            let text = source.lines().nth(line.saturating_sub(1)).unwrap_or("");
            let mut names: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|n| !vars.contains_key(n) && mentions(text, n))
                .collect();
            names.sort();
            if names.is_empty() {
                names.push(e.detail().unwrap_or("(unknown)").to_string());
            }
            RenderError::Undefined {
                file: file.to_string(),
                line,
                names,
            }
        } else {
            template_error(file, &e)
        }
    })
}

/// Whether `name` occurs in `text` as a whole identifier.
fn mentions(text: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

fn template_error(file: &str, e: &Error) -> RenderError {
    RenderError::Template {
        file: file.to_string(),
        line: e.line().unwrap_or(0),
        message: match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        },
    }
}

/// The environment: strict undefined, no HTML escaping, gantry's filters.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Ansible's choices: a block tag's own newline goes, the file's last newline stays.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.add_filter("slug", |s: String| crate::plan::slug::slug(&s));
    env.add_filter("b64encode", |s: String| STANDARD.encode(s.as_bytes()));
    env.add_filter("b64decode", |s: String| -> Result<String, Error> {
        let bytes = STANDARD
            .decode(s.trim().as_bytes())
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("b64decode: {e}")))?;
        String::from_utf8(bytes).map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                "b64decode: the decoded bytes are not UTF-8 text",
            )
        })
    });
    env.add_filter("quote", |v: Value| quote(&v.to_string()));
    env.add_filter("toyaml", |v: Value| -> Result<String, Error> {
        Ok(to_yaml(&tree(&v)?))
    });
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Helm's `quote`: a double-quoted string (JSON escaping, which YAML reads back unchanged).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A value in the shape YAML needs, keys in their original order.
#[derive(Debug, PartialEq)]
pub enum Tree {
    /// A mapping.
    Map(Vec<(String, Tree)>),
    /// A sequence.
    Seq(Vec<Tree>),
    /// A string, number, boolean or null.
    Scalar(serde_json::Value),
}

fn tree(v: &Value) -> Result<Tree, Error> {
    use minijinja::value::ValueKind;
    let bad = |what: &str| Error::new(ErrorKind::InvalidOperation, format!("toyaml: {what}"));
    Ok(match v.kind() {
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in v.try_iter()? {
                let item = v.get_item(&key)?;
                entries.push((key.to_string(), tree(&item)?));
            }
            Tree::Map(entries)
        }
        ValueKind::Seq | ValueKind::Iterable => {
            Tree::Seq(v.try_iter()?.map(|i| tree(&i)).collect::<Result<_, _>>()?)
        }
        ValueKind::String => Tree::Scalar(serde_json::Value::String(v.to_string())),
        ValueKind::Bool => Tree::Scalar(serde_json::Value::Bool(v.is_true())),
        ValueKind::None | ValueKind::Undefined => Tree::Scalar(serde_json::Value::Null),
        ValueKind::Number => {
            let n: serde_json::Value = if let Some(i) = v.as_i64() {
                i.into()
            } else {
                f64::try_from(v.clone())
                    .map_err(|_| bad("unsupported number"))?
                    .into()
            };
            Tree::Scalar(n)
        }
        other => return Err(bad(&format!("cannot write a {other} as YAML"))),
    })
}

/// Block-style YAML, without a document marker or trailing newline.
pub fn to_yaml(v: &Tree) -> String {
    let mut out = String::new();
    write_yaml(v, 0, &mut out);
    out.trim_end_matches('\n').to_string()
}

fn write_yaml(v: &Tree, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Tree::Map(m) if !m.is_empty() => {
            for (k, val) in m {
                out.push_str(&format!(
                    "{pad}{}:",
                    scalar(&serde_json::Value::String(k.clone()))
                ));
                write_child(val, indent, out);
            }
        }
        Tree::Seq(a) if !a.is_empty() => {
            for val in a {
                out.push_str(&format!("{pad}-"));
                match val {
                    Tree::Map(m) if !m.is_empty() => {
                        // First key on the dash's line, the rest aligned under it.
                        let mut nested = String::new();
                        write_yaml(val, indent + 2, &mut nested);
                        out.push(' ');
                        out.push_str(nested.trim_start());
                    }
                    _ => write_child(val, indent, out),
                }
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&leaf(v));
            out.push('\n');
        }
    }
}

fn write_child(v: &Tree, indent: usize, out: &mut String) {
    match v {
        Tree::Map(m) if !m.is_empty() => {
            out.push('\n');
            write_yaml(v, indent + 2, out);
        }
        Tree::Seq(a) if !a.is_empty() => {
            out.push('\n');
            write_yaml(v, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&leaf(v));
            out.push('\n');
        }
    }
}

fn leaf(v: &Tree) -> String {
    match v {
        Tree::Map(_) => "{}".into(),
        Tree::Seq(_) => "[]".into(),
        Tree::Scalar(s) => scalar(s),
    }
}

/// A scalar; strings are quoted whenever YAML could read them as something else.
fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./@".contains(c))
                && !s.starts_with(['-', '.', '@'])
                && s.parse::<f64>().is_err()
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n" | "~"
                );
            if plain { s.clone() } else { quote(s) }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn r(src: &str, pairs: &[(&str, &str)]) -> Result<String, RenderError> {
        render("t.yaml", src, &vars(pairs))
    }

    #[test]
    fn substitutes_variables_and_keeps_the_trailing_newline() {
        assert_eq!(
            r("tag: {{ TAG }}\n", &[("TAG", "v1")]).unwrap(),
            "tag: v1\n"
        );
    }

    #[test]
    fn undefined_names_the_file_line_and_variable() {
        let e = r("a: 1\nb: {{ A }}\nc: {{ MISSING }}\n", &[("A", "x")]).unwrap_err();
        assert_eq!(
            e,
            RenderError::Undefined {
                file: "t.yaml".into(),
                line: 3,
                names: vec!["MISSING".into()]
            }
        );
        assert_eq!(e.to_string(), "t.yaml:3: undefined variable `MISSING`");
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let e = r("ok\n{% if %}\n", &[]).unwrap_err();
        assert!(matches!(e, RenderError::Template { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn slug_follows_gitlab() {
        assert_eq!(
            r("{{ B | slug }}", &[("B", "Feature/Add--Thing")]).unwrap(),
            "feature-add--thing"
        );
    }

    #[test]
    fn base64_round_trips_and_rejects_garbage() {
        assert_eq!(r("{{ 'hello' | b64encode }}", &[]).unwrap(), "aGVsbG8=");
        assert_eq!(r("{{ 'aGVsbG8=' | b64decode }}", &[]).unwrap(), "hello");
        assert!(r("{{ '***' | b64decode }}", &[]).is_err());
    }

    #[test]
    fn quote_escapes_for_yaml() {
        assert_eq!(
            r(r#"{{ V | quote }}"#, &[("V", r#"say "hi"\now"#)]).unwrap(),
            r#""say \"hi\"\\now""#
        );
    }

    #[test]
    fn default_allows_a_missing_name() {
        assert_eq!(r("{{ NOPE | default('x') }}", &[]).unwrap(), "x");
        assert_eq!(r("{{ V | default('x') }}", &[("V", "set")]).unwrap(), "set");
    }

    #[test]
    fn tojson_and_toyaml() {
        assert_eq!(
            r("{{ V | tojson }}", &[("V", "a\"b")]).unwrap(),
            r#""a\"b""#
        );
        let yaml = r(
            "{{ {'name': 'web', 'ports': [80, 443], 'env': [{'name': 'A', 'value': 'true'}]} | toyaml }}",
            &[],
        )
        .unwrap();
        assert_eq!(
            yaml,
            "name: web\nports:\n  - 80\n  - 443\nenv:\n  - name: A\n    value: \"true\""
        );
    }

    #[test]
    fn indent_shifts_following_lines() {
        assert_eq!(
            r("k:\n  {{ V | indent(2) }}\n", &[("V", "a: 1\nb: 2")]).unwrap(),
            "k:\n  a: 1\n  b: 2\n"
        );
    }

    #[test]
    fn multi_document_manifest() {
        let src = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ APP | slug }}
  namespace: {{ KUBE_NAMESPACE }}
spec:
  template:
    spec:
      containers:
        - image: {{ (IMAGE ~ ':' ~ TAG) | quote }}
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
data:
  password: {{ PASSWORD | b64encode }}
";
        let out = r(
            src,
            &[
                ("APP", "My_App"),
                ("KUBE_NAMESPACE", "ns-1"),
                ("IMAGE", "reg/app"),
                ("TAG", "main-abc"),
                ("PASSWORD", "s3cret"),
            ],
        )
        .unwrap();
        let docs: Vec<&str> = out.split("\n---\n").collect();
        assert_eq!(docs.len(), 2);
        assert!(docs[0].contains("name: my-app\n  namespace: ns-1\n"));
        assert!(docs[0].contains("- image: \"reg/app:main-abc\""), "{out}");
        assert!(docs[1].contains("password: czNjcmV0\n"));
    }
}
