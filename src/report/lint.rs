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
    let Some(file) = sources.get(span.file).filter(|f| !f.text.is_empty()) else {
        return miette::Report::new(md);
    };
    let (offset, len) = (span.offset as usize, span.len.max(1) as usize);
    if let Some(w) = Window::around(&file.name, &file.text, offset, len) {
        md = md.with_label(LabeledSpan::at(w.label.clone(), "here"));
        return miette::Report::new(md).with_source_code(w);
    }
    md = md.with_label(LabeledSpan::at(offset..offset + len, "here"));
    miette::Report::new(md).with_source_code(NamedSource::new(
        file.name.clone(),
        file.text.as_str().to_string(),
    ))
}

/// Lines longer than this (in bytes) are shown shortened around the span: miette's renderer
/// pads with the column as a format width, which panics past 65,535, and a screen of one
/// line helps nobody anyway.
const LONG_LINE: usize = 400;
/// Characters kept before the span's start when a line is shortened.
const BEFORE: usize = 60;
/// Characters kept from the span's start on when a line is shortened.
const AFTER: usize = 120;

/// The span's line cut to a few dozen characters around it, as a source that keeps the real
/// line number; used only when a line near the span is too long to show whole.
struct Window {
    name: String,
    text: String,
    /// 0-based line of `text` in the file.
    line: usize,
    /// The label in `text`'s coordinates.
    label: std::ops::Range<usize>,
}

impl miette::SourceCode for Window {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.line,
            inner.column(),
            inner.line_count(),
        )))
    }
}

impl Window {
    fn around(name: &str, text: &str, offset: usize, len: usize) -> Option<Window> {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let mut end = (offset + len).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        // The context miette shows: the line before, the span's lines, the line after.
        let from = text[..line_start.saturating_sub(1)]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let to = text[end..]
            .match_indices('\n')
            .nth(1)
            .map_or(text.len(), |(i, _)| end + i);
        if !text[from..to].split('\n').any(|l| l.len() > LONG_LINE) {
            return None;
        }
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let line = &text[line_start..line_end];
        let at = offset - line_start;
        let cut_start = line[..at]
            .char_indices()
            .rev()
            .nth(BEFORE - 1)
            .map_or(0, |(i, _)| i);
        let cut_end = line[at..]
            .char_indices()
            .nth(AFTER)
            .map_or(line.len(), |(i, _)| at + i);
        let mut shown = String::new();
        if cut_start > 0 {
            shown.push('…');
        }
        let label_start = shown.len() + at - cut_start;
        shown.push_str(&line[cut_start..cut_end]);
        let label_end = (label_start + len).min(shown.len());
        if cut_end < line.len() {
            shown.push('…');
        }
        Some(Window {
            name: name.to_string(),
            line: text[..line_start].matches('\n').count(),
            label: label_start..label_end.max(label_start),
            text: shown,
        })
    }
}
