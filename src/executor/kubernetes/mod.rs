//! The Kubernetes executor (kube-rs): each job is a pod of its image in the pipeline's build
//! namespace (made and deleted with the pipeline, or `--kube-namespace`), or in the job's
//! environment namespace when it has one. Gantry watches the pod until it runs, copies the
//! workspace in through `pods/exec` tar streams, execs the script (output live, exit code,
//! timeout and cancellation), runs `after_script`, copies the workspace back for the runner's
//! artifacts, and deletes the pod — on every outcome. Images from registries that need a login
//! get a pull Secret beside the pod (`pull_secret.rs`). Everything is labelled for `gantry gc`.

pub mod exec;
pub mod gc;
pub mod incluster;
pub mod pod;
pub mod pull_secret;
pub mod ready;
pub mod services;
pub mod settings;

use super::docker::Pull;
use super::{Cancel, Executor, ExecutorError, Exit, JobSpec, Sink, Stream};
use crate::environment::{Cluster, objects};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Settings of the Kubernetes executor.
#[derive(Clone, Debug)]
pub struct KubeOptions {
    /// An existing namespace for jobs without an environment (else gantry makes one).
    pub namespace: Option<String>,
    /// Pull policy of job containers.
    pub pull: Pull,
    /// Image substitutions `FROM=TO`.
    pub image_map: Vec<(String, String)>,
    /// Longest a pod may take to get its containers running.
    pub start_timeout: Duration,
    /// Longest the script waits for services with a health-check port to be Ready.
    pub service_timeout: Duration,
    /// The project directory (annotation on the build namespace).
    pub project: PathBuf,
    /// Longest teardown waits for the build namespace to go.
    pub delete_timeout: Duration,
    /// Run `docker:dind` services as real privileged containers instead of passing the node's
    /// Docker socket through.
    pub privileged_dind: bool,
    /// Without `privileged_dind`: pass the node's Docker socket through for `docker:dind`
    /// (else such a service is not started).
    pub node_socket: bool,
    /// `[kubernetes.executor]` of the project's config.
    pub pod: settings::ExecutorConfig,
}

/// The digest of the image a pod of `image` runs: the one pinned in the reference
/// (`name@sha256:…`), else — unless the pull policy makes the cluster pull it anew — the local
/// Docker engine's, which is what kind-loaded nodes (and the test cluster's, through
/// `load-image.sh`) run. A tag only a remote
/// registry knows cannot be resolved offline.
pub async fn image_digest(image: &str, pull: Pull) -> Result<String, ExecutorError> {
    if let Some((_, digest)) = image.split_once('@') {
        return Ok(digest.to_string());
    }
    let unpinned = |why| ExecutorError::NoPodDigest { why: Box::new(why) };
    if pull == Pull::Always {
        return Err(unpinned(ExecutorError::PulledAnew));
    }
    let docker = super::docker::connect().await.map_err(|e| {
        unpinned(ExecutorError::NoEngineToAsk {
            source: Box::new(e),
        })
    })?;
    super::docker::local_image_digest(&docker, image)
        .await
        .map_err(unpinned)
}

/// The Kubernetes executor's settings that change what a job does (for its reuse key).
pub fn fingerprint(privileged_dind: bool, pod: &settings::ExecutorConfig) -> String {
    format!("kubernetes privileged_dind={privileged_dind} pod={pod:?}")
}

/// Runs jobs as pods.
pub struct KubernetesExecutor {
    cluster: Cluster,
    options: KubeOptions,
    /// `gantry-<iid>`, set by `setup_pipeline`.
    pipeline: Mutex<String>,
    /// The build namespace gantry created (teardown deletes it).
    created: Mutex<Option<String>>,
    /// Namespaces pods were made in (teardown sweeps them by label).
    used: Mutex<BTreeSet<String>>,
    /// Whether a namespace holds the environments' registry pull Secret (asked once each).
    pull_secret: tokio::sync::Mutex<std::collections::HashMap<String, bool>>,
}

