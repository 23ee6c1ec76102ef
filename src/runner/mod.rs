//! `runner`: gantry as a GitLab runner, a third front door beside `cmd` and `serve`. It
//! registers with a GitLab instance (`POST /api/v4/runners/verify`, the authentication-token
//! flow), long-polls `POST /api/v4/jobs/request` and runs each job GitLab hands out with
//! gantry's executors (`executor::shell`, `executor::docker`), streaming the masked trace back
//! and reporting the result as GitLab Runner does (`network/gitlab.go` is the reference).
//!
//! GitLab has already planned the job (rules, needs, variables, `extends`): the payload is the
//! plan. So the runner does not load, lint or plan YAML; it maps the payload onto an executor
//! `JobSpec` and reuses `run`'s artifact collection (path safety) and local caches.
//!
//! May not touch: YAML, `plan`, `lint`, the scheduler, `serve`.

pub mod client;
pub mod config;
mod files;
mod git;
mod job;
pub mod payload;
mod service;
mod trace;

pub use client::{Client, ClientError};
pub use config::{ConfigError, RunnerConfig};
pub use service::{Registered, Stop, register, run, unregister};

/// Why the runner cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The configuration file cannot be read or written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// GitLab cannot be reached or refused a request.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The docker executor is configured and Docker cannot be reached.
    #[error("the docker executor: {0}")]
    Docker(#[source] crate::executor::ExecutorError),
    /// The kubernetes executor is configured and its cluster cannot be used.
    #[error("the kubernetes executor: {0}")]
    Cluster(#[source] crate::environment::EnvError),
    /// GitLab refused the token.
    #[error(
        "GitLab at {url} refused the runner token (HTTP {status}); register again with a valid glrt- token"
    )]
    Refused {
        /// The instance.
        url: String,
        /// Its answer.
        status: u16,
    },
}
