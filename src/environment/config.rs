//! Which cluster (if any) and how environments look: `--kubeconfig`/`--kube-context` on the
//! command line, else `[kubernetes]` in `.gantry/config.toml`. Nothing is ever taken from the
//! ambient kubeconfig unless the user named it here — a kubeconfig may point at production.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the cluster is: both `None` means "no cluster; environments are off".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterChoice {
    /// Kubeconfig file (else the standard one, only when a context is named).
    pub kubeconfig: Option<PathBuf>,
    /// Context in it (else the file's current context, only when a file is named).
    pub context: Option<String>,
}

impl ClusterChoice {
    /// Whether the user opted in to a cluster at all.
    pub fn is_set(&self) -> bool {
        self.kubeconfig.is_some() || self.context.is_some()
    }
}

/// One rule of the deployer Role.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// API groups (`""` is the core group).
    pub api_groups: Vec<String>,
    /// Resources, with subresources as `pods/log`.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

/// Container defaults of the LimitRange.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Limits a container gets when it names none.
    pub default: BTreeMap<String, String>,
    /// Requests a container gets when it names none.
    pub default_request: BTreeMap<String, String>,
}

/// How every environment namespace is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Expiry when the job has no `auto_stop_in`.
    pub default_ttl: Duration,
    /// Longest teardown waits for a namespace to be gone.
    pub delete_timeout: Duration,
    /// The deployer Role's rules.
    pub role_rules: Vec<RoleRule>,
    /// ResourceQuota `hard` (empty: no quota).
    pub quota: BTreeMap<String, String>,
    /// LimitRange container defaults (`None`: no LimitRange).
    pub limits: Option<Limits>,
    /// Whether a NetworkPolicy denies ingress from other namespaces.
    pub network_policy: bool,
}

const DEPLOY_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> RoleRule {
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    RoleRule {
        api_groups: own(groups),
        resources: own(resources),
        verbs: own(verbs),
    }
}

impl Default for Settings {
    fn default() -> Self {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Settings {
            default_ttl: Duration::from_secs(24 * 3600),
            delete_timeout: Duration::from_secs(120),
            role_rules: vec![
                rule(
                    &[""],
                    &[
                        "pods",
                        "pods/log",
                        "pods/exec",
                        "pods/attach",
                        "pods/portforward",
                        "services",
                        "endpoints",
                        "configmaps",
                        "secrets",
                        "persistentvolumeclaims",
                        "events",
                    ],
                    DEPLOY_VERBS,
                ),
                rule(
                    &["apps"],
                    &["deployments", "replicasets", "statefulsets", "daemonsets"],
                    DEPLOY_VERBS,
                ),
                rule(&["batch"], &["jobs", "cronjobs"], DEPLOY_VERBS),
                rule(&["networking.k8s.io"], &["ingresses"], DEPLOY_VERBS),
                rule(
                    &["autoscaling"],
                    &["horizontalpodautoscalers"],
                    DEPLOY_VERBS,
                ),
                rule(&["policy"], &["poddisruptionbudgets"], DEPLOY_VERBS),
            ],
            quota: map(&[
                ("pods", "50"),
                ("requests.cpu", "4"),
                ("requests.memory", "8Gi"),
                ("limits.cpu", "8"),
                ("limits.memory", "16Gi"),
            ]),
            limits: Some(Limits {
                default: map(&[("cpu", "500m"), ("memory", "512Mi")]),
                default_request: map(&[("cpu", "100m"), ("memory", "128Mi")]),
            }),
            network_policy: true,
        }
    }
}

/// `.gantry/config.toml`: the `[kubernetes]` table is read here; every other table the file may
/// hold is named too, so a misspelt table is still an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    kubernetes: Option<KubeTable>,
    /// `[components]`: read by `cmd::components`.
    #[serde(default)]
    #[allow(dead_code)]
    components: Option<toml::Table>,
    /// `[executor]`: read by `executor::choice`.
    #[serde(default)]
    #[allow(dead_code)]
    executor: Option<toml::Table>,
    /// `reuse`, `[reuse_store]`, `[jobs]`: read by `reuse::config`.
    #[serde(default)]
    #[allow(dead_code)]
    reuse: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)]
    reuse_store: Option<toml::Table>,
    #[serde(default)]
    #[allow(dead_code)]
    jobs: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubeTable {
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    default_ttl: Option<String>,
    delete_timeout: Option<String>,
    role_rules: Option<Vec<RoleRule>>,
    quota: Option<BTreeMap<String, String>>,
    limits: Option<Limits>,
    limit_range: Option<bool>,
    network_policy: Option<bool>,
    /// `[kubernetes.executor]`: read by `executor::kubernetes::settings`.
    #[serde(default)]
    #[allow(dead_code)]
    executor: Option<toml::Table>,
}

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML or unknown keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
}

