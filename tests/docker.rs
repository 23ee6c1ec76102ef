//! The Docker executor against a real engine. Without one these tests skip with a notice; with
//! GANTRY_REQUIRE_DOCKER=1 (CI) a missing engine fails them. Test images are built locally from
//! Debian's static busybox — no registry is needed. Tests run one at a time: each asserts that
//! no gantry-labelled container or network is left on the engine afterwards.

use crate::support::checks::{assert_in_order, assert_printed, json_lines};
use crate::support::images::{self, BUSYBOX, DOCKER_CLI};
use crate::support::workspace::{DIRTY, lines, listing, project};
use crate::support::{Test, docker, gantry, gate, repo};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The test images, built; `false` (after the run's notice) when there is no engine.
fn engine() -> bool {
    if !gate::docker() {
        return false;
    }
    images::busybox();
    images::docker_cli();
    true
}

/// gantry-labelled containers and networks on the engine, a line each: the name, then what the
/// Go template `more` says of it.
fn labelled(more: &str) -> Vec<String> {
    let list = |command: &[&str], name: &str| {
        let format = format!("{{{{.{name}}}}}{more}");
        let mut args = command.to_vec();
        args.extend([
            "--filter",
            "label=gantry.pipeline",
            "--format",
            format.as_str(),
        ]);
        docker(&args).1
    };
    let containers = list(&["ps", "-a"], "Names");
    let networks = list(&["network", "ls"], "Name");
    containers
        .lines()
        .chain(networks.lines())
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// gantry-labelled containers and networks on the engine.
fn leftovers() -> Vec<String> {
    labelled("")
}

/// The engine, this test alone on it (a test here that reaps — gc, a restart — removes what a
/// run beside it still uses), tolerating leftovers of earlier runs; returns without an engine.
macro_rules! require_engine_tolerant {
    () => {
        let _alone = gate::DOCKER.alone();
        if !engine() {
            return;
        }
    };
}

/// Like `require_engine_tolerant!`, and nothing of gantry's is on the engine before the test.
macro_rules! require_engine {
    () => {
        require_engine_tolerant!();
        assert_eq!(
            leftovers(),
            Vec::<String>::new(),
            "leftovers before the test"
        );
    };
}

#[test]
fn container_jobs_share_artifacts_and_reach_services_by_alias() {
    require_engine!();
    let pipeline = format!(
        "stages: [build, test]\n\
         build:\n  stage: build\n  image: {BUSYBOX}\n  script:\n    - test -f .gitlab-ci.yml\n    - mkdir -p out && echo made-in-container > out/a.txt\n  artifacts:\n    paths: [out/]\n\
         test:\n  stage: test\n  image: {BUSYBOX}\n  services:\n    - name: {BUSYBOX}\n      alias: web\n      command: [httpd, -f, -p, '8080', -h, /www]\n  script:\n    - cat out/a.txt\n    - wget -qO- http://web:8080/\n    - wget -qO- http://gantry-test__busybox:8080/\n"
    );
    let out = Test::new()
        .pipeline(&pipeline)
        .args(["run"])
        .run()
        .success()
        .stdout;
    assert!(out.contains("test  │ made-in-container"), "{out}");
    assert_eq!(out.matches("│ hello-from-service").count(), 2, "{out}");
    assert!(out.contains("cleaned: network"), "{out}");
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn exit_codes_allow_failure_and_timeout_in_containers() {
    require_engine!();
    let pipeline = format!(
        "allowed:\n  image: {BUSYBOX}\n  script: exit 3\n  allow_failure:\n    exit_codes: [3]\n\
         broken:\n  image: {BUSYBOX}\n  script: exit 4\n  allow_failure:\n    exit_codes: [3]\n\
         slow:\n  image: {BUSYBOX}\n  timeout: 2s\n  script: sleep 300\n"
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let started = Instant::now();
    let (code, out, _) = gantry(&dir, &["run", "--format", "json", "--grace", "1"]);
    assert_eq!(code, 1);
    assert!(started.elapsed() < Duration::from_secs(60));
    let result = |job: &str| -> serde_json::Value {
        json_lines(&out)
            .into_iter()
            .find(|e| e["event"] == "job_finished" && e["job"] == job)
            .unwrap_or_else(|| panic!("{job}: {out}"))
    };
    assert_eq!(result("allowed")["status"], "failed (allowed)");
    assert_eq!(result("allowed")["exit_code"], 3);
    assert_eq!(result("broken")["status"], "failed");
    assert_eq!(result("broken")["exit_code"], 4);
    assert!(
        result("slow")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{out}"
    );
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn a_missing_image_fails_fast_and_says_what_to_do() {
    require_engine!();
    let (_t, dir) = repo(
        "app",
        "job:\n  image: registry.example.com/team/missing:1.0\n  script: echo never\n",
        "c",
    );
    let started = Instant::now();
    let (code, out, _) = gantry(&dir, &["run"]);
    assert_eq!(code, 1);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_printed(
        &out,
        &[
            "image `registry.example.com/team/missing:1.0` is not available",
            "--image-map",
            "--pull never",
        ],
    );
    let (code, out, _) = gantry(
        &dir,
        &[
            "run",
            "--image-map",
            &format!("registry.example.com/team/missing:1.0={BUSYBOX}"),
        ],
    );
    assert_eq!(code, 0, "--image-map substitutes a local image: {out}");
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn docker_build_in_a_job_reaches_the_host_engine_through_dind_passthrough() {
    require_engine!();
    let tag = format!("gantry-test/built-in-job:{}", std::process::id());
    let pipeline = format!(
        "build-image:\n  image: {DOCKER_CLI}\n  services: ['docker:dind']\n  script:\n    - printf 'FROM {BUSYBOX}\\nRUN echo built\\n' > Dockerfile\n    - docker build -q -t {tag} .\n"
    );
    let out = Test::new()
        .pipeline(&pipeline)
        .args(["run"])
        .run()
        .success()
        .stdout;
    assert!(
        out.contains("socket passed through"),
        "the pass-through is announced: {out}"
    );
    assert!(
        docker(&["image", "inspect", &tag]).0,
        "the image built in the job is not on the engine"
    );
    docker(&["rmi", &tag]);
    assert_eq!(leftovers(), Vec::<String>::new());
}

fn spawn_run(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["run", "--grace", "1"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every project's first pipeline is `gantry-1`: a run that ended in one project removed the
/// containers of a run still going in another (the founding scenario's Docker jobs died with
/// exit 137 in the test suite, beside other tests' runs).
#[test]
fn a_run_ending_leaves_the_containers_of_another_projects_run_alone() {
    require_engine!();
    let slow = format!(
        "slow:\n  image: {BUSYBOX}\n  script:\n    - touch started\n    - sleep 3\n    - echo slow-finished\n"
    );
    let (_a, first) = repo("first", &slow, "c");
    let (_b, second) = repo(
        "second",
        &format!("quick:\n  image: {BUSYBOX}\n  script: [echo quick]\n"),
        "c",
    );
    let child = spawn_run(&first);
    wait_for(&first.join(".gantry/workspaces/slot0/ws/started"));
    // Pipeline 1 of another project starts and ends (its teardown sweeps its label) meanwhile.
    let (code, out, err) = gantry(&second, &["run"]);
    assert_eq!(code, 0, "{out}{err}");
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("slow │ slow-finished"), "{text}");
    assert_eq!(leftovers(), Vec::<String>::new(), "{text}");
}

#[test]
fn sigterm_mid_job_still_runs_the_always_job_and_leaves_nothing() {
    require_engine!();
    let pipeline = format!(
        "stages: [work, cleanup]\n\
         long:\n  stage: work\n  image: {BUSYBOX}\n  script:\n    - touch started\n    - sleep 300\n  artifacts:\n    paths: [started]\n\
         cleanup:\n  stage: cleanup\n  image: {BUSYBOX}\n  when: always\n  script: echo cleanup-ran-in-container\n"
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let child = spawn_run(&dir);
    wait_for(&dir.join(".gantry/workspaces/slot0/ws/started"));
    // SAFETY: signals the gantry process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cleanup │ cleanup-ran-in-container"),
        "{text}"
    );
    assert_eq!(leftovers(), Vec::<String>::new(), "{text}");
}

#[test]
fn after_sigkill_gc_removes_what_the_run_left() {
    require_engine!();
    // A service, so the run has a network to leave too (jobs without services use the default
    // bridge).
    let pipeline = format!(
        "long:\n  image: {BUSYBOX}\n  services:\n    - name: {BUSYBOX}\n      alias: web\n      command: [httpd, -f, -p, '8080', -h, /www]\n  script:\n    - touch started\n    - sleep 300\n"
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let mut child = spawn_run(&dir);
    wait_for(&dir.join(".gantry/workspaces/slot0/ws/started"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !leftovers().is_empty(),
        "a killed run should leave its container and network"
    );
    let (code, out, _) = gantry(&dir, &["gc"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("removed container") && out.contains("removed network"),
        "{out}"
    );
    assert!(out.contains("removed workspaces"), "{out}");
    assert_eq!(leftovers(), Vec::<String>::new());
    assert!(!dir.join(".gantry/pipelines/1/jobs").exists());
}

#[test]
fn a_non_root_container_user_can_write_the_workspace() {
    require_engine!();
    let pipeline = format!(
        "job:\n  image:\n    name: {BUSYBOX}\n    docker:\n      user: '1000'\n  script:\n    - test $(id -u) = 1000\n    - echo written > out.txt\n  artifacts:\n    paths: [out.txt]\n"
    );
    let run = Test::new()
        .pipeline(&pipeline)
        .args(["run"])
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(run.dir.join(".gantry/pipelines/1/artifacts/job/out.txt")).unwrap(),
        "written\n"
    );
    assert_eq!(leftovers(), Vec::<String>::new());
}

#[test]
fn a_container_job_leaves_no_trace_for_the_next_job_on_the_same_slot() {
    require_engine!();
    for untracked in [false, true] {
        let pipeline = format!(
            "stages: [dirty, check, fresh]\n\
             default:\n  image: {BUSYBOX}\n\
             dirty:\n  stage: dirty\n  script:\n{DIRTY}\
             check:\n  stage: check\n  script:\n    - sh list.sh\n    - echo slot=$CI_CONCURRENT_ID\n\
             fresh:\n  stage: fresh\n  variables:\n    GIT_STRATEGY: clone\n  script:\n    - sh list.sh\n"
        );
        let (_t, dir) = project(&pipeline);
        let mut args = vec!["run", "--format", "json", "-j", "1"];
        if untracked {
            args.push("--include-untracked");
        }
        let (code, out, err) = gantry(&dir, &args);
        assert_eq!(code, 0, "{out}{err}");
        let ev = json_lines(&out);
        let fresh = listing(&ev, "dirty");
        assert_eq!(
            fresh.iter().any(|l| l.starts_with("F ./u.txt")),
            untracked,
            "{fresh:?}"
        );
        assert!(lines(&ev, "check").contains(&"slot=0".to_string()));
        assert_eq!(listing(&ev, "check"), fresh, "traces of the last job");
        assert_eq!(listing(&ev, "fresh"), fresh, "GIT_STRATEGY clone");
        assert_eq!(leftovers(), Vec::<String>::new());
    }
}

/// What gantry processes that have ended left on the engine (containers and networks whose
/// `gantry.pid` is gone): unlike [`leftovers`], blind to runs of other tests going on meanwhile.
fn orphans() -> Vec<String> {
    labelled(" {{.Label \"gantry.pid\"}}")
        .iter()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, pid)| {
            pid.trim()
                .parse::<i32>()
                .is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists())
        })
        .map(|(n, _)| n.to_string())
        .collect()
}

#[test]
fn reuse_follows_the_image_digest_and_a_rebuilt_tag_reruns() {
    require_engine_tolerant!();
    const TAG: &str = "gantry-test/reuse-image:1";
    let build = |marker: &str| {
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(
            ctx.path().join("Dockerfile"),
            format!("FROM {BUSYBOX}\nRUN echo {marker} > /marker\n"),
        )
        .unwrap();
        let (ok, out) = docker(&["build", "-q", "-t", TAG, ctx.path().to_str().unwrap()]);
        assert!(ok, "{out}");
    };
    build("image-v1");
    let pipeline = format!("show:\n  image: {TAG}\n  script:\n    - cat /marker\n");
    let (_t, dir) = repo("app", &pipeline, "c");
    let run = || {
        let (code, out, err) = gantry(&dir, &["run", "--reuse", "--pull", "never"]);
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    assert!(run().contains("✓ success"));
    let again = run();
    assert!(
        again.contains("↺ reused") && again.contains("image-v1"),
        "{again}"
    );
    build("image-v2");
    let (_, plan, _) = gantry(&dir, &["plan", "--reuse"]);
    assert!(
        plan.contains("changed since") && plan.contains("image"),
        "{plan}"
    );
    let rebuilt = run();
    assert!(
        rebuilt.contains("✓ success") && rebuilt.contains("image-v2"),
        "{rebuilt}"
    );
    assert_eq!(orphans(), Vec::<String>::new());
    let _ = docker(&["rmi", TAG]);
}

#[test]
fn a_shell_opens_in_a_container_of_the_job_with_its_services_and_leaves_nothing() {
    require_engine_tolerant!();
    let pipeline = format!(
        "make:\n  image: {BUSYBOX}\n  script:\n    - mkdir -p out && echo made-in-container > out/a.txt\n  artifacts:\n    paths: [out/]\n\
         probe:\n  needs: [make]\n  image: {BUSYBOX}\n  services:\n    - name: {BUSYBOX}\n      alias: web\n      command: [httpd, -f, -p, '8080', -h, /www]\n  script:\n    - echo the-script-ran\n"
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let (code, out) = crate::support::pty::on_pty(
        &dir,
        &["shell", "probe", "--pull", "never"],
        &[
            (
                "[probe]",
                "cat out/a.txt; wget -qO- http://web:8080/; echo in-$CI_JOB_NAME\r",
            ),
            ("in-probe", "exit 0\r"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("made-in-container"), "{out}");
    assert!(out.contains("hello-from-service"), "{out}");
    assert!(!out.contains("the-script-ran"), "{out}");
    assert_eq!(orphans(), Vec::<String>::new());
}

#[test]
fn shell_on_failure_opens_a_container_at_the_failed_state() {
    require_engine_tolerant!();
    let pipeline = format!(
        "broken:\n  image: {BUSYBOX}\n  script:\n    - echo failed-state > state.txt\n    - exit 3\n  after_script:\n    - echo after-script-ran\n"
    );
    let (_t, dir) = repo("app", &pipeline, "c");
    let (code, out) = crate::support::pty::on_pty(
        &dir,
        &["run", "--shell-on-failure", "--pull", "never"],
        &[
            ("[broken]", "cat state.txt; echo x$((40+2))\r"),
            ("x42", "exit\r"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(code, 1, "{out}");
    assert_in_order(&out, &["failed-state", "after-script-ran"]);
    assert_eq!(orphans(), Vec::<String>::new());
}

/// A job with a list of caches (GitLab allows four), each with its own key and policy: every
/// pull-push cache is restored into the container's workspace on the next run and saved after
/// it; a `pull` cache is restored but never saved; a `push` one is saved but never restored.
#[test]
fn a_list_of_caches_is_restored_and_saved_around_a_container_job() {
    require_engine!();
    let (_t, dir) = repo(
        "app",
        &crate::support::workspace::cache_list_pipeline(BUSYBOX),
        "c",
    );
    let (code, first, err) = gantry(&dir, &["run"]);
    assert_eq!(code, 0, "{first}{err}");
    let (code, second, err) = gantry(&dir, &["run"]);
    assert_eq!(code, 0, "{second}{err}");
    crate::support::workspace::assert_cache_lists(&dir, &first, &second);
    assert_eq!(leftovers(), Vec::<String>::new());
}
