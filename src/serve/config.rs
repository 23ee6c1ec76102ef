//! `gantry serve` settings: a TOML file, then flags and environment variables on top, so a
//! single-repository server needs no file at all.

use crate::executor::choice::Kind;
use crate::project::config::KubernetesTable;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Server-wide settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    pub listen: String,
    /// Where the database, checkouts, caches and artifacts live.
    pub data_dir: PathBuf,
    /// Webhook secret of repositories that do not set their own.
    pub webhook_secret: Option<String>,
    /// API token; when absent one is generated at first start and printed once.
    pub api_token: Option<String>,
    /// Most pipelines running at once, over all repositories.
    pub concurrency: usize,
    /// Most pipelines waiting; webhooks beyond it get 503.
    pub queue_limit: usize,
    /// Bytes of log kept per job; the rest is cut with a visible marker.
    pub log_limit: u64,
    /// Largest request body accepted (bytes); larger gets 413.
    pub max_body: usize,
    /// Seconds running pipelines get on SIGTERM before they are cancelled.
    pub shutdown_grace: u64,
    /// Seconds between two looks at watched refs of local repositories.
    pub watch_interval: u64,
    /// The repositories served.
    #[serde(rename = "repository")]
    pub repositories: Vec<RepoConfig>,
    /// The server's address as the forge's users reach it (`http://ci.example.com`): the
    /// links of commit statuses. Default: `http://` and the listening address.
    pub public_url: Option<String>,
    /// Seconds a runner may stay silent (no trace, no update) on a running job before the
    /// job fails with `runner_system_failure` (`serve::runners`).
    pub runner_timeout: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("gantry-data"),
            webhook_secret: None,
            api_token: None,
            concurrency: 4,
            queue_limit: 1000,
            log_limit: 4 * 1024 * 1024,
            max_body: 1024 * 1024,
            shutdown_grace: 30,
            watch_interval: 10,
            repositories: Vec::new(),
            public_url: None,
            runner_timeout: 600,
        }
    }
}

/// Which executor a repository's jobs use (as `gantry run --executor`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorChoice {
    /// The commit's `[executor]` rules, else Docker for jobs with an image and the shell for
    /// the rest.
    #[default]
    Auto,
    /// Everything in the server's shell.
    Shell,
    /// Docker for jobs with an image, the shell for the rest; no rules.
    Docker,
    /// Every job as a pod on the repository's cluster.
    Kubernetes,
    /// Every job handed to registered runners on other machines (`serve::runners`).
    Runners,
}

impl ExecutorChoice {
    /// The executor forced on every job (`None`: per job).
    pub fn forced(self) -> Option<Kind> {
        match self {
            ExecutorChoice::Auto => None,
            ExecutorChoice::Shell => Some(Kind::Shell),
            ExecutorChoice::Docker => Some(Kind::Docker),
            ExecutorChoice::Kubernetes => Some(Kind::Kubernetes),
            // Planned as shell jobs: the server pulls no image, the runner runs them.
            ExecutorChoice::Runners => Some(Kind::Shell),
        }
    }
}

