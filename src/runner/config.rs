//! The runner's TOML file, as `gantry runner register` writes it and `gantry runner run` reads
//! it. It holds the runner's token, so it is written with mode 0600 (atomically, through a
//! temporary file created 0600) and its `Debug` form hides the token.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Executors the runner can run jobs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerExecutor {
    /// The local shell (images are ignored).
    #[default]
    Shell,
    /// Docker: each job in its image, with its services.
    Docker,
    /// A pod per job on the cluster `[kubernetes]` names (else the default kubeconfig's).
    Kubernetes,
}

impl RunnerExecutor {
    /// The executor's name as `JobSpec::executor` spells it.
    pub fn name(self) -> &'static str {
        match self {
            RunnerExecutor::Shell => "shell",
            RunnerExecutor::Docker => "docker",
            RunnerExecutor::Kubernetes => "kubernetes",
        }
    }
}

/// `[docker]`: settings of the Docker executor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerSettings {
    /// Image of jobs that name none.
    pub image: Option<String>,
}

/// `[kubernetes]`: the cluster of the Kubernetes executor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Kubeconfig file (else `KUBECONFIG` or `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Context in it (else its current context).
    pub context: Option<String>,
    /// An existing namespace for job pods (else one per job, removed after it).
    pub namespace: Option<String>,
}

/// The runner's configuration.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// GitLab instance, e.g. `https://gitlab.com`.
    pub url: String,
    /// The runner's authentication token (`glrt-…`).
    pub token: String,
    /// The runner's id at GitLab, as `verify` answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// When GitLab says the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// This machine's id among the runner's managers (`s_` and 12 hex digits).
    pub system_id: String,
    /// Where jobs run.
    #[serde(default)]
    pub executor: RunnerExecutor,
    /// Jobs run at once.
    #[serde(default = "one")]
    pub concurrent: usize,
    /// Seconds between job requests when GitLab has none.
    #[serde(default = "three")]
    pub check_interval: f64,
    /// Checkouts (one per project and concurrent slot, reused with `GIT_STRATEGY: fetch`).
    pub builds_dir: PathBuf,
    /// Caches (`cache:`), per project and key.
    pub cache_dir: PathBuf,
    /// Docker executor settings.
    #[serde(default, skip_serializing_if = "is_default")]
    pub docker: DockerSettings,
    /// Kubernetes executor settings.
    #[serde(default, skip_serializing_if = "is_unset")]
    pub kubernetes: KubernetesSettings,
}

fn one() -> usize {
    1
}

fn three() -> f64 {
    3.0
}

fn is_default(d: &DockerSettings) -> bool {
    *d == DockerSettings::default()
}

fn is_unset(k: &KubernetesSettings) -> bool {
    *k == KubernetesSettings::default()
}

impl std::fmt::Debug for RunnerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerConfig")
            .field("url", &self.url)
            .field("token", &"[MASKED]")
            .field("id", &self.id)
            .field("executor", &self.executor)
            .field("concurrent", &self.concurrent)
            .field("builds_dir", &self.builds_dir)
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing failed.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The file is not a runner configuration.
    #[error("{}: {source}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// TOML's error (it names the line and key, never a value).
        source: toml::de::Error,
    },
    /// Others than the owner can read the token.
    #[error(
        "{}: holds the runner token but is readable by others (mode {mode:o}); chmod 600 it",
        file.display()
    )]
    Exposed {
        /// The file.
        file: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// A value is out of range.
    #[error("{}: {what}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// The default configuration file: `$XDG_CONFIG_HOME/gantry/runner.toml` (or under `~/.config`).
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("gantry").join("runner.toml")
}

/// A new system id: `s_` and 12 random hex digits, as GitLab Runner makes them.
pub fn new_system_id() -> String {
    let mut bytes = [0u8; 6];
    // Without randomness, the process id still tells machines apart well enough.
    if getrandom::fill(&mut bytes).is_err() {
        bytes[..4].copy_from_slice(&std::process::id().to_le_bytes());
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("s_{hex}")
}

impl RunnerConfig {
    /// Reads `file`, refusing one that others can read.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let io = |source| ConfigError::Io {
            file: file.to_path_buf(),
            source,
        };
        let mode = std::fs::metadata(file).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::Exposed {
                file: file.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(file).map_err(io)?;
        let config: RunnerConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            file: file.to_path_buf(),
            source,
        })?;
        let invalid = |what: &str| ConfigError::Invalid {
            file: file.to_path_buf(),
            what: what.to_string(),
        };
        if config.concurrent == 0 {
            return Err(invalid("`concurrent` must be at least 1"));
        }
        if !(config.check_interval.is_finite() && config.check_interval >= 0.0) {
            return Err(invalid("`check_interval` must be a number of seconds"));
        }
        Ok(config)
    }

    /// Writes the configuration to `file` with mode 0600, replacing it atomically.
    pub fn save(&self, file: &Path) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            file: file.to_path_buf(),
            source,
        };
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = toml::to_string(self).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, file).map_err(io)
    }
}
