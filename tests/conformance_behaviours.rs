//! GitLab's config-time behaviours through the CLI — `lint`, `plan` and `run` — in throw-away
//! git repositories: variables in include locations, `$VARS` in `cache:policy` and the other
//! runner-expanded keywords, CI/CD components of this project and of `--component-dir`
//! checkouts, `needs` flattened from `!reference`, and matrix expressions inside longer strings.

mod common;

use common::{gantry, git, repo};
use serde_json::Value;
use std::path::Path;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn commit(dir: &Path) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "more"]);
}

fn lint_json(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["lint", "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = gantry(dir, &args);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, doc)
}

fn codes(doc: &Value) -> Vec<(String, String)> {
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["severity"].as_str().unwrap().to_string(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn plan_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = gantry(dir, &args);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).unwrap()
}

fn job_names(plan: &Value) -> Vec<String> {
    plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_string())
        .collect()
}

fn needs_of(plan: &Value, job: &str) -> Vec<String> {
    let j = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == job)
        .unwrap_or_else(|| panic!("no job {job} in {plan:#}"));
    let mut names: Vec<String> = j["needs"]
        .as_array()
        .unwrap_or_else(|| panic!("{job} has no needs: {j:#}"))
        .iter()
        .map(|n| n["job"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// (exit code, every log line per job as "job: line", stdout+stderr for messages).
fn run(dir: &Path, extra: &[&str]) -> (i32, Vec<String>, String) {
    let mut args = vec!["run", "--format", "json", "-j", "2", "--executor", "shell"];
    args.extend_from_slice(extra);
    let (code, out, err) = gantry(dir, &args);
    let lines = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "log")
        .map(|e| {
            format!(
                "{}: {}",
                e["job"].as_str().unwrap(),
                e["line"].as_str().unwrap()
            )
        })
        .collect();
    (code, lines, format!("{out}{err}"))
}

#[test]
fn include_locations_expand_predefined_project_and_command_line_variables() {
    let (_t, dir) = repo(
        "app",
        "include:\n  - local: 'ci/$CI_COMMIT_REF_SLUG.yml'\n  - local: ci/${FROM_PROJECT}.yml\n  - 'ci/$FROM_CLI.yml'\n",
        "c",
    );
    write(
        &dir,
        "ci/master.yml",
        "per-branch:\n  script: echo branch-file\n",
    );
    write(
        &dir,
        "ci/project.yml",
        "per-project:\n  script: echo project-file\n",
    );
    write(&dir, "ci/cli.yml", "per-cli:\n  script: echo cli-file\n");
    write(&dir, ".gantry/variables.yml", "FROM_PROJECT: project\n");
    commit(&dir);

    // lint cannot know the values: warnings, not errors (the only error is that no job is left).
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(
        code, 1,
        "no visible job is left, which is an error: {doc:#}"
    );
    let c = codes(&doc);
    assert_eq!(
        c.iter()
            .filter(|(s, k)| s == "warning" && k == "include-offline")
            .count(),
        3,
        "{doc:#}"
    );
    assert!(
        !c.iter().any(|(s, k)| s == "error" && k != "no-jobs"),
        "{doc:#}"
    );

    let plan = plan_json(&dir, &["--var", "FROM_CLI=cli"]);
    assert_eq!(job_names(&plan), ["per-branch", "per-project", "per-cli"]);

    let (code, lines, all) = run(&dir, &["--var", "FROM_CLI=cli"]);
    assert_eq!(code, 0, "{all}");
    for want in [
        "per-branch: branch-file",
        "per-project: project-file",
        "per-cli: cli-file",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want} missing: {lines:?}");
    }
}

