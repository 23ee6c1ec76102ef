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
    let user = sc
        .and_then(|s| s.get("runAsUser"))
        .and_then(|u| u.as_i64())
        .map(|u| {
            match sc
                .and_then(|s| s.get("runAsGroup"))
                .and_then(|g| g.as_i64())
            {
                Some(g) => format!("{u}:{g}"),
                None => u.to_string(),
            }
        });
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
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
