//! Child and downstream pipelines (issue 27): `trigger` jobs lint, plan and run the pipelines
//! they start as GitLab does — a child's mistakes located in the child's file, its jobs run
//! under the trigger job, `strategy: depend` carrying the child's status up, variables passed
//! down, another project's pipeline run from a mapped checkout or skipped with a reason.

use crate::support::Test;

/// A repository with the pipeline `parent` and the child pipeline `ci/child.yml`.
fn tree(parent: &str, child: &str) -> Test {
    Test::new().pipeline(parent).file("ci/child.yml", child)
}

/// gantry with `args` in [`tree`]`(parent, child)`.
fn run_tree(parent: &str, child: &str, args: &[&str]) -> crate::support::builder::Run {
    tree(parent, child).args(args).run()
}

const PARENT: &str = "stages: [build, child]
build:
  stage: build
  script: echo parent-build
child:
  stage: child
  trigger:
    include: ci/child.yml
    strategy: depend
";

#[test]
fn the_reported_reproduction_fails_as_gitlab_would() {
    // The child's unknown stage is a lint error located in the child's file.
    let run = run_tree(
        PARENT,
        "child-job:\n  script: [echo in-child, exit 3]\n  stage: nope\n",
        &["lint"],
    );
    // Located in the child's file.
    invalid(run, &["unknown-stage", "ci/child.yml:3"]);
    // With the stage fixed, the child runs, fails, and fails the trigger job and the pipeline.
    run_tree(
        PARENT,
        "child-job:\n  script: [echo in-child, exit 3]\n",
        &["run"],
    )
    .code(1)
    .stdout_has("child ▸ child-job │ in-child")
    .stdout_has("pipeline failed");
}

#[test]
fn the_trigger_job_mirrors_its_child_only_with_depend() {
    let child = "child-job:\n  script: [echo in-child, exit 3]\nlater:\n  stage: deploy\n  script: echo later\n  when: always\n";
    let without = PARENT.replace("    strategy: depend\n", "");
    let run = run_tree(&without, child, &["run"])
        .success()
        .stdout_has("pipeline success");
    assert!(
        said(&run.stdout, "child ▸ child-job", "in-child"),
        "{}",
        run.stdout
    );
    assert!(
        said(&run.stdout, "child ▸ later", "later"),
        "{}",
        run.stdout
    );
    let row = summary_row(&run.stdout, "child ▸ child-job");
    assert!(row.contains("failed"), "the child's job still fails: {row}");
    let allowed = PARENT.replace(
        "    strategy: depend\n",
        "    strategy: depend\n  allow_failure: true\n",
    );
    let run = run_tree(&allowed, child, &["run"]).success();
    let row = summary_row(&run.stdout, "child ");
    assert!(row.contains("failed (allowed)"), "{}", run.stdout);
}

/// Asserts that lint found the pipeline invalid, saying each of `words`.
fn invalid(run: crate::support::builder::Run, words: &[&str]) {
    let run = run.code(1);
    let out = format!("{}{}", run.stdout, run.stderr);
    for w in words {
        has(&out, w);
    }
}

/// Asserts that `out` holds `wanted`, showing `out` when not.
fn has(out: &str, wanted: &str) {
    assert!(out.contains(wanted), "no {wanted:?} in:\n{out}");
}

/// Whether `job` printed the line `text` (its prefix is padded to the longest name).
fn said(stdout: &str, job: &str, text: &str) -> bool {
    stdout.lines().any(|l| {
        l.strip_prefix(job)
            .and_then(|rest| rest.trim_start().strip_prefix("│ "))
            .is_some_and(|rest| rest == text)
    })
}

/// The summary row of `job` (its name followed by spaces).
fn summary_row<'a>(stdout: &'a str, job: &str) -> &'a str {
    let table = stdout.rsplit("\nJOB ").next().unwrap_or("");
    table
        .lines()
        .find(|l| l.starts_with(job) && l[job.len()..].starts_with("  "))
        .unwrap_or_else(|| panic!("no summary row for {job}:\n{stdout}"))
}

