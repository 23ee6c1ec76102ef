//! Helpers shared by the benchmarks: repositories on the working directory's disk (never tmpfs:
//! file creation is part of what users pay), medians over `RUNS`, and the locally built
//! busybox image the container benchmarks run (no registry is reachable here).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
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
    commit_all(dir);
}

/// `dir` made a repository whose one commit holds everything in it.
pub fn commit_all(dir: &Path) {
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "bench"]);
}

/// `files` files of `size` bytes of pseudo-random text (from `seed`, so every run writes the
/// same tree) under `dir/src/dNNN/`, 100 to a directory: a repository where workspaces cost.
pub fn source_tree(dir: &Path, files: usize, size: usize, mut seed: u64) {
    for i in 0..files {
        let sub = dir.join("src").join(format!("d{:03}", i / 100));
        std::fs::create_dir_all(&sub).expect("source directory");
        let text: String = (0..size)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b"abcdefghij\n"[(seed >> 33) as usize % 11] as char
            })
            .collect();
        std::fs::write(sub.join(format!("f{i:05}.txt")), text).expect("source file");
    }
}

/// `gantry run --format json ARGS` in `dir`, the whole command timed: wall seconds and its
/// events, after checking that it succeeded.
pub fn run_json(gantry: &Path, dir: &Path, args: &[&str]) -> (f64, Vec<serde_json::Value>) {
    let start = std::time::Instant::now();
    let out = Command::new(gantry)
        .args(["run", "--format", "json"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("gantry");
    let total = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "gantry run {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (total, events)
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

/// A fresh [`scratch_dir`] for a shell benchmark, after the lines its report starts with: the
/// filesystem it is on and how many runs each figure is the median of.
pub fn workdir(prefix: &str) -> tempfile::TempDir {
    let tmp = scratch_dir(prefix);
    println!(
        "filesystem: {} at {}",
        filesystem(tmp.path()),
        tmp.path().display()
    );
    println!("median of {} runs each (RUNS=N to change)", runs());
    tmp
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

/// The real cluster the Kubernetes benchmarks run on, as `GANTRY_TEST_KUBECONFIG` names it (the
/// tests' variable). Without one: a notice saying how to start the project's test cluster, and
/// `None` (the benchmark skips), or a failure under `GANTRY_REQUIRE_CLUSTER`.
pub fn cluster() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("GANTRY_TEST_KUBECONFIG") {
        return Some(PathBuf::from(k));
    }
    let notice = "no cluster: set GANTRY_TEST_KUBECONFIG to a kubeconfig (the test cluster: \
                  `sudo testing/cluster/up.sh DIR` starts it and writes DIR/kubeconfig)";
    assert!(
        std::env::var_os("GANTRY_REQUIRE_CLUSTER").is_none(),
        "GANTRY_REQUIRE_CLUSTER is set but there is {notice}"
    );
    println!("NOTICE: skipped, {notice}");
    None
}
