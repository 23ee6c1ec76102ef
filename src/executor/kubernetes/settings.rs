//! Pod settings: `[kubernetes.executor]` of `.gantry/config.toml` (GitLab's `[runners.kubernetes]`
//! names: resources, node selector, tolerations, service account, pull secrets and policy, pod
//! labels and annotations) and the job's `KUBERNETES_*` override variables, honoured only as far
//! as the config allows — resource overrides up to `*_overwrite_max_allowed`, namespace, service
//! account, labels and annotations only when they match `*_overwrite_allowed`. Pure (`project::config`
//! reads the table).

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `[kubernetes.executor]`, as GitLab's runner names these settings.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Build container CPU request.
    pub cpu_request: Option<String>,
    /// Highest `KUBERNETES_CPU_REQUEST` a job may ask for (unset: no override).
    pub cpu_request_overwrite_max_allowed: Option<String>,
    /// Build container CPU limit.
    pub cpu_limit: Option<String>,
    /// Highest `KUBERNETES_CPU_LIMIT`.
    pub cpu_limit_overwrite_max_allowed: Option<String>,
    /// Build container memory request.
    pub memory_request: Option<String>,
    /// Highest `KUBERNETES_MEMORY_REQUEST`.
    pub memory_request_overwrite_max_allowed: Option<String>,
    /// Build container memory limit.
    pub memory_limit: Option<String>,
    /// Highest `KUBERNETES_MEMORY_LIMIT`.
    pub memory_limit_overwrite_max_allowed: Option<String>,
    /// Service containers' CPU request.
    pub service_cpu_request: Option<String>,
    /// Highest `KUBERNETES_SERVICE_CPU_REQUEST`.
    pub service_cpu_request_overwrite_max_allowed: Option<String>,
    /// Service containers' CPU limit.
    pub service_cpu_limit: Option<String>,
    /// Highest `KUBERNETES_SERVICE_CPU_LIMIT`.
    pub service_cpu_limit_overwrite_max_allowed: Option<String>,
    /// Service containers' memory request.
    pub service_memory_request: Option<String>,
    /// Highest `KUBERNETES_SERVICE_MEMORY_REQUEST`.
    pub service_memory_request_overwrite_max_allowed: Option<String>,
    /// Service containers' memory limit.
    pub service_memory_limit: Option<String>,
    /// Highest `KUBERNETES_SERVICE_MEMORY_LIMIT`.
    pub service_memory_limit_overwrite_max_allowed: Option<String>,
    /// `nodeSelector` of every job pod.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations: `"key=value" = "Effect"` (Equal), `"key" = "Effect"` (Exists); an empty
    /// effect tolerates every effect.
    #[serde(default)]
    pub node_tolerations: BTreeMap<String, String>,
    /// `serviceAccountName` of job pods.
    pub service_account: Option<String>,
    /// Regex `KUBERNETES_SERVICE_ACCOUNT_OVERWRITE` must match (unset: no override).
    pub service_account_overwrite_allowed: Option<String>,
    /// Regex `KUBERNETES_NAMESPACE_OVERWRITE` must match (unset: no override).
    pub namespace_overwrite_allowed: Option<String>,
    /// `imagePullSecrets` by name (an environment's `gantry-registry` is added by the executor).
    #[serde(default)]
    pub image_pull_secrets: Vec<String>,
    /// `always`, `if-not-present` or `never` (else `--pull`).
    pub pull_policy: Option<String>,
    /// Extra pod labels.
    #[serde(default)]
    pub pod_labels: BTreeMap<String, String>,
    /// Regex each `KUBERNETES_POD_LABELS_*` (`key=value`) must match (unset: no override).
    pub pod_labels_overwrite_allowed: Option<String>,
    /// Pod annotations.
    #[serde(default)]
    pub pod_annotations: BTreeMap<String, String>,
    /// Regex each `KUBERNETES_POD_ANNOTATIONS_*` (`key=value`) must match (unset: no override).
    pub pod_annotations_overwrite_allowed: Option<String>,
}

/// Requests and limits of one kind of container (`cpu`, `memory`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// `resources.requests`.
    pub requests: BTreeMap<String, String>,
    /// `resources.limits`.
    pub limits: BTreeMap<String, String>,
}

impl Resources {
    /// The container's `resources` object, or `None` when nothing is set.
    pub fn json(&self) -> Option<Value> {
        if self.requests.is_empty() && self.limits.is_empty() {
            return None;
        }
        let mut v = json!({});
        if !self.requests.is_empty() {
            v["requests"] = json!(self.requests);
        }
        if !self.limits.is_empty() {
            v["limits"] = json!(self.limits);
        }
        Some(v)
    }
}

