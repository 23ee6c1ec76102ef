//! What the loader builds: merge keys as Psych merges them, extends as GitLab deep-merges,
//! includes, !reference, defaults and inherit — checked on the decoded model, with spans.

use gantry::lint::{Report, lint_file};
use gantry::load::{LoadOptions, load_str};
use gantry::model::Job;
use std::path::Path;

fn fixture(name: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/valid")
        .join(name);
    lint_file(&path, &LoadOptions::default()).unwrap()
}

/// Lints `text` as the pipeline file `name` (includes resolved from the current directory).
fn lint_text(name: &str, text: &str) -> Report {
    let loaded = load_str(name, text.into(), Path::new("."), &LoadOptions::default());
    gantry::lint::lint_loaded(loaded)
}

fn job<'a>(r: &'a Report, name: &str) -> &'a Job {
    &r.pipeline.as_ref().unwrap().jobs[name]
}

fn lines(v: &[gantry::source::Spanned<String>]) -> Vec<&str> {
    v.iter().map(|s| s.value.as_str()).collect()
}

#[test]
fn merge_key_list_takes_the_first_mapping_first() {
    let r = fixture("merge-key-list.yml");
    let j = job(&r, "job");
    assert_eq!(j.image.as_ref().unwrap().name.value, "alpine");
    assert_eq!(j.interruptible, Some(true));
    assert_eq!(lines(&j.tags), ["small"]);
    // The value keeps the span of the anchor it came from (line 1), not of the `<<`.
    assert_eq!(j.image.as_ref().unwrap().name.span.line, 1);
}

#[test]
fn repeated_merge_keys_all_apply() {
    let r = fixture("repeated-merge-keys.yml");
    let j = job(&r, "production");
    assert!(j.image.is_some());
    assert_eq!(j.rules.as_ref().unwrap().len(), 1);
    assert_eq!(j.variables["HELM_TIMEOUT"].value, "10m");
    assert_eq!(j.dependencies.as_deref(), Some(&[][..]));
}

#[test]
fn later_explicit_key_overrides_merge_and_merge_overrides_earlier_key_like_psych() {
    let text = "
.a: &a {stage: build, when: manual}
j:
  stage: test
  <<: *a
  when: always
  script: x
";
    let r = lint_text("m.yml", text);
    let j = job(&r, "j");
    assert_eq!(
        j.stage.value, "build",
        "Psych's merge! overrides a key written before `<<`"
    );
    assert_eq!(j.when.value.as_str(), "always");
}

#[test]
fn extends_deep_merges_mappings_and_replaces_lists() {
    let r = fixture("extends-chains.yml");
    let j = job(&r, "job");
    let vars: Vec<(&str, &str)> = j
        .variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(vars, [("A", "1"), ("B", "2"), ("C", "3")]);
    assert_eq!(
        lines(&j.script),
        ["echo other"],
        "the later base replaces the list"
    );
    assert_eq!(lines(&j.tags), ["fast"]);
    assert_eq!(j.image.as_ref().unwrap().name.value, "alpine");
    // Spans point into the template that wrote each value.
    assert_eq!(j.variables["A"].span.line, 4);
    let q = job(&r, "quoted-octal");
    assert_eq!(q.variables["MODE"].value, "0755");
    assert_eq!(q.variables["PORT"].value, "8080");
    assert_eq!(q.variables["RATIO"].value, "1.5");
}

#[test]
fn includes_with_wildcards_and_nesting_merge_under_the_main_file() {
    let r = fixture("include-wildcards.yml");
    let p = r.pipeline.as_ref().unwrap();
    let names: Vec<&str> = p.jobs.keys().map(String::as_str).collect();
    assert_eq!(names, ["lint", "unit", "build"]);
    assert_eq!(p.variables["FROM_NESTED"].value, "yes");
    let unit = &p.jobs["unit"];
    assert_eq!(lines(&unit.before_script), ["gcc --version"]);
    // The value came from ci/common.yml: its span names that file.
    let file = r.sources.name(unit.before_script[0].span.file);
    assert!(file.ends_with("ci/common.yml"), "{file}");
}