fn attempt_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:x}{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The iid of `gantry-<iid>`.
fn iid(pipeline: &str) -> String {
    pipeline.trim_start_matches("gantry-").to_string()
}

impl KubernetesExecutor {
    /// An executor on `cluster`.
    pub fn new(cluster: Cluster, options: KubeOptions) -> Self {
        KubernetesExecutor {
            cluster,
            options,
            pipeline: Mutex::new(String::new()),
            created: Mutex::new(None),
            used: Mutex::new(BTreeSet::new()),
            pull_secret: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn pipeline(&self) -> String {
        self.pipeline.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Waits (at most the service timeout) for the services with a health-check port to pass
    /// their readiness probes, as GitLab Runner waits on `HEALTHCHECK_TCP_PORT`; one that does
    /// not is a warning, and the script runs anyway, as there.
    async fn await_services(
        &self,
        api: &Api<Pod>,
        pod: &str,
        services: &[services::Container],
        out: &Sink,
    ) {
        let checked: Vec<&services::Container> = services
            .iter()
            .filter(|c| c.health_port.is_some())
            .collect();
        if checked.is_empty() {
            return;
        }
        let what: Vec<String> = checked
            .iter()
            .map(|c| format!("{} on port {}", c.image, c.health_port.unwrap_or_default()))
            .collect();
        out.write(
            Stream::Stderr,
            format!("waiting for service {}\n", what.join(", ")).as_bytes(),
        );
        let names: Vec<&str> = checked.iter().map(|c| c.name.as_str()).collect();
        let started = std::time::Instant::now();
        let line = match ready::wait_services(api, pod, &names, self.options.service_timeout).await
        {
            Ok(()) => format!(
                "service {} ready in {:.1}s\n",
                what.join(", "),
                started.elapsed().as_secs_f64()
            ),
            Err(e) => format!(
                "warning: service {} probably did not start properly ({e}); running the script anyway\n",
                what.join(", ")
            ),
        };
        out.write(Stream::Stderr, line.as_bytes());
    }

    fn owner_labels(&self) -> Vec<(String, String)> {
        vec![
            (objects::PIPELINE.into(), iid(&self.pipeline())),
            (objects::PID.into(), std::process::id().to_string()),
            (objects::HOST.into(), objects::host_label()),
        ]
    }

    /// Where job `job` runs: its environment's namespace, an allowed
    /// `KUBERNETES_NAMESPACE_OVERWRITE`, `--kube-namespace`, or the build one.
    fn namespace_for(&self, job: &JobSpec, overwrite: Option<&str>) -> Option<String> {
        job.env
            .iter()
            .rev()
            .find(|(k, _)| k == "KUBE_NAMESPACE")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .or_else(|| overwrite.map(str::to_string))
            .or_else(|| self.options.namespace.clone())
            .or_else(|| self.created.lock().ok().and_then(|c| c.clone()))
    }

    /// Whether `ns` holds the environments' registry pull Secret.
    async fn has_pull_secret(&self, ns: &str) -> bool {
        let mut known = self.pull_secret.lock().await;
        if let Some(has) = known.get(ns) {
            return *has;
        }
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.cluster.client.clone(), ns);
        let has = matches!(api.get_opt(objects::PULL_SECRET).await, Ok(Some(_)));
        known.insert(ns.to_string(), has);
        has
    }

    fn mapped(&self, image: &str) -> String {
        self.options
            .image_map
            .iter()
            .find(|(from, _)| from == image)
            .map_or_else(|| image.to_string(), |(_, to)| to.clone())
    }

    /// Stops the script (SIGTERM to the process exec started, SIGKILL after the grace).
    async fn stop(&self, api: &Api<Pod>, pod: &str, pidfile: &str, grace: Duration) {
        let cmd = format!(
            "p=$(cat {pidfile} 2>/dev/null) || exit 0; kill -TERM $p 2>/dev/null; \
             i=0; while kill -0 $p 2>/dev/null && [ $i -lt {} ]; do sleep 1; i=$((i+1)); done; \
             kill -KILL $p 2>/dev/null; exit 0",
            grace.as_secs().max(1)
        );
        let quiet: Sink = std::sync::Arc::new(Discard);
        let _ = tokio::time::timeout(
            grace + Duration::from_secs(10),
            exec::run(
                api.clone(),
                pod.to_string(),
                vec!["sh".into(), "-c".into(), cmd],
                quiet,
            ),
        )
        .await;
    }

    /// Runs `script` (a file in the pod) with `extra` variables, honouring timeout and cancel.
    async fn script(
        &self,
        at: &InPod<'_>,
        script: &str,
        extra: &str,
        cancel: &mut Cancel,
        timeout: Option<Duration>,
    ) -> Exit {
        let (api, job) = (at.api, at.job);
        let pidfile = format!("{}/job.pid", job.scratch.display());
        let cmd = format!(
            "echo $$ > {pidfile}; cd {ws} && {extra} if command -v bash >/dev/null 2>&1; \
             then exec bash {script}; else exec sh {script}; fi",
            ws = shell_quote(&job.workspace.display().to_string()),
        );
        let mut main = tokio::spawn(exec::run(
            api.clone(),
            at.pod.to_string(),
            vec!["sh".into(), "-c".into(), cmd],
            at.out.clone(),
        ));
        let ended = |r: Result<Result<i32, ExecutorError>, tokio::task::JoinError>| match r {
            Ok(Ok(code)) => Exit::Code(code),
            Ok(Err(e)) => Exit::Error(e.to_string()),
            Err(e) => Exit::Error(format!("the exec task failed: {e}")),
        };
        let stopped = tokio::select! {
            r = &mut main => return ended(r),
            _ = super::deadline(timeout) => Exit::TimedOut,
            _ = super::cancelled(cancel) => Exit::Canceled,
        };
        self.stop(api, at.pod, &pidfile, job.grace).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), main).await;
        stopped
    }

    async fn delete_pod(&self, api: &Api<Pod>, pod: &str, grace: Duration) {
        let params = DeleteParams {
            grace_period_seconds: Some(u32::try_from(grace.as_secs()).unwrap_or(30)),
            ..DeleteParams::default()
        };
        let _ = api.delete(pod, &params).await;
    }

    /// For a job with environment credentials: points its `KUBE_URL` and kubeconfig at the
    /// API server's in-cluster address the pod was given (see `incluster.rs`); returns the
    /// `export …;` prefix for its scripts (empty when nothing changes).
    async fn in_cluster_address(
        &self,
        api: &Api<Pod>,
        pod: &str,
        job: &JobSpec,
        out: &Sink,
    ) -> String {
        if !incluster::has_credentials(&job.env, &job.scratch) {
            return String::new();
        }
        let Some(server) = incluster::probe(api, pod).await else {
            return String::new();
        };
        match incluster::rewrite(&job.env, &server) {
            Ok(vars) => vars
                .iter()
                .map(|(k, v)| format!("export {k}={};", shell_quote(v)))
                .collect(),
            Err(e) => {
                out.write(
                    Stream::Stderr,
                    format!("warning: cannot point the job's kubeconfig at {server}: {e}\n")
                        .as_bytes(),
                );
                String::new()
            }
        }
    }

    /// One attempt in an existing pod: files in, script, after_script, files back.
    async fn in_pod(
        &self,
        api: &Api<Pod>,
        pod: &str,
        job: &JobSpec,
        out: &Sink,
        mut cancel: Cancel,
    ) -> Exit {
        let exports = self.in_cluster_address(api, pod, job, out).await;
        let dirs = [job.workspace.as_path(), job.scratch.as_path()];
        if let Err(e) = exec::copy_in(api, pod, &dirs).await {
            return Exit::Error(format!("copying the workspace into the pod: {e}"));
        }
        let main = format!("{}/script.sh", job.scratch.display());
        let at = InPod { api, pod, job, out };
        if job.interactive == super::Interactive::Instead {
            return super::shell_exit(exec::shell(&at.api.clone(), pod, job, &exports).await);
        }
        let exit = self
            .script(&at, &main, &exports, &mut cancel, job.timeout)
            .await;
        if job.shell_after(&exit) {
            super::report_shell(out, &exec::shell(api, pod, job, &exports).await);
        }
        if !job.after_script.is_empty() {
            let (_, mut never) = tokio::sync::watch::channel(false);
            let after = format!("{}/after_script.sh", job.scratch.display());
            let extra = format!("{exports} export CI_JOB_STATUS={};", exit.job_status());
            let code = self
                .script(
                    &at,
                    &after,
                    &extra,
                    &mut never,
                    Some(super::AFTER_SCRIPT_TIMEOUT),
                )
                .await;
            super::report_after_script(out, &code);
        }
        if let Err(e) = exec::copy_out(api, pod, &job.workspace).await {
            out.write(
                Stream::Stderr,
                format!("copying the workspace back from the pod: {e}\n").as_bytes(),
            );
            if exit == Exit::Code(0) {
                return Exit::Error(format!("copying the workspace back: {e}"));
            }
        }
        exit
    }
}

/// The job's image-pull Secret (`pull_secret.rs`): made before its pod, owned by it, deleted
/// after it.
impl KubernetesExecutor {
    async fn own_pull_secret(&self, ns: &str, secret: Option<&str>, pod: &Pod) {
        if let Some(s) = secret {
            pull_secret::own(&self.cluster.client, ns, s, pod).await;
        }
    }

    async fn drop_pull_secret(&self, ns: &str, secret: Option<&str>) {
        if let Some(s) = secret {
            pull_secret::delete(&self.cluster.client, ns, s).await;
        }
    }
}

/// A job's running pod.
struct InPod<'a> {
    api: &'a Api<Pod>,
    pod: &'a str,
    job: &'a JobSpec,
    out: &'a Sink,
}

