//! The cluster's address as a job pod reaches it. The environment module hands jobs the address
//! gantry itself uses (or its Docker-bridge forwarder), which inside a pod may be the pod's own
//! loopback. Every pod gets the API server's in-cluster address from the kubelet
//! (`KUBERNETES_SERVICE_HOST`/`_PORT`, a name the server certificate covers), so once the pod
//! runs gantry reads it there and rewrites the job's `KUBE_URL` and kubeconfig to use it; without
//! it the environment module's address stays.

use crate::executor::{OutputSink, Stream};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `https://host:port` from the kubelet's service variables (IPv6 hosts bracketed); `None`
/// when the host is unset.
pub fn server_url(host: &str, port: &str) -> Option<String> {
    let host = host.trim();
    if host.is_empty() {
        return None;
    }
    let port = match port.trim() {
        "" => "443",
        p => p,
    };
    Some(if host.contains(':') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    })
}

fn var<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Whether the job carries environment credentials gantry wrote (its kubeconfig lies in the
/// job's scratch directory), which are the ones to rewrite.
pub fn has_credentials(env: &[(String, String)], scratch: &Path) -> bool {
    var(env, "KUBECONFIG").is_some_and(|k| Path::new(k).starts_with(scratch))
        && var(env, "KUBE_TOKEN").is_some()
        && var(env, "KUBE_NAMESPACE").is_some()
}

/// Rewrites the job's kubeconfig for `server` (no `tls-server-name`: the in-cluster address is
/// the certificate's own) and returns the variables that change.
pub fn rewrite(env: &[(String, String)], server: &str) -> std::io::Result<Vec<(String, String)>> {
    let (Some(path), Some(token), Some(ns)) = (
        var(env, "KUBECONFIG"),
        var(env, "KUBE_TOKEN"),
        var(env, "KUBE_NAMESPACE"),
    ) else {
        return Ok(Vec::new());
    };
    let text = crate::environment::objects::kubeconfig(
        server,
        var(env, "KUBE_CA_PEM").filter(|c| !c.is_empty()),
        None,
        ns,
        token,
    );
    std::fs::write(path, text)?;
    Ok(vec![("KUBE_URL".to_string(), server.to_string())])
}

/// Collects what a helper command prints.
#[derive(Default)]
struct Capture(Mutex<Vec<u8>>);

impl OutputSink for Capture {
    fn write(&self, stream: Stream, data: &[u8]) {
        if stream == Stream::Stdout
            && let Ok(mut b) = self.0.lock()
        {
            b.extend_from_slice(data);
        }
    }
}

/// The API server's in-cluster URL as the kubelet told the running pod; `None` when it did not.
pub async fn probe(api: &Api<Pod>, pod: &str) -> Option<String> {
    let capture = Arc::new(Capture::default());
    let cmd = vec![
        "sh".to_string(),
        "-c".into(),
        "echo \"${KUBERNETES_SERVICE_HOST:-} ${KUBERNETES_SERVICE_PORT:-}\"".into(),
    ];
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        super::exec::run(api.clone(), pod.to_string(), cmd, capture.clone()),
    )
    .await;
    if !matches!(done, Ok(Ok(0))) {
        return None;
    }
    let text = String::from_utf8(capture.0.lock().ok()?.clone()).ok()?;
    let mut parts = text.split_whitespace();
    server_url(parts.next()?, parts.next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_from_the_service_variables() {
        assert_eq!(
            server_url("10.96.0.1", "443").as_deref(),
            Some("https://10.96.0.1:443")
        );
        assert_eq!(
            server_url("fd00::1", "6443").as_deref(),
            Some("https://[fd00::1]:6443")
        );
        assert_eq!(
            server_url("172.17.0.1", "").as_deref(),
            Some("https://172.17.0.1:443")
        );
        assert_eq!(server_url(" ", "443"), None);
    }

    #[test]
    fn rewrites_only_gantrys_own_kubeconfig() {
        let tmp = tempfile::tempdir().unwrap();
        let scratch = tmp.path().join("scratch");
        std::fs::create_dir_all(scratch.join("kube")).unwrap();
        let config = scratch.join("kube/config");
        std::fs::write(&config, "old").unwrap();
        let mut env = vec![
            ("KUBECONFIG".to_string(), config.display().to_string()),
            ("KUBE_URL".into(), "https://127.0.0.1:6443".into()),
            ("KUBE_TOKEN".into(), "tok".into()),
            ("KUBE_NAMESPACE".into(), "review-x".into()),
            ("KUBE_CA_PEM".into(), "PEM".into()),
        ];
        assert!(has_credentials(&env, &scratch));
        assert!(!has_credentials(&env, &tmp.path().join("other")));
        let vars = rewrite(&env, "https://10.96.0.1:443").unwrap();
        assert_eq!(vars, [("KUBE_URL".into(), "https://10.96.0.1:443".into())]);
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains("https://10.96.0.1:443"), "{text}");
        assert!(text.contains("review-x") && text.contains("tok"), "{text}");
        assert!(
            !text.contains("127.0.0.1") && !text.contains("tls-server-name"),
            "{text}"
        );
        env.retain(|(k, _)| k != "KUBE_TOKEN");
        assert!(!has_credentials(&env, &scratch));
    }
}