/// What one job's pod gets, config and overrides resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSettings {
    /// The build container's resources.
    pub build: Resources,
    /// Each service container's resources.
    pub service: Resources,
    /// `nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `tolerations`.
    pub tolerations: Vec<Value>,
    /// `serviceAccountName`.
    pub service_account: Option<String>,
    /// `imagePullSecrets` names.
    pub image_pull_secrets: Vec<String>,
    /// `imagePullPolicy` when the config sets one.
    pub pull_policy: Option<String>,
    /// Extra labels (never gantry's own).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `KUBERNETES_NAMESPACE_OVERWRITE`, when allowed.
    pub namespace: Option<String>,
    /// Overrides that were ignored (not enabled by the config), for the job log.
    pub notes: Vec<String>,
}

/// Why a job's overrides cannot be honoured (the job fails, as with GitLab's runner).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A resource override above its configured maximum.
    #[error("{var}={value} exceeds the allowed maximum {max} ([kubernetes.executor] {key})")]
    AboveMax {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// The maximum.
        max: String,
        /// The config key naming the maximum.
        key: String,
    },
    /// A value that is no Kubernetes quantity.
    #[error("{what}: `{value}` is not a Kubernetes quantity (e.g. 500m, 2, 128Mi)")]
    Quantity {
        /// Where it came from.
        what: String,
        /// The value.
        value: String,
    },
    /// An override the config's pattern does not allow.
    #[error("{var}={value} is not allowed by [kubernetes.executor] {key} ({pattern})")]
    NotAllowed {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// The config key.
        key: String,
        /// The pattern.
        pattern: String,
    },
    /// A configured pattern that is no regex.
    #[error("[kubernetes.executor] {key}: {message}")]
    Pattern {
        /// The config key.
        key: String,
        /// The regex error.
        message: String,
    },
    /// A `key=value` override without `=`.
    #[error("{var}: expected key=value, got `{value}`")]
    Pair {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
}

/// A Kubernetes quantity as a number (`500m` → 0.5, `1Gi` → 2^30), for comparing against maxima.
pub fn quantity(text: &str) -> Option<f64> {
    let t = text.trim();
    let binary = [
        ("Ki", 1u32),
        ("Mi", 2),
        ("Gi", 3),
        ("Ti", 4),
        ("Pi", 5),
        ("Ei", 6),
    ];
    let decimal = [
        ("n", -9),
        ("u", -6),
        ("m", -3),
        ("k", 3),
        ("M", 6),
        ("G", 9),
        ("T", 12),
        ("P", 15),
        ("E", 18),
    ];
    let number = |n: &str| -> Option<f64> {
        if n.is_empty() || !n.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '+') {
            return None;
        }
        n.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
    };
    for (suffix, power) in binary {
        if let Some(n) = t.strip_suffix(suffix) {
            return Some(number(n)? * 1024f64.powi(power as i32));
        }
    }
    for (suffix, exp) in decimal {
        if let Some(n) = t.strip_suffix(suffix) {
            return Some(number(n)? * 10f64.powi(exp));
        }
    }
    // Plain numbers and exponent forms (`1e3`).
    if t.contains(['e', 'E']) {
        return t.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
    }
    number(t)
}

fn var<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

fn check_quantity(what: &str, value: &str) -> Result<(), SettingsError> {
    quantity(value).map(|_| ()).ok_or(SettingsError::Quantity {
        what: what.into(),
        value: value.into(),
    })
}

/// One resource: the configured value, or the job's override when a maximum allows it.
fn resource(
    configured: &Option<String>,
    key: &str,
    max: &Option<String>,
    var_name: &str,
    env: &[(String, String)],
    notes: &mut Vec<String>,
) -> Result<Option<String>, SettingsError> {
    if let Some(c) = configured {
        check_quantity(&format!("[kubernetes.executor] {key}"), c)?;
    }
    let Some(wanted) = var(env, var_name) else {
        return Ok(configured.clone());
    };
    let max_key = format!("{key}_overwrite_max_allowed");
    let Some(max) = max else {
        notes.push(format!(
            "{var_name} ignored: [kubernetes.executor] {max_key} is not set"
        ));
        return Ok(configured.clone());
    };
    check_quantity(var_name, wanted)?;
    check_quantity(&format!("[kubernetes.executor] {max_key}"), max)?;
    if quantity(wanted) > quantity(max) {
        return Err(SettingsError::AboveMax {
            var: var_name.into(),
            value: wanted.into(),
            max: max.clone(),
            key: max_key,
        });
    }
    Ok(Some(wanted.to_string()))
}

