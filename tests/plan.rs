//! `gantry plan` against real git repositories made in temporary directories.

use crate::support::{gantry, git, job_names as names, plan_json, repo};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn fixture(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = if name.starts_with("pipelines/") {
        root.join(name)
    } else {
        root.join("tests/fixtures/plan").join(name)
    };
    std::fs::read_to_string(path).unwrap()
}

fn job<'a>(plan: &'a Value, name: &str) -> &'a Value {
    crate::support::member(&plan["jobs"], "name", name)
}

#[test]
fn seed_pipeline_plans_in_order_with_always_cleanup_and_expanded_namespace() {
    let (_tmp, dir) = repo(
        "myproject",
        &fixture("pipelines/dynamic-environments.gitlab-ci.yml"),
        "initial",
    );
    let sha = git(&dir, &["rev-parse", "HEAD"]);
    let plan = plan_json(&dir, &[]);
    assert_eq!(names(&plan), ["build", "deploy", "test", "cleanup"]);
    assert_eq!(
        plan["stages"],
        serde_json::json!(["build", "deploy", "test", "cleanup"])
    );
    assert_eq!(job(&plan, "cleanup")["when"], "always");
    assert_eq!(
        job(&plan, "test")["waits_for"],
        serde_json::json!(["build", "deploy"])
    );
    assert_eq!(job(&plan, "build")["executor"], "docker");
    assert_eq!(job(&plan, "deploy")["environment"]["name"], "test-for-ci");
    let (code, script, err) = gantry(&dir, &["plan", "--show-script", "deploy"]);
    assert_eq!(code, 0, "{err}");
    // Issue 9: NAMESPACE is the prepared namespace (KUBE_NAMESPACE, set at run time with a
    // cluster); plan names it.
    let short = &sha[..8];
    assert_eq!(
        job(&plan, "deploy")["environment"]["kube_namespace"],
        // The pipeline's IID ends it, so two runs of one commit never share a namespace.
        format!("myproject-master-{short}-1")
    );
    assert!(
        script.contains(&format!("\nCI_BUILD_REF={sha}\n")),
        "{script}"
    );
    assert!(script.contains("\nCI_BUILD_REF_NAME=master\n"), "{script}");
    assert!(script.contains("\nCI_JOB_TOKEN='[MASKED]'\n"), "{script}");
    assert!(
        script.contains("/configureCluster.sh $KUBE_CA_PEM_FILE $KUBE_URL $KUBE_TOKEN\n"),
        "{script}"
    );
    assert!(
        script.contains("\nkubectl apply --namespace $NAMESPACE -f .generated/deals.yaml\n"),
        "{script}"
    );
    assert!(
        !script.contains("glcbt-"),
        "a masked token leaked: {script}"
    );
}

#[test]
fn branch_tag_and_merge_request_get_different_job_sets() {
    let (_tmp, dir) = repo("app", &fixture("sources.yml"), "feature work");
    git(&dir, &["tag", "v1.0.0"]);
    git(&dir, &["checkout", "-q", "-b", "feature/login"]);

    let branch = plan_json(&dir, &[]);
    assert_eq!(branch["pipeline"]["kind"], "branch");
    assert_eq!(branch["pipeline"]["ref"], "feature/login");
    assert_eq!(
        names(&branch),
        [
            "build",
            "unit",
            "legacy-branches",
            "legacy-default",
            "except-tags"
        ]
    );

    let main = plan_json(&dir, &["--ref", "master"]);
    assert_eq!(
        names(&main),
        [
            "build",
            "unit",
            "legacy-branches",
            "legacy-default",
            "except-tags",
            "deploy-main"
        ]
    );

    let tag = plan_json(&dir, &["--ref", "v1.0.0"]);
    assert_eq!(tag["pipeline"]["kind"], "tag");
    assert_eq!(names(&tag), ["build", "legacy-default", "release"]);
    assert_eq!(job(&tag, "release")["when"], "manual");
    assert_eq!(
        job(&tag, "release")["allow_failure"],
        false,
        "a manual job from rules blocks"
    );

    let mr = plan_json(&dir, &["--source", "merge_request_event"]);
    assert_eq!(mr["pipeline"]["kind"], "merge_request");
    assert_eq!(names(&mr), ["build", "unit", "mr-only-lint"]);

    let (_, explained, _) = gantry(
        &dir,
        &["plan", "--source", "merge_request_event", "--explain"],
    );
    assert!(explained.contains("legacy-default (test): without `rules` or `only`, jobs are not added to merge request pipelines"), "{explained}");
    assert!(
        explained.contains(
            "Workflow: workflow rule 2 matched (if: $CI_PIPELINE_SOURCE == \"merge_request_event\")"
        ),
        "{explained}"
    );
}

