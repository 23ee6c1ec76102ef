//! `gantry runner` against a GitLab stand-in on loopback (`support::fake_gitlab`): register
//! and unregister, traces (incremental, masked), results with exit codes, cancellation,
//! `concurrent`, artifacts up and down, and a clone with the job token that leaves the token
//! nowhere on disk.

use crate::support::fake_gitlab::{FakeGitlab, RUNNER_TOKEN};
use crate::support::{combined, gantry_command, gate, git, images, runner_run};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

/// Registers with `fake` into `dir/runner.toml`; returns the file.
fn register(fake: &FakeGitlab, dir: &Path, executor: &str) -> PathBuf {
    let file = dir.join("runner.toml");
    let out = gantry_command(dir)
        .args(["runner", "register", "--url", &fake.url, "--config"])
        .arg(&file)
        .args(["--executor", executor])
        .env("GANTRY_RUNNER_TOKEN", RUNNER_TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    file
}

/// A running `gantry runner run`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Runner {
    child: Child,
    log: PathBuf,
}

impl Runner {
    /// A fake GitLab and a runner registered with it in a new directory.
    fn setup(executor: &str, concurrent: usize) -> (FakeGitlab, tempfile::TempDir, Runner) {
        let fake = FakeGitlab::start();
        let tmp = tempfile::tempdir().unwrap();
        let runner = Runner::start(&fake, tmp.path(), executor, concurrent);
        (fake, tmp, runner)
    }

    fn start(fake: &FakeGitlab, dir: &Path, executor: &str, concurrent: usize) -> Runner {
        Runner::start_with(fake, dir, executor, concurrent, "")
    }

    /// `start`, with `tables` (TOML) appended to the configuration.
    fn start_with(
        fake: &FakeGitlab,
        dir: &Path,
        executor: &str,
        concurrent: usize,
        tables: &str,
    ) -> Runner {
        let file = register(fake, dir, executor);
        let text = std::fs::read_to_string(&file).unwrap();
        let text = text
            .replace("check_interval = 3.0", "check_interval = 0.1")
            .replace("concurrent = 1", &format!("concurrent = {concurrent}"))
            + tables;
        std::fs::write(&file, text).unwrap();
        let (child, log) = runner_run(dir, &file);
        Runner { child, log }
    }

