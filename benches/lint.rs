//! `cargo bench --bench lint`: load + lint of generated pipelines of 100, 2,000 and 10,000 jobs.
//! Each job `extends` a hidden base and has `rules` and `needs`. Prints the median of several
//! runs; no framework, so the numbers are plain wall-clock medians of the whole lint.

use gantry::lint::lint_loaded;
use gantry::load::{LoadOptions, load_str};
use std::path::Path;
use std::time::{Duration, Instant};

/// A pipeline of `jobs` jobs in 5 stages, each extending `.base` and needing two earlier jobs.
fn generate(jobs: usize) -> String {
    let mut y = String::with_capacity(jobs * 200);
    y.push_str("stages: [s0, s1, s2, s3, s4]\nvariables:\n  GLOBAL: \"1\"\n");
    y.push_str(".base:\n  image: alpine:3.20\n  before_script: [echo setup]\n  retry: 1\n  variables:\n    BASE: base\n");
    let per_stage = jobs.div_ceil(5);
    for i in 0..jobs {
        let stage = i / per_stage;
        y.push_str(&format!(
            "job-{i}:\n  extends: .base\n  stage: s{stage}\n  script: [echo {i}]\n"
        ));
        y.push_str("  rules:\n    - if: $CI_COMMIT_BRANCH == \"main\" && $GLOBAL =~ /^1$/\n    - when: manual\n");
        if stage > 0 {
            let a = (stage - 1) * per_stage + i % per_stage;
            let b = (stage - 1) * per_stage + (i * 7) % per_stage;
            y.push_str(&format!("  needs: [job-{a}, job-{b}]\n"));
        }
    }
    y
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    // `cargo bench -- <filter>` passes extra args; `cargo test --benches` passes `--bench`-less runs.
    let quick = std::env::args().any(|a| a == "--quick");
    println!(
        "{:>7} {:>10} {:>12} {:>12}",
        "jobs", "bytes", "median", "per job"
    );
    for jobs in [100, 2_000, 10_000] {
        let text = generate(jobs);
        let runs = if quick {
            1
        } else if jobs > 5_000 {
            5
        } else {
            15
        };
        let mut samples = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            let loaded = load_str(
                "bench.yml",
                text.clone(),
                Path::new("."),
                &LoadOptions::default(),
            );
            let report = lint_loaded(loaded);
            samples.push(start.elapsed());
            assert!(
                report.is_valid(true),
                "generated pipeline invalid: {:?}",
                report.diagnostics.first()
            );
            assert_eq!(report.pipeline.as_ref().map(|p| p.jobs.len()), Some(jobs));
        }
        let m = median(samples);
        println!(
            "{jobs:>7} {:>10} {:>9.2} ms {:>9.1} µs",
            text.len(),
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e6 / jobs as f64
        );
    }
}