#[test]
fn include_locations_never_see_variables_defined_in_the_yaml() {
    let (_t, dir) = repo(
        "app",
        "variables:\n  WHICH: real\ninclude: 'ci/$WHICH.yml'\nmain:\n  script: echo main\n",
        "c",
    );
    write(&dir, "ci/real.yml", "from-real:\n  script: echo real\n");
    commit(&dir);
    let (code, out, err) = gantry(&dir, &["plan"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("local file `ci/.yml` does not exist"),
        "{out}{err}"
    );
}

#[test]
fn cache_policy_and_artifact_paths_take_variables_set_by_rules() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "variables:\n  OUT: out\n",
            "produce:\n  stage: build\n",
            "  rules:\n    - if: $CI_COMMIT_BRANCH\n      variables:\n        POLICY: push\n",
            "  cache:\n    key: shared\n    paths: [$OUT/]\n    policy: $POLICY\n",
            "  artifacts:\n    paths: [$OUT/]\n",
            "  script: mkdir -p out && echo cached > out/file\n",
            "consume:\n  stage: test\n  variables:\n    POLICY: pull\n  dependencies: []\n",
            "  cache:\n    key: shared\n    paths: [out/]\n    policy: ${POLICY}\n",
            "  script: cat out/file\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(codes(&doc).is_empty(), "{doc:#}");
    plan_json(&dir, &[]);
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(lines.contains(&"consume: cached".to_string()), "{lines:?}");
    assert!(dir.join(".gantry/cache/shared/out/file").is_file());

    // A value that is not a policy fails the job when it runs, as GitLab Runner does.
    write(
        &dir,
        ".gitlab-ci.yml",
        "bad:\n  variables:\n    POLICY: sometimes\n  cache:\n    key: k\n    paths: [x]\n    policy: $POLICY\n  script: echo never\n",
    );
    commit(&dir);
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let (code, lines, all) = run(&dir, &[]);
    assert_ne!(code, 0, "{all}");
    assert!(
        all.contains("`sometimes`, not one of pull, push, pull-push"),
        "{all}"
    );
    assert!(!lines.iter().any(|l| l.contains("never")), "{lines:?}");
}

#[test]
fn components_of_this_project_resolve_from_templates_with_inputs() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "include:\n",
            "  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/greet@$CI_COMMIT_SHA\n",
            "    inputs:\n      who: world\n",
            "  - component: ${CI_SERVER_FQDN}/${CI_PROJECT_PATH}/pack@~latest\n",
        ),
        "c",
    );
    write(
        &dir,
        "templates/greet.yml",
        "spec:\n  inputs:\n    who:\n      description: Whom to greet.\n---\ngreet-$[[ inputs.who ]]:\n  script: echo hello $[[ inputs.who ]]\n",
    );
    write(
        &dir,
        "templates/pack/template.yml",
        "pack:\n  script: echo packed\n",
    );
    commit(&dir);

    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(codes(&doc).is_empty(), "{doc:#}");
    assert_eq!(job_names(&plan_json(&dir, &[])), ["greet-world", "pack"]);
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(
        lines.contains(&"greet-world: hello world".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"pack: packed".to_string()), "{lines:?}");

    // A missing component is an error that names both places it looked.
    write(
        &dir,
        ".gitlab-ci.yml",
        "include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/nope@1.0\nmain:\n  script: echo\n",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 1);
    let message = doc["diagnostics"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("templates/nope.yml") && message.contains("templates/nope/template.yml"),
        "{message}"
    );

    // A malformed reference is an error at its line.
    write(
        &dir,
        ".gitlab-ci.yml",
        "include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/greet\nmain:\n  script: echo\n",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 1);
    assert_eq!(doc["diagnostics"][0]["code"], "invalid-include");
    assert_eq!(doc["diagnostics"][0]["line"], 2);
}

