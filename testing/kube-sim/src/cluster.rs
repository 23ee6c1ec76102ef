//! The in-process cluster: [`Cluster::start`] brings up PKI, HTTPS listeners, the store, the
//! controllers and (when Docker is reachable) the container runtime, then writes the
//! kubeconfig; [`Cluster::stop`] undoes all of it, removing every container and network.

use crate::auth::Tokens;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::state::{Lookup, State};
use crate::store::Store;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Whether pods run as Docker containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeMode {
    /// API only: pods stay Pending (tests that must not need Docker).
    Disabled,
    /// Use Docker when reachable, otherwise run API-only.
    Auto,
    /// Fail to start without Docker.
    Required,
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Where to write the admin kubeconfig; None = a file in a temporary directory.
    pub kubeconfig: Option<PathBuf>,
    /// Directory for `ca.crt`, `token` and `instance` (written at start).
    pub state_dir: Option<PathBuf>,
    /// Whether pods run in Docker.
    pub runtime: RuntimeMode,
    /// Instance label value; None = random.
    pub instance: Option<String>,
    /// How many changes watches can resume from before answering 410 Gone.
    pub event_history: usize,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            kubeconfig: None,
            state_dir: None,
            runtime: RuntimeMode::Auto,
            instance: None,
            event_history: 10_000,
            bookmark_interval: Duration::from_secs(5),
        }
    }
}

/// Why a cluster did not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Generating certificates or TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Binding a listener failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Writing the kubeconfig or state files failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Docker was required but is not usable.
    #[error("container runtime: {0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// A running cluster; stop it with [`Cluster::stop`] (dropping it leaves containers behind
