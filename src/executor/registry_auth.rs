//! Registry credentials for job and service images, found where GitLab Runner finds them (its
//! `helpers/docker/auth`), so a pipeline that pulls private images there pulls them here:
//!
//! 1. `DOCKER_AUTH_CONFIG`: a variable of the job (or pipeline), else gantry's own environment
//!    (the runner's `environment` setting), in Docker's `config.json` format;
//! 2. the user's Docker configuration (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`,
//!    else the legacy `~/.dockercfg`), where `docker login` writes;
//! 3. `CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD` for images under `$CI_REGISTRY` (the runner's
//!    "job payload" credentials) — only when the password was set by the user, not gantry's
//!    stand-in job token.
//!
//! Each source may hold `auths` (inline `auth`, `username`/`password`, `identitytoken`),
//! `credsStore` (one `docker-credential-NAME` for every registry it lists) and `credHelpers`
//! (a helper per registry); helpers take over `auths` entries of the same key. The first
//! source to name a registry path keeps it; an image then gets the entry of its longest
//! matching path (`host`, `host/group`, `host/group/project`…), Docker Hub images normalised to
//! `docker.io`. Helpers run as Docker runs them (`get`/`list`, the server on stdin, JSON on
//! stdout); unlike the runner, which asks a store for every registry it knows, only the
//! matching one is asked for a secret. A source that cannot be read (bad JSON, a helper that
//! fails) is skipped with a warning naming it — the runner skips it silently.
//!
//! Credentials never appear in a message: `Debug` hides them, errors name the source and the
//! registry, and [`Credentials::mask`] scrubs an engine's answer before it is shown.

use super::{Sink, Stream};
use base64::Engine;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The registry Docker Hub images come from, as the runner matches it.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's key in a Docker configuration (what `docker login` writes).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// The variable holding a Docker configuration.
pub const VARIABLE: &str = "DOCKER_AUTH_CONFIG";
/// The prefix of gantry's stand-in job token (`plan::job`), which is also the predefined
/// `CI_REGISTRY_PASSWORD`: no registry accepts it, so it is not a credential to send.
const STAND_IN_TOKEN: &str = "glcbt-gantry-";
/// Longest a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);
/// What helpers answer for a registry they hold nothing for (docker-credential-helpers).
const NOT_FOUND: &str = "credentials not found in native keychain";

/// One registry's credentials. `Debug` shows which fields are set, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password (or a token used as one).
    pub password: String,
    /// An OAuth refresh token (`identitytoken`; a helper's `<token>` user).
    pub identity_token: String,
    /// A bearer token for the registry (`registrytoken`).
    pub registry_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &String| if s.is_empty() { "" } else { "[set]" };
        f.debug_struct("Credentials")
            .field("username", &set(&self.username))
            .field("password", &set(&self.password))
            .field("identity_token", &set(&self.identity_token))
            .field("registry_token", &set(&self.registry_token))
            .finish()
    }
}

impl Credentials {
    /// Whether there is nothing to authenticate with (an anonymous pull).
    pub fn is_empty(&self) -> bool {
        self.password.is_empty() && self.identity_token.is_empty() && self.registry_token.is_empty()
    }

    /// `base64(user:password)`, Docker's `auth`.
    fn auth(&self) -> String {
        b64(&format!("{}:{}", self.username, self.password))
    }

    /// `text` with every secret of these credentials (and their `auth` form) replaced by
    /// `[MASKED]`: for an engine's or registry's answer before anyone sees it.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        let auth = self.auth();
        for s in [
            &self.password,
            &self.identity_token,
            &self.registry_token,
            &auth,
        ] {
            if s.len() >= 3 {
                out = out.replace(s.as_str(), "[MASKED]");
            }
        }
        out
    }

    /// The entry of a Docker configuration's `auths` (what a `kubernetes.io/dockerconfigjson`
    /// Secret holds).
    pub fn config_entry(&self) -> Value {
        let mut v = Map::new();
        if !self.password.is_empty() {
            v.insert("username".into(), self.username.clone().into());
            v.insert("password".into(), self.password.clone().into());
            v.insert("auth".into(), self.auth().into());
        }
        if !self.identity_token.is_empty() {
            v.insert("identitytoken".into(), self.identity_token.clone().into());
        }
        if !self.registry_token.is_empty() {
            v.insert("registrytoken".into(), self.registry_token.clone().into());
        }
        Value::Object(v)
    }

    /// The credentials as the Docker Engine API takes them for a pull from `server`.
    pub fn to_docker(&self, server: &str) -> bollard::auth::DockerCredentials {
        let some = |s: &String| (!s.is_empty()).then(|| s.clone());
        bollard::auth::DockerCredentials {
            username: some(&self.username),
            password: some(&self.password),
            serveraddress: Some(server.to_string()),
            identitytoken: some(&self.identity_token),
            registrytoken: some(&self.registry_token),
            ..Default::default()
        }
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// Where credentials came from: named in the job's log and in errors, never with a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `DOCKER_AUTH_CONFIG` among the job's variables.
    JobVariable,
    /// `DOCKER_AUTH_CONFIG` in gantry's environment.
    Environment,
    /// A Docker configuration file.
    File(PathBuf),
    /// `CI_REGISTRY_USER` and `CI_REGISTRY_PASSWORD`.
    CiRegistry,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::JobVariable => write!(f, "${VARIABLE} (a variable of the job)"),
            Origin::Environment => write!(f, "${VARIABLE} (gantry's environment)"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::CiRegistry => write!(f, "$CI_REGISTRY_USER and $CI_REGISTRY_PASSWORD"),
        }
    }
}

