//! The Docker side of kube-sim: pods become containers (an infra container owning the pod's
//! network namespace plus one container per pod container) on one Docker network per namespace;
//! their status follows reality and flows back to the API side as [`RuntimeEvent`]s. Services
//! become DNS names on the namespace network; logs, exec and attach reach the containers.
//! Everything created carries `kube-sim=1` and `kube-sim.instance=<instance>` labels.
//!
//! Supported: init and app containers; `command`/`args` over the image's entrypoint/cmd with
//! `$(VAR)` expansion; `imagePullPolicy` (a failed `Always` pull of a locally present image
//! uses the local image, since tests have no registry); `env` with `valueFrom`
//! (configMapKeyRef, secretKeyRef, fieldRef) and `envFrom`; volumes `emptyDir` (a labelled
//! Docker volume shared by the pod's containers), `hostPath`, `configMap`, `secret`,
//! `downwardAPI`, `projected` and the automounted service-account token/ca.crt/namespace;
//! `workingDir`, `stdin`/`tty`, `securityContext.runAsUser/runAsGroup` (pod and container),
//! `privileged`, `resources.limits` memory and cpu, `hostAliases` (in the /etc/hosts the pod shares);
//! restartPolicy with kubelet back-off (10s doubling to 5min); readiness, liveness and startup
//! probes (exec, httpGet, tcpSocket; run inside the pod); Services via a forwarding proxy
//! (see `dns.rs`); logs (follow, tailLines, timestamps, sinceSeconds, previous); exec/attach
//! over `v5`/`v4`/legacy `channel.k8s.io`.
//!
//! Differences: a Service name resolves to its proxy's address (stable, like a ClusterIP), not
//! to a pod's; backends are picked at random per connection (no session affinity); pods that
//! are not ready never receive Service traffic (the API side passes ready pods only).
//!
//! Not supported: UDP Service ports, `subPath` on emptyDir, requests and `resourceFieldRef`, gRPC probes
//! (counted as passing), ephemeral containers, port-forward, propagation of ConfigMap/
//! Secret updates into mounted files, file volumes being read-only, IPC/PID namespace sharing.

mod channel;
mod cleanup;
mod clock;
mod dns;
mod env;
mod error;
mod exec;
mod health;
mod image;
mod infra;
pub mod labels;
mod logs;
mod network;
mod pod;
mod probes;
mod spec;
mod start;
mod state;
mod status;
mod target;
mod volumes;

pub use error::RuntimeError;
pub use exec::status_response;
pub use image::INFRA_IMAGE;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (namespace, name).
type Key = (String, String);

/// Handle to the Docker side of the cluster; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

/// Shared state behind a [`Runtime`].
struct Inner {
    docker: bollard::Docker,
    config: RuntimeConfig,
    /// Pods this runtime runs.
    pods: Mutex<HashMap<Key, Arc<state::PodEntry>>>,
    /// Services with backends (DNS proxies).
    services: Mutex<HashMap<Key, dns::ServiceState>>,
    /// Serialises Service updates (each may create/remove a proxy container).
    dns_lock: tokio::sync::Mutex<()>,
    /// Serialises network creation: Docker accepts two networks of the same name.
    net_lock: tokio::sync::Mutex<()>,
}

/// What the runtime needs from the API side.
pub struct RuntimeConfig {
    /// Label value naming this kube-sim instance; every container/network gets
    /// `kube-sim=1` and `kube-sim.instance=<instance>`.
    pub instance: String,
    /// Host pods use to reach the API server (KUBERNETES_SERVICE_HOST).
    pub api_host: String,
    /// Port pods use to reach the API server (KUBERNETES_SERVICE_PORT).
    pub api_port: u16,
    /// The API server's CA (PEM), projected as `ca.crt` into service-account volumes.
    pub ca_pem: String,
    /// Reads objects the pod refers to (configmaps, secrets, serviceaccount tokens).
    pub lookup: Arc<dyn ObjectLookup>,
    /// Pod status changes and events flow back here.
    pub events: tokio::sync::mpsc::UnboundedSender<RuntimeEvent>,
}

/// The API side's object store, as far as pods need it.
pub trait ObjectLookup: Send + Sync {
    /// `kind` is "ConfigMap" or "Secret"; None when absent.
    fn get(&self, namespace: &str, kind: &str, name: &str) -> Option<serde_json::Value>;
    /// A bearer token for the service account (for the projected token volume).
    fn service_account_token(&self, namespace: &str, service_account: &str) -> Option<String>;
}

/// What the runtime reports back to the API side.
#[derive(Debug, Clone)]
pub enum RuntimeEvent {
    /// The new `.status` of a pod (full PodStatus JSON: phase, conditions incl. Ready,
    /// containerStatuses with state/ready/restartCount, podIP, startTime).
    PodStatus {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The pod's uid (so a status of a deleted-and-recreated pod can be ignored).
        uid: String,
        /// The PodStatus JSON.
        status: serde_json::Value,
    },
    /// A Kubernetes Event about a pod (reason e.g. Pulling, Failed, BackOff, Started, Killing).
    PodEvent {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The pod's uid.
        uid: String,
        /// `Normal` or `Warning`.
        type_: String,
        /// CamelCase reason, e.g. `Pulling`, `Failed`, `BackOff`, `Started`, `Killing`.
        reason: String,
        /// Human-readable message.
        message: String,
    },
}

