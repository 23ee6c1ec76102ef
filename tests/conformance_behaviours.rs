//! GitLab's config-time behaviours through the CLI — `lint`, `plan` and `run` — in throw-away
//! git repositories: variables in include locations, `$VARS` in `cache:policy` and the other
//! runner-expanded keywords, CI/CD components of this project and of `--component-dir`
//! checkouts, `needs` flattened from `!reference`, and matrix expressions inside longer strings.

use crate::support::checks::{assert_printed, diagnostics, json_lines};
use crate::support::{gantry, git, job_names, plan_json, repo};
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
    crate::support::checks::diagnostic_codes(doc)
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
    let lines = json_lines(&out)
        .into_iter()
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

    // lint cannot know the values: warnings, not errors — also that no job is left, which the
    // unread includes explain.
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "only warnings: {doc:#}");
    assert!(
        codes(&doc).contains(&("warning".to_string(), "no-jobs".to_string())),
        "{doc:#}"
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
        code, 0,
        "without the checkout only warnings (no job, explained by the unread component): {doc:#}"
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
    assert_printed(
        &all,
        &[
            "deploy: uses `secrets`, but no secret provider is reachable",
            "downstream project `group/other` is not available offline",
        ],
    );
}

/// GitLab's server reads `null` as "not set": in an `extends` merge it drops the template's
/// value, `default:` still fills it, and `only: null` beside `rules` is no conflict.
#[test]
fn null_removes_inherited_values_and_default_fills_it() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "default:\n  timeout: 10 minutes\n",
            "variables:\n",
            ".base:\n  artifacts: {paths: [out/]}\n  parallel: 3\n  coverage: '/x/'\n",
            "  environment: prod\n  dependencies: []\n  timeout: 1h\n  except: [tags]\n",
            "build:\n  script: [echo built]\n",
            "job:\n  extends: .base\n  artifacts: null\n  parallel: null\n  coverage: null\n",
            "  environment: null\n  dependencies: null\n  timeout: null\n  variables:\n",
            "  except: null\n  rules:\n    - when: on_success\n",
            "  script: [echo $CI_JOB_NAME]\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(codes(&doc).is_empty(), "{doc:#}");
    let plan = plan_json(&dir, &[]);
    // `parallel: null` dropped the template's three copies.
    assert_eq!(job_names(&plan), vec!["build", "job"]);
    let job = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "job")
        .unwrap();
    // `timeout: null` drops `.base`'s 1h, and `default:` fills in its 10 minutes.
    assert_eq!(job["timeout"], 600, "{job:#}");
    assert!(job["environment"].is_null(), "{job:#}");
    // `dependencies: null` is "not set": all earlier-stage artifacts, not `[]`.
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(lines.contains(&"job: job".to_string()), "{lines:?}");
}

/// `!reference` and aliases nest lists inside `rules`, `needs`, `cache` and `services`;
/// GitLab's `ComposableArray` entries flatten them at any depth.
#[test]
fn nested_lists_are_flattened_in_rules_needs_and_caches() {
    let (_t, dir) = repo(
        "app",
        concat!(
            ".rules: {rules: [{if: $NEVER, when: never}]}\n",
            ".deep: {rules: [[!reference [.rules, rules]]]}\n",
            ".caches: {cache: [{key: a, paths: [a/]}]}\n",
            "build:\n  script: [mkdir -p a b, echo hi > a/x, echo hi > b/y]\n",
            "  cache: [!reference [.caches, cache], [{key: b, paths: [b/]}]]\n",
            "test:\n  stage: test\n  needs: [[build]]\n",
            "  rules: [!reference [.deep, rules], {when: on_success}]\n",
            "  script: [echo ok]\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let plan = plan_json(&dir, &[]);
    assert_eq!(needs_of(&plan, "test"), vec!["build"]);
    assert_eq!(job_names(&plan.clone()), vec!["build", "test"]);
    let plan = plan_json(&dir, &["--var", "NEVER=1"]);
    assert_eq!(job_names(&plan), vec!["build"]);
    // Both caches of the flattened list are saved.
    let (code, _, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(dir.join(".gantry/cache/a/a/x").is_file(), "{all}");
    assert!(dir.join(".gantry/cache/b/b/y").is_file(), "{all}");
}

/// Variable values of any scalar type pass on their Ruby string form (`no` is Psych's false).
#[test]
fn scalar_variable_values_become_gitlabs_strings() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "variables:\n  USE_SSL: no\n  FAST: true\n  RATIO: 0.5\n  BIG: 1.0e+20\n  N: 0x10\n",
            "job:\n  variables: {SWITCH: on, OFF_V: {value: false}}\n",
            "  script: [echo \"$USE_SSL $FAST $RATIO $BIG $N $SWITCH $OFF_V\"]\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(
        lines.contains(&"job: false true 0.5 1.0e+20 16 true false".to_string()),
        "{lines:?}"
    );
}

/// Durations as GitLab's ChronicDuration reads them; unknown words are dropped with a warning.
#[test]
fn chronic_durations_are_read_like_gitlab() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "a:\n  timeout: 2 hrs 30 mins\n  artifacts: {paths: [], expire_in: one week}\n",
            "  script: [x]\n",
            "b:\n  when: delayed\n  start_in: 1 day and 2 hours\n  script: [x]\n",
            "c:\n  timeout: 3 fortnights\n  environment: {name: e, auto_stop_in: an hour}\n",
            "  script: [x]\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        codes(&doc),
        vec![("warning".to_string(), "invalid-value".to_string())],
        "{doc:#}"
    );
    let plan = plan_json(&dir, &[]);
    let timeout = |name: &str| {
        plan["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name)
            .unwrap()["timeout"]
            .clone()
    };
    assert_eq!(timeout("a"), 9000);
    assert_eq!(
        timeout("c"),
        3,
        "GitLab drops `fortnights` and reads 3 seconds"
    );
}