/// Why a source's credentials cannot be used. Never holds a credential or the text it was in.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The configuration is not JSON (serde's message is left out: it quotes the input).
    #[error("not valid JSON ({what} at line {line}, column {column})")]
    Json {
        /// The kind of problem (syntax, data, end of input).
        what: &'static str,
        /// Where.
        line: usize,
        /// Where.
        column: usize,
    },
    /// The JSON is not an object, or one of its known keys has the wrong shape.
    #[error("`{key}` is not {expected}")]
    Shape {
        /// The key (`auths`, `credHelpers`, a registry).
        key: String,
        /// What it should be.
        expected: &'static str,
    },
    /// An `auth` that is not base64 of `user:password`.
    #[error("the `auth` of `{registry}` is not base64 of user:password")]
    BadAuth {
        /// The registry's key.
        registry: String,
    },
    /// A helper name with a path in it (the runner refuses them too).
    #[error("credential helper `{name}` is not a plain name")]
    HelperPath {
        /// The name given.
        name: String,
    },
    /// A helper could not run, timed out, failed or answered nonsense.
    #[error(
        "credential helper docker-credential-{name} ({action}{}): {reason}",
        on(server)
    )]
    Helper {
        /// The helper's name.
        name: String,
        /// `get` or `list`.
        action: &'static str,
        /// The server asked about (empty for `list`).
        server: String,
        /// What went wrong (its first line of output, or the I/O error).
        reason: String,
    },
    /// The configuration file exists but cannot be read.
    #[error("cannot read it: {reason}")]
    Read {
        /// The I/O error.
        reason: String,
    },
}

/// ` SERVER`, or nothing for none.
fn on(server: &str) -> String {
    match server {
        "" => String::new(),
        s => format!(" {s}"),
    }
}

/// A Docker configuration: the parts that hold credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerConfig {
    /// `auths`, by key as written.
    pub auths: BTreeMap<String, Credentials>,
    /// `credsStore`.
    pub creds_store: Option<String>,
    /// `credHelpers`: key as written → helper name.
    pub cred_helpers: BTreeMap<String, String>,
}

impl DockerConfig {
    /// Whether it names any credentials at all (the runner's `ContainsAuth`).
    pub fn has_auth(&self) -> bool {
        !self.auths.is_empty() || self.creds_store.is_some() || !self.cred_helpers.is_empty()
    }
}

/// Parses a Docker configuration (`config.json`, `DOCKER_AUTH_CONFIG`), or the legacy
/// `.dockercfg` form (registries at the top level).
pub fn parse_config(text: &str) -> Result<DockerConfig, AuthError> {
    let value: Value = serde_json::from_str(text).map_err(|e| AuthError::Json {
        what: match e.classify() {
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Eof => "unexpected end",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Io => "read error",
        },
        line: e.line(),
        column: e.column(),
    })?;
    let Value::Object(top) = value else {
        return Err(shape("the configuration", "an object"));
    };
    let modern = ["auths", "credsStore", "credHelpers"]
        .iter()
        .any(|k| top.contains_key(*k));
    let legacy = !modern
        && !top.is_empty()
        && top
            .values()
            .all(|v| v.as_object().is_some_and(|o| o.contains_key("auth")));
    let mut config = DockerConfig::default();
    let auths = if legacy {
        Some(&top)
    } else {
        match top.get("auths") {
            None | Some(Value::Null) => None,
            Some(Value::Object(a)) => Some(a),
            Some(_) => return Err(shape("auths", "an object")),
        }
    };
    for (key, entry) in auths.into_iter().flatten() {
        config.auths.insert(key.clone(), parse_entry(key, entry)?);
    }
    match top.get("credsStore") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => config.creds_store = Some(s.clone()),
        Some(_) => return Err(shape("credsStore", "a string")),
    }
    match top.get("credHelpers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (key, name) in h {
                let Some(name) = name.as_str() else {
                    return Err(shape(key, "a helper name"));
                };
                config.cred_helpers.insert(key.clone(), name.to_string());
            }
        }
        Some(_) => return Err(shape("credHelpers", "an object")),
    }
    Ok(config)
}

fn shape(key: &str, expected: &'static str) -> AuthError {
    AuthError::Shape {
        key: key.to_string(),
        expected,
    }
}

/// One `auths` entry, as Docker decodes it: `auth` (base64 `user:password`) wins over
/// `username`/`password`.
fn parse_entry(key: &str, entry: &Value) -> Result<Credentials, AuthError> {
    let Value::Object(o) = entry else {
        return Err(shape(key, "an object"));
    };
    let text = |k: &str| -> Result<String, AuthError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(shape(&format!("{key}.{k}"), "a string")),
        }
    };
    let mut c = Credentials {
        username: text("username")?,
        password: text("password")?,
        identity_token: text("identitytoken")?,
        registry_token: text("registrytoken")?,
    };
    let auth = text("auth")?;
    if !auth.is_empty() {
        let bad = || AuthError::BadAuth {
            registry: key.to_string(),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(bytes).map_err(|_| bad())?;
        let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
        c.username = user.to_string();
        c.password = password.trim_matches('\0').to_string();
    }
    Ok(c)
}

/// `host` lower-cased in `host/path`.
fn lower_host(path: &str) -> String {
    match path.split_once('/') {
        Some((host, rest)) => format!("{}/{rest}", host.to_lowercase()),
        None => path.to_lowercase(),
    }
}