#[test]
fn workflow_rules_can_stop_the_pipeline_and_set_variables() {
    let (_tmp, dir) = repo("app", &fixture("sources.yml"), "docs only [no ci]");
    let (code, out, _) = gantry(&dir, &["plan"]);
    assert_eq!(code, 0);
    assert!(out.contains("Workflow: workflow: rule 1 matched (if: $CI_COMMIT_MESSAGE =~ /\\[no ci\\]/) with `when: never`, so no pipeline is created"), "{out}");

    let (_tmp2, dir2) = repo("app", &fixture("sources.yml"), "normal");
    let (_, script, _) = gantry(&dir2, &["plan", "--show-script", "build"]);
    assert!(
        script.contains("\nPIPELINE_KIND=branch\n"),
        "workflow variables beat top-level ones: {script}"
    );
    let (_, script, _) = gantry(
        &dir2,
        &[
            "plan",
            "--show-script",
            "build",
            "--var",
            "PIPELINE_KIND=cli",
        ],
    );
    assert!(script.contains("\nPIPELINE_KIND=cli\n"), "{script}");
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["plan", "--show-script", "build"])
        .current_dir(&dir2)
        .env("GANTRY_VAR_PIPELINE_KIND", "from-env")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nPIPELINE_KIND=from-env\n"));
}