    /// Sends `signal` to the runner process.
    fn signal(&self, signal: i32) {
        // SAFETY: kill only signals the runner process this test started.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// The runner's exit code once it has ended (within `secs`).
    fn exit_code(&mut self, secs: u64) -> Option<i32> {
        for _ in 0..secs * 20 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the runner did not stop within {secs}s:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.signal(libc::SIGTERM);
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn final_update(r: &crate::support::fake_gitlab::JobRecord) -> Value {
    r.updates
        .iter()
        .rev()
        .find(|u| u["state"] != "running")
        .cloned()
        .expect("a final update")
}

fn text(r: &crate::support::fake_gitlab::JobRecord) -> String {
    String::from_utf8_lossy(&r.trace).into_owned()
}

fn assert_trace(r: &crate::support::fake_gitlab::JobRecord, needle: &str) {
    let t = text(r);
    assert!(t.contains(needle), "`{needle}` not in the trace:\n{t}");
}

#[test]
fn register_writes_a_private_config_and_never_prints_the_token() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeGitlab::start();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("conf/runner.toml");
    let out = gantry_command(tmp.path())
        .args([
            "runner",
            "register",
            "--url",
            &fake.url,
            "--token",
            RUNNER_TOKEN,
        ])
        .args(["--executor", "docker", "--concurrent", "3", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let (code, all) = combined(&out);
    assert_eq!(code, 0, "{all}");
    assert!(!all.contains(RUNNER_TOKEN), "token printed: {all}");
    assert!(all.contains("#42"), "{all}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let config: toml::Table = std::fs::read_to_string(&file).unwrap().parse().unwrap();
    assert_eq!(config["url"].as_str(), Some(fake.url.as_str()));
    assert_eq!(config["token"].as_str(), Some(RUNNER_TOKEN));
    assert_eq!(config["executor"].as_str(), Some("docker"));
    assert_eq!(config["concurrent"].as_integer(), Some(3));
    assert!(
        config["builds_dir"]
            .as_str()
            .unwrap()
            .ends_with("conf/builds")
    );
    assert!(
        config["cache_dir"]
            .as_str()
            .unwrap()
            .ends_with("conf/cache")
    );
    assert_eq!(fake.counts().0, 1);

    // A configuration others can read is refused before anything is sent.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = gantry_command(tmp.path())
        .args(["runner", "run", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let (code, all) = combined(&out);
    assert_eq!(code, 2, "{all}");
    assert!(all.contains("readable by others"), "{all}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A wrong token is refused, and the refusal does not echo it.
    let out = gantry_command(tmp.path())
        .args(["runner", "register", "--url", &fake.url, "--config"])
        .arg(tmp.path().join("other.toml"))
        .env("GANTRY_RUNNER_TOKEN", "glrt-wrong-token-999")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refused") && !err.contains("glrt-wrong-token-999"),
        "{err}"
    );
    assert!(!tmp.path().join("other.toml").exists());

    let out = gantry_command(tmp.path())
        .args(["runner", "unregister", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!file.exists());
    assert_eq!(fake.counts().1, 1);
}

#[test]
fn a_shell_jobs_trace_arrives_incrementally_and_masked_with_its_result() {
    let (fake, _tmp, runner) = Runner::setup("shell", 1);
    let mut failing = fake.job(
        "unit",
        &[
            "echo first line",
            "sleep 2",
            "echo \"the secret is $DEPLOY_KEY, file at $KEY_FILE: $(cat $KEY_FILE)\"",
            "echo \"raw $RAW_VAR expanded $EXPANDED\"",
            "exit 3",
        ],
    );
    let vars = failing["variables"].as_array_mut().unwrap();
    vars.push(json!({"key": "DEPLOY_KEY", "value": "hunter2-deploy-key", "masked": true}));
    vars.push(json!({"key": "KEY_FILE", "value": "file-content-1", "file": true}));
    vars.push(json!({"key": "RAW_VAR", "value": "$CI_JOB_NAME", "raw": true}));
    vars.push(json!({"key": "EXPANDED", "value": "job-$CI_JOB_NAME"}));
    failing["steps"].as_array_mut().unwrap().push(json!({
        "name": "after_script", "script": ["echo after $CI_JOB_STATUS"], "timeout": 300,
        "when": "always", "allow_failure": true}));
    let id = fake.enqueue(failing);
    // The first line reaches GitLab while the job still runs.
    let early = fake.wait(id, 30, |r| text(r).contains("first line"));
    assert!(early.ended.is_none(), "trace only arrived at the end");
    let r = fake.wait_final(id, 30);
    let trace = text(&r);
    assert!(r.patches >= 2, "{} patches", r.patches);
    assert!(trace.contains("the secret is [MASKED]"), "{trace}");
    assert!(!trace.contains("hunter2-deploy-key"), "{trace}");
    assert!(!trace.contains(&r.token), "job token in trace: {trace}");
    assert!(trace.contains(": file-content-1"), "{trace}");
    assert!(
        trace.contains("raw $CI_JOB_NAME expanded job-unit"),
        "{trace}"
    );
    assert!(trace.contains("after failed"), "{trace}");
    let update = final_update(&r);
    assert_eq!(update["state"], "failed", "{update}");
    assert_eq!(update["exit_code"], 3, "{update}");
    assert_eq!(update["failure_reason"], "script_failure", "{update}");
    assert_eq!(update["output"]["bytesize"], r.trace.len(), "{update}");

    let ok = fake.enqueue(fake.job("ok", &["echo fine"]));
    let r = fake.wait_final(ok, 30);
    let update = final_update(&r);
    assert_eq!(update["state"], "success", "{update}\n{}", text(&r));
    assert_eq!(update["exit_code"], 0);
    assert!(!runner.log().contains(RUNNER_TOKEN));
}

#[test]
fn a_job_canceled_in_gitlab_stops() {
    let fake = FakeGitlab::start();
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("not-reached");
    let _runner = Runner::start(&fake, tmp.path(), "shell", 1);
    let script = format!("echo started; sleep 60; touch {}", marker.display());
    let id = fake.enqueue(fake.job("long", &[&script]));
    fake.wait(id, 30, |r| text(r).contains("started"));
    fake.cancel(id);
    let r = fake.wait_final(id, 20);
    let update = final_update(&r);
    assert_eq!(update["state"], "failed", "{update}");
    assert_trace(&r, "canceled");
    assert!(!marker.exists());
}

#[test]
fn concurrent_two_runs_two_jobs_at_once() {
    let (fake, tmp, _runner) = Runner::setup("shell", 2);
    let meet = tmp.path().join("meet");
    std::fs::create_dir(&meet).unwrap();
    // Each job waits until both have started: only concurrent jobs both succeed.
    let script = format!(
        "touch {0}/$CI_JOB_NAME; for i in $(seq 150); do [ $(ls {0} | wc -l) -ge 2 ] && exit 0; sleep 0.1; done; exit 1",
        meet.display()
    );
    let a = fake.enqueue(fake.job("a", &[&script]));
    let b = fake.enqueue(fake.job("b", &[&script]));
    for id in [a, b] {
        let r = fake.wait_final(id, 40);
        assert_eq!(final_update(&r)["state"], "success", "{}", text(&r));
    }
}

#[test]
fn artifacts_are_uploaded_and_a_dependent_job_downloads_them() {
    let (fake, _tmp, _runner) = Runner::setup("shell", 1);
    let mut build = fake.job(
        "build",
        &["mkdir -p out && echo built-bits > out/a.txt && echo junk > out/skip.log"],
    );
    build["artifacts"] = json!([
        {"name": "build", "untracked": false, "paths": ["out/"], "exclude": ["out/*.log"],
         "when": "on_success", "artifact_type": "archive", "artifact_format": "zip",
         "expire_in": "1 week"},
        {"name": "never", "untracked": false, "paths": ["out/"], "when": "on_failure",
         "artifact_type": "archive", "artifact_format": "zip"}
    ]);
    let a = fake.enqueue(build);
    let r = fake.wait_final(a, 30);
    assert_eq!(final_update(&r)["state"], "success", "{}", text(&r));
    assert_eq!(r.artifacts.len(), 1, "{}", text(&r));
    let (query, zip) = &r.artifacts[0];
    assert_eq!(query["expire_in"], "1 week");
    assert_eq!(query["artifact_format"], "zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.clone())).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    assert_eq!(names, ["out/a.txt"], "exclude not applied");
    let mut content = String::new();
    std::io::Read::read_to_string(&mut archive.by_index(0).unwrap(), &mut content).unwrap();
    assert_eq!(content, "built-bits\n");

    let mut test = fake.job("test", &["cat out/a.txt", "test ! -e out/skip.log"]);
    // Another project: a fresh checkout directory, so only the download can bring the files.
    test["job_info"]["project_id"] = json!(8);
    test["dependencies"] = json!([{"id": a, "name": "build", "token": "",
        "artifacts_file": {"filename": "artifacts.zip", "size": zip.len()}}]);
    let b = fake.enqueue(test);
    let r = fake.wait_final(b, 30);
    assert_eq!(final_update(&r)["state"], "success", "{}", text(&r));
    assert_trace(&r, "built-bits");
}

#[test]
fn a_clone_uses_the_job_token_and_leaves_it_nowhere_on_disk() {
    let fake = FakeGitlab::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    git(&src, &["init", "-q"]);
    std::fs::write(src.join("README.md"), "hello from the repository\n").unwrap();
    git(&src, &["add", "."]);
    git(&src, &["commit", "-q", "-m", "first"]);
    let sha = git(&src, &["rev-parse", "HEAD"]);
    let bare = tmp.path().join("repo.git");
    git(tmp.path(), &["clone", "-q", "--bare", "src", "repo.git"]);
    git(&bare, &["update-server-info"]);
    fake.serve_repo(bare);
    let home = tmp.path().join("runner");
    std::fs::create_dir(&home).unwrap();
    let _runner = Runner::start(&fake, &home, "shell", 1);
    let mut job = fake.job(
        "clone",
        &[
            "cat README.md",
            "echo made > made.out",
            "echo '<testsuites/>' > report.xml",
        ],
    );
    job["variables"] = json!([{"key": "GIT_STRATEGY", "value": "clone"}]);
    job["git_info"]["sha"] = json!(sha);
    job["artifacts"] = json!([
        {"untracked": true, "paths": [], "exclude": ["report.xml"], "when": "on_success",
         "artifact_type": "archive", "artifact_format": "zip"},
        {"paths": ["report.xml"], "when": "always", "artifact_type": "junit",
         "artifact_format": "gzip"}
    ]);
    let id = fake.enqueue(job);
    let r = fake.wait_final(id, 60);
    assert_eq!(final_update(&r)["state"], "success", "{}", text(&r));
    assert_trace(&r, "hello from the repository");
    assert!(fake.counts().3 > 0, "git never authenticated");
    // `untracked: true`: what the job made, not what git tracks.
    let (_, zip) = &r.artifacts[0];
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip.clone())).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    assert_eq!(names, ["made.out"]);
    let (query, gz) = &r.artifacts[1];
    assert_eq!(query["artifact_type"], "junit");
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut xml).unwrap();
    assert_eq!(xml, "<testsuites/>\n");
    crate::support::assert_nowhere_under(&home, &r.token);
}

#[test]
fn sigterm_lets_the_running_job_finish_and_a_second_signal_cancels() {
    let (fake, tmp, mut runner) = Runner::setup("shell", 1);
    let id = fake.enqueue(fake.job("graceful", &["echo started", "sleep 2", "echo finished"]));
    fake.wait(id, 30, |r| text(r).contains("started"));
    runner.signal(libc::SIGTERM);
    // Queued after the signal: a stopping runner takes no new job.
    let later = fake.enqueue(fake.job("later", &["echo never"]));
    let r = fake.wait_final(id, 30);
    assert_eq!(final_update(&r)["state"], "success", "{}", text(&r));
    assert_trace(&r, "finished");
    assert_eq!(runner.exit_code(20), Some(0));
    assert_eq!(fake.record(later).status, "pending");
    drop(runner);

    let second = tmp.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let mut runner = Runner::start(&fake, &second, "shell", 1);
    let marker = tmp.path().join("not-reached");
    let script = format!("echo started; sleep 60; touch {}", marker.display());
    let id = fake.enqueue(fake.job("forced", &[&script]));
    fake.wait(id, 30, |r| text(r).contains("started"));
    runner.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    runner.signal(libc::SIGTERM);
    let r = fake.wait_final(id, 30);
    assert_eq!(final_update(&r)["state"], "failed", "{}", text(&r));
    assert_trace(&r, "the runner is stopping");
    assert_eq!(runner.exit_code(20), Some(0));
    assert!(!marker.exists());
}

#[test]
fn a_lost_trace_is_resent_from_the_offset_gitlab_has() {
    let (fake, _tmp, _runner) = Runner::setup("shell", 1);
    let id = fake.enqueue(fake.job("resend", &["echo one", "sleep 2", "echo two"]));
    fake.wait(id, 30, |r| text(r).contains("one"));
    fake.lose_trace(id);
    let r = fake.wait_final(id, 30);
    let t = text(&r);
    assert!(t.starts_with("Running with gantry"), "{t}");
    assert!(t.contains("one") && t.contains("two"), "{t}");
    assert_eq!(final_update(&r)["output"]["bytesize"], r.trace.len());
}

#[test]
fn the_job_timeout_ends_a_job_as_job_execution_timeout() {
    let (fake, _tmp, _runner) = Runner::setup("shell", 1);
    let mut job = fake.job("slow", &["sleep 30"]);
    job["runner_info"]["timeout"] = json!(1);
    job["steps"][0]["timeout"] = json!(1);
    let id = fake.enqueue(job);
    let r = fake.wait_final(id, 30);
    let update = final_update(&r);
    assert_eq!(update["state"], "failed", "{update}");
    assert_eq!(
        update["failure_reason"], "job_execution_timeout",
        "{update}"
    );
}

#[test]
fn caches_are_kept_per_key_and_found_through_fallback_keys() {
    let (fake, _tmp, _runner) = Runner::setup("shell", 1);
    let cache = |key: &str, policy: &str| {
        json!([{"key": key, "untracked": false, "policy": policy, "paths": ["vendor/"],
                "when": "on_success", "fallback_keys": ["deps-main"]}])
    };
    let mut fill = fake.job(
        "fill",
        &["mkdir -p vendor && echo cached-dep > vendor/lib.txt"],
    );
    fill["cache"] = cache("deps-main", "pull-push");
    let id = fake.enqueue(fill);
    assert_eq!(final_update(&fake.wait_final(id, 30))["state"], "success");
    // An emptied checkout: only the cache can bring vendor/ back, through the fallback key.
    let mut read = fake.job("read", &["cat vendor/lib.txt"]);
    read["variables"][1]["value"] = json!("empty");
    read["cache"] = cache("deps-feature", "pull");
    let id = fake.enqueue(read);
    let r = fake.wait_final(id, 30);
    assert_eq!(final_update(&r)["state"], "success", "{}", text(&r));
    assert_trace(&r, "cached-dep");
    assert_trace(&r, "Restored cache deps-main");
    assert_eq!(fake.counts().2, 0, "a request carried a wrong token");
    // Job requests send back the X-GitLab-Last-Update GitLab answered with (long polling).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fake.last_updates().iter().any(|l| l == "fake-1") {
        assert!(
            std::time::Instant::now() < deadline,
            "last_update never sent back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn docker_jobs_run_in_their_image_and_reach_services_by_alias() {
    if !gate::docker() {
        return;
    }
    let _shared = gate::DOCKER.shared();
    let image = images::busybox();
    let (fake, _tmp, _runner) = Runner::setup("docker", 1);
    let mut plain = fake.job("in-image", &["echo inside $(cat /www/index.html)"]);
    plain["image"] = json!({"name": image, "entrypoint": null});
    let mut with_service = fake.job("with-service", &["wget -qO- http://web:8080/"]);
    with_service["image"] = json!({"name": image});
    with_service["services"] = json!([{"name": image, "alias": "web", "entrypoint": null,
        "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
        "variables": [{"key": "SERVICE_ONLY", "value": "1"}]}]);
    for (job, says) in [
        (plain, "inside hello-from-service"),
        (with_service, "hello-from-service"),
    ] {
        let id = fake.enqueue(job);
        let r = fake.wait_final(id, 120);
        assert_eq!(final_update(&r)["state"], "success", "{}", text(&r));
        assert_trace(&r, says);
    }
}

#[test]
fn a_kubernetes_job_runs_in_a_pod() {
    let Some(kubeconfig) = gate::cluster() else {
        return;
    };
    let _shared = gate::CLUSTER.shared();
    let image = images::for_cluster();
    let fake = FakeGitlab::start();
    let tmp = tempfile::tempdir().unwrap();
    let tables = format!(
        "\n[kubernetes]\nkubeconfig = {:?}\n",
        kubeconfig.display().to_string()
    );
    let _runner = Runner::start_with(&fake, tmp.path(), "kubernetes", 1, &tables);
    let mut job = fake.job(
        "in-pod",
        &["echo made-in-pod > out.txt", "echo pod says $(cat out.txt)"],
    );
    job["image"] = json!({"name": image});
    job["artifacts"] = json!([{"paths": ["out.txt"], "when": "on_success",
        "artifact_type": "archive", "artifact_format": "zip"}]);
    let id = fake.enqueue(job);
    let r = fake.wait_final(id, 300);
    assert_eq!(final_update(&r)["state"], "success", "{}", text(&r));
    assert_trace(&r, "pod says made-in-pod");
    // The workspace came back from the pod: the artifact holds the file the job wrote.
    assert_eq!(r.artifacts.len(), 1, "{}", text(&r));
}