#[test]
fn components_of_other_projects_come_from_component_dirs() {
    let (_t, dir) = repo(
        "app",
        "include:\n  - component: gitlab.example.com/tools/ci-kit/lint@2.1.0\n    inputs:\n      level: strict\n",
        "c",
    );
    let kit = _t.path().join("ci-kit");
    write(
        &kit,
        "templates/lint/template.yml",
        "spec:\n  inputs:\n    level:\n      options: [strict, lax]\n---\nkit-lint:\n  script: echo lint $[[ inputs.level ]]\n",
    );
    let option = format!("gitlab.example.com/tools/ci-kit={}", kit.display());

    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(
        code, 1,
        "without the checkout only a warning and no job: {doc:#}"
    );
    assert!(
        codes(&doc).contains(&("warning".into(), "include-offline".into())),
        "{doc:#}"
    );

    let (code, doc) = lint_json(&dir, &["--component-dir", &option]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        job_names(&plan_json(&dir, &["--component-dir", &option])),
        ["kit-lint"]
    );
    let (code, lines, all) = run(&dir, &["--component-dir", &option]);
    assert_eq!(code, 0, "{all}");
    assert!(
        lines.contains(&"kit-lint: lint strict".to_string()),
        "{lines:?}"
    );

    let (code, _, err) = gantry(&dir, &["lint", "--component-dir", "no-equals-sign"]);
    assert_eq!(code, 2, "{err}");

    // The same from `[components]` in .gantry/config.toml, relative to the project. (A
    // `[kubernetes]` table there would select a cluster for `run`: the environments' tests cover it.)
    write(
        &dir,
        ".gantry/config.toml",
        "[components]\n\"gitlab.example.com/tools/ci-kit\" = \"../ci-kit\"\n",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(job_names(&plan_json(&dir, &[])), ["kit-lint"]);
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(
        lines.contains(&"kit-lint: lint strict".to_string()),
        "{lines:?}"
    );
    write(
        &dir,
        ".gantry/config.toml",
        "[components]\n\"bad\" = \"x\"\n",
    );
    let (code, _, err) = gantry(&dir, &["lint"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[components]"), "{err}");
}

#[test]
fn needs_from_references_are_flattened_and_matrix_expressions_work_inside_strings() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "stages: [build, test]\n",
            ".deps:\n  needs: [compile, fetch]\n",
            "compile:\n  stage: build\n  script: echo compile\n",
            "fetch:\n  stage: build\n  script: echo fetch\n",
            "image-build:\n  stage: build\n  script: echo build $TARGET\n",
            "  parallel:\n    matrix:\n      - TARGET: [aws-eu, gcp-eu]\n",
            "check:\n  stage: test\n  script: echo check\n",
            "  needs:\n    - !reference [.deps, needs]\n    - image-build\n",
            "deploy:\n  stage: test\n  script: echo deploy $PROVIDER\n",
            "  parallel:\n    matrix:\n      - PROVIDER: [aws, gcp]\n",
            "  needs:\n    - job: image-build\n      parallel:\n        matrix:\n          - TARGET: '$[[ matrix.PROVIDER ]]-eu'\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(codes(&doc).is_empty(), "{doc:#}");
    let plan = plan_json(&dir, &[]);
    assert_eq!(
        needs_of(&plan, "check"),
        [
            "compile",
            "fetch",
            "image-build: [aws-eu]",
            "image-build: [gcp-eu]"
        ]
    );
    assert_eq!(needs_of(&plan, "deploy: [aws]"), ["image-build: [aws-eu]"]);
    assert_eq!(needs_of(&plan, "deploy: [gcp]"), ["image-build: [gcp-eu]"]);
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(
        lines.contains(&"deploy: [gcp]: deploy gcp".to_string()),
        "{lines:?}"
    );
}

#[test]
fn matrix_expressions_survive_a_spec_header() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "spec:\n  inputs:\n    suffix:\n      default: eu\n---\n",
            "build:\n  stage: build\n  script: echo b\n  parallel:\n    matrix:\n      - T: [a-eu, b-eu]\n",
            "test:\n  stage: test\n  script: echo t\n  parallel:\n    matrix:\n      - P: [a, b]\n",
            "  needs:\n    - job: build\n      parallel:\n        matrix:\n          - T: '$[[ matrix.P ]]-$[[ inputs.suffix ]]'\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let plan = plan_json(&dir, &[]);
    assert_eq!(needs_of(&plan, "test: [b]"), ["build: [b-eu]"]);
}

#[test]
fn run_says_which_keywords_it_cannot_act_on() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "deploy:\n  secrets:\n    DB:\n      vault: prod/db/password@ops\n  script: echo deploying\n",
            "downstream:\n  trigger: group/other\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let (code, _, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("deploy: uses `secrets`, but no secret provider is reachable"),
        "{all}"
    );
    assert!(
        all.contains("downstream: uses `trigger`, but no downstream pipeline is started"),
        "{all}"
    );
}
