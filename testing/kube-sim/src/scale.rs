//! The `scale` subresource of Deployments (`kubectl scale`): an `autoscaling/v1 Scale` view of
//! `spec.replicas` and `status.replicas`.

use crate::objects::{Query, Target, param, write_update};
use crate::state::State;
use crate::status::{ApiError, json_response};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

fn to_scale(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": crate::meta::name(obj),
            "namespace": crate::meta::namespace(obj),
            "uid": crate::meta::uid(obj),
            "resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null),
            "creationTimestamp": obj.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

/// GET, PUT or PATCH of `deployments/<name>/scale`.
pub fn handle(
    state: &State,
    t: &Target,
    q: &Query,
    verb: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let name = t.name.as_deref().unwrap_or("");
    let ns = t.namespace.as_deref().unwrap_or("");
    let obj = state
        .store
        .get(&t.rt.key(), ns, name)
        .ok_or_else(|| ApiError::not_found(t.rt.group, t.rt.plural, name))?;
    if verb == "get" {
        return Ok(json_response(StatusCode::OK, &to_scale(&obj)));
    }
    let mut scale = to_scale(&obj);
    let input: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't decode the Scale body: {e}")))?;
    match (verb, content_type.split(';').next().unwrap_or("").trim()) {
        ("update", _) => scale = input,
        (_, "application/json-patch+json") => crate::patch::json_patch(&mut scale, &input)?,
        _ => crate::patch::merge_patch(&mut scale, &input),
    }
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::invalid("Scale.spec.replicas must be an integer"))?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale.spec.replicas must be greater than or equal to 0",
        ));
    }
    let mut new = obj.clone();
    if !new.get("spec").is_some_and(Value::is_object) {
        new["spec"] = json!({});
    }
    new["spec"]["replicas"] = json!(replicas);
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .filter(|v| v.is_string())
    {
        new["metadata"]["resourceVersion"] = rv.clone();
    }
    if param(q, "dryRun") == Some("All") {
        return Ok(json_response(StatusCode::OK, &to_scale(&new)));
    }
    let main = Target {
        sub: None,
        ..t.clone()
    };
    let stored = write_update(state, &main, &obj, new, false, false)?;
    Ok(json_response(StatusCode::OK, &to_scale(&stored)))
}
