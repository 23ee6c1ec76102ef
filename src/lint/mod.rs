//! `lint`: every problem in a pipeline in one run — load and decode diagnostics plus cross-job
//! checks — sorted by place and without duplicates (a template's mistake is reported once,
//! not once per job that extends it).
//! May not touch: execution, variables expansion.

pub mod downstream;
mod environment;
mod graph;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Severity};
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
    /// Includes that could not be read offline (remote, templates, other projects), as named
    /// in their `include-offline` warnings.
    pub unread_includes: Vec<String>,
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

/// Loads and lints the pipeline at `path`, with the downstream pipelines its trigger jobs
/// start.
pub fn lint_file(path: &Path, options: &LoadOptions) -> Result<Report, LoadError> {
    let tree = downstream::Tree {
        root_dir: load::trigger::root_dir_of(path),
        options,
    };
    Ok(lint_tree(
        load::load_file(path, options)?,
        Some((&tree, path)),
    ))
}

/// Lints an already loaded pipeline (its trigger jobs' pipelines are not read).
pub fn lint_loaded(loaded: Loaded) -> Report {
    lint_tree(loaded, None)
}

fn lint_tree(mut loaded: Loaded, tree: Option<(&downstream::Tree, &Path)>) -> Report {
    let mut diags = std::mem::take(&mut loaded.diagnostics);
    let mut sources = std::mem::take(&mut loaded.sources);
    let parsed = !(loaded.root.is_empty() && diags.has_errors());
    let pipeline = parsed.then(|| {
        let mut p = model::decode(loaded, &mut diags);
        graph::check(&p, &mut diags);
        environment::check(&p, &mut diags);
        if let Some((tree, path)) = tree {
            let mut walk = downstream::Walk {
                sources: &mut sources,
                diags: &mut diags,
                chain: vec![downstream::root_identity(path)],
            };
            downstream::resolve(&mut p, tree, &mut walk);
        }
        p
    });
    crate::alloc::release_freed_memory();
    let mut diagnostics = tidy(diags);
    let unread_includes = explained_by_unread_includes(&mut diagnostics);
    Report {
        sources,
        diagnostics,
        pipeline,
        unread_includes,
    }
}

/// When some includes could not be read offline, the findings their content could resolve —
/// an unknown `extends`, `!reference`, `needs`, dependency or stage, a job without `script`, no
/// jobs at all — are warnings naming those includes, not errors (`--strict` makes them errors
/// again). Returns the unread includes' names.
fn explained_by_unread_includes(diagnostics: &mut [Diagnostic]) -> Vec<String> {
    let mut unread: Vec<String> = Vec::new();
    // A downstream pipeline that cannot be read explains nothing in its parent.
    for d in diagnostics
        .iter()
        .filter(|d| d.code == Code::IncludeOffline && !d.message.starts_with("downstream "))
    {
        let name = d
            .message
            .split('`')
            .nth(1)
            .unwrap_or(&d.message)
            .to_string();
        if !unread.contains(&name) {
            unread.push(name);
        }
    }
    if unread.is_empty() {
        return unread;
    }
    let names = unread
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    for d in diagnostics
        .iter_mut()
        .filter(|d| d.severity == Severity::Error)
    {
        let explained = match d.code {
            Code::UnknownExtends | Code::MissingScript | Code::UnknownStage => true,
            // Stages (their order, or a job's own stage from an unread template) may come
            // from the include too.
            Code::UnknownNeed | Code::NoJobs | Code::NeedsLaterStage => true,
            Code::InvalidReference => d.message.contains("is not defined"),
            // The job named, its stage or the needs that order it may all come from the include.
            Code::InvalidDependency => true,
            // An included file merges under the including one: the `on_stop` job's
            // `environment:action` may be set there (or by a base from there).
            Code::InvalidValue => d.message.contains("does not stop an environment"),
            _ => false,
        };
        if explained {
            d.severity = Severity::Warning;
            d.help = Some(format!(
                "it may come from {names}, which gantry could not read (`--strict` makes this an error)"
            ));
        }
    }
    unread
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
