//! Pods → the container runtime: new pods are started (after their namespace network exists),
//! terminating pods are stopped and then removed from the store. Without a runtime, pods stay
//! `Pending` with a `PodScheduled=False` condition saying why.

use crate::state::State;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// Which pods the controller already handed to the runtime.
#[derive(Default)]
pub struct Memory {
    started: HashSet<String>,
    deleting: HashSet<String>,
}

fn set_unschedulable(state: &State, pod: &Value, reason: &str, message: &str) {
    let already = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.get("reason").and_then(Value::as_str) == Some(reason))
        });
    if already {
        return;
    }
    let mut p = pod.clone();
    p["status"] = json!({
        "phase": "Pending",
        "qosClass": "BestEffort",
        "conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastTransitionTime": crate::meta::now_rfc3339(),
        }],
    });
    let rv = pod
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(String::from);
    let _ = state.store.put("/pods", p, Some(rv.as_deref()));
}

/// Starts new pods and finishes deleting terminating ones.
pub fn reconcile(state: &State, memory: &mut Memory) {
    let (pods, _) = state.store.list("/pods", None);
    let live: HashSet<String> = pods
        .iter()
        .map(|p| crate::meta::uid(p).to_string())
        .collect();
    memory.started.retain(|u| live.contains(u));
    memory.deleting.retain(|u| live.contains(u));
    for pod in pods {
        let uid = crate::meta::uid(&pod).to_string();
        let ns = crate::meta::namespace(&pod).to_string();
        let name = crate::meta::name(&pod).to_string();
        let Some(rt) = state.runtime.clone() else {
            if !crate::meta::is_terminating(&pod) {
                set_unschedulable(state, &pod, "NoContainerRuntime", &state.no_runtime_reason);
            }
            continue;
        };
        if crate::meta::is_terminating(&pod) {
            if memory.deleting.insert(uid.clone()) {
                let grace = pod
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(30);
                let store = state.store.clone();
                tokio::spawn(async move {
                    rt.delete_pod(&ns, &name, Duration::from_secs(grace)).await;
                    if store
                        .get("/pods", &ns, &name)
                        .is_some_and(|p| crate::meta::uid(&p) == uid)
                    {
                        store.remove("/pods", &ns, &name);
                    }
                });
            }
            continue;
        }
        if memory.started.insert(uid.clone()) {
            let store = state.store.clone();
            let lookup_pod = pod.clone();
            let report = state.runtime_events.clone();
            tokio::spawn(async move {
                let result = match rt.ensure_namespace(&ns).await {
                    Ok(()) => rt.start_pod(lookup_pod).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    let still_there = store
                        .get("/pods", &ns, &name)
                        .is_some_and(|p| crate::meta::uid(&p) == uid);
                    if still_there {
                        let _ = report.send(crate::runtime::RuntimeEvent::PodEvent {
                            namespace: ns.clone(),
                            name: name.clone(),
                            uid: uid.clone(),
                            type_: "Warning".into(),
                            reason: "FailedCreatePodContainer".into(),
                            message: e.to_string(),
                        });
                    }
                }
            });
        }
    }
}
