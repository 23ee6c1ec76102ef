//! The `gantry` binary end to end: exit codes, output formats, flags.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gantry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run gantry")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn valid_pipeline_exits_zero() {
    let file = root().join("pipelines/quickstart.gitlab-ci.yml");
    let out = gantry(&["lint", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("is valid: 4 jobs"));
}

#[test]
fn invalid_pipeline_exits_one_and_missing_file_two() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yml", "job:\n  stage: test\n");
    assert_eq!(gantry(&["lint", "-f", &bad]).status.code(), Some(1));
    let missing = dir.path().join("nope.yml");
    let out = gantry(&["lint", "-f", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    assert_eq!(gantry(&["lint", "--format", "xml"]).status.code(), Some(2));
}

#[test]
fn default_file_is_gitlab_ci_yml_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".gitlab-ci.yml", "job:\n  script: echo hi\n");
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("lint")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn five_independent_mistakes_give_five_diagnostics_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "five.yml",
        "stages: [build, test]\n\
         variables:\n  DEBUG: [a]\n\
         build:\n  stage: biuld\n  script: make\n\
         test:\n  script: make test\n  needs: [nope]\n  when: sometimes\n\
         lint:\n  script: make lint\n  retry: 5\n",
    );
    let out = gantry(&["lint", "-f", &file, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "warn.yml", "job:\n  script: a\n  script: b\n");
    let relaxed = gantry(&["lint", "-f", &file]);
    assert_eq!(relaxed.status.code(), Some(0), "{}", stdout(&relaxed));
    assert!(stdout(&relaxed).contains("1 warning"));
    assert_eq!(
        gantry(&["lint", "-f", &file, "--strict"]).status.code(),
        Some(1)
    );
    let json = gantry(&["lint", "-f", &file, "--strict", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["diagnostics"][0]["severity"], "warning");
}

#[test]
fn no_color_output_has_no_escape_codes() {
    let file = root().join("tests/fixtures/invalid/unknown-stage.yml");
    let out = gantry(&["lint", "-f", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("unknown-stage.yml:3:10: error[unknown-stage]"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escapes with NO_COLOR: {text:?}"
    );
}

#[test]
fn template_dir_resolves_template_includes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    write(
        &dir.path().join("templates"),
        "Hello.gitlab-ci.yml",
        "hello:\n  script: echo hello\n",
    );
    let file = write(
        dir.path(),
        "main.yml",
        "include:\n  - template: Hello.gitlab-ci.yml\nmain:\n  needs: [hello]\n  script: echo\n",
    );
    let offline = gantry(&["lint", "-f", &file, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    let codes: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["include-offline", "unknown-need"]);
    let tdir = dir.path().join("templates");
    let resolved = gantry(&[
        "lint",
        "-f",
        &file,
        "--strict",
        "--template-dir",
        tdir.to_str().unwrap(),
    ]);
    assert_eq!(resolved.status.code(), Some(0), "{}", stdout(&resolved));
}

#[test]
fn committed_schema_is_current() {
    let out = gantry(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(root().join("schemas/gantry.schema.json")).unwrap();
    assert!(
        stdout(&out).trim_end() == committed.trim_end(),
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
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".gantry")).unwrap();
    write(
        dir.path(),
        ".gantry/config.toml",
        "[kubernetes]\ndefault_ttl = \"1h\"\n[executer]\nrules = []\n",
    );
    let file = write(dir.path(), ".gitlab-ci.yml", "job:\n  script: [echo hi]\n");
    for cmd in ["lint", "plan", "run"] {
        let out = gantry(&[cmd, "-f", &file]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("config.toml:3:2"), "{cmd}: {err}");
        assert!(err.contains("executer"), "{cmd}: {err}");
    }
}
