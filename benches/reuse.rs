//! `cargo bench --bench reuse`: job reuse on a 20-job pipeline in a repository of 5,000 files
//! (4 KB each, on the working directory's disk): a plain second run (every job runs, warm
//! slot), a second run with `--reuse` where every job is reused (target: ≤ 100 ms wall), and
//! a `--reuse` run after one input file of one job was touched (only that job and the one that
//! needs it run). Jobs 0–9 build (each depends on its own directory of 100 files, through
//! `[jobs.NAME] inputs`) and keep an artifact; jobs 10–19 each need one of them. Medians of
//! `RUNS` runs (default 3), all in one benchmark run.

mod common;

use common::{median, repository, run_json, runs, source_tree, workdir};
use std::collections::BTreeMap;
use std::path::Path;

const FILES: usize = 5_000;
const FILE_SIZE: usize = 4_000;
const JOBS: usize = 20;

/// `gantry run ARGS` (shell, `-j 1`): wall seconds and job → status.
fn gantry_run(gantry: &Path, dir: &Path, args: &[&str]) -> (f64, BTreeMap<String, String>) {
    let all: Vec<&str> = ["--executor", "shell", "-j", "1"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let (total, events) = run_json(gantry, dir, &all);
    let status = events
        .iter()
        .filter(|e| e["event"] == "job_finished")
        .map(|e| {
            (
                e["job"].as_str().unwrap_or_default().to_string(),
                e["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect::<BTreeMap<_, _>>();
    assert_eq!(status.len(), JOBS);
    (total, status)
}

fn ran(status: &BTreeMap<String, String>) -> Vec<String> {
    status
        .iter()
        .filter(|(_, s)| *s == "success")
        .map(|(j, _)| j.clone())
        .collect()
}

fn main() {
    let gantry = Path::new(env!("CARGO_BIN_EXE_gantry"));
    let tmp = workdir("bench-reuse-");
    let dir = tmp.path();
    source_tree(dir, FILES, FILE_SIZE, 7);
    let mut yaml = String::from("stages: [build, test]\n");
    let mut config = String::new();
    for j in 0..JOBS {
        if j < JOBS / 2 {
            yaml.push_str(&format!(
                "j{j}:\n  stage: build\n  script: [\"echo built > out-{j}.txt\"]\n  artifacts:\n    paths: [out-{j}.txt]\n"
            ));
        } else {
            yaml.push_str(&format!(
                "j{j}:\n  stage: test\n  needs: [j{}]\n  script: [\"cat out-{}.txt\"]\n",
                j - JOBS / 2,
                j - JOBS / 2
            ));
        }
        config.push_str(&format!("[jobs.j{j}]\ninputs = [\"src/d{j:03}/**\"]\n"));
    }
    repository(dir, &yaml);
    std::fs::create_dir_all(dir.join(".gantry")).unwrap();
    std::fs::write(dir.join(".gantry/config.toml"), config).unwrap();

    // Untimed: fill the slot, and the store.
    gantry_run(gantry, dir, &[]);
    gantry_run(gantry, dir, &["--reuse"]);

    let plain = median(
        (0..runs())
            .map(|_| gantry_run(gantry, dir, &[]).0)
            .collect(),
    );
    let reused = median(
        (0..runs())
            .map(|_| {
                let (t, s) = gantry_run(gantry, dir, &["--reuse"]);
                assert!(s.values().all(|v| v == "reused"), "{s:?}");
                t
            })
            .collect(),
    );
    let mut n = 0;
    let touched = median(
        (0..runs())
            .map(|_| {
                n += 1;
                std::fs::write(dir.join("src/d003/f00300.txt"), format!("edit {n}\n")).unwrap();
                let (t, s) = gantry_run(gantry, dir, &["--reuse"]);
                assert_eq!(ran(&s), ["j13", "j3"], "{s:?}");
                t
            })
            .collect(),
    );
    println!(
        "{:<58} {:>9}",
        "case (20 jobs, 5,000 files, -j 1, shell)", "wall ms"
    );
    println!(
        "{:<58} {:>9.1}",
        "plain second run (every job runs)",
        plain * 1e3
    );
    println!(
        "{:<58} {:>9.1}",
        "--reuse, nothing changed (20 reused)",
        reused * 1e3
    );
    println!(
        "{:<58} {:>9.1}",
        "--reuse, one input file of j3 touched (j3, j13 run)",
        touched * 1e3
    );
}
