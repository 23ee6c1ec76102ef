//! Findings of the fault and hostile-input review (issue 21), each through the CLI: long lines
//! that crashed the renderer, a plan error without a place, files read through symlinks out of
//! the checkout, jobs outliving a killed gantry, namespaces left by a killed run.

mod common;

use common::{gantry, git};
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// A git repository holding `files`, committed.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q"]);
    for (name, text) in files {
        write(tmp.path(), name, text);
    }
    git(tmp.path(), &["add", "-A"]);
    git(tmp.path(), &["commit", "-q", "-m", "pipeline"]);
    tmp
}

fn assert_no_panic(what: &str, (code, out, err): &(i32, String, String)) {
    assert!(
        *code != 101 && !err.contains("panicked"),
        "{what} panicked (exit {code}):\n{err}\n{out}"
    );
}

// Finding 5: a diagnostic past column 65,535 crashed miette's renderer in lint, plan and run.
#[test]
fn a_diagnostic_on_a_very_long_line_is_rendered_shortened_not_a_panic() {
    let long = format!(
        "job: {{script: \"echo {}\", stage: nope}}\n",
        "a".repeat(65_600)
    );
    let dir = project(&[(".gitlab-ci.yml", &long)]);
    for cmd in ["lint", "plan", "run"] {
        let out = gantry(dir.path(), &[cmd]);
        assert_no_panic(cmd, &out);
        assert_eq!(out.0, 1, "{cmd}: {}{}", out.1, out.2);
        let text = format!("{}{}", out.1, out.2);
        assert!(
            text.contains(".gitlab-ci.yml:1:65631: error[unknown-stage]"),
            "{cmd}: {}",
            &text[..text.len().min(2000)]
        );
        assert!(text.contains("nope"), "{cmd}: the snippet shows the span");
        assert!(text.contains('…'), "{cmd}: the line is shown shortened");
        assert!(text.len() < 5_000, "{cmd}: {} bytes of output", text.len());
    }
}

// Finding 6: a need whose job rules leave out had no file:line in plan; lint said nothing.
#[test]
fn a_need_left_without_its_job_is_located_in_plan_and_warned_by_lint() {
    let ci = "build:\n  script: [make]\n  rules:\n    - if: '$NEVER == \"1\"'\ntest:\n  script: [make test]\n  needs: [build]\n";
    let dir = project(&[(".gitlab-ci.yml", ci)]);
    let (code, out, err) = gantry(dir.path(), &["plan"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}")
            .contains(".gitlab-ci.yml:7:11: `test` needs `build`, which is not in this pipeline"),
        "{out}{err}"
    );
    let (code, out, err) = gantry(dir.path(), &["run"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(".gitlab-ci.yml:7:11:"), "{err}");
    let (code, out, _) = gantry(dir.path(), &["lint"]);
    assert_eq!(code, 0, "a warning, not an error: {out}");
    assert!(
        out.contains(".gitlab-ci.yml:7:11: warning[need-may-be-missing]"),
        "{out}"
    );
    // The same rules on both jobs, or `optional: true`, leave nothing to warn about.
    for ci in [
        "build:\n  script: [make]\n  rules:\n    - if: '$NEVER == \"1\"'\ntest:\n  script: [make test]\n  needs: [build]\n  rules:\n    - if: '$NEVER == \"1\"'\n",
        "build:\n  script: [make]\n  rules:\n    - if: '$NEVER == \"1\"'\ntest:\n  script: [make test]\n  needs: [{job: build, optional: true}]\n",
        "build:\n  script: [make]\n  rules:\n    - when: on_success\ntest:\n  script: [make test]\n  needs: [build]\n",
    ] {
        let dir = project(&[(".gitlab-ci.yml", ci)]);
        let (code, out, _) = gantry(dir.path(), &["lint"]);
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains("need-may-be-missing"), "{ci}\n{out}");
    }
}

