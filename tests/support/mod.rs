//! What the integration tests share: throw-away git repositories, the gantry binary and a
//! builder for the common "a pipeline in a repository, run gantry, check what it said" test,
//! the gates for Docker, the browser and the cluster (skip with one notice, or fail under
//! `GANTRY_REQUIRE_*`), the test images, the real cluster's client, and the serve helpers.
//!
//! One module for all of them because the tests are one binary: a helper written twice in two
//! test files is a helper that drifts (the busybox image had two Dockerfiles).
#![allow(dead_code)]

pub mod builder;
pub mod capture;
pub mod cluster;
pub mod fake_gitlab;
pub mod forge;
pub mod gate;
pub mod gitlab_api;
pub mod images;
pub mod pty;
pub mod serve;
pub mod workspace;

pub use builder::Test;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs git with a fixed identity and default branch `master`; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test User",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=master",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository `name` holding `pipeline` as .gitlab-ci.yml, committed on `master`.
pub fn repo(name: &str, pipeline: &str, message: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    std::fs::write(dir.join(".gitlab-ci.yml"), pipeline).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", message]);
    (tmp, dir)
}

/// The gantry binary under test, colours off and no pipeline kind from the caller's
/// environment, in `dir`.
pub fn gantry_command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gantry"));
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GANTRY_VAR_PIPELINE_KIND")
        // Tests never reach the network for includes (example.com, gitlab.com) nor share the
        // user's include cache; `includes_remote` turns fetching back on against its stand-in.
        .env("GANTRY_OFFLINE", "1")
        .env(
            "GANTRY_CACHE_DIR",
            std::env::temp_dir().join("gantry-tests-no-include-cache"),
        )
        .env_remove("CI_SERVER_URL")
        .env_remove("GITLAB_TOKEN")
        .env_remove("CI_JOB_TOKEN");
    c
}

/// `gantry ARGS` in `dir` with colours off; (exit code, stdout, stderr).
pub fn gantry(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = gantry_command(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit code and stdout followed by stderr, for tests that read both as one log.
pub fn combined(out: &Output) -> (i32, String) {
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The static busybox Debian's busybox-static installs.
pub fn busybox_binary() -> &'static str {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("busybox-static is installed")
}

/// `docker ARGS`: (success, stdout and stderr).
pub fn docker(args: &[&str]) -> (bool, String) {
    match Command::new("docker").args(args).output() {
        Ok(o) => (o.status.success(), combined(&o).1),
        Err(e) => (false, e.to_string()),
    }
}

/// `gantry plan --format json EXTRA` in `dir`, which must succeed; the plan.
pub fn plan_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = gantry(dir, &args);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).unwrap()
}

/// The names of a plan's jobs, in order.
pub fn job_names(plan: &serde_json::Value) -> Vec<String> {
    plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_string())
        .collect()
}

/// The member of JSON array `list` whose `field` equals `want`, or a panic that quotes `list`:
/// a plan's job by name, a pipeline by the job it runs alone.
pub fn member<'a>(list: &'a serde_json::Value, field: &str, want: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list:#}"))
        .iter()
        .find(|m| m[field] == want)
        .unwrap_or_else(|| panic!("no {field} {want} in {list:#}"))
}

/// Asserts that no file below `dir` holds `secret` (a token, a password) and returns how many
/// files it read, so a caller can check that the search saw what it expected. Symlinked
/// directories are not followed (a job may link to `/`); a symlinked file is read through the
/// link, and one that vanished (a job's directory cleaned up meanwhile) or dangles is passed
/// over.
pub fn assert_nowhere_under(dir: &Path, secret: &str) -> usize {
    let mut read = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d != dir => continue,
            Err(e) => panic!("{}: {e}", d.display()),
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() && !path.is_symlink() {
                dirs.push(path);
                continue;
            }
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            read += 1;
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds {secret}",
                path.display()
            );
        }
    }
    read
}
pub mod checks;

/// `gantry runner run --config FILE` started in `dir`, its stderr in `dir/runner.log`: the
/// process and the log (the runner tests against a GitLab stand-in and against `gantry serve`).
pub fn runner_run(dir: &Path, file: &Path) -> (std::process::Child, PathBuf) {
    let log = dir.join("runner.log");
    let child = gantry_command(dir)
        .args(["runner", "run", "--config"])
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

/// SIGTERM to `child` (a process the test started), then waits at most `secs`; whether it
/// exited by itself.
pub fn terminate(child: &mut std::process::Child, secs: u64) -> bool {
    // SAFETY: kill only signals a process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}
