//! Services → the runtime's DNS: each Service name resolves to its ready selected pods; the
//! runtime is told only when the set of backends or ports changes.

use crate::runtime::ServicePort;
use crate::selector::LabelSelector;
use crate::state::State;
use serde_json::Value;
use std::collections::HashMap;

/// The backends last sent to the runtime, per (namespace, service).
#[derive(Default)]
pub struct Memory {
    sent: HashMap<(String, String), (Vec<String>, Vec<ServicePort>)>,
}

fn target_port(p: &Value, pods: &[Value]) -> u16 {
    let port = p.get("port").and_then(Value::as_u64).unwrap_or(0) as u16;
    match p.get("targetPort") {
        Some(Value::Number(n)) => n.as_u64().map(|n| n as u16).unwrap_or(port),
        Some(Value::String(s)) => {
            if let Ok(n) = s.parse::<u16>() {
                return n;
            }
            for pod in pods {
                let found = pod
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|c| {
                        c.get("ports")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                    })
                    .find(|cp| cp.get("name").and_then(Value::as_str) == Some(s.as_str()))
                    .and_then(|cp| cp.get("containerPort").and_then(Value::as_u64));
                if let Some(n) = found {
                    return n as u16;
                }
            }
            port
        }
        _ => port,
    }
}

/// Recomputes every Service's ready backends.
pub fn reconcile(state: &State, memory: &mut Memory) {
    let Some(rt) = state.runtime.clone() else {
        return;
    };
    let (services, _) = state.store.list("/services", None);
    let mut seen = Vec::new();
    for svc in services {
        let ns = crate::meta::namespace(&svc).to_string();
        let name = crate::meta::name(&svc).to_string();
        seen.push((ns.clone(), name.clone()));
        let Some(sel) = svc
            .pointer("/spec/selector")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        else {
            continue;
        };
        let sel = LabelSelector::from_object(sel);
        let (pods, _) = state.store.list("/pods", Some(&ns));
        let ready: Vec<Value> = pods
            .into_iter()
            .filter(|p| {
                sel.matches(p) && crate::meta::pod_ready(p) && !crate::meta::is_terminating(p)
            })
            .collect();
        let mut names: Vec<String> = ready
            .iter()
            .map(|p| crate::meta::name(p).to_string())
            .collect();
        names.sort();
        let ports: Vec<ServicePort> = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| ServicePort {
                        name: p.get("name").and_then(Value::as_str).map(String::from),
                        port: p.get("port").and_then(Value::as_u64).unwrap_or(0) as u16,
                        target_port: target_port(p, &ready),
                        protocol: p
                            .get("protocol")
                            .and_then(Value::as_str)
                            .unwrap_or("TCP")
                            .to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let key = (ns.clone(), name.clone());
        if memory.sent.get(&key) == Some(&(names.clone(), ports.clone())) {
            continue;
        }
        memory.sent.insert(key, (names.clone(), ports.clone()));
        let rt = rt.clone();
        tokio::spawn(async move { rt.set_service_backends(&ns, &name, names, ports).await });
    }
    // Deleted Services: clear their names.
    let gone: Vec<(String, String)> = memory
        .sent
        .keys()
        .filter(|k| !seen.contains(k))
        .cloned()
        .collect();
    for (ns, name) in gone {
        memory.sent.remove(&(ns.clone(), name.clone()));
        let rt = rt.clone();
        tokio::spawn(async move {
            rt.set_service_backends(&ns, &name, Vec::new(), Vec::new())
                .await
        });
    }
}