#[test]
fn matrix_instances_rules_and_needs_resolve_to_concrete_jobs() {
    let (_tmp, dir) = repo("app", &fixture("matrix.yml"), "matrix");
    let plan = plan_json(&dir, &[]);
    assert_eq!(
        names(&plan),
        [
            "build: [linux, amd64]",
            "build: [linux, arm64]",
            "build: [macos, amd64]",
            "build: [macos, arm64]",
            "shard 1/3",
            "shard 2/3",
            "shard 3/3",
            "report",
            "deploy: [linux]",
            "deploy: [macos]"
        ]
    );
    let deploy: Vec<&str> = job(&plan, "deploy: [macos]")["waits_for"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        deploy,
        ["build: [macos, amd64]"],
        "$[[ matrix.OS ]] takes the job's own value"
    );
    assert_eq!(job(&plan, "build: [macos, arm64]")["when"], "manual");
    let needs: Vec<&str> = job(&plan, "shard 2/3")["waits_for"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(needs, ["build: [linux, amd64]", "build: [linux, arm64]"]);
    let report: Vec<&str> = job(&plan, "report")["waits_for"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(report, ["shard 1/3", "shard 2/3", "shard 3/3"]);
    let (_, script, _) = gantry(&dir, &["plan", "--show-script", "shard 2/3"]);
    assert!(
        script.contains("\nCI_NODE_INDEX=2\n") && script.contains("\nCI_NODE_TOTAL=3\n"),
        "{script}"
    );
    let (_, script, _) = gantry(&dir, &["plan", "--show-script", "build: [macos, amd64]"]);
    assert!(
        script.contains("\nOS=macos\n")
            && script.contains("\nCI_JOB_NAME='build: [macos, amd64]'\n"),
        "{script}"
    );
}

#[test]
fn selecting_jobs_with_their_needs() {
    let (_tmp, dir) = repo("app", &fixture("matrix.yml"), "matrix");
    let plan = plan_json(&dir, &["report", "--needs"]);
    assert_eq!(
        names(&plan),
        [
            "build: [linux, amd64]",
            "build: [linux, arm64]",
            "shard 1/3",
            "shard 2/3",
            "shard 3/3",
            "report"
        ]
    );
    let only = plan_json(&dir, &["report"]);
    assert_eq!(names(&only), ["report"]);
    assert_eq!(job(&only, "report")["waits_for"], serde_json::json!([]));
    let (code, _, err) = gantry(&dir, &["plan", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("job `nope` is not in this pipeline"), "{err}");
}

#[test]
fn needing_a_job_that_rules_left_out_is_an_error() {
    let text = "a:\n  script: x\n  rules:\n    - if: $NEVER\nb:\n  needs: [a]\n  script: y\n";
    let (_tmp, dir) = repo("app", text, "c");
    let (code, out, _) = gantry(&dir, &["plan"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "error: .gitlab-ci.yml:6:11: `b` needs `a`, which is not in this pipeline (none of its 1 rules matched)"
        ),
        "{out}"
    );
}

#[test]
fn diagram_formats_draw_the_edges() {
    let (_tmp, dir) = repo("app", &fixture("matrix.yml"), "matrix");
    let (_, mermaid, _) = gantry(&dir, &["plan", "--format", "mermaid"]);
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert_eq!(mermaid.matches(" --> ").count(), 3 * 2 + 3 + 2, "{mermaid}");
    let (_, dot, _) = gantry(&dir, &["plan", "--format", "dot"]);
    assert!(dot.contains("\"shard 3/3\" -> \"report\";"), "{dot}");
    assert!(
        dot.contains(
            "\"build: [macos, arm64]\" [label=\"build: [macos, arm64]\\nmanual\", style=dashed];"
        ),
        "{dot}"
    );
}

#[test]
fn rules_changes_and_exists_use_the_repository() {
    let text = "docs:\n  script: x\n  rules:\n    - changes: [docs/**/*]\ncode:\n  script: y\n  rules:\n    - changes: [src/*.rs]\nhas-dockerfile:\n  script: z\n  rules:\n    - exists: [Dockerfile]\nno-makefile:\n  script: z\n  rules:\n    - exists: [Makefile]\n";
    let (_tmp, dir) = repo("app", text, "base");
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "dockerfile"]);
    std::fs::create_dir_all(dir.join("docs/guide")).unwrap();
    std::fs::write(dir.join("docs/guide/intro.md"), "hi\n").unwrap();
    let plan = plan_json(&dir, &["--changes-base", "HEAD"]);
    assert_eq!(names(&plan), ["docs", "has-dockerfile"]);
    let (_, explained, _) = gantry(&dir, &["plan", "--changes-base", "HEAD", "--explain"]);
    assert!(
        explained.contains("changes: `docs/guide/intro.md` changed since HEAD"),
        "{explained}"
    );
    // With no base to compare with (a new branch), GitLab treats `changes` as true.
    let all = plan_json(&dir, &[]);
    assert_eq!(names(&all), ["docs", "code", "has-dockerfile"]);
}

#[test]
fn outside_git_and_without_commits_still_plan() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join(".gitlab-ci.yml"),
        "job:\n  script: echo $CI_COMMIT_SHORT_SHA\n",
    )
    .unwrap();
    let plan = plan_json(tmp.path(), &[]);
    assert_eq!(names(&plan), ["job"]);
    assert_eq!(
        plan["pipeline"]["sha"],
        "0000000000000000000000000000000000000000"
    );
    git(tmp.path(), &["init", "-q"]);
    let unborn = plan_json(tmp.path(), &[]);
    assert_eq!(unborn["pipeline"]["ref"], "master");
    assert_eq!(unborn["pipeline"]["kind"], "branch");
}

