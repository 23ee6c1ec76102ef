//! `.gantry/config.toml`, read once into one typed value: `[components]` (other projects'
//! component checkouts), `[executor]` (which executor each job gets), `[kubernetes]` (the
//! cluster and how environments look) with `[kubernetes.executor]` (job pods), `reuse`,
//! `[reuse_store]` and `[jobs.NAME]` (job reuse). Unknown tables
//! and keys are errors with file, line and column, so a misspelt `[executer]` fails `lint` as
//! it fails `run`. Each table's type belongs to the stage that uses it; only the file is here.

use crate::environment::config::{ClusterChoice, Settings, Table};
use crate::executor::choice::Rules;
use crate::executor::kubernetes::settings::ExecutorConfig;
use crate::load::component::{DirOptionError, parse_dir_option};
use crate::reuse::ReuseConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    components: BTreeMap<String, PathBuf>,
    #[serde(default)]
    projects: BTreeMap<String, PathBuf>,
    #[serde(default)]
    executor: Rules,
    #[serde(default)]
    kubernetes: Table<ExecutorConfig>,
    reuse: Option<toml::Value>,
    reuse_store: Option<toml::Value>,
    jobs: Option<toml::Value>,
    #[serde(default)]
    gitlab: GitLabTable,
}

/// `[gitlab]`: the instance `project`, `template` and `component` includes come from. The
/// token itself is never in this (committed) file: `token_env` names the environment
/// variable that holds it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GitLabTable {
    /// The instance's URL, e.g. `https://gitlab.example.com`.
    pub url: Option<String>,
    /// The environment variable holding a token (sent as `PRIVATE-TOKEN`).
    pub token_env: Option<String>,
}

/// How a command wants network includes fetched: `--gitlab-url`, and `--offline` or
/// `--refresh` as the network mode.
#[derive(Clone, Debug, Default)]
pub struct RemoteChoice {
    /// `--gitlab-url`.
    pub gitlab_url: Option<String>,
    /// When the network may be used.
    pub mode: crate::load::remote::Mode,
}

/// The `[kubernetes]` table of a project or of a served repository, as written.
pub type KubernetesTable = Table<ExecutorConfig>;

/// A project's configuration; defaults when the file is absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectConfig {
    /// `HOST/GROUP/PROJECT` → checkout directory (relative paths resolved against the project).
    pub components: Vec<(String, PathBuf)>,
    /// `[projects]`: `GROUP/PROJECT` → checkout of a project a `trigger:project` starts.
    pub projects: Vec<(String, PathBuf)>,
    /// `[executor]` rules.
    pub executor: Rules,
    /// The cluster `[kubernetes]` names (possibly none).
    pub cluster: ClusterChoice,
    /// How environment namespaces are set up.
    pub environments: Settings,
    /// `[kubernetes.executor]`.
    pub pod: ExecutorConfig,
    /// `[kubernetes]` as written (what a served commit may narrow, `narrow.rs`).
    pub kubernetes: KubernetesTable,
    /// `reuse`, `[reuse_store]`, `[jobs.NAME]`: job reuse.
    pub reuse: ReuseConfig,
    /// `[gitlab]`.
    pub gitlab: GitLabTable,
}

/// Why the file cannot be used: `path:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// Line and column (1-based), when the error is about a place in it.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