/// An image reference as the runner matches it: no tag or digest, Docker Hub's images under
/// `docker.io` (`nginx`, `library/nginx`, `index.docker.io/x`), the host lower-cased.
pub fn image_path(image: &str) -> String {
    let name = image.split('@').next().unwrap_or(image);
    let name = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    let name = name.trim_end_matches('/');
    let first = name.split('/').next().unwrap_or(name);
    let hub = !name.contains('/')
        || !(first.contains('.') || first.contains(':') || first.eq_ignore_ascii_case("localhost"));
    let path = if hub {
        format!("{DOCKER_HUB}/{name}")
    } else if first.eq_ignore_ascii_case("index.docker.io") {
        format!("{DOCKER_HUB}{}", &name[first.len()..])
    } else {
        name.to_string()
    };
    lower_host(&path)
}

/// A configuration key as a registry path: a URL (`https://host/v1/`) is its host, a plain key
/// loses a trailing `/` and a tag; `index.docker.io` is `docker.io`.
pub fn key_path(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    let unprefixed = ["https://", "http://"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| &key[p.len()..]);
    let path = match unprefixed {
        Some(rest) => rest.split('/').next().unwrap_or(rest).to_lowercase(),
        None => {
            let p = key.trim_end_matches('/');
            match (p.rfind(':'), p.rfind('/')) {
                (Some(tag), Some(slash)) if tag > slash => lower_host(&p[..tag]),
                _ => lower_host(p),
            }
        }
    };
    match path.strip_prefix("index.docker.io") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{DOCKER_HUB}{rest}"),
        _ => path,
    }
}

/// The registry host of a registry path (what the engine and the kubelet are told).
pub fn server_of(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// How one entry authenticates.
#[derive(Clone, Debug)]
enum Auth {
    Inline(Credentials),
    /// A helper (its name) asked for a server (the key as written).
    Helper(String, String),
}

/// One registry path a source names.
#[derive(Clone, Debug)]
struct Entry {
    path: String,
    source: usize,
    auth: Auth,
}

/// Credentials found for an image.
#[derive(Clone, Debug)]
pub struct Found {
    /// The registry path they were given for (`host`, `host/group`…).
    pub registry: String,
    /// Where they came from.
    pub origin: Origin,
    /// The helper that gave them, if one did.
    pub helper: Option<String>,
    /// The credentials.
    pub credentials: Credentials,
}

impl Found {
    /// `from ORIGIN` (with the helper that gave them), for the job's log and errors.
    pub fn source(&self) -> String {
        match &self.helper {
            Some(h) => format!("from docker-credential-{h} (named in {})", self.origin),
            None => format!("from {}", self.origin),
        }
    }

    /// `credentials for REGISTRY from ORIGIN`, for the job's log.
    pub fn describe(&self) -> String {
        format!("credentials for {} {}", self.registry, self.source())
    }
}

/// What a lookup found, and what it had to skip.
#[derive(Debug, Default)]
pub struct Lookup {
    /// The credentials to pull with (`None`: pull anonymously).
    pub found: Option<Found>,
    /// Sources that could not be used, one line each (no credential in them).
    pub warnings: Vec<String>,
}

/// Where a job's registry credentials may come from, gathered once per job.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// `DOCKER_AUTH_CONFIG` and where it was set. The text is a secret: never shown.
    variable: Option<(Origin, Secret)>,
    /// The user's Docker configuration files, first existing one used.
    files: Vec<PathBuf>,
    /// `$CI_REGISTRY` and the user-set credentials for it.
    ci_registry: Option<(String, Credentials)>,
    /// Where helpers are looked for instead of gantry's `PATH` (tests).
    helper_path: Option<std::ffi::OsString>,
}

/// A string that is never printed.
#[derive(Clone, Default)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[secret]")
    }
}

/// A source's entries, or why it was skipped.
struct Loaded {
    origin: Origin,
    config: Result<DockerConfig, AuthError>,
}

