//! Server-side printing (`meta.k8s.io/v1 Table`), which `kubectl get` asks for by default.

use crate::resources::ResourceType;
use serde_json::{Value, json};

fn age(o: &Value) -> String {
    let created = o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(crate::meta::parse_rfc3339);
    let Some(c) = created else {
        return "<unknown>".into();
    };
    let s = (crate::meta::now_secs() - c).max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn s<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn n(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn pod_status(o: &Value) -> String {
    if crate::meta::is_terminating(o) {
        return "Terminating".into();
    }
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            return r.into();
        }
        if let Some(r) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            if s(o, "/status/phase") != "Succeeded" {
                return r.into();
            }
        }
    }
    let phase = s(o, "/status/phase");
    if phase.is_empty() {
        "Pending".into()
    } else {
        phase.into()
    }
}

fn columns(rt: &ResourceType) -> Vec<&'static str> {
    match rt.kind {
        "Namespace" => vec!["Name", "Status", "Age"],
        "Pod" => vec!["Name", "Ready", "Status", "Restarts", "Age"],
        "Deployment" => vec!["Name", "Ready", "Up-to-date", "Available", "Age"],
        "Service" => vec![
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
        ],
        "Secret" => vec!["Name", "Type", "Data", "Age"],
        "ConfigMap" => vec!["Name", "Data", "Age"],
        "Event" => vec!["Last Seen", "Type", "Reason", "Object", "Message"],
        _ => vec!["Name", "Age"],
    }
}

fn cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    let name = json!(crate::meta::name(o));
    match rt.kind {
        "Namespace" => vec![name, json!(s(o, "/status/phase")), json!(age(o))],
        "Pod" => {
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array);
            let ready = statuses.map_or(0, |a| {
                a.iter()
                    .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                    .count()
            });
            let restarts: i64 = statuses.map_or(0, |a| {
                a.iter()
                    .map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0))
                    .sum()
            });
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts),
                json!(age(o)),
            ]
        }
        "Deployment" => vec![
            name,
            json!(format!(
                "{}/{}",
                n(o, "/status/readyReplicas"),
                n(o, "/spec/replicas")
            )),
            json!(n(o, "/status/updatedReplicas")),
            json!(n(o, "/status/availableReplicas")),
            json!(age(o)),
        ],
        "Service" => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!(
                                "{}/{}",
                                n(p, "/port"),
                                p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name,
                json!(s(o, "/spec/type")),
                json!(s(o, "/spec/clusterIP")),
                json!("<none>"),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
                json!(age(o)),
            ]
        }
        "Secret" => {
            let data = o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len());
            vec![name, json!(s(o, "/type")), json!(data), json!(age(o))]
        }
        "ConfigMap" => {
            let data = o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
                + o.get("binaryData")
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len());
            vec![name, json!(data), json!(age(o))]
        }
        "Event" => vec![
            json!(age(o)),
            json!(s(o, "/type")),
            json!(s(o, "/reason")),
            json!(format!(
                "{}/{}",
                s(o, "/involvedObject/kind").to_lowercase(),
                s(o, "/involvedObject/name")
            )),
            json!(s(o, "/message")),
        ],
        _ => vec![name, json!(age(o))],
    }
}

/// A Table of a list (or of one object, when `list` is not a list).
pub fn table(rt: &ResourceType, list: &Value) -> Value {
    let items: Vec<Value> = match list.get("items").and_then(Value::as_array) {
        Some(a) => a.clone(),
        None => vec![list.clone()],
    };
    let defs: Vec<Value> = columns(rt)
        .into_iter()
        .map(|c| {
            json!({"name": c, "type": "string", "format": if c == "Name" { "name" } else { "" },
                   "description": "", "priority": 0})
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            json!({
                "cells": cells(rt, o),
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": o.get("metadata").cloned().unwrap_or(json!({}))},
            })
        })
        .collect();
    let rv = list
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(json!(""));
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": defs,
        "rows": rows,
    })
}
