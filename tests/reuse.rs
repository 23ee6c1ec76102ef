//! `gantry run --reuse` and `gantry plan --reuse` through the CLI, shell executor: which jobs a
//! change re-runs, what reused jobs hand on (artifacts, dotenv), secrets never in the store,
//! jobs never reused, corrupt entries never used. Docker and Kubernetes executors: see
//! tests/docker.rs and tests/kube_executor.rs.

use crate::support::checks::json_lines;
use crate::support::{Test, gantry, repo};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const PIPELINE: &str = "stages: [build, test]
compile:
  stage: build
  script:
    - mkdir -p out
    - cat src/main.c > out/bin
    - echo \"VERSION=v-$(wc -c < src/main.c)\" > build.env
    - echo compiled
  artifacts:
    paths: [out/]
    reports:
      dotenv: build.env
docs:
  stage: build
  script:
    - cat docs/guide.md
lint:
  stage: build
  script:
    - echo linting
unit:
  stage: test
  needs: [compile]
  script:
    - cat out/bin
    - echo version=$VERSION
    - sh tests/t.sh
";

const CONFIG: &str = "[jobs.compile]
inputs = [\"src/**\"]
[jobs.docs]
inputs = [\"docs/**\"]
[jobs.unit]
inputs = [\"tests/**\"]
";

fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = repo("app", PIPELINE, "init");
    for (p, c) in [
        ("src/main.c", "int main() { return 0; }\n"),
        ("docs/guide.md", "# guide\n"),
        ("tests/t.sh", "echo tests-ran\n"),
        ("README.md", "readme\n"),
    ] {
        std::fs::create_dir_all(dir.join(p).parent().unwrap()).unwrap();
        std::fs::write(dir.join(p), c).unwrap();
    }
    crate::support::git(&dir, &["add", "."]);
    crate::support::git(&dir, &["commit", "-q", "-m", "files"]);
    std::fs::create_dir_all(dir.join(".gantry")).unwrap();
    std::fs::write(dir.join(".gantry/config.toml"), CONFIG).unwrap();
    (t, dir)
}

/// Exit code, job → status, job → log lines, all events.
type Outcome = (
    i32,
    BTreeMap<String, String>,
    BTreeMap<String, Vec<String>>,
    Vec<Value>,
);

/// `gantry run ARGS --format json`: exit code, job → status, job → log lines, all events.
fn run(dir: &Path, args: &[&str]) -> Outcome {
    let mut all = vec!["run", "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = gantry(dir, &all);
    let events = json_lines(&out);
    let mut status = BTreeMap::new();
    let mut logs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &events {
        let job = e["job"].as_str().unwrap_or_default().to_string();
        match e["event"].as_str() {
            Some("job_finished") => {
                status.insert(job, e["status"].as_str().unwrap_or_default().to_string());
            }
            Some("log") => logs
                .entry(job)
                .or_default()
                .push(e["line"].as_str().unwrap_or_default().to_string()),
            _ => {}
        }
    }
    assert!(!status.is_empty(), "no job events: {out}\n{err}");
    (code, status, logs, events)
}

fn statuses(s: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn a_changed_file_reruns_exactly_the_jobs_whose_inputs_include_it_and_those_after_them() {
    let (_t, dir) = project();
    let (code, s, _, _) = run(&dir, &["--reuse"]);
    assert_eq!(code, 0);
    assert!(s.values().all(|v| v == "success"), "{s:?}");

    // Unchanged: everything is reused, logs replayed and marked, outputs handed on.
    let (code, s, logs, events) = run(&dir, &["--reuse"]);
    assert_eq!(code, 0);
    assert!(s.values().all(|v| v == "reused"), "{s:?}");
    assert!(logs["compile"].iter().any(|l| l == "compiled"), "{logs:?}");
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "job_finished")
            .all(|e| e["reused"] == true && e["reused_from"]["date"].is_string()),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "log")
            .all(|e| e["reused"] == true)
    );

    // A README edit (uncommitted) touches only the job that sees the whole workspace.
    std::fs::write(dir.join("README.md"), "readme, edited\n").unwrap();
    let (_, s, _, _) = run(&dir, &["--reuse"]);
    assert_eq!(
        statuses(&s),
        [
            ("compile", "reused"),
            ("docs", "reused"),
            ("lint", "success"),
            ("unit", "reused")
        ]
    );

    // A test file: the test job runs, with the reused compile's artifacts and dotenv (and
    // lint, which sees every file).
    std::fs::write(dir.join("tests/t.sh"), "echo tests-ran-again\n").unwrap();
    let (code, s, logs, _) = run(&dir, &["--reuse"]);
    assert_eq!(code, 0, "{logs:?}");
    assert_eq!(
        statuses(&s),
        [
            ("compile", "reused"),
            ("docs", "reused"),
            ("lint", "success"),
            ("unit", "success")
        ]
    );
    let unit = &logs["unit"];
    assert!(
        unit.iter().any(|l| l == "int main() { return 0; }"),
        "{unit:?}"
    );
    assert!(unit.iter().any(|l| l == "version=v-25"), "{unit:?}");
    assert!(unit.iter().any(|l| l == "tests-ran-again"), "{unit:?}");

    // A source file: compile runs, and so does the job after it; plan said so beforehand.
    std::fs::write(dir.join("src/main.c"), "int main() { return 1; }\n").unwrap();
    let (code, plan, err) = gantry(&dir, &["plan", "--reuse"]);
    assert_eq!(code, 0, "{err}");
    let line = |job: &str| {
        plan.lines()
            .find(|l| l.starts_with(&format!("{job} ")))
            .unwrap_or_else(|| panic!("{job} in {plan}"))
            .to_string()
    };
    assert!(
        line("compile").contains("runs") && line("compile").contains("files (src/main.c)"),
        "{plan}"
    );
    assert!(
        line("unit").contains("runs") && line("unit").contains("needs `compile`"),
        "{plan}"
    );
    assert!(line("docs").contains("reused"), "{plan}");
    assert!(line("lint").contains("files (src/main.c)"), "{plan}");
    let (_, s, logs, _) = run(&dir, &["--reuse"]);
    assert_eq!(
        statuses(&s),
        [
            ("compile", "success"),
            ("docs", "reused"),
            ("lint", "success"),
            ("unit", "success")
        ]
    );
    assert!(logs["unit"].iter().any(|l| l == "int main() { return 1; }"));

    // Without --reuse every job runs, as GitLab would run it.
    let (_, s, _, _) = run(&dir, &[]);
    assert!(s.values().all(|v| v == "success"), "{s:?}");
    // `reuse = true` in the config is the same as --reuse.
    std::fs::write(
        dir.join(".gantry/config.toml"),
        format!("reuse = true\n{CONFIG}"),
    )
    .unwrap();
    let (_, s, _, _) = run(&dir, &[]);
    assert!(s.values().all(|v| v == "reused"), "{s:?}");
}

#[test]
fn a_changed_secret_reruns_without_the_secret_reaching_the_store() {
    let (_t, dir) = repo(
        "app",
        "leak:\n  script:\n    - echo token=$TOKEN\n    - mkdir -p out && echo built > out/x\n  artifacts:\n    paths: [out/]\n",
        "c",
    );
    std::fs::create_dir(dir.join(".gantry")).unwrap();
    let secret = |v: &str| {
        std::fs::write(
            dir.join(".gantry/variables.yml"),
            format!("TOKEN: {{value: {v}, masked: true}}\n"),
        )
        .unwrap();
    };
    secret("hunter2-very-secret");
    assert_eq!(run(&dir, &["--reuse"]).1["leak"], "success");
    let (_, s, logs, _) = run(&dir, &["--reuse"]);
    assert_eq!(s["leak"], "reused");
    assert!(
        logs["leak"].contains(&"token=[MASKED]".to_string()),
        "{logs:?}"
    );
    secret("correct-horse-battery");
    let (_, s, logs, _) = run(&dir, &["--reuse"]);
    assert_eq!(s["leak"], "success");
    assert!(logs["leak"].contains(&"token=[MASKED]".to_string()));
    let (_, plan, _) = gantry(&dir, &["plan", "--reuse"]);
    assert!(plan.contains("leak") && plan.contains("reused"), "{plan}");
    for secret in ["hunter2-very-secret", "correct-horse-battery"] {
        let read = crate::support::assert_nowhere_under(&dir.join(".gantry/reuse"), secret);
        assert!(read > 3, "the store holds files: {read}");
    }
}

#[test]
fn failed_manual_deploying_and_opted_out_jobs_are_never_reused_and_plan_says_why() {
    let (_t, dir) = Test::new()
        .pipeline(
            "ok:\n  script: [echo ok]\n\
             flaky:\n  script: [exit 3]\n  allow_failure: true\n\
             deploy:\n  script: [echo deploy]\n  environment: production\n\
             button:\n  script: [echo pressed]\n  when: manual\n\
             own:\n  script: [echo own]\n",
        )
        .uncommitted(".gantry/config.toml", "[jobs.own]\nreuse = false\n")
        .create();
    for _ in 0..2 {
        run(&dir, &["--reuse", "--manual", "button"]);
    }
    let (_, s, _, _) = run(&dir, &["--reuse", "--manual", "button"]);
    assert_eq!(
        statuses(&s),
        [
            ("button", "success"),
            ("deploy", "success"),
            ("flaky", "failed (allowed)"),
            ("ok", "reused"),
            ("own", "success")
        ]
    );
    let (_, plan, _) = gantry(&dir, &["plan", "--reuse"]);
    let has = |job: &str, why: &str| plan.lines().any(|l| l.starts_with(job) && l.contains(why));
    assert!(has("ok", "reused"), "{plan}");
    assert!(has("flaky", "no earlier successful run"), "{plan}");
    assert!(has("deploy", "deployments are never reused"), "{plan}");
    assert!(has("button", "manual jobs are never reused"), "{plan}");
    assert!(has("own", "`reuse = false`"), "{plan}");
}

#[test]
fn a_corrupt_entry_is_never_used_and_the_job_runs_again() {
    let (_t, dir) = repo(
        "app",
        "make:\n  script: [mkdir -p out, echo good > out/x]\n  artifacts:\n    paths: [out/]\n\
         use:\n  needs: [make]\n  script: [cat out/x]\n",
        "c",
    );
    run(&dir, &["--reuse"]);
    // Same length, other content: only the digest check can tell.
    let entries = dir.join(".gantry/reuse/entries");
    let mut tampered = 0;
    for e in std::fs::read_dir(&entries).unwrap().flatten() {
        let x = e.path().join("artifacts/out/x");
        if x.is_file() {
            std::fs::write(&x, "evil\n").unwrap();
            tampered += 1;
        }
    }
    assert_eq!(tampered, 1);
    let (code, s, logs, events) = run(&dir, &["--reuse"]);
    assert_eq!(code, 0);
    assert_eq!(s["make"], "success", "{events:?}");
    assert!(events.iter().any(
        |e| e["event"] == "note" && e["text"].as_str().unwrap_or_default().contains("corrupt")
    ));
    assert!(logs["use"].contains(&"good".to_string()), "{logs:?}");
    assert!(!logs["use"].contains(&"evil".to_string()));
    // gc prunes to the bound: a store of 0 bytes keeps nothing.
    std::fs::write(
        dir.join(".gantry/config.toml"),
        "[reuse_store]\nmax_size = 0\n",
    )
    .unwrap();
    let (code, out, _) = gantry(&dir, &["gc"]);
    assert_eq!(code, 0);
    assert!(out.contains("reuse entry"), "{out}");
    let left = std::fs::read_dir(&entries).unwrap().count();
    assert_eq!(left, 0);
}
