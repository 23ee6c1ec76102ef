//! A container's environment with Kubernetes semantics: `envFrom`, then `env` (later wins),
//! `valueFrom` (configMapKeyRef, secretKeyRef, fieldRef), `$(VAR)` expansion, and the
//! KUBERNETES_SERVICE_* variables pointing at kube-sim.

use super::ObjectLookup;
use base64::Engine;
use serde_json::Value;

/// Why a container's configuration cannot be built (`CreateContainerConfigError`).
pub type ConfigError = String;

/// Everything a value reference can be resolved against.
pub struct Context<'a> {
    /// The pod JSON.
    pub pod: &'a Value,
    /// The pod's IP (empty before the infra container has one).
    pub pod_ip: &'a str,
    /// ConfigMaps and Secrets.
    pub lookup: &'a dyn ObjectLookup,
    /// API server address for KUBERNETES_SERVICE_*.
    pub api_host: &'a str,
    /// API server port.
    pub api_port: u16,
}

impl Context<'_> {
    fn namespace(&self) -> &str {
        str_at(self.pod, "/metadata/namespace").unwrap_or("default")
    }

    /// A key of a ConfigMap or Secret (decoded); Ok(None) when optional and absent.
    pub fn key(
        &self,
        kind: &str,
        name: &str,
        key: &str,
        optional: bool,
    ) -> Result<Option<Vec<u8>>, ConfigError> {
        let lower = kind.to_ascii_lowercase();
        let Some(obj) = self.lookup.get(self.namespace(), kind, name) else {
            return if optional {
                Ok(None)
            } else {
                Err(format!("{lower} \"{name}\" not found"))
            };
        };
        match data(&obj).into_iter().find(|(k, _)| k == key) {
            Some((_, v)) => Ok(Some(v)),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {key} in {kind} {}/{name}",
                self.namespace()
            )),
        }
    }

    /// A downward-API field (`metadata.name`, `status.podIP`, `metadata.labels['x']` …).
    pub fn field(&self, path: &str) -> Result<String, ConfigError> {
        let pod = self.pod;
        let s = |p: &str| str_at(pod, p).unwrap_or("").to_string();
        if let Some(rest) = path
            .strip_prefix("metadata.labels['")
            .or_else(|| path.strip_prefix("metadata.annotations['"))
        {
            let map = if path.starts_with("metadata.labels") {
                "/metadata/labels"
            } else {
                "/metadata/annotations"
            };
            let key = rest.trim_end_matches("']");
            return Ok(pod
                .pointer(map)
                .and_then(|m| m.get(key))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string());
        }
        Ok(match path {
            "metadata.name" => s("/metadata/name"),
            "metadata.namespace" => self.namespace().to_string(),
            "metadata.uid" => s("/metadata/uid"),
            "metadata.labels" | "metadata.annotations" => {
                let map = if path == "metadata.labels" {
                    "/metadata/labels"
                } else {
                    "/metadata/annotations"
                };
                let mut lines: Vec<String> = pod
                    .pointer(map)
                    .and_then(|m| m.as_object())
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                lines.sort();
                lines.join("\n")
            }
            "spec.nodeName" => str_at(pod, "/spec/nodeName")
                .unwrap_or("kube-sim")
                .to_string(),
            "spec.serviceAccountName" => str_at(pod, "/spec/serviceAccountName")
                .unwrap_or("default")
                .to_string(),
            "status.podIP" | "status.podIPs" => self.pod_ip.to_string(),
            "status.hostIP" | "status.hostIPs" => self.api_host.to_string(),
            other => return Err(format!("unsupported fieldRef fieldPath {other:?}")),
        })
    }
}