fn pattern(key: &str, p: &str) -> Result<regex::Regex, SettingsError> {
    // Anchored: the whole value must match, not a part of it.
    regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| SettingsError::Pattern {
        key: key.into(),
        message: e.to_string(),
    })
}

/// A single-value override gated by a pattern (`KUBERNETES_NAMESPACE_OVERWRITE` & co.).
fn gated(
    env: &[(String, String)],
    var_name: &str,
    key: &str,
    allowed: &Option<String>,
    notes: &mut Vec<String>,
) -> Result<Option<String>, SettingsError> {
    let Some(value) = var(env, var_name) else {
        return Ok(None);
    };
    let Some(p) = allowed else {
        notes.push(format!(
            "{var_name} ignored: [kubernetes.executor] {key} is not set"
        ));
        return Ok(None);
    };
    if pattern(key, p)?.is_match(value) {
        Ok(Some(value.to_string()))
    } else {
        Err(SettingsError::NotAllowed {
            var: var_name.into(),
            value: value.into(),
            key: key.into(),
            pattern: p.clone(),
        })
    }
}

/// `KUBERNETES_POD_LABELS_*`/`_ANNOTATIONS_*` (`key=value` each), gated by a pattern.
fn pairs(
    env: &[(String, String)],
    prefix: &str,
    key: &str,
    allowed: &Option<String>,
    into: &mut BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> Result<(), SettingsError> {
    let mut seen = BTreeMap::new();
    for (k, v) in env.iter().filter(|(k, _)| k.starts_with(prefix)) {
        seen.insert(k.clone(), v.clone());
    }
    if seen.is_empty() {
        return Ok(());
    }
    let Some(p) = allowed else {
        notes.push(format!(
            "{prefix}* ignored: [kubernetes.executor] {key} is not set"
        ));
        return Ok(());
    };
    let re = pattern(key, p)?;
    for (k, v) in seen {
        if !re.is_match(&v) {
            return Err(SettingsError::NotAllowed {
                var: k,
                value: v,
                key: key.into(),
                pattern: p.clone(),
            });
        }
        let Some((name, value)) = v.split_once('=') else {
            return Err(SettingsError::Pair { var: k, value: v });
        };
        into.insert(name.trim().to_string(), value.trim().to_string());
    }
    Ok(())
}

/// A toleration from GitLab's `node_tolerations` entry.
fn toleration(key: &str, effect: &str) -> Value {
    let mut t = match key.split_once('=') {
        Some((k, v)) => json!({"key": k, "operator": "Equal", "value": v}),
        None if key.is_empty() => json!({"operator": "Exists"}),
        None => json!({"key": key, "operator": "Exists"}),
    };
    if !effect.is_empty() {
        t["effect"] = json!(effect);
    }
    t
}

/// Whether a label key is gantry's own (never overridden: teardown and gc find pods by them).
fn reserved(key: &str) -> bool {
    key.starts_with("gantry.") || key == crate::environment::objects::MANAGED_BY.0
}

/// One resource setting: configured value, config key, maximum, override variable, whether it
/// is the services', resource name, whether a request (else a limit).
struct Row<'a>(
    &'a Option<String>,
    &'a str,
    &'a Option<String>,
    &'a str,
    bool,
    &'a str,
    bool,
);