/// until `kube-sim --cleanup`).
pub struct Cluster {
    url: String,
    ca_pem: String,
    admin_token: String,
    kubeconfig_path: PathBuf,
    instance: String,
    temp_dir: Option<PathBuf>,
    state: Arc<State>,
    stop_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn seed(state: &State) {
    let Some(ns_rt) = crate::resources::find("", "v1", "namespaces") else {
        return;
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let t = crate::objects::Target {
            rt: ns_rt,
            namespace: None,
            name: None,
            sub: None,
        };
        let _ = crate::objects::create_object(state, &t, json!({"metadata": {"name": ns}}), false);
    }
    if let Some(node_rt) = crate::resources::find("", "v1", "nodes") {
        let t = crate::objects::Target {
            rt: node_rt,
            namespace: None,
            name: None,
            sub: None,
        };
        let node = json!({
            "metadata": {"name": "kube-sim", "labels": {"kubernetes.io/hostname": "kube-sim", "kubernetes.io/os": "linux"}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kube-sim runs pods in Docker"}]},
        });
        let _ = crate::objects::create_object(state, &t, node, false);
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ClusterError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ClusterError::Listen { addr, source })
}

fn write(path: &std::path::Path, contents: &str) -> Result<(), ClusterError> {
    crate::kubeconfig::write_atomically(path, contents).map_err(|source| ClusterError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl Cluster {
    /// Starts a cluster; returns once it accepts requests and the kubeconfig is written.
    pub async fn start(options: ClusterOptions) -> Result<Cluster, ClusterError> {
        let instance = options
            .instance
            .clone()
            .unwrap_or_else(|| format!("ks-{}", crate::meta::random_suffix(8)));
        let gateway = match options.runtime {
            RuntimeMode::Disabled => None,
            _ => crate::gateway::docker_bridge_gateway().await,
        };
        let mut names: Vec<String> = [
            "localhost",
            "127.0.0.1",
            "host.docker.internal",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(g) = gateway {
            names.push(g.to_string());
        }
        if !options.listen.ip().is_unspecified()
            && !names.contains(&options.listen.ip().to_string())
        {
            names.push(options.listen.ip().to_string());
        }
        let pki = crate::tls::generate(&names)?;

        let listener = bind(options.listen).await?;
        let local = listener
            .local_addr()
            .map_err(|source| ClusterError::Listen {
                addr: options.listen,
                source,
            })?;
        let mut listeners = vec![listener];
        let mut pod_endpoint: Option<(String, u16)> = None;
        if let Some(g) = gateway {
            if options.listen.ip().is_unspecified() {
                pod_endpoint = Some((g.to_string(), local.port()));
            } else {
                let same = bind(SocketAddr::new(g, local.port())).await;
                let l = match same {
                    Ok(l) => Some(l),
                    Err(_) => bind(SocketAddr::new(g, 0)).await.ok(),
                };
                if let Some(l) = l {
                    if let Ok(a) = l.local_addr() {
                        pod_endpoint = Some((g.to_string(), a.port()));
                        listeners.push(l);
                    }
                }
            }
        }

        let store = Store::new(options.event_history);
        let tokens = Arc::new(Tokens::new());
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (runtime, no_runtime_reason) = match (options.runtime, &pod_endpoint) {
            (RuntimeMode::Disabled, _) => (
                None,
                "kube-sim runs without a container runtime (API only)".to_string(),
            ),
            (mode, endpoint) => {
                let (api_host, api_port) = endpoint
                    .clone()
                    .unwrap_or_else(|| ("host.docker.internal".to_string(), local.port()));
                let config = RuntimeConfig {
                    instance: instance.clone(),
                    api_host,
                    api_port,
                    ca_pem: pki.ca_pem.clone(),
                    lookup: Arc::new(Lookup {
                        store: store.clone(),
                        tokens: tokens.clone(),
                    }),
                    events: events_tx.clone(),
                };
                match Runtime::connect(config).await {
                    Ok(rt) => (Some(rt), String::new()),
                    Err(e) if mode == RuntimeMode::Auto => {
                        (None, format!("kube-sim found no usable Docker engine: {e}"))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };

        let state = Arc::new(State {
            store,
            tokens: tokens.clone(),
            ca_pem: pki.ca_pem.clone(),
            runtime,
            no_runtime_reason,
            runtime_events: events_tx,
            bookmark_interval: options.bookmark_interval,
        });
        seed(&state);

        let (stop_tx, stop_rx) = watch::channel(false);
        let router = axum::Router::new()
            .fallback(crate::routes::handle)
            .with_state(state.clone());
        let mut tasks = Vec::new();
        for l in listeners {
            tasks.push(tokio::spawn(crate::server::serve(
                l,
                pki.server_config.clone(),
                router.clone(),
                stop_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(crate::controllers::run(
            state.clone(),
            events_rx,
            stop_rx.clone(),
        )));

        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            local.ip().to_string()
        };
        let url = format!("https://{host}:{}", local.port());
        let admin_token = tokens.admin_token().to_string();
        let (kubeconfig_path, temp_dir) = match &options.kubeconfig {
            Some(p) => (p.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!("kube-sim-{instance}"));
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        if let Some(dir) = &options.state_dir {
            write(&dir.join("ca.crt"), &pki.ca_pem)?;
            write(&dir.join("token"), &admin_token)?;
            write(&dir.join("instance"), &instance)?;
        }
        write(
            &kubeconfig_path,
            &crate::kubeconfig::render(&url, &pki.ca_pem, &admin_token, "kube-sim-admin"),
        )?;
        Ok(Cluster {
            url,
            ca_pem: pki.ca_pem,
            admin_token,
            kubeconfig_path,
            instance,
            temp_dir,
            state,
            stop_tx,
            tasks,
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA certificate (PEM) the server certificate chains to.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Path of the admin kubeconfig.
    pub fn kubeconfig_path(&self) -> &std::path::Path {
        &self.kubeconfig_path
    }

    /// The `kube-sim.instance` label value on everything this cluster creates in Docker.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether pods run in Docker (false = API only).
    pub fn has_runtime(&self) -> bool {
        self.state.runtime.is_some()
    }

    /// A kubeconfig (YAML) for another bearer token, e.g. a ServiceAccount's.
    pub fn kubeconfig_for_token(&self, token: &str, namespace: &str) -> String {
        crate::kubeconfig::render(&self.url, &self.ca_pem, token, "kube-sim-user")
            .replace("namespace: default", &format!("namespace: {namespace}"))
    }

    /// Stops serving and the controllers, then removes every container and network.
    pub async fn stop(self) {
        let _ = self.stop_tx.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if let Some(rt) = &self.state.runtime {
            rt.shutdown().await;
        }
        if let Some(dir) = self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
