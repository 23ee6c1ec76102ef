//! `lint`: every problem in a pipeline in one run — load and decode diagnostics plus cross-job
//! checks — sorted by place and without duplicates (a template's mistake is reported once,
//! not once per job that extends it).
//! May not touch: execution, variables expansion.

mod environment;
mod graph;

use crate::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::load::{self, LoadError, LoadOptions, Loaded};
use crate::model::{self, Pipeline};
use crate::source::SourceMap;
use std::collections::HashSet;
use std::path::Path;

/// The outcome of linting one pipeline.
#[derive(Debug)]
pub struct Report {
    /// Files read (for rendering snippets).
    pub sources: SourceMap,
    /// Problems, sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
    /// The decoded pipeline (absent when the YAML could not be read at all).
    pub pipeline: Option<Pipeline>,
}

impl Report {
    /// Number of diagnostics of `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// Whether the pipeline passes: no errors, and no warnings when `strict`.
    pub fn is_valid(&self, strict: bool) -> bool {
        self.count(Severity::Error) == 0 && (!strict || self.count(Severity::Warning) == 0)
    }
}

/// Loads and lints the pipeline at `path`.
pub fn lint_file(path: &Path, options: &LoadOptions) -> Result<Report, LoadError> {
    Ok(lint_loaded(load::load_file(path, options)?))
}

/// Lints an already loaded pipeline.
pub fn lint_loaded(mut loaded: Loaded) -> Report {
    let mut diags = std::mem::take(&mut loaded.diagnostics);
    let sources = std::mem::take(&mut loaded.sources);
    let parsed = !(loaded.root.is_empty() && diags.has_errors());
    let pipeline = parsed.then(|| {
        let p = model::decode(loaded, &mut diags);
        graph::check(&p, &mut diags);
        environment::check(&p, &mut diags);
        p
    });
    crate::alloc::release_freed_memory();
    Report {
        sources,
        diagnostics: tidy(diags),
        pipeline,
    }
}

fn tidy(diags: Diagnostics) -> Vec<Diagnostic> {
    let mut seen = HashSet::new();
    let mut out: Vec<Diagnostic> = diags
        .into_vec()
        .into_iter()
        .filter(|d| seen.insert((d.code, d.span.map(|s| (s.file, s.offset, s.len)))))
        .collect();
    out.sort_by_key(|d| d.span.map(|s| (s.file, s.line, s.col)));
    out
}
