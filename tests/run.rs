//! `gantry run` end to end: real processes, real files, real signals.

use crate::support::{Test, gantry, git, repo};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs the pipeline with JSON events; returns (exit code, events).
fn run_json(dir: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["run", "--format", "json", "-j", "4", "--grace", "1"];
    args.extend_from_slice(extra);
    let (code, out, err) = gantry(dir, &args);
    let events = out
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\nstderr: {err}"))
        })
        .collect();
    (code, events)
}

fn status(events: &[Value], job: &str) -> String {
    events
        .iter()
        .find(|e| e["event"] == "job_finished" && e["job"] == job)
        .map(|e| e["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no result for {job}: {events:#?}"))
}

fn lines(events: &[Value], job: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "log" && e["job"] == job)
        .map(|e| e["line"].as_str().unwrap().to_string())
        .collect()
}

/// The number a job printed after `label=` (nanosecond timestamps from `date +%s%N`).
fn stamp(events: &[Value], job: &str, label: &str) -> u128 {
    lines(events, job)
        .iter()
        .find_map(|l| {
            l.strip_prefix(&format!("{label}="))
                .map(|n| n.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{job} printed no {label}: {:?}", lines(events, job)))
}

/// Whether `pid` is a running process; a zombie (dead, waiting to be reaped by init) is not.
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X"))
}

#[test]
fn a_job_starts_when_its_needs_finish_not_when_unrelated_jobs_do() {
    let (_t, dir) = repo(
        "app",
        "slow:\n  stage: build\n  script:\n    - sleep 2\n    - echo end=$(date +%s%N)\n\
         fast:\n  stage: build\n  script: echo end=$(date +%s%N)\n\
         after-fast:\n  stage: test\n  needs: [fast]\n  script: echo start=$(date +%s%N)\n\
         after-stage:\n  stage: test\n  script: echo start=$(date +%s%N)\n",
        "c",
    );
    let (code, ev) = run_json(&dir, &[]);
    assert_eq!(code, 0, "{ev:#?}");
    assert!(
        stamp(&ev, "after-fast", "start") < stamp(&ev, "slow", "end"),
        "after-fast waited for slow"
    );
    assert!(stamp(&ev, "after-fast", "start") > stamp(&ev, "fast", "end"));
    assert!(
        stamp(&ev, "after-stage", "start") > stamp(&ev, "slow", "end"),
        "stage order without needs"
    );
}

#[test]
fn failures_skip_later_jobs_and_allow_failure_exit_codes_decide() {
    let (_t, dir) = repo(
        "app",
        "stages: [one, two, three]\n\
         allowed:\n  stage: one\n  script: exit 3\n  allow_failure:\n    exit_codes: [3]\n\
         broken:\n  stage: one\n  script: exit 4\n  allow_failure:\n    exit_codes: [3]\n\
         next:\n  stage: two\n  script: echo never\n\
         notify:\n  stage: two\n  when: on_failure\n  script: echo notifying\n\
         cleanup:\n  stage: three\n  when: always\n  script: echo cleaning\n\
         after:\n  stage: one\n  script: [exit 1]\n  after_script: ['echo after ran with $CI_JOB_STATUS']\n  allow_failure: true\n",
        "c",
    );
    let (code, ev) = run_json(&dir, &[]);
    assert_eq!(code, 1);
    assert_eq!(status(&ev, "allowed"), "failed (allowed)");
    assert_eq!(status(&ev, "broken"), "failed");
    assert_eq!(status(&ev, "next"), "skipped");
    assert_eq!(status(&ev, "notify"), "success");
    assert_eq!(status(&ev, "cleanup"), "success");
    assert_eq!(status(&ev, "after"), "failed (allowed)");
    assert!(
        lines(&ev, "after").contains(&"after ran with failed".to_string()),
        "{:?}",
        lines(&ev, "after")
    );
    let finished = ev
        .iter()
        .find(|e| e["event"] == "pipeline_finished")
        .unwrap();
    assert_eq!(finished["status"], "failed");
}

#[test]
fn retry_reruns_failed_jobs_for_matching_exit_codes_only() {
    let counter = tempfile::tempdir().unwrap();
    let c = counter.path().display();
    let pipeline = format!(
        "flaky:\n  script:\n    - test ! -e leftover-from-last-attempt\n    - touch leftover-from-last-attempt\n    - echo x >> {c}/flaky\n    - test $(wc -l < {c}/flaky) -ge 2\n  retry: 2\n\
         wrong-code:\n  script:\n    - echo x >> {c}/wrong\n    - exit 5\n  retry:\n    max: 2\n    exit_codes: [137]\n"
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let (code, ev) = run_json(&dir, &[]);
    assert_eq!(code, 1);
    let attempts = |job: &str| {
        ev.iter()
            .find(|e| e["event"] == "job_finished" && e["job"] == job)
            .unwrap()["attempts"]
            .clone()
    };
    assert_eq!(status(&ev, "flaky"), "success");
    assert_eq!(attempts("flaky"), 2);
    assert_eq!(status(&ev, "wrong-code"), "failed");
    assert_eq!(
        attempts("wrong-code"),
        1,
        "exit code 5 is not in retry:exit_codes"
    );
}

#[test]
fn timeout_kills_the_whole_process_tree() {
    let pids = tempfile::tempdir().unwrap();
    let p = pids.path().display();
    let pipeline = format!(
        "hang:\n  timeout: 2s\n  script:\n    - (sleep 300; echo orphan) &\n    - echo $! > {p}/background\n    - echo $$ > {p}/shell\n    - sleep 300\n"
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let started = Instant::now();
    let (code, ev) = run_json(&dir, &[]);
    assert_eq!(code, 1);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the timeout did not fire"
    );
    let job = ev.iter().find(|e| e["event"] == "job_finished").unwrap();
    assert_eq!(job["status"], "failed");
    assert!(job["detail"].as_str().unwrap().contains("timed out"));
    for f in ["background", "shell"] {
        let pid: i32 = std::fs::read_to_string(pids.path().join(f))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!alive(pid), "{f} process {pid} survived the timeout");
    }
}

#[test]
fn artifacts_follow_dependencies_and_needs_and_dotenv_becomes_variables() {
    let (_t, dir) = repo(
        "app",
        "stages: [build, test]\n\
         build:\n  stage: build\n  script:\n    - mkdir -p out && echo built > out/bin.txt\n    - echo VERSION=1.2.3 > build.env\n    - echo loose > loose.txt\n  artifacts:\n    paths: [out/]\n    untracked: true\n    expire_in: 1 week\n    reports:\n      dotenv: build.env\n\
         with-needs:\n  stage: test\n  needs: [build]\n  script:\n    - cat out/bin.txt\n    - echo version=$VERSION\n\
         no-artifacts:\n  stage: test\n  needs:\n    - job: build\n      artifacts: false\n  script:\n    - test ! -e out/bin.txt\n    - echo version=[$VERSION]\n\
         no-dependencies:\n  stage: test\n  dependencies: []\n  script: test ! -e out/bin.txt\n\
         by-stage:\n  stage: test\n  script:\n    - cat out/bin.txt\n    - cat loose.txt\n",
        "c",
    );
    let out_dir = tempfile::tempdir().unwrap();
    let (code, ev) = run_json(&dir, &["--artifacts-dir", out_dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{ev:#?}");
    assert!(lines(&ev, "with-needs").contains(&"built".to_string()));
    assert!(
        lines(&ev, "with-needs").contains(&"version=1.2.3".to_string()),
        "dotenv did not arrive"
    );
    assert!(
        lines(&ev, "no-artifacts").contains(&"version=[]".to_string()),
        "dotenv travels with artifacts"
    );
    assert!(lines(&ev, "by-stage").contains(&"built".to_string()));
    assert!(
        lines(&ev, "by-stage").contains(&"loose".to_string()),
        "untracked: true keeps untracked files"
    );
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(".gantry/pipelines/1/artifacts/build.json")).unwrap(),
    )
    .unwrap();
    let lifetime = meta["expires_at"].as_u64().unwrap() - meta["created_at"].as_u64().unwrap();
    assert_eq!(lifetime, 7 * 86_400, "expire_in is recorded: {meta}");
    assert_eq!(
        std::fs::read_to_string(out_dir.path().join("build/out/bin.txt")).unwrap(),
        "built\n"
    );
}

#[test]
fn artifact_paths_that_leave_the_workspace_are_refused() {
    let ev = Test::new()
        .pipeline("leak:\n  script: echo hi\n  artifacts:\n    paths: [../../../etc/hostname]\n")
        .args(["run", "--format", "json"])
        .run()
        .code(1)
        .events();
    let job = ev.iter().find(|e| e["event"] == "job_finished").unwrap();
    assert_eq!(job["status"], "failed");
    assert!(
        job["detail"]
            .as_str()
            .unwrap()
            .contains("leaves the workspace"),
        "{job}"
    );
}

#[test]
fn caches_are_reused_across_runs() {
    let (_t, dir) = repo(
        "app",
        "deps:\n  cache:\n    key: deps-$CI_COMMIT_REF_SLUG\n    paths: [vendor/]\n  script:\n    - if [ -f vendor/lib ]; then echo cache=hit; else echo cache=miss; mkdir -p vendor; echo lib > vendor/lib; fi\n",
        "c",
    );
    let (_, first) = run_json(&dir, &[]);
    assert!(lines(&first, "deps").contains(&"cache=miss".to_string()));
    let (code, second) = run_json(&dir, &[]);
    assert_eq!(code, 0);
    assert!(
        lines(&second, "deps").contains(&"cache=hit".to_string()),
        "{:?}",
        lines(&second, "deps")
    );
    assert!(dir.join(".gantry/cache/deps-master/vendor/lib").is_file());
}

#[test]
fn masked_variables_never_reach_the_output_or_the_logs() {
    let run = Test::new()
        .pipeline(
            "leak:\n  script:\n    - echo token=$TOKEN\n    - printf '%s' \"$TOKEN\" | fold -w 3\n    - echo done\n",
        )
        .uncommitted(
            ".gantry/variables.yml",
            "TOKEN: {value: hunter2-very-secret, masked: true}\n",
        )
        .args(["run"])
        .run()
        .success()
        .stdout_has("token=[MASKED]")
        .stdout_lacks("hunter2-very-secret");
    let log = std::fs::read_to_string(run.dir.join(".gantry/pipelines/1/logs/leak.log")).unwrap();
    assert!(
        log.contains("token=[MASKED]") && !log.contains("hunter2-very-secret"),
        "{log}"
    );
}

#[test]
fn junit_report_is_well_formed_and_merges_collected_reports() {
    let (_t, dir) = repo(
        "app",
        "ok:\n  script: echo ok\nbad:\n  script: exit 2\n\
         tests:\n  script:\n    - echo '<testsuite name=\"unit\" tests=\"1\"><testcase name=\"a &amp; b\"/></testsuite>' > report.xml\n  artifacts:\n    reports:\n      junit: report.xml\n",
        "c",
    );
    let report = dir.join("junit.xml");
    let (code, _, _) = gantry(
        &dir,
        &["run", "--junit", report.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(code, 1);
    let xml = std::fs::read_to_string(&report).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut suites) = (0, 0, 0);
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed JUnit ({e}):\n{xml}"))
        {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    "testsuite" => suites += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert_eq!((suites, cases, failures), (2, 4, 1), "{xml}");
}

#[test]
fn interrupt_stops_the_running_job_still_runs_always_jobs_and_leaves_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path().display();
    let pipeline = format!(
        "stages: [work, cleanup]\n\
         long:\n  stage: work\n  script:\n    - (sleep 300) &\n    - echo $! > {s}/child\n    - sleep 300\n\
         next:\n  stage: cleanup\n  script: touch {s}/next-ran\n\
         cleanup:\n  stage: cleanup\n  when: always\n  script: touch {s}/cleanup-ran\n"
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["run", "--grace", "1"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !scratch.path().join("child").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: sends SIGINT to the gantry process we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        scratch.path().join("cleanup-ran").exists(),
        "the when: always job did not run:\n{text}"
    );
    assert!(
        !scratch.path().join("next-ran").exists(),
        "an on_success job ran after the interrupt"
    );
    let pid: i32 = std::fs::read_to_string(scratch.path().join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "the job's background process survived");
    assert!(text.contains("interrupt: stopping running jobs"), "{text}");
    assert!(text.contains("canceled"), "{text}");
    assert!(
        !dir.join(".gantry/pipelines/1/jobs").exists(),
        "workspaces were left behind"
    );
}

#[test]
fn quickstart_runs_green_with_one_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("pipelines/quickstart.gitlab-ci.yml")).unwrap();
    let (_t, dir) = repo("quick", &text, "c");
    let (code, out, err) = gantry(&dir, &["run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pipeline success"), "{out}");
    git(&dir, &["status", "--short"]);
}

#[test]
fn image_jobs_without_a_docker_engine_fail_clearly_unless_run_in_the_shell() {
    let (_t, dir) = repo(
        "app",
        "job:\n  image: alpine:3.20\n  script: echo in-the-shell\n",
        "c",
    );
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
            .arg("run")
            .args(extra)
            .current_dir(&dir)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot reach a Docker engine"), "{err}");
    assert!(
        err.contains("1 job use an image (job)") && err.contains("--executor shell"),
        "{err}"
    );
    let (code, out, err) = run(&["--executor", "shell"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("job │ in-the-shell"), "{out}");
}

#[test]
fn workspaces_are_git_checkouts_of_the_pipeline_commit_and_never_reach_the_users_repository() {
    let (_t, dir) = repo(
        "app",
        "version:\n  script:\n    - git describe --tags\n    - echo head=$(git rev-parse HEAD)\n    - git status --short\n\
         no-checkout:\n  variables:\n    GIT_STRATEGY: none\n  script:\n    - test ! -e .gitlab-ci.yml\n    - if git rev-parse --git-dir 2>/dev/null; then echo found-a-repository; exit 1; fi\n",
        "c",
    );
    git(&dir, &["tag", "v1.4.0"]);
    std::fs::write(dir.join("notes.txt"), "uncommitted\n").unwrap();
    git(&dir, &["add", "notes.txt"]);
    let sha = git(&dir, &["rev-parse", "HEAD"]);
    let (code, ev) = run_json(&dir, &[]);
    assert_eq!(code, 0, "{ev:#?}");
    let out = lines(&ev, "version");
    assert!(out.contains(&"v1.4.0".to_string()), "{out:?}");
    assert!(out.contains(&format!("head={sha}")), "{out:?}");
    assert!(
        out.contains(&"A  notes.txt".to_string()) || out.iter().any(|l| l.ends_with("notes.txt")),
        "{out:?}"
    );
    assert_eq!(status(&ev, "no-checkout"), "success");
    assert_eq!(
        git(&dir, &["status", "--short"]),
        "A  notes.txt",
        "the user's repository is untouched"
    );
}

#[test]
fn resource_groups_run_one_job_at_a_time_and_manual_jobs_wait_for_manual() {
    let pipeline = "deploy-a:\n  resource_group: production\n  script:\n    - echo start=$(date +%s%N)\n    - sleep 1\n    - echo end=$(date +%s%N)\n\
                    deploy-b:\n  resource_group: production\n  script:\n    - echo start=$(date +%s%N)\n    - sleep 1\n    - echo end=$(date +%s%N)\n\
                    release:\n  when: manual\n  script: echo releasing\n";
    let (_t, dir) = repo("app", pipeline, "c");
    let (code, ev) = run_json(&dir, &[]);
    assert_eq!(code, 0);
    let (a0, a1) = (
        stamp(&ev, "deploy-a", "start"),
        stamp(&ev, "deploy-a", "end"),
    );
    let (b0, b1) = (
        stamp(&ev, "deploy-b", "start"),
        stamp(&ev, "deploy-b", "end"),
    );
    assert!(
        a1 <= b0 || b1 <= a0,
        "jobs of one resource group overlapped"
    );
    assert_eq!(status(&ev, "release"), "manual");
    let (code, ev) = run_json(&dir, &["--manual", "release", "release"]);
    assert_eq!(code, 0);
    assert_eq!(status(&ev, "release"), "success");
    assert!(lines(&ev, "release").contains(&"releasing".to_string()));
}
