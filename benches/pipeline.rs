//! `cargo bench --bench pipeline`: load + lint + plan of generated pipelines of 100, 2,000 and
//! 10,000 jobs (each job `extends` a hidden base, has `rules` and `needs`; one in ten is a
//! matrix job). Each size runs in a fresh child process so its peak memory is its own.
//!
//! `cargo bench --bench pipeline -- --emit DIR` writes the generated pipelines instead
//! (`DIR/N/.gitlab-ci.yml`), for `bench/compare-gitlab-ci-local.sh`.

use gantry::lint::lint_loaded;
use gantry::load::{LoadOptions, load_str};
use gantry::plan::{self, Context, PipelineOptions};
use std::path::Path;
use std::time::{Duration, Instant};

const SIZES: [usize; 3] = [100, 2_000, 10_000];

/// `jobs` jobs in 5 stages; each extends `.base`, has two rules and (after the first stage)
/// two needs; every tenth job is a 2×2 matrix.
fn generate(jobs: usize) -> String {
    let mut y = String::with_capacity(jobs * 220);
    y.push_str("stages: [s0, s1, s2, s3, s4]\nvariables:\n  GLOBAL: \"1\"\n  DERIVED: \"$GLOBAL-$CI_COMMIT_REF_SLUG\"\n");
    y.push_str(".base:\n  image: alpine:3.20\n  before_script: [echo setup]\n  retry: 1\n  variables:\n    BASE: base\n");
    let per_stage = jobs.div_ceil(5);
    for i in 0..jobs {
        let stage = i / per_stage;
        y.push_str(&format!(
            "job-{i}:\n  extends: .base\n  stage: s{stage}\n  script: [echo {i}]\n"
        ));
        y.push_str("  rules:\n    - if: $CI_COMMIT_BRANCH == \"main\" && $GLOBAL =~ /^1$/\n    - when: manual\n      allow_failure: true\n");
        if stage > 0 {
            let a = (stage - 1) * per_stage + i % per_stage;
            let b = (stage - 1) * per_stage + (i * 7) % per_stage;
            y.push_str(&format!("  needs: [job-{a}, job-{b}]\n"));
        }
        if i % 10 == 5 {
            y.push_str("  parallel:\n    matrix:\n      - OS: [linux, macos]\n        ARCH: [amd64, arm64]\n");
        }
    }
    y
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn peak_rss_kib() -> u64 {
    rss_kib("VmHWM:")
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Runs one size in this process and prints one table row.
fn measure(jobs: usize) {
    let text = generate(jobs);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(".gitlab-ci.yml");
    let ctx = Context::new(
        &file,
        &PipelineOptions {
            git_ref: Some("main".into()),
            ..PipelineOptions::default()
        },
    )
    .expect("context");
    let runs = if jobs > 5_000 { 5 } else { 15 };
    let (mut lint_t, mut plan_t) = (Vec::new(), Vec::new());
    let mut planned_jobs = 0;
    let mut single_run_peak = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let loaded = load_str(
            ".gitlab-ci.yml",
            text.clone(),
            dir.path(),
            &LoadOptions::default(),
        );
        if std::env::var_os("GANTRY_BENCH_TRACE").is_some() {
            eprintln!(
                "after load: rss {} KiB, hwm {} KiB",
                rss_kib("VmRSS:"),
                rss_kib("VmHWM:")
            );
        }
        let report = lint_loaded(loaded);
        lint_t.push(start.elapsed());
        let pipeline = report.pipeline.as_ref().expect("pipeline");
        assert!(
            report.is_valid(true),
            "generated pipeline invalid: {:?}",
            report.diagnostics.first()
        );
        if std::env::var_os("GANTRY_BENCH_TRACE").is_some() {
            eprintln!(
                "after lint: rss {} KiB, hwm {} KiB",
                rss_kib("VmRSS:"),
                rss_kib("VmHWM:")
            );
        }
        let start = Instant::now();
        let p = plan::build(pipeline, &ctx, Default::default(), Default::default());
        if std::env::var_os("GANTRY_BENCH_TRACE").is_some() {
            eprintln!(
                "after plan: rss {} KiB, hwm {} KiB",
                rss_kib("VmRSS:"),
                rss_kib("VmHWM:")
            );
        }
        plan_t.push(start.elapsed());
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        planned_jobs = p.jobs.len();
        if single_run_peak == 0 {
            // Later runs in the same process only add fragmentation a real `gantry plan` never has.
            single_run_peak = peak_rss_kib();
        }
    }
    let (l, p) = (median(lint_t), median(plan_t));
    println!(
        "{jobs:>7} {planned_jobs:>9} {:>10} {:>10.2} {:>10.2} {:>10.2} {:>9.1}",
        text.len(),
        l.as_secs_f64() * 1e3,
        p.as_secs_f64() * 1e3,
        (l + p).as_secs_f64() * 1e3,
        single_run_peak as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--emit") {
        let dir = Path::new(args.get(i + 1).expect("--emit DIR"));
        for n in SIZES {
            let d = dir.join(n.to_string());
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join(".gitlab-ci.yml"), generate(n)).expect("write");
        }
        return;
    }
    if let Ok(n) = std::env::var("GANTRY_BENCH_SIZE") {
        measure(n.parse().expect("size"));
        return;
    }
    println!(
        "{:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "jobs", "planned", "bytes", "lint ms", "plan ms", "total ms", "peak MiB"
    );
    let me = std::env::current_exe().expect("current exe");
    for n in SIZES {
        let status = std::process::Command::new(&me)
            .env("GANTRY_BENCH_SIZE", n.to_string())
            .status()
            .expect("run size");
        assert!(status.success());
    }
}
