//! Commands in a job's pod through `pods/exec`: the script with its output streamed live and its
//! exit code, and the workspace in and out as tar streams (the image needs `tar`, as with
//! GitLab's Kubernetes executor).

use crate::executor::{ExecutorError, Sink, Stream};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, AttachedProcess};
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The exit code a finished exec reports (`Success`, or the `ExitCode` cause of a failure).
pub fn exit_code(status: Option<&Status>) -> Result<i32, ExecutorError> {
    let Some(s) = status else {
        return Err(ExecutorError::ExecNoStatus);
    };
    if s.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let code = s
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref()?.trim().parse().ok());
    code.ok_or_else(|| ExecutorError::ExecFailed {
        message: s
            .message
            .as_deref()
            .unwrap_or("no reason given")
            .to_string(),
    })
}

/// Opens `pods/exec` of `command` in `pod`; `what` opens the error's message.
async fn open<I: Into<String>>(
    api: &Api<Pod>,
    pod: &str,
    what: &'static str,
    command: impl IntoIterator<Item = I> + std::fmt::Debug,
    params: &AttachParams,
) -> Result<AttachedProcess, ExecutorError> {
    api.exec(pod, command, params)
        .await
        .map_err(|source| ExecutorError::Exec {
            what,
            pod: pod.to_string(),
            source,
        })
}

async fn pump(mut from: impl AsyncRead + Unpin, out: Sink, stream: Stream) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.write(stream, &buf[..n]);
    }
}

/// Runs `command` in the pod's build container, streaming its output to `out`; its exit code.
pub async fn run(
    api: Api<Pod>,
    pod: String,
    command: Vec<String>,
    out: Sink,
) -> Result<i32, ExecutorError> {
    let params = AttachParams::default()
        .container(super::pod::CONTAINER)
        .stdout(true)
        .stderr(true);
    let mut proc = open(&api, &pod, "exec", command, &params).await?;
    let status = proc.take_status();
    let mut pumps = Vec::new();
    if let Some(o) = proc.stdout() {
        pumps.push(tokio::spawn(pump(o, out.clone(), Stream::Stdout)));
    }
    if let Some(e) = proc.stderr() {
        pumps.push(tokio::spawn(pump(e, out.clone(), Stream::Stderr)));
    }
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    for p in pumps {
        let _ = p.await;
    }
    let _ = proc.join().await;
    exit_code(status.as_ref())
}

/// An interactive shell in the pod's build container, in the job's workspace, on a TTY
/// relayed to this terminal; its exit code.
pub async fn shell(
    api: &Api<Pod>,
    pod: &str,
    job: &crate::executor::JobSpec,
    exports: &str,
) -> Result<i32, ExecutorError> {
    use crate::executor::terminal;
    let cmd = format!(
        "cd '{}' && {exports} export PS1='{}'; {}",
        job.workspace.display().to_string().replace('\'', "'\\''"),
        terminal::prompt(&job.name).replace('\'', "'\\''"),
        terminal::SHELL_COMMAND
    );
    let params = AttachParams::interactive_tty().container(super::pod::CONTAINER);
    let mut proc = open(
        api,
        pod,
        "exec",
        ["sh".to_string(), "-c".into(), cmd],
        &params,
    )
    .await?;
    if let (Some((rows, cols)), Some(mut size)) = (terminal::size(), proc.terminal_size()) {
        use futures_util::SinkExt;
        let _ = size
            .send(kube::api::TerminalSize {
                width: cols,
                height: rows,
            })
            .await;
    }
    let status = proc.take_status();
    let (Some(input), Some(output)) = (proc.stdin(), proc.stdout()) else {
        return Err(ExecutorError::ExecNoTerminal);
    };
    let banner = terminal::banner(job, &format!("in pod {pod}"));
    terminal::relay(&banner, input, output).await;
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    let _ = proc.join().await;
    exit_code(status.as_ref())
}

/// A tar stream of `dirs`, each under its absolute path without the leading `/`.
fn pack(dirs: &[&Path]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    for dir in dirs {
        let inside = dir.strip_prefix("/").unwrap_or(dir);
        tar.append_dir_all(inside, dir)?;
    }
    tar.into_inner()
}

