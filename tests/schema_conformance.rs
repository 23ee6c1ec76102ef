//! Keyword by keyword, cases written from the constraints of GitLab's published CI schema
//! (`app/assets/javascripts/editor/schema/ci.json`): every valid form must lint without errors,
//! every invalid form must be rejected with an error at the given line. The same cases are
//! validated against the committed `schemas/gantry.schema.json` with a JSON-Schema validator,
//! so the generated schema and the checker cannot drift apart.

use gantry::diagnostic::Severity;
use gantry::load::node::{Node, Value as Yaml};
use gantry::load::{LoadOptions, load_str};
use serde_json::{Map, Value, json};
use std::path::Path;

/// `Ok` cases lint clean; `Err(line)` cases have an error at `line`.
type Expect = Result<(), u32>;
const OK: Expect = Ok(());

/// (keyword, YAML, expectation). A job `j` with `script` is added where the case has none.
const CASES: &[(&str, &str, Expect)] = &[
    // script
    ("script", "j:\n  script: make\n", OK),
    ("script", "j:\n  script: [a, [b, c]]\n", OK),
    ("script", "j:\n  script: ''\n", Err(2)),
    ("script", "j:\n  script: []\n", Err(2)),
    ("script", "j:\n  script: 3\n", Err(2)),
    (
        "before_script",
        "j:\n  before_script: ''\n  script: x\n",
        OK,
    ),
    ("after_script", "j:\n  after_script: []\n  script: x\n", OK),
    // run (steps)
    (
        "run",
        "j:\n  run:\n    - name: hello\n      script: echo hi\n",
        OK,
    ),
    (
        "run",
        "j:\n  run:\n    - name: s\n      step: gitlab.com/steps/x@v1\n      inputs: {a: 1}\n",
        OK,
    ),
    (
        "run",
        "j:\n  run:\n    - exec:\n        command: [ls, -l]\n",
        OK,
    ),
    (
        "run",
        "j:\n  run:\n    - name: a\n      step:\n        git: {url: 'https://x', rev: main}\n",
        OK,
    ),
    (
        "run",
        "j:\n  run:\n    - run:\n        - name: inner\n          action: do\n",
        OK,
    ),
    ("run", "j:\n  run:\n    - script: echo hi\n", Err(3)),
    (
        "run",
        "j:\n  run:\n    - name: 1bad\n      script: echo\n",
        Err(3),
    ),
    (
        "run",
        "j:\n  run:\n    - name: a\n      script: x\n      step: y\n",
        Err(3),
    ),
    (
        "run",
        "j:\n  run:\n    - exec:\n        command: []\n",
        Err(4),
    ),
    (
        "run",
        "j:\n  run:\n    - name: a\n      step:\n        git: {url: x}\n",
        Err(5),
    ),
    ("run", "j:\n  run: echo\n", Err(2)),
    (
        "inputs",
        "j:\n  inputs:\n    level: {default: 1, type: number}\n  run:\n    - name: a\n      script: x\n",
        OK,
    ),
    (
        "inputs",
        "j:\n  inputs:\n    level:\n      type: number\n  script: x\n",
        Err(4),
    ),
    // image / services
    ("image", "j:\n  image: alpine\n  script: x\n", OK),
    (
        "image",
        "j:\n  image:\n    name: alpine\n    entrypoint: ['']\n    pull_policy: [always, if-not-present]\n    docker: {user: '1000', platform: arm64}\n  script: x\n",
        OK,
    ),
    ("image", "j:\n  image: ''\n  script: x\n", Err(2)),
    ("image", "j:\n  image:\n    name: ''\n  script: x\n", Err(3)),
    (
        "image",
        "j:\n  image:\n    entrypoint: [sh]\n  script: x\n",
        Err(3),
    ),
    (
        "image",
        "j:\n  image:\n    name: a\n    entrypoint: []\n  script: x\n",
        Err(4),
    ),
    (
        "image",
        "j:\n  image:\n    name: a\n    docker: {user: ''}\n  script: x\n",
        Err(4),
    ),
    (
        "services",
        "j:\n  services: [postgres, {name: redis, alias: cache, pull_policy: never}]\n  script: x\n",
        OK,
    ),
    (
        "services",
        "j:\n  services:\n    - name: redis\n      pull_policy: []\n  script: x\n",
        Err(4),
    ),
    (
        "services",
        "j:\n  services:\n    - name: redis\n      pull_policy: [never, never]\n  script: x\n",
        Err(4),
    ),
    (
        "services",
        "j:\n  services:\n    - name: redis\n      docker:\n        user: ''\n  script: x\n",
        Err(5),
    ),
    (
        "services",
        "j:\n  services:\n    - ''\n  script: x\n",
        Err(3),
    ),
    (
        "services",
        "j:\n  services:\n    - name: r\n      alias: ''\n  script: x\n",
        Err(4),
    ),
    // stage / type
    ("stage", "j:\n  stage: test\n  script: x\n", OK),
    ("stage", "j:\n  stage: ''\n  script: x\n", Err(2)),
    ("type", "j:\n  type: test\n  script: x\n", OK),
    // rules
    ("rules", "j:\n  rules: null\n  script: x\n", OK),
    (
        "rules",
        "j:\n  rules:\n    - if: $A\n      when: manual\n  script: x\n",
        OK,
    ),
    (
        "rules",
        "j:\n  rules:\n    - if: $A\n      auto_cancel: {on_new_commit: none}\n  script: x\n",
        Err(4),
    ),
    (
        "rules",
        "j:\n  rules:\n    - when: sometimes\n  script: x\n",
        Err(3),
    ),
    // retry / allow_failure
    (
        "retry",
        "j:\n  retry: {max: 2, when: [script_failure], exit_codes: [1, 137]}\n  script: x\n",
        OK,
    ),
    (
        "retry",
        "j:\n  retry:\n    exit_codes: [1, 1]\n  script: x\n",
        Err(3),
    ),
    (
        "retry",
        "j:\n  retry:\n    exit_codes: []\n  script: x\n",
        Err(3),
    ),
    ("retry", "j:\n  retry: 3\n  script: x\n", Err(2)),
    (
        "allow_failure",
        "j:\n  allow_failure:\n    exit_codes: [2, 2]\n  script: x\n",
        Err(3),
    ),
    (
        "allow_failure",
        "j:\n  allow_failure: {exit_codes: 3}\n  script: x\n",
        OK,
    ),
    // secrets
    (
        "secrets",
        "j:\n  secrets:\n    DB:\n      vault: production/db/password@ops\n      file: false\n  script: x\n",
        OK,
    ),
    (
        "secrets",
        "j:\n  secrets:\n    DB:\n      gcp_secret_manager: {name: db}\n      token: $TOKEN\n  script: x\n",
        OK,
    ),
    (
        "secrets",
        "j:\n  secrets:\n    DB:\n      file: true\n  script: x\n",
        Err(4),
    ),
    (
        "secrets",
        "j:\n  secrets:\n    DB:\n      gcp_secret_manager: {name: db}\n  script: x\n",
        Err(4),
    ),
    (
        "secrets",
        "j:\n  secrets:\n    DB:\n      vault: {path: a}\n  script: x\n",
        Err(4),
    ),
    (
        "secrets",
        "j:\n  secrets:\n    DB:\n      hashicorp: x\n      vault: a\n  script: x\n",
        Err(4),
    ),
    // id_tokens / identity
    (
        "id_tokens",
        "j:\n  id_tokens:\n    T: {aud: [a, b]}\n  script: x\n",
        OK,
    ),
    (
        "id_tokens",
        "j:\n  id_tokens:\n    T: {}\n  script: x\n",
        Err(3),
    ),
    (
        "id_tokens",
        "j:\n  id_tokens:\n    T:\n      aud: [a, a]\n  script: x\n",
        Err(4),
    ),
    (
        "identity",
        "j:\n  identity: google_cloud\n  script: x\n",
        OK,
    ),
    ("identity", "j:\n  identity: aws\n  script: x\n", Err(2)),
    // hooks
    (
        "hooks",
        "j:\n  hooks:\n    pre_get_sources_script: [echo hi]\n  script: x\n",
        OK,
    ),
    (
        "hooks",
        "j:\n  hooks:\n    post_script: [echo hi]\n  script: x\n",
        Err(3),
    ),
    ("hooks", "j:\n  hooks: echo\n  script: x\n", Err(2)),
    // trigger
    ("trigger", "j:\n  trigger: group/project\n", OK),
    (
        "trigger",
        "j:\n  trigger:\n    project: $DOWNSTREAM\n    strategy: depend\n",
        OK,
    ),
    ("trigger", "j:\n  trigger: ''\n", Err(2)),
    ("trigger", "j:\n  trigger: /group/project\n", Err(2)),
    (
        "trigger",
        "j:\n  trigger:\n    project: group/project/\n",
        Err(3),
    ),
    ("trigger", "j:\n  trigger:\n    project: project\n", Err(3)),
    ("trigger", "j:\n  trigger:\n    project: $\n", Err(3)),
    (
        "trigger",
        "j:\n  trigger:\n    project: group/x\n    strategy: wait\n",
        Err(4),
    ),
    // cache
    (
        "cache",
        "j:\n  cache:\n    key: $CI_COMMIT_REF_SLUG\n    paths: [a]\n    policy: $POLICY\n  script: x\n",
        OK,
    ),
    (
        "cache",
        "j:\n  cache:\n    key: {files_commits: [Gemfile.lock], prefix: p}\n    paths: [a]\n  script: x\n",
        OK,
    ),
    (
        "cache",
        "j:\n  cache:\n    key: {files: [a, b, c]}\n    paths: [a]\n  script: x\n",
        Err(3),
    ),
    (
        "cache",
        "j:\n  cache:\n    policy: sometimes\n  script: x\n",
        Err(3),
    ),
    (
        "cache",
        "j:\n  cache:\n    policy: $\n  script: x\n",
        Err(3),
    ),
    ("cache", "j:\n  cache:\n    key: a/b\n  script: x\n", Err(3)),
    // environment
    (
        "environment",
        "j:\n  environment:\n    name: review/$CI_COMMIT_REF_SLUG\n    url: https://$CI_ENVIRONMENT_SLUG.example.com\n  script: x\n",
        OK,
    ),
    (
        "environment",
        "j:\n  environment:\n    name: prod\n    url: $DYNAMIC_URL\n  script: x\n",
        OK,
    ),
    (
        "environment",
        "j:\n  environment:\n    name: prod\n    url: example.com\n  script: x\n",
        Err(4),
    ),
    (
        "environment",
        "j:\n  environment:\n    name: $ENV\n    deployment_tier: $TIER\n    auto_stop_in: $TTL\n  script: x\n",
        OK,
    ),
    (
        "environment",
        "j:\n  environment:\n    name: prod\n    deployment_tier: live\n  script: x\n",
        Err(4),
    ),
    (
        "image",
        "j:\n  image: $IMAGE\n  services: [$SERVICE]\n  resource_group: $GROUP\n  tags: [$RUNNER_TAG]\n  script: x\n",
        OK,
    ),
    // release
    (
        "release",
        "j:\n  release:\n    tag_name: v1\n    description: notes\n  script: x\n",
        OK,
    ),
    (
        "release",
        "j:\n  release:\n    tag_name: v1\n  script: x\n",
        Err(3),
    ),
    // dast_configuration / pages
    (
        "dast_configuration",
        "j:\n  dast_configuration:\n    site_profile: s\n    scanner_profile: t\n  script: x\n",
        OK,
    ),
    (
        "dast_configuration",
        "j:\n  dast_configuration:\n    site: s\n  script: x\n",
        Err(3),
    ),
    (
        "pages",
        "j:\n  pages:\n    publish: public\n  script: x\n",
        OK,
    ),
    // needs
    (
        "needs",
        "a:\n  script: x\nj:\n  needs: [a]\n  script: x\n",
        OK,
    ),
    ("needs", "j:\n  needs: a\n  script: x\n", Err(2)),
    // workflow
    (
        "workflow",
        "workflow:\n  name: nightly\n  auto_cancel:\n    on_new_commit: interruptible\n    on_job_failure: all\n  rules:\n    - if: $A\n      auto_cancel: {on_new_commit: none}\nj:\n  script: x\n",
        OK,
    ),
    (
        "workflow",
        "workflow:\n  auto_cancel:\n    on_new_commit: always\nj:\n  script: x\n",
        Err(3),
    ),
    (
        "workflow",
        "workflow:\n  auto_cancel:\n    on_failure: all\nj:\n  script: x\n",
        Err(3),
    ),
    (
        "workflow",
        "workflow:\n  name: ''\nj:\n  script: x\n",
        Err(2),
    ),
    // artifacts / dependencies / variables
    (
        "artifacts",
        "j:\n  artifacts:\n    paths: [dist/]\n    reports:\n      coverage_report: {coverage_format: cobertura, path: c.xml}\n  script: x\n",
        OK,
    ),
    // The editor schema's `minItems: 1` is stricter than the server (`Entry::Artifacts`
    // checks `array_of_strings` only): `paths: []` is valid.
    (
        "artifacts",
        "j:\n  artifacts:\n    paths: []\n  script: x\n",
        OK,
    ),
    (
        "artifacts",
        "j:\n  artifacts:\n    reports:\n      cobertura: c.xml\n  script: x\n",
        Err(4),
    ),
    ("artifacts", "j:\n  artifacts: null\n  script: x\n", OK),
    (
        "cache",
        "j:\n  cache: [{key: a}, {key: b}, {key: c}, {key: d}, {key: e}]\n  script: x\n",
        Err(2),
    ),
    (
        "cache",
        "j:\n  cache: [[{key: a, paths: [a]}], {key: b}]\n  script: x\n",
        OK,
    ),
    (
        "retry",
        "j:\n  retry: {max: 1, when: [runner_interrupted]}\n  script: x\n",
        OK,
    ),
    (
        "retry",
        "j:\n  retry: {max: 1, when: [runner_took_a_nap]}\n  script: x\n",
        Err(2),
    ),
    (
        "variables",
        "variables:\n  A: [x, y]\nj:\n  script: x\n",
        Err(2),
    ),
    (
        "variables",
        "variables:\n  A: no\n  B: 1.5\nj:\n  variables:\n  script: x\n",
        OK,
    ),
    (
        "artifacts",
        "j:\n  artifacts:\n    reports:\n      coverage_report: {coverage_format: lcov, path: c}\n  script: x\n",
        Err(4),
    ),
    (
        "artifacts",
        "j:\n  artifacts:\n    reports:\n      lsif: graph.lsif\n  script: x\n",
        OK,
    ),
    (
        "dependencies",
        "a:\n  script: x\nj:\n  dependencies: a\n  script: x\n",
        Err(4),
    ),
    (
        "variables",
        "variables:\n  A: {value: x, description: d, options: [x, y]}\nj:\n  script: x\n",
        OK,
    ),
    (
        "variables",
        "j:\n  variables:\n    A: {value: x, description: d}\n  script: x\n",
        Err(3),
    ),
    (
        "variables",
        "j:\n  variables:\n    A: {value: x, expand: false}\n  script: x\n",
        OK,
    ),
    (
        "retry",
        "j:\n  retry:\n    when: runner_provisioning_timeout\n  script: x\n",
        OK,
    ),
    (
        "trigger",
        "j:\n  trigger:\n    include: c.yml\n    branch: main\n",
        Err(4),
    ),
    (
        "trigger",
        "j:\n  trigger:\n    project: g/p\n    forward: {yaml_variables: true, secrets: false}\n",
        Err(4),
    ),
    (
        "needs",
        "j:\n  needs:\n    - project: g/p\n      job: build\n  script: x\n",
        Err(3),
    ),
    (
        "needs",
        "j:\n  needs:\n    - {project: g/p, job: build, ref: main, artifacts: true}\n  script: x\n",
        OK,
    ),
    (
        "environment",
        "j:\n  environment:\n    name: prod\n    kubernetes:\n      managed_resources: {enabled: false}\n  script: x\n",
        OK,
    ),
    (
        "$schema",
        "$schema: https://gitlab.com/.gitlab-ci.yml\nj:\n  script: x\n",
        OK,
    ),
    // include
    (
        "include",
        "include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/c\nj:\n  script: x\n",
        Err(2),
    ),
    (
        "include",
        "include:\n  - project: /group\n    file: a.yml\nj:\n  script: x\n",
        Err(2),
    ),
    // spec:inputs
    (
        "spec",
        "spec:\n  inputs:\n    a:\n      default: x\n      description: short\n---\nj:\n  script: x\n",
        OK,
    ),
    (
        "spec",
        "spec:\n  inputs:\n    a:\n      default: x\n      descripton: typo\n---\nj:\n  script: x\n",
        Err(5),
    ),
];

