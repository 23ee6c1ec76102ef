//! `gantry runner`: register with GitLab, run its jobs, unregister. Signals: SIGTERM or
//! SIGQUIT stop taking jobs and let running ones finish; SIGINT or a second signal cancels them.

use super::usage_error;
use crate::cli::{RunnerCommand, RunnerExecutorKind};
use crate::runner::config::{RunnerConfig, RunnerExecutor, default_path};
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Runs `gantry runner …`.
pub fn runner(command: &RunnerCommand) -> ExitCode {
    match super::logged_runtime() {
        Ok(runtime) => runtime.block_on(dispatch(command)),
        Err(e) => usage_error(e),
    }
}

async fn dispatch(command: &RunnerCommand) -> ExitCode {
    match command {
        RunnerCommand::Register {
            url,
            token,
            config,
            executor,
            concurrent,
        } => {
            let file = config.file.clone().unwrap_or_else(default_path);
            let executor = match executor {
                RunnerExecutorKind::Shell => RunnerExecutor::Shell,
                RunnerExecutorKind::Docker => RunnerExecutor::Docker,
                RunnerExecutorKind::Kubernetes => RunnerExecutor::Kubernetes,
            };
            match crate::runner::register(url, token, &file, executor, *concurrent).await {
                Ok(r) => {
                    let id = r.id.map(|i| format!(" #{i}")).unwrap_or_default();
                    println!(
                        "Registered runner{id} with {}; configuration written to {} (mode 0600). Start it with `gantry runner run --config {}`.",
                        crate::runner::client::check_url(url).unwrap_or_default(),
                        r.file.display(),
                        r.file.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(e),
            }
        }
        RunnerCommand::Unregister { config } => {
            let file = config.file.clone().unwrap_or_else(default_path);
            match crate::runner::unregister(&file).await {
                Ok(()) => {
                    println!("Unregistered; {} removed", file.display());
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(e),
            }
        }
        RunnerCommand::Run { config } => {
            let file = config.file.clone().unwrap_or_else(default_path);
            let config = match RunnerConfig::load(&file) {
                Ok(c) => c,
                Err(e) => return usage_error(e),
            };
            let (graceful_tx, graceful) = watch::channel(false);
            let (force_tx, force) = watch::channel(false);
            let signals = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::quit()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(t), Ok(q), Ok(i)) => (t, q, i),
                _ => {
                    return usage_error(super::CmdError::Runtime(std::io::Error::other(
                        "cannot install signal handlers",
                    )));
                }
            };
            tokio::spawn(async move {
                let (mut term, mut quit, mut int) = signals;
                loop {
                    let forced = tokio::select! {
                        _ = term.recv() => false,
                        _ = quit.recv() => false,
                        _ = int.recv() => true,
                    };
                    if forced || *graceful_tx.borrow() {
                        tracing::info!("forced stop: canceling running jobs");
                        let _ = graceful_tx.send(true);
                        let _ = force_tx.send(true);
                    } else {
                        tracing::info!("graceful stop: no new jobs; running jobs finish");
                        let _ = graceful_tx.send(true);
                    }
                }
            });
            match crate::runner::run(config, crate::runner::Stop { graceful, force }).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => usage_error(e),
            }
        }
    }
}
