//! Decides whether a job (or the pipeline) is created, and how: `rules`, `workflow:rules` and
//! legacy `only`/`except`, each decision carrying a sentence saying why.

use super::context::{Context, RefKind};
use super::git;
use super::variables::Scope;
use crate::expr::evaluate;
use crate::model::Job;
use crate::model::rules::{Changes, Filter, Rule};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

/// Most files `rules:exists` looks at (GitLab's limit; beyond it, `exists` is true).
const MAX_EXISTS_FILES: usize = 10_000;

/// The matching rule (or `None` when the job has no rules and was included by default).
#[derive(Clone, Debug)]
pub enum Decision<'r> {
    /// Included; `rule` is the one that matched, if any.
    Included {
        rule: Option<(usize, &'r Rule)>,
        reason: String,
    },
    /// Not added to the pipeline.
    Excluded { reason: String },
}

/// Evaluates rules against one pipeline's context, caching git diffs and file listings.
pub struct Evaluator<'a> {
    ctx: &'a Context,
    diffs: RefCell<HashMap<String, Result<Vec<String>, super::error::DiffError>>>,
    files: RefCell<Option<Vec<String>>>,
    /// Problems met while evaluating (an unresolvable `compare_to`, …), for the plan to report.
    pub warnings: RefCell<Vec<String>>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator for `ctx`.
    pub fn new(ctx: &'a Context) -> Self {
        Evaluator {
            ctx,
            diffs: RefCell::new(HashMap::new()),
            files: RefCell::new(None),
            warnings: RefCell::new(Vec::new()),
        }
    }

    /// First matching rule decides; `when: never` or no match excludes.
    pub fn rules<'r>(&self, rules: &'r [Rule], scope: &Scope) -> Decision<'r> {
        for (i, rule) in rules.iter().enumerate() {
            if let Some(why) = self.matches(rule, scope) {
                let n = i + 1;
                if rule
                    .when
                    .as_ref()
                    .is_some_and(|w| w.value == crate::model::When::Never)
                {
                    return Decision::Excluded {
                        reason: format!("rule {n} matched ({why}) with `when: never`"),
                    };
                }
                return Decision::Included {
                    rule: Some((i, rule)),
                    reason: format!("rule {n} matched ({why})"),
                };
            }
        }
        Decision::Excluded {
            reason: if rules.is_empty() {
                "`rules` is empty".into()
            } else {
                format!("none of its {} rules matched", rules.len())
            },
        }
    }

    /// `Some(explanation)` when every clause of `rule` holds.
    fn matches(&self, rule: &Rule, scope: &Scope) -> Option<String> {
        let mut why = Vec::new();
        if let Some(c) = &rule.condition {
            if !evaluate(&c.expr, scope) {
                return None;
            }
            why.push(format!("if: {}", c.text.value));
        }
        if let Some(changes) = &rule.changes {
            why.push(self.changes(changes, scope)?);
        }
        if let Some(globs) = &rule.exists {
            let patterns: Vec<String> = globs.iter().map(|g| scope.expand(&g.value)).collect();
            why.push(self.exists(&patterns)?);
        }
        Some(if why.is_empty() {
            "no conditions".into()
        } else {
            why.join("; ")
        })
    }

    fn changes(&self, changes: &Changes, scope: &Scope) -> Option<String> {
        let patterns: Vec<String> = changes
            .paths
            .iter()
            .map(|p| scope.expand(&p.value))
            .collect();
        let base = match &changes.compare_to {
            Some(c) => Some(scope.expand(&c.value)),
            None => self.ctx.changes_base(),
        };
        let Some(base) = base else {
            return Some("changes: true without a base to compare with, as in GitLab".into());
        };
        let changed = self.diff(&base)?;
        let set = glob_set(&patterns);
        changed
            .iter()
            .find(|f| set.is_match(f.as_str()))
            .map(|f| format!("changes: `{f}` changed since {base}"))
    }

    fn diff(&self, base: &str) -> Option<Vec<String>> {
        let mut cache = self.diffs.borrow_mut();
        let result = cache
            .entry(base.to_string())
            .or_insert_with(|| match &self.ctx.repo {
                Some(repo) => git::changed_files(&repo.root, base),
                None => Err(super::error::DiffError::NotARepository),
            });
        match result {
            Ok(files) => Some(files.clone()),
            Err(e) => {
                self.warnings.borrow_mut().push(format!(
                    "rules:changes against `{base}`: {e}; treated as unchanged"
                ));
                None
            }
        }
    }

    fn exists(&self, patterns: &[String]) -> Option<String> {
        let mut cache = self.files.borrow_mut();
        let files = cache.get_or_insert_with(|| list_files(&self.ctx.project_dir));
        if files.len() >= MAX_EXISTS_FILES {
            return Some("exists: more files than GitLab checks, so true".into());
        }
        let set = glob_set(patterns);
        files
            .iter()
            .find(|f| set.is_match(f.as_str()))
            .map(|f| format!("exists: `{f}`"))
    }

    /// `only`/`except`, or GitLab's default of `only: [branches, tags]` without either.
    pub fn only_except(&self, job: &Job, scope: &Scope) -> Decision<'static> {
        match &job.only {
            Some(only) => {
                if let Some(miss) = self.filter_fails(only, scope) {
                    return Decision::Excluded {
                        reason: format!("`only` does not match: {miss}"),
                    };
                }
            }
            None if self.ctx.kind == RefKind::MergeRequest => {
                return Decision::Excluded {
                    reason:
                        "without `rules` or `only`, jobs are not added to merge request pipelines"
                            .into(),
                };
            }
            None => {}
        }
        if let Some(except) = &job.except
            && self.filter_fails(except, scope).is_none()
        {
            return Decision::Excluded {
                reason: "`except` matches".into(),
            };
        }
        let reason = match (&job.only, &job.except) {
            (None, None) => format!(
                "no rules: added to {} pipelines by default",
                self.kind_name()
            ),
            _ => "`only`/`except` allow it".into(),
        };
        Decision::Included { rule: None, reason }
    }

    fn kind_name(&self) -> &'static str {
        match self.ctx.kind {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
            RefKind::MergeRequest => "merge request",
        }
    }

    /// `None` when every given part of the filter matches, else what did not.
    fn filter_fails(&self, f: &Filter, scope: &Scope) -> Option<String> {
        if !f.refs.is_empty() && !f.refs.iter().any(|r| self.ref_matches(&r.value)) {
            let refs: Vec<&str> = f.refs.iter().map(|r| r.value.as_str()).collect();
            return Some(format!(
                "refs [{}] for {} `{}` ({})",
                refs.join(", "),
                self.kind_name(),
                self.ctx.ref_name,
                self.ctx.source
            ));
        }
        if !f.variables.is_empty() && !f.variables.iter().any(|c| evaluate(&c.expr, scope)) {
            return Some("no `variables` expression is true".into());
        }
        if !f.changes.is_empty() {
            let changes = Changes {
                paths: f.changes.clone(),
                compare_to: None,
            };
            self.changes(&changes, scope)?;
        }
        if f.kubernetes {
            return Some("`kubernetes: active` (no cluster integration locally)".into());
        }
        None
    }

    fn ref_matches(&self, r: &str) -> bool {
        let ctx = self.ctx;
        let source = ctx.source.as_str();
        match r {
            "branches" => ctx.kind == RefKind::Branch,
            "tags" => ctx.kind == RefKind::Tag,
            "merge_requests" => ctx.kind == RefKind::MergeRequest,
            "schedules" => source == "schedule",
            "web" => source == "web",
            "api" => source == "api",
            "triggers" => source == "trigger",
            "pipelines" => source == "pipeline" || source == "parent_pipeline",
            "pushes" => source == "push",
            "external" => source == "external",
            "chat" => source == "chat",
            "external_pull_requests" => source == "external_pull_request_event",
            _ => {
                let name = r.split_once('@').map_or(r, |(_, n)| n);
                match name.strip_prefix('/').and_then(|b| b.rsplit_once('/')) {
                    Some((pattern, flags)) => crate::expr::compile_pattern(pattern, flags)
                        .is_ok_and(|re| re.is_match(&ctx.ref_name)),
                    None => name == ctx.ref_name,
                }
            }
        }
    }
}