/// The pod settings for a job with variables `env`.
pub fn resolve(
    config: &ExecutorConfig,
    env: &[(String, String)],
) -> Result<PodSettings, SettingsError> {
    let c = config;
    let mut notes = Vec::new();
    let mut out = PodSettings::default();
    // (configured, config key, maximum, override variable, for services, resource, request)
    let rows = [
        Row(
            &c.cpu_request,
            "cpu_request",
            &c.cpu_request_overwrite_max_allowed,
            "KUBERNETES_CPU_REQUEST",
            false,
            "cpu",
            true,
        ),
        Row(
            &c.cpu_limit,
            "cpu_limit",
            &c.cpu_limit_overwrite_max_allowed,
            "KUBERNETES_CPU_LIMIT",
            false,
            "cpu",
            false,
        ),
        Row(
            &c.memory_request,
            "memory_request",
            &c.memory_request_overwrite_max_allowed,
            "KUBERNETES_MEMORY_REQUEST",
            false,
            "memory",
            true,
        ),
        Row(
            &c.memory_limit,
            "memory_limit",
            &c.memory_limit_overwrite_max_allowed,
            "KUBERNETES_MEMORY_LIMIT",
            false,
            "memory",
            false,
        ),
        Row(
            &c.service_cpu_request,
            "service_cpu_request",
            &c.service_cpu_request_overwrite_max_allowed,
            "KUBERNETES_SERVICE_CPU_REQUEST",
            true,
            "cpu",
            true,
        ),
        Row(
            &c.service_cpu_limit,
            "service_cpu_limit",
            &c.service_cpu_limit_overwrite_max_allowed,
            "KUBERNETES_SERVICE_CPU_LIMIT",
            true,
            "cpu",
            false,
        ),
        Row(
            &c.service_memory_request,
            "service_memory_request",
            &c.service_memory_request_overwrite_max_allowed,
            "KUBERNETES_SERVICE_MEMORY_REQUEST",
            true,
            "memory",
            true,
        ),
        Row(
            &c.service_memory_limit,
            "service_memory_limit",
            &c.service_memory_limit_overwrite_max_allowed,
            "KUBERNETES_SERVICE_MEMORY_LIMIT",
            true,
            "memory",
            false,
        ),
    ];
    for Row(configured, key, max, var_name, service, kind, request) in rows {
        if let Some(v) = resource(configured, key, max, var_name, env, &mut notes)? {
            let target = if service {
                &mut out.service
            } else {
                &mut out.build
            };
            let map = if request {
                &mut target.requests
            } else {
                &mut target.limits
            };
            map.insert(kind.to_string(), v);
        }
    }
    out.node_selector = c.node_selector.clone();
    out.tolerations = c
        .node_tolerations
        .iter()
        .map(|(k, e)| toleration(k, e))
        .collect();
    out.service_account = gated(
        env,
        "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE",
        "service_account_overwrite_allowed",
        &c.service_account_overwrite_allowed,
        &mut notes,
    )?
    .or_else(|| c.service_account.clone());
    out.namespace = gated(
        env,
        "KUBERNETES_NAMESPACE_OVERWRITE",
        "namespace_overwrite_allowed",
        &c.namespace_overwrite_allowed,
        &mut notes,
    )?;
    out.image_pull_secrets = c.image_pull_secrets.clone();
    out.pull_policy = c.pull_policy.as_deref().map(|p| match p {
        "always" | "Always" => "Always".to_string(),
        "never" | "Never" => "Never".to_string(),
        _ => "IfNotPresent".to_string(),
    });
    out.labels = c.pod_labels.clone();
    pairs(
        env,
        "KUBERNETES_POD_LABELS_",
        "pod_labels_overwrite_allowed",
        &c.pod_labels_overwrite_allowed,
        &mut out.labels,
        &mut notes,
    )?;
    let before = out.labels.len();
    out.labels.retain(|k, _| !reserved(k));
    if out.labels.len() != before {
        notes.push("pod labels named like gantry's own (gantry.*, app.kubernetes.io/managed-by) were ignored".into());
    }
    out.annotations = c.pod_annotations.clone();
    pairs(
        env,
        "KUBERNETES_POD_ANNOTATIONS_",
        "pod_annotations_overwrite_allowed",
        &c.pod_annotations_overwrite_allowed,
        &mut out.annotations,
        &mut notes,
    )?;
    out.notes = notes;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn limited() -> ExecutorConfig {
        ExecutorConfig {
            cpu_request: Some("100m".into()),
            cpu_request_overwrite_max_allowed: Some("1".into()),
            memory_limit: Some("256Mi".into()),
            memory_limit_overwrite_max_allowed: Some("1Gi".into()),
            service_memory_request: Some("64Mi".into()),
            ..ExecutorConfig::default()
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("1Gi"), Some(1073741824.0));
        assert_eq!(quantity("1G"), Some(1e9));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("128Mi"), Some(134217728.0));
        for bad in ["", "abc", "-1", "1Xi", "m"] {
            assert_eq!(quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn config_values_without_overrides() {
        let s = resolve(&limited(), &[]).unwrap();
        assert_eq!(
            s.build.requests.get("cpu").map(String::as_str),
            Some("100m")
        );
        assert_eq!(
            s.build.limits.get("memory").map(String::as_str),
            Some("256Mi")
        );
        assert_eq!(
            s.service.requests.get("memory").map(String::as_str),
            Some("64Mi")
        );
        assert!(s.service.limits.is_empty());
        assert_eq!(
            s.build.json(),
            Some(json!({"requests": {"cpu": "100m"}, "limits": {"memory": "256Mi"}}))
        );
        assert_eq!(Resources::default().json(), None);
    }

    #[test]
    fn overrides_within_the_maximum_win() {
        let e = env(&[
            ("KUBERNETES_CPU_REQUEST", "750m"),
            ("KUBERNETES_MEMORY_LIMIT", "1Gi"),
        ]);
        let s = resolve(&limited(), &e).unwrap();
        assert_eq!(s.build.requests["cpu"], "750m");
        assert_eq!(s.build.limits["memory"], "1Gi");
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn overrides_above_the_maximum_fail_the_job() {
        let e = env(&[("KUBERNETES_CPU_REQUEST", "1500m")]);
        let err = resolve(&limited(), &e).unwrap_err();
        assert!(matches!(err, SettingsError::AboveMax { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("cpu_request_overwrite_max_allowed")
        );
        let e = env(&[("KUBERNETES_MEMORY_LIMIT", "lots")]);
        assert!(matches!(
            resolve(&limited(), &e),
            Err(SettingsError::Quantity { .. })
        ));
    }

    #[test]
    fn overrides_without_a_maximum_are_ignored_with_a_note() {
        let e = env(&[
            ("KUBERNETES_SERVICE_CPU_LIMIT", "4"),
            ("KUBERNETES_MEMORY_REQUEST", "1Gi"),
        ]);
        let s = resolve(&limited(), &e).unwrap();
        assert!(s.service.limits.is_empty() && !s.build.requests.contains_key("memory"));
        assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
    }

    #[test]
    fn namespace_and_service_account_overrides_need_a_matching_pattern() {
        let e = env(&[
            ("KUBERNETES_NAMESPACE_OVERWRITE", "ci-7"),
            ("KUBERNETES_SERVICE_ACCOUNT_OVERWRITE", "builder"),
        ]);
        let s = resolve(&ExecutorConfig::default(), &e).unwrap();
        assert_eq!((s.namespace, s.service_account), (None, None));
        assert_eq!(s.notes.len(), 2);
        let c = ExecutorConfig {
            namespace_overwrite_allowed: Some("ci-.*".into()),
            service_account: Some("default-sa".into()),
            service_account_overwrite_allowed: Some("build".into()),
            ..ExecutorConfig::default()
        };
        // Anchored: `build` does not allow `builder`.
        let err = resolve(&c, &e).unwrap_err();
        assert!(matches!(err, SettingsError::NotAllowed { .. }), "{err}");
        let e = env(&[("KUBERNETES_NAMESPACE_OVERWRITE", "ci-7")]);
        let s = resolve(&c, &e).unwrap();
        assert_eq!(s.namespace.as_deref(), Some("ci-7"));
        assert_eq!(s.service_account.as_deref(), Some("default-sa"));
    }

    #[test]
    fn labels_annotations_placement_and_pull() {
        let c = ExecutorConfig {
            pod_labels: BTreeMap::from([("team".into(), "a".into())]),
            pod_labels_overwrite_allowed: Some("[a-z.]+=.*".into()),
            pod_annotations_overwrite_allowed: Some(".*".into()),
            node_selector: BTreeMap::from([("kubernetes.io/os".into(), "linux".into())]),
            node_tolerations: BTreeMap::from([
                ("gpu=true".into(), "NoSchedule".into()),
                ("spot".into(), String::new()),
            ]),
            image_pull_secrets: vec!["reg".into()],
            pull_policy: Some("never".into()),
            ..ExecutorConfig::default()
        };
        let e = env(&[
            ("KUBERNETES_POD_LABELS_1", "stage=ci"),
            ("KUBERNETES_POD_LABELS_2", "gantry.pipeline=999"),
            ("KUBERNETES_POD_ANNOTATIONS_X", "note=hi"),
        ]);
        let s = resolve(&c, &e).unwrap();
        assert_eq!(s.labels.get("stage").map(String::as_str), Some("ci"));
        assert_eq!(s.labels.get("team").map(String::as_str), Some("a"));
        assert!(!s.labels.contains_key("gantry.pipeline"), "{:?}", s.labels);
        assert_eq!(s.annotations["note"], "hi");
        assert_eq!(
            s.tolerations,
            [
                json!({"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}),
                json!({"key": "spot", "operator": "Exists"}),
            ]
        );
        assert_eq!(s.pull_policy.as_deref(), Some("Never"));
        assert_eq!(s.image_pull_secrets, ["reg"]);
        let bad = env(&[("KUBERNETES_POD_LABELS_1", "Bad=x")]);
        assert!(resolve(&c, &bad).is_err());
    }
}
