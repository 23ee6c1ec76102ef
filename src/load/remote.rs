//! What GitLab's server fetches for `include:` (`lib/gitlab/ci/config/external/file/*.rb`),
//! fetched the way a user can: `remote` by plain GET, and `project`, `template` and
//! `component` through the instance's REST API (repository files raw, CI templates, commits,
//! releases — the releases of a catalog project are its catalog versions), with the user's
//! token in a header sent only to the configured instance.
//!
//! Every answer goes through the [`Cache`]: a location resolved once (a ref to a commit, a
//! component version to a release, a URL to content) is not asked again until `--refresh`;
//! files at a commit never change and are kept even then. `--offline` answers from the cache
//! alone. Each resolution is recorded for `gantry lint --list-includes`.

use super::cache::{Cache, Entry};
use super::fetch::{FetchError, Http, Request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// GitLab resolves a whole configuration within 30 seconds (`Gitlab::Ci::Config::TIMEOUT_SECONDS`).
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Largest fetched file: GitLab's default `max_yaml_size_bytes` (2 MiB).
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// Most bytes all fetched files may add up to: GitLab's default
/// `ci_max_total_yaml_size_bytes` (2 MiB × 150 includes).
pub const MAX_TOTAL_BYTES: u64 = 150 * MAX_FILE_BYTES;
/// Component versions that are a partial semantic version (`1`, `1.2`).
const SHORTHAND_SEMVER: &str = r"^\d+(\.\d+)?$";
/// The project whose `lib/gitlab/ci/templates/` holds GitLab's nested CI templates.
const TEMPLATES_PROJECT: &str = "gitlab-org/gitlab";
/// The keyword for a catalog project's newest version.
const LATEST: &str = "~latest";

/// When the network may be used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Cache first; the network for what it lacks.
    #[default]
    Online,
    /// The cache only (`--offline`).
    Offline,
    /// Re-resolve refs, versions and URLs (`--refresh`); files at a commit stay cached.
    Refresh,
}

/// A token and the header GitLab reads it from. Its value is never printed, logged, cached or
/// put in a URL; `Debug` shows only which kind it is.
#[derive(Clone)]
pub struct Token {
    header: &'static str,
    value: String,
}

impl Token {
    /// A personal, project or group access token (`GITLAB_TOKEN`): `PRIVATE-TOKEN`.
    pub fn private(value: String) -> Token {
        Token {
            header: "private-token",
            value,
        }
    }

    /// A CI job token (`CI_JOB_TOKEN`): `JOB-TOKEN`.
    pub fn job(value: String) -> Token {
        Token {
            header: "job-token",
            value,
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}: [hidden])", self.header)
    }
}

/// Where includes come from and how.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The instance's URL (`https://gitlab.com`), without a trailing `/`.
    pub url: String,
    /// The user's token, if any.
    pub token: Option<Token>,
    /// Network use.
    pub mode: Mode,
    /// The cache directory (none: nothing is cached).
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Which project and commit a fetched file belongs to: its own `include: local` files are read
/// from there (as GitLab's project and component includes change the include context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectAt {
    /// The instance's URL.
    pub base: String,
    /// Host (and port), as a component address or a diagnostic shows it.
    pub host: String,
    /// `group/project`.
    pub project: String,
    /// The commit.
    pub sha: String,
}

/// A fetched file.
#[derive(Debug)]
pub struct Fetched {
    /// How diagnostics name it: `HOST/GROUP/PROJECT@SHA:path`, or the URL.
    pub name: String,
    /// Its text.
    pub text: String,
    /// The project and commit it came from (none for `remote` and templates, which keep the
    /// including file's context).
    pub at: Option<ProjectAt>,
    /// For a component: what `$[[ component.* ]]` gives.
    pub component: Option<super::component::Context>,
}

/// Why an include was not fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It could not be read here (no network, no access, not cached with `--offline`): what
    /// depends on it is unknown, a warning.
    Unavailable(String),
    /// GitLab would refuse it too (no such file, ref or version; a bad address or extension;
    /// too large): an error.
    Invalid(String),
}