/// GitLab globs (`File.fnmatch` with PATHNAME | DOTMATCH | EXTGLOB): `*` stays within a
/// directory, `**` crosses them, `{a,b}` alternates.
fn glob_set(patterns: &[String]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let p = p.trim_start_matches("./").trim_start_matches('/');
        if let Ok(g) = globset::GlobBuilder::new(p).literal_separator(true).build() {
            b.add(g);
        } else if let Ok(g) = Glob::new(&globset::escape(p)) {
            b.add(g);
        }
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

/// Files under `root` (relative, `/`-separated), skipping `.git`; stops at the GitLab limit.
fn list_files(root: &Path) -> Vec<String> {
    crate::files::list(root, &[".git"], MAX_EXISTS_FILES)
        .into_iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::glob_set;

    #[test]
    fn globs_follow_fnmatch_pathname() {
        let set = glob_set(&["docs/*.md".into()]);
        assert!(set.is_match("docs/a.md"));
        assert!(!set.is_match("docs/sub/a.md"));
        let deep = glob_set(&["services/**/*".into(), "{Cargo.lock,Cargo.toml}".into()]);
        assert!(deep.is_match("services/api/src/main.rs"));
        assert!(deep.is_match("Cargo.lock"));
        assert!(!deep.is_match("web/index.js"));
    }
}
