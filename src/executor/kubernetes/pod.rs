//! The pod a job runs in, as Kubernetes JSON: the job image kept alive by a sleep loop (gantry
//! execs the script into it), the workspace and scratch directories on emptyDirs at the same
//! paths as on the host (so every path in the job's variables stays valid), labels naming the
//! pipeline and job, and a deadline. Pure: building it needs no cluster.

use crate::environment::name::dns_label;
use crate::environment::objects;
use serde_json::{Value, json};
use std::path::Path;

/// Label: the job's name, as a label value.
pub const JOB: &str = "gantry.job";
/// The container the script runs in.
pub const CONTAINER: &str = "build";

/// Keeps the container up until the pod is deleted; exits promptly on SIGTERM.
pub const KEEPALIVE: &str = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

/// What a job's pod is made of.
#[derive(Clone, Debug)]
pub struct PodPlan<'a> {
    /// Pod name (a DNS-1123 label).
    pub name: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Image, after `--image-map`.
    pub image: &'a str,
    /// `image:entrypoint` of the job (`[""]` clears the image's).
    pub entrypoint: Option<&'a [String]>,
    /// Job variables.
    pub env: &'a [(String, String)],
    /// `CI_PROJECT_DIR`.
    pub workspace: &'a Path,
    /// Where the generated scripts live.
    pub scratch: &'a Path,
    /// Owner labels (pipeline, pid, host).
    pub labels: &'a [(String, String)],
    /// Job name.
    pub job: &'a str,
    /// `activeDeadlineSeconds`: the cluster's own stop, should gantry itself die.
    pub deadline: Option<u64>,
    /// `imagePullPolicy`.
    pub pull: &'a str,
    /// Seconds between SIGTERM and SIGKILL when the pod is deleted.
    pub grace: u64,
    /// User to run as (numeric only: Kubernetes has no user names).
    pub user: Option<i64>,
}

/// A pod name for `job` of `pipeline`: a DNS-1123 label unique per attempt.
pub fn pod_name(pipeline: &str, job: &str, unique: &str) -> String {
    let head = dns_label(&format!("{pipeline}-{job}"));
    let keep = 62usize.saturating_sub(unique.len());
    let head: String = head.chars().take(keep).collect();
    format!("{}-{unique}", head.trim_end_matches('-'))
}

/// `text` as a label value (≤ 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends).
pub fn label_value(text: &str) -> String {
    let v: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// The Pod object.
pub fn pod(p: &PodPlan) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert(objects::MANAGED_BY.0.into(), objects::MANAGED_BY.1.into());
    for (k, v) in p.labels {
        labels.insert(k.clone(), Value::String(v.clone()));
    }
    labels.insert(JOB.into(), label_value(p.job).into());
    let keepalive = vec!["sh".to_string(), "-c".into(), KEEPALIVE.into()];
    // As GitLab's Kubernetes executor honouring the entrypoint: an explicit entrypoint runs
    // with the keep-alive shell as its arguments (entrypoints that `exec "$@"` hand over to it);
    // none (or `[""]`) means the image's entrypoint is replaced by the shell.
    let (command, args) = match p.entrypoint.filter(|e| !e.iter().all(|s| s.is_empty())) {
        Some(e) => (e.to_vec(), keepalive),
        None => (keepalive, Vec::new()),
    };
    let env: Vec<Value> = p
        .env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let mut container = json!({
        "name": CONTAINER,
        "image": p.image,
        "imagePullPolicy": p.pull,
        "command": command,
        "env": env,
        "workingDir": p.workspace.display().to_string(),
        "volumeMounts": [
            {"name": "workspace", "mountPath": p.workspace.display().to_string()},
            {"name": "scratch", "mountPath": p.scratch.display().to_string()},
        ],
    });
    if !args.is_empty() {
        container["args"] = json!(args);
    }
    if let Some(uid) = p.user {
        container["securityContext"] = json!({"runAsUser": uid});
    }
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": p.grace,
        "containers": [container],
        "volumes": [
            {"name": "workspace", "emptyDir": {}},
            {"name": "scratch", "emptyDir": {}},
        ],
    });
    if let Some(d) = p.deadline {
        spec["activeDeadlineSeconds"] = json!(d);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": p.name, "namespace": p.namespace, "labels": labels},
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan<'a>(entrypoint: Option<&'a [String]>, env: &'a [(String, String)]) -> PodPlan<'a> {
        PodPlan {
            name: "p",
            namespace: "ns",
            image: "img:1",
            entrypoint,
            env,
            workspace: Path::new("/w/job"),
            scratch: Path::new("/w/scratch"),
            labels: &[],
            job: "build: [a, b]",
            deadline: Some(90),
            pull: "Never",
            grace: 3,
            user: None,
        }
    }

    #[test]
    fn pod_keeps_paths_labels_and_deadline() {
        let env = [("CI_PROJECT_DIR".to_string(), "/w/job".to_string())];
        let p = pod(&plan(None, &env));
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["command"][2], KEEPALIVE);
        assert!(c.get("args").is_none());
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/w/job");
        assert_eq!(c["env"][0]["value"], "/w/job");
        assert_eq!(c["imagePullPolicy"], "Never");
        assert_eq!(p["spec"]["activeDeadlineSeconds"], 90);
        assert_eq!(p["metadata"]["labels"][JOB], "build___a__b");
    }

    #[test]
    fn explicit_entrypoint_gets_the_keepalive_as_arguments() {
        let e = vec!["/init".to_string()];
        let p = pod(&plan(Some(&e), &[]));
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["/init"]));
        assert_eq!(c["args"][2], KEEPALIVE);
        let cleared = vec![String::new()];
        let p = pod(&plan(Some(&cleared), &[]));
        assert_eq!(p["spec"]["containers"][0]["command"][0], "sh");
    }

    #[test]
    fn names_are_dns_labels() {
        let n = pod_name("gantry-7", &"Very Long Job Name ".repeat(8), "abc12");
        assert!(n.len() <= 63 && n.ends_with("-abc12"), "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
