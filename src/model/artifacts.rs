//! `artifacts:` and `cache:`.

use super::decode::Ctx;
use super::keywords;
use crate::diagnostic::{Code, Diagnostic};
use crate::load::node::{Node, Value};
use crate::source::Spanned;
use indexmap::IndexMap;

/// Most caches one job may declare.
const MAX_CACHES: usize = 4;

/// Files kept after a job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Artifacts {
    /// Globs to keep.
    pub paths: Vec<Spanned<String>>,
    /// Globs to leave out.
    pub exclude: Vec<Spanned<String>>,
    /// Retention (`30 days` by default), seconds.
    pub expire_in: Option<Spanned<u64>>,
    /// `on_success` (default), `on_failure` or `always`.
    pub when: Option<Spanned<String>>,
    /// Archive name.
    pub name: Option<Spanned<String>>,
    /// Also keep untracked files.
    pub untracked: bool,
    /// Reports by kind (`junit`, `dotenv`, …) → paths.
    pub reports: IndexMap<String, Vec<Spanned<String>>>,
}

/// How a cache is keyed.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheKey {
    /// A fixed (possibly variable-bearing) key.
    Text(Spanned<String>),
    /// Derived from the content of up to two files, with an optional prefix.
    Files {
        /// Files hashed into the key.
        files: Vec<Spanned<String>>,
        /// Prefix.
        prefix: Option<Spanned<String>>,
    },
}

/// One cache.
#[derive(Clone, Debug, PartialEq)]
pub struct Cache {
    /// Key (default `default`).
    pub key: Option<CacheKey>,
    /// Globs cached.
    pub paths: Vec<Spanned<String>>,
    /// `pull-push` (default), `pull` or `push`.
    pub policy: Option<Spanned<String>>,
    /// `on_success` (default), `on_failure` or `always`.
    pub when: Option<Spanned<String>>,
    /// Also cache untracked files.
    pub untracked: bool,
    /// Keys tried when `key` has no cache yet.
    pub fallback_keys: Vec<Spanned<String>>,
}

/// Decodes `artifacts:`.
pub fn decode_artifacts(node: &Node, ctx: &mut Ctx) -> Option<Artifacts> {
    let m = ctx.map(node, "`artifacts`")?;
    ctx.check_keys(m, keywords::ARTIFACTS, "`artifacts`");
    let mut a = Artifacts::default();
    for (key, e) in m {
        let v = &e.value;
        // `null` is "not set" here too (GitLab validates these attributes `allow_nil`).
        if super::job::is_null(v) {
            continue;
        }
        match key.as_str() {
            // GitLab's `Entry::Artifacts` checks `array_of_strings` only: `paths: []` is valid
            // (the editor schema's `minItems: 1` is stricter than the server).
            "paths" => a.paths = ctx.list_of_strings(v, "`artifacts:paths`"),
            "exclude" => a.exclude = ctx.list_of_strings(v, "`artifacts:exclude`"),
            "expire_in" => {
                a.expire_in = match v.as_str() {
                    Some("never") => Some(Spanned::new(u64::MAX, v.span)),
                    _ => ctx.duration(v, "`artifacts:expire_in`"),
                }
            }
            "when" => a.when = ctx.choice(v, "`artifacts:when`", keywords::ARTIFACTS_WHEN),
            "name" => a.name = ctx.text(v, "`artifacts:name`"),
            "untracked" => a.untracked = ctx.bool(v, "`artifacts:untracked`").unwrap_or(false),
            "expose_as" => {
                ctx.string(v, "`artifacts:expose_as`");
            }
            "public" => {
                ctx.bool(v, "`artifacts:public`");
            }
            "access" => {
                ctx.choice(v, "`artifacts:access`", keywords::ARTIFACTS_ACCESS);
            }
            "reports" => {
                if let Some(r) = ctx.map(v, "`artifacts:reports`") {
                    ctx.check_keys(r, keywords::REPORTS, "`artifacts:reports`");
                    for (kind, re) in r {
                        let paths = match &re.value.value {
                            Value::Map(m) if kind == "coverage_report" => {
                                ctx.check_keys(
                                    m,
                                    &["coverage_format", "path"],
                                    "`coverage_report`",
                                );
                                if let Some(f) = m.get("coverage_format") {
                                    ctx.choice(
                                        &f.value,
                                        "`coverage_format`",
                                        &["cobertura", "jacoco"],
                                    );
                                }
                                m.get("path")
                                    .and_then(|p| ctx.non_empty(&p.value, "`coverage_report:path`"))
                                    .into_iter()
                                    .collect()
                            }
                            Value::Map(_) => Vec::new(),
                            _ => ctx.string_list(&re.value, &format!("`reports:{kind}`")),
                        };
                        a.reports.insert(kind.clone(), paths);
                    }
                }
            }
            _ => {}
        }
    }
    Some(a)
}