/// The project's config file.
pub fn path(project: &Path) -> PathBuf {
    project.join(".gantry").join("config.toml")
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl ProjectConfig {
    /// Reads `project/.gantry/config.toml` (defaults when it does not exist).
    pub fn load(project: &Path) -> Result<ProjectConfig, ConfigError> {
        let path = path(project);
        match std::fs::read_to_string(&path) {
            Ok(text) => ProjectConfig::parse(project, &path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProjectConfig::default()),
            Err(e) => Err(ConfigError {
                path,
                at: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    /// Parses `text`, the config file at `path` of `project`.
    pub fn parse(project: &Path, path: &Path, text: &str) -> Result<ProjectConfig, ConfigError> {
        let error = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
            path: path.to_path_buf(),
            at: span.map(|s| line_col(text, s.start)),
            message,
        };
        let file: File =
            toml::from_str(text).map_err(|e| error(e.span(), e.message().trim().to_string()))?;
        file.executor
            .check()
            .map_err(|e| error(None, e.to_string()))?;
        let (cluster, environments) = file
            .kubernetes
            .resolve(project)
            .map_err(|e| error(Some(e.span), e.message))?;
        let reuse = ReuseConfig::from_values(
            file.reuse.as_ref(),
            file.reuse_store.as_ref(),
            file.jobs.as_ref(),
        )
        .map_err(|e| error(None, e.to_string()))?;
        let mut components = Vec::new();
        for (name, dir) in file.components {
            let (name, _) = parse_dir_option(&format!("{name}={}", dir.display()))
                .map_err(|e| error(None, format!("[components] {e}")))?;
            components.push((name, project.join(dir)));
        }
        let mut projects = Vec::new();
        for (name, dir) in file.projects {
            let (name, _) = parse_dir_option(&format!("{name}={}", dir.display()))
                .map_err(|e| error(None, format!("[projects] {e}")))?;
            projects.push((name, project.join(dir)));
        }
        Ok(ProjectConfig {
            components,
            projects,
            executor: file.executor,
            cluster,
            environments,
            pod: file.kubernetes.executor.clone(),
            kubernetes: file.kubernetes,
            reuse,
            gitlab: file.gitlab,
        })
    }

    /// Component checkouts: `options` (`--component-dir HOST/GROUP/PROJECT=DIR`) first, then
    /// `[components]` for projects the command line does not name.
    pub fn component_dirs(&self, options: &[String]) -> Result<Checkouts, DirOptionError> {
        checkouts(options, &self.components)
    }

    /// The include fetcher for `choice`: the instance from `--gitlab-url`, `[gitlab] url`,
    /// `CI_SERVER_URL` or gitlab.com, in that order; the token from `[gitlab] token_env`'s
    /// variable, `GITLAB_TOKEN` or `CI_JOB_TOKEN` (read here, kept only in memory).
    pub fn remote(&self, choice: &RemoteChoice) -> std::sync::Arc<crate::load::remote::Remote> {
        use crate::load::remote::{Remote, Settings, Token};
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let url = choice
            .gitlab_url
            .clone()
            .or_else(|| self.gitlab.url.clone())
            .or_else(|| env("CI_SERVER_URL"))
            .unwrap_or_else(|| "https://gitlab.com".to_string());
        let token = self
            .gitlab
            .token_env
            .as_deref()
            .and_then(env)
            .or_else(|| env("GITLAB_TOKEN"))
            .map(Token::private)
            .or_else(|| env("CI_JOB_TOKEN").map(Token::job));
        std::sync::Arc::new(Remote::new(Settings {
            url,
            token,
            mode: choice.mode,
            cache_dir: crate::load::cache::default_dir(),
        }))
    }
    /// Checkouts of downstream projects: `options` (`--project-dir GROUP/PROJECT=DIR`) first,
    /// then `[projects]`.
    pub fn project_dirs(&self, options: &[String]) -> Result<Checkouts, DirOptionError> {
        checkouts(options, &self.projects)
    }
}

/// Other projects' checkouts: name → directory.
pub type Checkouts = Vec<(String, PathBuf)>;

/// The command line's `NAME=DIR` options, then the configured checkouts it does not name.
fn checkouts(
    options: &[String],
    configured: &[(String, PathBuf)],
) -> Result<Checkouts, DirOptionError> {
    let dirs: Checkouts = options
        .iter()
        .map(|o| parse_dir_option(o))
        .collect::<Result<_, _>>()?;
    Ok(first_named(dirs, configured))
}

/// `dirs`, then the entries of `more` for names `dirs` does not have.
pub(crate) fn first_named(
    mut dirs: Vec<(String, PathBuf)>,
    more: &[(String, PathBuf)],
) -> Vec<(String, PathBuf)> {
    for (name, dir) in more {
        if !dirs.iter().any(|(n, _)| n == name) {
            dirs.push((name.clone(), dir.clone()));
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProjectConfig, ConfigError> {
        ProjectConfig::parse(Path::new("/p"), Path::new("/p/.gantry/config.toml"), text)
    }

    #[test]
    fn no_file_means_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            ProjectConfig::load(tmp.path()).unwrap(),
            ProjectConfig::default()
        );
    }

    #[test]
    fn every_table_is_read_into_one_value() {
        let c = parse(
            r#"
[components]
"gitlab.com/g/lib" = "../lib"
[executor]
rules = [{ tags = ["k8s"], executor = "kubernetes" }]
[kubernetes]
context = "dev"
default_ttl = "2h"
[kubernetes.executor]
cpu_request = "250m"
"#,
        )
        .unwrap();
        assert_eq!(
            c.components,
            [("gitlab.com/g/lib".to_string(), PathBuf::from("/p/../lib"))]
        );
        assert_eq!(c.executor.rules.len(), 1);
        assert_eq!(c.cluster.context.as_deref(), Some("dev"));
        assert_eq!(c.environments.default_ttl.as_secs(), 7200);
        assert_eq!(c.pod.cpu_request.as_deref(), Some("250m"));
        let dirs = c
            .component_dirs(&["gitlab.com/g/lib=/cli".to_string()])
            .unwrap();
        assert_eq!(
            dirs,
            [("gitlab.com/g/lib".to_string(), PathBuf::from("/cli"))]
        );
    }

    #[test]
    fn unknown_tables_and_keys_are_located_errors() {
        let e = parse("[components]\n\n[executer]\nrules = []\n").unwrap_err();
        assert_eq!(e.at.map(|a| a.0), Some(3), "{e}");
        assert!(e.to_string().contains("executer"), "{e}");
        assert!(
            e.to_string().starts_with("/p/.gantry/config.toml:3:"),
            "{e}"
        );
        let e = parse("[kubernetes.executor]\ncpu_requets = \"1\"\n").unwrap_err();
        assert_eq!(e.at.map(|a| a.0), Some(2), "{e}");
        assert!(e.to_string().contains("cpu_requets"), "{e}");
        let e = parse("[kubernetes]\nkubconfig = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("kubconfig"), "{e}");
        let e = parse("[kubernetes]\n\ndefault_ttl = \"soon\"\n").unwrap_err();
        assert_eq!(e.at, Some((3, 15)), "{e}");
        let e = parse("[executor]\nrules = [{ executor = \"kubernetes\" }]\n").unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
        assert!(parse("[executor]\nrules = [{ tags = [\"a\"], executor = \"vm\" }]\n").is_err());
    }
}
