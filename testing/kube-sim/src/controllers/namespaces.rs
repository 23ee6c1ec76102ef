//! Namespaces: every active namespace gets its `default` ServiceAccount and the
//! `kube-root-ca.crt` ConfigMap; a terminating one has its contents deleted, then disappears
//! (and its Docker network with it).

use crate::objects::{Target, create_object};
use crate::resources;
use crate::state::State;
use serde_json::json;

fn ensure(state: &State, plural: &str, ns: &str, obj: serde_json::Value) {
    let Some(rt) = resources::find("", "v1", plural) else {
        return;
    };
    if state
        .store
        .get(&rt.key(), ns, crate::meta::name(&obj))
        .is_none()
    {
        let t = Target {
            rt,
            namespace: Some(ns.to_string()),
            name: None,
            sub: None,
        };
        // AlreadyExists races are harmless.
        let _ = create_object(state, &t, obj, false);
    }
}

/// Applies defaults to active namespaces and finishes terminating ones.
pub fn reconcile(state: &State) {
    let (namespaces, _) = state.store.list("/namespaces", None);
    for ns in namespaces {
        let name = crate::meta::name(&ns).to_string();
        if !crate::meta::is_terminating(&ns) {
            ensure(
                state,
                "serviceaccounts",
                &name,
                json!({"metadata": {"name": "default"}}),
            );
            ensure(
                state,
                "configmaps",
                &name,
                json!({"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": state.ca_pem}}),
            );
            continue;
        }
        let contents = state.store.in_namespace(&name);
        for (key, o) in &contents {
            if crate::meta::is_terminating(o) {
                continue;
            }
            if let Some(rt) = resources::RESOURCES.iter().find(|r| r.key() == *key) {
                crate::objects::delete_object(state, rt, o, "Background");
            }
        }
        if !contents.is_empty() {
            continue;
        }
        let finalizers_left = ns
            .pointer("/metadata/finalizers")
            .and_then(|v| v.as_array())
            .is_some_and(|a| !a.is_empty());
        if finalizers_left {
            continue;
        }
        state.store.remove("/namespaces", "", &name);
        if let Some(rt) = state.runtime.clone() {
            tokio::spawn(async move { rt.delete_namespace(&name).await });
        }
    }
}
