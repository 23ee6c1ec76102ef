//! Under `gantry serve` the server's operator decides which cluster and credentials a
//! repository's pipelines use and how far they may go; a pushed commit's `.gantry/config.toml`
//! may narrow that (fewer resources, a smaller quota, fewer Role rules, a stricter policy) but
//! never widen it or name a cluster. What a commit asks beyond the bounds is an error, not
//! silently dropped, so the pipeline says why it did not run.

use super::config::{KubernetesTable, ProjectConfig};
use crate::environment::config::{self, ClusterChoice, RoleRule};
use crate::executor::kubernetes::settings::{ExecutorConfig, quantity};
use std::collections::BTreeMap;
use std::path::{Component, Path};

/// What the operator configured for a repository.
#[derive(Clone, Debug, Default)]
pub struct Operator {
    /// Its cluster (none: no environments, no Kubernetes executor).
    pub cluster: ClusterChoice,
    /// Its `[kubernetes]` tables (environment and pod settings).
    pub kubernetes: KubernetesTable,
}

/// Why a commit's config asks for more than the server's operator allows; `what` names the
/// table and key, as the commit wrote it.
#[derive(Debug, thiserror::Error)]
pub enum NarrowError {
    /// The commit's value is looser than the operator's.
    #[error("{what}: a commit may narrow what the server's operator allows, never widen it")]
    Widens {
        /// Table and key.
        what: String,
    },
    /// A quantity above the operator's.
    #[error("{what}: {commit} is more than the server's operator allows ({operator})")]
    AboveOperator {
        /// Table and key.
        what: String,
        /// The commit's value.
        commit: String,
        /// The operator's value.
        operator: String,
    },
    /// A value that should be a Kubernetes quantity is not one.
    #[error("{what}: `{commit}` is not a Kubernetes quantity")]
    NotAQuantity {
        /// Table and key.
        what: String,
        /// The commit's value.
        commit: String,
    },
    /// The commit names a cluster.
    #[error(
        "[kubernetes] kubeconfig/context: a commit cannot name a cluster; the server's operator chooses it"
    )]
    NamesCluster,
    /// A value of a `[kubernetes]` table does not resolve.
    #[error("{}", .0.message)]
    Table(config::TableError),
    /// A component checkout outside the commit's checkout.
    #[error(
        "[components] {name} = {}: a served commit's component checkouts must stay inside it",
        dir.display()
    )]
    ComponentOutside {
        /// The component project.
        name: String,
        /// Its directory.
        dir: std::path::PathBuf,
    },
}

fn widen(what: &str) -> NarrowError {
    NarrowError::Widens {
        what: what.to_string(),
    }
}

/// `commit` within `operator` (both quantities); a commit's value above the operator's fails.
fn at_most(what: &str, commit: &str, operator: &str) -> Result<(), NarrowError> {
    match (quantity(commit), quantity(operator)) {
        (Some(c), Some(o)) if c <= o => Ok(()),
        (Some(_), Some(_)) => Err(NarrowError::AboveOperator {
            what: what.to_string(),
            commit: commit.to_string(),
            operator: operator.to_string(),
        }),
        _ => Err(NarrowError::NotAQuantity {
            what: what.to_string(),
            commit: commit.to_string(),
        }),
    }
}

/// An optional quantity: the commit may set it only below the operator's.
fn quantity_field(
    what: &str,
    commit: &Option<String>,
    operator: &Option<String>,
) -> Result<Option<String>, NarrowError> {
    match (commit, operator) {
        (None, o) => Ok(o.clone()),
        (Some(c), Some(o)) => at_most(what, c, o).map(|_| Some(c.clone())),
        (Some(_), None) => Err(widen(what)),
    }
}

/// A setting the commit may only repeat.
fn same<T: PartialEq + Clone>(
    what: &str,
    commit: &Option<T>,
    operator: &Option<T>,
) -> Result<Option<T>, NarrowError> {
    match commit {
        Some(c) if Some(c) != operator.as_ref() => Err(widen(what)),
        _ => Ok(operator.clone()),
    }
}

