//! `pods/exec` and `pods/attach` over the WebSocket channel protocol: a Docker exec (or an
//! attach to the container's main process) whose stdin, stdout, stderr and TTY size are
//! multiplexed on the socket, ending with the exit status on the error channel.

use super::channel::{self, Protocol};
use super::{ExecRequest, Runtime, RuntimeError};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder, ResizeExecOptionsBuilder,
};
use futures_util::{SinkExt, StreamExt};
use std::pin::Pin;
use tokio::io::{AsyncWrite, AsyncWriteExt};

type Output =
    Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// A Kubernetes `Status` error response for a request refused before the upgrade.
pub fn status_response(err: &RuntimeError) -> Response {
    let code = err.http_status();
    let reason = match code {
        404 => "NotFound",
        400 => "BadRequest",
        _ => "InternalError",
    };
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": err.to_string(), "reason": reason, "code": code,
    });
    let status = axum::http::StatusCode::from_u16(code)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl Runtime {
    /// See [`Runtime::exec_upgrade`].
    pub(crate) fn exec_upgrade_impl(&self, ws: WebSocketUpgrade, req: ExecRequest) -> Response {
        let id = match self.container_id(&req.namespace, &req.pod, req.container.as_deref(), false)
        {
            Ok(id) => id,
            Err(e) => return status_response(&e),
        };
        if !req.attach && req.command.is_empty() {
            return status_response(&RuntimeError::BadRequest(
                "you must specify at least 1 command".into(),
            ));
        }
        let ws = ws.protocols(channel::PROTOCOLS);
        let proto = Protocol::from_name(ws.selected_protocol().and_then(|p| p.to_str().ok()));
        let rt = self.clone();
        ws.on_upgrade(move |socket| async move { rt.serve(socket, proto, id, req).await })
    }

    /// Starts the exec or attach; (output, stdin, exec id for exec).
    async fn open(
        &self,
        id: &str,
        req: &ExecRequest,
    ) -> Result<(Output, Input, Option<String>), String> {
        let docker = &self.inner.docker;
        if req.attach {
            let opts = AttachContainerOptionsBuilder::new()
                .stdin(req.stdin)
                .stdout(req.stdout)
                .stderr(req.stderr)
                .stream(true)
                .logs(false)
                .build();
            let r = docker
                .attach_container(id, Some(opts))
                .await
                .map_err(|e| e.to_string())?;
            return Ok((r.output, r.input, None));
        }
        let exec = docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(req.command.clone()),
                    attach_stdin: Some(req.stdin),
                    attach_stdout: Some(req.stdout),
                    attach_stderr: Some(req.stderr),
                    tty: Some(req.tty),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        match docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| e.to_string())?
        {
            StartExecResults::Attached { output, input } => Ok((output, input, Some(exec.id))),
            StartExecResults::Detached => Err("the exec started detached".into()),
        }
    }

    async fn serve(self, socket: WebSocket, proto: Protocol, id: String, req: ExecRequest) {
        let (mut sink, mut incoming) = socket.split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let send = |ch: u8, data: &[u8]| {
            let _ = tx.send(Message::Binary(channel::frame(ch, data).into()));
        };
        let (mut output, mut input, exec_id) = match self.open(&id, &req).await {
            Ok(x) => x,
            Err(e) => {
                send(channel::ERROR, &channel::failure(proto, &e));
                drop(tx);
                let _ = writer.await;
                return;
            }
        };
        // Client → process: stdin, resize, v5 close of stdin.
        let docker = self.inner.docker.clone();
        let (exec_for_reader, container, attach) = (exec_id.clone(), id.clone(), req.attach);
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = incoming.next().await {
                let data = match msg {
                    Message::Binary(b) => b.to_vec(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                match data.first() {
                    Some(&channel::STDIN) => {
                        if input.write_all(&data[1..]).await.is_err() {
                            break;
                        }
                        let _ = input.flush().await;
                    }
                    Some(&channel::RESIZE) => {
                        if let Some((w, h)) = channel::resize(&data[1..]) {
                            match (&exec_for_reader, attach) {
                                (Some(exec), false) => {
                                    let o = ResizeExecOptionsBuilder::new()
                                        .w(i32::from(w))
                                        .h(i32::from(h))
                                        .build();
                                    let _ = docker.resize_exec(exec, o).await;
                                }
                                _ => {
                                    let o = ResizeContainerTTYOptionsBuilder::new()
                                        .w(i32::from(w))
                                        .h(i32::from(h))
                                        .build();
                                    let _ = docker.resize_container_tty(&container, o).await;
                                }
                            }
                        }
                    }
                    Some(&channel::CLOSE) if data.get(1) == Some(&channel::STDIN) => {
                        let _ = input.shutdown().await;
                    }
                    _ => {}
                }
            }
        });
        // Process → client.
        while let Some(item) = output.next().await {
            match item {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    send(channel::STDOUT, &message)
                }
                Ok(LogOutput::StdErr { message }) => send(channel::STDERR, &message),
                Ok(LogOutput::StdIn { .. }) => {}
                Err(_) => break,
            }
        }
        let code = match &exec_id {
            Some(exec) => self
                .inner
                .docker
                .inspect_exec(exec)
                .await
                .ok()
                .and_then(|i| i.exit_code),
            None => None,
        };
        if let Some(status) = channel::exit_status(proto, &req.command, code) {
            send(channel::ERROR, &status);
        }
        reader.abort();
        drop(tx);
        let _ = writer.await;
    }
}
