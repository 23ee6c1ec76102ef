//! The shell executor: runs a job's script with bash (or sh) on this machine, in the job's
//! workspace, in its own process group so a timeout or cancellation ends every process the job
//! started — and nothing it started outlives it. Should gantry itself die (SIGKILL), its
//! watchdog kills the job's group (`process::watchdog`; no `pre_exec` hook, so std spawns jobs
//! with `posix_spawn` instead of forking all of gantry), and the group recorded in the run
//! directory (`run::orphans`) lets the next run or `gantry gc` stop whatever escaped it.

use super::{AFTER_SCRIPT_TIMEOUT, Cancel, Executor, ExecutorError, Exit, JobSpec, Sink, Stream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// Runs jobs with the local shell.
#[derive(Debug, Default)]
pub struct ShellExecutor;

/// bash when available (for `pipefail`), else sh.
fn shell() -> &'static (PathBuf, bool) {
    static SHELL: OnceLock<(PathBuf, bool)> = OnceLock::new();
    SHELL.get_or_init(|| {
        for dir in std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .chain(["/bin", "/usr/bin"])
        {
            let bash = Path::new(dir).join("bash");
            if bash.is_file() {
                return (bash, true);
            }
        }
        (PathBuf::from("/bin/sh"), false)
    })
}

/// The script GitLab's runner would generate: strict mode, then each line echoed and run.
pub fn render_script(lines: &[String], bash: bool, strict: bool) -> String {
    let mut s = String::from(if bash {
        "#!/usr/bin/env bash\n"
    } else {
        "#!/bin/sh\n"
    });
    if strict {
        s.push_str(if bash {
            "set -eo pipefail\n"
        } else {
            "set -e\n"
        });
    }
    s.push_str("cd \"$CI_PROJECT_DIR\"\n");
    for line in lines {
        let shown = line.lines().next().unwrap_or("");
        let more = if line.lines().nth(1).is_some() {
            " # collapsed multi-line command"
        } else {
            ""
        };
        s.push_str(&format!(
            "printf '\\033[32;1m$ %s\\033[0;m\\n' {}\n",
            quote(&format!("{shown}{more}"))
        ));
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// The same script for any POSIX shell (bash, dash, busybox ash): `pipefail` where supported.
/// Used in containers, where which shell exists is only known at run time.
pub fn render_portable(lines: &[String]) -> String {
    let body = render_script(lines, false, true);
    body.replacen(
        "set -e\n",
        "set -e\nif (set -o pipefail) 2>/dev/null; then set -o pipefail; fi\n",
        1,
    )
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Executor for ShellExecutor {
    fn name(&self) -> &'static str {
        "shell"
    }

    async fn setup_pipeline(&self, _pipeline: &str) -> Result<(), ExecutorError> {
        Ok(())
    }

    async fn run_job(&self, job: &JobSpec, out: Sink, cancel: Cancel) -> Exit {
        let (shell, bash) = shell();
        let main = job.scratch.join("script.sh");
        if let Err(e) = std::fs::create_dir_all(&job.scratch)
            .and_then(|_| std::fs::write(&main, render_script(&job.script, *bash, true)))
        {
            return Exit::Error(format!("cannot write the job script: {e}"));
        }
        if job.interactive == super::Interactive::Instead {
            return super::shell_exit(open_shell(job).await);
        }
        let exit = run_script(shell, &main, job, job.timeout, out.clone(), cancel.clone()).await;
        if job.shell_after(&exit) {
            super::report_shell(&out, &open_shell(job).await);
        }
        if !job.after_script.is_empty() {
            let after = job.scratch.join("after_script.sh");
            if std::fs::write(&after, render_script(&job.after_script, *bash, true)).is_ok() {
                // after_script runs after failure, timeout and cancellation too; its result is
                // reported but does not change the job's.
                let (_, never) = tokio::sync::watch::channel(false);
                let mut after_job = job.clone();
                after_job
                    .env
                    .push(("CI_JOB_STATUS".into(), exit.job_status().into()));
                let code = run_script(
                    shell,
                    &after,
                    &after_job,
                    Some(AFTER_SCRIPT_TIMEOUT),
                    out.clone(),
                    never,
                )
                .await;
                super::report_after_script(&out, &code);
            }
        }
        exit
    }

    async fn teardown_pipeline(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `PATH` with the running gantry's directory first, so job scripts can call `gantry render`
/// (a job's own `PATH` variable, applied after this, still wins).
pub fn path_with_gantry() -> std::ffi::OsString {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    else {
        return current;
    };
    let mut dirs = vec![dir];
    dirs.extend(std::env::split_paths(&current));
    std::env::join_paths(dirs).unwrap_or(current)
}

/// An interactive shell in the job's workspace with its variables, on a pseudo-terminal.
async fn open_shell(job: &JobSpec) -> Result<i32, ExecutorError> {
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", super::terminal::SHELL_COMMAND])
        .current_dir(&job.workspace)
        .env("PATH", path_with_gantry())
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .env("PS1", super::terminal::prompt(&job.name));
    let banner = super::terminal::banner(job, "in the local shell");
    Ok(super::terminal::run_on_pty(&banner, cmd).await?)
}

async fn run_script(
    shell: &Path,
    script: &Path,
    job: &JobSpec,
    timeout: Option<Duration>,
    out: Sink,
    mut cancel: Cancel,
) -> Exit {
    let mut cmd = Command::new(shell);
    cmd.arg(script)
        .current_dir(&job.workspace)
        .env("PATH", path_with_gantry())
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Exit::Error(format!("cannot start {}: {e}", shell.display())),
    };
    let pgid = child.id().map(|p| p as i32);
    let record = job
        .env
        .iter()
        .find(|(k, _)| k == crate::run::orphans::MARKER)
        .map(|(_, run_dir)| crate::run::orphans::processes_file(run_dir));
    let watched = pgid.map(|pg| {
        use crate::process::watchdog::{Record, watch};
        match &record {
            Some(file) => {
                crate::process::record_group(file, pg);
                watch(pg, Record::File(file))
            }
            None => watch(pg, Record::None),
        }
    });
    let readers = [
        child
            .stdout
            .take()
            .map(|s| tokio::spawn(pump(s, Stream::Stdout, out.clone()))),
        child
            .stderr
            .take()
            .map(|s| tokio::spawn(pump(s, Stream::Stderr, out.clone()))),
    ];
    let exit = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => Exit::Code(s.code().unwrap_or_else(|| 128 + signal_of(&s))),
            Err(e) => Exit::Error(e.to_string()),
        },
        _ = super::deadline(timeout) => {
            stop_group(pgid, job.grace, &mut child).await;
            Exit::TimedOut
        }
        _ = super::cancelled(&mut cancel) => {
            stop_group(pgid, job.grace, &mut child).await;
            Exit::Canceled
        }
    };
    // Whatever the script left running in the background ends with the job.
    drop(watched);
    for r in readers.into_iter().flatten() {
        let _ = r.await;
    }
    exit
}

fn signal_of(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(0)
}

/// SIGTERM to the group, then SIGKILL after `grace` if the script is still there.
async fn stop_group(pgid: Option<i32>, grace: Duration, child: &mut tokio::process::Child) {
    let Some(pg) = pgid else { return };
    kill_group(pg, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        kill_group(pg, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

fn kill_group(pgid: i32, signal: i32) {
    // SAFETY: killpg only sends a signal; a stale group id yields ESRCH, which is fine.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

async fn pump(mut reader: impl tokio::io::AsyncRead + Unpin, stream: Stream, out: Sink) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => out.write(stream, &buf[..n]),
        }
    }
}
