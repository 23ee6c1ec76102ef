//! The objects of one environment namespace, as Kubernetes JSON: the namespace (labelled with
//! its pipeline, annotated with its expiry), the deployer ServiceAccount, Role and RoleBinding,
//! ResourceQuota, LimitRange, a NetworkPolicy admitting ingress only from the same namespace,
//! and an image-pull Secret. Pure: building them needs no cluster.

use super::config::Settings;
use base64::Engine;
use serde_json::{Value, json};

/// Label every gantry namespace carries (how `gc` and `env list` find them).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "gantry");
/// Label: the pipeline's iid.
pub const PIPELINE: &str = "gantry.pipeline";
/// Label: the pid of the gantry process that owns it.
pub const PID: &str = "gantry.pid";
/// Label: the host that process runs on.
pub const HOST: &str = "gantry.host";
/// Label: that process's start time (clock ticks since boot), so a reused pid is not it.
pub const STARTED: &str = "gantry.started";
/// Annotation: expiry, Unix seconds.
pub const EXPIRES: &str = "gantry.dev/expires-at";
/// Annotation: the project directory.
pub const PROJECT: &str = "gantry.dev/project";
/// Annotation: the kube context the namespace was made with.
pub const CONTEXT: &str = "gantry.dev/context";
/// Annotation: kept on purpose (`--keep-environments`): only its expiry ends it.
pub const KEPT: &str = "gantry.dev/kept";
/// The ServiceAccount (and Role, RoleBinding) jobs act as.
pub const DEPLOYER: &str = "gantry-deployer";
/// The image-pull Secret.
pub const PULL_SECRET: &str = "gantry-registry";

/// Who owns a namespace.
#[derive(Clone, Debug)]
pub struct Owner {
    /// Pipeline iid.
    pub pipeline: u64,
    /// Owning process.
    pub pid: u32,
    /// Its start time (`process::start_time`).
    pub started: u64,
    /// Its host, as a label value.
    pub host: String,
    /// Project directory.
    pub project: String,
    /// Kube context.
    pub context: String,
}

/// This process on this host.
pub fn host_label() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut label: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    label = label.trim_matches(['-', '.']).to_string();
    if label.is_empty() {
        "unknown".into()
    } else {
        label
    }
}

/// The Namespace.
pub fn namespace(name: &str, owner: &Owner, expires_at: u64) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                MANAGED_BY.0: MANAGED_BY.1,
                PIPELINE: owner.pipeline.to_string(),
                PID: owner.pid.to_string(),
                STARTED: owner.started.to_string(),
                HOST: owner.host,
            },
            "annotations": {
                EXPIRES: expires_at.to_string(),
                PROJECT: owner.project,
                CONTEXT: owner.context,
            }
        }
    })
}

fn meta(name: &str, ns: &str) -> Value {
    json!({"name": name, "namespace": ns, "labels": {MANAGED_BY.0: MANAGED_BY.1}})
}

/// ServiceAccount, Role, RoleBinding, quota, limits, network policy: (kind, object) in order.
pub fn namespaced(ns: &str, settings: &Settings) -> Vec<(&'static str, Value)> {
    let mut out = vec![
        (
            "ServiceAccount",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(DEPLOYER, ns)}),
        ),
        (
            "Role",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": meta(DEPLOYER, ns),
                "rules": settings.role_rules.iter().map(|r| json!({
                    "apiGroups": r.api_groups, "resources": r.resources, "verbs": r.verbs
                })).collect::<Vec<_>>(),
            }),
        ),
        (
            "RoleBinding",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta(DEPLOYER, ns),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": DEPLOYER},
                "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER, "namespace": ns}],
            }),
        ),
    ];
    if !settings.quota.is_empty() {
        out.push((
            "ResourceQuota",
            json!({
                "apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("gantry-quota", ns),
                "spec": {"hard": settings.quota},
            }),
        ));
    }
    if let Some(l) = &settings.limits {
        out.push((
            "LimitRange",
            json!({
                "apiVersion": "v1", "kind": "LimitRange", "metadata": meta("gantry-limits", ns),
                "spec": {"limits": [{
                    "type": "Container", "default": l.default, "defaultRequest": l.default_request,
                }]},
            }),
        ));
    }
    if settings.network_policy {
        out.push((
            "NetworkPolicy",
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": meta("gantry-same-namespace-only", ns),
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {}}]}],
                },
            }),
        ));
    }
    out
}

/// A `kubernetes.io/dockerconfigjson` Secret for `registry`.
pub fn pull_secret(ns: &str, registry: &str, user: &str, password: &str) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let config = json!({"auths": {registry: {
        "username": user, "password": password, "auth": b64(&format!("{user}:{password}")),
    }}});
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": meta(PULL_SECRET, ns),
        "data": {".dockerconfigjson": b64(&config.to_string())},
    })
}

/// A kubeconfig for the deployer's token, pinned to `ns`.
pub fn kubeconfig(
    server: &str,
    ca_pem: Option<&str>,
    tls_server_name: Option<&str>,
    ns: &str,
    token: &str,
) -> String {
    let mut cluster = json!({"server": server});
    match ca_pem {
        Some(pem) => {
            cluster["certificate-authority-data"] = base64::engine::general_purpose::STANDARD
                .encode(pem.as_bytes())
                .into();
        }
        None => cluster["insecure-skip-tls-verify"] = true.into(),
    }
    if let Some(name) = tls_server_name {
        cluster["tls-server-name"] = name.into();
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gantry", "cluster": cluster}],
        "users": [{"name": DEPLOYER, "user": {"token": token}}],
        "contexts": [{"name": ns, "context": {"cluster": "gantry", "user": DEPLOYER, "namespace": ns}}],
        "current-context": ns,
    });
    // JSON is YAML: kubectl reads it as a kubeconfig.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_lives_in_the_namespace_and_the_binding_names_the_role() {
        let objs = namespaced("ns-1", &Settings::default());
        let kinds: Vec<&str> = objs.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ResourceQuota",
                "LimitRange",
                "NetworkPolicy"
            ]
        );
        for (kind, o) in &objs {
            assert_eq!(o["kind"], *kind);
            assert_eq!(o["metadata"]["namespace"], "ns-1");
        }
        assert_eq!(objs[2].1["roleRef"]["name"], objs[1].1["metadata"]["name"]);
        assert_eq!(
            objs[2].1["subjects"][0]["name"],
            objs[0].1["metadata"]["name"]
        );
        let rules = objs[1].1["rules"].as_array().unwrap();
        assert!(rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .contains(&"pods/exec".into())
        }));
        assert!(!rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .contains(&"namespaces".into())
        }));
    }

    #[test]
    fn disabled_parts_are_left_out() {
        let settings = Settings {
            quota: Default::default(),
            limits: None,
            network_policy: false,
            ..Settings::default()
        };
        assert_eq!(namespaced("n", &settings).len(), 3);
    }

    #[test]
    fn kubeconfig_pins_the_namespace_and_the_token() {
        let k: Value = serde_json::from_str(&kubeconfig(
            "https://h:1",
            Some("PEM"),
            Some("127.0.0.1"),
            "ns",
            "tok",
        ))
        .unwrap();
        assert_eq!(k["contexts"][0]["context"]["namespace"], "ns");
        assert_eq!(k["users"][0]["user"]["token"], "tok");
        assert_eq!(
            k["clusters"][0]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
        assert_eq!(k["clusters"][0]["cluster"]["tls-server-name"], "127.0.0.1");
    }
}
