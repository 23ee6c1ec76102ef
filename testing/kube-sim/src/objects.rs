//! CRUD on stored objects: create, get, list, update, patch (all formats), server-side apply,
//! delete with finalizers and propagation, deletecollection.

use crate::meta;
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::State;
use crate::status::{ApiError, json_response};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

/// The object(s) a request addresses.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource.
    pub rt: &'static ResourceType,
    /// Namespace from the path (None for cluster-scoped or all-namespaces requests).
    pub namespace: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// Subresource from the path.
    pub sub: Option<String>,
}

impl Target {
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// Decoded query parameters (repeated keys kept, in order).
pub type Query = Vec<(String, String)>;

/// The first value of a query parameter.
pub fn param<'a>(q: &'a Query, key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Whether a boolean query parameter is set ("true" or "1").
pub fn flag(q: &Query, key: &str) -> bool {
    matches!(param(q, key), Some("true" | "1" | "True"))
}

/// Parses a request body as JSON (or the protobuf kubectl may send).
pub fn parse_body(rt: &ResourceType, content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return crate::protobuf::decode(rt, body);
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("request body is empty"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't decode request body as JSON: {e}")))
}

fn ok(code: StatusCode, v: &Value) -> Result<Response, ApiError> {
    Ok(json_response(code, v))
}

fn check_namespace_usable(state: &State, ns: &str, creating: bool) -> Result<(), ApiError> {
    match state.store.get("/namespaces", "", ns) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if creating && meta::is_terminating(&n) => Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        )),
        Some(_) => Ok(()),
    }
}

fn service_ip() -> String {
    let b = meta::random_bytes(2);
    format!("10.96.{}.{}", b[0], b[1].max(2))
}

/// Stores a new object: name/generateName, uid, timestamps, kind defaults.
pub fn create_object(
    state: &State,
    t: &Target,
    mut obj: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let rt = t.rt;
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str) {
        if k != rt.kind {
            return Err(ApiError::bad_request(format!(
                "the kind {k:?} of the body does not match the resource {} ({})",
                rt.plural, rt.kind
            )));
        }
    }
    obj["kind"] = rt.kind.into();
    obj["apiVersion"] = rt.api_version().into();
    let ns = t.ns().to_string();
    {
        let md = meta::metadata_mut(&mut obj);
        if rt.namespaced {
            match md.get("namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    md.insert("namespace".into(), ns.clone().into());
                }
            }
        } else {
            md.remove("namespace");
        }
        let has_name = md
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has_name {
            match md.get("generateName").and_then(Value::as_str) {
                Some(g) if !g.is_empty() => {
                    let n = format!("{g}{}", meta::random_suffix(5));
                    md.insert("name".into(), n.into());
                }
                _ => {
                    return Err(ApiError::invalid(format!(
                        "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                        rt.kind
                    )));
                }
            }
        }
        md.insert("uid".into(), meta::new_uid().into());
        md.insert("creationTimestamp".into(), meta::now_rfc3339().into());
        md.insert("generation".into(), 1.into());
        md.remove("resourceVersion");
        md.remove("deletionTimestamp");
        md.remove("deletionGracePeriodSeconds");
        md.remove("selfLink");
    }
    if rt.namespaced {
        check_namespace_usable(state, &ns, true)?;
    }
    crate::defaults::on_create(rt.kind, &mut obj, service_ip);
    if dry_run {
        return Ok(obj);
    }
    let name = meta::name(&obj).to_string();
    state
        .store
        .put(&rt.key(), obj, Some(None))
        .map_err(|_| ApiError::already_exists(rt.group, rt.plural, &name))
}

/// POST on a collection.
pub fn create(state: &State, t: &Target, q: &Query, body: Value) -> Result<Response, ApiError> {
    let dry = param(q, "dryRun") == Some("All");
    let created = create_object(state, t, body, dry)?;
    ok(StatusCode::CREATED, &created)
}

/// GET of one object (or its status subresource).
pub fn get(state: &State, t: &Target, table: bool) -> Result<Response, ApiError> {
    let obj = state
        .store
        .get(&t.rt.key(), t.ns(), t.name())
        .ok_or_else(|| ApiError::not_found(t.rt.group, t.rt.plural, t.name()))?;
    if table {
        return ok(StatusCode::OK, &crate::table::table(t.rt, &obj));
    }
    ok(StatusCode::OK, &obj)
}

/// Selectors of a list or watch request.
pub fn selectors(q: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    Ok((
        LabelSelector::parse(param(q, "labelSelector").unwrap_or(""))?,
        FieldSelector::parse(param(q, "fieldSelector").unwrap_or(""))?,
    ))
}

/// GET of a collection, filtered by selectors.
pub fn list(state: &State, t: &Target, q: &Query, table: bool) -> Result<Response, ApiError> {
    let (ls, fs) = selectors(q)?;
    let (items, rv) = state.store.list(&t.rt.key(), t.namespace.as_deref());
    let items: Vec<Value> = items
        .into_iter()
        .filter(|o| ls.matches(o) && fs.matches(o))
        .collect();
    let list = json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    });
    if table {
        return ok(StatusCode::OK, &crate::table::table(t.rt, &list));
    }
    ok(StatusCode::OK, &list)
}

/// Whether anything outside status changed (generation bumps only then).
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(old) != strip(new)
}

