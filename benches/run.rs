//! `cargo bench --bench run`: `gantry run` with the shell executor against raw `sh -c true`
//! spawns, reporting per-job overhead: a generated 1,000-job DAG of `true` jobs in a one-file
//! repository, then 20 `true` jobs at `-j 1` in a repository of 5,000 small files (20 MB), where
//! setting up workspaces dominates (the first run, which fills a new slot, and the median of
//! later runs, which find it warm); then scheduling latency — a job's start minus the finish of
//! the job it needs — on a 200-job chain. Every repository is created on the filesystem of the
//! working directory (under `target/`), never tmpfs: file creation is part of what is measured,
//! and the filesystem is printed. Each figure is the median of `RUNS` runs (default 3).

mod common;

use common::{median, percentile, repository, run_json, runs, scratch_dir, source_tree, workdir};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const JOBS: usize = 1_000;
const STAGES: usize = 10;
const BIG_FILES: usize = 5_000;
const BIG_FILE_SIZE: usize = 4_000;
const BIG_JOBS: usize = 20;

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

/// Median milliseconds of one raw `sh -c true` spawn.
fn raw_spawn_ms() -> f64 {
    median(
        (0..runs())
            .map(|_| {
                let t = Instant::now();
                for _ in 0..JOBS {
                    Command::new("sh").args(["-c", "true"]).status().unwrap();
                }
                t.elapsed().as_secs_f64() * 1e3 / JOBS as f64
            })
            .collect(),
    )
}

/// Runs `gantry run` in `dir`; wall seconds, after checking every job succeeded.
fn gantry_run(gantry: &Path, dir: &Path, args: &[&str], jobs: usize) -> f64 {
    let (total, events) = run_json(gantry, dir, args);
    let finished = events
        .iter()
        .filter(|e| e["event"] == "job_finished" && e["status"] == "success")
        .count();
    assert_eq!(finished, jobs);
    total
}

fn main() {
    let gantry = Path::new(env!("CARGO_BIN_EXE_gantry"));
    let tmp = workdir("bench-run-");
    let dir = tmp.path();
    std::fs::write(dir.join("README"), "bench\n").unwrap();
    repository(dir, &pipeline());

    let raw_per_job = raw_spawn_ms();
    println!("raw `sh -c true`: {raw_per_job:.2} ms per spawn");
    println!(
        "{:<34} {:>3} {:>9} {:>12} {:>16}",
        "case", "-j", "total s", "wall ms/job", "overhead ms/job"
    );
    for j in [1, 4] {
        let total = median(
            (0..runs())
                .map(|_| gantry_run(gantry, dir, &["-j", &j.to_string()], JOBS))
                .collect(),
        );
        row("1,000-job DAG, one-file repo", j, total, JOBS, raw_per_job);
    }
    big_repository(gantry, raw_per_job);
    chain_latency(gantry);
}

fn row(case: &str, j: usize, total: f64, jobs: usize, raw_per_job: f64) {
    let wall_per_job = total * 1e3 / jobs as f64;
    // Overhead is only meaningful sequentially; with -j the wall time per job is what counts.
    let overhead = if j == 1 {
        format!("{:.2}", wall_per_job - raw_per_job)
    } else {
        "-".into()
    };
    println!("{case:<34} {j:>3} {total:>9.3} {wall_per_job:>12.2} {overhead:>16}");
}

/// 20 `true` jobs at `-j 1` in a repository of 5,000 files of 4 KB: what workspaces cost.
fn big_repository(gantry: &Path, raw_per_job: f64) {
    let tmp = scratch_dir("bench-run-");
    let dir = tmp.path();
    source_tree(dir, BIG_FILES, BIG_FILE_SIZE, 12);
    let yaml: String = (0..BIG_JOBS)
        .map(|j| format!("j{j}:\n  script: [\"true\"]\n"))
        .collect();
    repository(dir, &yaml);
    let args = ["--executor", "shell", "-j", "1"];
    // The first run in a repository copies it into a new slot; later runs find the slot warm.
    let cold = gantry_run(gantry, dir, &args, BIG_JOBS);
    row(
        "5,000 files, 20 jobs, first run",
        1,
        cold,
        BIG_JOBS,
        raw_per_job,
    );
    let warm = median(
        (0..runs())
            .map(|_| gantry_run(gantry, dir, &args, BIG_JOBS))
            .collect(),
    );
    row(
        "5,000 files (20 MB), 20 jobs",
        1,
        warm,
        BIG_JOBS,
        raw_per_job,
    );
}

/// A chain of jobs, each needing the one before: the gap between a finish and the next start.
fn chain_latency(gantry: &Path) {
    const CHAIN: usize = 200;
    let tmp = scratch_dir("bench-run-");
    let dir = tmp.path();
    let mut y = String::from("j0:\n  script: [\"true\"]\n");
    for i in 1..CHAIN {
        y.push_str(&format!(
            "j{i}:\n  needs: [j{}]\n  script: [\"true\"]\n",
            i - 1
        ));
    }
    repository(dir, &y);
    let (_, events) = run_json(gantry, dir, &[]);
    let (mut started, mut finished) = (HashMap::new(), HashMap::new());
    for e in events {
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