/// One repository.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// The forge's project path (`group/app`), as webhooks name it.
    pub name: String,
    /// A local repository path or a clone URL.
    pub source: String,
    /// Secret of its webhooks (else the server-wide one).
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Executor of its jobs (else `--executor`, else `auto`).
    #[serde(default)]
    pub executor: Option<ExecutorChoice>,
    /// Kubeconfig of its cluster (else `--kubeconfig`); the operator's choice, never a commit's.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Context in that kubeconfig (else `--kube-context`).
    #[serde(default)]
    pub kube_context: Option<String>,
    /// `[repository.kubernetes]`: environment settings and `[repository.kubernetes.executor]`
    /// pod settings, as in a project's `.gantry/config.toml`; a commit's own may only narrow
    /// them.
    #[serde(default)]
    pub kubernetes: KubernetesTable,
    /// Most of its pipelines running at once.
    #[serde(default = "one")]
    pub concurrency: usize,
    /// Most jobs of one pipeline running at once (default: number of CPUs).
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Branches of a local repository to watch for new commits.
    #[serde(default)]
    pub watch: Vec<String>,
    /// Project variables (gantry's `variables.yml` format, masked values included).
    #[serde(default)]
    pub variables_file: Option<PathBuf>,
    /// Image substitutions `FROM=TO` for the Docker executor.
    #[serde(default)]
    pub image_map: Vec<String>,
    /// Run its `docker:dind` services as real privileged engines (as `gantry run
    /// --privileged-dind`), for nodes without a Docker socket; the operator's choice.
    #[serde(default)]
    pub privileged_dind: bool,
    /// Ref patterns (branches and tags, `*` matches anything) whose pipelines are protected:
    /// only they get `protected: true` variables and `CI_COMMIT_REF_PROTECTED=true`.
    #[serde(default)]
    pub protected: Vec<String>,
    /// Forge users whose merge requests from this repository are trusted; when set, anyone
    /// else's waits for approval (see `serve::trust`).
    #[serde(default)]
    pub trusted_authors: Vec<String>,
    /// Pass the host's Docker socket to `docker:dind` services of trusted pipelines (root on
    /// the host, so the operator opts in; untrusted pipelines never get it).
    #[serde(default)]
    pub docker_socket: bool,
    /// Let untrusted (approved) pipelines use the repository's cluster (Kubernetes executor,
    /// environments); off by default.
    #[serde(default)]
    pub untrusted_cluster: bool,
    /// `[[repository.schedule]]`: pipelines started by cron (see `serve::schedule`).
    #[serde(default, rename = "schedule")]
    pub schedules: Vec<super::schedule::ScheduleConfig>,
    /// The forge commit statuses go back to (`gitlab`, `github`, `gitea`); none: no statuses.
    #[serde(default)]
    pub forge: Option<Forge>,
    /// The forge's API base (GitHub: `https://api.github.com`; GitLab and Gitea: the scheme
    /// and host of `source`).
    #[serde(default)]
    pub forge_url: Option<String>,
    /// File holding the forge API token that posts statuses.
    #[serde(default)]
    pub forge_token_file: Option<PathBuf>,
    /// Environment variable holding that token (instead of a file).
    #[serde(default)]
    pub forge_token_env: Option<String>,
    /// File holding an HTTPS token git clones `source` with (through a credential helper).
    #[serde(default)]
    pub clone_token_file: Option<PathBuf>,
    /// Environment variable holding that token (instead of a file).
    #[serde(default)]
    pub clone_token_env: Option<String>,
    /// User name sent with the clone token (default `oauth2`; a GitLab deploy token's own).
    #[serde(default)]
    pub clone_username: Option<String>,
    /// Private SSH key (a deploy key) git clones `source` with.
    #[serde(default)]
    pub ssh_key_file: Option<PathBuf>,
    /// The pinned host keys of `source`'s SSH server (required with `ssh_key_file`).
    #[serde(default)]
    pub known_hosts_file: Option<PathBuf>,
}

/// A forge that takes commit statuses.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    /// GitLab (`/api/v4/projects/:id/statuses/:sha`).
    Gitlab,
    /// GitHub (`/repos/{owner}/{repo}/statuses/{sha}`).
    Github,
    /// Gitea or Forgejo (`/api/v1/repos/{owner}/{repo}/statuses/{sha}`).
    Gitea,
}

fn one() -> usize {
    1
}

/// Where a repository's code comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A repository on this machine.
    Path(PathBuf),
    /// A URL to clone and fetch from.
    Url(String),
}

impl RepoConfig {
    /// Its executor.
    pub fn executor(&self) -> ExecutorChoice {
        self.executor.unwrap_or_default()
    }

    /// A path or a URL (`scheme://…` or scp-like `user@host:path`).
    pub fn origin(&self) -> Source {
        let s = self.source.as_str();
        let scp = !s.starts_with('/')
            && s.split_once(':')
                .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
        if s.contains("://") || scp {
            Source::Url(s.to_string())
        } else {
            Source::Path(PathBuf::from(s))
        }
    }
}

