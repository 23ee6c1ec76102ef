//! The Docker executor, through the Engine API (bollard; never the docker CLI). Each job gets a
//! container of its image with the workspace bind-mounted at the same path as on the host (so
//! every path in its variables stays valid); a job with services runs on the pipeline's bridge
//! network (created when the first such job needs it), its services on it under their aliases
//! and GitLab's default hostnames; `after_script` runs in a fresh container. Images are pulled
//! with the registry credentials `registry_auth` finds for them, as GitLab Runner's. Everything
//! carries `gantry.*` labels, so teardown — and `gantry gc` after a crash — finds it all.

use super::registry_auth::{self, Sources};
use super::{Cancel, Executor, ExecutorError, Exit, JobSpec, ServiceSpec, Sink, Stream};
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Label naming the pipeline a resource belongs to.
pub const LABEL_PIPELINE: &str = "gantry.pipeline";
/// Label naming the job.
pub const LABEL_JOB: &str = "gantry.job";
/// Label with the creating gantry process id (for `gc`).
pub const LABEL_PID: &str = "gantry.pid";
/// Label with the creation time (seconds since the epoch).
pub const LABEL_CREATED: &str = "gantry.created";

/// When to pull images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// Always try to pull.
    Always,
    /// Pull only when missing (default).
    IfNotPresent,
    /// Never pull.
    Never,
}

/// Settings of the Docker executor.
#[derive(Clone, Debug)]
pub struct DockerOptions {
    /// Pull policy.
    pub pull: Pull,
    /// Image substitutions `FROM=TO` (e.g. a locally built image for a registry one).
    pub image_map: Vec<(String, String)>,
    /// How long services get to accept connections on their exposed ports.
    pub service_timeout: Duration,
    /// Run `docker:dind` services for real (privileged) instead of passing the host engine through.
    pub privileged_dind: bool,
    /// Without `privileged_dind`: pass the host's Docker socket to jobs with a `docker:dind`
    /// service (root on the host, so `gantry serve` does it only where the operator opted in
    /// and never for an untrusted pipeline); false: such a service is not started at all.
    pub host_socket: bool,
}

impl Default for DockerOptions {
    fn default() -> Self {
        DockerOptions {
            pull: Pull::IfNotPresent,
            image_map: Vec::new(),
            service_timeout: Duration::from_secs(30),
            privileged_dind: false,
            host_socket: true,
        }
    }
}

/// What the engine (or the registry behind it) said, without bollard's status-code preamble.
fn engine_reason(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        DockerError::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// The local engine's ID of `image` (the digest of its configuration: a rebuild under the same
/// tag changes it).
pub async fn local_image_digest(docker: &Docker, image: &str) -> Result<String, ExecutorError> {
    let info =
        docker
            .inspect_image(image)
            .await
            .map_err(|source| ExecutorError::ImageNotLocal {
                image: image.to_string(),
                source,
            })?;
    info.id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ExecutorError::NoImageId {
            image: image.to_string(),
        })
}

/// The Docker executor's settings that change what a job does (for its reuse key).
pub fn fingerprint(privileged_dind: bool) -> String {
    format!("docker privileged_dind={privileged_dind}")
}

/// Runs jobs in containers.
pub struct DockerExecutor {
    docker: Docker,
    options: DockerOptions,
    pipeline: Mutex<String>,
    /// The pipeline's network, once a job with services has needed it.
    network: tokio::sync::Mutex<Option<String>>,
    /// Images already checked (or pulled) in this run: one inspection per image, not per job.
    ready_images: Mutex<std::collections::HashSet<String>>,
    /// Each image's `USER`, inspected once per image, not per job.
    image_users: Mutex<HashMap<String, String>>,
    /// Removals of finished containers: the next job does not wait for them, teardown does.
    removals: Mutex<tokio::task::JoinSet<()>>,
}

