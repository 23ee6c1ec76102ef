//! Discovery: `/version`, `/api`, `/apis`, and the resource lists of each group version.
//! Only the legacy (unaggregated) documents are served: kubectl asks for aggregated discovery
//! first, sees `Content-Type: application/json` without the `g=apidiscovery.k8s.io` profile and
//! falls back to fetching each group version, as client-go does against older servers.

use crate::resources::{RESOURCES, ResourceType, group_versions, verbs};
use serde_json::{Value, json};

/// The Kubernetes version kube-sim claims (the kubectl on the machine is 1.32).
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-kube-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    })
}

fn group_doc(group: &str) -> Value {
    let versions: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(json!({}));
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions, "preferredVersion": preferred})
}

/// `/apis`.
pub fn groups() -> Value {
    let mut names: Vec<&str> = Vec::new();
    for (g, _) in group_versions() {
        if !g.is_empty() && !names.contains(&g) {
            names.push(g);
        }
    }
    let groups: Vec<Value> = names.into_iter().map(group_doc).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>` (None when the group is not served).
pub fn group(group: &str) -> Option<Value> {
    group_versions()
        .iter()
        .any(|(g, _)| *g == group && !g.is_empty())
        .then(|| group_doc(group))
}

fn sub_entry(rt: &ResourceType, sub: &str) -> Value {
    let (kind, verbs, group, version): (&str, Vec<&str>, Option<&str>, Option<&str>) = match sub {
        "status" => (rt.kind, vec!["get", "patch", "update"], None, None),
        "log" => ("Pod", vec!["get"], None, None),
        "exec" => ("PodExecOptions", vec!["create", "get"], None, None),
        "attach" => ("PodAttachOptions", vec!["create", "get"], None, None),
        "token" => (
            "TokenRequest",
            vec!["create"],
            Some("authentication.k8s.io"),
            Some("v1"),
        ),
        "scale" => (
            "Scale",
            vec!["get", "patch", "update"],
            Some("autoscaling"),
            Some("v1"),
        ),
        "finalize" => ("Namespace", vec!["update"], None, None),
        _ => (rt.kind, vec!["get"], None, None),
    };
    let mut e = json!({
        "name": format!("{}/{sub}", rt.plural),
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if let (Some(g), Some(v)) = (group, version) {
        e["group"] = g.into();
        e["version"] = v.into();
    }
    e
}

/// `/api/v1` or `/apis/<group>/<version>` (None when not served).
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let rts: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rts.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in rts {
        let mut e = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": verbs(rt),
        });
        if !rt.short_names.is_empty() {
            e["shortNames"] = json!(rt.short_names);
        }
        if rt.plural == "pods" || rt.plural == "deployments" || rt.plural == "services" {
            e["categories"] = json!(["all"]);
        }
        resources.push(e);
        for sub in rt.subresources {
            resources.push(sub_entry(rt, sub));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}
