//! `gantry serve` without `--api-token`: a token is generated at first start, printed once,
//! stored only as a hash, and keeps working after a restart (which prints nothing).

use crate::support::serve::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Starts a server without a token; returns it, its address and the lines printed before
/// "listening".
/// The status of listing pipelines with `auth` as the Authorization header.
fn list_status(addr: &str, auth: &str) -> u16 {
    request(
        addr,
        "GET",
        "/api/v1/pipelines",
        &[("Authorization", auth)],
        b"",
    )
    .status
}

fn start(data: &Path, repo: &Path) -> (Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args([
            "--repo",
            &format!("group/app={}", repo.display()),
            "--executor",
            "shell",
        ])
        .env_remove("GANTRY_API_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut before = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.split("listening on http://").nth(1) {
                let _ = tx.send((a.trim().to_string(), before.clone()));
            } else {
                before.push(line);
            }
        }
    });
    let (addr, lines) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server started");
    (child, addr, lines)
}

#[test]
fn a_generated_token_is_printed_once_stored_hashed_and_survives_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    repo(&src, "job:\n  script: [echo hi]\n");
    let data = tmp.path().join("data");
    let (mut first, addr, lines) = start(&data, &src);
    let token = lines
        .iter()
        .find_map(|l| l.split("store it now): ").nth(1))
        .unwrap_or_else(|| panic!("no token printed: {lines:?}"))
        .trim()
        .to_string();
    assert!(token.len() >= 32, "{token}");
    let auth = format!("Bearer {token}");
    assert_eq!(list_status(&addr, &auth), 200);
    assert_eq!(list_status(&addr, "Bearer nope"), 401);
    first.kill().unwrap();
    first.wait().unwrap();
    let db = std::fs::read(data.join("gantry.db")).unwrap();
    let wal = std::fs::read(data.join("gantry.db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    assert!(
        !hay.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token itself is not stored"
    );
    let (mut second, addr, lines) = start(&data, &src);
    assert!(
        lines.iter().all(|l| !l.contains("token")),
        "printed only once: {lines:?}"
    );
    assert_eq!(list_status(&addr, &auth), 200);
    second.kill().unwrap();
    second.wait().unwrap();
}
