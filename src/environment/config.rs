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

/// The `[kubernetes]` table of `.gantry/config.toml` (and of a `gantry serve` repository), as
/// written. `X` is its `[kubernetes.executor]` sub-table, which belongs to the Kubernetes
/// executor; `project::config` reads the whole file into one value.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Table<X> {
    /// Kubeconfig file (relative to the project).
    pub kubeconfig: Option<PathBuf>,
    /// Context in it.
    pub context: Option<String>,
    /// Expiry when the job has no `auto_stop_in`.
    pub default_ttl: Option<toml::Spanned<String>>,
    /// Longest teardown waits for a namespace.
    pub delete_timeout: Option<toml::Spanned<String>>,
    /// The deployer Role's rules.
    pub role_rules: Option<Vec<RoleRule>>,
    /// ResourceQuota `hard`.
    pub quota: Option<BTreeMap<String, String>>,
    /// LimitRange container defaults.
    pub limits: Option<Limits>,
    /// `false`: no LimitRange.
    pub limit_range: Option<bool>,
    /// Whether a NetworkPolicy denies ingress from other namespaces.
    pub network_policy: Option<bool>,
    /// `[kubernetes.executor]`.
    #[serde(default)]
    pub executor: X,
}

/// A value of the table that cannot be used: the message and the byte range it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    /// What is wrong.
    pub message: String,
    /// Where, in the file's text.
    pub span: std::ops::Range<usize>,
}

impl<X> Table<X> {
    /// The cluster the table names (`kubeconfig` relative to `project`) and the environment
    /// settings, defaults for what it leaves out.
    pub fn resolve(&self, project: &Path) -> Result<(ClusterChoice, Settings), TableError> {
        let duration = |text: &Option<toml::Spanned<String>>,
                        key: &str|
         -> Result<Option<Duration>, TableError> {
            text.as_ref()
                .map(|t| {
                    crate::model::duration::parse_duration(t.get_ref())
                        .map(Duration::from_secs)
                        .ok_or_else(|| TableError {
                            message: format!(
                                "kubernetes.{key}: `{}` is not a duration (e.g. `2h 30m`)",
                                t.get_ref()
                            ),
                            span: t.span(),
                        })
                })
                .transpose()
        };
        let mut settings = Settings::default();
        if let Some(d) = duration(&self.default_ttl, "default_ttl")? {
            settings.default_ttl = d;
        }
        if let Some(d) = duration(&self.delete_timeout, "delete_timeout")? {
            settings.delete_timeout = d;
        }
        if let Some(r) = &self.role_rules {
            settings.role_rules = r.clone();
        }
        if let Some(q) = &self.quota {
            settings.quota = q.clone();
        }
        if let Some(l) = &self.limits {
            settings.limits = Some(l.clone());
        }
        if self.limit_range == Some(false) {
            settings.limits = None;
        }
        if let Some(n) = self.network_policy {
            settings.network_policy = n;
        }
        let choice = ClusterChoice {
            kubeconfig: self
                .kubeconfig
                .clone()
                .map(|p| if p.is_relative() { project.join(p) } else { p }),
            context: self.context.clone(),
        };
        Ok((choice, settings))
    }
}

impl ClusterChoice {
    /// `cli` when it names a cluster, else `self`: the command line wins as a whole, since
    /// naming a context there must not combine with a file named in the config, or the user
    /// gets a cluster they did not name.
    pub fn overridden_by(self, cli: &ClusterChoice) -> ClusterChoice {
        if cli.is_set() { cli.clone() } else { self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table<toml::Table>, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn an_empty_table_means_no_cluster_and_defaults() {
        let (choice, settings) = table("").unwrap().resolve(Path::new("/p")).unwrap();
        assert!(!choice.is_set());
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn the_table_sets_cluster_and_overrides_defaults_command_line_wins() {
        let t = table(
            r#"
kubeconfig = "kube/config"
context = "dev"
default_ttl = "2h"
network_policy = false
quota = { pods = "5" }
role_rules = [{ api_groups = [""], resources = ["configmaps"], verbs = ["get"] }]
"#,
        )
        .unwrap();
        let (choice, s) = t.resolve(Path::new("/p")).unwrap();
        assert_eq!(choice.kubeconfig, Some(PathBuf::from("/p/kube/config")));
        assert_eq!(choice.context.as_deref(), Some("dev"));
        assert_eq!(s.default_ttl, Duration::from_secs(7200));
        assert!(!s.network_policy);
        assert_eq!(s.quota.get("pods").map(String::as_str), Some("5"));
        assert_eq!(s.role_rules.len(), 1);
        let cli = ClusterChoice {
            kubeconfig: None,
            context: Some("other".into()),
        };
        assert_eq!(choice.overridden_by(&cli), cli);
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_errors() {
        assert!(table("kubconfig = \"x\"\n").is_err());
        let text = "default_ttl = \"soon\"\n";
        let e = table(text).unwrap().resolve(Path::new("/p")).unwrap_err();
        assert!(e.message.contains("default_ttl"), "{e:?}");
        assert_eq!(&text[e.span], "\"soon\"");
    }
}
