//! `load`: YAML files → one resolved, spanned mapping.
//!
//! Order follows GitLab (`Gitlab::Ci::Config#build_config`): parse, merge includes, apply `extends`,
//! then resolve `!reference`. `default:` and `inherit:` are applied later, by `model`.
//! May not touch: the typed model, variables, execution.

pub mod cache;
pub mod component;
mod expand;
mod extends;
pub mod fetch;
mod include;
mod include_rules;
mod input_rules;
mod inputs;
pub mod node;
mod reference;
pub mod remote;
mod scalar;
pub mod trigger;
pub mod yaml;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, SourceMap, Span};
use node::{Map, Node, Value};
pub use reference::UNRESOLVED as UNRESOLVED_TAG;
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
pub use yaml::Limits;

/// Settings for loading a pipeline.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Per-file bounds.
    pub limits: Limits,
    /// Most files `include:` may pull in (GitLab's default: 150).
    pub max_includes: usize,
    /// Directory that resolves `include: template:` offline (`DIR/<template name>`).
    pub template_dir: Option<PathBuf>,
    /// The pipeline's variables, to evaluate `include: rules`; `None` includes every file
    /// (lint checks them all).
    pub include_variables: Option<std::collections::HashMap<String, String>>,
    /// Local checkouts of other projects' components: `HOST/GROUP/PROJECT` → directory
    /// (`--component-dir`).
    pub component_dirs: Vec<(String, PathBuf)>,
    /// Fetches `project`, `remote`, `template` and other projects' `component` includes (and
    /// records what they resolved to); `None` leaves them unread, with a warning each.
    pub remote: Option<std::sync::Arc<remote::Remote>>,
    /// Local checkouts of other projects for multi-project triggers: `GROUP/PROJECT` →
    /// directory (`--project-dir`, `[projects]`).
    pub project_dirs: Vec<(String, PathBuf)>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            limits: Limits::default(),
            max_includes: 150,
            template_dir: None,
            include_variables: None,
            component_dirs: Vec::new(),
            remote: None,
            project_dirs: Vec::new(),
        }
    }
}

/// A loaded pipeline: the resolved top-level mapping and everything needed to explain it.
#[derive(Debug)]
pub struct Loaded {
    /// Every file read.
    pub sources: SourceMap,
    /// The resolved top-level mapping (includes merged, `extends` and `!reference` applied).
    pub root: Map,
    /// Span of the main document.
    pub root_span: Span,
    /// The `spec:` header document, if the file has one.
    pub header: Option<Node>,
    /// Problems found while loading.
    pub diagnostics: Diagnostics,
    /// Keys whose `extends` chain failed: their content may be partial.
    pub incomplete: HashSet<String>,
}

/// The main file could not be read at all (an I/O problem, not a pipeline problem).
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct LoadError {
    /// File that failed.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Loads the pipeline at `path`; `include: local` paths resolve against its directory.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut sources = SourceMap::default();
    let mut diags = Diagnostics::default();
    let name = path.display().to_string();
    let id =
        read_source(path, name, options.limits, &mut sources, &mut diags).map_err(|source| {
            LoadError {
                path: path.to_path_buf(),
                source,
            }
        })?;
    let root_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok(finish(id, root_dir, path, sources, diags, options))
}

/// Loads a pipeline from text (tests, benchmarks, stdin); includes resolve against `root_dir`.
pub fn load_str(name: &str, text: String, root_dir: &Path, options: &LoadOptions) -> Loaded {
    let mut sources = SourceMap::default();
    let id = sources.add(PathBuf::from(name), name.to_string(), text);
    let main = root_dir.join(name);
    finish(
        Some(id),
        root_dir.to_path_buf(),
        &main,
        sources,
        Diagnostics::default(),
        options,
    )
}

fn finish(
    id: Option<FileId>,
    root_dir: PathBuf,
    main: &Path,
    mut sources: SourceMap,
    mut diags: Diagnostics,
    options: &LoadOptions,
) -> Loaded {
    let start = Span {
        file: FileId(0),
        line: 1,
        col: 1,
        ..Span::default()
    };
    let mut loaded = Loaded {
        sources: SourceMap::default(),
        root: Map::default(),
        root_span: start,
        header: None,
        diagnostics: Diagnostics::default(),
        incomplete: HashSet::new(),
    };
    if let Some(id) = id
        && let Some(doc) = parse_pipeline_file(&sources, id, options.limits, &mut diags)
    {
        loaded.root_span = doc.span;
        let mut body = doc.body;
        // The main file's content is checked even when an input failed: it is all there is.
        let _complete = inputs::apply(
            doc.header.as_ref(),
            None,
            None,
            &mut body,
            file_start(id),
            &mut diags,
        );
        loaded.header = doc.header;
        let mut includer = include::Includer::new(root_dir, options, &mut sources, &mut diags);
        let mut root = includer.expand(body, main);
        loaded.incomplete = extends::resolve(&mut root, &mut diags);
        reference::resolve(&mut root, &mut diags);
        loaded.root = root;
    }
    loaded.sources = sources;
    loaded.diagnostics = diags;
    loaded
}

