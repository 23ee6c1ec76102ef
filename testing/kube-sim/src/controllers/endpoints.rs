//! Endpoints: each Service with a selector gets an Endpoints object listing its selected pods
//! (ready ones as `addresses`, others as `notReadyAddresses`), as `kubectl describe svc` shows.

use crate::objects::{Target, create_object};
use crate::selector::LabelSelector;
use crate::state::State;
use serde_json::{Value, json};

fn address(p: &Value) -> Option<Value> {
    let ip = p.pointer("/status/podIP").and_then(Value::as_str)?;
    Some(json!({
        "ip": ip,
        "nodeName": "kube-sim",
        "targetRef": {"kind": "Pod", "namespace": crate::meta::namespace(p), "name": crate::meta::name(p), "uid": crate::meta::uid(p)},
    }))
}

/// Brings every Service's Endpoints up to date.
pub fn reconcile(state: &State) {
    let Some(rt) = crate::resources::find("", "v1", "endpoints") else {
        return;
    };
    let (services, _) = state.store.list("/services", None);
    for svc in services {
        let Some(sel) = svc
            .pointer("/spec/selector")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        else {
            continue;
        };
        let sel = LabelSelector::from_object(sel);
        let ns = crate::meta::namespace(&svc).to_string();
        let name = crate::meta::name(&svc).to_string();
        let (pods, _) = state.store.list("/pods", Some(&ns));
        let selected: Vec<&Value> = pods
            .iter()
            .filter(|p| sel.matches(p) && !crate::meta::is_terminating(p))
            .collect();
        let ready: Vec<Value> = selected
            .iter()
            .filter(|p| crate::meta::pod_ready(p))
            .filter_map(|p| address(p))
            .collect();
        let not_ready: Vec<Value> = selected
            .iter()
            .filter(|p| !crate::meta::pod_ready(p))
            .filter_map(|p| address(p))
            .collect();
        let ports: Vec<Value> = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let target = p.get("targetPort").cloned().unwrap_or(Value::Null);
                        let port = if target.is_number() { target } else { p.get("port").cloned().unwrap_or(Value::Null) };
                        let mut e = json!({"port": port, "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
                        if let Some(n) = p.get("name") {
                            e["name"] = n.clone();
                        }
                        e
                    })
                    .collect()
            })
            .unwrap_or_default();
        let subsets = if ready.is_empty() && not_ready.is_empty() {
            json!([])
        } else {
            let mut s = json!({"ports": ports});
            if !ready.is_empty() {
                s["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                s["notReadyAddresses"] = json!(not_ready);
            }
            json!([s])
        };
        match state.store.get(&rt.key(), &ns, &name) {
            Some(cur) if cur.get("subsets") == Some(&subsets) => {}
            Some(mut cur) => {
                let rv = cur
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(String::from);
                cur["subsets"] = subsets;
                // A concurrent write wins; the next round recomputes.
                let _ = state.store.put(&rt.key(), cur, Some(rv.as_deref()));
            }
            None => {
                let t = Target {
                    rt,
                    namespace: Some(ns.clone()),
                    name: None,
                    sub: None,
                };
                // Owned by the Service so garbage collection removes it with the Service.
                let ep = json!({
                    "metadata": {
                        "name": name,
                        "labels": svc.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name, "uid": crate::meta::uid(&svc)}],
                    },
                    "subsets": subsets,
                });
                let _ = create_object(state, &t, ep, false);
            }
        }
    }
}