/// A list of at least one string.
/// Decodes `cache:` (one mapping or a list of up to four).
pub fn decode_caches(node: &Node, ctx: &mut Ctx) -> Vec<Cache> {
    match &node.value {
        Value::Seq(items) => {
            if items.len() > MAX_CACHES {
                ctx.error(
                    Code::InvalidValue,
                    node.span,
                    format!(
                        "a job may have at most {MAX_CACHES} caches, not {}",
                        items.len()
                    ),
                );
            }
            // GitLab counts the caches as written, then flattens nested lists (a `!reference`
            // to another job's caches) like every `ComposableArray`.
            items
                .iter()
                .flat_map(super::decode::flat_items)
                .filter_map(|i| decode_cache(i, ctx))
                .collect()
        }
        _ => decode_cache(node, ctx).into_iter().collect(),
    }
}

fn decode_cache(node: &Node, ctx: &mut Ctx) -> Option<Cache> {
    let m = ctx.map(node, "`cache`")?;
    ctx.check_keys(m, keywords::CACHE, "`cache`");
    let mut c = Cache {
        key: None,
        paths: Vec::new(),
        policy: None,
        when: None,
        untracked: false,
        fallback_keys: Vec::new(),
    };
    for (key, e) in m {
        let v = &e.value;
        // `null` is "not set" here too (GitLab validates these attributes `allow_nil`).
        if super::job::is_null(v) {
            continue;
        }
        match key.as_str() {
            "key" => c.key = decode_key(v, ctx),
            "paths" => c.paths = ctx.list_of_strings(v, "`cache:paths`"),
            "policy" => c.policy = policy(v, ctx),
            "when" => c.when = ctx.choice(v, "`cache:when`", keywords::ARTIFACTS_WHEN),
            "untracked" => c.untracked = ctx.bool(v, "`cache:untracked`").unwrap_or(false),
            "unprotect" => {
                ctx.bool(v, "`cache:unprotect`");
            }
            "fallback_keys" => {
                c.fallback_keys = ctx.list_of_strings(v, "`cache:fallback_keys`");
                if c.fallback_keys.len() > 5 {
                    ctx.error(
                        Code::InvalidValue,
                        v.span,
                        "`cache:fallback_keys` takes at most 5 keys",
                    );
                }
            }
            _ => {}
        }
    }
    Some(c)
}

/// `cache:policy`: `pull`, `push`, `pull-push`, or a `$VARIABLE` the runner expands (16.1+).
fn policy(node: &Node, ctx: &mut Ctx) -> Option<Spanned<String>> {
    let s = ctx.string(node, "`cache:policy`")?;
    if is_variable(&s.value) {
        return Some(s);
    }
    ctx.choice(node, "`cache:policy`", keywords::CACHE_POLICY)
}

/// Whether `s` is exactly one `$NAME` or `${NAME}` (names of 1 to 255 word characters).
pub fn is_variable(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('$') else {
        return false;
    };
    let name = rest
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(rest);
    (1..=255).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn decode_key(node: &Node, ctx: &mut Ctx) -> Option<CacheKey> {
    if let Some(m) = node.as_map() {
        ctx.check_keys(m, keywords::CACHE_KEY, "`cache:key`");
        // `files_commits` keys on the last commit of the files; offline, their content is the
        // closest stand-in, so both forms hash the files.
        let which = if m.contains_key("files_commits") && !m.contains_key("files") {
            "files_commits"
        } else {
            "files"
        };
        let what = format!("`cache:key:{which}`");
        let files = m
            .get(which)
            .map(|f| ctx.list_of_strings(&f.value, &what))
            .unwrap_or_default();
        if !(1..=2).contains(&files.len()) {
            ctx.error(
                Code::InvalidValue,
                node.span,
                format!("{what} takes one or two files"),
            );
        }

        let prefix = m
            .get("prefix")
            .and_then(|p| ctx.text(&p.value, "`cache:key:prefix`"));
        return Some(CacheKey::Files { files, prefix });
    }
    let key = ctx.text(node, "`cache:key`")?;
    let bad = key.value.contains('/')
        || key.value.to_ascii_lowercase().contains("%2f")
        || key.value == "."
        || key.value == ".."
        || key.value.to_ascii_lowercase().contains("%2e%2e");
    if bad {
        ctx.push(
            Diagnostic::error(
                Code::InvalidValue,
                node.span,
                format!(
                    "cache key `{}` may not contain `/` or be `.` or `..`",
                    key.value
                ),
            )
            .with_help("use `-` instead of `/`, e.g. `$CI_COMMIT_REF_SLUG`"),
        );
        return None;
    }
    Some(CacheKey::Text(key))
}
