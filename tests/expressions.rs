//! `rules:if` expressions: evaluation against variables, and syntax errors at exact offsets.

use gantry::expr::{evaluate, parse};
use std::collections::HashMap;

fn vars() -> HashMap<String, String> {
    [
        ("BRANCH", "main"),
        ("EMPTY", ""),
        ("TAG", "v1.2.3"),
        ("SOURCE", "merge_request_event"),
        ("PATTERN", "/^v\\d+/"),
        ("PATTERN_I", "/^MAIN$/i"),
        ("MSG", "fix: thing\n[skip ci]"),
        ("PATH", "a/b"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn evaluates_like_gitlab() {
    let cases: &[(&str, bool)] = &[
        ("$BRANCH", true),
        ("$EMPTY", false),
        ("$UNDEFINED", false),
        ("$BRANCH == \"main\"", true),
        ("$BRANCH == 'main'", true),
        ("$BRANCH != \"main\"", false),
        ("$UNDEFINED == null", true),
        ("$EMPTY == null", false),
        ("$EMPTY == \"\"", true),
        ("$UNDEFINED == \"\"", false),
        ("$UNDEFINED != null", false),
        ("null == $UNDEFINED", true),
        ("$BRANCH =~ /ma/", true),
        ("$BRANCH =~ /^ma$/", false),
        ("$BRANCH =~ /MAIN/", false),
        ("$BRANCH =~ /MAIN/i", true),
        ("$BRANCH !~ /^release/", true),
        ("$UNDEFINED =~ /^$/", true),
        ("$UNDEFINED !~ /x/", true),
        ("$TAG =~ $PATTERN", true),
        ("$BRANCH =~ $PATTERN_I", true),
        ("$BRANCH =~ $UNDEFINED", false),
        ("$MSG =~ /\\[skip ci\\]/", true),
        ("$MSG =~ /^\\[skip/m", true),
        ("$MSG =~ /^\\[skip/", false),
        ("$MSG =~ /thing.\\[/s", true),
        ("$PATH =~ /a\\/b/", true),
        ("$BRANCH == \"main\" && $TAG", true),
        ("$BRANCH == \"main\" && $EMPTY", false),
        ("$EMPTY || $TAG", true),
        ("$EMPTY || $UNDEFINED", false),
        ("$BRANCH == \"x\" || $BRANCH == \"y\" && $TAG", false),
        (
            "$BRANCH == \"main\" || $BRANCH == \"y\" && $UNDEFINED",
            true,
        ),
        (
            "($BRANCH == \"main\" || $BRANCH == \"y\") && $UNDEFINED",
            false,
        ),
        (
            "($EMPTY || $TAG) && ($SOURCE == \"merge_request_event\")",
            true,
        ),
        (
            "$SOURCE == \"push\" || ($SOURCE == \"merge_request_event\" && $BRANCH == \"main\")",
            true,
        ),
        ("\"main\" == $BRANCH", true),
        ("\"x\"", true),
        ("\"\"", false),
        ("null", false),
        ("true", true),
        ("false || $BRANCH", true),
    ];
    let vars = vars();
    let mut wrong = Vec::new();
    for (text, expected) in cases {
        let expr = parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        if evaluate(&expr, &vars) != *expected {
            wrong.push(*text);
        }
    }
    assert!(wrong.is_empty(), "wrong results for: {wrong:#?}");
}

#[test]
fn syntax_errors_point_at_the_offending_byte() {
    let cases: &[(&str, usize)] = &[
        ("$A = \"x\"", 3),
        ("$A == ", 6),
        ("$A == \"x", 6),
        ("$A =~ /x", 6),
        ("$A =~ /x/g", 9),
        ("($A == \"x\"", 0),
        ("$A == \"x\")", 9),
        ("$A \"x\"", 3),
        ("$A == main", 6),
        ("$1A", 0),
        ("&& $A", 0),
        ("$A =~ /[/", 6),
        ("", 0),
        ("$A & $B", 3),
    ];
    let mut wrong = Vec::new();
    for (text, at) in cases {
        match parse(text) {
            Ok(_) => wrong.push(format!("{text:?} parsed")),
            Err(e) if e.at != *at => wrong.push(format!("{text:?}: at {} ({})", e.at, e.message)),
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn more_than_one_hundred_tokens_is_an_error() {
    let long = vec!["$A"; 51].join(" && ");
    assert!(parse(&long).is_err());
    let ok = vec!["$A"; 50].join(" && ");
    assert!(parse(&ok).is_ok());
}
