//! `include:` — local files (with wildcards) merged under the including file, recursively.
//! Locations may use variables (`expand.rs`): plan and run expand them, lint warns that it cannot.
//! Components of this project or of a `--component-dir` checkout resolve from disk
//! (`component.rs`); other network includes (project, remote, templates without
//! `--template-dir`, other components) are fetched through `LoadOptions::remote`
//! (`remote.rs`, cached) and located as `HOST/GROUP/PROJECT@SHA:path`. What cannot be read here
//! (no fetcher, no network or access, `--offline` without a cached copy) is a warning naming the
//! include; what GitLab would refuse too is an error.

use super::component;
use super::expand::{expand, mentions_variable};
use super::node::{Map, Node, Value, deep_merge};
use super::remote::{Failure, Fetched, ProjectAt};
use super::{LoadOptions, parse_pipeline_file, read_source, unknown_keys};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::{SourceMap, Span};
use std::path::{Path, PathBuf};

const INCLUDE_KEYS: &[&str] = &[
    "local",
    "project",
    "file",
    "ref",
    "remote",
    "integrity",
    "template",
    "component",
    "rules",
    "inputs",
    "cache",
];

/// Resolves includes for one pipeline, counting files against the include limit.
pub struct Includer<'a> {
    root_dir: PathBuf,
    options: &'a LoadOptions,
    sources: &'a mut SourceMap,
    diags: &'a mut Diagnostics,
    count: usize,
    /// The files being expanded, outermost first (local: canonical path; fetched: its name).
    chain: Vec<String>,
    /// Where the file being expanded came from: `None` for this repository, else the project
    /// and commit whose `local:` includes it reads (GitLab's include context).
    origins: Vec<Option<ProjectAt>>,
}

/// GitLab nests includes at most 100 levels deep.
const MAX_NESTING: usize = 100;

/// A file an include names: on disk, or fetched.
enum Target {
    Local(PathBuf, Option<component::Context>),
    Fetched(Fetched),
}

impl<'a> Includer<'a> {
    /// An includer resolving local paths against `root_dir` (the repository root).
    pub fn new(
        root_dir: PathBuf,
        options: &'a LoadOptions,
        sources: &'a mut SourceMap,
        diags: &'a mut Diagnostics,
    ) -> Self {
        Includer {
            root_dir,
            options,
            sources,
            diags,
            count: 0,
            chain: Vec::new(),
            origins: Vec::new(),
        }
    }

    /// Returns `map` with its `include:` files merged underneath it (the including file wins).
    pub fn expand(&mut self, map: Map, path: &Path) -> Map {
        self.expand_in(map, canonical(path).display().to_string(), None)
    }

    fn expand_in(&mut self, mut map: Map, key: String, at: Option<ProjectAt>) -> Map {
        let Some(entry) = map.shift_remove("include") else {
            return map;
        };
        self.chain.push(key);
        self.origins.push(at);
        let mut merged = Map::default();
        for item in items(&entry.value) {
            if let (Some(vars), Some(rules)) = (
                &self.options.include_variables,
                item.as_map().and_then(|m| m.get("rules")),
            ) && !super::include_rules::applies(&rules.value, vars, &self.root_dir, self.diags)
            {
                continue;
            }
            let inputs = item
                .as_map()
                .and_then(|m| m.get("inputs"))
                .map(|e| &e.value);
            for file in self.targets(item) {
                if let Some(included) = self.load(file, item.span, inputs) {
                    deep_merge(&mut merged, included);
                }
            }
        }
        self.chain.pop();
        self.origins.pop();
        deep_merge(&mut merged, map);
        merged
    }

    /// Files one include item names, after wildcards; unread network includes yield none.
    fn targets(&mut self, item: &Node) -> Vec<Target> {
        match &item.value {
            Value::Str(raw) => {
                let Some(s) = self.location(raw, item.span) else {
                    return vec![];
                };
                if s.starts_with("http://") || s.starts_with("https://") {
                    return self.remote_url(&s, item.span);
                }
                self.local_target(&s, item.span)
            }
            Value::Map(m) => self.targets_of_map(m, item.span),
            _ => {
                self.diags.error(
                    Code::InvalidType,
                    item.span,
                    format!(
                        "an include is a path or a mapping such as `{{local: path}}`, not {}",
                        item.kind_name()
                    ),
                );
                vec![]
            }
        }
    }

