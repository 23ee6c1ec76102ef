//! Small readings the test modules share: a helper program that must succeed (docker, sh, a
//! build script), gantry's JSON events and diagnostics, and a number a test takes from its
//! environment. Each was written out in several test files, a few lines apiece, and drifted
//! (one quoted stderr on failure, the next did not).

use serde_json::Value;
use std::process::{Command, Output};

/// Runs `command`, which must start and succeed; its output. `what` names it in the panic,
/// which quotes its stderr.
pub fn succeeded(command: &mut Command, what: &str) -> Output {
    let o = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The JSON lines of `out` (`--format json` events), other lines skipped: a test that reads
/// the events of a run that may also print plain text (a failure, a notice).
pub fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `field` (`code`, `message`, `severity`, …) of every diagnostic of a `lint --format json`
/// document, in order.
pub fn diagnostics<'a>(doc: &'a Value, field: &str) -> Vec<&'a str> {
    doc["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics in {doc:#}"))
        .iter()
        .map(|d| {
            d[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field} in {d:#}"))
        })
        .collect()
}

/// The number in environment variable `name` (a knob of a long test: how many cases, which
/// seed), or `default` when it is unset or not a number.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Asserts that `out` (what a run printed) holds every one of `texts`, naming the first one
/// missing and quoting `out`: for a test that checks a list of lines a run must print.
pub fn assert_printed(out: &str, texts: &[&str]) {
    for text in texts {
        assert!(out.contains(text), "no {text:?} in:\n{out}");
    }
}

/// Asserts that `out` holds each of `texts`, in this order (the first occurrence of each).
pub fn assert_in_order(out: &str, texts: &[&str]) {
    let at = |text: &str| {
        out.find(text)
            .unwrap_or_else(|| panic!("no {text:?} in:\n{out}"))
    };
    for pair in texts.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{:?} after {:?} in:\n{out}",
            pair[0],
            pair[1]
        );
    }
}

/// `(severity, code)` of every diagnostic of a `lint --format json` document, in order.
pub fn diagnostic_codes(doc: &Value) -> Vec<(String, String)> {
    diagnostics(doc, "severity")
        .into_iter()
        .zip(diagnostics(doc, "code"))
        .map(|(severity, code)| (severity.to_string(), code.to_string()))
        .collect()
}

/// Asserts that `text` (gantry's output, a pipeline's reason) refuses what `what` names and
/// does not quote `secret`, the content of the file it refused to read.
pub fn refused_quietly(what: &str, text: &str, secret: &str) {
    assert!(text.contains("refused"), "{what}: {text}");
    assert!(!text.contains(secret), "{what} quotes the file: {text}");
}
