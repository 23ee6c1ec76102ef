//! What the runtime reports: pod status replaces the stored pod's `.status` (same uid only);
//! pod events become `Event` objects.

use crate::runtime::RuntimeEvent;
use crate::state::State;
use serde_json::json;

/// Applies one runtime report to the store.
pub fn handle(state: &State, ev: RuntimeEvent) {
    match ev {
        RuntimeEvent::PodStatus {
            namespace,
            name,
            uid,
            status,
        } => {
            // Retry a few times on concurrent writes to the same pod.
            for _ in 0..5 {
                let Some(mut pod) = state.store.get("/pods", &namespace, &name) else {
                    return;
                };
                if crate::meta::uid(&pod) != uid {
                    return;
                }
                if pod.get("status") == Some(&status) {
                    return;
                }
                let rv = pod
                    .pointer("/metadata/resourceVersion")
                    .and_then(|v| v.as_str())
                    .map(String::from);
                pod["status"] = status.clone();
                if state.store.put("/pods", pod, Some(rv.as_deref())).is_ok() {
                    return;
                }
            }
        }
        RuntimeEvent::PodEvent {
            namespace,
            name,
            uid,
            type_,
            reason,
            message,
        } => {
            record(state, &namespace, &name, &uid, &type_, &reason, &message);
        }
    }
}

/// Stores a core/v1 Event about a pod.
pub fn record(
    state: &State,
    namespace: &str,
    pod: &str,
    uid: &str,
    type_: &str,
    reason: &str,
    message: &str,
) {
    let Some(rt) = crate::resources::find("", "v1", "events") else {
        return;
    };
    let now = crate::meta::now_rfc3339();
    let ev = json!({
        "metadata": {"name": format!("{pod}.{}", crate::meta::random_suffix(10))},
        "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": namespace, "name": pod, "uid": uid},
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "kube-sim"},
        "reportingComponent": "kubelet",
        "reportingInstance": "kube-sim",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    let t = crate::objects::Target {
        rt,
        namespace: Some(namespace.to_string()),
        name: None,
        sub: None,
    };
    // The namespace may be going away; losing the event is fine then.
    let _ = crate::objects::create_object(state, &t, ev, false);
}
