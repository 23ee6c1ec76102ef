//! `cargo bench --bench run`: a generated 1,000-job DAG of `true` jobs run by `gantry run` with
//! the shell executor, against 1,000 raw `sh -c true` spawns: total time and per-job overhead
//! over the raw spawn. Then scheduling latency — a job's start minus the finish of the job it
//! needs — on a 200-job chain, where only one job is ever ready (in the wide DAG, ready jobs
//! queue for slots, which is not latency). Times come from the JSON events.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const JOBS: usize = 1_000;
const STAGES: usize = 10;

fn pipeline() -> String {
    let per = JOBS / STAGES;
    let mut y = format!(
        "stages: [{}]\n",
        (0..STAGES)
            .map(|s| format!("s{s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for i in 0..JOBS {
        let stage = i / per;
        y.push_str(&format!("j{i}:\n  stage: s{stage}\n  script: [\"true\"]\n"));
        if stage > 0 {
            let a = (stage - 1) * per + i % per;
            let b = (stage - 1) * per + (i * 7 + 3) % per;
            y.push_str(&format!("  needs: [j{a}, j{b}]\n"));
        }
    }
    y
}

fn git(dir: &Path, args: &[&str]) {
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let gantry = Path::new(env!("CARGO_BIN_EXE_gantry"));
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join(".gitlab-ci.yml"), pipeline()).unwrap();
    std::fs::write(dir.join("README"), "bench\n").unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "bench"]);

    let raw = Instant::now();
    for _ in 0..JOBS {
        Command::new("sh").args(["-c", "true"]).status().unwrap();
    }
    let raw_per_job = raw.elapsed().as_secs_f64() * 1e3 / JOBS as f64;
    println!("raw `sh -c true`: {raw_per_job:.2} ms per spawn");
    println!(
        "{:>3} {:>9} {:>12} {:>16}",
        "-j", "total s", "wall ms/job", "overhead ms/job"
    );
    for j in [1, 4] {
        let start = Instant::now();
        let out = Command::new(gantry)
            .args(["run", "--format", "json", "-j", &j.to_string()])
            .current_dir(dir)
            .output()
            .expect("gantry");
        let total = start.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let finished = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event"] == "job_finished" && e["status"] == "success")
            .count();
        assert_eq!(finished, JOBS);
        let wall_per_job = total * 1e3 / JOBS as f64;
        // Overhead is only meaningful sequentially; with -j the wall time per job is what counts.
        let overhead = if j == 1 {
            format!("{:.2}", wall_per_job - raw_per_job)
        } else {
            "-".into()
        };
        println!("{j:>3} {total:>9.2} {wall_per_job:>12.2} {overhead:>16}");
    }
    chain_latency(gantry);
}

/// A chain of jobs, each needing the one before: the gap between a finish and the next start.
fn chain_latency(gantry: &Path) {
    const CHAIN: usize = 200;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let mut y = String::from("j0:\n  script: [\"true\"]\n");
    for i in 1..CHAIN {
        y.push_str(&format!(
            "j{i}:\n  needs: [j{}]\n  script: [\"true\"]\n",
            i - 1
        ));
    }
    std::fs::write(dir.join(".gitlab-ci.yml"), y).unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "chain"]);
    let out = Command::new(gantry)
        .args(["run", "--format", "json"])
        .current_dir(dir)
        .output()
        .expect("gantry");
    assert!(out.status.success());
    let (mut started, mut finished) = (HashMap::new(), HashMap::new());
    for e in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let t = e["time"].as_f64().unwrap_or(0.0);
        let job = e["job"].as_str().unwrap_or("").to_string();
        match e["event"].as_str() {
            Some("job_started") => {
                started.insert(job, t);
            }
            Some("job_finished") => {
                finished.insert(job, t);
            }
            _ => {}
        }
    }
    let mut latency: Vec<f64> = (1..CHAIN)
        .map(|i| started[&format!("j{i}")] - finished[&format!("j{}", i - 1)])
        .collect();
    latency.sort_by(f64::total_cmp);
    println!(
        "scheduling latency over a {CHAIN}-job chain (need finished -> job started, incl. workspace set-up): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        percentile(&latency, 0.5),
        percentile(&latency, 0.95),
        latency[latency.len() - 1]
    );
}
