//! Readiness and liveness probes, run from inside the pod: `exec` in the container itself,
//! `httpGet` (busybox wget) and `tcpSocket` (busybox nc) in the infra container, which shares
//! the pod's network namespace — so they work whatever Docker's host networking allows.

use super::state::ProbeState;
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Runs `cmd` in container `id`; its exit code, or None on timeout or a Docker error.
pub async fn exec_code(
    docker: &Docker,
    id: &str,
    cmd: Vec<String>,
    timeout: Duration,
) -> Option<i64> {
    let work = async {
        let exec = docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .ok()?;
        if let Ok(StartExecResults::Attached { mut output, .. }) =
            docker.start_exec(&exec.id, None).await
        {
            while output.next().await.is_some() {}
        }
        docker.inspect_exec(&exec.id).await.ok()?.exit_code
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

fn num(probe: &Value, field: &str, default: u64) -> u64 {
    probe.get(field).and_then(|v| v.as_u64()).unwrap_or(default)
}

/// A named or numeric port of the container.
fn port(container: &Value, p: &Value) -> Option<u16> {
    if let Some(n) = p.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = p.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    container
        .get("ports")?
        .as_array()?
        .iter()
        .find(|cp| cp.get("name").and_then(|n| n.as_str()) == Some(name))?
        .get("containerPort")?
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
}

/// One probe run: true on success.
async fn run_once(
    docker: &Docker,
    infra: &str,
    id: &str,
    container: &Value,
    probe: &Value,
    pod_ip: &str,
) -> bool {
    let timeout = num(probe, "timeoutSeconds", 1).max(1);
    let limit = Duration::from_secs(timeout + 2);
    let host = |h: Option<&Value>| {
        h.and_then(|h| h.as_str())
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| {
                if pod_ip.is_empty() {
                    "127.0.0.1".into()
                } else {
                    pod_ip.to_string()
                }
            })
    };
    if let Some(cmd) = probe.pointer("/exec/command").and_then(|c| c.as_array()) {
        let cmd = cmd
            .iter()
            .map(|s| s.as_str().unwrap_or("").to_string())
            .collect();
        return exec_code(docker, id, cmd, limit).await == Some(0);
    }
    if let Some(h) = probe.get("httpGet") {
        let Some(p) = h.get("port").and_then(|p| port(container, p)) else {
            return false;
        };
        let scheme = h
            .get("scheme")
            .and_then(|s| s.as_str())
            .unwrap_or("HTTP")
            .to_ascii_lowercase();
        let path = h.get("path").and_then(|s| s.as_str()).unwrap_or("/");
        // No `-T`: Debian's static busybox wget crashes with it; the exec timeout bounds it.
        let mut cmd = vec![
            "wget".to_string(),
            "-q".into(),
            "-O".into(),
            "/dev/null".into(),
        ];
        if scheme == "https" {
            cmd.push("--no-check-certificate".into());
        }
        for hd in h
            .get("httpHeaders")
            .and_then(|x| x.as_array())
            .into_iter()
            .flatten()
        {
            let n = hd.get("name").and_then(|x| x.as_str()).unwrap_or("");
            let v = hd.get("value").and_then(|x| x.as_str()).unwrap_or("");
            cmd.extend(["--header".to_string(), format!("{n}: {v}")]);
        }
        cmd.push(format!("{scheme}://{}:{p}{path}", host(h.get("host"))));
        return exec_code(docker, infra, cmd, limit).await == Some(0);
    }
    if let Some(t) = probe.get("tcpSocket") {
        let Some(p) = t.get("port").and_then(|p| port(container, p)) else {
            return false;
        };
        // nc exits 0 when the peer closes, 1 when the connection fails; a connected peer that
        // stays silent is cut by `timeout` (exit >= 124): that is a success too.
        let cmd = vec![
            "timeout".to_string(),
            (timeout + 1).to_string(),
            "nc".into(),
            "-w".into(),
            timeout.to_string(),
            host(t.get("host")),
            p.to_string(),
        ];
        return matches!(exec_code(docker, infra, cmd, limit).await, Some(c) if c == 0 || c >= 124);
    }
    // grpc and unknown handlers: not supported, counted as success so pods still become ready.
    true
}

/// Runs the probe if it is due; returns Some(new result) when the threshold logic changed it.
pub async fn tick(
    docker: &Docker,
    infra: &str,
    id: &str,
    container: &Value,
    probe: &Value,
    pod_ip: &str,
    st: &mut ProbeState,
    started: Instant,
) -> Option<bool> {
    let now = Instant::now();
    let next = st
        .next
        .unwrap_or(started + Duration::from_secs(num(probe, "initialDelaySeconds", 0)));
    if now < next {
        return None;
    }
    st.next = Some(now + Duration::from_secs(num(probe, "periodSeconds", 10).max(1)));
    if run_once(docker, infra, id, container, probe, pod_ip).await {
        st.successes += 1;
        st.failures = 0;
        (st.successes >= num(probe, "successThreshold", 1).max(1) as u32).then_some(true)
    } else {
        st.failures += 1;
        st.successes = 0;
        (st.failures >= num(probe, "failureThreshold", 3).max(1) as u32).then_some(false)
    }
}
