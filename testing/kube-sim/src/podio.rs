//! `pods/log`, `pods/exec` and `pods/attach`: checked here, served by the container runtime.

use crate::objects::{Query, Target, flag, param};
use crate::runtime::{ExecRequest, LogOptions};
use crate::state::State;
use crate::status::ApiError;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::Value;

fn pod(state: &State, t: &Target) -> Result<Value, ApiError> {
    state
        .store
        .get(
            "/pods",
            t.namespace.as_deref().unwrap_or(""),
            t.name.as_deref().unwrap_or(""),
        )
        .ok_or_else(|| ApiError::not_found("", "pods", t.name.as_deref().unwrap_or("")))
}

fn check_container(pod: &Value, container: Option<&str>) -> Result<(), ApiError> {
    let Some(c) = container else { return Ok(()) };
    let known = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|x| x.get("name").and_then(Value::as_str) == Some(c))
        });
    if known {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {}",
            crate::meta::name(pod)
        )))
    }
}

fn no_runtime(state: &State, pod: &str) -> ApiError {
    ApiError::bad_request(format!(
        "pod {pod} has no running containers: {}",
        state.no_runtime_reason
    ))
}

/// GET pods/<name>/log.
pub async fn logs(state: &State, t: &Target, q: &Query) -> Result<Response, ApiError> {
    let p = pod(state, t)?;
    let container = param(q, "container");
    check_container(&p, container)?;
    let rt = state
        .runtime
        .as_ref()
        .ok_or_else(|| no_runtime(state, crate::meta::name(&p)))?;
    let opts = LogOptions {
        follow: flag(q, "follow"),
        tail_lines: param(q, "tailLines").and_then(|s| s.parse().ok()),
        timestamps: flag(q, "timestamps"),
        previous: flag(q, "previous"),
        since_seconds: param(q, "sinceSeconds").and_then(|s| s.parse().ok()),
    };
    let stream = rt
        .logs(
            crate::meta::namespace(&p),
            crate::meta::name(&p),
            container,
            opts,
        )
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let body = Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other)));
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// GET/POST pods/<name>/exec or attach, upgraded to a WebSocket.
pub fn exec(
    state: &State,
    t: &Target,
    q: &Query,
    ws: Option<WebSocketUpgrade>,
    attach: bool,
) -> Result<Response, ApiError> {
    let p = pod(state, t)?;
    let container = param(q, "container");
    check_container(&p, container)?;
    let command: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if !attach && command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let rt = state
        .runtime
        .as_ref()
        .ok_or_else(|| no_runtime(state, crate::meta::name(&p)))?;
    let ws = ws.ok_or_else(|| {
        ApiError::bad_request(
            "kube-sim serves exec/attach only over WebSocket (v4/v5.channel.k8s.io); SPDY is not supported",
        )
    })?;
    let req = ExecRequest {
        namespace: crate::meta::namespace(&p).to_string(),
        pod: crate::meta::name(&p).to_string(),
        container: container.map(String::from),
        command,
        stdin: flag(q, "stdin"),
        stdout: flag(q, "stdout"),
        stderr: flag(q, "stderr"),
        tty: flag(q, "tty"),
        attach,
    };
    Ok(rt.exec_upgrade(ws, req))
}
