//! `parallel: N` and `parallel:matrix` → concrete job instances with GitLab's names
//! (`job 2/3`, `job: [aws, eu]`) and their variables.

use crate::model::Job;
use crate::model::job::{MatrixEntry, Parallel};

/// One concrete copy of a job.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Concrete name.
    pub name: String,
    /// Matrix variables of this copy, in declaration order.
    pub vars: Vec<(String, String)>,
    /// `(CI_NODE_INDEX, CI_NODE_TOTAL)` for parallel jobs.
    pub node: Option<(usize, usize)>,
}

/// How many instances `job` expands to, without building them.
pub fn count(job: &Job) -> usize {
    match &job.parallel {
        None => 1,
        Some(Parallel::Count(n)) => *n as usize,
        Some(Parallel::Matrix(entries)) => entries
            .iter()
            .map(|e| e.values().map(Vec::len).product::<usize>())
            .sum(),
    }
}

/// The instances `job` expands to (itself alone when it is not parallel).
pub fn instances(job: &Job) -> Vec<Instance> {
    match &job.parallel {
        None => vec![Instance {
            name: job.name.clone(),
            vars: Vec::new(),
            node: None,
        }],
        Some(Parallel::Count(n)) => {
            let n = *n as usize;
            (1..=n)
                .map(|i| Instance {
                    name: format!("{} {i}/{n}", job.name),
                    vars: Vec::new(),
                    node: Some((i, n)),
                })
                .collect()
        }
        Some(Parallel::Matrix(entries)) => {
            let combos: Vec<Vec<(String, String)>> =
                entries.iter().flat_map(combinations).collect();
            let total = combos.len();
            combos
                .into_iter()
                .enumerate()
                .map(|(i, vars)| {
                    let values: Vec<&str> = vars.iter().map(|(_, v)| v.as_str()).collect();
                    Instance {
                        name: format!("{}: [{}]", job.name, values.join(", ")),
                        vars,
                        node: Some((i + 1, total)),
                    }
                })
                .collect()
        }
    }
}

/// Replaces every `$[[ matrix.NAME ]]` in a `needs:parallel:matrix` value with the needing
/// job's own matrix value of NAME (GitLab's matrix expressions, plain string replacement, so
/// also inside longer strings); an unknown NAME is left as written.
pub fn own_value(value: &str, own: &crate::plan::variables::Layer) -> String {
    if !value.contains("$[[") {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("$[[") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("]]") else {
            break;
        };
        let whole = &rest[start..start + len + 2];
        let name = whole[3..whole.len() - 2]
            .trim()
            .strip_prefix("matrix.")
            .map(str::trim);
        match name.and_then(|n| own.get(n)) {
            Some(var) => out.push_str(&var.value),
            None => out.push_str(whole),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The cartesian product of one matrix entry, first variable varying slowest (Ruby's `product`).
pub fn combinations(entry: &MatrixEntry) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (name, values) in entry {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((name.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_order_matches_ruby() {
        let mut e = MatrixEntry::new();
        e.insert("A".into(), vec!["a1".into(), "a2".into()]);
        e.insert("B".into(), vec!["b1".into(), "b2".into()]);
        let names: Vec<String> = combinations(&e)
            .iter()
            .map(|c| {
                c.iter()
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(names, ["a1,b1", "a1,b2", "a2,b1", "a2,b2"]);
    }
}
