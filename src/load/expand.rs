//! `$VAR` and `${VAR}` in include locations. GitLab expands predefined, project, group,
//! pipeline (here: `--var`) and trigger variables there, never variables defined in the YAML;
//! an unknown variable expands to nothing, as in GitLab's `ExpandVariables`.

use std::collections::HashMap;

/// Whether `text` mentions a variable.
pub fn mentions_variable(text: &str) -> bool {
    text.contains('$')
}

/// `text` with every `$NAME`/`${NAME}` replaced by its value (unknown: empty); `$$` is a `$`.
pub fn expand(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => ("", after),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        if let Some(v) = vars.get(name) {
            out.push_str(v);
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_and_drops_unknown() {
        let vars: HashMap<String, String> = [("A", "x"), ("CI_COMMIT_REF_SLUG", "main")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(expand("ci/$CI_COMMIT_REF_SLUG.yml", &vars), "ci/main.yml");
        assert_eq!(expand("${A}/$A-$NOPE.yml", &vars), "x/x-.yml");
        assert_eq!(expand("$$A $", &vars), "$A $");
    }
}