/// Reads a file within the size limit and registers it. Oversized or non-UTF-8 files are
/// registered empty-handed with a diagnostic (`Ok(None)`); only I/O failures are `Err`.
fn read_source(
    path: &Path,
    name: String,
    limits: Limits,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> std::io::Result<Option<FileId>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limits.max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limits.max_bytes {
        let id = sources.add(path.to_path_buf(), name.clone(), String::new());
        diags.push(
            Diagnostic::error(
                Code::YamlLimit,
                file_start(id),
                format!(
                    "{name} is larger than {} MiB; GitLab rejects CI files this large too",
                    limits.max_bytes / (1024 * 1024)
                ),
            )
            .with_help("split the pipeline with `include:`"),
        );
        return Ok(None);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(sources.add(path.to_path_buf(), name, text))),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let id = sources.add(path.to_path_buf(), name.clone(), text);
            let Some(file) = sources.get(id) else {
                return Ok(None);
            };
            let before = &file.text[..file.text.len().min(valid)];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().unwrap_or("").chars().count();
            let span = Span {
                file: id,
                offset: valid as u32,
                len: 1,
                line: line as u32,
                col: col as u32 + 1,
            };
            diags.error(
                Code::YamlSyntax,
                span,
                format!("{name} is not UTF-8 text (invalid byte at offset {valid})"),
            );
            Ok(None)
        }
    }
}

fn file_start(file: FileId) -> Span {
    Span {
        file,
        line: 1,
        col: 1,
        ..Span::default()
    }
}

/// A pipeline file split into its optional `spec:` header and its body mapping.
struct PipelineDoc {
    header: Option<Node>,
    body: Map,
    span: Span,
}

fn parse_pipeline_file(
    sources: &SourceMap,
    id: FileId,
    limits: Limits,
    diags: &mut Diagnostics,
) -> Option<PipelineDoc> {
    let file = sources.get(id)?;
    let mut docs = yaml::parse(file, id, limits, diags)?;
    let header = if docs.len() == 2 && is_spec_header(&docs[0]) {
        Some(docs.remove(0))
    } else {
        None
    };
    if docs.len() > 1 {
        diags.push(
            Diagnostic::error(
                Code::MultiDocument,
                docs[1].span,
                "a pipeline file holds one YAML document, but this is a second one",
            )
            .with_help("only a `spec:` header may come before `---`; remove the extra `---`"),
        );
        return None;
    }
    let span = docs.first().map(|d| d.span).unwrap_or(file_start(id));
    let body = match docs.pop().map(|d| (d.value, d.span)) {
        None | Some((Value::Null, _)) => Map::default(),
        Some((Value::Map(m), _)) => *m,
        Some((_, span)) => {
            diags.error(
                Code::InvalidType,
                span,
                "the top level of a pipeline must be a mapping of keywords and jobs",
            );
            return None;
        }
    };
    Some(PipelineDoc { header, body, span })
}

fn is_spec_header(doc: &Node) -> bool {
    doc.as_map()
        .is_some_and(|m| m.len() == 1 && m.contains_key("spec"))
}

/// Edit distance counting a swap of neighbours as one edit (optimal string alignment),
/// for "did you mean" hints: `biuld` is one edit from `build`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// Diagnostics for every key of `map` not in `allowed`, each with a "did you mean" hint.
/// `place` names the mapping in the message ("job `build`", "an include").
pub fn unknown_keys(map: &Map, allowed: &[&str], place: &str) -> Vec<Diagnostic> {
    map.iter()
        .filter(|(key, _)| !allowed.contains(&key.as_str()))
        .map(|(key, e)| {
            let d = Diagnostic::error(
                Code::UnknownKeyword,
                e.key_span,
                format!("unknown keyword `{key}` in {place}"),
            );
            match suggest(key, allowed.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("{place} accepts: {}", allowed.join(", "))),
            }
        })
        .collect()
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
