//! A job's image-pull Secret: the registry credentials `registry_auth` finds for the job's
//! image and its services' (from the job's `DOCKER_AUTH_CONFIG`, gantry's environment, the
//! user's Docker configuration and helpers, `CI_REGISTRY_*` — as GitLab Runner's Kubernetes
//! executor gathers them), as a `kubernetes.io/dockerconfigjson` Secret beside the pod in the
//! job's namespace, named in the pod's `imagePullSecrets`. It carries the pod's labels (so
//! teardown and `gantry gc` find it), is owned by the pod once the pod exists (so the cluster
//! deletes it with the pod, also when gantry dies), and is deleted right after the pod.
//! The credentials go from gantry's memory to the API server only: no file, no argument.

use crate::environment::objects;
use crate::executor::registry_auth::{self, Found, Sources};
use crate::executor::{ExecutorError, JobSpec, Sink};
use base64::Engine;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The Secret's name for pod `pod` (pod names are ≤ 63 characters; Secret names may be 253).
pub fn name(pod: &str) -> String {
    format!("{pod}-registry")
}

/// The credentials for each of `images` that has some, once per registry path.
pub async fn credentials(images: &[&str], env: &[(String, String)], out: &Sink) -> Vec<Found> {
    let sources = Sources::for_job(env);
    let mut found: Vec<Found> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for image in images {
        if seen.contains(image) {
            continue;
        }
        seen.push(image);
        if let Some(f) = registry_auth::for_image(image, &sources, out).await
            && !found.iter().any(|g| g.registry == f.registry)
        {
            found.push(f);
        }
    }
    found
}

/// The Secret object: `labels` (the pod's owner labels) and the job's, `found` as its
/// `.dockerconfigjson`.
pub fn secret(
    name: &str,
    ns: &str,
    labels: &[(String, String)],
    job: &str,
    found: &[Found],
) -> Value {
    let mut all = serde_json::Map::new();
    all.insert(objects::MANAGED_BY.0.into(), objects::MANAGED_BY.1.into());
    for (k, v) in labels {
        all.insert(k.clone(), Value::String(v.clone()));
    }
    all.insert(super::pod::JOB.into(), super::pod::label_value(job).into());
    let config = registry_auth::docker_config_json(found).to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": ns, "labels": all},
        "data": {
            ".dockerconfigjson":
                base64::engine::general_purpose::STANDARD.encode(config.as_bytes()),
        },
    })
}

/// Creates the Secret `value` in `ns`; the error names it, never its content.
pub async fn create(client: &kube::Client, ns: &str, value: Value) -> Result<(), ExecutorError> {
    let refused = |message: String| ExecutorError::PullSecret {
        name: value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        namespace: ns.to_string(),
        message,
    };
    let secret: Secret = serde_json::from_value(value.clone()).map_err(|e| {
        // serde's message could quote the data: only where it failed.
        refused(format!(
            "not a Secret (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .map(|_| ())
        .map_err(|e| refused(crate::environment::cluster::error_chain(&e)))
}

/// Makes `pod` the Secret's owner, so the cluster deletes it with the pod. A failure only
/// leaves it to teardown and `gantry gc`.
pub async fn own(client: &kube::Client, ns: &str, name: &str, pod: &Pod) {
    let (Some(pod_name), Some(uid)) = (&pod.metadata.name, &pod.metadata.uid) else {
        return;
    };
    let patch = json!({"metadata": {"ownerReferences": [{
        "apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": uid,
    }]}});
    let _ = Api::<Secret>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
}

/// Deletes the Secret (already gone with its pod, mostly).
pub async fn delete(client: &kube::Client, ns: &str, name: &str) {
    let _ = Api::<Secret>::namespaced(client.clone(), ns)
        .delete(name, &DeleteParams::default())
        .await;
}

/// Creates pod `pod`'s pull Secret in `ns` when any of `images` (the job's and its services',
/// after `--image-map`) has registry credentials; returns its name for `imagePullSecrets`.
pub async fn prepare(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    labels: &[(String, String)],
    job: &JobSpec,
    images: &[&str],
    out: &Sink,
) -> Result<Option<String>, ExecutorError> {
    let found = credentials(images, &job.env, out).await;
    if found.is_empty() {
        return Ok(None);
    }
    let name = name(pod);
    create(client, ns, secret(&name, ns, labels, &job.name, &found)).await?;
    Ok(Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::registry_auth::{Credentials, Origin};

    #[test]
    fn the_secret_holds_the_credentials_under_gantrys_labels() {
        let found = [Found {
            registry: "127.0.0.1:5000".into(),
            origin: Origin::JobVariable,
            helper: None,
            credentials: Credentials {
                username: "u".into(),
                password: "p".into(),
                ..Credentials::default()
            },
        }];
        let labels = [
            ("gantry.pipeline".to_string(), "7".to_string()),
            ("gantry.pid".to_string(), "42".to_string()),
        ];
        let v = secret("pod-1-registry", "ns", &labels, "build job", &found);
        assert_eq!(v["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(v["metadata"]["namespace"], "ns");
        assert_eq!(
            v["metadata"]["labels"],
            json!({
                "app.kubernetes.io/managed-by": "gantry",
                "gantry.pipeline": "7",
                "gantry.pid": "42",
                "gantry.job": "build_job",
            })
        );
        let data = v["data"][".dockerconfigjson"].as_str().unwrap();
        let config: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            config,
            json!({"auths": {"127.0.0.1:5000": {"username": "u", "password": "p", "auth": "dTpw"}}})
        );
        // It decodes as the API's Secret, and names none of its content in its metadata.
        let s: Secret = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
        assert!(!v["metadata"].to_string().contains("dTpw"));
        assert_eq!(name("gantry-7-build-1a2"), "gantry-7-build-1a2-registry");
    }
}
