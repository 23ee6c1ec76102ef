//! Runs each job on the executor the plan assigned it (`choice.rs`: Docker for jobs with an
//! image, the shell for the rest, unless `[executor]` rules or `--executor` say otherwise):
//! the shell, Docker, or Kubernetes pods.

use super::docker::DockerExecutor;
use super::kubernetes::KubernetesExecutor;
use super::shell::ShellExecutor;
use super::{Cancel, Executor, ExecutorError, Exit, JobSpec, Sink};

/// The shell, and Docker and Kubernetes when jobs were assigned to them.
pub struct AutoExecutor {
    shell: ShellExecutor,
    docker: Option<DockerExecutor>,
    kubernetes: Option<KubernetesExecutor>,
}

impl AutoExecutor {
    /// `docker` is `None` when no job was assigned to Docker.
    pub fn new(docker: Option<DockerExecutor>) -> Self {
        AutoExecutor {
            shell: ShellExecutor,
            docker,
            kubernetes: None,
        }
    }

    /// Also runs the jobs the plan assigned to Kubernetes, on `k`.
    pub fn with_kubernetes(mut self, k: KubernetesExecutor) -> Self {
        self.kubernetes = Some(k);
        self
    }
}

impl Executor for AutoExecutor {
    fn name(&self) -> &'static str {
        match (&self.docker, &self.kubernetes) {
            (Some(_), Some(_)) => "docker, kubernetes and shell",
            (Some(_), None) => "docker and shell",
            (None, Some(_)) => "kubernetes and shell",
            (None, None) => "shell",
        }
    }

    async fn setup_pipeline(&self, pipeline: &str) -> Result<(), ExecutorError> {
        if let Some(d) = &self.docker {
            d.setup_pipeline(pipeline).await?;
        }
        if let Some(k) = &self.kubernetes {
            k.setup_pipeline(pipeline).await?;
        }
        Ok(())
    }

    async fn run_job(&self, job: &JobSpec, out: Sink, cancel: Cancel) -> Exit {
        // The plan's assignment decides, never the image alone: an `[executor]` rule may send
        // a job with an image to the shell while other jobs need Docker.
        match (job.executor, &self.docker, &self.kubernetes) {
            ("kubernetes", _, Some(k)) => k.run_job(job, out, cancel).await,
            ("kubernetes", _, None) => Exit::Error(
                "this job is assigned to the kubernetes executor, but no cluster is configured"
                    .into(),
            ),
            ("docker", Some(d), _) => d.run_job(job, out, cancel).await,
            ("docker", None, _) => Exit::Error(
                "this job is assigned to the docker executor, but no Docker engine is connected"
                    .into(),
            ),
            _ => self.shell.run_job(job, out, cancel).await,
        }
    }

    async fn image_digest(
        &self,
        executor: &'static str,
        image: &str,
    ) -> Result<Option<String>, ExecutorError> {
        match (executor, &self.docker, &self.kubernetes) {
            ("kubernetes", _, Some(k)) => k.image_digest(executor, image).await,
            ("kubernetes", _, None) => Err(ExecutorError::NoCluster),
            ("docker", Some(d), _) => d.image_digest(executor, image).await,
            _ => self.shell.image_digest(executor, image).await,
        }
    }

    fn fingerprint(&self, executor: &'static str) -> String {
        match (executor, &self.docker, &self.kubernetes) {
            ("kubernetes", _, Some(k)) => k.fingerprint(executor),
            ("docker", Some(d), _) => d.fingerprint(executor),
            _ => self.shell.fingerprint("shell"),
        }
    }

    async fn teardown_pipeline(&self) -> Vec<String> {
        let mut report = Vec::new();
        if let Some(d) = &self.docker {
            report.extend(d.teardown_pipeline().await);
        }
        if let Some(k) = &self.kubernetes {
            report.extend(k.teardown_pipeline().await);
        }
        report
    }
}