/// A map the commit may only take entries from.
fn subset_map(
    what: &str,
    commit: &BTreeMap<String, String>,
    operator: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, NarrowError> {
    if commit.iter().any(|(k, v)| operator.get(k) != Some(v)) {
        return Err(widen(what));
    }
    Ok(if commit.is_empty() {
        operator.clone()
    } else {
        commit.clone()
    })
}

fn pod(c: &ExecutorConfig, o: &ExecutorConfig) -> Result<ExecutorConfig, NarrowError> {
    let q = |what: &str, c: &Option<String>, o: &Option<String>| {
        quantity_field(&format!("[kubernetes.executor] {what}"), c, o)
    };
    let p = |what: &str, c: &Option<String>, o: &Option<String>| {
        same(&format!("[kubernetes.executor] {what}"), c, o)
    };
    // Constraints may be added; what the operator pinned stays.
    let mut node_selector = o.node_selector.clone();
    for (k, v) in &c.node_selector {
        if node_selector.get(k).is_some_and(|ov| ov != v) {
            return Err(widen("[kubernetes.executor] node_selector"));
        }
        node_selector.insert(k.clone(), v.clone());
    }
    let pull_secrets = if c
        .image_pull_secrets
        .iter()
        .all(|s| o.image_pull_secrets.contains(s))
    {
        o.image_pull_secrets.clone()
    } else {
        return Err(widen("[kubernetes.executor] image_pull_secrets"));
    };
    Ok(ExecutorConfig {
        cpu_request: q("cpu_request", &c.cpu_request, &o.cpu_request)?,
        cpu_request_overwrite_max_allowed: q(
            "cpu_request_overwrite_max_allowed",
            &c.cpu_request_overwrite_max_allowed,
            &o.cpu_request_overwrite_max_allowed,
        )?,
        cpu_limit: q("cpu_limit", &c.cpu_limit, &o.cpu_limit)?,
        cpu_limit_overwrite_max_allowed: q(
            "cpu_limit_overwrite_max_allowed",
            &c.cpu_limit_overwrite_max_allowed,
            &o.cpu_limit_overwrite_max_allowed,
        )?,
        memory_request: q("memory_request", &c.memory_request, &o.memory_request)?,
        memory_request_overwrite_max_allowed: q(
            "memory_request_overwrite_max_allowed",
            &c.memory_request_overwrite_max_allowed,
            &o.memory_request_overwrite_max_allowed,
        )?,
        memory_limit: q("memory_limit", &c.memory_limit, &o.memory_limit)?,
        memory_limit_overwrite_max_allowed: q(
            "memory_limit_overwrite_max_allowed",
            &c.memory_limit_overwrite_max_allowed,
            &o.memory_limit_overwrite_max_allowed,
        )?,
        service_cpu_request: q(
            "service_cpu_request",
            &c.service_cpu_request,
            &o.service_cpu_request,
        )?,
        service_cpu_request_overwrite_max_allowed: q(
            "service_cpu_request_overwrite_max_allowed",
            &c.service_cpu_request_overwrite_max_allowed,
            &o.service_cpu_request_overwrite_max_allowed,
        )?,
        service_cpu_limit: q(
            "service_cpu_limit",
            &c.service_cpu_limit,
            &o.service_cpu_limit,
        )?,
        service_cpu_limit_overwrite_max_allowed: q(
            "service_cpu_limit_overwrite_max_allowed",
            &c.service_cpu_limit_overwrite_max_allowed,
            &o.service_cpu_limit_overwrite_max_allowed,
        )?,
        service_memory_request: q(
            "service_memory_request",
            &c.service_memory_request,
            &o.service_memory_request,
        )?,
        service_memory_request_overwrite_max_allowed: q(
            "service_memory_request_overwrite_max_allowed",
            &c.service_memory_request_overwrite_max_allowed,
            &o.service_memory_request_overwrite_max_allowed,
        )?,
        service_memory_limit: q(
            "service_memory_limit",
            &c.service_memory_limit,
            &o.service_memory_limit,
        )?,
        service_memory_limit_overwrite_max_allowed: q(
            "service_memory_limit_overwrite_max_allowed",
            &c.service_memory_limit_overwrite_max_allowed,
            &o.service_memory_limit_overwrite_max_allowed,
        )?,
        node_selector,
        node_tolerations: subset_map(
            "[kubernetes.executor] node_tolerations",
            &c.node_tolerations,
            &o.node_tolerations,
        )?,
        service_account: p("service_account", &c.service_account, &o.service_account)?,
        service_account_overwrite_allowed: p(
            "service_account_overwrite_allowed",
            &c.service_account_overwrite_allowed,
            &o.service_account_overwrite_allowed,
        )?,
        namespace_overwrite_allowed: p(
            "namespace_overwrite_allowed",
            &c.namespace_overwrite_allowed,
            &o.namespace_overwrite_allowed,
        )?,
        image_pull_secrets: pull_secrets,
        pull_policy: c.pull_policy.clone().or(o.pull_policy.clone()),
        pod_labels: subset_map(
            "[kubernetes.executor] pod_labels",
            &c.pod_labels,
            &o.pod_labels,
        )?,
        pod_labels_overwrite_allowed: p(
            "pod_labels_overwrite_allowed",
            &c.pod_labels_overwrite_allowed,
            &o.pod_labels_overwrite_allowed,
        )?,
        pod_annotations: subset_map(
            "[kubernetes.executor] pod_annotations",
            &c.pod_annotations,
            &o.pod_annotations,
        )?,
        pod_annotations_overwrite_allowed: p(
            "pod_annotations_overwrite_allowed",
            &c.pod_annotations_overwrite_allowed,
            &o.pod_annotations_overwrite_allowed,
        )?,
    })
}

fn covered(rule: &RoleRule, by: &[RoleRule]) -> bool {
    by.iter().any(|o| {
        let all = |c: &[String], o: &[String]| {
            c.iter()
                .all(|x| o.contains(x) || o.iter().any(|v| v == "*"))
        };
        all(&rule.api_groups, &o.api_groups)
            && all(&rule.resources, &o.resources)
            && all(&rule.verbs, &o.verbs)
    })
}

/// The effective `[kubernetes]` table: the operator's, narrowed by the commit's.
fn kubernetes(c: &KubernetesTable, o: &KubernetesTable) -> Result<KubernetesTable, NarrowError> {
    if c.kubeconfig.is_some() || c.context.is_some() {
        return Err(NarrowError::NamesCluster);
    }
    // The operator's settings as they apply (defaults filled in), to compare with.
    let (_, ours) = o.resolve(Path::new("/")).map_err(NarrowError::Table)?;
    let (_, theirs) = c.resolve(Path::new("/")).map_err(NarrowError::Table)?;
    let mut out = o.clone();
    if c.default_ttl.is_some() && theirs.default_ttl <= ours.default_ttl {
        out.default_ttl = c.default_ttl.clone();
    } else if c.default_ttl.is_some() {
        return Err(widen("[kubernetes] default_ttl"));
    }
    if c.delete_timeout.is_some() && theirs.delete_timeout <= ours.delete_timeout {
        out.delete_timeout = c.delete_timeout.clone();
    } else if c.delete_timeout.is_some() {
        return Err(widen("[kubernetes] delete_timeout"));
    }
    if let Some(rules) = &c.role_rules {
        if !rules.iter().all(|r| covered(r, &ours.role_rules)) {
            return Err(widen("[kubernetes] role_rules"));
        }
        out.role_rules = Some(rules.clone());
    }
    if let Some(quota) = &c.quota {
        let mut merged = ours.quota.clone();
        for (k, v) in quota {
            if let Some(o) = ours.quota.get(k) {
                at_most(&format!("[kubernetes] quota.{k}"), v, o)?;
            }
            merged.insert(k.clone(), v.clone());
        }
        out.quota = Some(merged);
    }
    if c.limit_range == Some(false) && ours.limits.is_some() {
        return Err(widen("[kubernetes] limit_range"));
    }
    if let Some(limits) = &c.limits {
        if let Some(o) = &ours.limits {
            for (theirs, ours, key) in [
                (&limits.default, &o.default, "default"),
                (
                    &limits.default_request,
                    &o.default_request,
                    "default_request",
                ),
            ] {
                for (k, v) in theirs {
                    if let Some(ov) = ours.get(k) {
                        at_most(&format!("[kubernetes] limits.{key}.{k}"), v, ov)?;
                    }
                }
            }
        }
        out.limits = Some(limits.clone());
    }
    if c.network_policy == Some(false) && ours.network_policy {
        return Err(widen("[kubernetes] network_policy"));
    }
    if c.network_policy == Some(true) {
        out.network_policy = Some(true);
    }
    out.executor = pod(&c.executor, &o.executor)?;
    Ok(out)
}

/// Whether `dir` stays inside the checkout `project`.
fn inside(project: &Path, dir: &Path) -> bool {
    dir.strip_prefix(project).is_ok_and(|rel| {
        rel.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    })
}

impl ProjectConfig {
    /// This (a commit's) config within what `operator` allows, for the checkout at `project`:
    /// the operator's cluster, the operator's `[kubernetes]` tables narrowed by the commit's,
    /// component checkouts only inside the checkout.
    pub fn within(self, project: &Path, operator: &Operator) -> Result<ProjectConfig, NarrowError> {
        if let Some((name, dir)) = self.components.iter().find(|(_, d)| !inside(project, d)) {
            return Err(NarrowError::ComponentOutside {
                name: name.clone(),
                dir: dir.clone(),
            });
        }
        let table = kubernetes(&self.kubernetes, &operator.kubernetes)?;
        let (_, environments) = table.resolve(project).map_err(NarrowError::Table)?;
        Ok(ProjectConfig {
            components: self.components,
            // Other projects' checkouts only inside the checkout, as components.
            projects: self
                .projects
                .into_iter()
                .filter(|(_, d)| inside(project, d))
                .collect(),
            executor: self.executor,
            cluster: operator.cluster.clone(),
            environments,
            pod: table.executor.clone(),
            kubernetes: table,
            // Served pipelines do not reuse jobs; the settings are kept as written.
            reuse: self.reuse,
            // A served commit's `[gitlab]` is not used: its `token_env` could name any of the
            // server's variables and send it where its `url` points.
            gitlab: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(text: &str) -> ProjectConfig {
        ProjectConfig::parse(Path::new("/co"), Path::new("/co/.gantry/config.toml"), text).unwrap()
    }

    fn operator(text: &str) -> Operator {
        Operator {
            cluster: ClusterChoice {
                kubeconfig: Some("/srv/kube/config".into()),
                context: Some("ci".into()),
            },
            kubernetes: toml::from_str(text).unwrap(),
        }
    }

    #[test]
    fn a_commit_cannot_name_another_cluster() {
        let op = operator("");
        for text in [
            "[kubernetes]\nkubeconfig = \"/root/.kube/config\"\n",
            "[kubernetes]\ncontext = \"production\"\n",
        ] {
            let e = commit(text)
                .within(Path::new("/co"), &op)
                .unwrap_err()
                .to_string();
            assert!(e.contains("cannot name a cluster"), "{e}");
        }
        let c = commit("").within(Path::new("/co"), &op).unwrap();
        assert_eq!(c.cluster, op.cluster);
    }

    #[test]
    fn a_commit_may_narrow_but_not_widen() {
        let op = operator(
            "quota = { pods = \"10\", \"limits.cpu\" = \"4\" }\n[executor]\ncpu_limit = \"2\"\nmemory_limit_overwrite_max_allowed = \"1Gi\"\nservice_account = \"ci\"\n",
        );
        let ok = commit(
            "[kubernetes]\nquota = { pods = \"5\" }\nnetwork_policy = true\ndefault_ttl = \"1h\"\n[kubernetes.executor]\ncpu_limit = \"500m\"\nmemory_limit_overwrite_max_allowed = \"512Mi\"\n",
        )
        .within(Path::new("/co"), &op)
        .unwrap();
        assert_eq!(ok.environments.quota["pods"], "5");
        assert_eq!(ok.environments.quota["limits.cpu"], "4");
        assert_eq!(ok.environments.default_ttl.as_secs(), 3600);
        assert_eq!(ok.pod.cpu_limit.as_deref(), Some("500m"));
        assert_eq!(ok.pod.service_account.as_deref(), Some("ci"));
        for (text, what) in [
            ("[kubernetes]\nquota = { pods = \"50\" }\n", "quota.pods"),
            ("[kubernetes]\nnetwork_policy = false\n", "network_policy"),
            ("[kubernetes]\nlimit_range = false\n", "limit_range"),
            ("[kubernetes]\ndefault_ttl = \"30d\"\n", "default_ttl"),
            (
                "[kubernetes]\nrole_rules = [{ api_groups = [\"rbac.authorization.k8s.io\"], resources = [\"clusterroles\"], verbs = [\"create\"] }]\n",
                "role_rules",
            ),
            ("[kubernetes.executor]\ncpu_limit = \"8\"\n", "cpu_limit"),
            (
                "[kubernetes.executor]\nmemory_request = \"1Gi\"\n",
                "memory_request",
            ),
            (
                "[kubernetes.executor]\nmemory_limit_overwrite_max_allowed = \"64Gi\"\n",
                "memory_limit_overwrite_max_allowed",
            ),
            (
                "[kubernetes.executor]\nservice_account = \"admin\"\n",
                "service_account",
            ),
            (
                "[kubernetes.executor]\nnamespace_overwrite_allowed = \".*\"\n",
                "namespace_overwrite_allowed",
            ),
            (
                "[kubernetes.executor]\nnode_tolerations = { \"node-role.kubernetes.io/control-plane\" = \"\" }\n",
                "node_tolerations",
            ),
            (
                "[kubernetes.executor]\npod_annotations = { \"sidecar.istio.io/inject\" = \"false\" }\n",
                "pod_annotations",
            ),
        ] {
            let e = commit(text)
                .within(Path::new("/co"), &op)
                .unwrap_err()
                .to_string();
            assert!(e.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn component_checkouts_stay_inside_the_commit() {
        let op = operator("");
        let e = commit("[components]\n\"gitlab.com/g/p\" = \"../../etc\"\n")
            .within(Path::new("/co"), &op)
            .unwrap_err()
            .to_string();
        assert!(e.contains("inside"), "{e}");
        let e = commit("[components]\n\"gitlab.com/g/p\" = \"/etc\"\n")
            .within(Path::new("/co"), &op)
            .unwrap_err()
            .to_string();
        assert!(e.contains("inside"), "{e}");
        assert!(
            commit("[components]\n\"gitlab.com/g/p\" = \"vendor/p\"\n")
                .within(Path::new("/co"), &op)
                .is_ok()
        );
    }
}
