//! Every file under tests/fixtures/invalid has exactly one mistake, marked in the file itself:
//! a comment line `#    ^ code` puts a caret under the column of the line above, or a line
//! `# expect: code at LINE:COL` gives the place directly. Valid fixtures and the bundled
//! pipelines must lint without errors.

use gantry::diagnostic::{Code, Severity};
use gantry::lint::lint_file;
use gantry::load::LoadOptions;
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq)]
struct Expected {
    code: String,
    line: u32,
    col: u32,
}

fn expectations(text: &str) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut last_content_line = 0;
    for (i, line) in text.lines().enumerate() {
        let number = i as u32 + 1;
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("# expect: ") {
            let (code, place) = rest.split_once(" at ").expect("`# expect: code at L:C`");
            let (l, c) = place.trim().split_once(':').expect("L:C");
            out.push(Expected {
                code: code.trim().to_string(),
                line: l.parse().unwrap(),
                col: c.parse().unwrap(),
            });
            continue;
        }
        if trimmed.starts_with('#') && trimmed[1..].trim_start().starts_with('^') {
            let col = line.find('^').unwrap() as u32 + 1;
            let code = line[col as usize..].trim().to_string();
            out.push(Expected {
                code,
                line: last_content_line,
                col,
            });
            continue;
        }
        last_content_line = number;
    }
    out
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn each_invalid_fixture_reports_its_one_mistake_at_the_marked_place() {
    let files = yaml_files(&root().join("tests/fixtures/invalid"));
    assert!(files.len() >= 60, "only {} invalid fixtures", files.len());
    let mut failures = Vec::new();
    let mut codes_seen = std::collections::HashSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expected = expectations(&text);
        assert_eq!(
            expected.len(),
            1,
            "{}: mark exactly one expectation",
            file.display()
        );
        let report = lint_file(file, &LoadOptions::default()).unwrap();
        let got: Vec<Expected> = report
            .diagnostics
            .iter()
            .map(|d| Expected {
                code: d.code.as_str().to_string(),
                line: d.span.map_or(0, |s| s.line),
                col: d.span.map_or(0, |s| s.col),
            })
            .collect();
        if got != expected {
            failures.push(format!(
                "{}:\n  expected {:?}\n  got      {:?}",
                file.file_name().unwrap().to_string_lossy(),
                expected,
                got
            ));
        }
        codes_seen.insert(expected[0].code.clone());
    }
    assert!(
        failures.is_empty(),
        "{} fixtures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let untested: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !codes_seen.contains(*c))
        .collect();
    assert!(
        untested.is_empty(),
        "no invalid fixture exercises: {untested:?}"
    );
}

#[test]
fn valid_fixtures_and_bundled_pipelines_have_no_errors() {
    let mut files = yaml_files(&root().join("tests/fixtures/valid"));
    files.extend(yaml_files(&root().join("pipelines")));
    assert!(files.len() >= 10, "only {} valid pipelines", files.len());
    for file in files {
        let report = lint_file(&file, &LoadOptions::default()).unwrap();
        let unexpected: Vec<String> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error || d.code != Code::IncludeOffline)
            .map(|d| format!("{:?} {} at {:?}", d.code, d.message, d.span))
            .collect();
        assert!(unexpected.is_empty(), "{}: {unexpected:#?}", file.display());
        let pipeline = report.pipeline.expect("decoded");
        assert!(!pipeline.jobs.is_empty(), "{}: no jobs", file.display());
    }
}

#[test]
fn caret_expectations_are_read_as_intended() {
    let text = "a:\n  b: c\n#    ^ some-code\n";
    assert_eq!(
        expectations(text),
        vec![Expected {
            code: "some-code".into(),
            line: 2,
            col: 6
        }]
    );
}
