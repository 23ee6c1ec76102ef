//! The pipelines a `trigger:` starts: `trigger:include` names a child pipeline's files with the
//! same shapes a top-level `include:` takes (`local`, `template`, `component`, `project` +
//! `file`, each with `inputs`), so they go through the same [`Includer`] — with the same
//! limits, wildcards, confinement and `spec:inputs` — and come out as a pipeline of their own
//! whose spans point into the child's files. `artifact` + `job` (a dynamic child pipeline) names
//! a file another job generates: it can only be read when that job has run. A multi-project
//! trigger (`trigger:project`) reads the other project's `.gitlab-ci.yml` from a local checkout.
//! Kept apart from `include.rs` so network includes can grow there independently.

use super::include::Includer;
use super::node::{Entry, Map, Node, Value};
use super::{LoadOptions, extends, reference};
use crate::diagnostic::Diagnostics;
use crate::source::{SourceMap, Span};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// GitLab's limit on nested child pipelines: a parent, its children and their children
/// (`Ci::Pipeline` hierarchy depth for `trigger:include`).
pub const MAX_CHILD_DEPTH: usize = 2;

/// A downstream pipeline's configuration, loaded but not yet decoded.
#[derive(Debug)]
pub struct Downstream {
    /// The resolved top-level mapping (includes merged, `extends` and `!reference` applied).
    pub root: Map,
    /// Keys whose `extends` chain failed.
    pub incomplete: HashSet<String>,
    /// Where whole-pipeline diagnostics go (the first file the trigger names).
    pub span: Span,
    /// What identifies this pipeline in a chain of triggers (the files it is made of), so a
    /// child that triggers its own ancestor is refused rather than expanded forever.
    pub identity: Vec<PathBuf>,
}

/// `artifact` + `job` of a dynamic child pipeline, when `trigger:include` names one.
pub fn generated(include: &Node) -> Option<(Spanned, Spanned)> {
    items(include).into_iter().find_map(|item| {
        let m = item.as_map()?;
        let artifact = m.get("artifact")?;
        let job = m.get("job");
        Some((
            (
                artifact.value.scalar_string().unwrap_or_default(),
                artifact.value.span,
            ),
            match job {
                Some(j) => (j.value.scalar_string().unwrap_or_default(), j.value.span),
                None => (String::new(), item.span),
            },
        ))
    })
}

/// A text value and where it is written.
pub type Spanned = (String, Span);

/// Loads the child pipeline `trigger:include` names, resolving local files against `root_dir`
/// (the project's root) and registering every file in `sources`.
pub fn child(
    include: &Node,
    root_dir: &Path,
    options: &LoadOptions,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Downstream {
    let identity = items(include)
        .into_iter()
        .map(|item| identity_of(item, root_dir))
        .collect();
    let before = sources.files().len();
    let mut top = Map::default();
    top.insert(
        "include".to_string(),
        Entry {
            key_span: include.span,
            value: include.clone(),
        },
    );
    // The includer names the including file in cycle messages; the trigger is not a file.
    let main = root_dir.join("(trigger:include)");
    let mut includer = Includer::new(root_dir.to_path_buf(), options, sources, diags);
    let mut root = includer.expand(top, &main);
    let span = first_file_span(sources, before).unwrap_or(include.span);
    let incomplete = extends::resolve(&mut root, diags);
    reference::resolve(&mut root, diags);
    Downstream {
        root,
        incomplete,
        span,
        identity,
    }
}

/// Loads a pipeline file on its own: another project's `.gitlab-ci.yml` (`trigger:project`,
/// from its checkout `root_dir`) or a dynamic child pipeline's generated file (its local
/// includes resolve against the project's root, as GitLab resolves them in the repository).
pub fn file(
    path: &Path,
    root_dir: &Path,
    inputs: Option<&Node>,
    options: &LoadOptions,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<Downstream, std::io::Error> {
    let name = path.display().to_string();
    let id = super::read_source(path, name, options.limits, sources, diags)?;
    let mut root = Map::default();
    let mut span = Span::default();
    if let Some(id) = id
        && let Some(doc) = super::parse_pipeline_file(sources, id, options.limits, diags)
    {
        span = doc.span;
        let mut body = doc.body;
        let at = inputs.map_or(super::file_start(id), |i| i.span);
        super::inputs::apply(doc.header.as_ref(), inputs, None, &mut body, at, diags);
        let mut includer = Includer::new(root_dir.to_path_buf(), options, sources, diags);
        root = includer.expand(body, path);
    }
    let incomplete = extends::resolve(&mut root, diags);
    reference::resolve(&mut root, diags);
    Ok(Downstream {
        root,
        incomplete,
        span,
        identity: vec![canonical(path)],
    })
}

/// `raw` with the pipeline's variables expanded, as include locations are.
pub fn expand_location(raw: &str, vars: &std::collections::HashMap<String, String>) -> String {
    super::expand::expand(raw, vars)
}

/// The directory a pipeline file's local includes resolve against.
pub fn root_dir_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The canonical path of the file a pipeline's main file is, for cycle checks.
pub fn identity_of_file(path: &Path) -> PathBuf {
    canonical(path)
}

fn first_file_span(sources: &SourceMap, before: usize) -> Option<Span> {
    (before < sources.files().len())
        .then(|| super::file_start(crate::source::FileId(before as u32)))
}

/// A local file's canonical path, or the item as text for anything else.
fn identity_of(item: &Node, root_dir: &Path) -> PathBuf {
    let local = match &item.value {
        Value::Str(s) => Some(s.clone()),
        Value::Map(m) => m.get("local").and_then(|e| e.value.scalar_string()),
        _ => None,
    };
    match local {
        Some(l) => canonical(&root_dir.join(l.trim_start_matches('/'))),
        None => PathBuf::from(format!("{:?}", strip_spans(item))),
    }
}

/// An include item's content without its positions (two triggers naming the same template
/// from different lines are the same pipeline).
fn strip_spans(node: &Node) -> String {
    match &node.value {
        Value::Map(m) => m
            .iter()
            .map(|(k, e)| format!("{k}={}", strip_spans(&e.value)))
            .collect::<Vec<_>>()
            .join(","),
        Value::Seq(items) => items.iter().map(strip_spans).collect::<Vec<_>>().join(";"),
        _ => node.scalar_string().unwrap_or_default(),
    }
}

fn items(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