/// One port of a Service: clients connect to `port` on the Service name and reach
/// `target_port` on the backing pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// The port's name, if any.
    pub name: Option<String>,
    /// Port the Service name answers on.
    pub port: u16,
    /// Port on the pod (already resolved from a named port by the API side).
    pub target_port: u16,
    /// `TCP` (only TCP is forwarded).
    pub protocol: String,
}

/// Query options of `pods/log`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep the stream open and send new output as it comes.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<i64>,
    /// Prefix each line with an RFC3339 timestamp.
    pub timestamps: bool,
    /// Logs of the previous (terminated) instance of the container.
    pub previous: bool,
    /// Only output younger than this many seconds.
    pub since_seconds: Option<i64>,
}

/// What a `pods/exec` or `pods/attach` request asks for.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container; None = the pod's default (first) container.
    pub container: Option<String>,
    /// The command (from the `command` query parameters); empty for attach.
    pub command: Vec<String>,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether the client wants stdout.
    pub stdout: bool,
    /// Whether the client wants stderr.
    pub stderr: bool,
    /// Whether a TTY is allocated (stderr then merges into stdout).
    pub tty: bool,
    /// Attach to the container's main process instead of running `command`.
    pub attach: bool,
}

impl Runtime {
    /// Connects to the local Docker engine (DOCKER_HOST or the default socket).
    pub async fn connect(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let docker = bollard::Docker::connect_with_local_defaults()
            .map_err(|e| RuntimeError::docker("connecting to the Docker engine", e))?;
        docker
            .ping()
            .await
            .map_err(|e| RuntimeError::docker("pinging the Docker engine", e))?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                docker,
                config,
                pods: Mutex::new(HashMap::new()),
                services: Mutex::new(HashMap::new()),
                dns_lock: tokio::sync::Mutex::new(()),
                net_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Builds the infra image once per process (concurrent callers wait for the first).
    pub(crate) async fn infra_image(&self) -> Result<(), RuntimeError> {
        // Process-wide: several runtimes (e.g. parallel tests) must not build it at once either.
        static READY: std::sync::OnceLock<tokio::sync::Mutex<bool>> = std::sync::OnceLock::new();
        let mut ready = READY
            .get_or_init(|| tokio::sync::Mutex::new(false))
            .lock()
            .await;
        if !*ready {
            image::ensure_infra_image(&self.inner.docker).await?;
            *ready = true;
        }
        Ok(())
    }

    /// Creates the namespace's Docker network (idempotent).
    pub async fn ensure_namespace(&self, namespace: &str) -> Result<(), RuntimeError> {
        self.network(namespace).await.map(|_| ())
    }

    /// Removes the namespace's network (after its pods are gone); pods still running in it
    /// are removed without grace, so the network never outlives the namespace.
    pub async fn delete_namespace(&self, namespace: &str) {
        let pods: Vec<String> = self
            .inner
            .pods
            .lock()
            .map(|p| {
                p.keys()
                    .filter(|(ns, _)| ns == namespace)
                    .map(|(_, name)| name.clone())
                    .collect()
            })
            .unwrap_or_default();
        for pod in pods {
            self.delete_pod(namespace, &pod, Duration::ZERO).await;
        }
        let services: Vec<Key> = self
            .inner
            .services
            .lock()
            .map(|s| {
                s.keys()
                    .filter(|(ns, _)| ns == namespace)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for (ns, svc) in services {
            self.set_service_backends(&ns, &svc, Vec::new(), Vec::new())
                .await;
        }
        self.remove_network(namespace).await;
    }

    /// Starts the pod's containers (idempotent by uid) and keeps its status current via events.
    pub async fn start_pod(&self, pod: serde_json::Value) -> Result<(), RuntimeError> {
        self.start_pod_impl(pod).await
    }

    /// Stops (grace period) and removes the pod's containers.
    pub async fn delete_pod(&self, namespace: &str, name: &str, grace: Duration) {
        self.delete_pod_impl(namespace, name, grace).await
    }

    /// Makes `service`, `service.namespace`, `service.namespace.svc.cluster.local` resolve,
    /// inside the namespace's network, to the given ready pods (empty = unresolvable).
    pub async fn set_service_backends(
        &self,
        namespace: &str,
        service: &str,
        pods: Vec<String>,
        ports: Vec<ServicePort>,
    ) {
        self.set_backends_impl(namespace, service, pods, ports)
            .await
    }

    /// The container's output as a byte stream (`pods/log`).
    pub async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        opts: LogOptions,
    ) -> Result<
        futures_util::stream::BoxStream<'static, Result<bytes::Bytes, RuntimeError>>,
        RuntimeError,
    > {
        self.logs_impl(namespace, pod, container, opts).await
    }

    /// Upgraded WebSocket for pods/exec (command from the `command` query params) or
    /// pods/attach; speaks the channel protocol chosen from the client's offered
    /// subprotocols, ends with the exit status on the error channel.
    pub fn exec_upgrade(
        &self,
        ws: axum::extract::ws::WebSocketUpgrade,
        request: ExecRequest,
    ) -> axum::response::Response {
        self.exec_upgrade_impl(ws, request)
    }

    /// Removes every container and network of this instance (SIGTERM path).
    pub async fn shutdown(&self) {
        self.shutdown_impl().await
    }
}

/// `kube-sim --cleanup`: removes what any (killed) instance left; returns how many objects.
pub async fn cleanup_all() -> Result<usize, RuntimeError> {
    cleanup::cleanup_all().await
}
