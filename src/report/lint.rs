//! Renders lint results: miette snippets for people, one JSON document for machines.

use crate::diagnostic::{Diagnostic, Severity};
use crate::lint::Report;
use crate::source::SourceMap;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use serde::Serialize;

/// One diagnostic in `--format json`.
#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: &'static str,
    code: &'static str,
    message: &'a str,
    file: &'a str,
    line: Option<u32>,
    column: Option<u32>,
    job: Option<&'a str>,
    help: Option<&'a str>,
}

/// The `--format json` document.
#[derive(Serialize)]
struct JsonReport<'a> {
    valid: bool,
    diagnostics: Vec<JsonDiagnostic<'a>>,
    unread_includes: &'a [String],
}

/// `{"valid": …, "diagnostics": […]}` for `report`.
pub fn json(report: &Report, strict: bool) -> String {
    let doc = JsonReport {
        valid: report.is_valid(strict),
        diagnostics: report
            .diagnostics
            .iter()
            .map(|d| JsonDiagnostic {
                severity: d.severity.as_str(),
                code: d.code.as_str(),
                message: &d.message,
                file: d.span.map(|s| report.sources.name(s.file)).unwrap_or(""),
                line: d.span.map(|s| s.line),
                column: d.span.map(|s| s.col),
                job: d.job.as_deref(),
                help: d.help.as_deref(),
            })
            .collect(),
        unread_includes: &report.unread_includes,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Every diagnostic with its snippet, then a one-line summary.
pub fn human(report: &Report, file: &str, strict: bool, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    for d in &report.diagnostics {
        out.push_str(&location(d, &report.sources));
        out.push('\n');
        let report = to_miette(d, &report.sources);
        let _ = handler.render_report(&mut out, report.as_ref());
        out.push('\n');
    }
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    if !report.unread_includes.is_empty() {
        let names: Vec<String> = report
            .unread_includes
            .iter()
            .map(|n| format!("`{n}`"))
            .collect();
        out.push_str(&format!("not checked offline: {}\n", names.join(", ")));
    }
    if report.is_valid(strict) {
        let jobs = report.pipeline.as_ref().map_or(0, |p| p.jobs.len());
        out.push_str(&format!("✓ {file} is valid: {jobs} job{}", plural(jobs)));
        if warnings > 0 {
            out.push_str(&format!(", {warnings} warning{}", plural(warnings)));
        }
    } else {
        out.push_str(&format!(
            "✗ {file}: {errors} error{}, {warnings} warning{}",
            plural(errors),
            plural(warnings)
        ));
    }
    out.push('\n');
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One greppable line per diagnostic (for `plan` and `run`, which go on despite warnings).
pub fn short(report: &Report) -> String {
    report
        .diagnostics
        .iter()
        .map(|d| format!("{}\n", location(d, &report.sources)))
        .collect()
}

/// `file:line:col: error[code]: message` — the greppable first line.
fn location(d: &Diagnostic, sources: &SourceMap) -> String {
    let place = match d.span {
        Some(s) => format!("{}:{}:{}: ", sources.name(s.file), s.line, s.col),
        None => String::new(),
    };
    format!(
        "{place}{}[{}]: {}",
        d.severity.as_str(),
        d.code.as_str(),
        d.message
    )
}

fn to_miette(d: &Diagnostic, sources: &SourceMap) -> miette::Report {
    let mut md = MietteDiagnostic::new(d.message.clone()).with_severity(match d.severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
    });
    if let Some(help) = &d.help {
        md = md.with_help(help.clone());
    }
    let Some(span) = d.span else {
        return miette::Report::new(md);
    };
    md = md.with_label(LabeledSpan::at(
        span.offset as usize..(span.offset + span.len.max(1)) as usize,
        "here",
    ));
    match sources.get(span.file) {
        Some(file) if !file.text.is_empty() => miette::Report::new(md).with_source_code(
            NamedSource::new(file.name.clone(), file.text.as_str().to_string()),
        ),
        _ => miette::Report::new(md),
    }
}
