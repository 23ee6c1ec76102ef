//! Garbage collection: objects whose every owner (by ownerReferences uid) is gone are deleted
//! (background propagation; foreground is treated the same way).

use crate::state::State;
use serde_json::Value;
use std::collections::HashSet;

/// Deletes orphaned dependents.
pub fn reconcile(state: &State) {
    let all = state.store.all();
    let uids: HashSet<&str> = all.iter().map(|(_, o)| crate::meta::uid(o)).collect();
    for (key, o) in &all {
        let Some(refs) = o
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
        else {
            continue;
        };
        if refs.is_empty() || crate::meta::is_terminating(o) {
            continue;
        }
        let owned = refs.iter().any(|r| {
            r.get("uid")
                .and_then(Value::as_str)
                .is_some_and(|u| uids.contains(u))
        });
        if !owned {
            if let Some(rt) = crate::resources::RESOURCES.iter().find(|r| r.key() == *key) {
                crate::objects::delete_object(state, rt, o, "Background");
            }
        }
    }
}
