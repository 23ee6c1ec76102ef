//! Helpers shared by the integration tests: throw-away git repositories and the gantry binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs git with a fixed identity and default branch; panics on failure.
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

/// `gantry ARGS` in `dir` with colours off; (exit code, stdout, stderr).
pub fn gantry(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GANTRY_VAR_PIPELINE_KIND")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lists the workspace (every path, `.git` included: kind, mode, content hash), one line each
/// prefixed with `ls|`. POSIX sh, so busybox images can run it too.
pub const LIST_SH: &str = "find . | LC_ALL=C sort | while IFS= read -r p; do\n\
  if [ -L \"$p\" ]; then echo \"ls| L $p -> $(readlink \"$p\")\"\n\
  elif [ -f \"$p\" ]; then echo \"ls| F $p $(stat -c %a \"$p\") $(sha256sum < \"$p\" | cut -c1-16)\"\n\
  else echo \"ls| D $p $(stat -c %a \"$p\")\"; fi\n\
done\n";

/// What the dirty job does: new files and directories, an ignored file, a deleted and two edited
/// tracked files (one keeping its size, right after the job starts), modes, a symlink, and the
/// untracked file removed. It lists the workspace first, as a fresh slot holds it.
pub const DIRTY: &str = concat!(
    "    - sh list.sh\n",
    "    - printf BBBB > same.txt\n",
    "    - echo changed >> a.txt\n",
    "    - rm b.txt\n",
    "    - mkdir -p newdir/deep && echo x > newdir/deep/x && echo y > new.txt\n",
    "    - echo junk > ignored.log\n",
    "    - chmod 700 dir && chmod 755 dir/c.txt\n",
    "    - ln -s /etc/passwd link\n",
    "    - rm -f u.txt\n",
    "    - echo slot=$CI_CONCURRENT_ID\n",
);

pub fn lines(events: &[serde_json::Value], job: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "log" && e["job"] == job)
        .map(|e| e["line"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The `ls|` lines a job printed (each job lists once).
pub fn listing(events: &[serde_json::Value], job: &str) -> Vec<String> {
    let out: Vec<String> = lines(events, job)
        .iter()
        .filter_map(|l| l.strip_prefix("ls| ").map(str::to_string))
        .collect();
    assert!(out.len() > 5, "{job} listed nothing: {out:?}");
    out
}

/// A repository with tracked files, an uncommitted edit, an ignore rule and an untracked file.
pub fn project(pipeline: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = repo("app", pipeline, "c");
    std::fs::write(dir.join("list.sh"), LIST_SH).unwrap();
    std::fs::write(dir.join("a.txt"), "committed a\n").unwrap();
    std::fs::write(dir.join("b.txt"), "committed b\n").unwrap();
    std::fs::write(dir.join("same.txt"), "AAAA").unwrap();
    std::fs::create_dir(dir.join("dir")).unwrap();
    std::fs::write(dir.join("dir/c.txt"), "c\n").unwrap();
    std::fs::write(dir.join(".gitignore"), "*.log\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "files"]);
    std::fs::write(dir.join("a.txt"), "committed a\nuncommitted edit\n").unwrap();
    std::fs::write(dir.join("u.txt"), "untracked\n").unwrap();
    (t, dir)
}

/// Makes locally built Docker `images` available to the nodes of the real cluster
/// GANTRY_TEST_KUBECONFIG names, with the command GANTRY_TEST_LOAD_IMAGE gives (run by `sh -c`
/// with the images as its arguments: `testing/cluster/load-image.sh DIR` for the project's test
/// cluster, `kind load docker-image` for kind). Without both it does nothing: kube-sim's pods
/// run on this Docker engine.
pub fn load_into_cluster(images: &[&str]) {
    if std::env::var_os("GANTRY_TEST_KUBECONFIG").is_none() {
        return;
    }
    let Ok(load) = std::env::var("GANTRY_TEST_LOAD_IMAGE") else {
        eprintln!("NOTICE: GANTRY_TEST_LOAD_IMAGE is unset; {images:?} must be on the nodes");
        return;
    };
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("{load} \"$@\""))
        .arg("load-image")
        .args(images)
        .output()
        .expect("running GANTRY_TEST_LOAD_IMAGE");
    assert!(
        o.status.success(),
        "GANTRY_TEST_LOAD_IMAGE ({load}) failed for {images:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The admin kubeconfig of the real cluster GANTRY_TEST_KUBECONFIG names, or `None` for
/// kube-sim; with GANTRY_REQUIRE_CLUSTER=1 (CI) `None` fails the test instead.
pub fn real_cluster() -> Option<PathBuf> {
    let path = std::env::var_os("GANTRY_TEST_KUBECONFIG").map(PathBuf::from);
    assert!(
        path.is_some() || std::env::var("GANTRY_REQUIRE_CLUSTER").as_deref() != Ok("1"),
        "GANTRY_REQUIRE_CLUSTER=1 but GANTRY_TEST_KUBECONFIG names no cluster"
    );
    path
}