#[test]
fn variables_pass_down_as_gitlab_passes_them() {
    let parent = "variables:
  TOP: top
child:
  variables:
    OWN: own-$TOP
  trigger:
    include: ci/child.yml
";
    let child = "show:\n  script: echo \"top=$TOP own=$OWN cli=$CLI source=$CI_PIPELINE_SOURCE\"\n";
    run_tree(parent, child, &["run", "--var", "CLI=given"])
        .success()
        .stdout_has("top=top own=own-top cli= source=parent_pipeline");
    let forwarding = parent.replace(
        "    include: ci/child.yml\n",
        "    include: ci/child.yml\n    forward:\n      yaml_variables: false\n      pipeline_variables: true\n",
    );
    run_tree(&forwarding, child, &["run", "--var", "CLI=given"])
        .success()
        .stdout_has("top= own= cli=given source=parent_pipeline");
    let no_inherit = parent.replace(
        "  trigger:\n",
        "  inherit:\n    variables: false\n  trigger:\n",
    );
    run_tree(&no_inherit, child, &["run"])
        .success()
        .stdout_has("top= own=own- cli= source=parent_pipeline");
}

#[test]
fn a_trigger_job_takes_only_the_keywords_of_a_bridge() {
    let run = run_tree(
        "child:\n  image: alpine\n  trigger:\n    include: ci/child.yml\n",
        "c:\n  script: echo c\n",
        &["lint"],
    );
    invalid(run, &["cannot have `image`"]);
    // `default:` is not inherited by a trigger job, so it is no error there.
    run_tree(
        "default:\n  image: alpine\nchild:\n  trigger:\n    include: ci/child.yml\n",
        "c:\n  script: echo c\n",
        &["lint"],
    )
    .success();
}

#[test]
fn children_nest_two_levels_and_cycles_are_refused() {
    let trigger = |file: &str| format!("t:\n  trigger:\n    include: {file}\n");
    let run = Test::new()
        .pipeline(&trigger("ci/a.yml"))
        .file("ci/a.yml", &trigger("ci/b.yml"))
        .file("ci/b.yml", &trigger("ci/c.yml"))
        .file("ci/c.yml", "c:\n  script: echo c\n")
        .args(["lint"])
        .run();
    // Reported at the trigger in b.
    invalid(run, &["nest at most 2 levels", "ci/b.yml"]);
    let run = Test::new()
        .pipeline(&trigger("ci/a.yml"))
        .file("ci/a.yml", &trigger("ci/a.yml"))
        .args(["lint"])
        .run();
    invalid(run, &["include-cycle"]);
    // Two levels run, named by their path.
    Test::new()
        .pipeline(&trigger("ci/a.yml"))
        .file("ci/a.yml", &trigger("ci/b.yml"))
        .file(
            "ci/b.yml",
            "deep:\n  script: echo deep-$CI_PIPELINE_SOURCE\n",
        )
        .args(["run"])
        .run()
        .success()
        .stdout_has("t ▸ t ▸ deep │ deep-parent_pipeline");
}

#[test]
fn a_child_job_gets_its_parents_artifacts_through_needs_pipeline() {
    let parent = "stages: [build, child]
build:
  stage: build
  script: echo made > made.txt
  artifacts:
    paths: [made.txt]
child:
  stage: child
  variables:
    PARENT_PIPELINE_ID: $CI_PIPELINE_ID
  trigger:
    include: ci/child.yml
    strategy: depend
";
    let child = "use:
  needs:
    - pipeline: $PARENT_PIPELINE_ID
      job: build
  script: cat made.txt
";
    run_tree(parent, child, &["run"])
        .success()
        .stdout_has("child ▸ use │ made");
}

