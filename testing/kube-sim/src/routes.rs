//! The single request handler: authenticate, parse the Kubernetes path, authorise with RBAC,
//! dispatch to discovery, CRUD, watch, reviews or pod I/O. Every failure is a `Status`.

use crate::objects::{self, Query, Target, flag};
use crate::rbac::{Attributes, authorize, forbidden};
use crate::resources::{self, ResourceType};
use crate::state::State;
use crate::status::{ApiError, json_response};
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const MAX_BODY: usize = 32 * 1024 * 1024;

/// What a path addresses.
enum Route {
    NonResource,
    Resource(Target),
}

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// Parses `/api/v1/...` and `/apis/<g>/<v>/...` resource paths.
fn parse_resource(segs: &[&str]) -> Result<Option<Target>, ApiError> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Ok(None),
    };
    let find = |plural: &str| -> Result<&'static ResourceType, ApiError> {
        resources::find(group, version, plural).ok_or_else(not_found_path)
    };
    let t = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if resources::find(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            let rt = find(plural)?;
            match tail {
                [] => Target {
                    rt,
                    namespace: Some(ns.to_string()),
                    name: None,
                    sub: None,
                },
                [name] => Target {
                    rt,
                    namespace: Some(ns.to_string()),
                    name: Some(name.to_string()),
                    sub: None,
                },
                [name, sub] => Target {
                    rt,
                    namespace: Some(ns.to_string()),
                    name: Some(name.to_string()),
                    sub: Some(sub.to_string()),
                },
                _ => return Err(not_found_path()),
            }
        }
        [plural, tail @ ..] => {
            let rt = find(plural)?;
            match tail {
                [] => Target {
                    rt,
                    namespace: None,
                    name: None,
                    sub: None,
                },
                [name] if !rt.namespaced => Target {
                    rt,
                    namespace: None,
                    name: Some(name.to_string()),
                    sub: None,
                },
                [name, sub] if !rt.namespaced => Target {
                    rt,
                    namespace: None,
                    name: Some(name.to_string()),
                    sub: Some(sub.to_string()),
                },
                _ => return Err(not_found_path()),
            }
        }
        [] => return Ok(None),
    };
    if let Some(sub) = &t.sub {
        if !t.rt.subresources.contains(&sub.as_str()) {
            return Err(not_found_path());
        }
    }
    Ok(Some(t))
}

fn verb(method: &Method, t: &Target, q: &Query) -> Result<&'static str, ApiError> {
    let sub = t.sub.as_deref();
    if matches!(sub, Some("exec" | "attach")) {
        return Ok("create");
    }
    Ok(match (method.as_str(), t.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if flag(q, "watch") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (m, _) => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({m})"
            )));
        }
    })
}

fn ok_json(v: serde_json::Value) -> Response {
    json_response(StatusCode::OK, &v)
}

fn non_resource(path: &str) -> Result<Response, ApiError> {
    let p = path.trim_end_matches('/');
    let segs: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    let doc = match segs.as_slice() {
        ["version"] => Some(crate::discovery::version()),
        ["api"] => Some(crate::discovery::core_versions()),
        ["apis"] => Some(crate::discovery::groups()),
        ["api", v] => crate::discovery::resource_list("", v),
        ["apis", g] => crate::discovery::group(g),
        ["apis", g, v] => crate::discovery::resource_list(g, v),
        ["openapi", "v3"] => Some(crate::openapi::index()),
        ["openapi", "v3", rest @ ..] => crate::openapi::group_version(&rest.join("/")),
        ["healthz"] | ["readyz"] | ["livez"] => {
            return Ok((StatusCode::OK, [("content-type", "text/plain")], "ok").into_response());
        }
        _ => None,
    };
    doc.map(ok_json).ok_or_else(not_found_path)
}

/// Whether the client asked for server-side printing (`as=Table`).
fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// The axum handler for every path.
pub async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    req: Request<Body>,
) -> Response {
    match serve(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn serve(state: Arc<State>, req: Request<Body>) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let q: Query = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header("content-type");
    let accept = header("accept");
    let user = state
        .tokens
        .authenticate(
            parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
        )
        .ok_or_else(|| ApiError::new(401, "Unauthorized", "Unauthorized"))?;

    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let route = match parse_resource(&segs)? {
        Some(t) => Route::Resource(t),
        None => Route::NonResource,
    };
    let t = match route {
        Route::NonResource => {
            let attrs = Attributes {
                verb: method.as_str().to_lowercase(),
                path: path.clone(),
                ..Default::default()
            };
            if !authorize(&state.store, &user, &attrs) {
                return Err(forbidden(&user, &attrs));
            }
            if method != Method::GET {
                return Err(ApiError::method_not_allowed("only GET is served here"));
            }
            return non_resource(&path);
        }
        Route::Resource(t) => t,
    };
    let verb = verb(&method, &t, &q)?;
    let attrs = Attributes {
        verb: verb.to_string(),
        group: t.rt.group.to_string(),
        resource: t.rt.plural.to_string(),
        subresource: t.sub.clone().unwrap_or_default(),
        name: t.name.clone().unwrap_or_default(),
        namespace: t.namespace.clone().unwrap_or_default(),
        path: path.clone(),
    };
    if !authorize(&state.store, &user, &attrs) {
        return Err(forbidden(&user, &attrs));
    }

    let sub = t.sub.clone();
    if matches!(sub.as_deref(), Some("exec" | "attach")) {
        let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .ok();
        return crate::podio::exec(&state, &t, &q, ws, sub.as_deref() == Some("attach"));
    }
    if sub.as_deref() == Some("log") {
        return crate::podio::logs(&state, &t, &q).await;
    }
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;

    if resources::is_virtual(t.rt) {
        if verb != "create" {
            return Err(ApiError::method_not_allowed(format!(
                "{} only supports create",
                t.rt.plural
            )));
        }
        let obj = objects::parse_body(t.rt, &content_type, &body)?;
        return crate::reviews::create(&state, &user, &t, obj);
    }
    match (verb, sub.as_deref()) {
        ("create", Some("token")) => {
            let obj = objects::parse_body(t.rt, &content_type, &body)?;
            crate::reviews::token_request(&state, &t, obj)
        }
        ("create", None) if t.name.is_none() => {
            let ns_ok = !t.rt.namespaced || t.namespace.is_some();
            if !ns_ok {
                return Err(ApiError::method_not_allowed(format!(
                    "create {} needs a namespace in the path",
                    t.rt.plural
                )));
            }
            let obj = objects::parse_body(t.rt, &content_type, &body)?;
            objects::create(&state, &t, &q, obj)
        }
        ("get", None | Some("status")) => objects::get(&state, &t, wants_table(&accept)),
        ("list", None) => objects::list(&state, &t, &q, wants_table(&accept)),
        ("watch", None) => crate::watch::watch(state.clone(), &t, &q),
        ("update", None | Some("status") | Some("finalize")) => {
            let obj = objects::parse_body(t.rt, &content_type, &body)?;
            let t = if sub.as_deref() == Some("finalize") {
                Target { sub: None, ..t }
            } else {
                t
            };
            objects::update(&state, &t, obj)
        }
        ("patch", None | Some("status")) => objects::patch(&state, &t, &q, &content_type, &body),
        ("delete", None) => objects::delete(&state, &t, &q, &body),
        ("deletecollection", None) => objects::delete_collection(&state, &t, &q, &body),
        (v, s) => Err(ApiError::method_not_allowed(format!(
            "{v} is not supported on {}{}",
            t.rt.plural,
            s.map(|s| format!("/{s}")).unwrap_or_default()
        ))),
    }
}