#[test]
fn project_variables_file_masks_and_overrides() {
    let text =
        "variables:\n  TOKEN: from-pipeline\njob:\n  variables:\n    LEVEL: job\n  script: echo\n";
    let (_tmp, dir) = repo("app", text, "c");
    std::fs::create_dir(dir.join(".gantry")).unwrap();
    std::fs::write(dir.join(".gantry/variables.yml"), "TOKEN: {value: super-secret-value, masked: true}\nLEVEL: project\nCA: {value: pem, file: true}\n").unwrap();
    let (code, script, err) = gantry(&dir, &["plan", "--show-script", "job"]);
    assert_eq!(code, 0, "{err}");
    assert!(script.contains("\nTOKEN='[MASKED]'\n"), "{script}");
    assert!(!script.contains("super-secret-value"));
    assert!(
        script.contains("\nLEVEL=project\n"),
        "project settings beat job variables: {script}"
    );
    assert!(script.contains("\nCA=pem (file)\n"), "{script}");
}

#[test]
fn predefined_variables_come_from_the_repository() {
    let (_tmp, dir) = repo(
        "app",
        "job:\n  script: echo\n",
        "Fix the thing\n\nLonger description.",
    );
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            "git@gitlab.example.com:Group/Sub/My.Project.git",
        ],
    );
    git(&dir, &["checkout", "-q", "-b", "Feature/ABC--x_y"]);
    let sha = git(&dir, &["rev-parse", "HEAD"]);
    let (code, env, err) = gantry(&dir, &["plan", "--show-script", "job"]);
    assert_eq!(code, 0, "{err}");
    let get = |name: &str| -> String {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing:\n{env}"))
            .trim_matches('\'')
            .to_string()
    };
    assert_eq!(get("CI_COMMIT_SHA"), sha);
    assert_eq!(get("CI_COMMIT_SHORT_SHA"), &sha[..8]);
    assert_eq!(get("CI_COMMIT_REF_NAME"), "Feature/ABC--x_y");
    assert_eq!(
        get("CI_COMMIT_REF_SLUG"),
        "feature-abc--x-y",
        "runs of - are not collapsed"
    );
    assert_eq!(get("CI_COMMIT_BRANCH"), "Feature/ABC--x_y");
    assert!(
        !env.contains("\nCI_COMMIT_TAG="),
        "no tag in a branch pipeline"
    );
    assert_eq!(get("CI_COMMIT_TITLE"), "Fix the thing");
    assert_eq!(get("CI_COMMIT_AUTHOR"), "Test User <test@example.com>");
    assert_eq!(get("CI_DEFAULT_BRANCH"), "master");
    assert_eq!(get("CI_PROJECT_PATH"), "Group/Sub/My.Project");
    assert_eq!(get("CI_PROJECT_NAMESPACE"), "Group/Sub");
    assert_eq!(get("CI_PROJECT_NAME"), "My.Project");
    assert_eq!(get("CI_PROJECT_PATH_SLUG"), "group-sub-my-project");
    assert_eq!(get("CI_SERVER_HOST"), "gitlab.example.com");
    assert_eq!(
        get("CI_PROJECT_URL"),
        "https://gitlab.example.com/Group/Sub/My.Project"
    );
    assert_eq!(
        get("CI_REGISTRY_IMAGE"),
        "registry.gitlab.example.com/group/sub/my.project"
    );
    assert_eq!(get("CI_PIPELINE_SOURCE"), "push");
    assert_eq!(get("CI_JOB_NAME"), "job");
    assert_eq!(get("CI_BUILD_REF_SLUG"), "feature-abc--x-y");
    assert_eq!(
        get("CI_PROJECT_DIR"),
        dir.canonicalize().unwrap().display().to_string()
    );

    let (_, mr, _) = gantry(
        &dir,
        &[
            "plan",
            "--show-script",
            "job",
            "--source",
            "merge_request_event",
        ],
    );
    // A job without rules is not in merge request pipelines at all.
    assert!(mr.is_empty());
    let (_tmp2, dir2) = repo(
        "app",
        "job:\n  script: echo\n  rules: [{when: always}]\n",
        "c",
    );
    git(&dir2, &["checkout", "-q", "-b", "topic"]);
    let (_, mr, _) = gantry(
        &dir2,
        &[
            "plan",
            "--show-script",
            "job",
            "--source",
            "merge_request_event",
        ],
    );
    assert!(
        mr.contains("\nCI_MERGE_REQUEST_SOURCE_BRANCH_NAME=topic\n"),
        "{mr}"
    );
    assert!(
        mr.contains("\nCI_MERGE_REQUEST_TARGET_BRANCH_NAME=master\n"),
        "{mr}"
    );
    assert!(
        !mr.contains("\nCI_COMMIT_BRANCH="),
        "CI_COMMIT_BRANCH is unset in merge request pipelines: {mr}"
    );
}