impl RepoConfig {
    /// The forge and credential settings make sense together: a forge has a token and an
    /// API address, a clone credential needs a URL, one kind of clone credential at a time,
    /// a deploy key comes with pinned host keys. Paths become absolute.
    fn check_forge(&mut self) -> Result<(), ForgeSettingError> {
        if self.forge.is_some() {
            if self.forge_token_file.is_none() && self.forge_token_env.is_none() {
                return Err(ForgeSettingError::NoToken);
            }
            if self.api_base().is_none() {
                return Err(ForgeSettingError::NoApiBase);
            }
        } else if self.forge_url.is_some()
            || self.forge_token_file.is_some()
            || self.forge_token_env.is_some()
        {
            return Err(ForgeSettingError::NoForge);
        }
        let token = self.clone_token_file.is_some() || self.clone_token_env.is_some();
        let key = self.ssh_key_file.is_some();
        if (token || key || self.known_hosts_file.is_some())
            && matches!(self.origin(), Source::Path(_))
        {
            return Err(ForgeSettingError::CredentialsForPath);
        }
        if token && key {
            return Err(ForgeSettingError::TokenAndKey);
        }
        if key != self.known_hosts_file.is_some() {
            return Err(ForgeSettingError::KeyWithoutHosts);
        }
        for p in [
            &mut self.forge_token_file,
            &mut self.clone_token_file,
            &mut self.ssh_key_file,
            &mut self.known_hosts_file,
        ]
        .into_iter()
        .flatten()
        {
            *p = std::path::absolute(&*p).unwrap_or(p.clone());
        }
        Ok(())
    }

    /// The forge's API base without a trailing slash: `forge_url`, else GitHub's, else the
    /// scheme and host of an http(s) `source`.
    pub fn api_base(&self) -> Option<String> {
        if let Some(u) = &self.forge_url {
            return Some(u.trim_end_matches('/').to_string());
        }
        match self.forge? {
            Forge::Github => Some("https://api.github.com".into()),
            Forge::Gitlab | Forge::Gitea => origin_of(&self.source),
        }
    }
}

/// Why a repository's forge and clone-credential settings do not go together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ForgeSettingError {
    /// A forge without the token its statuses are posted with.
    #[error("`forge` needs `forge_token_file` or `forge_token_env`")]
    NoToken,
    /// A forge whose API address cannot be told from `source`.
    #[error("`forge` needs `forge_url` (the source is no http(s) URL)")]
    NoApiBase,
    /// Forge settings without a forge.
    #[error("`forge_url` and `forge_token_*` need `forge` (gitlab, github or gitea)")]
    NoForge,
    /// Clone credentials for a repository on this machine's disk.
    #[error("clone credentials need a clone URL as `source`")]
    CredentialsForPath,
    /// Two kinds of clone credential at once.
    #[error("use either a clone token or `ssh_key_file`, not both")]
    TokenAndKey,
    /// A deploy key without pinned host keys, or host keys without a key.
    #[error("`ssh_key_file` and `known_hosts_file` go together")]
    KeyWithoutHosts,
}

/// `scheme://host[:port]` of an http(s) URL, without user information.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A setting has an unusable value.
    #[error("{0}")]
    Invalid(String),
}

/// Settings given on the command line or in the environment (override the file).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--repo NAME=PATH_OR_URL`, repeatable.
    pub repos: Vec<String>,
    /// `--webhook-secret`.
    pub webhook_secret: Option<String>,
    /// `--api-token`.
    pub api_token: Option<String>,
    /// `--concurrency`.
    pub concurrency: Option<usize>,
    /// `--repo-concurrency` for `--repo` repositories.
    pub repo_concurrency: Option<usize>,
    /// `--executor` of repositories that name none.
    pub executor: Option<ExecutorChoice>,
    /// `--kubeconfig` of repositories that name no cluster.
    pub kubeconfig: Option<PathBuf>,
    /// `--kube-context` of repositories that name no cluster.
    pub kube_context: Option<String>,
    /// `--watch BRANCH` for `--repo` repositories with a local path.
    pub watch: Vec<String>,
    /// `--log-limit`.
    pub log_limit: Option<u64>,
    /// `--max-body`.
    pub max_body: Option<usize>,
    /// `--queue-limit`.
    pub queue_limit: Option<usize>,
    /// `--shutdown-grace`.
    pub shutdown_grace: Option<u64>,
    /// `--watch-interval`.
    pub watch_interval: Option<u64>,
}

