//! Hostile and broken input: every case ends in a diagnostic (exit 1), never a panic, a hang or
//! an unbounded memory spike. Each case runs the real binary; a watchdog kills hangs, and the
//! child's own peak resident memory is read back with wait4 (not getrusage's RUSAGE_CHILDREN:
//! the tests share one process, so that would be the largest of every test's children).

use std::io::{Read, Write};
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

#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also reads its own rusage"
)]
fn lint(path: &Path) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["lint", "--format", "json", "-f"])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        }),
    );
    let start = Instant::now();
    // SAFETY: zeroed rusage is valid; wait4 writes into the two locals for this child only.
    let (status, usage) = loop {
        let mut status = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break (status, usage);
        }
        assert!(done == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > HANG_LIMIT {
            child.kill().ok();
            panic!("gantry hung on {}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: readers.0.join().unwrap(),
        stderr: readers.1.join().unwrap(),
        peak_kib: usage.ru_maxrss,
    }
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
