//! `pods/portforward` over WebSocket (`v4`/`v5.channel.k8s.io`), as kube-rs `Api::portforward`
//! speaks it: for the i-th requested port, channel 2i carries data and 2i+1 errors; each
//! channel starts with a frame holding the port (little endian). kube-sim connects from the
//! host to the pod's IP (Docker bridge networks are routable from the host). kubectl's
//! port-forward (SPDY tunnelled in WebSocket) is not supported.

use crate::objects::{Query, Target};
use crate::state::State;
use crate::status::ApiError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

fn ports(q: &Query) -> Result<Vec<u16>, ApiError> {
    let mut out = Vec::new();
    for (_, v) in q.iter().filter(|(k, _)| k == "ports") {
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(
                p.parse::<u16>()
                    .map_err(|_| ApiError::bad_request(format!("invalid port {p:?}")))?,
            );
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request("at least one port must be specified"));
    }
    Ok(out)
}

/// GET pods/<name>/portforward, upgraded to a WebSocket.
pub fn portforward(
    state: &State,
    t: &Target,
    q: &Query,
    ws: Option<WebSocketUpgrade>,
) -> Result<Response, ApiError> {
    let name = t.name.as_deref().unwrap_or("");
    let pod = state
        .store
        .get("/pods", t.namespace.as_deref().unwrap_or(""), name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} has no IP (is it running?)")))?
        .to_string();
    let ports = ports(q)?;
    let ws = ws.ok_or_else(|| {
        ApiError::bad_request("kube-sim serves port-forward only over WebSocket (v4/v5.channel.k8s.io); SPDY is not supported")
    })?;
    Ok(ws
        .protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| serve(socket, ip, ports)))
}

async fn serve(socket: WebSocket, ip: String, ports: Vec<u16>) {
    let (mut sink, mut incoming) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut writers = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, err) = ((2 * i) as u8, (2 * i + 1) as u8);
        let [lo, hi] = port.to_le_bytes();
        let _ = tx.send(vec![data, lo, hi]);
        let _ = tx.send(vec![err, lo, hi]);
        match TcpStream::connect((ip.as_str(), *port)).await {
            Ok(stream) => {
                let (mut read, write) = stream.into_split();
                writers.push(Some(write));
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let mut frame = Vec::with_capacity(n + 1);
                                frame.push(data);
                                frame.extend_from_slice(&buf[..n]);
                                if tx.send(frame).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
            Err(e) => {
                writers.push(None);
                let mut frame = vec![err];
                frame.extend_from_slice(
                    format!("error forwarding port {port} to pod {ip}: {e}").as_bytes(),
                );
                let _ = tx.send(frame);
            }
        }
    }
    drop(tx);
    while let Some(Ok(msg)) = incoming.next().await {
        let bytes = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&ch, payload)) = bytes.split_first() else {
            continue;
        };
        if ch % 2 != 0 {
            continue;
        }
        let slot = usize::from(ch / 2);
        if let Some(Some(w)) = writers.get_mut(slot)
            && w.write_all(payload).await.is_err()
        {
            writers[slot] = None;
        }
    }
    writer.abort();
}