/// One resolution, for the lock-like listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// `remote`, `project`, `template` or `component`.
    pub kind: &'static str,
    /// The location as the pipeline names it (variables expanded).
    pub location: String,
    /// What it resolved to: a commit, a version and commit, or `sha256:` of the content.
    pub resolved: String,
    /// When that was resolved (RFC 3339).
    pub at: String,
}

/// The include fetcher of one load.
#[derive(Debug)]
pub struct Remote {
    url: String,
    host: String,
    token: Option<Token>,
    mode: Mode,
    cache: Option<Cache>,
    http: OnceLock<Result<Http, FetchError>>,
    started: OnceLock<Instant>,
    total: AtomicUsize,
    requests: AtomicUsize,
    log: Mutex<Vec<Resolution>>,
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

/// `s` with everything but unreserved characters percent-encoded (project paths and file
/// paths are one path segment each in GitLab's API).
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%2E", ".")
        .replace("%5F", "_")
}

/// Host and port of an http(s) URL.
pub fn host_of(url: &str) -> Option<String> {
    let uri: hyper::Uri = url.parse().ok()?;
    Some(uri.authority()?.as_str().to_string())
}

impl Remote {
    /// A fetcher for `settings`.
    pub fn new(settings: Settings) -> Remote {
        let url = settings.url.trim_end_matches('/').to_string();
        Remote {
            host: host_of(&url).unwrap_or_default(),
            url,
            token: settings.token,
            mode: settings.mode,
            cache: settings.cache_dir.as_deref().map(Cache::new),
            http: OnceLock::new(),
            started: OnceLock::new(),
            total: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    /// The configured instance's host (and port).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// What was resolved so far, in order, each location once.
    pub fn resolutions(&self) -> Vec<Resolution> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Network requests made so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn record(&self, kind: &'static str, location: String, entry: &Entry) {
        if let Ok(mut log) = self.log.lock()
            && !log.iter().any(|r| r.kind == kind && r.location == location)
        {
            log.push(Resolution {
                kind,
                location,
                resolved: entry.resolved.clone(),
                at: entry.at.clone(),
            });
        }
    }

    /// Counts `text` against GitLab's total size limit.
    fn count(&self, text: &str) -> Result<(), Failure> {
        let total = self.total.fetch_add(text.len(), Ordering::Relaxed) + text.len();
        if total as u64 > MAX_TOTAL_BYTES {
            return Err(Failure::Invalid(format!(
                "the included files add up to more than {} MiB (GitLab's limit)",
                MAX_TOTAL_BYTES / (1024 * 1024)
            )));
        }
        Ok(())
    }

    /// The entry for `key` from the cache or, failing that (or for a mutable key under
    /// `--refresh`), from `fetch` (which gives what it resolved to and the content, if any).
    fn cached(
        &self,
        key: String,
        mutable: bool,
        fetch: impl FnOnce() -> Result<(String, Option<String>), Failure>,
    ) -> Result<(Entry, Option<String>), Failure> {
        if let Some(cache) = &self.cache
            && !(mutable && self.mode == Mode::Refresh)
            && let Some(entry) = cache.entry(&key)
        {
            match &entry.blob {
                None => return Ok((entry, None)),
                Some(blob) => {
                    if let Some(text) = cache.blob(blob) {
                        return Ok((entry, Some(text)));
                    }
                }
            }
        }
        if self.mode == Mode::Offline {
            return Err(Failure::Unavailable(
                "is not in the cache, and `--offline` forbids fetching it".into(),
            ));
        }
        let (resolved, content) = fetch()?;
        let blob = match (&self.cache, &content) {
            (Some(cache), Some(text)) => cache.put_blob(text).ok(),
            _ => None,
        };
        let entry = Entry {
            key,
            resolved,
            blob,
            at: now(),
        };
        if let Some(cache) = &self.cache
            && (entry.blob.is_some() || content.is_none())
        {
            // A cache that cannot be written only costs the next run a fetch.
            let _ = cache.put_entry(&entry);
        }
        Ok((entry, content))
    }

    /// GET with GitLab's limits; the token only to the configured instance, never following
    /// redirects then.
    fn get(&self, url: String, token: bool) -> Result<super::fetch::Response, Failure> {
        let started = *self.started.get_or_init(Instant::now);
        let left = DEADLINE.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(Failure::Unavailable(format!(
                "could not be fetched: resolving includes took longer than {} s (GitLab's limit)",
                DEADLINE.as_secs()
            )));
        }
        let http = self
            .http
            .get_or_init(Http::new)
            .as_ref()
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        let token = self.token.as_ref().filter(|_| token);
        let request = Request {
            url,
            headers: token
                .map(|t| vec![(t.header, t.value.as_str())])
                .unwrap_or_default(),
            max_bytes: MAX_FILE_BYTES,
            timeout: left,
            follow: token.is_none(),
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        http.get(&request).map_err(|e| match e {
            FetchError::TooLarge(_) | FetchError::Address(_) => Failure::Invalid(e.to_string()),
            _ => Failure::Unavailable(e.to_string()),
        })
    }

    /// A GitLab API GET on `base` (the configured instance carries the token): 200's body, or
    /// `None` for 404; access errors are [`Failure::Unavailable`].
    fn api(&self, base: &str, path: &str) -> Result<Option<Vec<u8>>, Failure> {
        let own = base == self.url;
        let response = self.get(format!("{base}/api/v4{path}"), own)?;
        match response.status {
            200 => Ok(Some(response.body)),
            404 => Ok(None),
            401 | 403 => Err(Failure::Unavailable(format!(
                "could not be read: {} answered HTTP {}{}",
                host_of(base).unwrap_or_default(),
                response.status,
                if own && self.token.is_some() {
                    " (the token has no access)"
                } else {
                    " (set GITLAB_TOKEN to a token with read_api or read_repository access)"
                }
            ))),
            status => Err(Failure::Unavailable(format!(
                "could not be fetched: {} answered HTTP {status}",
                host_of(base).unwrap_or_default()
            ))),
        }
    }

    fn json(&self, base: &str, path: &str) -> Result<Option<serde_json::Value>, Failure> {
        match self.api(base, path)? {
            None => Ok(None),
            Some(body) => serde_json::from_slice(&body).map(Some).map_err(|_| {
                Failure::Unavailable(format!(
                    "could not be read: {} did not answer with GitLab's API JSON",
                    host_of(base).unwrap_or_default()
                ))
            }),
        }
    }

    /// The base URL for a host named in a component address: the configured instance when it
    /// is that host, else `https://HOST` (without the token).
    fn base_for(&self, host: &str) -> String {
        if host == self.host {
            self.url.clone()
        } else {
            format!("https://{host}")
        }
    }

    /// `include: remote:` — a GET, following redirects, no credentials.
    pub fn remote_file(&self, url: &str) -> Result<Fetched, Failure> {
        let valid = (url.starts_with("https://") || url.starts_with("http://"))
            && host_of(url).is_some_and(|h| !h.is_empty());
        if !valid {
            return Err(Failure::Invalid(format!(
                "remote file `{url}` does not have a valid address"
            )));
        }
        if !yaml_name(url) {
            return Err(Failure::Invalid(format!(
                "included file `{url}` does not have a .yml or .yaml extension"
            )));
        }
        let (entry, text) = self.cached(format!("remote\t{url}"), true, || {
            let response = self.get(url.to_string(), false)?;
            if response.status >= 400 {
                return Err(Failure::Invalid(format!(
                    "remote file `{url}` could not be fetched because of HTTP code `{}` error",
                    response.status
                )));
            }
            let text = utf8(response.body, url)?;
            Ok((
                format!("sha256:{}", super::cache::digest(text.as_bytes())),
                Some(text),
            ))
        })?;
        let text = text.ok_or_else(|| Failure::Invalid(format!("remote file `{url}` is empty")))?;
        self.count(&text)?;
        self.record("remote", url.to_string(), &entry);
        Ok(Fetched {
            name: url.to_string(),
            text,
            at: None,
            component: None,
        })
    }

    /// `include: template:` — from the instance's CI/CD templates.
    pub fn template(&self, name: &str) -> Result<Fetched, Failure> {
        let Some(key) = name.strip_suffix(".gitlab-ci.yml") else {
            return Err(Failure::Invalid(format!(
                "template file `{name}` is not a valid location (templates end in `.gitlab-ci.yml`)"
            )));
        };
        let base = self.url.clone();
        let (entry, text) = self.cached(format!("template\t{base}\t{name}"), true, || {
            let missing = || {
                Failure::Invalid(format!(
                    "included template `{name}` does not exist on {}",
                    self.host
                ))
            };
            // The templates API names top-level templates only (`[\w.-]+`); nested ones
            // (`Jobs/Build`, `Security/SAST`) are read where GitLab keeps them, its own
            // project's `lib/gitlab/ci/templates/`, on the same instance.
            let text = if key.contains('/') {
                let entry = self.commit(&base, TEMPLATES_PROJECT, None)?;
                let at = ProjectAt {
                    base: base.clone(),
                    host: self.host.clone(),
                    project: TEMPLATES_PROJECT.to_string(),
                    sha: entry.resolved,
                };
                self.file_at(&at, &format!("lib/gitlab/ci/templates/{name}"))?
                    .ok_or_else(missing)?
            } else {
                let doc = self
                    .json(&base, &format!("/templates/gitlab_ci_ymls/{}", encode(key)))?
                    .ok_or_else(missing)?;
                doc["content"].as_str().unwrap_or_default().to_string()
            };
            Ok((
                format!("sha256:{}", super::cache::digest(text.as_bytes())),
                Some(text),
            ))
        })?;
        let text = text.unwrap_or_default();
        self.count(&text)?;
        self.record("template", name.to_string(), &entry);
        Ok(Fetched {
            name: format!("{}/templates/{name}", self.host),
            text,
            at: None,
            component: None,
        })
    }

    /// The commit `reference` (default: the default branch) of `project` on the configured
    /// instance, and the entry recording it.
    fn commit(&self, base: &str, project: &str, reference: Option<&str>) -> Result<Entry, Failure> {
        let key = format!("ref\t{base}\t{project}\t{}", reference.unwrap_or(""));
        let (entry, _) = self.cached(key, true, || {
            let p = encode(project);
            let reference = match reference {
                Some(r) => r.to_string(),
                None => self
                    .json(base, &format!("/projects/{p}"))?
                    .ok_or_else(|| not_found(project, self.token.is_some()))?["default_branch"]
                    .as_str()
                    .unwrap_or("HEAD")
                    .to_string(),
            };
            let commit = self
                .json(
                    base,
                    &format!("/projects/{p}/repository/commits/{}", encode(&reference)),
                )?
                .ok_or_else(|| {
                    Failure::Invalid(format!(
                        "project `{project}` reference `{reference}` does not exist"
                    ))
                })?;
            let sha = commit["id"].as_str().unwrap_or_default().to_string();
            if sha.is_empty() {
                return Err(Failure::Unavailable(format!(
                    "could not be read: no commit for `{reference}` in the answer"
                )));
            }
            Ok((sha, None))
        })?;
        Ok(entry)
    }

    /// A file of `at`'s project at its commit; `None` when it does not exist.
    fn file_at(&self, at: &ProjectAt, path: &str) -> Result<Option<String>, Failure> {
        let path = path.trim_start_matches('/');
        let key = format!("file\t{}\t{}\t{}\t{path}", at.base, at.project, at.sha);
        let (_, text) = self.cached(key, false, || {
            let body = self.api(
                &at.base,
                &format!(
                    "/projects/{}/repository/files/{}/raw?ref={}",
                    encode(&at.project),
                    encode(path),
                    encode(&at.sha)
                ),
            )?;
            match body {
                None => Ok(("missing".into(), None)),
                Some(body) => {
                    let text = utf8(body, path)?;
                    Ok((
                        format!("sha256:{}", super::cache::digest(text.as_bytes())),
                        Some(text),
                    ))
                }
            }
        })?;
        Ok(text)
    }

    fn file_of(&self, at: ProjectAt, path: &str) -> Result<Fetched, Failure> {
        let Some(text) = self.file_at(&at, path)? else {
            return Err(Failure::Invalid(format!(
                "project `{}` file `{path}` does not exist at {}",
                at.project,
                short(&at.sha)
            )));
        };
        self.count(&text)?;
        Ok(Fetched {
            name: format!(
                "{}/{}@{}:{}",
                at.host,
                at.project,
                short(&at.sha),
                path.trim_start_matches('/')
            ),
            text,
            at: Some(at),
            component: None,
        })
    }

    /// `include: project: file: ref:` — `path` of `project` at `reference` on the configured
    /// instance.
    pub fn project_file(
        &self,
        project: &str,
        reference: Option<&str>,
        path: &str,
    ) -> Result<Fetched, Failure> {
        let base = self.url.clone();
        let entry = self.commit(&base, project, reference)?;
        let at = ProjectAt {
            base,
            host: self.host.clone(),
            project: project.to_string(),
            sha: entry.resolved.clone(),
        };
        let fetched = self.file_of(at, path)?;
        self.record(
            "project",
            format!(
                "{}/{project}@{}:{path}",
                self.host,
                reference.unwrap_or("HEAD")
            ),
            &entry,
        );
        Ok(fetched)
    }

    /// `include: local:` inside a file fetched from `at`: the same project and commit.
    pub fn local_in(&self, at: &ProjectAt, path: &str) -> Result<Fetched, Failure> {
        self.file_of(at.clone(), path)
    }

    /// `include: component: HOST/GROUP/PROJECT/NAME@VERSION`, the version resolved as
    /// GitLab's `Components::InstancePath` does: `~latest` is the newest catalog version; a
    /// partial semantic version (`1`, `1.2`) the newest catalog version it prefixes; else a
    /// released tag; else any ref (branch, tag, SHA). Catalog versions are the project's
    /// releases with semantic-version tags (pre-releases are never "latest").
    pub fn component(&self, address: &str) -> Result<Fetched, Failure> {
        let (path, version) = address
            .split_once('@')
            .ok_or_else(|| Failure::Invalid(format!("component `{address}` has no version")))?;
        let (project_path, name) = path
            .rsplit_once('/')
            .ok_or_else(|| Failure::Invalid(format!("component `{address}` has no name")))?;
        let (host, project) = project_path
            .split_once('/')
            .ok_or_else(|| Failure::Invalid(format!("component `{address}` has no project")))?;
        let base = self.base_for(host);
        let key = format!("component\t{base}\t{project}\t{version}");
        let (entry, _) = self.cached(key, true, || {
            self.resolve_version(&base, project, version)
                .map(|r| (r, None))
        })?;
        let sha = entry
            .resolved
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        let at = ProjectAt {
            base,
            host: host.to_string(),
            project: project.to_string(),
            sha,
        };
        for file in [
            format!("templates/{name}.yml"),
            format!("templates/{name}/template.yml"),
        ] {
            if self.file_at(&at, &file)?.is_some() {
                let mut fetched = self.file_of(at, &file)?;
                let resolved: Vec<&str> = entry.resolved.split(' ').collect();
                fetched.component = Some(super::component::Context {
                    name: name.to_string(),
                    sha: resolved.last().copied().unwrap_or_default().to_string(),
                    version: match resolved.as_slice() {
                        [tag, _] => tag.to_string(),
                        _ => version.to_string(),
                    },
                    reference: version.to_string(),
                });
                self.record("component", address.to_string(), &entry);
                return Ok(fetched);
            }
        }
        Err(Failure::Invalid(format!(
            "component `{name}` not found in {project_path}@{}: neither templates/{name}.yml nor templates/{name}/template.yml exists",
            short(&at.sha)
        )))
    }

    /// `VERSION SHA` (a catalog version or released tag) or `SHA` (a ref).
    fn resolve_version(&self, base: &str, project: &str, version: &str) -> Result<String, Failure> {
        let shorthand = regex::Regex::new(SHORTHAND_SEMVER)
            .map(|r| r.is_match(version))
            .unwrap_or(false);
        let releases = if version == LATEST || shorthand || !version.is_empty() {
            self.releases(base, project)?
        } else {
            Vec::new()
        };
        let newest = |prefix: &[u64]| {
            releases
                .iter()
                .filter_map(|(tag, sha)| Some((semver::Version::parse(tag).ok()?, tag, sha)))
                .filter(|(v, _, _)| v.pre.is_empty())
                .filter(|(v, _, _)| {
                    prefix.first().is_none_or(|m| *m == v.major)
                        && prefix.get(1).is_none_or(|m| *m == v.minor)
                })
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, tag, sha)| format!("{tag} {sha}"))
        };
        if version == LATEST {
            return newest(&[]).ok_or_else(|| {
                Failure::Invalid(format!(
                    "component project `{project}` has no published catalog version, so `~latest` means nothing"
                ))
            });
        }
        // A number too large for a version (an all-digit SHA) matches no catalog version.
        let prefix: Option<Vec<u64>> = version.split('.').map(|p| p.parse().ok()).collect();
        if shorthand
            && let Some(prefix) = prefix
            && let Some(found) = newest(&prefix)
        {
            return Ok(found);
        }
        if let Some((tag, sha)) = releases.iter().find(|(tag, _)| tag == version) {
            return Ok(format!("{tag} {sha}"));
        }
        Ok(self.commit(base, project, Some(version))?.resolved)
    }