/// `needs` may name one generated instance by its full name.
#[test]
fn needs_name_generated_instances() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "build:\n  parallel:\n    matrix:\n      - TARGET: [x86_64-w64-mingw32, i686 w64, 'a, b']\n",
            "  script: [echo $TARGET]\n",
            "shard:\n  parallel: 3\n  script: [echo $CI_NODE_INDEX]\n",
            "test:\n  stage: test\n  needs: ['build: [x86_64-w64-mingw32]', 'build: [a, b]', shard 2/3]\n",
            "  dependencies: ['build: [a, b]']\n  script: [echo ok]\n",
            "bad:\n  stage: test\n  needs: ['build: [arm]', shard 4/3]\n  script: [x]\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        codes(&doc),
        vec![
            ("error".to_string(), "unknown-need".to_string()),
            ("error".to_string(), "unknown-need".to_string())
        ],
        "{doc:#}"
    );
    let pipeline = std::fs::read_to_string(dir.join(".gitlab-ci.yml")).unwrap();
    write(
        &dir,
        ".gitlab-ci.yml",
        pipeline.split("bad:").next().unwrap(),
    );
    commit(&dir);
    let plan = plan_json(&dir, &[]);
    assert_eq!(
        needs_of(&plan, "test"),
        vec!["build: [a, b]", "build: [x86_64-w64-mingw32]", "shard 2/3"]
    );
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(lines.contains(&"test: ok".to_string()), "{lines:?}");
}

/// Flow collections and quoted scalars indented less than their key, as libyaml reads them.
#[test]
fn flow_collections_indented_less_than_their_key_are_read() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "a:\n  script: [echo a]\n",
            "b:\n    stage: test\n    needs: [\n        \"a\",\n    ]\n",
            "    variables: {X: \"one\n  two\"}\n",
            "    script: [\n  echo $X\n    ]\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(lines.contains(&"b: one two".to_string()), "{lines:?}");
}

/// Findings an unread (remote) include could explain are warnings naming it; `--strict`
/// makes them errors; what no include could fix stays an error.
#[test]
fn unread_includes_turn_what_they_could_explain_into_warnings() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "include:\n  - remote: https://example.com/ci.yml\n",
            "job:\n  extends: .remote-template\n  stage: from-remote\n  needs: [remote-job]\n",
            "other:\n  extends: .remote-template\n",
        ),
        "c",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(codes(&doc).iter().all(|(s, _)| s == "warning"), "{doc:#}");
    assert_eq!(
        doc["unread_includes"],
        serde_json::json!(["https://example.com/ci.yml"])
    );
    let (_, out, _) = gantry(&dir, &["lint"]);
    assert!(
        out.contains("not checked offline: `https://example.com/ci.yml`"),
        "{out}"
    );
    let (code, _) = lint_json(&dir, &["--strict"]);
    assert_eq!(code, 1);
    plan_json(&dir, &[]);
    write(
        &dir,
        ".gitlab-ci.yml",
        "include:\n  - remote: https://example.com/ci.yml\njob:\n  script: x\n  when: sometimes\n",
    );
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 1, "{doc:#}");
}