#[test]
fn another_projects_pipeline_runs_from_a_mapped_checkout_or_is_skipped() {
    let parent = "up:\n  script: echo up\nother:\n  trigger:\n    project: group/other\n    strategy: depend\n    inputs:\n      who: parent\n";
    let run = Test::new()
        .pipeline(parent)
        .file(
            "../other/.gitlab-ci.yml",
            "spec:\n  inputs:\n    who:\n---\ndown:\n  script:\n    - echo down-$CI_PIPELINE_SOURCE-$[[ inputs.who ]]\n    - cat only-there.txt\n",
        )
        .file("../other/only-there.txt", "in-the-other-project")
        .args(["run"])
        .run()
        .success()
        .stdout_has("--project-dir group/other=DIR");
    let row = summary_row(&run.stdout, "other");
    assert!(row.contains("skipped"), "never a silent success: {row}");
    let run = run.again(&["run", "--strict"]);
    assert_eq!(run.code, 1, "--strict refuses: {}", run.stderr);
    has(
        &run.stderr,
        "downstream project `group/other` is not available offline",
    );
    let run = run.again(&["run", "--project-dir", "group/other=../other"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    has(&run.stdout, "other ▸ down │ down-pipeline-parent");
    // Its job runs in the other project's files.
    has(&run.stdout, "other ▸ down │ in-the-other-project");
}

#[test]
fn plan_shows_the_tree() {
    let run = run_tree(PARENT, "stages: [one]\nchild-job:\n  stage: one\n  script: echo c\nskipped-job:\n  stage: one\n  script: echo s\n  rules:\n    - if: $NOPE\n", &["plan", "--explain"])
        .success()
        .stdout_has("downstream: child pipeline, strategy: depend (1 job, source parent_pipeline)")
        .stdout_has("\n    one\n")
        .stdout_has("not added: child ▸ skipped-job");
    assert!(
        run.stdout.contains("\n      child ▸ child-job  on_success"),
        "nested under its trigger job: {}",
        run.stdout
    );
    let json = run.again(&["plan", "--format", "json"]).json();
    let jobs = json["jobs"].as_array().unwrap();
    let trigger = jobs.iter().find(|j| j["name"] == "child").unwrap();
    assert_eq!(
        trigger["downstream"]["jobs"],
        serde_json::json!(["child ▸ child-job"])
    );
    assert_eq!(trigger["downstream"]["source"], "parent_pipeline");
    let mermaid = run_tree(
        PARENT,
        "child-job:\n  script: echo c\n",
        &["plan", "--format", "mermaid"],
    )
    .success();
    has(&mermaid.stdout, "downstream of child");
}

#[test]
fn a_child_job_can_be_run_alone() {
    run_tree(
        PARENT,
        "child-job:\n  script: echo alone\nother:\n  script: echo other\n",
        &["run", "child-job"],
    )
    .success()
    .stdout_has("child ▸ child-job │ alone")
    .stdout_lacks("parent-build")
    .stdout_lacks("│ other");
}

#[test]
fn an_interrupt_reaches_the_child_and_always_jobs_of_every_level_still_run() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path().display();
    let parent = format!(
        "stages: [child, after]\nchild:\n  stage: child\n  trigger:\n    include: ci/child.yml\n    strategy: depend\n\
         parent-always:\n  stage: after\n  when: always\n  script: touch {s}/parent-always\n"
    );
    let child = format!(
        "stages: [work, cleanup]\nlong:\n  stage: work\n  script: [touch {s}/started, sleep 300]\n\
         child-always:\n  stage: cleanup\n  when: always\n  script: touch {s}/child-always\n"
    );
    let (_home, dir) = tree(&parent, &child).create();
    let gantry = crate::support::gantry_command(&dir)
        .args(["run", "--grace", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !scratch.path().join("started").exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the child's job never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: sends SIGINT to the gantry process this test spawned.
    unsafe { libc::kill(gantry.id() as i32, libc::SIGINT) };
    let out = gantry.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for marker in ["child-always", "parent-always"] {
        assert!(
            scratch.path().join(marker).exists(),
            "{marker} did not run:\n{text}"
        );
    }
    let row = summary_row(&text, "child");
    assert!(row.contains("canceled"), "{text}");
}

#[test]
fn a_dynamic_child_is_checked_when_a_local_copy_exists_and_skipped_by_run() {
    let parent = "generate:\n  stage: build\n  script: echo generating\ndynamic:\n  stage: test\n  trigger:\n    include:\n      - artifact: generated.yml\n        job: generate\n";
    let run = Test::new().pipeline(parent).args(["lint"]).run().success();
    has(&run.stdout, "is generated by `generate` during the run");
    let bad = Test::new()
        .pipeline(parent)
        .file(
            "generated.yml",
            "gen-job:\n  stage: nope\n  script: echo g\n",
        )
        .args(["lint"])
        .run();
    invalid(bad, &["generated.yml:2", "unknown-stage"]);
    let run = Test::new().pipeline(parent).args(["run"]).run().success();
    let row = summary_row(&run.stdout, "dynamic");
    assert!(row.contains("skipped"), "never a silent success: {row}");
}