    /// `(tag, commit)` of a project's releases, newest first (the first 100, as one page).
    fn releases(&self, base: &str, project: &str) -> Result<Vec<(String, String)>, Failure> {
        let doc = self
            .json(
                base,
                &format!("/projects/{}/releases?per_page=100", encode(project)),
            )?
            .ok_or_else(|| not_found(project, self.token.is_some()))?;
        Ok(doc
            .as_array()
            .map(|releases| {
                releases
                    .iter()
                    .filter_map(|r| {
                        Some((
                            r["tag_name"].as_str()?.to_string(),
                            r["commit"]["id"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// A project the API does not show: missing, or hidden from this user.
fn not_found(project: &str, token: bool) -> Failure {
    let why = format!("project `{project}` not found or access denied");
    if token {
        Failure::Invalid(why)
    } else {
        Failure::Unavailable(format!(
            "could not be read: {why} (without a token only public projects are visible; set GITLAB_TOKEN)"
        ))
    }
}

/// GitLab's `YAML_ALLOWLIST_EXTENSION`: the last path segment (query included) ends in
/// `.yml` or `.yaml`, in any case.
pub fn yaml_name(location: &str) -> bool {
    let base = location
        .rsplit('/')
        .next()
        .unwrap_or(location)
        .to_ascii_lowercase();
    (base.ends_with(".yml") && base.len() > 4) || (base.ends_with(".yaml") && base.len() > 5)
}

fn utf8(body: Vec<u8>, name: &str) -> Result<String, Failure> {
    String::from_utf8(body).map_err(|_| Failure::Invalid(format!("`{name}` is not UTF-8 text")))
}

/// The first 8 characters of a commit SHA, as GitLab shows them.
fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_one_api_segment_and_tokens_stay_hidden() {
        let t = Token::private("glpat-secret".into());
        assert!(!format!("{t:?}").contains("secret"));
        assert_eq!(encode("group/sub/p"), "group%2Fsub%2Fp");
        assert_eq!(encode("ci/my-file_1.yml"), "ci%2Fmy-file_1.yml");
        assert_eq!(
            host_of("http://127.0.0.1:8080/x").as_deref(),
            Some("127.0.0.1:8080")
        );
    }

    #[test]
    fn offline_without_cache_is_unavailable() {
        let tmp = tempfile::tempdir().unwrap();
        let remote = Remote::new(Settings {
            url: "https://gitlab.invalid".into(),
            token: None,
            mode: Mode::Offline,
            cache_dir: Some(tmp.path().to_path_buf()),
        });
        assert!(matches!(
            remote.remote_file("https://h.invalid/a.yml"),
            Err(Failure::Unavailable(_))
        ));
        assert!(matches!(
            remote.remote_file("ftp://h.invalid/a.yml"),
            Err(Failure::Invalid(_))
        ));
        assert_eq!(remote.requests(), 0);
    }
}
