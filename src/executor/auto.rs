//! Picks the executor per job, as GitLab's runners would for this pipeline: jobs with an image
//! run in Docker, jobs without one in the shell (or everything in the shell with
//! `--executor shell`).

use super::docker::DockerExecutor;
use super::shell::ShellExecutor;
use super::{Cancel, Executor, Exit, JobSpec, Sink};

/// Shell for jobs without an image, Docker (when present) for jobs with one.
pub struct AutoExecutor {
    shell: ShellExecutor,
    docker: Option<DockerExecutor>,
}

impl AutoExecutor {
    /// `docker` is `None` when images are to be ignored (`--executor shell`).
    pub fn new(docker: Option<DockerExecutor>) -> Self {
        AutoExecutor {
            shell: ShellExecutor,
            docker,
        }
    }
}

impl Executor for AutoExecutor {
    fn name(&self) -> &'static str {
        if self.docker.is_some() {
            "docker and shell"
        } else {
            "shell"
        }
    }

    async fn setup_pipeline(&self, pipeline: &str) -> Result<(), String> {
        match &self.docker {
            Some(d) => d.setup_pipeline(pipeline).await,
            None => Ok(()),
        }
    }

    async fn run_job(&self, job: &JobSpec, out: Sink, cancel: Cancel) -> Exit {
        match (&self.docker, &job.image) {
            (Some(d), Some(_)) => d.run_job(job, out, cancel).await,
            _ => self.shell.run_job(job, out, cancel).await,
        }
    }

    async fn teardown_pipeline(&self) -> Vec<String> {
        match &self.docker {
            Some(d) => d.teardown_pipeline().await,
            None => Vec::new(),
        }
    }
}
