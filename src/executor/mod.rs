//! `executor`: where a job's commands run. One trait with the lifecycle of a pipeline, not only
//! of a job (woodpecker's SetupWorkflow / StartStep / WaitStep / DestroyWorkflow): set up
//! pipeline-wide resources, run jobs (streaming output, honouring timeout and cancellation),
//! tear everything down — always, also after failure and interruption.
//! May not touch: scheduling decisions, artifacts and caches (the runner moves files in and out
//! of the job's workspace, which is a host directory for every executor).

pub mod auto;
pub mod choice;
pub mod docker;
mod error;
pub mod kubernetes;
pub mod registry_auth;
pub mod shell;
pub mod terminal;

pub use error::ExecutorError;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// One attempt of one job, ready to run.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// Concrete job name.
    pub name: String,
    /// Host directory holding the job's files; `CI_PROJECT_DIR` for the job.
    pub workspace: PathBuf,
    /// Scratch directory for generated scripts (outside the workspace).
    pub scratch: PathBuf,
    /// Variables, final values (file-type ones already point at files).
    pub env: Vec<(String, String)>,
    /// `before_script` then `script`, in one shell.
    pub script: Vec<String>,
    /// `after_script`, in a new shell, also after failure.
    pub after_script: Vec<String>,
    /// Container image, for executors that use one.
    pub image: Option<String>,
    /// Entrypoint override for the image.
    pub entrypoint: Option<Vec<String>>,
    /// User to run as inside the container.
    pub user: Option<String>,
    /// Service containers to start beside the job.
    pub services: Vec<ServiceSpec>,
    /// Longest the script may run.
    pub timeout: Option<Duration>,
    /// How long a cancelled or timed-out job gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// The executor the plan chose (`shell`, `docker`, `kubernetes`; see `choice.rs`).
    pub executor: &'static str,
    /// Host paths the job reads but must not change (the project's git objects); containers
    /// get them mounted read-only at the same path.
    pub read_only: Vec<PathBuf>,
    /// Whether a person gets an interactive shell in the job's environment.
    pub interactive: Interactive,
}

/// When `run_job` opens an interactive shell on gantry's terminal ([`terminal`]) in the job's
/// environment (its image, services, workspace, variables, working directory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Interactive {
    /// Never: the job runs as GitLab runs it.
    #[default]
    Off,
    /// Instead of the script (`gantry shell JOB`); the shell's exit code is the job's.
    Instead,
    /// When the script failed, before `after_script` (`gantry run --shell-on-failure`).
    OnFailure,
}

impl JobSpec {
    /// Whether `--shell-on-failure` applies to a script that ended with `exit`.
    pub fn shell_after(&self, exit: &Exit) -> bool {
        self.interactive == Interactive::OnFailure
            && !matches!(exit, Exit::Code(0) | Exit::Canceled)
    }
}

/// Reports how a `--shell-on-failure` shell ended; the job's result stands.
pub fn report_shell(out: &Sink, r: &Result<i32, ExecutorError>) {
    let text = match r {
        Ok(c) => format!(
            "shell closed (exit {c}); the job stays failed, after_script and the pipeline go on\n"
        ),
        Err(e) => format!("could not open a shell: {e}\n"),
    };
    out.write(Stream::Stderr, text.as_bytes());
}

/// The job's result when its shell replaced the script.
pub fn shell_exit(r: Result<i32, ExecutorError>) -> Exit {
    match r {
        Ok(c) => Exit::Code(c),
        Err(e) => Exit::Error(e.to_string()),
    }
}

/// A service container.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    /// Image.
    pub image: String,
    /// Extra hostname.
    pub alias: Option<String>,
    /// Entrypoint override.
    pub entrypoint: Option<Vec<String>>,
    /// Command override.
    pub command: Option<Vec<String>>,
    /// Service-only variables (on top of the job's).
    pub variables: Vec<(String, String)>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The script exited with this code.
    Code(i32),
    /// The timeout killed it.
    TimedOut,
    /// The pipeline was cancelled while it ran.
    Canceled,
    /// It could not be started at all.
    Error(String),
}

impl Exit {
    /// `CI_JOB_STATUS` as `after_script` sees it: `success`, `failed` or `canceled`.
    pub fn job_status(&self) -> &'static str {
        match self {
            Exit::Code(0) => "success",
            Exit::Canceled => "canceled",
            _ => "failed",
        }
    }
}

/// GitLab's default `after_script` timeout.
pub const AFTER_SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Reports an `after_script` that did not succeed; it never changes the job's result.
pub fn report_after_script(out: &Sink, code: &Exit) {
    if *code != Exit::Code(0) {
        out.write(
            Stream::Stderr,
            format!("after_script failed ({code:?}); the job's result stands\n").as_bytes(),
        );
    }
}

/// Which stream a chunk of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The job's stdout.
    Stdout,
    /// The job's stderr.
    Stderr,
}

/// Receives a job's output as it arrives (raw bytes; lines may be split across chunks).
pub trait OutputSink: Send + Sync {
    /// Called for every chunk read.
    fn write(&self, stream: Stream, data: &[u8]);
}

/// Shared output sink.
pub type Sink = Arc<dyn OutputSink>;

/// A sink that drops everything (image checks made before a job is known to run).
pub struct Discard;

impl OutputSink for Discard {
    fn write(&self, _: Stream, _: &[u8]) {}
}

/// Cancellation signal: becomes `true` when the job must stop.
pub type Cancel = watch::Receiver<bool>;

/// Resolves once `timeout` has passed; never without one.
pub async fn deadline(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// Resolves once `cancel` turns true; never if it cannot any more.
pub async fn cancelled(cancel: &mut Cancel) {
    while !*cancel.borrow_and_update() {
        if cancel.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs jobs somewhere: this machine's shell, Docker, Kubernetes.
pub trait Executor: Send + Sync + 'static {
    /// Short name (`shell`, `docker`).
    fn name(&self) -> &'static str;

    /// Creates pipeline-wide resources (networks, namespaces) before any job.
    fn setup_pipeline(
        &self,
        pipeline: &str,
    ) -> impl Future<Output = Result<(), ExecutorError>> + Send;

    /// Runs one attempt of `job`: its script, then its `after_script` — or, as
    /// `job.interactive` asks, an interactive shell in its environment instead of the script,
    /// or after a failed script (see [`Interactive`]).
    fn run_job(
        &self,
        job: &JobSpec,
        out: Sink,
        cancel: Cancel,
    ) -> impl Future<Output = Exit> + Send;

    /// Removes everything the pipeline created; returns what was cleaned, for the user.
    fn teardown_pipeline(&self) -> impl Future<Output = Vec<String>> + Send;

    /// The content digest of `image` as a job assigned to `executor` would run it (after
    /// `--image-map` and the pull policy), for job reuse: `Ok(None)` when this executor
    /// ignores images (shell), `Err` with the reason when it cannot be known.
    fn image_digest(
        &self,
        executor: &'static str,
        image: &str,
    ) -> impl Future<Output = Result<Option<String>, ExecutorError>> + Send {
        let _ = (executor, image);
        async { Ok(None) }
    }

    /// The executor's settings that can change a job's outcome, as text for its reuse key.
    fn fingerprint(&self, executor: &'static str) -> String {
        executor.to_string()
    }
}