/// Connects to the engine (`DOCKER_HOST` or the default socket), negotiating the API version.
pub async fn connect() -> Result<Docker, ExecutorError> {
    let unreachable = |source| ExecutorError::DockerUnreachable { source };
    let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
    let docker = docker.negotiate_version().await.map_err(unreachable)?;
    docker
        .ping()
        .await
        .map_err(|source| ExecutorError::DockerSilent { source })?;
    Ok(docker)
}

/// Removes container `id` with its anonymous volumes, running or not; errors are ignored (the
/// sweeps find whatever stays).
async fn remove_container(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    let _ = docker.remove_container(id, Some(opts)).await;
}

fn now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string()
}

/// GitLab's default hostnames for a service image: without tag, `/` → `__`, and `/` → `-`.
pub fn service_hostnames(image: &str, alias: Option<&str>) -> Vec<String> {
    let name = image.split('@').next().unwrap_or(image);
    let name = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    let mut names = vec![name.replace('/', "__"), name.replace('/', "-")];
    if let Some(a) = alias {
        names.extend(
            a.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
    }
    names.dedup();
    names
}

/// Whether `image` is a Docker-in-Docker service (`docker:*dind`).
pub fn is_dind(image: &str) -> bool {
    let base = image.rsplit('/').next().unwrap_or(image);
    base.starts_with("docker:") && base.contains("dind")
}

impl DockerExecutor {
    /// An executor on `docker`.
    pub fn new(docker: Docker, options: DockerOptions) -> Self {
        DockerExecutor {
            docker,
            options,
            pipeline: Mutex::new(String::new()),
            network: tokio::sync::Mutex::new(None),
            ready_images: Mutex::new(std::collections::HashSet::new()),
            image_users: Mutex::new(HashMap::new()),
            removals: Mutex::new(tokio::task::JoinSet::new()),
        }
    }

    fn labels(&self, job: &str) -> HashMap<String, String> {
        HashMap::from([
            (
                LABEL_PIPELINE.to_string(),
                self.pipeline.lock().map(|p| p.clone()).unwrap_or_default(),
            ),
            (LABEL_JOB.to_string(), job.to_string()),
            (LABEL_PID.to_string(), std::process::id().to_string()),
            (LABEL_CREATED.to_string(), now()),
        ])
    }

    fn mapped(&self, image: &str) -> String {
        self.options
            .image_map
            .iter()
            .find(|(from, _)| from == image)
            .map_or_else(|| image.to_string(), |(_, to)| to.clone())
    }

    /// Makes sure `image` is there, pulling per policy (with the registry credentials
    /// `sources` hold for it); a clear error when it cannot be had.
    async fn ensure_image(
        &self,
        image: &str,
        sources: &Sources,
        out: &Sink,
    ) -> Result<(), ExecutorError> {
        if self.ready_images.lock().is_ok_and(|r| r.contains(image)) {
            return Ok(());
        }
        self.fetch_image(image, sources, out).await?;
        if let Ok(mut r) = self.ready_images.lock() {
            r.insert(image.to_string());
        }
        Ok(())
    }

    async fn fetch_image(
        &self,
        image: &str,
        sources: &Sources,
        out: &Sink,
    ) -> Result<(), ExecutorError> {
        let present = self.docker.inspect_image(image).await.is_ok();
        if present && self.options.pull != Pull::Always {
            return Ok(());
        }
        if self.options.pull == Pull::Never {
            return Err(ExecutorError::PullForbidden {
                image: image.to_string(),
            });
        }
        let found = registry_auth::for_image(image, sources, out).await;
        out.write(
            Stream::Stderr,
            format!("pulling image {image}…\n").as_bytes(),
        );
        let opts = CreateImageOptionsBuilder::new().from_image(image).build();
        let auth = found.as_ref().map(|f| {
            f.credentials
                .to_docker(registry_auth::server_of(&f.registry))
        });
        let mut pull = self.docker.create_image(Some(opts), None, auth);
        let mut failure = None;
        while let Some(item) = pull.next().await {
            match item {
                Ok(info) => {
                    if let Some(status) = info
                        .status
                        .filter(|s| s.starts_with("Pulling from") || s.starts_with("Status"))
                    {
                        out.write(Stream::Stderr, format!("{status}\n").as_bytes());
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        match (failure, found) {
            (None, _) => Ok(()),
            (Some(_), _) if present => Ok(()),
            (Some(e), Some(f)) => Err(ExecutorError::PullWithCredentials {
                image: image.to_string(),
                registry: registry_auth::server_of(&f.registry).to_string(),
                credentials: f.source(),
                reason: f.credentials.mask(&engine_reason(&e)),
            }),
            (Some(source), None) => Err(ExecutorError::PullFailed {
                image: image.to_string(),
                source,
            }),
        }
    }

    async fn start_service(
        &self,
        job: &JobSpec,
        s: &ServiceSpec,
        network: &str,
        out: &Sink,
    ) -> Result<String, ExecutorError> {
        let image = self.mapped(&s.image);
        self.ensure_image(&image, &Sources::for_job(&job.env), out)
            .await?;
        let mut env: Vec<String> = job.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(s.variables.iter().map(|(k, v)| format!("{k}={v}")));
        let aliases = service_hostnames(&s.image, s.alias.as_deref());
        let privileged = is_dind(&s.image) && self.options.privileged_dind;
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            env: Some(env),
            cmd: s.command.clone(),
            entrypoint: s.entrypoint.clone(),
            labels: Some(self.labels(&job.name)),
            host_config: Some(HostConfig {
                network_mode: Some(network.to_string()),
                privileged: Some(privileged),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_string(),
                    EndpointSettings {
                        aliases: Some(aliases.clone()),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let id = self.create(body, &format!("{}-svc", job.name)).await?;
        self.docker
            .start_container(&id, None)
            .await
            .map_err(|source| ExecutorError::ServiceStart {
                image: s.image.clone(),
                source,
            })?;
        if let Err(e) = self.wait_ready(&id, &image, network).await {
            let logs = self.collect_logs(&id).await;
            out.write(
                Stream::Stderr,
                format!("service `{}` did not become ready: {e}\n{logs}", s.image).as_bytes(),
            );
            return Err(ExecutorError::ServiceNotReady {
                image: s.image.clone(),
                source: Box::new(e),
            });
        }
        out.write(
            Stream::Stderr,
            format!("service {} is ready as {}\n", s.image, aliases.join(", ")).as_bytes(),
        );
        Ok(id)
    }

    /// Waits until every exposed TCP port of the service accepts connections.
    async fn wait_ready(&self, id: &str, image: &str, network: &str) -> Result<(), ExecutorError> {
        let ports: Vec<u16> = self
            .image_config(image)
            .await
            .and_then(|c| c.exposed_ports)
            .unwrap_or_default()
            .iter()
            .filter(|p| p.ends_with("/tcp") || !p.contains('/'))
            .filter_map(|p| p.split('/').next()?.parse().ok())
            .collect();
        let deadline = Instant::now() + self.options.service_timeout;
        loop {
            let info = self
                .docker
                .inspect_container(id, None)
                .await
                .map_err(|source| ExecutorError::Engine { source })?;
            let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
            if !running {
                return Err(ExecutorError::ContainerExited);
            }
            let ip = info
                .network_settings
                .and_then(|n| n.networks)
                .and_then(|n| n.get(network).and_then(|e| e.ip_address.clone()))
                .filter(|ip| !ip.is_empty());
            let mut all = true;
            for port in &ports {
                let ok = match &ip {
                    Some(ip) => tokio::time::timeout(
                        Duration::from_millis(500),
                        tokio::net::TcpStream::connect((ip.as_str(), *port)),
                    )
                    .await
                    .is_ok_and(|r| r.is_ok()),
                    None => false,
                };
                all &= ok;
            }
            if all {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ExecutorError::NoAnswer {
                    ports,
                    seconds: self.options.service_timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the job's container runs as a user other than root.
    async fn runs_unprivileged(&self, job: &JobSpec) -> bool {
        let user = match &job.user {
            Some(u) => u.clone(),
            None => {
                self.image_user(&self.mapped(job.image.as_deref().unwrap_or_default()))
                    .await
            }
        };
        let name = user.split(':').next().unwrap_or("");
        !(name.is_empty() || name == "0" || name == "root")
    }

    /// The pipeline's bridge network, created by the first job with services. Jobs without
    /// services run on the engine's default bridge, as with GitLab's runner (unless
    /// `FF_NETWORK_PER_BUILD`): a pipeline without services does not pay for creating and
    /// removing a network (0.3 s of a 10-job pipeline's 5 s here; issue 25).
    async fn network(&self) -> Result<String, ExecutorError> {
        let mut network = self.network.lock().await;
        if let Some(name) = &*network {
            return Ok(name.clone());
        }
        // The run's label is unique on this machine (`run_label`), so it names the network too.
        let name = self.pipeline.lock().map(|p| p.clone()).unwrap_or_default();
        let req = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(self.labels("")),
            ..Default::default()
        };
        self.docker
            .create_network(req)
            .await
            .map_err(|source| ExecutorError::CreateNetwork {
                name: name.clone(),
                source,
            })?;
        *network = Some(name.clone());
        Ok(name)
    }

    /// `image`'s configuration (`USER`, exposed ports…), when the engine has the image.
    async fn image_config(&self, image: &str) -> Option<bollard::models::ImageConfig> {
        self.docker.inspect_image(image).await.ok()?.config
    }

    /// The user `image`'s containers run as (its `USER`; empty for root).
    async fn image_user(&self, image: &str) -> String {
        if let Some(user) = self
            .image_users
            .lock()
            .ok()
            .and_then(|u| u.get(image).cloned())
        {
            return user;
        }
        let user = self
            .image_config(image)
            .await
            .and_then(|c| c.user)
            .unwrap_or_default();
        if let Ok(mut users) = self.image_users.lock() {
            users.insert(image.to_string(), user.clone());
        }
        user
    }

    /// Containers usually run as root and leave root-owned files in the bind-mounted workspace,
    /// which a non-root gantry could then neither clean nor cache. Hands them back to gantry's
    /// user with one `chown -R` in a container of the job's image.
    async fn give_back(&self, job: &JobSpec, out: &Sink) {
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        if uid == 0 {
            return;
        }
        let ws = job.workspace.display().to_string();
        let scratch = job.scratch.display().to_string();
        let body = ContainerCreateBody {
            image: Some(self.mapped(job.image.as_deref().unwrap_or_default())),
            entrypoint: Some(vec!["chown".into()]),
            cmd: Some(vec![
                "-R".into(),
                format!("{uid}:{gid}"),
                ws.clone(),
                scratch.clone(),
            ]),
            user: Some("0".into()),
            labels: Some(self.labels(&job.name)),
            host_config: Some(HostConfig {
                binds: Some(vec![format!("{ws}:{ws}"), format!("{scratch}:{scratch}")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let Ok(id) = self.create(body, &format!("{}-chown", job.name)).await else {
            return;
        };
        let ok = self.docker.start_container(&id, None).await.is_ok()
            && matches!(
                self.docker.wait_container(&id, None).next().await,
                Some(Ok(_))
            );
        self.remove(&id).await;
        if !ok {
            out.write(Stream::Stderr, b"warning: could not hand the workspace back to your user (the image has no chown?); `gantry gc` as root removes it\n");
        }
    }

    async fn collect_logs(&self, id: &str) -> String {
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail("50")
            .build();
        let mut logs = self.docker.logs(id, Some(opts));
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&chunk.to_string());
        }
        text
    }

    async fn create(
        &self,
        body: ContainerCreateBody,
        name_hint: &str,
    ) -> Result<String, ExecutorError> {
        let name = format!(
            "gantry-{}-{}-{}",
            self.pipeline.lock().map(|p| p.clone()).unwrap_or_default(),
            crate::plan::slug::slug(name_hint)
                .chars()
                .take(40)
                .collect::<String>(),
            &uuid_like()
        );
        let opts = CreateContainerOptionsBuilder::new().name(&name).build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map(|r| r.id)
            .map_err(|source| ExecutorError::CreateContainer { source })
    }

    async fn remove(&self, id: &str) {
        remove_container(&self.docker, id).await;
    }

    /// Removes a job's finished container in the background: removing (its layer, its
    /// anonymous volumes) is engine work the next job need not wait for, as it did before
    /// (issue 25: a Docker job cost 1.27x a raw `docker run`). `teardown_pipeline` waits for
    /// every removal; after a crash, `gantry gc` finds the container by its labels.
    fn remove_later(&self, id: String) {
        let docker = self.docker.clone();
        match self.removals.lock() {
            Ok(mut removals) => {
                removals.spawn(async move { remove_container(&docker, &id).await });
            }
            Err(_) => {
                tokio::spawn(async move { remove_container(&docker, &id).await });
            }
        }
    }

    /// Waits for the background removals started so far.
    async fn removed(&self) {
        let pending = self
            .removals
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        pending.join_all().await;
    }

    /// The job's container: its image, variables, workspace and scratch at their host paths,
    /// the read-only stores, the pipeline's network; running `cmd`.
    fn job_container(
        &self,
        c: &Setting<'_>,
        cmd: Vec<String>,
        extra_env: &[(String, String)],
    ) -> ContainerCreateBody {
        let (job, passthrough, network) = (c.job, c.passthrough, c.network);
        let image = self.mapped(job.image.as_deref().unwrap_or_default());
        let mut env: Vec<String> = job
            .env
            .iter()
            .chain(extra_env)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let ws = job.workspace.display().to_string();
        let scratch = job.scratch.display().to_string();
        let mut binds = vec![format!("{ws}:{ws}"), format!("{scratch}:{scratch}")];
        binds.extend(
            job.read_only
                .iter()
                .map(|p| format!("{0}:{0}:ro", p.display())),
        );
        // `gantry render` in job scripts: this binary, read-only, on the usual PATH (it runs in
        // images with glibc, as the host's build does).
        if let Ok(exe) = std::env::current_exe() {
            binds.push(format!("{}:/usr/local/bin/gantry:ro", exe.display()));
        }
        if passthrough {
            binds.push("/var/run/docker.sock:/var/run/docker.sock".into());
            env.push("DOCKER_HOST=unix:///var/run/docker.sock".into());
        }
        ContainerCreateBody {
            image: Some(image),
            env: Some(env),
            cmd: Some(cmd),
            entrypoint: job.entrypoint.clone(),
            user: job.user.clone(),
            working_dir: Some(ws),
            labels: Some(self.labels(&job.name)),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(network.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// An interactive shell in a new container of the job (TTY attached to this terminal);
    /// the container is removed when the shell exits.
    async fn shell_container(&self, c: &Setting<'_>) -> Result<i32, ExecutorError> {
        let prompt = [("PS1".to_string(), super::terminal::prompt(&c.job.name))];
        let mut body = self.job_container(
            c,
            vec![
                "sh".into(),
                "-c".into(),
                super::terminal::SHELL_COMMAND.into(),
            ],
            &prompt,
        );
        body.tty = Some(true);
        body.open_stdin = Some(true);
        body.attach_stdin = Some(true);
        body.attach_stdout = Some(true);
        body.attach_stderr = Some(true);
        let id = self.create(body, &format!("{}-shell", c.job.name)).await?;
        let result = self.attach_shell(&id, c).await;
        self.remove(&id).await;
        result
    }

    async fn attach_shell(&self, id: &str, c: &Setting<'_>) -> Result<i32, ExecutorError> {
        use tokio::io::AsyncWriteExt;
        let opts = bollard::query_parameters::AttachContainerOptionsBuilder::new()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        let attached = self
            .docker
            .attach_container(id, Some(opts))
            .await
            .map_err(|source| ExecutorError::AttachShell { source })?;
        self.docker
            .start_container(id, None)
            .await
            .map_err(|source| ExecutorError::StartShell { source })?;
        if let Some((rows, cols)) = super::terminal::size() {
            let size = bollard::query_parameters::ResizeContainerTTYOptionsBuilder::new()
                .h(i32::from(rows))
                .w(i32::from(cols))
                .build();
            let _ = self.docker.resize_container_tty(id, size).await;
        }
        let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
        let mut output = attached.output;
        let copy = tokio::spawn(async move {
            while let Some(Ok(chunk)) = output.next().await {
                if ours.write_all(&chunk.into_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let image = self.mapped(c.job.image.as_deref().unwrap_or_default());
        let banner = super::terminal::banner(c.job, &format!("in a container of {image}"));
        super::terminal::relay(&banner, attached.input, theirs).await;
        copy.abort();
        match self.docker.wait_container(id, None).next().await {
            Some(Ok(r)) => Ok(r.status_code as i32),
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code as i32),
            Some(Err(source)) => Err(ExecutorError::Engine { source }),
            None => Err(ExecutorError::WaitEnded),
        }
    }

    /// Runs one script in a new container; returns how it ended.
    async fn run_container(
        &self,
        c: &Setting<'_>,
        script: &std::path::Path,
        extra_env: &[(String, String)],
        mut cancel: Cancel,
        timeout: Option<Duration>,
    ) -> Exit {
        let (job, out) = (c.job, c.out);
        let path = script.display().to_string();
        let body = self.job_container(
            c,
            vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "if command -v bash >/dev/null 2>&1; then exec bash {path}; else exec sh {path}; fi"
                ),
            ],
            extra_env,
        );
        let id = match self.create(body, &job.name).await {
            Ok(id) => id,
            Err(e) => return Exit::Error(e.to_string()),
        };
        let exit = self
            .start_and_wait(&id, job, out, &mut cancel, timeout)
            .await;
        self.remove_later(id);
        exit
    }

    async fn start_and_wait(
        &self,
        id: &str,
        job: &JobSpec,
        out: &Sink,
        cancel: &mut Cancel,
        timeout: Option<Duration>,
    ) -> Exit {
        if let Err(e) = self.docker.start_container(id, None).await {
            return Exit::Error(format!("cannot start the container: {e}"));
        }
        let logs = {
            let opts = LogsOptionsBuilder::new()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build();
            let mut stream = self.docker.logs(id, Some(opts));
            let out = out.clone();
            tokio::spawn(async move {
                while let Some(Ok(chunk)) = stream.next().await {
                    let (s, bytes) = match chunk {
                        bollard::container::LogOutput::StdErr { message } => {
                            (Stream::Stderr, message)
                        }
                        other => (Stream::Stdout, other.into_bytes()),
                    };
                    out.write(s, &bytes);
                }
            })
        };
        let mut wait = self.docker.wait_container(id, None);
        let grace = job.grace.as_secs().max(1) as i32;
        let exit = tokio::select! {
            r = wait.next() => match r {
                Some(Ok(resp)) => Exit::Code(resp.status_code as i32),
                Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Exit::Code(code as i32),
                Some(Err(e)) => Exit::Error(e.to_string()),
                None => Exit::Error("the engine ended the wait without a status".into()),
            },
            _ = super::deadline(timeout) => {
                let _ = self.docker.stop_container(id, Some(StopContainerOptionsBuilder::new().t(grace).build())).await;
                Exit::TimedOut
            }
            _ = super::cancelled(cancel) => {
                let _ = self.docker.stop_container(id, Some(StopContainerOptionsBuilder::new().t(grace).build())).await;
                Exit::Canceled
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), logs).await;
        exit
    }

    /// Removes every container and network gantry made, running or not (`gc --all`).
    pub async fn sweep_all(docker: &Docker) -> Vec<String> {
        Self::sweep_where(docker, None, true).await
    }

    /// Removes every container and network labelled with `pipeline` (or, with `None`, every one
    /// gantry made whose creating process is gone); returns what was removed.
    pub async fn sweep(docker: &Docker, pipeline: Option<&str>) -> Vec<String> {
        Self::sweep_where(docker, pipeline, false).await
    }

    async fn sweep_where(docker: &Docker, pipeline: Option<&str>, all: bool) -> Vec<String> {
        let filter = match pipeline {
            Some(p) => format!("{LABEL_PIPELINE}={p}"),
            None => LABEL_PIPELINE.to_string(),
        };
        let filters = HashMap::from([("label", vec![filter.as_str()])]);
        let mut removed = Vec::new();
        let keep = |labels: Option<&HashMap<String, String>>| {
            !all && pipeline.is_none()
                && labels
                    .and_then(|l| l.get(LABEL_PID))
                    .and_then(|p| p.parse::<i32>().ok())
                    .is_some_and(process_alive)
        };
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        for c in docker.list_containers(Some(opts)).await.unwrap_or_default() {
            if keep(c.labels.as_ref()) {
                continue;
            }
            let Some(id) = c.id else { continue };
            let name = c
                .names
                .and_then(|n| n.first().cloned())
                .unwrap_or_else(|| id.clone());
            let opts = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            if docker.remove_container(&id, Some(opts)).await.is_ok() {
                removed.push(format!("container {}", name.trim_start_matches('/')));
            }
        }
        let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
        for n in docker.list_networks(Some(opts)).await.unwrap_or_default() {
            if keep(n.labels.as_ref()) {
                continue;
            }
            if let Some(name) = n.name
                && docker.remove_network(&name).await.is_ok()
            {
                removed.push(format!("network {name}"));
            }
        }
        removed
    }
}

/// Where a job's containers run.
struct Setting<'a> {
    job: &'a JobSpec,
    /// The host engine is passed through for `docker:dind`.
    passthrough: bool,
    network: &'a str,
    out: &'a Sink,
}

/// Makes a tree readable and writable by everyone (directories also enterable).
fn open_up(root: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        let wanted = if meta.is_dir() {
            mode | 0o777
        } else {
            mode | 0o666
        };
        if wanted != mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted))?;
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&path)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(())
}

/// Whether a process with this id exists on this machine (zombies count as gone).
pub fn process_alive(pid: i32) -> bool {
    crate::process::alive(pid)
}

/// The `gantry.pipeline` label of one run of `pipeline` (`gantry-<iid>`): the pipeline's name,
/// this process and a count. A run's teardown removes everything carrying its label, and iids
/// repeat — every project's first pipeline is `gantry-1`, `serve` runs several repositories in
/// one process — so with the bare name a run ending in one project removed the containers of a
/// run still going in another (their jobs ended with exit 137).
fn run_label(pipeline: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    format!(
        "{pipeline}-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:x}{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Executor for DockerExecutor {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn setup_pipeline(&self, pipeline: &str) -> Result<(), ExecutorError> {
        if let Ok(mut p) = self.pipeline.lock() {
            *p = run_label(pipeline);
        }
        *self.network.lock().await = None;
        Ok(())
    }

    async fn run_job(&self, job: &JobSpec, out: Sink, cancel: Cancel) -> Exit {
        let Some(image) = job.image.as_deref() else {
            return Exit::Error(ExecutorError::NeedsImage { executor: "docker" }.to_string());
        };
        let network = if job.services.is_empty() {
            "bridge".to_string()
        } else {
            match self.network().await {
                Ok(n) => n,
                Err(e) => return Exit::Error(e.to_string()),
            }
        };
        let sources = Sources::for_job(&job.env);
        if let Err(e) = self.ensure_image(&self.mapped(image), &sources, &out).await {
            return Exit::Error(e.to_string());
        }
        if self.runs_unprivileged(job).await {
            // GitLab's runner checks out with umask 0000 for the same reason: a non-root
            // container user must be able to write the workspace the host created.
            for dir in [&job.workspace, &job.scratch] {
                if let Err(e) = open_up(dir) {
                    return Exit::Error(format!(
                        "cannot make {} writable for the container user: {e}",
                        dir.display()
                    ));
                }
            }
        }
        let mut passthrough = false;
        let mut services = Vec::new();
        for s in &job.services {
            if is_dind(&s.image) && !self.options.privileged_dind && !self.options.host_socket {
                out.write(Stream::Stderr, format!("warning: service {} not started: neither a privileged engine nor the host's Docker socket is allowed here\n", s.image).as_bytes());
                continue;
            }
            if is_dind(&s.image) && !self.options.privileged_dind {
                out.write(Stream::Stderr, format!("warning: service {} is served by the host's Docker engine (socket passed through); use --privileged-dind for a real one\n", s.image).as_bytes());
                passthrough = true;
                continue;
            }
            match self.start_service(job, s, &network, &out).await {
                Ok(id) => services.push(id),
                Err(e) => {
                    for id in &services {
                        self.remove(id).await;
                    }
                    return Exit::Error(e.to_string());
                }
            }
        }
        let scripts = (|| -> std::io::Result<_> {
            std::fs::create_dir_all(&job.scratch)?;
            let main = job.scratch.join("script.sh");
            std::fs::write(&main, super::shell::render_portable(&job.script))?;
            let after = job.scratch.join("after_script.sh");
            std::fs::write(&after, super::shell::render_portable(&job.after_script))?;
            Ok((main, after))
        })();
        let exit = match scripts {
            Err(e) => Exit::Error(format!("cannot write the job script: {e}")),
            Ok((main, after)) => {
                let setting = Setting {
                    job,
                    passthrough,
                    network: &network,
                    out: &out,
                };
                if job.interactive == super::Interactive::Instead {
                    let r = self.shell_container(&setting).await;
                    for id in &services {
                        self.remove(id).await;
                    }
                    self.give_back(job, &out).await;
                    return super::shell_exit(r);
                }
                let exit = self
                    .run_container(&setting, &main, &[], cancel.clone(), job.timeout)
                    .await;
                if job.shell_after(&exit) {
                    super::report_shell(&out, &self.shell_container(&setting).await);
                }
                if !job.after_script.is_empty() {
                    let (_, never) = tokio::sync::watch::channel(false);
                    let env = [("CI_JOB_STATUS".to_string(), exit.job_status().to_string())];
                    let code = self
                        .run_container(
                            &setting,
                            &after,
                            &env,
                            never,
                            Some(super::AFTER_SCRIPT_TIMEOUT),
                        )
                        .await;
                    super::report_after_script(&out, &code);
                }
                exit
            }
        };
        for id in &services {
            self.remove(id).await;
        }
        self.give_back(job, &out).await;
        exit
    }

    async fn image_digest(
        &self,
        _: &'static str,
        image: &str,
    ) -> Result<Option<String>, ExecutorError> {
        let image = self.mapped(image);
        let discard: Sink = std::sync::Arc::new(super::Discard);
        self.ensure_image(&image, &Sources::ambient(), &discard)
            .await?;
        local_image_digest(&self.docker, &image).await.map(Some)
    }

    fn fingerprint(&self, _: &'static str) -> String {
        fingerprint(self.options.privileged_dind)
    }

    async fn teardown_pipeline(&self) -> Vec<String> {
        self.removed().await;
        let pipeline = self.pipeline.lock().map(|p| p.clone()).unwrap_or_default();
        if pipeline.is_empty() {
            return Vec::new();
        }
        DockerExecutor::sweep(&self.docker, Some(&pipeline)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_of_a_pipeline_has_a_label_of_its_own() {
        let (a, b) = (run_label("gantry-1"), run_label("gantry-1"));
        assert_ne!(a, b);
        assert!(
            a.starts_with(&format!("gantry-1-{}-", std::process::id())),
            "{a}"
        );
    }

    #[test]
    fn gitlab_service_hostnames() {
        assert_eq!(
            service_hostnames(
                "registry.example.com/group/tutum/wordpress:latest",
                Some("wp")
            ),
            [
                "registry.example.com__group__tutum__wordpress",
                "registry.example.com-group-tutum-wordpress",
                "wp"
            ]
        );
        assert_eq!(service_hostnames("postgres:16", None), ["postgres"]);
        assert_eq!(
            service_hostnames("localhost:5000/db", None),
            ["localhost:5000__db", "localhost:5000-db"]
        );
        assert!(is_dind("docker:27-dind") && is_dind("docker:dind") && !is_dind("docker:27"));
    }
}
