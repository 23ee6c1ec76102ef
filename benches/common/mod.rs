//! Helpers shared by the benchmarks: repositories on the working directory's disk (never tmpfs:
//! file creation is part of what users pay), medians over `RUNS`, and the locally built
//! busybox image the container benchmarks run (no registry is reachable here).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The image container benchmarks run: Debian's static busybox on `scratch`.
pub const BUSYBOX: &str = "gantry-test/busybox:1";

/// Runs git with a fixed identity and default branch; panics on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@e",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

/// A one-commit repository holding `.gitlab-ci.yml` = `pipeline`.
pub fn repository(dir: &Path, pipeline: &str) {
    std::fs::write(dir.join(".gitlab-ci.yml"), pipeline).expect("write pipeline");
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "bench"]);
}

/// The value at fraction `p` of already sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The median of the samples.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// How many times each measurement repeats: `RUNS`, default 3.
pub fn runs() -> usize {
    std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

/// A fresh directory on the working directory's filesystem (under `target/`).
pub fn scratch_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a directory under target/")
}

/// The filesystem `dir` is on, by statfs magic number.
pub fn filesystem(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).expect("path");
    // SAFETY: statfs fills the zeroed struct for a NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return "unknown".into();
    }
    let name = match st.f_type as u64 {
        0xEF53 => "ext4",
        0x0102_1994 => "tmpfs (file creation is cheap here: figures do not hold on a disk)",
        0x794C_7630 => "overlayfs",
        0x9123_683E => "btrfs",
        0x5846_5342 => "xfs",
        _ => "other",
    };
    format!("{name} (magic {:#x})", st.f_type)
}

/// Whether a Docker engine answers.
pub fn docker_up() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds [`BUSYBOX`] from the host's busybox-static.
pub fn build_busybox_image() {
    let ctx = tempfile::tempdir().expect("tempdir");
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("busybox-static is installed");
    std::fs::copy(busybox, ctx.path().join("busybox")).expect("copy busybox");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .expect("Dockerfile");
    let ok = Command::new("docker")
        .args(["build", "-q", "-t", BUSYBOX])
        .arg(ctx.path())
        .status()
        .expect("docker build")
        .success();
    assert!(ok, "building {BUSYBOX}");
    // A real cluster's nodes get it through GANTRY_TEST_LOAD_IMAGE (as the tests do:
    // `testing/cluster/load-image.sh DIR`, `kind load docker-image`).
    if let (Some(_), Ok(load)) = (
        std::env::var_os("GANTRY_TEST_KUBECONFIG"),
        std::env::var("GANTRY_TEST_LOAD_IMAGE"),
    ) {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("{load} \"$@\""))
            .args(["load-image", BUSYBOX])
            .status()
            .expect("GANTRY_TEST_LOAD_IMAGE")
            .success();
        assert!(ok, "loading {BUSYBOX} with GANTRY_TEST_LOAD_IMAGE");
    }
}
