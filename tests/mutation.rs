//! Mutation testing on the stable toolchain (no cargo-fuzz, no nightly): thousands of pipelines
//! mutated from realistic seeds (the repository's fixtures and example pipelines) go through
//! load, lint, plan and the renderers in-process. Each case must finish within a time bound,
//! must not panic, and every error must say where it is (a span; a plan error its file:line).
//!
//! `GANTRY_MUTATION_CASES` (default 3000) and `GANTRY_MUTATION_SEED` (default fixed, so CI
//! is reproducible; `bench/faults.sh` passes a random one) tune it. A failure prints the seed
//! and the mutated pipeline to reproduce it.

use crate::support::checks::knob;
use gantry::diagnostic::Severity;
use gantry::load::{LoadOptions, load_str};
use gantry::plan::{Context, PipelineOptions};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest one case may take (debug build, loaded machine): a hang guard, not a benchmark.
const CASE_LIMIT: Duration = Duration::from_secs(20);

/// xorshift64*: small, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Fragments GitLab pipelines are made of, and ones that break them.
const FRAGMENTS: &[&str] = &[
    "",
    "~",
    "null",
    "[",
    "]",
    "{",
    "}",
    "{}",
    "[]",
    "'",
    "\"",
    ":",
    ": ",
    "- ",
    "-",
    "*a",
    "&a",
    "<<: *a",
    "!reference [.x, script]",
    "!reference [nope]",
    "!!str",
    "$VAR",
    "${CI_COMMIT_REF_NAME}",
    "$[[ inputs.x ]]",
    "needs: [build]",
    "needs: []",
    "needs: [{job: nope, optional: true}]",
    "extends: .base",
    "extends: [nope]",
    "stage: nope",
    "when: never",
    "when: manual",
    "rules: [{if: '$X == \"1\"'}]",
    "if: '$A =~ /[/'",
    "if: '$A == \"1\" &&'",
    "script: [echo]",
    "script: echo",
    "image: alpine",
    "parallel: {matrix: [{A: [1, 2]}]}",
    "parallel: 200",
    "include: nope.yml",
    "include: [{local: ../x.yml}]",
    "artifacts: {paths: [../x]}",
    "cache: {key: a/b}",
    "retry: 3",
    "timeout: 1h",
    "timeout: forever",
    "variables: {A: 1}",
    "0",
    "-1",
    "1e9999",
    "18446744073709551616",
    "true",
    "yes",
    "\t",
    "\u{feff}",
    "é",
    "\u{202e}",
    "%",
    "@",
    "`",
    "|",
    ">",
    "|-\n  x",
    "? a\n: b",
    "--- ",
    "...",
    "#",
    "services: [{name: x, alias: ''}]",
    "environment: {name: review/$CI_COMMIT_REF_SLUG, on_stop: stop}",
    "trigger: {include: x.yml}",
    "dependencies: [nope]",
    "spec: {inputs: {x: {default: 1}}}\n---\n",
];

/// One mutation of `text`.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let i = rng.below(lines.len());
    match rng.below(12) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        2 => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
        }
        3 => {
            let pad = *rng.pick(&["  ", " ", "\t", "- "]);
            lines[i].insert_str(0, pad);
        }
        4 => {
            let l = lines[i].trim_start_matches(' ');
            let cut = lines[i].len() - l.len();
            lines[i] = lines[i][cut.min(2)..].to_string();
        }
        5 => {
            // Replace the value after a colon.
            if let Some(p) = lines[i].find(": ") {
                lines[i] = format!("{}: {}", &lines[i][..p], rng.pick(FRAGMENTS));
            } else {
                lines[i] = rng.pick(FRAGMENTS).to_string();
            }
        }
        6 => {
            let indent: String = lines[i].chars().take_while(|c| *c == ' ').collect();
            lines.insert(i, format!("{indent}{}", rng.pick(FRAGMENTS)));
        }
        7 => {
            // Cut a line at a character boundary.
            let l = &lines[i];
            let cuts: Vec<usize> = l.char_indices().map(|(b, _)| b).collect();
            if !cuts.is_empty() {
                lines[i] = l[..*rng.pick(&cuts)].to_string();
            }
        }
        8 => {
            // A very long line (the renderer's column limit).
            let n = *rng.pick(&[200usize, 5_000, 70_000]);
            lines[i] = format!("{}{}", lines[i], "x".repeat(n));
        }
        9 => {
            // Duplicate a block under another name.
            let end = (i + 1 + rng.below(8)).min(lines.len());
            let block: Vec<String> = lines[i..end].to_vec();
            lines.extend(block.into_iter().enumerate().map(|(k, l)| {
                if k == 0 && !l.starts_with(' ') {
                    format!("copy{}{}", rng.below(100), l)
                } else {
                    l
                }
            }));
        }
        10 => {
            // Rename a key to a near miss.
            if let Some(p) = lines[i].find(':') {
                let mut key: Vec<char> = lines[i][..p].chars().collect();
                if !key.is_empty() {
                    let k = rng.below(key.len());
                    key[k] = *rng.pick(&['x', '_', '.', 'S', ' ']);
                }
                lines[i] = format!("{}{}", key.into_iter().collect::<String>(), &lines[i][p..]);
            }
        }
        _ => {
            // Truncate the file.
            lines.truncate(i.max(1));
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The seeds: every YAML file of the fixtures and the example pipelines (with the directory
/// each lives in, so their local includes resolve).
fn seeds() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![root.join("tests/fixtures"), root.join("pipelines")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml")
                && let Ok(text) = std::fs::read_to_string(&p)
            {
                out.push((p, text));
            }
        }
    }
    out.sort();
    out
}

