//! Deletion: finalizers and graceful kinds (namespaces, pods with a runtime) first get a
//! deletionTimestamp; everything else goes at once. Preconditions, grace periods, propagation
//! (`Orphan` strips ownerReferences; dependents otherwise go by garbage collection) and
//! deletecollection.

use crate::meta;
use crate::objects::{Query, Target, param, selectors};
use crate::resources::ResourceType;
use crate::state::State;
use crate::status::{ApiError, json_response};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

fn ok(code: StatusCode, v: &Value) -> Result<Response, ApiError> {
    Ok(json_response(code, v))
}

/// Options of a DELETE (body DeleteOptions or query parameters).
fn propagation(q: &Query, body: &[u8]) -> String {
    let from_body = serde_json::from_slice::<Value>(body).ok().and_then(|b| {
        b.get("propagationPolicy")
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| {
                b.get("orphanDependents")
                    .and_then(Value::as_bool)
                    .filter(|o| *o)
                    .map(|_| "Orphan".to_string())
            })
    });
    from_body
        .or_else(|| param(q, "propagationPolicy").map(String::from))
        .unwrap_or_else(|| "Background".to_string())
}

/// Deletes one object: finalizers and controller-owned kinds (namespaces, running pods) only
/// get a deletionTimestamp; everything else goes at once. Dependents go by garbage collection.
pub fn delete_object(state: &State, rt: &ResourceType, obj: &Value, policy: &str) -> Value {
    delete_with_grace(state, rt, obj, policy, None)
}

/// `gracePeriodSeconds` of a DELETE (body DeleteOptions or query parameter).
fn grace_period(q: &Query, body: &[u8]) -> Option<i64> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b.get("gracePeriodSeconds").and_then(Value::as_i64))
        .or_else(|| param(q, "gracePeriodSeconds").and_then(|s| s.parse().ok()))
}

/// [`delete_object`] with the client's grace period for pods (`--grace-period`, `--force`).
pub fn delete_with_grace(
    state: &State,
    rt: &ResourceType,
    obj: &Value,
    policy: &str,
    grace: Option<i64>,
) -> Value {
    if policy == "Orphan" {
        orphan_dependents(state, meta::uid(obj));
    }
    let has_finalizers = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let graceful = rt.kind == "Namespace" || (rt.kind == "Pod" && state.runtime.is_some());
    if has_finalizers || graceful {
        if meta::is_terminating(obj) {
            return obj.clone();
        }
        let mut o = obj.clone();
        meta::metadata_mut(&mut o).insert("deletionTimestamp".into(), meta::now_rfc3339().into());
        if rt.kind == "Namespace" {
            o["status"]["phase"] = "Terminating".into();
        }
        if rt.kind == "Pod" {
            let grace = grace.map(|g| json!(g.max(0))).unwrap_or_else(|| {
                o.pointer("/spec/terminationGracePeriodSeconds")
                    .cloned()
                    .unwrap_or(json!(30))
            });
            meta::metadata_mut(&mut o).insert("deletionGracePeriodSeconds".into(), grace);
        }
        return state.store.put(&rt.key(), o.clone(), None).unwrap_or(o);
    }
    state
        .store
        .remove(&rt.key(), meta::namespace(obj), meta::name(obj))
        .unwrap_or_else(|| obj.clone())
}

fn orphan_dependents(state: &State, owner_uid: &str) {
    for (key, o) in state.store.all() {
        let refs = o
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array);
        if refs.is_some_and(|r| {
            r.iter()
                .any(|x| x.get("uid").and_then(Value::as_str) == Some(owner_uid))
        }) {
            let mut n = o.clone();
            if let Some(r) = n
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                r.retain(|x| x.get("uid").and_then(Value::as_str) != Some(owner_uid));
            }
            let _ = state.store.put(&key, n, None);
        }
    }
}

/// DELETE of one object.
pub fn delete(state: &State, t: &Target, q: &Query, body: &[u8]) -> Result<Response, ApiError> {
    let obj = state
        .store
        .get(&t.rt.key(), t.ns(), t.name())
        .ok_or_else(|| ApiError::not_found(t.rt.group, t.rt.plural, t.name()))?;
    if let Ok(b) = serde_json::from_slice::<Value>(body) {
        if let Some(want) = b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            && obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                != Some(want)
        {
            return Err(ApiError::conflict(t.rt.group, t.rt.plural, t.name()));
        }
        if let Some(want) = b.pointer("/preconditions/uid").and_then(Value::as_str)
            && meta::uid(&obj) != want
        {
            return Err(ApiError::conflict(t.rt.group, t.rt.plural, t.name()));
        }
    }
    if param(q, "dryRun") == Some("All") {
        return ok(StatusCode::OK, &obj);
    }
    let out = delete_with_grace(
        state,
        t.rt,
        &obj,
        &propagation(q, body),
        grace_period(q, body),
    );
    let code =
        if meta::is_terminating(&out) && state.store.get(&t.rt.key(), t.ns(), t.name()).is_some() {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
    ok(code, &out)
}

/// DELETE of a collection (with selectors).
pub fn delete_collection(
    state: &State,
    t: &Target,
    q: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (ls, fs) = selectors(q)?;
    let (items, rv) = state.store.list(&t.rt.key(), t.namespace.as_deref());
    let policy = propagation(q, body);
    let deleted: Vec<Value> = items
        .into_iter()
        .filter(|o| ls.matches(o) && fs.matches(o))
        .map(|o| delete_object(state, t.rt, &o, &policy))
        .collect();
    ok(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", t.rt.kind),
            "apiVersion": t.rt.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": deleted,
        }),
    )
}
