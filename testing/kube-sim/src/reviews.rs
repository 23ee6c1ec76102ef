//! Create-only "virtual" resources: SelfSubjectAccessReview (`kubectl auth can-i`),
//! SelfSubjectRulesReview (`can-i --list`), SelfSubjectReview (`auth whoami`) and the
//! ServiceAccount TokenRequest subresource (`kubectl create token`).

use crate::auth::User;
use crate::objects::Target;
use crate::rbac::{Attributes, authorize, rules_for};
use crate::state::State;
use crate::status::{ApiError, json_response};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

fn s(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// POST of a review resource.
pub fn create(
    state: &State,
    user: &User,
    t: &Target,
    mut body: Value,
) -> Result<Response, ApiError> {
    match t.rt.kind {
        "SelfSubjectAccessReview" => {
            let attrs = if body.pointer("/spec/resourceAttributes").is_some() {
                Attributes {
                    verb: s(&body, "/spec/resourceAttributes/verb"),
                    group: s(&body, "/spec/resourceAttributes/group"),
                    resource: s(&body, "/spec/resourceAttributes/resource"),
                    subresource: s(&body, "/spec/resourceAttributes/subresource"),
                    name: s(&body, "/spec/resourceAttributes/name"),
                    namespace: s(&body, "/spec/resourceAttributes/namespace"),
                    path: String::new(),
                }
            } else {
                Attributes {
                    verb: s(&body, "/spec/nonResourceAttributes/verb"),
                    path: s(&body, "/spec/nonResourceAttributes/path"),
                    ..Default::default()
                }
            };
            let allowed = authorize(&state.store, user, &attrs);
            body["status"] = if allowed {
                json!({"allowed": true, "reason": "allowed by RBAC"})
            } else {
                json!({"allowed": false})
            };
        }
        "SelfSubjectRulesReview" => {
            let ns = s(&body, "/spec/namespace");
            let rules: Vec<Value> = match user {
                User::Admin => {
                    vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})]
                }
                _ => rules_for(&state.store, user, &ns),
            };
            let resource_rules: Vec<Value> = rules
                .iter()
                .filter(|r| r.get("resources").is_some())
                .cloned()
                .collect();
            let non_resource: Vec<Value> = rules
                .iter()
                .filter(|r| r.get("nonResourceURLs").is_some())
                .cloned()
                .collect();
            body["status"] = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": false});
        }
        "SelfSubjectReview" => {
            body["status"] =
                json!({"userInfo": {"username": user.username(), "groups": user.groups()}});
        }
        other => {
            return Err(ApiError::method_not_allowed(format!(
                "create is the only verb of {other}"
            )));
        }
    }
    body["kind"] = t.rt.kind.into();
    body["apiVersion"] = t.rt.api_version().into();
    Ok(json_response(StatusCode::CREATED, &body))
}

/// POST serviceaccounts/<name>/token.
pub fn token_request(state: &State, t: &Target, body: Value) -> Result<Response, ApiError> {
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    let sa = state
        .store
        .get("/serviceaccounts", &ns, &name)
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", &name))?;
    let ttl = body
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let audiences: Vec<String> = body
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let (token, exp) = state
        .tokens
        .mint(&ns, &name, crate::meta::uid(&sa), ttl, &audiences);
    let exp_time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp.max(0) as u64);
    let out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": crate::meta::now_rfc3339()},
        "spec": {"audiences": audiences, "expirationSeconds": ttl, "boundObjectRef": body.pointer("/spec/boundObjectRef").cloned().unwrap_or(Value::Null)},
        "status": {"token": token, "expirationTimestamp": crate::meta::rfc3339(exp_time)},
    });
    Ok(json_response(StatusCode::CREATED, &out))
}
