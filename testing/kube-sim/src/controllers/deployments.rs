//! Deployments → pods (owned directly through ownerReferences; no ReplicaSets) and the status
//! `kubectl rollout status` reads: observedGeneration, replicas, updatedReplicas,
//! readyReplicas, availableReplicas and the Available/Progressing conditions. A template
//! change replaces pods: new ones are created first, old ones deleted once enough new are ready.

use crate::objects::{Target, create_object, delete_object};
use crate::resources;
use crate::state::State;
use serde_json::{Value, json};

/// A short stable hash of the pod template (the `pod-template-hash` label).
pub fn template_hash(template: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.to_string().bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|i| ALPHABET[((h >> (i * 6)) as usize) % ALPHABET.len()] as char)
        .collect()
}

fn owned_by<'a>(pods: &'a [Value], uid: &str) -> Vec<&'a Value> {
    pods.iter()
        .filter(|p| {
            p.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|r| {
                    r.iter()
                        .any(|x| x.get("uid").and_then(Value::as_str) == Some(uid))
                })
        })
        .collect()
}

fn new_pod(d: &Value, hash: &str) -> Value {
    let name = crate::meta::name(d);
    let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut md = template.get("metadata").cloned().unwrap_or(json!({}));
    if !md.is_object() {
        md = json!({});
    }
    md["name"] = format!("{name}-{hash}-{}", crate::meta::random_suffix(5)).into();
    if !md.get("labels").is_some_and(Value::is_object) {
        md["labels"] = json!({});
    }
    md["labels"]["pod-template-hash"] = hash.into();
    md["ownerReferences"] = json!([{
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
        "uid": crate::meta::uid(d),
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    json!({"metadata": md, "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

/// Reconciles every Deployment.
pub fn reconcile(state: &State) {
    let Some(pod_rt) = resources::find("", "v1", "pods") else {
        return;
    };
    let (deployments, _) = state.store.list("apps/deployments", None);
    for d in deployments {
        if crate::meta::is_terminating(&d) {
            continue;
        }
        let ns = crate::meta::namespace(&d).to_string();
        let (pods, _) = state.store.list("/pods", Some(&ns));
        let mine = owned_by(&pods, crate::meta::uid(&d));
        let live: Vec<&Value> = mine
            .iter()
            .copied()
            .filter(|p| !crate::meta::is_terminating(p))
            .collect();
        let hash = template_hash(d.pointer("/spec/template").unwrap_or(&Value::Null));
        let is_current = |p: &&Value| {
            p.pointer("/metadata/labels/pod-template-hash")
                .and_then(Value::as_str)
                == Some(hash.as_str())
        };
        let current: Vec<&Value> = live.iter().copied().filter(is_current).collect();
        let old: Vec<&Value> = live.iter().copied().filter(|p| !is_current(p)).collect();
        let desired = d
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1) as usize;
        let recreate = d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
        let ready_current = current.iter().filter(|p| crate::meta::pod_ready(p)).count();

        if recreate && !old.is_empty() {
            for p in &old {
                delete_object(state, pod_rt, p, "Background");
            }
        } else if current.len() < desired {
            let t = Target {
                rt: pod_rt,
                namespace: Some(ns.clone()),
                name: None,
                sub: None,
            };
            for _ in current.len()..desired {
                // Failure (e.g. the namespace is terminating) is retried next round.
                let _ = create_object(state, &t, new_pod(&d, &hash), false);
            }
        } else if current.len() > desired {
            let mut extra: Vec<&&Value> = current.iter().collect();
            extra.sort_by_key(|p| crate::meta::pod_ready(p));
            for p in extra.into_iter().take(current.len() - desired) {
                delete_object(state, pod_rt, p, "Background");
            }
        }
        if !old.is_empty() && (ready_current >= desired || desired == 0) {
            for p in &old {
                delete_object(state, pod_rt, p, "Background");
            }
        }

        let ready = live.iter().filter(|p| crate::meta::pod_ready(p)).count();
        let available = ready;
        let done = current.len() == desired && old.is_empty() && ready_current >= desired;
        let now = crate::meta::now_rfc3339();
        let prev_conditions = d
            .pointer("/status/conditions")
            .cloned()
            .unwrap_or(json!([]));
        let cond = |type_: &str, status: &str, reason: &str, message: String| {
            let same = prev_conditions.as_array().and_then(|cs| {
                cs.iter().find(|c| {
                    c.get("type").and_then(Value::as_str) == Some(type_)
                        && c.get("status").and_then(Value::as_str) == Some(status)
                        && c.get("reason").and_then(Value::as_str) == Some(reason)
                })
            });
            match same {
                Some(c) => c.clone(),
                None => {
                    json!({"type": type_, "status": status, "reason": reason, "message": message,
                               "lastUpdateTime": now, "lastTransitionTime": now})
                }
            }
        };
        let name = crate::meta::name(&d);
        let available_cond = if available >= desired {
            cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        };
        let progressing = if done {
            cond(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{name}-{hash}\" has successfully progressed."),
            )
        } else {
            cond(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{name}-{hash}\" is progressing."),
            )
        };
        let mut status = json!({
            "observedGeneration": d.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            "replicas": live.len(),
            "updatedReplicas": current.len(),
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [available_cond, progressing],
        });
        if desired > available {
            status["unavailableReplicas"] = json!(desired - available);
        }
        if d.get("status") != Some(&status) {
            let mut nd = d.clone();
            nd["status"] = status;
            let rv = d
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from);
            // A concurrent write wins; the next round recomputes.
            let _ = state.store.put("apps/deployments", nd, Some(rv.as_deref()));
        }
    }
}
