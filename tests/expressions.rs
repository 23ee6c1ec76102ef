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
        ("QUOTE", "say \"hi\""),
        ("NOT_RE", "main"),
        ("SPACEY", "two words"),
        ("UNI", "größe"),
        ("NUM", "42"),
        ("ZERO", "0"),
        ("FALSEY", "false"),
        ("BRANCH2", "main"),
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
        // Variables compared with variables.
        ("$BRANCH == $BRANCH2", true),
        ("$BRANCH == $TAG", false),
        ("$BRANCH != $UNDEFINED", true),
        ("$UNDEFINED == $ALSO_UNDEFINED", true),
        ("$EMPTY == $UNDEFINED", false),
        // Quoting.
        ("$QUOTE == 'say \"hi\"'", true),
        ("$SPACEY == \"two words\"", true),
        ("$SPACEY == 'two'", false),
        ("$UNI == \"größe\"", true),
        ("$UNI =~ /^grö/", true),
        ("$BRANCH == \"MAIN\"", false),
        // Values that look like other types are strings.
        ("$NUM == \"42\"", true),
        ("$ZERO", true),
        ("$FALSEY", true),
        ("$FALSEY == \"false\"", true),
        // Whitespace is optional.
        ("$BRANCH==\"main\"", true),
        ("$BRANCH=~/ai/&&$TAG", true),
        ("\t$BRANCH  ==  'main'  ", true),
        // Regex details.
        ("$TAG =~ /^v\\d+\\.\\d+\\.\\d+$/", true),
        ("$TAG =~ /^v2/", false),
        ("$TAG !~ /^v2/", true),
        ("$PATH =~ /^a\\/b$/", true),
        ("$BRANCH =~ /^(main|master)$/", true),
        ("$BRANCH =~ /^(develop|master)$/", false),
        ("$BRANCH =~ /m.i/", true),
        ("$SPACEY =~ /\\s/", true),
        ("$MSG =~ /fix:.*ci/", false),
        ("$MSG =~ /fix:.*ci/s", true),
        ("$BRANCH =~ /A+/iU", true),
        ("$BRANCH =~ $NOT_RE", false),
        ("$TAG !~ $PATTERN", false),
        ("$UNDEFINED =~ $PATTERN", false),
        ("\"v9\" =~ $PATTERN", true),
        // Precedence and grouping.
        ("$EMPTY && $TAG || $BRANCH", true),
        ("$EMPTY && ($TAG || $BRANCH)", false),
        ("$BRANCH || $EMPTY && $UNDEFINED", true),
        ("($BRANCH || $EMPTY) && $UNDEFINED", false),
        ("(($BRANCH == \"main\"))", true),
        (
            "($TAG =~ /^v/ && ($SOURCE == \"push\" || $SOURCE == \"merge_request_event\"))",
            true,
        ),
        ("$A || $B || $C || $TAG", true),
        ("$TAG && $BRANCH && $SOURCE && $EMPTY", false),
        ("$SOURCE != \"push\" && $SOURCE != \"web\"", true),
        ("$UNDEFINED == null && $EMPTY != null", true),
        ("null != $BRANCH", true),
        ("$BRANCH == null || $TAG == null", false),
    ];
    assert!(cases.len() >= 80, "only {} cases", cases.len());
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
