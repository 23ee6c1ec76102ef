//! `watch=true`: newline-delimited `{"type", "object"}` events, replayed from a
//! resourceVersion (410 Gone as an ERROR event when it is too old), with BOOKMARKs and
//! `sendInitialEvents` (watch-list) support.

use crate::objects::{Query, Target, flag, param, selectors};
use crate::state::State;
use crate::status::ApiError;
use axum::body::Body;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

fn line(kind: &str, object: &Value) -> bytes::Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    bytes::Bytes::from(s)
}

fn bookmark(t: &Target, rv: u64, initial_end: bool) -> Value {
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": t.rt.kind, "apiVersion": t.rt.api_version(), "metadata": md})
}

/// Starts a watch stream for the target collection.
pub fn watch(state: Arc<State>, t: &Target, q: &Query) -> Result<Response, ApiError> {
    let (ls, fs) = selectors(q)?;
    let key = t.rt.key();
    let ns = t.namespace.clone();
    let bookmarks = flag(q, "allowWatchBookmarks");
    let timeout = param(q, "timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let rv_param = param(q, "resourceVersion").unwrap_or("").to_string();
    let initial = flag(q, "sendInitialEvents");
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(256);
    let matches = {
        let ns = ns.clone();
        let key = key.clone();
        move |ev_key: &str, ev_ns: &str, obj: &Value| {
            ev_key == key
                && ns.as_deref().is_none_or(|n| n == ev_ns)
                && ls.matches(obj)
                && fs.matches(obj)
        }
    };
    // Initial events and the live receiver, taken atomically.
    let (mut initial_lines, mut last_rv, live): (Vec<bytes::Bytes>, u64, broadcast::Receiver<_>) =
        if rv_param.is_empty() || rv_param == "0" || initial {
            let (items, rv, rx) = state.store.snapshot_and_watch(&key, ns.as_deref());
            let lines = items
                .iter()
                .filter(|o| matches(&key, crate::meta::namespace(o), o))
                .map(|o| line("ADDED", o))
                .collect();
            (lines, rv, rx)
        } else {
            let from: u64 = rv_param.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resourceVersion {rv_param:?}"))
            })?;
            match state.store.watch_from(from) {
                Ok((replay, rx)) => {
                    let mut last = from;
                    let lines = replay
                        .iter()
                        .filter(|e| matches(&e.key, &e.namespace, &e.object))
                        .map(|e| {
                            last = e.rv;
                            line(e.kind, &e.object)
                        })
                        .collect();
                    (lines, last.max(from), rx)
                }
                Err(too_old) => {
                    let status = ApiError::gone(format!(
                        "too old resource version: {from} ({})",
                        too_old.oldest
                    ))
                    .to_status();
                    let body = line("ERROR", &status);
                    return Ok(stream_response(Body::from(body)));
                }
            }
        };
    if initial && bookmarks {
        initial_lines.push(line("BOOKMARK", &bookmark(t, last_rv, true)));
    }
    let interval = state.bookmark_interval;
    let target = t.clone();
    tokio::spawn(async move {
        for l in initial_lines {
            if tx.send(l).await.is_err() {
                return;
            }
        }
        let mut live = live;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    let rv = state.store.current_rv().max(last_rv);
                    if tx.send(line("BOOKMARK", &bookmark(&target, rv, false))).await.is_err() {
                        return;
                    }
                }
                ev = live.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= last_rv {
                            continue;
                        }
                        last_rv = ev.rv;
                        if matches(&ev.key, &ev.namespace, &ev.object)
                            && tx.send(line(ev.kind, &ev.object)).await.is_err()
                        {
                            return;
                        }
                    }
                    // Lagged or closed: end the stream; clients re-watch from their last rv.
                    Err(_) => return,
                },
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Ok(stream_response(Body::from_stream(stream)))
}

fn stream_response(body: Body) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