impl Config {
    /// Reads `file` (if any), applies `over`, checks the result.
    pub fn load(file: Option<&Path>, over: Overrides) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        if let Some(v) = over.listen {
            config.listen = v;
        }
        if let Some(v) = over.data_dir {
            config.data_dir = v;
        }
        if over.webhook_secret.is_some() {
            config.webhook_secret = over.webhook_secret;
        }
        if over.api_token.is_some() {
            config.api_token = over.api_token;
        }
        if let Some(v) = over.concurrency {
            config.concurrency = v;
        }
        if let Some(v) = over.log_limit {
            config.log_limit = v;
        }
        if let Some(v) = over.max_body {
            config.max_body = v;
        }
        if let Some(v) = over.queue_limit {
            config.queue_limit = v;
        }
        if let Some(v) = over.shutdown_grace {
            config.shutdown_grace = v;
        }
        if let Some(v) = over.watch_interval {
            config.watch_interval = v;
        }
        for r in &over.repos {
            let Some((name, source)) = r.split_once('=') else {
                return Err(ConfigError::Invalid(format!(
                    "--repo {r}: expected NAME=PATH_OR_URL"
                )));
            };
            config.repositories.retain(|c| c.name != name);
            config.repositories.push(RepoConfig {
                name: name.to_string(),
                source: source.to_string(),
                webhook_secret: None,
                executor: None,
                kubeconfig: None,
                kube_context: None,
                kubernetes: KubernetesTable::default(),
                concurrency: over.repo_concurrency.unwrap_or(1),
                jobs: None,
                watch: over.watch.clone(),
                variables_file: None,
                image_map: Vec::new(),
                privileged_dind: false,
                protected: Vec::new(),
                trusted_authors: Vec::new(),
                docker_socket: false,
                untrusted_cluster: false,
                schedules: Vec::new(),
                forge: None,
                forge_url: None,
                forge_token_file: None,
                forge_token_env: None,
                clone_token_file: None,
                clone_token_env: None,
                clone_username: None,
                ssh_key_file: None,
                known_hosts_file: None,
            });
        }
        for r in &mut config.repositories {
            r.executor = r.executor.or(over.executor);
            if r.kubeconfig.is_none() && r.kube_context.is_none() {
                r.kubeconfig = over.kubeconfig.clone();
                r.kube_context = over.kube_context.clone();
            }
        }
        config.check()?;
        Ok(config)
    }

    fn check(&mut self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.listen.parse::<SocketAddr>().is_err() {
            return bad(format!("listen = {:?}: expected HOST:PORT", self.listen));
        }
        if self.concurrency == 0 || self.queue_limit == 0 {
            return bad("concurrency and queue_limit must be at least 1".into());
        }
        if self.repositories.is_empty() {
            return bad("no repository configured (use --repo NAME=PATH_OR_URL or [[repository]] in the config file)".into());
        }
        let mut seen = std::collections::HashSet::new();
        for r in &mut self.repositories {
            let valid = !r.name.is_empty()
                && r.name
                    .split('/')
                    .all(|p| !p.is_empty() && p != "." && p != "..")
                && r.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
            if !valid {
                return bad(format!(
                    "repository name {:?}: expected a project path like group/app",
                    r.name
                ));
            }
            if !seen.insert(r.name.clone()) {
                return bad(format!("repository {:?} is configured twice", r.name));
            }
            if r.concurrency == 0 {
                return bad(format!(
                    "repository {}: concurrency must be at least 1",
                    r.name
                ));
            }
            if let Source::Path(p) = r.origin() {
                let abs = std::path::absolute(&p).unwrap_or(p);
                if !abs.exists() {
                    return bad(format!(
                        "repository {}: {} does not exist",
                        r.name,
                        abs.display()
                    ));
                }
                r.source = abs.display().to_string();
            }
            if r.kubernetes.kubeconfig.is_some() || r.kubernetes.context.is_some() {
                return bad(format!(
                    "repository {}: name the cluster with `kubeconfig` and `kube_context` of the repository, not in [repository.kubernetes]",
                    r.name
                ));
            }
            if let Some(k) = &r.kubeconfig {
                r.kubeconfig = Some(std::path::absolute(k).unwrap_or(k.clone()));
            }
            if let Err(e) = r.kubernetes.resolve(Path::new("/")) {
                return bad(format!("repository {}: {}", r.name, e.message));
            }
            if r.executor() == ExecutorChoice::Kubernetes
                && r.kubeconfig.is_none()
                && r.kube_context.is_none()
            {
                return bad(format!(
                    "repository {}: the kubernetes executor needs a cluster (`kubeconfig`/`kube_context`, or --kubeconfig)",
                    r.name
                ));
            }
            if let Err(e) = super::trust::patterns(&r.protected) {
                return bad(format!("repository {}: protected: {e}", r.name));
            }
            for s in &r.schedules {
                if let Err(e) = s.check() {
                    return bad(format!("repository {}: schedule: {e}", r.name));
                }
            }
            if !r.watch.is_empty() && matches!(r.origin(), Source::Url(_)) {
                return bad(format!(
                    "repository {}: `watch` needs a local repository path",
                    r.name
                ));
            }
            if let Err(why) = r.check_forge() {
                return bad(format!("repository {}: {why}", r.name));
            }
        }
        self.data_dir = std::path::absolute(&self.data_dir).unwrap_or(self.data_dir.clone());
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return bad(format!(
                "public_url = {u:?}: expected http://… or https://…"
            ));
        }
        Ok(())
    }

    /// The repository called `name`.
    pub fn repo(&self, name: &str) -> Option<&RepoConfig> {
        self.repositories.iter().find(|r| r.name == name)
    }

    /// The webhook secret of `repo`.
    pub fn secret_of<'a>(&'a self, repo: &'a RepoConfig) -> Option<&'a str> {
        repo.webhook_secret
            .as_deref()
            .or(self.webhook_secret.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_flags_combine() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gantry.toml");
        std::fs::write(
            &file,
            format!(
                "listen = \"127.0.0.1:9000\"\nconcurrency = 2\n[[repository]]\nname = \"group/app\"\nsource = \"{}\"\nconcurrency = 3\nwebhook_secret = \"s1\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            Overrides {
                concurrency: Some(5),
                webhook_secret: Some("global".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000");
        assert_eq!(c.concurrency, 5);
        let r = c.repo("group/app").unwrap();
        assert_eq!(r.concurrency, 3);
        assert_eq!(c.secret_of(r), Some("s1"));
    }

    #[test]
    fn bad_settings_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gantry.toml");
        std::fs::write(&file, "listen = 3\n").unwrap();
        let e = Config::load(Some(&file), Overrides::default()).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
        let e = Config::load(
            None,
            Overrides {
                repos: vec!["../x=/tmp".into()],
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("project path"), "{e}");
    }

    #[test]
    fn forge_and_credential_settings_are_checked_together() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gantry.toml");
        let load = |repo: &str| {
            std::fs::write(
                &file,
                format!("[[repository]]\nname = \"org/app\"\nsource = \"https://git.example.com/org/app.git\"\n{repo}"),
            )
            .unwrap();
            Config::load(Some(&file), Overrides::default())
        };
        let c = load("forge = \"gitea\"\nforge_token_env = \"T\"\n").unwrap();
        assert_eq!(
            c.repo("org/app").unwrap().api_base().as_deref(),
            Some("https://git.example.com")
        );
        let c = load("forge = \"github\"\nforge_token_file = \"t\"\n").unwrap();
        let r = c.repo("org/app").unwrap();
        assert_eq!(r.api_base().as_deref(), Some("https://api.github.com"));
        assert!(r.forge_token_file.as_ref().unwrap().is_absolute());
        for (bad, why) in [
            ("forge = \"gitlab\"\n", "forge_token_file"),
            ("forge_url = \"https://x\"\n", "need `forge`"),
            ("ssh_key_file = \"k\"\n", "known_hosts_file"),
            (
                "clone_token_env = \"T\"\nssh_key_file = \"k\"\nknown_hosts_file = \"h\"\n",
                "not both",
            ),
            ("forge = \"bitbucket\"\n", "unknown variant"),
        ] {
            let e = load(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(
            origin_of("https://user:tok@h.example:8443/x.git").as_deref(),
            Some("https://h.example:8443")
        );
        assert_eq!(origin_of("git@h:x.git"), None);
    }

    #[test]
    fn urls_and_paths() {
        let r = |s: &str| -> RepoConfig {
            toml::from_str(&format!("name = \"a/b\"\nsource = {s:?}\n")).unwrap()
        };
        assert!(matches!(r("https://x/y.git").origin(), Source::Url(_)));
        assert!(matches!(r("git@x:y/z.git").origin(), Source::Url(_)));
        assert!(matches!(r("/srv/repo").origin(), Source::Path(_)));
        assert!(matches!(r("repo:with:colons").origin(), Source::Path(_)));
    }
}