use super::Discard;

/// `text` single-quoted for `sh`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Executor for KubernetesExecutor {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn setup_pipeline(&self, pipeline: &str) -> Result<(), ExecutorError> {
        if let Ok(mut p) = self.pipeline.lock() {
            *p = pipeline.to_string();
        }
        if self.options.namespace.is_some() {
            return Ok(());
        }
        let name = crate::environment::name::dns_label(&format!(
            "{pipeline}-build-{}",
            std::process::id()
        ));
        let owner = objects::Owner {
            pipeline: iid(pipeline).parse().unwrap_or(0),
            pid: std::process::id(),
            started: crate::process::own_start(),
            host: objects::host_label(),
            project: self.options.project.display().to_string(),
            context: self.cluster.context.clone(),
        };
        // Expiry a day ahead: `gantry gc` reaps it earlier once this process is gone.
        let value = objects::namespace(&name, &owner, crate::environment::now() + 24 * 3600);
        let ns: Namespace = serde_json::from_value(value)
            .map_err(|source| ExecutorError::NamespaceObject { source })?;
        Api::<Namespace>::all(self.cluster.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| ExecutorError::CreateNamespace {
                name: name.clone(),
                message: crate::environment::cluster::error_chain(&e),
            })?;
        if let Ok(mut c) = self.created.lock() {
            *c = Some(name);
        }
        Ok(())
    }

    async fn run_job(&self, job: &JobSpec, out: Sink, cancel: Cancel) -> Exit {
        let Some(image) = job.image.as_deref() else {
            return Exit::Error(
                ExecutorError::NeedsImage {
                    executor: "kubernetes",
                }
                .to_string(),
            );
        };
        let services = services::plan(
            &job.services,
            &job.env,
            |i| self.mapped(i),
            self.options.privileged_dind,
            self.options.node_socket,
        );
        for w in &services.warnings {
            out.write(Stream::Stderr, format!("{w}\n").as_bytes());
        }
        let mut settings = match settings::resolve(&self.options.pod, &job.env) {
            Ok(s) => s,
            Err(e) => return Exit::Error(format!("pod settings: {e}")),
        };
        for n in &settings.notes {
            out.write(Stream::Stderr, format!("note: {n}\n").as_bytes());
        }
        let Some(ns) = self.namespace_for(job, settings.namespace.as_deref()) else {
            return Exit::Error("no namespace to run the job's pod in (setup failed?)".into());
        };
        if let Ok(mut u) = self.used.lock() {
            u.insert(ns.clone());
        }
        let scripts = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&job.scratch)?;
            std::fs::write(
                job.scratch.join("script.sh"),
                super::shell::render_portable(&job.script),
            )?;
            std::fs::write(
                job.scratch.join("after_script.sh"),
                super::shell::render_portable(&job.after_script),
            )
        })();
        if let Err(e) = scripts {
            return Exit::Error(format!("cannot write the job script: {e}"));
        }
        let image = self.mapped(image);
        let name = pod::pod_name(&self.pipeline(), &job.name, &attempt_id());
        let labels = self.owner_labels();
        let pull = match (settings.pull_policy.as_deref(), self.options.pull) {
            (Some(p), _) => p.to_string(),
            (None, Pull::Always) => "Always".into(),
            (None, Pull::IfNotPresent) => "IfNotPresent".into(),
            (None, Pull::Never) => "Never".into(),
        };
        if !settings
            .image_pull_secrets
            .iter()
            .any(|s| s == objects::PULL_SECRET)
            && self.has_pull_secret(&ns).await
        {
            settings
                .image_pull_secrets
                .push(objects::PULL_SECRET.into());
        }
        // Under `imagePullPolicy: Never` nothing is pulled, so no credentials are looked up.
        let images: Vec<&str> = std::iter::once(image.as_str())
            .chain(services.containers.iter().map(|c| c.image.as_str()))
            .filter(|_| pull != "Never")
            .collect();
        let client = &self.cluster.client;
        let pull_secret =
            match pull_secret::prepare(client, &ns, &name, &labels, job, &images, &out).await {
                Ok(s) => s,
                Err(e) => return Exit::Error(e.to_string()),
            };
        settings.image_pull_secrets.extend(pull_secret.clone());
        let value = pod::pod(&pod::PodPlan {
            name: &name,
            namespace: &ns,
            image: &image,
            entrypoint: job.entrypoint.as_deref(),
            env: &job.env,
            workspace: &job.workspace,
            scratch: &job.scratch,
            labels: &labels,
            job: &job.name,
            // The cluster's backstop should gantry die: script, after_script, copying.
            deadline: job
                .timeout
                .map(|t| t.as_secs() + super::AFTER_SCRIPT_TIMEOUT.as_secs() + 120),
            pull: &pull,
            grace: job.grace.as_secs().max(1),
            user: job
                .user
                .as_deref()
                .and_then(|u| u.split(':').next()?.parse().ok()),
            services: &services.containers,
            docker_socket: services.docker_socket,
            settings: &settings,
        });
        let object: Pod = match serde_json::from_value(value) {
            Ok(p) => p,
            Err(e) => return Exit::Error(format!("building the pod: {e}")),
        };
        let api: Api<Pod> = Api::namespaced(self.cluster.client.clone(), &ns);
        match api.create(&PostParams::default(), &object).await {
            Ok(created) => {
                self.own_pull_secret(&ns, pull_secret.as_deref(), &created)
                    .await
            }
            Err(e) => {
                self.drop_pull_secret(&ns, pull_secret.as_deref()).await;
                return Exit::Error(format!(
                    "cannot create pod {name} in namespace {ns}: {}",
                    crate::environment::cluster::error_chain(&e)
                ));
            }
        }
        out.write(
            Stream::Stderr,
            format!("pod {name} in namespace {ns} (image {image})\n").as_bytes(),
        );
        let exit = match ready::wait_running(&api, &name, &image, self.options.start_timeout).await
        {
            Ok(()) => {
                self.await_services(&api, &name, &services.containers, &out)
                    .await;
                self.in_pod(&api, &name, job, &out, cancel).await
            }
            Err(e) => {
                let events = ready::events(&self.cluster.client, &ns, &name).await;
                out.write(
                    Stream::Stderr,
                    format!("{e}\npod events:\n{events}").as_bytes(),
                );
                Exit::Error(e.to_string())
            }
        };
        self.delete_pod(&api, &name, job.grace).await;
        self.drop_pull_secret(&ns, pull_secret.as_deref()).await;
        exit
    }

    async fn image_digest(
        &self,
        _: &'static str,
        image: &str,
    ) -> Result<Option<String>, ExecutorError> {
        image_digest(&self.mapped(image), self.options.pull)
            .await
            .map(Some)
    }

    fn fingerprint(&self, _: &'static str) -> String {
        fingerprint(self.options.privileged_dind, &self.options.pod)
    }

    async fn teardown_pipeline(&self) -> Vec<String> {
        let mut report = Vec::new();
        let used: Vec<String> = self
            .used
            .lock()
            .map(|u| u.iter().cloned().collect())
            .unwrap_or_default();
        let selector = format!("{}={}", objects::PIPELINE, iid(&self.pipeline()));
        for ns in used {
            report.extend(gc::delete_pods(&self.cluster.client, &ns, &selector).await);
            report.extend(
                gc::delete_labelled::<k8s_openapi::api::core::v1::Secret>(
                    &self.cluster.client,
                    &ns,
                    &selector,
                )
                .await,
            );
        }
        let created = self.created.lock().ok().and_then(|mut c| c.take());
        if let Some(ns) = created {
            report.push(
                match crate::environment::delete_namespace(
                    &self.cluster.client,
                    &ns,
                    self.options.delete_timeout,
                )
                .await
                {
                    Ok(took) => {
                        format!("build namespace {ns} deleted ({:.1}s)", took.as_secs_f64())
                    }
                    Err(e) => format!("build namespace {ns}: {e}"),
                },
            );
        }
        report
    }
}
