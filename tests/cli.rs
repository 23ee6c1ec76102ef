//! The `gantry` binary end to end: exit codes, output formats, flags.

use crate::support::checks::diagnostics;
use crate::support::{Test, gantry};
use std::path::Path;

/// The repository, where the tests below read its pipelines, fixtures and schema.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn valid_pipeline_exits_zero() {
    let (code, out, err) = gantry(
        root(),
        &["lint", "-f", "pipelines/quickstart.gitlab-ci.yml"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is valid: 4 jobs"), "{out}");
}

#[test]
fn invalid_pipeline_exits_one_and_missing_file_two() {
    Test::new()
        .no_git()
        .file("bad.yml", "job:\n  stage: test\n")
        .args(["lint", "-f", "bad.yml"])
        .run()
        .code(1)
        .again(&["lint", "-f", "nope.yml"])
        .code(2)
        .stderr_has("cannot read");
    assert_eq!(gantry(root(), &["lint", "--format", "xml"]).0, 2);
}

#[test]
fn default_file_is_gitlab_ci_yml_in_the_current_directory() {
    Test::new()
        .no_git()
        .pipeline("job:\n  script: echo hi\n")
        .args(["lint"])
        .run()
        .success();
}

#[test]
fn five_independent_mistakes_give_five_diagnostics_in_json() {
    let doc = Test::new()
        .no_git()
        .file(
            "five.yml",
            "stages: [build, test]\n\
             variables:\n  DEBUG: [a]\n\
             build:\n  stage: biuld\n  script: make\n\
             test:\n  script: make test\n  needs: [nope]\n  when: sometimes\n\
             lint:\n  script: make lint\n  retry: 5\n",
        )
        .args(["lint", "-f", "five.yml", "--format", "json"])
        .run()
        .code(1)
        .json();
    assert_eq!(doc["valid"], false);
    let diags = doc["diagnostics"].as_array().unwrap();
    let summary: Vec<(String, u64, u64)> = diags
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("invalid-type".into(), 3, 10),
            ("unknown-stage".into(), 5, 10),
            ("unknown-need".into(), 9, 11),
            ("invalid-value".into(), 10, 9),
            ("invalid-value".into(), 13, 10),
        ]
    );
    for d in diags {
        for key in [
            "severity", "code", "message", "file", "line", "column", "job",
        ] {
            assert!(d.get(key).is_some(), "missing {key} in {d}");
        }
        assert!(d["file"].as_str().unwrap().ends_with("five.yml"));
    }
    assert_eq!(diags[1]["job"], "build");
}

#[test]
fn warnings_fail_only_with_strict() {
    let doc = Test::new()
        .no_git()
        .file("warn.yml", "job:\n  script: a\n  script: b\n")
        .args(["lint", "-f", "warn.yml"])
        .run()
        .success()
        .stdout_has("1 warning")
        .again(&["lint", "-f", "warn.yml", "--strict"])
        .code(1)
        .again(&["lint", "-f", "warn.yml", "--strict", "--format", "json"])
        .json();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["diagnostics"][0]["severity"], "warning");
}

#[test]
fn no_color_output_has_no_escape_codes() {
    let fixture =
        std::fs::read_to_string(root().join("tests/fixtures/invalid/unknown-stage.yml")).unwrap();
    Test::new()
        .no_git()
        .file("unknown-stage.yml", &fixture)
        .args(["lint", "-f", "unknown-stage.yml"])
        .run()
        .code(1)
        .stdout_has("unknown-stage.yml:3:10: error[unknown-stage]")
        // Every test's gantry runs with NO_COLOR: not one ANSI escape.
        .stdout_lacks("\u{1b}");
}

#[test]
fn template_dir_resolves_template_includes() {
    let offline = Test::new()
        .no_git()
        .file("templates/Hello.gitlab-ci.yml", "hello:\n  script: echo hello\n")
        .file(
            "main.yml",
            "include:\n  - template: Hello.gitlab-ci.yml\nmain:\n  needs: [hello]\n  script: echo\n",
        )
        .args(["lint", "-f", "main.yml", "--format", "json"])
        .run();
    let doc = offline.json();
    assert_eq!(
        diagnostics(&doc, "code"),
        ["include-offline", "unknown-need"]
    );
    offline
        .again(&[
            "lint",
            "-f",
            "main.yml",
            "--strict",
            "--template-dir",
            "templates",
        ])
        .success();
}

#[test]
fn committed_schema_is_current() {
    let (code, out, err) = gantry(root(), &["schema"]);
    assert_eq!(code, 0, "{err}");
    let committed = std::fs::read_to_string(root().join("schemas/gantry.schema.json")).unwrap();
    assert!(
        out.trim_end() == committed.trim_end(),
        "schemas/gantry.schema.json is stale: run `cargo run -- schema > schemas/gantry.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let props = schema["definitions"]["job"]["properties"]
        .as_object()
        .unwrap();
    let names: Vec<&str> = gantry::model::keywords::JOB
        .iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(
        props.keys().map(String::as_str).collect::<Vec<_>>().len(),
        names.len()
    );
    for n in names {
        assert!(props.contains_key(n), "schema lacks job keyword {n}");
    }
}

#[test]
fn a_misspelt_config_table_fails_lint_plan_and_run_alike_with_its_location() {
    let mut run = Test::new()
        .no_git()
        .file(
            ".gantry/config.toml",
            "[kubernetes]\ndefault_ttl = \"1h\"\n[executer]\nrules = []\n",
        )
        .pipeline("job:\n  script: [echo hi]\n")
        .prepare();
    for cmd in ["lint", "plan", "run"] {
        run = run
            .again(&[cmd, "-f", ".gitlab-ci.yml"])
            .code(2)
            .stderr_has("config.toml:3:2")
            .stderr_has("executer");
    }
}
