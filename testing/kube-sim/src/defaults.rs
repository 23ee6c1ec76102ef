//! Defaulting on create, the part of each kind's strategy clients rely on (namespace
//! finalizers and phase, pod phase, Service clusterIP, Deployment replicas, Secret stringData).

use base64::Engine;
use serde_json::{Map, Value, json};

fn obj<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let m = v.as_object_mut()?;
    let e = m.entry(key).or_insert_with(|| json!({}));
    if !e.is_object() {
        *e = json!({});
    }
    e.as_object_mut()
}

/// Fills in the defaults of a new object of `kind`.
pub fn on_create(kind: &str, o: &mut Value, service_ip: impl FnOnce() -> String) {
    match kind {
        "Namespace" => {
            let name = crate::meta::name(o).to_string();
            if let Some(labels) = crate::meta::metadata_mut(o)
                .entry("labels")
                .or_insert_with(|| json!({}))
                .as_object_mut()
            {
                labels.insert("kubernetes.io/metadata.name".into(), name.into());
            }
            if let Some(spec) = obj(o, "spec") {
                spec.insert("finalizers".into(), json!(["kubernetes"]));
            }
            o["status"] = json!({"phase": "Active"});
        }
        "Pod" => {
            if let Some(spec) = obj(o, "spec") {
                spec.entry("serviceAccountName")
                    .or_insert_with(|| "default".into());
                spec.entry("serviceAccount")
                    .or_insert_with(|| "default".into());
                spec.entry("restartPolicy")
                    .or_insert_with(|| "Always".into());
                spec.entry("dnsPolicy")
                    .or_insert_with(|| "ClusterFirst".into());
                spec.entry("terminationGracePeriodSeconds")
                    .or_insert_with(|| 30.into());
                spec.entry("nodeName").or_insert_with(|| "kube-sim".into());
                for list in ["containers", "initContainers"] {
                    if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
                        for c in cs {
                            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                            let latest = !image.rsplit('/').next().unwrap_or("").contains(':')
                                || image.ends_with(":latest");
                            if let Some(m) = c.as_object_mut() {
                                m.entry("imagePullPolicy").or_insert_with(|| {
                                    if latest { "Always" } else { "IfNotPresent" }.into()
                                });
                                m.entry("terminationMessagePath")
                                    .or_insert_with(|| "/dev/termination-log".into());
                            }
                        }
                    }
                }
            }
            o["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        "Service" => {
            if let Some(spec) = obj(o, "spec") {
                spec.entry("type").or_insert_with(|| "ClusterIP".into());
                spec.entry("sessionAffinity")
                    .or_insert_with(|| "None".into());
                if !spec.contains_key("clusterIP") {
                    let ip = service_ip();
                    spec.insert("clusterIP".into(), ip.clone().into());
                    spec.insert("clusterIPs".into(), json!([ip]));
                }
                if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        let port = p.get("port").cloned().unwrap_or(Value::Null);
                        if let Some(m) = p.as_object_mut() {
                            m.entry("protocol").or_insert_with(|| "TCP".into());
                            m.entry("targetPort").or_insert(port);
                        }
                    }
                }
            }
            o["status"] = json!({"loadBalancer": {}});
        }
        "Deployment" | "ReplicaSet" => {
            if let Some(spec) = obj(o, "spec") {
                spec.entry("replicas").or_insert_with(|| 1.into());
                spec.entry("revisionHistoryLimit")
                    .or_insert_with(|| 10.into());
                spec.entry("progressDeadlineSeconds")
                    .or_insert_with(|| 600.into());
                if kind == "Deployment" {
                    spec.entry("strategy").or_insert_with(|| {
                        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
                    });
                }
            }
            o["status"] = json!({});
        }
        "Secret" => {
            if let Some(m) = o.as_object_mut() {
                m.entry("type").or_insert_with(|| "Opaque".into());
            }
            fold_string_data(o);
        }
        _ => {}
    }
}

/// Moves `stringData` into `data` (base64), as the API server does for Secrets.
pub fn fold_string_data(o: &mut Value) {
    let Some(m) = o.as_object_mut() else { return };
    let Some(Value::Object(sd)) = m.remove("stringData") else {
        return;
    };
    let data = m.entry("data").or_insert_with(|| json!({}));
    if let Some(d) = data.as_object_mut() {
        for (k, v) in sd {
            let s = v.as_str().unwrap_or("").to_string();
            d.insert(
                k,
                base64::engine::general_purpose::STANDARD.encode(s).into(),
            );
        }
    }
}