/// The cluster choice (command line over file) and the settings, from `project/.gantry/config.toml`.
pub fn load(project: &Path, cli: &ClusterChoice) -> Result<(ClusterChoice, Settings), ConfigError> {
    let path = project.join(".gantry").join("config.toml");
    let file: File = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let table = file.kubernetes.unwrap_or_default();
    let duration = |text: &Option<String>, key: &str| -> Result<Option<Duration>, ConfigError> {
        text.as_ref()
            .map(|t| {
                crate::model::duration::parse_duration(t)
                    .map(Duration::from_secs)
                    .ok_or_else(|| ConfigError::Parse {
                        path: path.clone(),
                        message: format!(
                            "kubernetes.{key}: `{t}` is not a duration (e.g. `2h 30m`)"
                        ),
                    })
            })
            .transpose()
    };
    let mut settings = Settings::default();
    if let Some(d) = duration(&table.default_ttl, "default_ttl")? {
        settings.default_ttl = d;
    }
    if let Some(d) = duration(&table.delete_timeout, "delete_timeout")? {
        settings.delete_timeout = d;
    }
    if let Some(r) = table.role_rules {
        settings.role_rules = r;
    }
    if let Some(q) = table.quota {
        settings.quota = q;
    }
    if let Some(l) = table.limits {
        settings.limits = Some(l);
    }
    if table.limit_range == Some(false) {
        settings.limits = None;
    }
    if let Some(n) = table.network_policy {
        settings.network_policy = n;
    }
    // The command line wins as a whole: naming a context there must not combine with a file
    // named in the config, or the user gets a cluster they did not name.
    let choice = if cli.is_set() {
        cli.clone()
    } else {
        ClusterChoice {
            kubeconfig: table
                .kubeconfig
                .map(|p| if p.is_relative() { project.join(p) } else { p }),
            context: table.context,
        }
    };
    Ok((choice, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_no_cluster_and_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let (choice, settings) = load(tmp.path(), &ClusterChoice::default()).unwrap();
        assert!(!choice.is_set());
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn file_sets_cluster_and_overrides_defaults_command_line_wins() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join(".gantry")).unwrap();
        std::fs::write(
            tmp.path().join(".gantry/config.toml"),
            r#"
[kubernetes]
kubeconfig = "kube/config"
context = "dev"
default_ttl = "2h"
network_policy = false
quota = { pods = "5" }
role_rules = [{ api_groups = [""], resources = ["configmaps"], verbs = ["get"] }]
"#,
        )
        .unwrap();
        let (choice, s) = load(tmp.path(), &ClusterChoice::default()).unwrap();
        assert_eq!(choice.kubeconfig, Some(tmp.path().join("kube/config")));
        assert_eq!(choice.context.as_deref(), Some("dev"));
        assert_eq!(s.default_ttl, Duration::from_secs(7200));
        assert!(!s.network_policy);
        assert_eq!(s.quota.get("pods").map(String::as_str), Some("5"));
        assert_eq!(s.role_rules.len(), 1);
        let cli = ClusterChoice {
            kubeconfig: None,
            context: Some("other".into()),
        };
        let (choice, _) = load(tmp.path(), &cli).unwrap();
        assert_eq!(choice, cli);
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join(".gantry")).unwrap();
        let file = tmp.path().join(".gantry/config.toml");
        std::fs::write(&file, "[kubernetes]\nkubconfig = \"x\"\n").unwrap();
        assert!(load(tmp.path(), &ClusterChoice::default()).is_err());
        std::fs::write(&file, "[kubernetes]\ndefault_ttl = \"soon\"\n").unwrap();
        let e = load(tmp.path(), &ClusterChoice::default()).unwrap_err();
        assert!(e.to_string().contains("default_ttl"), "{e}");
    }
}
