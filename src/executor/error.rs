//! What can go wrong getting a job somewhere to run: one type for every executor, because the
//! `Executor` trait hands it to `run` and `serve`, which tell an engine that is not there from
//! an image that is not there by variant, not by reading the message. The wording is what the
//! user sees in the job's log and the run's summary; the engine's own error stays the source.

use bollard::errors::Error as DockerError;

/// How a Docker, Kubernetes or local shell set-up failed (the job's script failing is an
/// `Exit`, not this).
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// No engine at `DOCKER_HOST` or the default socket.
    #[error("cannot reach a Docker engine: {source}")]
    DockerUnreachable {
        /// The client's error.
        source: DockerError,
    },
    /// The engine is there but does not answer its ping.
    #[error("the Docker engine does not answer: {source}")]
    DockerSilent {
        /// The client's error.
        source: DockerError,
    },
    /// `image` is not in the local engine.
    #[error("not in the local Docker engine ({source})")]
    ImageNotLocal {
        /// The image asked for.
        image: String,
        /// The engine's answer.
        source: DockerError,
    },
    /// The engine knows the image but gives it no ID.
    #[error("the engine reports no image ID")]
    NoImageId {
        /// The image asked for.
        image: String,
    },
    /// `--pull never` and the image is missing.
    #[error("image `{image}` is not present locally and --pull never forbids pulling it")]
    PullForbidden {
        /// The image asked for.
        image: String,
    },
    /// The pull failed and there is no local copy to fall back on.
    #[error(
        "image `{image}` is not available locally and could not be pulled ({source}); build it locally, \
         load it and use --pull never, substitute a local image with --image-map {image}=LOCAL, or, for \
         a registry that needs a login, give gantry its credentials (DOCKER_AUTH_CONFIG, `docker login`)"
    )]
    PullFailed {
        /// The image asked for.
        image: String,
        /// The registry's or engine's answer.
        source: DockerError,
    },
    /// The pull failed with the registry credentials gantry found (a wrong password, a
    /// registry that refuses the user, or no answer at all); `reason` is the engine's answer
    /// with every secret of the credentials masked.
    #[error(
        "image `{image}` could not be pulled from registry {registry} with credentials {credentials}: {reason}"
    )]
    PullWithCredentials {
        /// The image asked for.
        image: String,
        /// The registry's host.
        registry: String,
        /// Where the credentials came from (`from …`; no value).
        credentials: String,
        /// Why, masked.
        reason: String,
    },
    /// A container could not be created.
    #[error("cannot create a container: {source}")]
    CreateContainer {
        /// The engine's answer.
        source: DockerError,
    },
    /// A service container could not be started.
    #[error("service `{image}`: {source}")]
    ServiceStart {
        /// The service's image.
        image: String,
        /// The engine's answer.
        source: DockerError,
    },
    /// A service started but did not become ready.
    #[error("service `{image}` did not become ready: {source}")]
    ServiceNotReady {
        /// The service's image.
        image: String,
        /// Why (a `ContainerExited`, `NoAnswer` or engine error).
        source: Box<ExecutorError>,
    },
    /// The engine failed an operation on a container (inspect, wait).
    #[error("{source}")]
    Engine {
        /// The engine's answer.
        source: DockerError,
    },
    /// A service container stopped while gantry waited for it.
    #[error("the container exited")]
    ContainerExited,
    /// A service's ports stayed closed.
    #[error("no answer on port(s) {ports:?} within {seconds}s")]
    NoAnswer {
        /// The exposed TCP ports.
        ports: Vec<u16>,
        /// The service timeout.
        seconds: u64,
    },
    /// `docker attach` failed for an interactive shell.
    #[error("cannot attach to the shell container: {source}")]
    AttachShell {
        /// The engine's answer.
        source: DockerError,
    },
    /// The interactive shell's container did not start.
    #[error("cannot start the shell container: {source}")]
    StartShell {
        /// The engine's answer.
        source: DockerError,
    },
    /// The engine's wait stream ended without a status.
    #[error("the engine ended the wait without a status")]
    WaitEnded,
    /// The pipeline's network could not be created.
    #[error("cannot create network {name}: {source}")]
    CreateNetwork {
        /// The network's name.
        name: String,
        /// The engine's answer.
        source: DockerError,
    },
    /// An image digest for reuse cannot be known for a pod's image.
    #[error("{why}; pin it by digest (`name@sha256:…`) to make the job reusable")]
    NoPodDigest {
        /// Why not.
        why: Box<ExecutorError>,
    },
    /// `--pull always`: the cluster pulls the image anew, so no local digest says what runs.
    #[error("the cluster pulls it anew (--pull always)")]
    PulledAnew,
    /// No Docker engine to ask for a pod image's digest.
    #[error("no local Docker engine to ask ({source})")]
    NoEngineToAsk {
        /// Why the engine could not be reached.
        source: Box<ExecutorError>,
    },
    /// A container executor was given a job without an image.
    #[error("the {executor} executor needs an image (set `image:` or `default: image:`)")]
    NeedsImage {
        /// `docker` or `kubernetes`.
        executor: &'static str,
    },
    /// A Docker job's image digest was asked for, but no engine is connected.
    #[error("no Docker engine is reachable")]
    NoDocker,
    /// A Kubernetes job was assigned but no cluster is configured.
    #[error("no cluster is configured")]
    NoCluster,
    /// The build namespace's object could not be built.
    #[error("{source}")]
    NamespaceObject {
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// The API server refused the build namespace.
    #[error("cannot create build namespace {name}: {message}")]
    CreateNamespace {
        /// The namespace.
        name: String,
        /// The API server's answer, with its causes.
        message: String,
    },
    /// A job's image-pull Secret could not be made (its content is never part of this).
    #[error("cannot create image-pull secret {name} in namespace {namespace}: {message}")]
    PullSecret {
        /// The Secret's name.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The API server's answer, with its causes.
        message: String,
    },
    /// gantry's job pods could not be listed (`gantry gc`, a run's start).
    #[error("listing pods: {message}")]
    ListPods {
        /// The API server's answer, with its causes.
        message: String,
    },
    /// `pods/exec` could not be opened (for the script, a shell or the workspace's tar).
    #[error("{what} in pod {pod}: {source}")]
    Exec {
        /// `exec` or `exec tar`.
        what: &'static str,
        /// The pod.
        pod: String,
        /// The client's error.
        source: kube::Error,
    },
    /// The exec's connection closed without a status.
    #[error("the exec ended without a status (connection lost?)")]
    ExecNoStatus,
    /// The exec failed without an exit code.
    #[error("exec failed: {message}")]
    ExecFailed {
        /// The API server's message.
        message: String,
    },
    /// An interactive exec was given no terminal streams.
    #[error("the pod's exec gave no terminal")]
    ExecNoTerminal,
    /// A local I/O step of the workspace copy failed (`what`: packing, sending, reading back…).
    #[error("{what}: {source}")]
    Workspace {
        /// The step.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `tar` in the pod failed (`mode` is `-x` or `-c`).
    #[error("tar {mode} in the pod exited with {code}{}", tail(stderr))]
    Tar {
        /// `-x` (copy in) or `-c` (copy out).
        mode: &'static str,
        /// Its exit code.
        code: i32,
        /// What it wrote on stderr.
        stderr: String,
    },
    /// The exec of the workspace's tar ended without an exit code.
    #[error("{source} {}", stderr.trim())]
    TarExec {
        /// Why.
        source: Box<ExecutorError>,
        /// What tar wrote on stderr.
        stderr: String,
    },
    /// The interactive shell on this terminal failed.
    #[error(transparent)]
    Terminal(#[from] super::terminal::TerminalError),
}

/// `: stderr` when tar wrote something.
fn tail(stderr: &str) -> String {
    match stderr.trim() {
        "" => String::new(),
        s => format!(": {s}"),
    }
}
