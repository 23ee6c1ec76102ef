//! The labels and names of everything the runtime creates, so shutdown and `--cleanup` find it.

use std::collections::HashMap;

/// Present (`1`) on every container, network and volume kube-sim creates.
pub const LABEL_OWNER: &str = "kube-sim";
/// Names the kube-sim instance that created the object.
pub const LABEL_INSTANCE: &str = "kube-sim.instance";
/// The Kubernetes namespace the object belongs to.
pub const LABEL_NAMESPACE: &str = "kube-sim.namespace";
/// The pod (or Service, for service proxies) the object belongs to.
pub const LABEL_POD: &str = "kube-sim.pod";
/// The pod's uid.
pub const LABEL_UID: &str = "kube-sim.uid";
/// `infra`, `container`, `init`, `service` or `network`/`volume`.
pub const LABEL_ROLE: &str = "kube-sim.role";
/// The pod container's name (for containers).
pub const LABEL_CONTAINER: &str = "kube-sim.container";

/// Labels of an object of `instance` in `namespace`; `pod`/`uid` empty for namespace objects.
pub fn labels(
    instance: &str,
    namespace: &str,
    pod: &str,
    uid: &str,
    role: &str,
) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (LABEL_OWNER.to_string(), "1".to_string()),
        (LABEL_INSTANCE.to_string(), instance.to_string()),
        (LABEL_NAMESPACE.to_string(), namespace.to_string()),
        (LABEL_ROLE.to_string(), role.to_string()),
    ]);
    if !pod.is_empty() {
        l.insert(LABEL_POD.to_string(), pod.to_string());
    }
    if !uid.is_empty() {
        l.insert(LABEL_UID.to_string(), uid.to_string());
    }
    l
}

/// A Docker-safe name fragment (Docker allows `[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The Docker network of a namespace.
pub fn network_name(instance: &str, namespace: &str) -> String {
    format!("kube-sim-{}-{}", safe(instance), safe(namespace))
}

/// The first 8 characters of a uid, to keep container names unique yet readable.
pub fn short(uid: &str) -> String {
    safe(
        &uid.chars()
            .filter(|c| *c != '-')
            .take(8)
            .collect::<String>(),
    )
}