/// Load, lint, plan and render one pipeline; the problems found, if any.
fn check(name: &str, text: String, dir: &Path, ctx: &Context) -> Vec<String> {
    let mut problems = Vec::new();
    let options = LoadOptions {
        include_variables: Some(
            ctx.predefined()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ),
        ..LoadOptions::default()
    };
    let mut report = gantry::lint::lint_loaded(load_str(name, text, dir, &options));
    for d in &report.diagnostics {
        if d.severity == Severity::Error && d.span.is_none() {
            problems.push(format!(
                "error without a location: [{}] {}",
                d.code.as_str(),
                d.message
            ));
        }
    }
    let _ = gantry::report::lint::human(&report, name, false, false);
    let _ = gantry::report::lint::json(&report, false);
    if let Some(pipeline) = report.pipeline.take().filter(|_| report.is_valid(false)) {
        let mut plan = gantry::plan::build(&pipeline, ctx, Default::default(), Default::default());
        let located = plan.error_spans.len();
        if located != plan.errors.len() {
            problems.push(format!("plan errors without a location: {:?}", plan.errors));
        }
        plan.locate_errors(&report.sources);
        let _ = gantry::report::plan::text(&plan, true);
        let _ = gantry::report::plan::json(&plan);
    }
    problems
}

#[test]
fn mutated_pipelines_never_panic_hang_or_lose_their_location() {
    let cases: usize = knob("GANTRY_MUTATION_CASES", 3000);
    let seed: u64 = knob("GANTRY_MUTATION_SEED", 0x5EED_2026);
    let seeds = seeds();
    assert!(seeds.len() >= 20, "too few seeds: {}", seeds.len());
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Context::new(
        &tmp.path().join(".gitlab-ci.yml"),
        &PipelineOptions::default(),
    )
    .expect("a context outside git");
    // Panics are counted, not printed once per case.
    std::panic::set_hook(Box::new(|_| {}));
    let (tx, rx) = mpsc::channel::<(usize, String, PathBuf)>();
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<Vec<String>, String>)>();
    let worker = std::thread::spawn(move || {
        for (n, text, dir) in rx {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check(".gitlab-ci.yml", text, &dir, &ctx)
            }))
            .map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            });
            if done_tx.send((n, result)).is_err() {
                return;
            }
        }
    });
    let mut rng = Rng(seed | 1);
    let mut failures = Vec::new();
    let (mut panics, mut unlocated, mut slowest) = (0, 0, Duration::ZERO);
    let started = Instant::now();
    for n in 0..cases {
        let (path, text) = rng.pick(&seeds).clone();
        let mut mutated = text;
        for _ in 0..1 + rng.below(4) {
            mutated = mutate(&mutated, &mut rng);
        }
        let dir = path.parent().unwrap().to_path_buf();
        let begun = Instant::now();
        tx.send((n, mutated.clone(), dir)).unwrap();
        match done_rx.recv_timeout(CASE_LIMIT) {
            Ok((_, Ok(problems))) => {
                if !problems.is_empty() {
                    unlocated += 1;
                    failures.push(format!(
                        "case {n} (from {}): {problems:?}\n{}",
                        path.display(),
                        excerpt(&mutated)
                    ));
                }
            }
            Ok((_, Err(panic))) => {
                panics += 1;
                failures.push(format!(
                    "case {n} (from {}) panicked: {panic}\n{}",
                    path.display(),
                    excerpt(&mutated)
                ));
            }
            Err(_) => {
                let _ = std::panic::take_hook();
                panic!(
                    "case {n} (seed {seed}, from {}) took longer than {CASE_LIMIT:?}:\n{}",
                    path.display(),
                    excerpt(&mutated)
                );
            }
        }
        slowest = slowest.max(begun.elapsed());
    }
    drop(tx);
    let _ = worker.join();
    let _ = std::panic::take_hook();
    println!(
        "mutation: {cases} cases from {} seeds, seed {seed}: {panics} panics, {unlocated} without a location, slowest case {slowest:?}, {:?} in all",
        seeds.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed (seed {seed}):\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
}

/// The start of a mutated pipeline, for the failure message.
fn excerpt(text: &str) -> String {
    let mut s: String = text.chars().take(1500).collect();
    if s.len() < text.len() {
        s.push_str("\n…");
    }
    s
}
