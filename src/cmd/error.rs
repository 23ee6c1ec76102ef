//! Why a command cannot do what it was asked, besides an invalid pipeline (which lint's report
//! shows): printed once by `usage_error`, which also picks the exit code (2).

use std::path::PathBuf;

/// A usage or I/O problem of a subcommand.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// `.gantry/config.toml` cannot be used.
    #[error(transparent)]
    Config(#[from] crate::project::config::ConfigError),
    /// The reuse store or its key cannot be opened.
    #[error(transparent)]
    Store(#[from] crate::reuse::StoreError),
    /// An `--image-map` entry is malformed.
    #[error("--{0}")]
    ImageMap(#[from] crate::project::executors::ImageMapError),
    /// The async runtime cannot start (no threads, no file descriptors).
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The executors the plan needs cannot be had.
    #[error(transparent)]
    Build(#[from] crate::project::executors::BuildError),
    /// A job named on the command line is not in the plan.
    #[error(transparent)]
    NotInPipeline(#[from] crate::plan::NotInPipeline),
    /// `gantry shell JOB` where JOB is a parallel job with several instances.
    #[error("`{name}` has {} instances; name one: {}", instances.len(), instances.join(", "))]
    Ambiguous {
        /// The job's name.
        name: String,
        /// Its instances' names.
        instances: Vec<String>,
    },
    /// Inside a job, `gantry render` was given a path outside the project.
    #[error(
        "{} leads outside the project directory ($CI_PROJECT_DIR) through a symlink or `..`; refused",
        path.display()
    )]
    Outside {
        /// As given.
        path: PathBuf,
    },
}
