//! `serve`: gantry as a self-hosted CI server. Webhooks, the API and a watcher create
//! pipelines; a bounded queue starts them within global and per-repository limits, each on its
//! own checkout of its exact commit, through the same `run` and `executor` code as `gantry run`
//! (a [`RunObserver`](crate::report::run::RunObserver) records statuses and logs in SQLite);
//! the API, Server-Sent Events and an embedded web UI show them live.
//! May not touch: pipeline semantics (that is `plan` and `run`), how jobs execute (`executor`).

pub mod api;
pub mod auth;
pub mod checkout;
pub mod config;
pub mod credentials;
pub mod db;
pub mod environments;
pub mod error;
pub mod execute;
pub mod forge;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod outbox;
pub mod queue;
pub mod runners;
pub mod schedule;
pub mod sse;
pub mod trust;
pub mod ui;
pub mod watcher;
pub mod webhooks;

use crate::run::layout::StateDir;
use config::Config;
use db::{Db, NewPipeline, PipelineRow};
use error::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Everything the server's tasks share.
pub struct App {
    /// Settings.
    pub config: Config,
    /// History.
    pub db: Db,
    /// SHA-256 of the API token.
    pub token_hash: String,
    /// Live status and log events (for SSE).
    pub events: broadcast::Sender<sse::Event>,
    /// Job logs being written.
    pub logs: logs::LogStore,
    /// Prometheus counters.
    pub metrics: metrics::Metrics,
    /// Waiting and running pipelines.
    pub queue: queue::Queue,
    /// Becomes true on SIGTERM: stop accepting, end live streams.
    pub shutdown: watch::Sender<bool>,
    /// Commit statuses waiting for the forge.
    pub outbox: outbox::Outbox,
    /// Jobs waiting for and running on runners on other machines.
    pub runners: runners::Coordinator,
}

impl App {
    /// Stores `p` as pending and queues it; older pipelines of the same ref are superseded.
    pub fn enqueue(self: &Arc<Self>, p: NewPipeline) -> Result<PipelineRow, ApiError> {
        if *self.shutdown.borrow() {
            return Err(ApiError::unavailable("the server is shutting down"));
        }
        if self.queue.depth() >= self.config.queue_limit {
            return Err(ApiError::unavailable(format!(
                "the queue is full ({} pipelines waiting)",
                self.config.queue_limit
            )));
        }
        let row = self.db.insert_pipeline(&p)?;
        if let Some(held) = trust::hold(self, &row)? {
            return Ok(held);
        }
        tracing::info!(pipeline = row.id, repository = %p.repository, git_ref = %p.git_ref, sha = %p.sha, source = %p.source, "pipeline queued");
        self.publish_pipeline(&row);
        if matches!(p.source.as_str(), "push" | "merge_request_event") && p.only_job.is_none() {
            let (waiting, running) = self.queue.supersede(&row);
            for id in waiting {
                let why = format!("superseded by pipeline #{}", row.id);
                self.finish_unstarted(id, &why);
            }
            for id in running {
                tracing::info!(
                    pipeline = id,
                    by = row.id,
                    "auto-canceling a superseded pipeline"
                );
            }
        }
        self.queue.push(&row);
        Ok(row)
    }

    /// Marks a pipeline that never started `canceled` with `reason`.
    pub fn finish_unstarted(&self, id: i64, reason: &str) {
        if let Err(e) = self.db.set_pipeline_status(id, "canceled", Some(reason)) {
            tracing::error!(pipeline = id, "{e}");
        }
        if let Ok(Some(row)) = self.db.pipeline(id) {
            self.publish_pipeline(&row);
        }
    }

    /// Where `run` keeps repository `repo`'s caches and each pipeline's artifacts.
    pub fn state_of(&self, repo: &str) -> StateDir {
        StateDir::new(
            self.config
                .data_dir
                .join("repos")
                .join(checkout::dir_name(repo)),
        )
    }