/// Writes an updated object over `existing`, keeping server-owned fields; honours
/// resourceVersion preconditions and finishes deletions whose finalizers are gone.
pub fn write_update(
    state: &State,
    t: &Target,
    existing: &Value,
    mut new: Value,
    status_only: bool,
) -> Result<Value, ApiError> {
    let rt = t.rt;
    let name = meta::name(existing).to_string();
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let want_rv = new
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from);
    if let Some(n) = new.pointer("/metadata/name").and_then(Value::as_str) {
        if !n.is_empty() && n != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    if status_only {
        let mut merged = existing.clone();
        merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        new = merged;
    } else {
        if rt.has_status() {
            new["status"] = existing.get("status").cloned().unwrap_or(Value::Null);
        }
        if rt.kind == "Secret" {
            crate::defaults::fold_string_data(&mut new);
        }
    }
    new["kind"] = rt.kind.into();
    new["apiVersion"] = rt.api_version().into();
    let old_md = existing.get("metadata").cloned().unwrap_or(json!({}));
    let generation = old_md
        .get("generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let bump = !status_only && spec_changed(existing, &new);
    {
        let md = meta::metadata_mut(&mut new);
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
        ] {
            match old_md.get(k) {
                Some(v) => md.insert(k.into(), v.clone()),
                None => md.remove(k),
            };
        }
        md.insert("name".into(), name.clone().into());
        md.insert(
            "generation".into(),
            (if bump { generation + 1 } else { generation }).into(),
        );
    }
    let expect_rv = want_rv.clone().or_else(|| {
        existing
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from)
    });
    let stored = state
        .store
        .put(&rt.key(), new, Some(expect_rv.as_deref()))
        .map_err(|cur| match cur {
            None => ApiError::not_found(rt.group, rt.plural, &name),
            Some(_) => ApiError::conflict(rt.group, rt.plural, &name),
        })?;
    finish_if_finalized(state, rt, &stored);
    Ok(stored)
}

/// Removes an object whose deletion was waiting only on finalizers that are now gone.
pub fn finish_if_finalized(state: &State, rt: &ResourceType, obj: &Value) {
    let no_finalizers = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    let controller_owned = rt.kind == "Namespace" || (rt.kind == "Pod" && state.runtime.is_some());
    if meta::is_terminating(obj) && no_finalizers && !controller_owned {
        state
            .store
            .remove(&rt.key(), meta::namespace(obj), meta::name(obj));
    }
}

/// PUT of an object or its status.
pub fn update(state: &State, t: &Target, body: Value) -> Result<Response, ApiError> {
    let existing = state
        .store
        .get(&t.rt.key(), t.ns(), t.name())
        .ok_or_else(|| ApiError::not_found(t.rt.group, t.rt.plural, t.name()))?;
    let status_only = t.sub.as_deref() == Some("status");
    let stored = write_update(state, t, &existing, body, status_only)?;
    ok(StatusCode::OK, &stored)
}

/// PATCH in any of the four formats (apply creates when absent).
pub fn patch(
    state: &State,
    t: &Target,
    q: &Query,
    content_type: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't decode patch body as JSON: {e}")))?;
    let existing = state.store.get(&t.rt.key(), t.ns(), t.name());
    let status_only = t.sub.as_deref() == Some("status");
    if ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor" {
        let manager = param(q, "fieldManager").unwrap_or("").to_string();
        if manager.is_empty() {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let now = meta::now_rfc3339();
        return match existing {
            None => {
                let obj = crate::apply::apply(None, &patch, None, &manager, &now);
                let created = create_object(state, t, obj, param(q, "dryRun") == Some("All"))?;
                state
                    .store
                    .set_last_applied(meta::uid(&created), &manager, patch);
                ok(StatusCode::CREATED, &created)
            }
            Some(cur) => {
                let last = state.store.last_applied(meta::uid(&cur), &manager);
                let mut applied = patch.clone();
                if let Some(md) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
                    md.remove("resourceVersion");
                }
                let mut new =
                    crate::apply::apply(Some(&cur), &applied, last.as_ref(), &manager, &now);
                if let Some(rv) = patch.pointer("/metadata/resourceVersion") {
                    new["metadata"]["resourceVersion"] = rv.clone();
                }
                let stored = write_update(state, t, &cur, new, status_only)?;
                state
                    .store
                    .set_last_applied(meta::uid(&cur), &manager, patch);
                ok(StatusCode::OK, &stored)
            }
        };
    }
    let cur = existing.ok_or_else(|| ApiError::not_found(t.rt.group, t.rt.plural, t.name()))?;
    let mut new = cur.clone();
    match ct {
        "application/merge-patch+json" => crate::patch::merge_patch(&mut new, &patch),
        "application/strategic-merge-patch+json" => crate::patch::strategic_merge(&mut new, &patch),
        "application/json-patch+json" => crate::patch::json_patch(&mut new, &patch)?,
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
                ),
            ));
        }
    }
    let stored = write_update(state, t, &cur, new, status_only)?;
    ok(StatusCode::OK, &stored)
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
            let grace = o
                .pointer("/spec/terminationGracePeriodSeconds")
                .cloned()
                .unwrap_or(json!(30));
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
        {
            if obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                != Some(want)
            {
                return Err(ApiError::conflict(t.rt.group, t.rt.plural, t.name()));
            }
        }
        if let Some(want) = b.pointer("/preconditions/uid").and_then(Value::as_str) {
            if meta::uid(&obj) != want {
                return Err(ApiError::conflict(t.rt.group, t.rt.plural, t.name()));
            }
        }
    }
    if param(q, "dryRun") == Some("All") {
        return ok(StatusCode::OK, &obj);
    }
    let out = delete_object(state, t.rt, &obj, &propagation(q, body));
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