/// `spec:inputs:<name>:rules`: the first rule whose `if` holds over the other inputs (either
/// reference form), or the rule without `if`, gives the default and options; with no match a
/// string input is `""` (gitlab-org/gitlab#587643). An include whose inputs fail is not checked
/// further: its content would only add follow-on errors.
#[test]
fn conditional_inputs_take_the_first_matching_rule() {
    let (_t, dir) = repo(
        "app",
        concat!(
            "spec:\n  inputs:\n    mode: {default: a}\n    auto: {type: boolean, default: false}\n",
            "    tag:\n      rules:\n        - if: $[[ inputs.mode ]] == \"b\"\n          default: x\n",
            "    ext:\n      type: boolean\n      rules:\n",
            "        - if: $[[ inputs.auto ]] != true\n          default: false\n",
            "    env:\n      rules:\n        - if: inputs.mode == \"b\"\n          options: [x]\n",
            "          default: x\n        - options: [dev, prod]\n          default: prod\n",
            "---\n",
            "include:\n  - local: inc.yml\n    inputs:\n      flag: $[[ inputs.ext ]]\n",
            "job:\n  script: ['echo \"[$[[ inputs.tag ]]] $[[ inputs.ext ]] $[[ inputs.env ]]\"']\n",
        ),
        "c",
    );
    write(
        &dir,
        "inc.yml",
        concat!(
            "spec:\n  inputs:\n    flag: {type: boolean}\n---\n",
            "inc:\n  script: [echo inc]\n  rules:\n    - if: $[[ inputs.flag ]] == true\n",
        ),
    );
    commit(&dir);
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(codes(&doc).is_empty(), "{doc:#}");
    // `flag` is false: `inc` is left out by its rule.
    assert_eq!(job_names(&plan_json(&dir, &[])), vec!["job"]);
    let (code, lines, all) = run(&dir, &[]);
    assert_eq!(code, 0, "{all}");
    assert!(
        lines.contains(&"job: [] false prod".to_string()),
        "{lines:?}"
    );

    // A boolean input that no rule gives a default is GitLab's "" — an error, said once: the
    // include it is passed on to is not checked with the hole in it.
    write(
        &dir,
        ".gitlab-ci.yml",
        concat!(
            "spec:\n  inputs:\n    auto: {type: boolean, default: true}\n",
            "    ext:\n      type: boolean\n      rules:\n",
            "        - if: $[[ inputs.auto ]] != true\n          default: false\n",
            "    loop:\n      rules:\n        - if: inputs.loop == 'x'\n          default: y\n",
            "    typo:\n      rules:\n        - if: inputs.atuo == 'x'\n          default: y\n",
            "---\n",
            "include:\n  - local: inc.yml\n    inputs:\n      flag: $[[ inputs.ext ]]\n",
            "job:\n  script: [echo]\n",
        ),
    );
    commit(&dir);
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let messages = diagnostics(&doc, "message");
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("input `ext` is declared as boolean, but no rule")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("in a circle: loop → loop")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("references undefined input `atuo`")),
        "{messages:#?}"
    );
}

/// A `null` in `needs` (an alias of an empty list item) is dropped, as `Entry::Needs` keeps only
/// typed entries; more than 50 needs is a warning naming the instance's limit, not a refusal.
#[test]
fn null_needs_are_dropped_and_the_needs_limit_is_the_instances() {
    let many: String = (1..=51)
        .map(|i| format!("n{i}: {{extends: .n}}\n"))
        .collect();
    let list: Vec<String> = (1..=51).map(|i| format!("n{i}")).collect();
    let pipeline = format!(
        concat!(
            ".none: &none\n  -\n.n: {{script: [echo n]}}\n{}",
            "a: {{script: [echo a]}}\n",
            "b:\n  script: [echo b]\n  needs: [*none, a, null]\n",
            "big:\n  script: [echo big]\n  needs: [{}]\n",
        ),
        many,
        list.join(", ")
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let (code, doc) = lint_json(&dir, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        codes(&doc),
        vec![("warning".to_string(), "needs-limit".to_string())],
        "{doc:#}"
    );
    let message = doc["diagnostics"][0]["help"].as_str().unwrap();
    assert!(message.contains("ci_needs_size_limit"), "{message}");
    let plan = plan_json(&dir, &[]);
    assert_eq!(needs_of(&plan, "b"), vec!["a"]);
    assert_eq!(needs_of(&plan, "big").len(), 51);
    let (code, lines, all) = run(&dir, &["b", "--needs"]);
    assert_eq!(code, 0, "{all}");
    assert!(lines.contains(&"b: b".to_string()), "{lines:?}");
}