    /// Sends a pipeline's status to live listeners (and, through the outbox, to the forge).
    pub fn publish_pipeline(&self, row: &PipelineRow) {
        outbox::record(self, row);
        let _ = self.events.send(sse::Event::Pipeline {
            id: row.id,
            repository: row.new.repository.clone(),
            git_ref: row.new.git_ref.clone(),
            status: row.status.clone(),
        });
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory cannot be created.
    #[error("cannot create {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The database cannot be opened or set up.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// No API token could be generated.
    #[error(transparent)]
    Token(#[from] auth::NoRandomness),
    /// The listen address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// As configured.
        address: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The bound address cannot be read back.
    #[error("cannot read the listening address: {0}")]
    LocalAddr(#[source] std::io::Error),
}

/// Starts the server with `config` and runs it until SIGTERM/SIGINT; `Err` says why it could
/// not start.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let db = Db::open(&config.data_dir.join("gantry.db"))?;
    let token_hash = match (&config.api_token, db.setting("api_token_hash")?) {
        (Some(t), _) => auth::hash(t),
        (None, Some(h)) => h,
        (None, None) => {
            let token = auth::random_secret("gantry_")?;
            println!(
                "gantry serve: generated an API token (shown only once, store it now): {token}"
            );
            auth::hash(&token)
        }
    };
    db.set_setting("api_token_hash", &token_hash)?;
    for r in &config.repositories {
        db.upsert_repository(&r.name, &r.source)?;
    }
    let interrupted = db.interrupt_running()?;
    let waiting = db.pipelines_in("pending")?;
    let (events, _) = broadcast::channel(8192);
    let (shutdown, _) = watch::channel(false);
    let app = Arc::new(App {
        logs: logs::LogStore::new(config.log_limit),
        metrics: metrics::Metrics::default(),
        queue: queue::Queue::default(),
        config,
        db,
        token_hash,
        events,
        shutdown,
        outbox: outbox::Outbox::default(),
        runners: runners::Coordinator::default(),
    });
    if !interrupted.is_empty() {
        tracing::warn!(pipelines = ?interrupted, "pipelines interrupted by the last shutdown marked failed");
    }
    for id in &interrupted {
        if let Ok(Some(row)) = app.db.pipeline(*id) {
            outbox::record(&app, &row);
        }
    }
    execute::reap(&app, &interrupted).await;
    for row in &waiting {
        app.queue.push(row);
    }
    let listener = tokio::net::TcpListener::bind(&app.config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            address: app.config.listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let base_url = app
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let _ = app.outbox.base_url.set(base_url);
    tokio::spawn(outbox::deliver(app.clone()));
    tokio::spawn(execute::dispatch(app.clone()));
    tokio::spawn(logs::flusher(app.clone()));
    tokio::spawn(environments::auto_stop(app.clone()));
    tokio::spawn(watcher::watch(app.clone()));
    schedule::sync(&app)?;
    tokio::spawn(schedule::tick(app.clone()));
    let router = http::router(app.clone());
    println!("gantry serve: listening on http://{addr}");
    tracing::info!(%addr, repositories = app.config.repositories.len(), "listening");
    let mut stop = app.shutdown.subscribe();
    tokio::spawn(signals(app.clone()));
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    if let Err(e) = server.await {
        tracing::error!("server error: {e}");
    }
    drain(&app).await;
    Ok(())
}

async fn signals(app: Arc<App>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: no new pipelines; waiting for running ones");
    let _ = app.shutdown.send(true);
}

/// Graceful end: running pipelines get `shutdown_grace`, then are canceled (their `when:
/// always` jobs and teardown still run) and finally aborted; logs are flushed.
async fn drain(app: &Arc<App>) {
    let grace = Duration::from_secs(app.config.shutdown_grace);
    if !app.queue.wait_idle(grace).await {
        tracing::warn!("grace period over: canceling running pipelines");
        app.queue.interrupt_all("canceled: the server shut down");
        if !app.queue.wait_idle(grace.max(Duration::from_secs(5))).await {
            tracing::warn!("aborting `when: always` jobs");
            app.queue.interrupt_all("canceled: the server shut down");
            app.queue.wait_idle(Duration::from_secs(30)).await;
        }
    }
    app.logs.flush_all(&app.db);
    tracing::info!("stopped");
}
