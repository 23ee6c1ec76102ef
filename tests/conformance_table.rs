//! docs/conformance.md must have a row for every keyword in the model's keyword table, with a
//! status from the documented set, so the page cannot fall behind the code.

use gantry::model::keywords;
use std::path::Path;

const STATUSES: &[&str] = &["checked", "planned", "run", "ignored", "unsupported"];

/// (first cell's backticked name, status cell) of every table row.
fn rows() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conformance.md"))
            .unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `") || l.starts_with("| variables") || l.starts_with("| YAML"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.trim_matches('`').to_string();
            Some((name, cells.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn every_keyword_of_the_model_has_a_row() {
    let names: Vec<String> = rows().into_iter().map(|(n, _)| n).collect();
    let mut wanted: Vec<String> = keywords::job_keyword_names().map(String::from).collect();
    wanted.extend(keywords::TOP_LEVEL.iter().map(|k| k.to_string()));
    wanted.extend(keywords::WORKFLOW.iter().map(|k| format!("workflow:{k}")));
    let missing: Vec<&String> = wanted.iter().filter(|w| !names.contains(w)).collect();
    assert!(
        missing.is_empty(),
        "docs/conformance.md has no row for {missing:?}"
    );
}

#[test]
fn every_row_has_known_statuses() {
    let rows = rows();
    assert!(rows.len() > 50, "only {} rows", rows.len());
    for (name, status) in rows {
        let words: Vec<&str> = status.split(',').map(str::trim).collect();
        assert!(
            !words.is_empty() && words.iter().all(|w| STATUSES.contains(w)),
            "`{name}`: status `{status}` is not from {STATUSES:?}"
        );
    }
}