impl Sources {
    /// A job's sources: its variables `env`, then gantry's environment and the user's files.
    pub fn for_job(env: &[(String, String)]) -> Sources {
        Sources::new(
            env,
            std::env::var(VARIABLE).ok(),
            std::env::var_os("DOCKER_CONFIG").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    /// Sources without a job (an image inspected before any job runs).
    pub fn ambient() -> Sources {
        Sources::for_job(&[])
    }

    /// Sources from explicit parts: the job's variables, gantry's `DOCKER_AUTH_CONFIG`, its
    /// `DOCKER_CONFIG` and `HOME`.
    pub fn new(
        env: &[(String, String)],
        process_variable: Option<String>,
        docker_config: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> Sources {
        let var = |k: &str| {
            env.iter()
                .rev()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let variable = match var(VARIABLE) {
            Some(v) => Some((Origin::JobVariable, Secret(v.to_string()))),
            None => process_variable
                .filter(|v| !v.is_empty())
                .map(|v| (Origin::Environment, Secret(v))),
        };
        let files = match (docker_config, home) {
            (Some(dir), _) => vec![dir.join("config.json")],
            (None, Some(home)) => vec![
                home.join(".docker").join("config.json"),
                home.join(".dockercfg"),
            ],
            (None, None) => Vec::new(),
        };
        let ci_registry = match (
            var("CI_REGISTRY"),
            var("CI_REGISTRY_USER"),
            var("CI_REGISTRY_PASSWORD"),
        ) {
            (Some(registry), Some(user), Some(password))
                if !password.starts_with(STAND_IN_TOKEN) =>
            {
                Some((
                    registry.to_string(),
                    Credentials {
                        username: user.to_string(),
                        password: password.to_string(),
                        ..Credentials::default()
                    },
                ))
            }
            _ => None,
        };
        Sources {
            variable,
            files,
            ci_registry,
            helper_path: None,
        }
    }

    /// The same sources, with helpers looked for on `path` instead of gantry's `PATH`.
    pub fn with_helper_path(mut self, path: impl Into<std::ffi::OsString>) -> Sources {
        self.helper_path = Some(path.into());
        self
    }

    /// The credentials to pull `image` with, running credential helpers as needed.
    pub async fn lookup(&self, image: &str) -> Lookup {
        let mut warnings = Vec::new();
        let mut loaded = Vec::new();
        if let Some((origin, text)) = &self.variable {
            loaded.push(Loaded {
                origin: origin.clone(),
                config: parse_config(&text.0),
            });
        }
        if let Some(file) = self.files.iter().find(|f| f.exists()) {
            loaded.push(Loaded {
                origin: Origin::File(file.clone()),
                config: std::fs::read_to_string(file)
                    .map_err(|e| AuthError::Read {
                        reason: e.kind().to_string(),
                    })
                    .and_then(|t| parse_config(&t)),
            });
        }
        let helpers = Helpers(self.helper_path.as_deref());
        let mut sources: Vec<(Origin, Vec<(String, Auth)>)> = Vec::new();
        for l in loaded {
            match l.config {
                Ok(c) => match helpers.keyed(&c).await {
                    Ok(keys) => sources.push((l.origin, keys)),
                    Err(e) => warnings.push(skipped(&l.origin, &e)),
                },
                Err(e) => warnings.push(skipped(&l.origin, &e)),
            }
        }
        if let Some((registry, c)) = &self.ci_registry {
            sources.push((
                Origin::CiRegistry,
                vec![(registry.clone(), Auth::Inline(c.clone()))],
            ));
        }
        let path = image_path(image);
        loop {
            let all = entries(&sources);
            let Some(entry) = best(&all, &path).cloned() else {
                return Lookup {
                    found: None,
                    warnings,
                };
            };
            let origin = sources[entry.source].0.clone();
            let (credentials, helper) = match &entry.auth {
                Auth::Inline(c) => (c.clone(), None),
                Auth::Helper(name, server) => match helpers.get(name, server).await {
                    Ok(c) => (c, Some(name.clone())),
                    Err(e) => {
                        // As the runner: a source whose helper fails gives nothing.
                        warnings.push(skipped(&origin, &e));
                        sources[entry.source].1.clear();
                        continue;
                    }
                },
            };
            let found = (!credentials.is_empty()).then(|| Found {
                registry: entry.path.clone(),
                origin,
                helper,
                credentials,
            });
            return Lookup { found, warnings };
        }
    }
}

fn skipped(origin: &Origin, e: &AuthError) -> String {
    format!("warning: registry credentials in {origin} are not used: {e}")
}

/// Every source's entries, the first source to name a path keeping it (within a source, keys
/// in sorted order, as the runner adds them).
fn entries(sources: &[(Origin, Vec<(String, Auth)>)]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for (i, (_, keys)) in sources.iter().enumerate() {
        for (key, auth) in keys {
            let path = key_path(key);
            if !out.iter().any(|e| e.path == path) {
                out.push(Entry {
                    path,
                    source: i,
                    auth: auth.clone(),
                });
            }
        }
    }
    out
}

/// The entry for the longest registry path `path` is under.
fn best<'a>(entries: &'a [Entry], path: &str) -> Option<&'a Entry> {
    let mut p = path;
    loop {
        if let Some(e) = entries.iter().find(|e| e.path == p) {
            return Some(e);
        }
        p = &p[..p.rfind('/')?];
    }
}

fn plain_name(name: &str) -> Result<(), AuthError> {
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(AuthError::HelperPath {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Runs `docker-credential-*` helpers (found on gantry's `PATH`, or on the one given).
#[derive(Clone, Copy)]
struct Helpers<'a>(Option<&'a std::ffi::OsStr>);

impl Helpers<'_> {
    /// A configuration's keys with how each authenticates: `auths`, then what `credsStore` lists,
    /// then `credHelpers`, each taking over the same key from before.
    async fn keyed(&self, c: &DockerConfig) -> Result<Vec<(String, Auth)>, AuthError> {
        let mut keys: BTreeMap<String, Auth> = c
            .auths
            .iter()
            .map(|(k, v)| (k.clone(), Auth::Inline(v.clone())))
            .collect();
        if let Some(store) = &c.creds_store {
            for server in self.list(store).await? {
                keys.insert(server.clone(), Auth::Helper(store.clone(), server));
            }
        }
        for (server, name) in &c.cred_helpers {
            plain_name(name)?;
            keys.insert(server.clone(), Auth::Helper(name.clone(), server.clone()));
        }
        Ok(keys.into_iter().collect())
    }

    /// Runs `docker-credential-NAME ACTION` with `input` on stdin; its stdout on success.
    async fn run(
        &self,
        name: &str,
        action: &'static str,
        input: &str,
    ) -> Result<String, AuthError> {
        use tokio::io::AsyncWriteExt;
        plain_name(name)?;
        let fail = |reason: String| AuthError::Helper {
            name: name.to_string(),
            action,
            server: input.to_string(),
            reason,
        };
        let mut command = tokio::process::Command::new(format!("docker-credential-{name}"));
        if let Some(path) = self.0 {
            command.env("PATH", path);
        }
        let mut child = command
            .arg(action)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => fail("not found on PATH".into()),
                _ => fail(e.to_string()),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that does not read its input is judged by its answer, not by this write.
            let _ = stdin.write_all(input.as_bytes()).await;
        }
        let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| fail(format!("no answer within {}s", HELPER_TIMEOUT.as_secs())))?
            .map_err(|e| fail(e.to_string()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        // Helpers report errors on stdout (docker-credential-helpers); the first line says why.
        let message = [stdout.as_str(), &String::from_utf8_lossy(&out.stderr)]
            .iter()
            .find_map(|s| s.lines().map(str::trim).find(|l| !l.is_empty()))
            .map(|l| l.chars().take(200).collect::<String>())
            .unwrap_or_else(|| format!("exited with {}", out.status));
        Err(fail(message))
    }

    /// `get`: the credentials a helper holds for `server` (none: empty, as Docker takes them).
    async fn get(&self, name: &str, server: &str) -> Result<Credentials, AuthError> {
        let answer = match self.run(name, "get", server).await {
            Ok(a) => a,
            Err(AuthError::Helper { reason, .. }) if reason == NOT_FOUND => {
                return Ok(Credentials::default());
            }
            Err(e) => return Err(e),
        };
        parse_get(&answer).ok_or_else(|| AuthError::Helper {
            name: name.to_string(),
            action: "get",
            server: server.to_string(),
            reason: "its answer is not {\"Username\", \"Secret\"} JSON".into(),
        })
    }

    /// `list`: the servers a credential store holds credentials for.
    async fn list(&self, name: &str) -> Result<Vec<String>, AuthError> {
        let answer = self.run(name, "list", "").await?;
        let v: Map<String, Value> =
            serde_json::from_str(&answer).map_err(|_| AuthError::Helper {
                name: name.to_string(),
                action: "list",
                server: String::new(),
                reason: "its answer is not a JSON object".into(),
            })?;
        Ok(v.keys().cloned().collect())
    }
}

/// A helper's `get` answer; a `<token>` user means the secret is an identity token.
fn parse_get(answer: &str) -> Option<Credentials> {
    let v: Value = serde_json::from_str(answer).ok()?;
    let user = v.get("Username")?.as_str()?;
    let secret = v.get("Secret")?.as_str()?;
    Some(if user == "<token>" {
        Credentials {
            identity_token: secret.to_string(),
            ..Credentials::default()
        }
    } else {
        Credentials {
            username: user.to_string(),
            password: secret.to_string(),
            ..Credentials::default()
        }
    })
}

/// The registry credentials to pull `image` with, saying in the job's log where they came
/// from (never what they are) and which sources had to be skipped.
pub async fn for_image(image: &str, sources: &Sources, out: &Sink) -> Option<Found> {
    let lookup = sources.lookup(image).await;
    for w in &lookup.warnings {
        out.write(Stream::Stderr, format!("{w}\n").as_bytes());
    }
    if let Some(f) = &lookup.found {
        out.write(
            Stream::Stderr,
            format!("authenticating with the {}\n", f.describe()).as_bytes(),
        );
    }
    lookup.found
}

/// The `.dockerconfigjson` of a pull Secret for `found` (one entry per registry path; Docker
/// Hub under its canonical key).
pub fn docker_config_json(found: &[Found]) -> Value {
    let mut auths = Map::new();
    for f in found {
        let key = if f.registry == DOCKER_HUB {
            DOCKER_HUB_KEY.to_string()
        } else {
            f.registry.clone()
        };
        auths
            .entry(key)
            .or_insert_with(|| f.credentials.config_entry());
    }
    json!({ "auths": auths })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials {
            username: user.into(),
            password: password.into(),
            ..Credentials::default()
        }
    }

    #[test]
    fn image_references_normalise_as_the_runner_does() {
        for (image, path) in [
            ("nginx", "docker.io/nginx"),
            ("nginx:1.27", "docker.io/nginx"),
            ("library/nginx:1", "docker.io/library/nginx"),
            ("bitnami/redis@sha256:abc", "docker.io/bitnami/redis"),
            ("index.docker.io/bitnami/redis", "docker.io/bitnami/redis"),
            ("docker.io/nginx", "docker.io/nginx"),
            ("localhost/x", "localhost/x"),
            ("LocalHost:5000/x/y:1", "localhost:5000/x/y"),
            ("127.0.0.1:5000/team/app:1.2", "127.0.0.1:5000/team/app"),
            (
                "Registry.Example.com/Group/App",
                "registry.example.com/Group/App",
            ),
            (
                "registry.example.com:443/g/a@sha256:0123",
                "registry.example.com:443/g/a",
            ),
        ] {
            assert_eq!(image_path(image), path, "{image}");
        }
    }

    #[test]
    fn configuration_keys_normalise_as_the_runner_does() {
        for (key, path) in [
            ("https://index.docker.io/v1/", "docker.io"),
            ("http://Registry.Example.com/v2/", "registry.example.com"),
            ("index.docker.io", "docker.io"),
            ("docker.io", "docker.io"),
            ("registry.example.com:5000", "registry.example.com:5000"),
            ("registry.example.com/", "registry.example.com"),
            ("Registry.example.com/Team1/", "registry.example.com/Team1"),
            ("localhost:5000/app:latest", "localhost:5000/app"),
        ] {
            assert_eq!(key_path(key), path, "{key}");
        }
        assert_eq!(
            server_of("reg.example.com:5000/a/b"),
            "reg.example.com:5000"
        );
    }

    #[test]
    fn config_json_decodes_auth_and_plain_fields() {
        let auth = b64("user:pa:ss");
        let c = parse_config(&format!(
            r#"{{"auths": {{
                "reg.example.com": {{"auth": "{auth}"}},
                "other:5000": {{"username": "u", "password": "p"}},
                "tok.example.com": {{"identitytoken": "id", "registrytoken": "rt"}},
                "empty.example.com": {{}}
              }},
              "credsStore": "desktop",
              "credHelpers": {{"gcr.io": "gcloud"}},
              "HttpHeaders": {{"User-Agent": "x"}}}}"#
        ))
        .unwrap();
        assert_eq!(c.auths["reg.example.com"], creds("user", "pa:ss"));
        assert_eq!(c.auths["other:5000"], creds("u", "p"));
        assert_eq!(c.auths["tok.example.com"].identity_token, "id");
        assert_eq!(c.auths["tok.example.com"].registry_token, "rt");
        assert!(c.auths["empty.example.com"].is_empty());
        assert_eq!(c.creds_store.as_deref(), Some("desktop"));
        assert_eq!(c.cred_helpers["gcr.io"], "gcloud");
        assert!(c.has_auth());
        assert!(!parse_config(r#"{"HttpHeaders": {}}"#).unwrap().has_auth());
        assert!(!parse_config(r#"{"credsStore": ""}"#).unwrap().has_auth());
    }

    #[test]
    fn legacy_dockercfg_is_read() {
        let c = parse_config(&format!(
            r#"{{"https://reg.example.com": {{"auth": "{}", "email": "e"}}}}"#,
            b64("a:b")
        ))
        .unwrap();
        assert_eq!(c.auths["https://reg.example.com"], creds("a", "b"));
    }

    #[test]
    fn errors_never_quote_the_configuration() {
        let secret = "hunter2-very-secret";
        for text in [
            format!(r#"{{"auths": "{secret}"}}"#),
            format!(r#"{{"auths": {{"r": {{"auth": "{secret}"}}}}}}"#),
            format!(r#"{{"auths": {{"r": {{"password": ["{secret}"]}}}}}}"#),
            format!(r#"{{"auths": {{"r": {{"auth": "{}"}}}}}}"#, b64(secret)),
            format!(r#"{{"auths": {{"{secret}"#),
            format!(r#"["{secret}"]"#),
            format!(r#"{{"credHelpers": {{"r": 1}}, "x": "{secret}"}}"#),
        ] {
            let e = parse_config(&text).expect_err(&text);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains(&b64(secret)), "{shown}");
        }
        assert_eq!(
            parse_config(r#"{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}"#),
            Err(AuthError::BadAuth {
                registry: "r".into()
            })
        );
    }

    #[test]
    fn debug_and_mask_hide_secrets() {
        let c = creds("me", "s3cr3t-pw");
        let shown = format!(
            "{c:?} {:?}",
            Sources::new(
                &[(
                    "DOCKER_AUTH_CONFIG".into(),
                    "{\"auths\":{\"r\":{\"auth\":\"s3cr3t\"}}}".into()
                )],
                None,
                None,
                None
            )
        );
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let text = format!("denied: s3cr3t-pw and {} for me", c.auth());
        assert_eq!(c.mask(&text), "denied: [MASKED] and [MASKED] for me");
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(auths: &[(&str, &str, &str)]) -> String {
        let entries: Map<String, Value> = auths
            .iter()
            .map(|(k, u, p)| (k.to_string(), json!({"auth": b64(&format!("{u}:{p}"))})))
            .collect();
        json!({ "auths": entries }).to_string()
    }

    fn found(sources: &Sources, image: &str) -> Option<(String, Origin, Credentials)> {
        let l = block_on(sources.lookup(image));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        l.found.map(|f| (f.registry, f.origin, f.credentials))
    }

    #[test]
    fn the_longest_matching_path_wins() {
        let cfg = config(&[
            ("reg.example.com", "host", "1"),
            ("reg.example.com/team1", "team", "2"),
            ("reg.example.com/team1/app", "app", "3"),
            ("https://index.docker.io/v1/", "hub", "4"),
        ]);
        let s = Sources::new(&env(&[(VARIABLE, &cfg)]), None, None, None);
        let user = |image: &str| found(&s, image).map(|f| f.2.username);
        assert_eq!(user("reg.example.com/team1/app:1").as_deref(), Some("app"));
        assert_eq!(user("reg.example.com/team1/other").as_deref(), Some("team"));
        assert_eq!(user("reg.example.com/team2/app").as_deref(), Some("host"));
        assert_eq!(user("reg.example.com/team1app").as_deref(), Some("host"));
        assert_eq!(user("alpine:3").as_deref(), Some("hub"));
        assert_eq!(user("reg.example.com:5000/team1/app"), None);
        assert_eq!(user("other.example.com/x"), None);
    }

    #[test]
    fn two_keys_of_one_registry_in_one_source_keep_the_first_in_sorted_order() {
        // `docker.io` sorts before `https://index.docker.io/v1/`: the runner adds it first.
        let cfg = config(&[
            ("https://index.docker.io/v1/", "url", "1"),
            ("docker.io", "plain", "2"),
        ]);
        let s = Sources::new(&env(&[(VARIABLE, &cfg)]), None, None, None);
        let (registry, origin, c) = found(&s, "alpine").unwrap();
        assert_eq!(
            (registry.as_str(), c.username.as_str()),
            ("docker.io", "plain")
        );
        let f = Found {
            registry,
            origin,
            helper: Some("pass".into()),
            credentials: c,
        };
        assert_eq!(
            f.describe(),
            "credentials for docker.io from docker-credential-pass (named in $DOCKER_AUTH_CONFIG \
             (a variable of the job))"
        );
    }

    #[test]
    fn sources_keep_the_runners_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".docker")).unwrap();
        std::fs::write(
            dir.path().join(".docker/config.json"),
            config(&[
                ("a.example.com", "file", "f"),
                ("b.example.com", "file", "f"),
            ]),
        )
        .unwrap();
        let job = config(&[("a.example.com", "job", "j")]);
        let process = config(&[
            ("a.example.com", "process", "p"),
            ("c.example.com", "process", "p"),
        ]);
        let ci = [
            ("CI_REGISTRY", "b.example.com"),
            ("CI_REGISTRY_USER", "ci"),
            ("CI_REGISTRY_PASSWORD", "c"),
        ];
        // The job's variable over gantry's environment over the file over CI_REGISTRY_*.
        let mut vars = env(&ci);
        vars.extend(env(&[(VARIABLE, &job)]));
        let s = Sources::new(&vars, Some(process.clone()), None, Some(dir.path().into()));
        let a = found(&s, "a.example.com/x").unwrap();
        assert_eq!((a.2.username.as_str(), a.1), ("job", Origin::JobVariable));
        let b = found(&s, "b.example.com/x").unwrap();
        assert_eq!(b.2.username, "file");
        assert_eq!(b.1, Origin::File(dir.path().join(".docker/config.json")));
        // The job's DOCKER_AUTH_CONFIG hides gantry's entirely.
        assert_eq!(found(&s, "c.example.com/x"), None);
        let s = Sources::new(&env(&ci), Some(process), None, None);
        let a = found(&s, "a.example.com/x").unwrap();
        assert_eq!(
            (a.2.username.as_str(), a.1),
            ("process", Origin::Environment)
        );
        let b = found(&s, "b.example.com/x").unwrap();
        assert_eq!((b.2.username.as_str(), b.1), ("ci", Origin::CiRegistry));
        // A more specific path of a later source beats a shorter one of an earlier source.
        let s = Sources::new(
            &env(&[(VARIABLE, &config(&[("b.example.com", "job", "j")]))]),
            None,
            None,
            None,
        );
        let mut vars = env(&[(VARIABLE, &config(&[("b.example.com", "job", "j")]))]);
        vars.extend(env(&[
            ("CI_REGISTRY", "b.example.com/group"),
            ("CI_REGISTRY_USER", "ci"),
            ("CI_REGISTRY_PASSWORD", "c"),
        ]));
        assert_eq!(
            found(&s, "b.example.com/group/x").unwrap().2.username,
            "job"
        );
        let s = Sources::new(&vars, None, None, None);
        assert_eq!(found(&s, "b.example.com/group/x").unwrap().2.username, "ci");
    }

    #[test]
    fn docker_config_and_dockercfg_files() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = json!({"legacy.example.com": {"auth": b64("old:pw")}}).to_string();
        std::fs::write(dir.path().join(".dockercfg"), legacy).unwrap();
        let s = Sources::new(&[], None, None, Some(dir.path().into()));
        assert_eq!(found(&s, "legacy.example.com/x").unwrap().2.username, "old");
        // DOCKER_CONFIG names the directory instead of the home's.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(
            other.path().join("config.json"),
            config(&[("legacy.example.com", "new", "pw")]),
        )
        .unwrap();
        let s = Sources::new(
            &[],
            None,
            Some(other.path().into()),
            Some(dir.path().into()),
        );
        assert_eq!(found(&s, "legacy.example.com/x").unwrap().2.username, "new");
    }

    #[test]
    fn gantrys_stand_in_token_is_no_credential() {
        let vars = env(&[
            ("CI_REGISTRY", "registry.example.com"),
            ("CI_REGISTRY_USER", "gitlab-ci-token"),
            ("CI_REGISTRY_PASSWORD", "glcbt-gantry-000000000001"),
        ]);
        let s = Sources::new(&vars, None, None, None);
        assert_eq!(found(&s, "registry.example.com/g/p"), None);
    }

    #[test]
    fn a_broken_source_is_skipped_with_a_warning() {
        let vars = env(&[
            (
                VARIABLE,
                "{\"auths\": {\"a.example.com\": {\"auth\": \"!!\"}}}",
            ),
            ("CI_REGISTRY", "a.example.com"),
            ("CI_REGISTRY_USER", "ci"),
            ("CI_REGISTRY_PASSWORD", "pw"),
        ]);
        let s = Sources::new(&vars, None, None, None);
        let l = block_on(s.lookup("a.example.com/x"));
        assert_eq!(l.found.unwrap().credentials.username, "ci");
        assert_eq!(
            l.warnings,
            [
                "warning: registry credentials in $DOCKER_AUTH_CONFIG (a variable of the job) are not used: the `auth` of `a.example.com` is not base64 of user:password"
            ]
        );
    }

    #[test]
    fn helper_answers() {
        assert_eq!(
            parse_get(r#"{"ServerURL": "r", "Username": "u", "Secret": "s"}"#),
            Some(creds("u", "s"))
        );
        let t = parse_get(r#"{"Username": "<token>", "Secret": "refresh"}"#).unwrap();
        assert_eq!(
            (t.username.as_str(), t.identity_token.as_str()),
            ("", "refresh")
        );
        assert_eq!(parse_get("nonsense"), None);
        assert!(plain_name("../evil").is_err() && plain_name("/bin/sh").is_err());
        assert!(plain_name("ecr-login").is_ok());
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn helpers_with_a_path_are_refused_without_running() {
        let cfg = json!({"credHelpers": {"h.example.com": "../../bin/true"}}).to_string();
        let s = Sources::new(&env(&[(VARIABLE, &cfg)]), None, None, None);
        let l = block_on(s.lookup("h.example.com/x"));
        assert!(l.found.is_none());
        assert!(
            l.warnings[0].contains("is not a plain name"),
            "{:?}",
            l.warnings
        );
    }

    /// `docker-credential-NAME` in `dir`: answers `get` for a.example.com (the server read from
    /// stdin, as Docker passes it), lists a.example.com and b.example.com, and fails for
    /// b.example.com.
    fn helper(dir: &std::path::Path, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let script = r#"#!/bin/sh
read -r server
case "$1:$server" in
  get:a.example.com) echo '{"ServerURL":"a.example.com","Username":"helped","Secret":"from-helper"}' ;;
  get:b.example.com) echo 'the keychain is locked'; exit 1 ;;
  get:*) echo 'credentials not found in native keychain'; exit 1 ;;
  list:*) echo '{"a.example.com":"helped","b.example.com":"x"}' ;;
  *) exit 2 ;;
esac
"#;
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn helpers_run_as_docker_runs_them() {
        let bin = tempfile::tempdir().unwrap();
        helper(bin.path(), "test");
        let path = format!("{}:/usr/bin:/bin", bin.path().display());
        let ci = [
            ("CI_REGISTRY", "b.example.com"),
            ("CI_REGISTRY_USER", "ci"),
            ("CI_REGISTRY_PASSWORD", "pw"),
        ];
        let with = |cfg: Value| {
            let mut vars = env(&ci);
            vars.extend(env(&[(VARIABLE, &cfg.to_string())]));
            Sources::new(&vars, None, None, None).with_helper_path(&path)
        };
        // credHelpers: over an `auths` entry of the same key.
        let s = with(json!({
            "auths": {"a.example.com": {"auth": b64("inline:pw")}},
            "credHelpers": {"a.example.com": "test", "c.example.com": "test"},
        }));
        let l = block_on(s.lookup("a.example.com/app:1"));
        let f = l.found.unwrap();
        assert_eq!(f.credentials, creds("helped", "from-helper"));
        assert_eq!(f.helper.as_deref(), Some("test"));
        assert!(
            f.describe().contains("docker-credential-test"),
            "{}",
            f.describe()
        );
        assert!(!f.describe().contains("from-helper"));
        // Nothing stored for the registry: an anonymous pull, no later source.
        let l = block_on(s.lookup("c.example.com/app"));
        assert!(l.found.is_none() && l.warnings.is_empty(), "{l:?}");
        // credsStore: every registry it lists; a failing `get` skips the source.
        let s = with(json!({"credsStore": "test"}));
        let l = block_on(s.lookup("a.example.com/app"));
        assert_eq!(l.found.unwrap().credentials.username, "helped");
        let l = block_on(s.lookup("b.example.com/app"));
        assert_eq!(l.found.unwrap().origin, Origin::CiRegistry);
        assert_eq!(
            l.warnings,
            [
                "warning: registry credentials in $DOCKER_AUTH_CONFIG (a variable of the job) are \
              not used: credential helper docker-credential-test (get b.example.com): the \
              keychain is locked"
            ]
        );
        // A helper that is not there.
        let s = with(json!({"credsStore": "absent"}));
        let l = block_on(s.lookup("b.example.com/app"));
        assert_eq!(l.found.unwrap().origin, Origin::CiRegistry);
        assert!(
            l.warnings[0].ends_with("(list): not found on PATH"),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn pull_secret_config() {
        let f = |registry: &str, c: Credentials| Found {
            registry: registry.into(),
            origin: Origin::CiRegistry,
            helper: None,
            credentials: c,
        };
        let token = Credentials {
            identity_token: "tok".into(),
            ..Credentials::default()
        };
        let v = docker_config_json(&[
            f("docker.io", creds("hub", "pw")),
            f("reg.example.com:5000/team", creds("t", "p:w")),
            f("reg.example.com:5000/team", creds("second", "ignored")),
            f("id.example.com", token),
        ]);
        assert_eq!(
            v,
            json!({"auths": {
                "https://index.docker.io/v1/": {"username": "hub", "password": "pw", "auth": b64("hub:pw")},
                "reg.example.com:5000/team": {"username": "t", "password": "p:w", "auth": b64("t:p:w")},
                "id.example.com": {"identitytoken": "tok"},
            }})
        );
        let d = creds("u", "p").to_docker("reg:1");
        assert_eq!(
            (
                d.username.as_deref(),
                d.password.as_deref(),
                d.serveraddress.as_deref()
            ),
            (Some("u"), Some("p"), Some("reg:1"))
        );
        assert_eq!(d.identitytoken, None);
    }
}