    fn targets_of_map(&mut self, m: &Map, span: Span) -> Vec<Target> {
        for d in unknown_keys(m, INCLUDE_KEYS, "an include") {
            self.diags.push(d);
        }
        if let Some(e) = m.get("local") {
            return match e.value.as_str() {
                Some(raw) => match self.location(raw, e.value.span) {
                    Some(s) => self.local_target(&s, e.value.span),
                    None => vec![],
                },
                None => {
                    self.type_error(&e.value, "`local` takes a path");
                    vec![]
                }
            };
        }
        if let Some(e) = m.get("component") {
            return match e.value.as_str() {
                Some(raw) => self.component(raw, e.value.span),
                None => {
                    self.type_error(&e.value, "`component` takes `HOST/PROJECT/NAME@VERSION`");
                    vec![]
                }
            };
        }
        if let Some(e) = m.get("project") {
            return self.project(m, e);
        }
        if let Some(e) = m.get("template") {
            let Some(raw) = e.value.as_str() else {
                self.type_error(&e.value, "`template` takes a template file name");
                return vec![];
            };
            let Some(name) = self.location(raw, e.value.span) else {
                return vec![];
            };
            let name = name.as_str();
            if let Some(dir) = self.options.template_dir.clone() {
                let path = dir.join(name);
                if path.is_file() {
                    return local_targets(self.confined(&dir, path, name, e.value.span));
                }
            }
            let what = format!("template `{name}`");
            return self.fetch(e.value.span, what, |r| r.template(name));
        }
        if let Some(e) = m.get("remote") {
            let raw = e.value.scalar_string().unwrap_or_default();
            let Some(url) = self.location(&raw, e.value.span) else {
                return vec![];
            };
            let mut targets = self.remote_url(&url, e.value.span);
            if let (Some(Target::Fetched(f)), Some(i)) = (targets.first(), m.get("integrity"))
                && !integrity_matches(&f.text, &i.value)
            {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidInclude,
                        i.value.span,
                        format!("remote file `{url}` does not match its `integrity` (SHA-256)"),
                    )
                    .with_help("update `integrity` if the file changed on purpose: `sha256-` and the base64 of its SHA-256"),
                );
                targets.clear();
            }
            return targets;
        }
        self.diags.push(
            Diagnostic::error(
                Code::InvalidInclude,
                span,
                "include needs one of `local`, `project`, `remote`, `template` or `component`",
            )
            .with_help("for a file in this repository write `- local: path/to/file.yml`"),
        );
        vec![]
    }

    /// An include location with its variables expanded, or `None` (with a warning) when it
    /// uses variables and the loader has none (lint).
    fn location(&mut self, raw: &str, span: Span) -> Option<String> {
        if !mentions_variable(raw) {
            return Some(raw.to_string());
        }
        if let Some(vars) = &self.options.include_variables {
            return Some(expand(raw, vars));
        }
        self.diags.push(
            Diagnostic::warning(
                Code::IncludeOffline,
                span,
                format!("include `{raw}` uses variables, so lint cannot tell which file it means; its jobs are not checked"),
            )
            .with_help("`gantry plan`/`run` expand predefined, project (.gantry/variables.yml) and `--var` variables here (never variables defined in the YAML)"),
        );
        None
    }

    /// `include: project:` — this project's files are read from the working tree (when the
    /// expanded path is `$CI_PROJECT_PATH`); other projects' through the fetcher.
    fn project(&mut self, m: &Map, e: &super::node::Entry) -> Vec<Target> {
        let raw = e.value.scalar_string().unwrap_or_default();
        if !crate::model::keywords::valid_project_path(&raw) {
            self.diags.push(
                Diagnostic::error(
                    Code::InvalidInclude,
                    e.value.span,
                    format!("include `project: {raw}` is not a project path"),
                )
                .with_help("write the full path, e.g. `my-group/my-project`, or a `$VARIABLE`"),
            );
            return vec![];
        }
        let Some(project) = self.location(&raw, e.value.span) else {
            return vec![];
        };
        let mut reference = None;
        if let Some(r) = m.get("ref")
            && let Some(text) = r.value.scalar_string()
        {
            match self.location(&text, r.value.span) {
                Some(r) => reference = Some(r),
                None => return vec![],
            }
        }
        let this = self
            .options
            .include_variables
            .as_ref()
            .and_then(|v| v.get("CI_PROJECT_PATH"))
            .is_some_and(|p| *p == project);
        let files: Vec<&Node> = match m.get("file").map(|f| &f.value) {
            Some(Node {
                value: Value::Seq(items),
                ..
            }) => items.iter().collect(),
            Some(f) => vec![f],
            None => vec![],
        };
        let mut out = Vec::new();
        for f in files {
            let Some(raw) = f.as_str() else {
                self.type_error(f, "`file` takes a path");
                continue;
            };
            let Some(path) = self.location(raw, f.span) else {
                continue;
            };
            if this {
                out.extend(local_targets(self.local(&path, f.span)));
                continue;
            }
            if !super::remote::yaml_name(&path) {
                self.diags.error(
                    Code::InvalidInclude,
                    f.span,
                    format!("included file `{path}` does not have a .yml or .yaml extension"),
                );
                continue;
            }
            let shown = match &reference {
                Some(r) => format!("{project}@{r}:{path}"),
                None => format!("{project}:{path}"),
            };
            let what = format!("project include `{shown}`");
            let r = reference.as_deref();
            out.extend(self.fetch(f.span, what, |remote| {
                remote.project_file(&project, r, &path)
            }));
        }
        out
    }

    /// `remote:` (or a plain URL) through the fetcher.
    fn remote_url(&mut self, url: &str, span: Span) -> Vec<Target> {
        let what = format!("remote include `{url}`");
        self.fetch(span, what, |r| r.remote_file(url))
    }

    /// A `local:` include: this repository's file, or, inside a file fetched from another
    /// project, that project's file at the same commit.
    fn local_target(&mut self, raw: &str, span: Span) -> Vec<Target> {
        let Some(Some(at)) = self.origins.last().cloned() else {
            return local_targets(self.local(raw, span));
        };
        let what = format!("local include `{}/{}:{raw}`", at.host, at.project);
        if raw.contains('*') {
            self.diags.push(Diagnostic::warning(
                Code::IncludeOffline,
                span,
                format!("{what} uses a wildcard, which gantry cannot expand in a fetched project; its jobs are not checked"),
            ));
            return vec![];
        }
        self.fetch(span, what, |r| r.local_in(&at, raw))
    }

    /// Runs `get` on the fetcher: the file, or a diagnostic at `span` naming `what` — a
    /// warning when it cannot be read here, an error when GitLab would refuse it too.
    fn fetch(
        &mut self,
        span: Span,
        what: String,
        get: impl FnOnce(&super::remote::Remote) -> Result<Fetched, Failure>,
    ) -> Vec<Target> {
        let Some(remote) = self.options.remote.clone() else {
            self.offline(span, what);
            return vec![];
        };
        match get(&remote) {
            Ok(f) => vec![Target::Fetched(f)],
            Err(Failure::Unavailable(why)) => {
                self.diags.push(
                    Diagnostic::warning(
                        Code::IncludeOffline,
                        span,
                        format!("{what} {why}; its jobs are not checked"),
                    )
                    .with_help("gantry fetches includes from `[gitlab] url` (or `--gitlab-url`, `CI_SERVER_URL`) with `GITLAB_TOKEN`; `--offline` uses only its cache"),
                );
                vec![]
            }
            Err(Failure::Invalid(why)) => {
                self.diags
                    .error(Code::InvalidInclude, span, format!("{what}: {why}"));
                vec![]
            }
        }
    }

    /// `include: component:` — this project's components from `templates/`, others from a
    /// `--component-dir` checkout; anything else is offline.
    fn component(&mut self, raw: &str, span: Span) -> Vec<Target> {
        let reference = match component::parse(raw) {
            Ok(r) => r,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(Code::InvalidInclude, span, format!("component `{raw}` {e}"))
                        .with_help(
                            "e.g. `$CI_SERVER_FQDN/$CI_PROJECT_PATH/my-component@$CI_COMMIT_SHA`",
                        ),
                );
                return vec![];
            }
        };
        let vars = self.options.include_variables.as_ref();
        let dir = if component::is_same_project(reference.project) {
            Some(self.root_dir.clone())
        } else {
            let project = match vars {
                Some(v) => expand(reference.project, v),
                None => reference.project.to_string(),
            };
            let this = vars.and_then(|v| {
                Some(format!(
                    "{}/{}",
                    v.get("CI_SERVER_FQDN")?,
                    v.get("CI_PROJECT_PATH")?
                ))
            });
            if this.as_deref() == Some(project.as_str()) {
                Some(self.root_dir.clone())
            } else {
                self.options
                    .component_dirs
                    .iter()
                    .find(|(p, _)| *p == project)
                    .map(|(_, d)| d.clone())
            }
        };
        let Some(dir) = dir else {
            if vars.is_none() && mentions_variable(raw) {
                self.location(raw, span);
            } else if self.options.remote.is_some() {
                let address = match vars {
                    Some(v) => expand(raw, v),
                    None => raw.to_string(),
                };
                let what = format!("component `{address}`");
                return self.fetch(span, what, |r| r.component(&address));
            } else {
                self.diags.push(
                    Diagnostic::warning(
                        Code::IncludeOffline,
                        span,
                        format!(
                            "component `{raw}` is not available offline; its jobs are not checked"
                        ),
                    )
                    .with_help(format!(
                        "with a local checkout of the project, pass `--component-dir {}=DIR`",
                        reference.project
                    )),
                );
            }
            return vec![];
        };
        let name = match vars {
            Some(v) => expand(reference.name, v),
            None => reference.name.to_string(),
        };
        let version = match vars {
            Some(v) => expand(reference.version, v),
            None => reference.version.to_string(),
        };
        // The working tree stands for every version: the version as written is all there is.
        let context = component::Context {
            name: name.clone(),
            sha: version.clone(),
            version: version.clone(),
            reference: version,
        };
        match component::file_in(&dir, &name) {
            Some(file) => self
                .confined(&dir, file, raw, span)
                .into_iter()
                .map(|p| Target::Local(p, Some(context.clone())))
                .collect(),
            None => {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidInclude,
                        span,
                        format!(
                            "component `{name}` not found: neither templates/{name}.yml nor templates/{name}/template.yml exists in {}",
                            dir.display()
                        ),
                    )
                    .with_help("a component is `templates/NAME.yml` or `templates/NAME/template.yml` in its project"),
                );
                vec![]
            }
        }
    }

    fn type_error(&mut self, node: &Node, what: &str) {
        self.diags.error(
            Code::InvalidType,
            node.span,
            format!("{what}, not {}", node.kind_name()),
        );
    }

    fn offline(&mut self, span: Span, what: String) {
        self.diags.push(
            Diagnostic::warning(
                Code::IncludeOffline,
                span,
                format!("{what} is not available offline; its jobs are not checked"),
            )
            .with_help("for templates, pass `--template-dir DIR` holding a local copy"),
        );
    }

    /// Local paths are relative to the repository root; `*` and `**` wildcards are allowed.
    fn local(&mut self, raw: &str, span: Span) -> Vec<PathBuf> {
        let rel = raw.trim_start_matches('/');
        if !(rel.ends_with(".yml") || rel.ends_with(".yaml")) {
            self.diags.error(
                Code::InvalidInclude,
                span,
                format!("included file `{raw}` does not have a .yml or .yaml extension"),
            );
            return vec![];
        }
        if rel.split('/').any(|part| part == "..") {
            self.diags.error(
                Code::InvalidInclude,
                span,
                format!("included file `{raw}` leaves the repository"),
            );
            return vec![];
        }
        let full = self.root_dir.join(rel);
        if !rel.contains('*') {
            if full.is_file() {
                return self.confined(&self.root_dir.clone(), full, raw, span);
            }
            self.diags.error(
                Code::InvalidInclude,
                span,
                format!("local file `{raw}` does not exist"),
            );
            return vec![];
        }
        // GitLab's `dir/**.yml` means every .yml below dir; glob spells that `dir/**/*.yml`.
        let pattern = full.to_string_lossy().replace("**.", "**/*.");
        let mut files: Vec<PathBuf> = glob::glob(&pattern)
            .map(|paths| {
                paths
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        // A wildcard through a symlinked directory (or matching a symlink) must not leave either.
        let root = self.root_dir.clone();
        let matched = files.len();
        let files: Vec<PathBuf> = files
            .into_iter()
            .flat_map(|f| {
                let shown = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
                self.confined(&root, f, &shown, span)
            })
            .collect();
        if matched == 0 {
            self.diags.error(
                Code::InvalidInclude,
                span,
                format!("local pattern `{raw}` matches no file"),
            );
        }
        files
    }

    /// `[path]` when it stays inside `root` after resolving symlinks; otherwise none, with an
    /// error that names the include but never what the file holds (it is not read).
    fn confined(&mut self, root: &Path, path: PathBuf, raw: &str, span: Span) -> Vec<PathBuf> {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        match crate::files::confine(root, rel) {
            Ok(_) => vec![path],
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::InvalidInclude,
                        span,
                        format!("included file `{raw}` is a symlink (or in a symlinked directory) leading outside {}; refused", root_name(root, &self.root_dir)),
                    )
                    .with_help("include files that are in the repository itself"),
                );
                vec![]
            }
        }
    }

    fn load(&mut self, target: Target, span: Span, inputs: Option<&Node>) -> Option<Map> {
        let key = match &target {
            Target::Local(path, _) => canonical(path).display().to_string(),
            Target::Fetched(f) => f.name.clone(),
        };
        if self.chain.contains(&key) {
            let cycle: Vec<String> = self
                .chain
                .iter()
                .chain(std::iter::once(&key))
                .map(|p| self.display(Path::new(p)))
                .collect();
            self.diags.push(
                Diagnostic::error(
                    Code::IncludeCycle,
                    span,
                    format!("include cycle: {}", cycle.join(" → ")),
                )
                .with_help("remove one of the includes that close the loop"),
            );
            return None;
        }
        self.count += 1;
        if self.count > self.options.max_includes {
            if self.count == self.options.max_includes + 1 {
                self.diags.error(
                    Code::InvalidInclude,
                    span,
                    format!(
                        "more than {} included files (GitLab's limit)",
                        self.options.max_includes
                    ),
                );
            }
            return None;
        }
        if self.chain.len() >= MAX_NESTING {
            self.diags.error(
                Code::InvalidInclude,
                span,
                format!("includes nest deeper than {MAX_NESTING} levels (GitLab's limit)"),
            );
            return None;
        }
        let current = self.origins.last().cloned().flatten();
        let (id, at, component) = match target {
            Target::Local(path, component) => (self.read_local(&path, span)?, current, component),
            Target::Fetched(f) => (
                self.sources.add(PathBuf::from(&f.name), f.name, f.text),
                // `remote` and templates keep the including file's context, as in GitLab.
                f.at.or(current),
                f.component,
            ),
        };
        let doc = parse_pipeline_file(self.sources, id, self.options.limits, self.diags)?;
        let mut body = doc.body;
        if !super::inputs::apply(
            doc.header.as_ref(),
            inputs,
            component.as_ref(),
            &mut body,
            span,
            self.diags,
        ) {
            // Its inputs failed (reported): its content would only add follow-on errors.
            return None;
        }
        Some(self.expand_in(body, key, at))
    }

    fn read_local(&mut self, path: &Path, span: Span) -> Option<crate::source::FileId> {
        let name = self.display(path);
        match read_source(
            path,
            name.clone(),
            self.options.limits,
            self.sources,
            self.diags,
        ) {
            Ok(id) => id,
            Err(e) => {
                self.diags.error(
                    Code::InvalidInclude,
                    span,
                    format!("cannot read included file `{name}`: {e}"),
                );
                None
            }
        }
    }

    fn display(&self, path: &Path) -> String {
        let root = canonical(&self.root_dir);
        let path = canonical(path);
        path.strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string())
    }
}

fn local_targets(paths: Vec<PathBuf>) -> Vec<Target> {
    paths.into_iter().map(|p| Target::Local(p, None)).collect()
}

/// Whether `text` matches an `integrity: sha256-BASE64` value (GitLab's only algorithm).
fn integrity_matches(text: &str, integrity: &Node) -> bool {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let Some(expected) = integrity.as_str().and_then(|i| i.strip_prefix("sha256-")) else {
        return false;
    };
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes())) == expected
}

fn items(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    }
}

/// How an error names the directory an include must stay in.
fn root_name(root: &Path, repository: &Path) -> String {
    if root == repository {
        "the repository".to_string()
    } else {
        root.display().to_string()
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