/// A long description is built at run time (over 1,024 characters).
fn long_description_case() -> String {
    format!(
        "spec:\n  inputs:\n    a:\n      default: x\n      description: {}\n---\nj:\n  script: x\n",
        "d".repeat(1025)
    )
}

fn to_json(node: &Node) -> Value {
    match &node.value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => json!(b),
        Yaml::Int(i) => json!(i),
        Yaml::Float(f) => json!(f),
        Yaml::Str(s) => json!(s),
        Yaml::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Map(m) => Value::Object(
            m.iter()
                .map(|(k, e)| (k.clone(), to_json(&e.value)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// The document as GitLab's schema sees it: the body, with the `spec:` header's `spec` added.
fn document(yaml: &str) -> Value {
    let options = LoadOptions::default();
    let loaded = load_str("ci.yml", yaml.to_string(), Path::new("."), &options);
    let mut doc: Map<String, Value> = loaded
        .root
        .iter()
        .map(|(k, e)| (k.clone(), to_json(&e.value)))
        .collect();
    if let Some(Value::Object(h)) = loaded.header.as_ref().map(to_json)
        && let Some(spec) = h.get("spec")
    {
        doc.insert("spec".into(), spec.clone());
    }
    Value::Object(doc)
}

fn lint_errors(yaml: &str) -> Vec<(u32, String)> {
    let loaded = load_str(
        "ci.yml",
        yaml.to_string(),
        Path::new("."),
        &LoadOptions::default(),
    );
    gantry::lint::lint_loaded(loaded)
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.span.map_or(0, |s| s.line), d.message))
        .collect()
}

fn all_cases() -> Vec<(String, String, Expect)> {
    let mut cases: Vec<(String, String, Expect)> = CASES
        .iter()
        .map(|(k, y, e)| (k.to_string(), y.to_string(), *e))
        .collect();
    cases.push(("spec".into(), long_description_case(), Err(5)));
    cases
}

#[test]
fn gantry_accepts_and_rejects_what_gitlabs_schema_does_at_the_right_line() {
    let mut failures = Vec::new();
    for (keyword, yaml, expect) in all_cases() {
        let errors = lint_errors(&yaml);
        let ok = match expect {
            Ok(()) => errors.is_empty(),
            Err(line) => errors.first().is_some_and(|(l, _)| *l == line),
        };
        if !ok {
            failures.push(format!(
                "{keyword}: expected {expect:?}, got {errors:?}\n{yaml}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn the_committed_schema_agrees_with_the_checker_on_every_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("schemas/gantry.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");
    let mut failures = Vec::new();
    for (keyword, yaml, expect) in all_cases() {
        // Includes are resolved before the schema would see them; their rules are tested above.
        if keyword == "include" {
            continue;
        }
        let doc = document(&yaml);
        let valid = validator.is_valid(&doc);
        if valid != expect.is_ok() {
            let why: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            failures.push(format!(
                "{keyword}: schema says valid={valid}, expected {expect:?} {why:?}\n{yaml}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn every_job_keyword_has_cases() {
    let covered: Vec<String> = all_cases().into_iter().map(|(k, _, _)| k).collect();
    let untested: Vec<&str> = [
        "script",
        "run",
        "image",
        "services",
        "rules",
        "retry",
        "secrets",
        "id_tokens",
        "identity",
        "hooks",
        "trigger",
        "cache",
        "environment",
        "release",
        "needs",
        "type",
        "dast_configuration",
    ]
    .into_iter()
    .filter(|k| !covered.iter().any(|c| c == k))
    .collect();
    assert!(untested.is_empty(), "{untested:?}");
}