#[test]
fn reference_copies_values_and_scripts_flatten() {
    let text = "
.setup:
  script: [echo one, echo two]
  variables: {X: '1'}
.rules:
  rules:
    - if: $A
j:
  script:
    - !reference [.setup, script]
    - echo three
  variables: !reference [.setup, variables]
  rules:
    - !reference [.rules, rules]
    - when: never
";
    let r = lint_text("r.yml", text);
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let j = job(&r, "j");
    assert_eq!(lines(&j.script), ["echo one", "echo two", "echo three"]);
    assert_eq!(j.variables["X"].value, "1");
    assert_eq!(j.rules.as_ref().unwrap().len(), 2);
    assert_eq!(
        j.script[0].span.line, 3,
        "the referenced line keeps its own span"
    );
}

#[test]
fn defaults_apply_unless_the_job_sets_or_refuses_them() {
    let r = fixture("defaults-and-inherit.yml");
    let rspec = job(&r, "rspec");
    assert_eq!(rspec.image.as_ref().unwrap().name.value, "ruby:3.3");
    assert_eq!(lines(&rspec.before_script), ["bundle install"]);
    assert_eq!(rspec.retry.max, 1);
    assert_eq!(rspec.timeout.as_ref().unwrap().value, 5400);
    assert_eq!(lines(&rspec.after_script), ["echo \"cleanup\""]);
    let standalone = job(&r, "standalone");
    assert_eq!(standalone.image.as_ref().unwrap().name.value, "alpine:3.20");
    assert!(standalone.before_script.is_empty());
    assert!(standalone.tags.is_empty());
    assert!(standalone.inherit_variables.allows("RAILS_ENV"));
    assert!(!standalone.inherit_variables.allows("RAW_TEMPLATE"));
    let only_tags = job(&r, "only-tags");
    assert_eq!(lines(&only_tags.tags), ["docker"]);
    assert!(only_tags.image.is_none());
    let p = r.pipeline.as_ref().unwrap();
    assert!(!p.variables["RAW_TEMPLATE"].expand);
}

#[test]
fn stages_flatten_and_gain_pre_and_post() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/monorepo.gitlab-ci.yml");
    let r = lint_file(&path, &LoadOptions::default()).unwrap();
    let stages: Vec<&str> = r
        .pipeline
        .as_ref()
        .unwrap()
        .stages
        .iter()
        .map(|s| s.value.as_str())
        .collect();
    assert_eq!(
        stages,
        [
            ".pre", "prepare", "build", "test", "package", "deploy", "verify", ".post"
        ]
    );
}

#[test]
fn seed_pipeline_keeps_its_shape() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/dynamic-environments.gitlab-ci.yml");
    let r = lint_file(&path, &LoadOptions::default()).unwrap();
    let p = r.pipeline.as_ref().unwrap();
    let order: Vec<(&str, &str)> = p
        .jobs
        .values()
        .map(|j| (j.name.as_str(), j.stage.value.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("build", "build"),
            ("deploy", "deploy"),
            ("test", "test"),
            ("cleanup", "cleanup")
        ]
    );
    assert_eq!(p.jobs["cleanup"].when.value.as_str(), "always");
    // Issue 9: the namespace is prepared per pipeline and named in KUBE_NAMESPACE.
    assert_eq!(p.variables["NAMESPACE"].value, "${KUBE_NAMESPACE}");
    assert_eq!(p.jobs["build"].services[0].image.name.value, "docker:dind");
    assert_eq!(
        p.jobs["deploy"].environment.as_ref().unwrap().name.value,
        "test-for-ci"
    );
}

#[test]
fn spec_inputs_interpolate_with_types_through_includes() {
    let r = fixture("spec-inputs.yml");
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let p = r.pipeline.as_ref().unwrap();
    let names: Vec<&str> = p.jobs.keys().map(String::as_str).collect();
    assert_eq!(names, ["component-job", "deploy-staging"]);
    let deploy = &p.jobs["deploy-staging"];
    assert_eq!(
        lines(&deploy.script),
        ["echo \"deploying 2 replicas to stag\""]
    );
    assert_eq!(
        deploy.parallel,
        Some(gantry::model::job::Parallel::Count(2)),
        "a whole-value number input stays a number"
    );
    let component = &p.jobs["component-job"];
    assert_eq!(component.stage.value, "ship");
    assert_eq!(
        lines(&component.script),
        ["echo \"targets [eu, us] dry=true\""]
    );
    match &component.parallel {
        Some(gantry::model::job::Parallel::Matrix(m)) => assert_eq!(m[0]["TARGET"], ["eu", "us"]),
        other => panic!("{other:?}"),
    }
}
