//! Registering, unregistering, and the runner's loop: long-polled job requests, up to
//! `concurrent` jobs at once, a graceful stop (no new jobs, running ones finish) and a forced
//! one (running jobs are canceled and reported).

use super::RunnerError;
use super::client::Client;
use super::config::{RunnerConfig, RunnerExecutor, new_system_id};
use super::job::{Backend, Context, run as run_job};
use super::payload::Job;
use http::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// What `register` wrote.
#[derive(Debug)]
pub struct Registered {
    /// The runner's id at GitLab.
    pub id: Option<u64>,
    /// The configuration file.
    pub file: PathBuf,
}

/// Asks GitLab whether `token` is a runner's (`POST /api/v4/runners/verify`) and writes the
/// configuration `file` (mode 0600) for it.
pub async fn register(
    url: &str,
    token: &str,
    file: &Path,
    executor: RunnerExecutor,
    concurrent: usize,
) -> Result<Registered, RunnerError> {
    let client = Client::new(url)?;
    let system_id = new_system_id();
    let answer = client
        .json(
            Method::POST,
            "/api/v4/runners/verify",
            &json!({"token": token, "system_id": system_id}),
        )
        .await?;
    if !(200..300).contains(&answer.status) {
        return Err(RunnerError::Refused {
            url: client.base().to_string(),
            status: answer.status,
        });
    }
    let body: serde_json::Value = answer.json("/api/v4/runners/verify").unwrap_or_default();
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = std::path::absolute(&base).unwrap_or(base);
    let config = RunnerConfig {
        url: client.base().to_string(),
        // GitLab may answer with the token it keeps (the same one, or a rotated one).
        token: body["token"].as_str().unwrap_or(token).to_string(),
        id: body["id"].as_u64(),
        token_expires_at: body["token_expires_at"].as_str().map(str::to_string),
        system_id,
        executor,
        concurrent: concurrent.max(1),
        check_interval: 3.0,
        builds_dir: base.join("builds"),
        cache_dir: base.join("cache"),
        docker: Default::default(),
        kubernetes: Default::default(),
    };
    config.save(file)?;
    Ok(Registered {
        id: config.id,
        file: file.to_path_buf(),
    })
}

