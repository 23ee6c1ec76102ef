//! Hostile and broken input: every case ends in a diagnostic (exit 1), never a panic, a hang or
//! an unbounded memory spike. Each case runs the real binary; a watchdog kills hangs, and the
//! child's own peak resident memory is read back with wait4. Not in this process: a child
//! spawned here starts its count at the peak of this (large, shared) test process, which is not
//! gantry's; so a fresh copy of this binary ([`peak_helper`]) spawns gantry and reports it.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous hang guard, not a performance assertion.
const HANG_LIMIT: Duration = Duration::from_secs(60);
/// Peak RSS any lint child may reach, in KiB.
const MEMORY_LIMIT_KIB: i64 = 256 * 1024;

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The child's peak resident memory, KiB.
    peak_kib: i64,
}

fn lint(path: &Path) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let [stdout, stderr, report] = ["stdout", "stderr", "report"].map(|f| dir.path().join(f));
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "malformed::peak_helper",
            "--test-threads",
            "1",
        ])
        .env("GANTRY_PEAK_LINT", path)
        .env("GANTRY_PEAK_STDOUT", &stdout)
        .env("GANTRY_PEAK_STDERR", &stderr)
        .env("GANTRY_PEAK_REPORT", &report)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while helper.try_wait().unwrap().is_none() {
        if start.elapsed() > HANG_LIMIT {
            // SAFETY: signals the process group this test started (the helper and gantry).
            unsafe { libc::kill(-(helper.id() as i32), libc::SIGKILL) };
            let _ = helper.wait();
            panic!("gantry hung on {}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = std::fs::read_to_string(&report).expect("the helper reports");
    let (code, peak) = report.split_once(' ').expect("CODE PEAK");
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Outcome {
        code: code.parse().ok(),
        stdout: read(&stdout),
        stderr: read(&stderr),
        peak_kib: peak.trim().parse().unwrap(),
    }
}

/// Not a test of its own: [`lint`] runs it in a fresh copy of this binary, which is small, to
/// spawn `gantry lint` and report its exit code and peak resident memory (wait4's, KiB).
#[test]
#[ignore = "run by the other malformed tests in a fresh process"]
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which reads its rusage"
)]
fn peak_helper() {
    let var = |k: &str| std::env::var_os(k).expect("run by malformed::lint");
    let child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["lint", "--format", "json", "-f"])
        .arg(var("GANTRY_PEAK_LINT"))
        .stdout(std::fs::File::create(var("GANTRY_PEAK_STDOUT")).unwrap())
        .stderr(std::fs::File::create(var("GANTRY_PEAK_STDERR")).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: zeroed rusage is valid; wait4 reaps this child and fills both.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status).to_string()
    } else {
        "signal".to_string()
    };
    std::fs::write(
        var("GANTRY_PEAK_REPORT"),
        format!("{code} {}", usage.ru_maxrss),
    )
    .unwrap();
}

/// Asserts the file is rejected cleanly with `code` as the first diagnostic.
fn rejected(name: &str, bytes: &[u8], code: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    let out = lint(&path);
    assert!(
        !out.stderr.contains("panicked"),
        "{name}: panic: {}",
        out.stderr
    );
    assert_eq!(
        out.code,
        Some(1),
        "{name}: stdout {} stderr {}",
        out.stdout,
        out.stderr
    );
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        doc["diagnostics"][0]["code"], code,
        "{name}: {}",
        out.stdout
    );
    assert!(doc["diagnostics"][0]["line"].as_u64().unwrap() >= 1);
    let peak = out.peak_kib;
    assert!(
        peak < MEMORY_LIMIT_KIB,
        "{name}: a lint child peaked at {peak} KiB"
    );
}

#[test]
fn tabs_indentation_and_quotes() {
    rejected("tabs.yml", b"job:\n\tscript: echo\n", "yaml-syntax");
    rejected(
        "indent.yml",
        b"job:\n  script: echo\n    stage: x\n",
        "yaml-syntax",
    );
    rejected("quote.yml", b"job:\n  script: 'echo\n", "yaml-syntax");
    rejected("flow.yml", b"job: {script: [echo\n", "yaml-syntax");
}

#[test]
fn binary_garbage() {
    let mut state: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    rejected("noise.yml", &noise, "yaml-syntax");
    rejected("nul.yml", b"job:\n  script: echo \0 hi\n", "yaml-syntax");
}

#[test]
fn fifty_megabyte_file_is_refused_before_parsing() {
    let line = b"    - echo 'padding padding padding padding padding padding padding'\n";
    let mut text = b"job:\n  script:\n".to_vec();
    while text.len() < 50 * 1024 * 1024 {
        text.extend_from_slice(line);
    }
    rejected("huge.yml", &text, "yaml-limit");
}

#[test]
fn billion_laughs_is_bounded() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text.push_str("job:\n  script: echo\n  variables: *a9\n");
    rejected("laughs.yml", text.as_bytes(), "yaml-limit");
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = format!("job: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    rejected("deep-flow.yml", deep.as_bytes(), "yaml-limit");
    let mut block = String::new();
    for i in 0..2_000 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    rejected("deep-block.yml", block.as_bytes(), "yaml-limit");
}

#[test]
fn many_includes_of_one_file_hit_the_include_limit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("part.yml"), "variables: {A: '1'}\n").unwrap();
    let mut main = String::from("include:\n");
    for _ in 0..200 {
        main.push_str("  - local: part.yml\n");
    }
    main.push_str("job:\n  script: echo\n");
    let path = dir.path().join("main.yml");
    std::fs::write(&path, main).unwrap();
    let out = lint(&path);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout.contains("more than 150 included files"),
        "{}",
        out.stdout
    );
}