/// The `KEY=value` list for a container, in Kubernetes precedence.
pub fn environment(ctx: &Context, container: &Value) -> Result<Vec<String>, ConfigError> {
    let mut vars: Vec<(String, String)> = vec![
        ("KUBERNETES_SERVICE_HOST".into(), ctx.api_host.to_string()),
        ("KUBERNETES_SERVICE_PORT".into(), ctx.api_port.to_string()),
        (
            "KUBERNETES_SERVICE_PORT_HTTPS".into(),
            ctx.api_port.to_string(),
        ),
        (
            "KUBERNETES_PORT".into(),
            format!("tcp://{}:{}", ctx.api_host, ctx.api_port),
        ),
        (
            format!("KUBERNETES_PORT_{}_TCP", ctx.api_port),
            format!("tcp://{}:{}", ctx.api_host, ctx.api_port),
        ),
    ];
    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| {
        vars.retain(|(old, _)| *old != k);
        vars.push((k, v));
    };
    for from in container
        .get("envFrom")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
    {
        let prefix = from.get("prefix").and_then(|p| p.as_str()).unwrap_or("");
        let (kind, r) = match (from.get("configMapRef"), from.get("secretRef")) {
            (Some(r), _) => ("ConfigMap", r),
            (_, Some(r)) => ("Secret", r),
            _ => continue,
        };
        let name = r.get("name").and_then(|n| n.as_str()).unwrap_or("");
        let optional = r.get("optional").and_then(|o| o.as_bool()).unwrap_or(false);
        match ctx.lookup.get(ctx.namespace(), kind, name) {
            Some(obj) => {
                for (k, v) in data(&obj) {
                    set(
                        &mut vars,
                        format!("{prefix}{k}"),
                        String::from_utf8_lossy(&v).into_owned(),
                    );
                }
            }
            None if optional => {}
            None => {
                return Err(format!(
                    "{} \"{name}\" not found",
                    kind.to_ascii_lowercase()
                ));
            }
        }
    }
    for e in container
        .get("env")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
    {
        let Some(name) = e.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let value = if let Some(v) = e.get("value").and_then(|v| v.as_str()) {
            expand(v, &vars)
        } else if let Some(from) = e.get("valueFrom") {
            match value_from(ctx, from)? {
                Some(v) => v,
                None => continue,
            }
        } else {
            String::new()
        };
        set(&mut vars, name.to_string(), value);
    }
    Ok(vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

fn value_from(ctx: &Context, from: &Value) -> Result<Option<String>, ConfigError> {
    for (field, kind) in [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")] {
        if let Some(r) = from.get(field) {
            let name = r.get("name").and_then(|n| n.as_str()).unwrap_or("");
            let key = r.get("key").and_then(|n| n.as_str()).unwrap_or("");
            let optional = r.get("optional").and_then(|o| o.as_bool()).unwrap_or(false);
            return Ok(ctx
                .key(kind, name, key, optional)?
                .map(|v| String::from_utf8_lossy(&v).into_owned()));
        }
    }
    if let Some(path) = from.pointer("/fieldRef/fieldPath").and_then(|p| p.as_str()) {
        return ctx.field(path).map(Some);
    }
    if from.get("resourceFieldRef").is_some() {
        return Err("resourceFieldRef is not supported by kube-sim".into());
    }
    Ok(None)
}

/// Expands `$(VAR)` from earlier variables; `$$(VAR)` stays literal `$(VAR)`; unknown stay as is.
pub fn expand(s: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("$$") {
            out.push('$');
            rest = &tail[2..];
        } else if let Some(body) = tail.strip_prefix("$(")
            && let Some(end) = body.find(')')
        {
            let name = &body[..end];
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&tail[..end + 3]),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A ConfigMap's `data` + `binaryData` or a Secret's `data` (base64) + `stringData`, decoded.
pub fn data(obj: &Value) -> Vec<(String, Vec<u8>)> {
    let secret =
        obj.get("kind").and_then(|k| k.as_str()) == Some("Secret") || obj.get("type").is_some();
    let mut out = Vec::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(m) = obj.get("data").and_then(|d| d.as_object()) {
        for (k, v) in m {
            let s = v.as_str().unwrap_or("");
            let bytes = if secret {
                b64.decode(s).unwrap_or_else(|_| s.as_bytes().to_vec())
            } else {
                s.as_bytes().to_vec()
            };
            out.push((k.clone(), bytes));
        }
    }
    for field in ["binaryData", "stringData"] {
        if let Some(m) = obj.get(field).and_then(|d| d.as_object()) {
            for (k, v) in m {
                let s = v.as_str().unwrap_or("");
                let bytes = if field == "binaryData" {
                    b64.decode(s).unwrap_or_default()
                } else {
                    s.as_bytes().to_vec()
                };
                out.retain(|(old, _)| old != k);
                out.push((k.clone(), bytes));
            }
        }
    }
    out
}

/// The string at a JSON pointer.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(|s| s.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_kubernetes() {
        let vars = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &vars), "x-$(B)-$(A)-$");
    }

    #[test]
    fn secret_data_is_decoded() {
        let s =
            serde_json::json!({"kind": "Secret", "data": {"k": "aGk="}, "stringData": {"s": "t"}});
        assert_eq!(
            data(&s),
            vec![("k".into(), b"hi".to_vec()), ("s".into(), b"t".to_vec())]
        );
    }
}