/// Copies `dirs` into the pod at the same paths (`tar -x` fed through stdin).
pub async fn copy_in(api: &Api<Pod>, pod: &str, dirs: &[&Path]) -> Result<(), ExecutorError> {
    let data = pack(dirs).map_err(|source| ExecutorError::Workspace {
        what: "packing the workspace".into(),
        source,
    })?;
    let params = AttachParams::default()
        .container(super::pod::CONTAINER)
        .stdin(true)
        .stdout(true)
        .stderr(true);
    let tar = ["tar", "-x", "-f", "-", "-C", "/"];
    let mut proc = open(api, pod, "exec tar", tar, &params).await?;
    let status = proc.take_status();
    let mut stderr = proc.stderr();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut text).await;
        }
        text
    });
    if let Some(mut stdin) = proc.stdin() {
        stdin
            .write_all(&data)
            .await
            .map_err(|source| ExecutorError::Workspace {
                what: "sending the workspace".into(),
                source,
            })?;
        let _ = stdin.shutdown().await;
    }
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    let errors = errors.await.unwrap_or_default();
    match exit_code(status.as_ref()) {
        Ok(0) => Ok(()),
        Ok(code) => Err(ExecutorError::Tar {
            mode: "-x",
            code,
            stderr: errors,
        }),
        Err(e) => Err(ExecutorError::TarExec {
            source: Box::new(e),
            stderr: errors,
        }),
    }
}

/// Copies the pod's `dir` back over the host's `dir` (replacing its contents), refusing
/// entries that would land outside it.
pub async fn copy_out(api: &Api<Pod>, pod: &str, dir: &Path) -> Result<(), ExecutorError> {
    let params = AttachParams::default()
        .container(super::pod::CONTAINER)
        .stdout(true)
        .stderr(true);
    let shown = dir.display().to_string();
    let tar = ["tar", "-c", "-f", "-", "-C", shown.as_str(), "."];
    let mut proc = open(api, pod, "exec tar", tar, &params).await?;
    let status = proc.take_status();
    let mut data = Vec::new();
    if let Some(mut o) = proc.stdout() {
        o.read_to_end(&mut data)
            .await
            .map_err(|source| ExecutorError::Workspace {
                what: "reading the workspace back".into(),
                source,
            })?;
    }
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    match exit_code(status.as_ref())? {
        0 => {}
        code => {
            return Err(ExecutorError::Tar {
                mode: "-c",
                code,
                stderr: String::new(),
            });
        }
    }
    unpack(&data, dir).map_err(|source| ExecutorError::Workspace {
        what: format!("unpacking the workspace into {shown}"),
        source,
    })
}

/// Replaces `dir`'s contents with the archive's; `unpack_in` refuses `..` and absolute paths.
fn unpack(data: &[u8], dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    let mut archive = tar::Archive::new(data);
    archive.set_preserve_ownerships(false);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.unpack_in(dir)? {
            return Err(std::io::Error::other(format!(
                "refused entry outside the workspace: {}",
                entry.path()?.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_come_from_the_status() {
        let ok: Status = serde_json::from_value(serde_json::json!({"status": "Success"})).unwrap();
        assert!(matches!(exit_code(Some(&ok)), Ok(0)));
        let failed: Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}
        }))
        .unwrap();
        assert!(matches!(exit_code(Some(&failed)), Ok(3)));
        assert!(matches!(exit_code(None), Err(ExecutorError::ExecNoStatus)));
    }

    #[test]
    fn unpack_replaces_contents_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old"), "x").unwrap();
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("out")).unwrap();
        std::fs::write(src.path().join("out/a.txt"), "a").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.append_dir_all(".", src.path()).unwrap();
        unpack(&b.into_inner().unwrap(), dir.path()).unwrap();
        assert!(!dir.path().join("old").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out/a.txt")).unwrap(),
            "a"
        );

        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        // `set_path` refuses `..`; write the raw name as a hostile archive would.
        h.as_old_mut().name[..10].copy_from_slice(b"../escaped");
        h.set_cksum();
        evil.append(&h, &b"x"[..]).unwrap();
        assert!(
            unpack(&evil.into_inner().unwrap(), dir.path()).is_err()
                || !dir.path().parent().unwrap().join("escaped").exists()
        );
        assert!(!dir.path().parent().unwrap().join("escaped").exists());
    }
}