/// Removes this machine from the runner at GitLab (`DELETE /api/v4/runners/managers`) and
/// deletes the configuration file.
pub async fn unregister(file: &Path) -> Result<(), RunnerError> {
    let config = RunnerConfig::load(file)?;
    let client = Client::new(&config.url)?;
    let answer = client
        .json(
            Method::DELETE,
            "/api/v4/runners/managers",
            &json!({"token": config.token, "system_id": config.system_id}),
        )
        .await?;
    if !(200..300).contains(&answer.status) {
        return Err(RunnerError::Refused {
            url: client.base().to_string(),
            status: answer.status,
        });
    }
    std::fs::remove_file(file).map_err(|source| super::ConfigError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// How the runner is told to stop.
pub struct Stop {
    /// Becomes true: take no new jobs, let running ones finish.
    pub graceful: watch::Receiver<bool>,
    /// Becomes true: cancel running jobs.
    pub force: watch::Receiver<bool>,
}

/// What the runner tells GitLab about itself.
fn info(executor: RunnerExecutor) -> serde_json::Value {
    json!({
        "name": "gantry",
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "gantry",
        "platform": std::env::consts::OS,
        "architecture": match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        },
        "executor": executor.name(),
        "shell": "bash",
        "features": {
            "variables": true,
            "image": executor != RunnerExecutor::Shell,
            "services": executor != RunnerExecutor::Shell,
            "artifacts": true,
            "cache": true,
            "fallback_cache_keys": true,
            "shared": false,
            "upload_multiple_artifacts": true,
            "upload_raw_artifacts": true,
            "session": false,
            "terminal": false,
            "refspecs": true,
            "masking": true,
            "proxy": false,
            "raw_variables": true,
            "artifacts_exclude": true,
            "multi_build_steps": true,
            "trace_reset": true,
            "trace_checksum": true,
            "trace_size": true,
            "vault_secrets": false,
            "cancelable": true,
            "return_exit_code": true,
            "service_variables": true,
            "service_multiple_aliases": false,
            "image_executor_opts": false,
            "cancel_gracefully": true,
        },
    })
}

/// Asks GitLab for a job; `None` when it has none (204).
async fn request(
    client: &Client,
    config: &RunnerConfig,
    last_update: &mut Option<String>,
) -> Result<Option<Job>, RunnerError> {
    let mut body = json!({
        "token": config.token,
        "system_id": config.system_id,
        "info": info(config.executor),
    });
    if let Some(l) = last_update.as_deref() {
        body["last_update"] = json!(l);
    }
    let path = "/api/v4/jobs/request";
    let answer = client.json(Method::POST, path, &body).await?;
    if let Some(l) = answer.header("X-GitLab-Last-Update") {
        *last_update = Some(l.to_string());
    }
    match answer.status {
        201 => Ok(Some(answer.json(path)?)),
        204 | 409 => Ok(None),
        403 | 401 => Err(RunnerError::Refused {
            url: client.base().to_string(),
            status: answer.status,
        }),
        other => {
            tracing::warn!(status = other, "job request: unexpected answer");
            Ok(None)
        }
    }
}

async fn until(stop: &mut watch::Receiver<bool>) {
    crate::executor::cancelled(stop).await
}

/// Takes and runs jobs until `stop` says so; returns once every running job has ended.
pub async fn run(config: RunnerConfig, stop: Stop) -> Result<(), RunnerError> {
    let client = Client::new(&config.url)?;
    let backend = match config.executor {
        RunnerExecutor::Shell => Backend::Shell,
        RunnerExecutor::Docker => Backend::Docker(
            crate::executor::docker::connect()
                .await
                .map_err(RunnerError::Docker)?,
        ),
        RunnerExecutor::Kubernetes => {
            let choice = crate::environment::config::ClusterChoice {
                kubeconfig: config.kubernetes.kubeconfig.clone(),
                context: config.kubernetes.context.clone(),
            };
            let c = crate::environment::cluster::connect(&choice)
                .await
                .map_err(RunnerError::Cluster)?;
            tracing::info!(server = %c.server, context = %c.context, "kubernetes executor");
            Backend::Kubernetes(c)
        }
    };
    let concurrent = config.concurrent.max(1);
    let interval = Duration::from_secs_f64(config.check_interval);
    let ctx = Arc::new(Context {
        client: client.clone(),
        slots: Mutex::new(vec![false; concurrent]),
        config,
        backend,
    });
    let Stop {
        mut graceful,
        force,
    } = stop;
    let permits = Arc::new(Semaphore::new(concurrent));
    let mut jobs = tokio::task::JoinSet::new();
    let mut last_update = None;
    tracing::info!(url = %client.base(), concurrent, "runner started");
    loop {
        while jobs.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = until(&mut graceful) => break,
        };
        let answer = tokio::select! {
            a = request(&client, &ctx.config, &mut last_update) => a,
            _ = until(&mut graceful) => break,
        };
        match answer {
            Ok(Some(job)) => {
                tracing::info!(job = job.id, name = %job.job_info.name, "job received");
                let (ctx, force) = (ctx.clone(), force.clone());
                jobs.spawn(async move {
                    run_job(ctx, job, force).await;
                    drop(permit);
                });
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("{e}"),
        }
        drop(permit);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = until(&mut graceful) => break,
        }
    }
    // Jobs that ended while the loop waited are still in the set: only the others run.
    while jobs.try_join_next().is_some() {}
    if !jobs.is_empty() {
        tracing::info!(
            running = jobs.len(),
            "stopping: waiting for running jobs (a second signal cancels them)"
        );
    }
    while jobs.join_next().await.is_some() {}
    tracing::info!("runner stopped");
    Ok(())
}