#[test]
fn detached_head_at_a_tag_is_a_tag_pipeline() {
    let (_tmp, dir) = repo("app", "job:\n  script: echo\n", "c");
    git(&dir, &["tag", "v2.0.0"]);
    git(&dir, &["checkout", "-q", "--detach", "HEAD"]);
    let plan = plan_json(&dir, &[]);
    assert_eq!(plan["pipeline"]["kind"], "tag");
    assert_eq!(plan["pipeline"]["ref"], "v2.0.0");
    std::fs::write(dir.join("x"), "x").unwrap();
    git(&dir, &["add", "x"]);
    git(&dir, &["commit", "-q", "-m", "untagged"]);
    let plan = plan_json(&dir, &[]);
    assert_eq!(plan["pipeline"]["kind"], "branch");
    let sha = git(&dir, &["rev-parse", "HEAD"]);
    assert_eq!(
        plan["pipeline"]["ref"],
        &sha[..8],
        "a detached, untagged HEAD plans for its short SHA"
    );
}

#[test]
fn lint_warnings_are_shown_when_planning() {
    let (_t, dir) = repo(
        "app",
        "include:\n  - remote: https://example.com/ci.yml\njob:\n  script: echo\n",
        "c",
    );
    let (code, out, err) = gantry(&dir, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(".gitlab-ci.yml:2:13: warning[include-offline]: remote include"),
        "{err}"
    );
    assert!(out.contains("1 job in 1 stage"), "{out}");
}

#[test]
fn include_rules_decide_which_files_a_pipeline_gets() {
    let main = "include:\n  - local: ci/tags.yml\n    rules:\n      - if: $CI_COMMIT_TAG\n  - local: ci/docker.yml\n    rules:\n      - exists: [Dockerfile]\n  - local: ci/never.yml\n    rules:\n      - if: $CI_COMMIT_BRANCH\n        when: never\n      - when: always\nbuild:\n  script: make\n";
    let (_t, dir) = repo("app", main, "c");
    std::fs::create_dir(dir.join("ci")).unwrap();
    for (f, job) in [
        ("tags", "release"),
        ("docker", "container"),
        ("never", "skipped"),
    ] {
        std::fs::write(
            dir.join(format!("ci/{f}.yml")),
            format!("{job}:\n  script: echo {job}\n  rules: [{{when: always}}]\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "ci"]);
    git(&dir, &["tag", "v1.0.0"]);
    assert_eq!(
        names(&plan_json(&dir, &[])),
        ["container", "build"],
        "branch pipeline"
    );
    assert_eq!(
        names(&plan_json(&dir, &["--ref", "v1.0.0"])),
        ["release", "container", "skipped", "build"],
        "tag pipeline"
    );
    // lint checks every included file whatever the rules say.
    let (code, out, _) = gantry(&dir, &["lint"]);
    assert_eq!(code, 0);
    assert!(out.contains("is valid: 4 jobs"), "{out}");
}
