//! The Docker container for a pod container: Kubernetes `command`/`args` over the image's
//! entrypoint/cmd, environment, mounts, user, TTY/stdin, joined to the infra container's
//! network namespace (`network_mode: container:<infra>`).

use super::env::expand;
use bollard::models::{ContainerCreateBody, HostConfig, Mount};
use serde_json::Value;
use std::collections::HashMap;

/// Kubernetes semantics: `command` replaces the entrypoint (and drops the image's cmd),
/// `args` replace the cmd; both expand `$(VAR)` from the container's environment.
pub fn entrypoint_and_cmd(c: &Value, env: &[String]) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let vars: Vec<(String, String)> = env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let list = |field: &str| {
        c.get(field).and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .map(|s| expand(s.as_str().unwrap_or(""), &vars))
                .collect::<Vec<_>>()
        })
    };
    let command = list("command");
    let args = list("args");
    match command {
        Some(cmd) => (Some(cmd), Some(args.unwrap_or_default())),
        None => (None, args),
    }
}

/// The create body of a pod container.
pub fn container_body(
    pod_sc: Option<&Value>,
    c: &Value,
    image: &str,
    env: Vec<String>,
    mounts: Vec<Mount>,
    infra_id: &str,
    labels: HashMap<String, String>,
) -> ContainerCreateBody {
    let (entrypoint, cmd) = entrypoint_and_cmd(c, &env);
    let flag = |f: &str| c.get(f).and_then(|v| v.as_bool()).unwrap_or(false);
    let sc = c.get("securityContext");
    // The container's securityContext wins over the pod's.
    let id = |field: &str| {
        sc.and_then(|s| s.get(field))
            .or_else(|| pod_sc.and_then(|s| s.get(field)))
            .and_then(|u| u.as_i64())
    };
    let user = id("runAsUser").map(|u| match id("runAsGroup") {
        Some(g) => format!("{u}:{g}"),
        None => u.to_string(),
    });
    let limit = |r: &str| {
        c.pointer(&format!("/resources/limits/{r}")).and_then(|q| {
            q.as_str()
                .map(str::to_string)
                .or_else(|| q.as_f64().map(|f| f.to_string()))
        })
    };
    let privileged = sc
        .and_then(|s| s.get("privileged"))
        .and_then(|p| p.as_bool());
    ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint,
        cmd,
        env: Some(env),
        working_dir: c
            .get("workingDir")
            .and_then(|w| w.as_str())
            .map(str::to_string),
        tty: Some(flag("tty")),
        open_stdin: Some(flag("stdin")),
        stdin_once: Some(flag("stdinOnce")),
        attach_stdin: Some(flag("stdin")),
        user,
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{infra_id}")),
            mounts: Some(mounts),
            privileged,
            memory: limit("memory").and_then(|q| quantity(&q)).map(|b| b as i64),
            nano_cpus: limit("cpu")
                .and_then(|q| quantity(&q))
                .map(|c| (c * 1e9) as i64),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A Kubernetes quantity (`128Mi`, `1G`, `500m`, `0.5`, `2e3`) as a number.
pub fn quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let units: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(quantity("128Mi"), Some(134_217_728.0));
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("1G"), Some(1e9));
        assert_eq!(quantity("x"), None);
    }

    #[test]
    fn security_context_and_limits() {
        let pod_sc = json!({"runAsUser": 1000, "runAsGroup": 3000});
        let c = json!({"securityContext": {"runAsUser": 2000}, "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}});
        let b = container_body(
            Some(&pod_sc),
            &c,
            "img",
            vec![],
            vec![],
            "infra",
            HashMap::new(),
        );
        assert_eq!(b.user.as_deref(), Some("2000:3000"));
        let h = b.host_config.unwrap_or_default();
        assert_eq!(
            (h.memory, h.nano_cpus),
            (Some(67_108_864), Some(250_000_000))
        );
        assert_eq!(h.network_mode.as_deref(), Some("container:infra"));
    }

    #[test]
    fn command_replaces_entrypoint_and_drops_cmd() {
        let env = vec!["X=1".to_string()];
        let c = json!({"command": ["sh", "-c"], "args": ["echo $(X)"]});
        assert_eq!(
            entrypoint_and_cmd(&c, &env),
            (
                Some(vec!["sh".into(), "-c".into()]),
                Some(vec!["echo 1".into()])
            )
        );
        let c = json!({"command": ["true"]});
        assert_eq!(
            entrypoint_and_cmd(&c, &env),
            (Some(vec!["true".into()]), Some(vec![]))
        );
        let c = json!({"args": ["a"]});
        assert_eq!(entrypoint_and_cmd(&c, &env), (None, Some(vec!["a".into()])));
        assert_eq!(entrypoint_and_cmd(&json!({}), &env), (None, None));
    }
}
