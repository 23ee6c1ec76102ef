//! `environment`: a Kubernetes namespace per pipeline for the jobs with `environment:`, locked
//! down (a ServiceAccount whose Role only reaches that namespace, quota, limits, a network
//! policy) and always deleted at the end. Opt-in: without a cluster named by the user nothing
//! here runs and no request leaves the process. Sits beside `executor`: `run` asks it for a
//! job's variables and tears it down with the pipeline.
//! May not touch: scheduling, how commands run, YAML.

pub mod cluster;
pub mod config;
pub mod gc;
pub mod name;
pub mod objects;
pub mod proxy;

use config::Settings;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use cluster::Cluster;

/// What can go wrong with environments, with what the user needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The kubeconfig could not be read or has no usable context.
    #[error("kubeconfig {file}: {message}")]
    Kubeconfig {
        /// Which file.
        file: String,
        /// Why.
        message: String,
    },
    /// The API server did not answer.
    #[error("cluster {server} is unreachable: {message}")]
    Unreachable {
        /// API server URL.
        server: String,
        /// Why.
        message: String,
    },
    /// The credentials were refused.
    #[error(
        "cluster {server} (context {context}) refused gantry's credentials: {message}\n\
         gantry needs to list, create and delete namespaces and create RBAC objects in them"
    )]
    Unauthorised {
        /// API server URL.
        server: String,
        /// Context used.
        context: String,
        /// The server's message.
        message: String,
    },
    /// The namespace exists and belongs to someone else.
    #[error(
        "namespace {namespace} already exists and is not this pipeline's ({owner}); \
         set environment:kubernetes:namespace, or remove it (`gantry gc`)"
    )]
    Taken {
        /// The namespace.
        namespace: String,
        /// Who has it.
        owner: String,
    },
    /// An API call failed.
    #[error("{action} in namespace {namespace}: {message}")]
    Api {
        /// What gantry was doing.
        action: String,
        /// Where.
        namespace: String,
        /// The error.
        message: String,
    },
}

/// What a job needs to deploy into its environment.
#[derive(Clone, Debug)]
pub struct Access {
    /// Namespace (`KUBE_NAMESPACE`).
    pub namespace: String,
    /// API server URL as the job reaches it (`KUBE_URL`).
    pub server: String,
    /// The deployer's token (`KUBE_TOKEN`, masked).
    pub token: String,
    /// CA bundle (`KUBE_CA_PEM`).
    pub ca_pem: Option<String>,
    /// A kubeconfig with all of it (`KUBECONFIG`).
    pub kubeconfig: String,
}

/// One prepared namespace.
#[derive(Debug)]
struct Ready {
    token: String,
}

/// The environments of one pipeline: created on first use, deleted by [`Environments::teardown`].
pub struct Environments {
    cluster: Cluster,
    settings: Settings,
    owner: objects::Owner,
    keep: bool,
    prepared: tokio::sync::Mutex<BTreeMap<String, Arc<Ready>>>,
    /// Namespaces this run created (also half-prepared ones): teardown deletes these.
    created: std::sync::Mutex<Vec<String>>,
    timings: std::sync::Mutex<Vec<(String, Duration)>>,
    /// Lines for the run's output (leftovers reaped), taken by [`Environments::take_notes`].
    notes: std::sync::Mutex<Vec<String>>,
    /// How container jobs reach the API server (set when Docker runs jobs).
    container: std::sync::OnceLock<proxy::ContainerEndpoint>,
}

impl std::fmt::Debug for Environments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environments")
            .field("cluster", &self.cluster)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn api_error(action: &str, namespace: &str, e: &kube::Error) -> EnvError {
    EnvError::Api {
        action: action.into(),
        namespace: namespace.into(),
        message: cluster::error_chain(e),
    }
}

impl Environments {
    /// Environments of pipeline `pipeline` on `cluster`; `keep` leaves namespaces to expire.
    pub fn new(
        cluster: Cluster,
        settings: Settings,
        pipeline: u64,
        project: &std::path::Path,
        keep: bool,
    ) -> Self {
        let owner = objects::Owner {
            pipeline,
            pid: std::process::id(),
            started: crate::process::own_start(),
            host: objects::host_label(),
            project: project.display().to_string(),
            context: cluster.context.clone(),
        };
        Environments {
            cluster,
            settings,
            owner,
            keep,
            prepared: tokio::sync::Mutex::new(BTreeMap::new()),
            created: std::sync::Mutex::new(Vec::new()),
            timings: std::sync::Mutex::new(Vec::new()),
            notes: std::sync::Mutex::new(Vec::new()),
            container: std::sync::OnceLock::new(),
        }
    }

    /// What happened that the run's output should say (a leftover namespace reaped).
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Lets container jobs reach the cluster: through a forwarder on `gateway` when the API
    /// server is on the host's loopback.
    pub async fn enable_containers(
        &self,
        gateway: std::net::IpAddr,
    ) -> Result<(), proxy::ProxyError> {
        let endpoint = proxy::container_endpoint(
            &self.cluster.server,
            self.cluster.tls_server_name.as_deref(),
            gateway,
        )
        .await?;
        let _ = self.container.set(endpoint);
        Ok(())
    }

    /// Whether namespaces are left to expire rather than deleted after the pipeline.
    pub fn keeps(&self) -> bool {
        self.keep
    }

    /// The cluster in use.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// How long each namespace took to be ready with all its objects.
    pub fn timings(&self) -> Vec<(String, Duration)> {
        self.timings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Access to namespace `ns`, preparing it first if this is its first job. `auto_stop_in`
    /// (seconds) sets its expiry; `registry` is (server, user, password) for a pull Secret.
    /// `in_container`: the job runs in a container (it gets the container endpoint, if any).
    pub async fn access(
        &self,
        ns: &str,
        auto_stop_in: Option<u64>,
        registry: Option<(String, String, String)>,
        in_container: bool,
    ) -> Result<Access, EnvError> {
        let ready = {
            let mut prepared = self.prepared.lock().await;
            match prepared.get(ns) {
                Some(r) => r.clone(),
                None => {
                    let started = Instant::now();
                    let r = Arc::new(self.prepare(ns, auto_stop_in, registry).await?);
                    self.timings
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((ns.to_string(), started.elapsed()));
                    prepared.insert(ns.to_string(), r.clone());
                    r
                }
            }
        };
        let (server, tls_server_name) = match self.container.get().filter(|_| in_container) {
            Some(e) => (e.server.clone(), e.tls_server_name.clone()),
            None => (
                self.cluster.server.clone(),
                self.cluster.tls_server_name.clone(),
            ),
        };
        Ok(Access {
            namespace: ns.to_string(),
            kubeconfig: objects::kubeconfig(
                &server,
                self.cluster.ca_pem.as_deref(),
                tls_server_name.as_deref(),
                ns,
                &ready.token,
            ),
            server,
            token: ready.token.clone(),
            ca_pem: self.cluster.ca_pem.clone(),
        })
    }

    async fn prepare(
        &self,
        ns: &str,
        auto_stop_in: Option<u64>,
        registry: Option<(String, String, String)>,
    ) -> Result<Ready, EnvError> {
        let client = self.cluster.client.clone();
        let ttl = match auto_stop_in {
            Some(u64::MAX) | None => self.settings.default_ttl.as_secs(),
            Some(s) => s,
        };
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let object: Namespace =
            serde_json::from_value(objects::namespace(ns, &self.owner, now() + ttl)).map_err(
                |e| EnvError::Api {
                    action: "building the namespace".into(),
                    namespace: ns.into(),
                    message: e.to_string(),
                },
            )?;
        let mut attempt = namespaces.create(&PostParams::default(), &object).await;
        // A leftover of a run whose gantry is provably gone is reaped, once, and made anew.
        if let Err(kube::Error::Api(s)) = &attempt
            && s.code == 409
            && let Ok(existing) = namespaces.get(ns).await
        {
            let live = gc::live_of(existing);
            if !live.pipeline.is_empty() && live.owner_gone(&self.owner.host) {
                let line = gc::reap_one(&self.cluster, &live, self.settings.delete_timeout).await;
                self.notes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line);
                attempt = namespaces.create(&PostParams::default(), &object).await;
            }
        }
        match attempt {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = namespaces
                    .get(ns)
                    .await
                    .map_err(|e| api_error("reading the existing namespace", ns, &e))?;
                let labels = existing.metadata.labels.unwrap_or_default();
                let ours = labels.get(objects::PID) == Some(&self.owner.pid.to_string())
                    && labels.get(objects::HOST) == Some(&self.owner.host);
                if !ours {
                    return Err(EnvError::Taken {
                        namespace: ns.into(),
                        owner: match labels.get(objects::PIPELINE) {
                            Some(p) => format!(
                                "gantry pipeline {p}, pid {}",
                                labels.get(objects::PID).map_or("?", String::as_str)
                            ),
                            None => "not made by gantry".into(),
                        },
                    });
                }
            }
            Err(e) => return Err(api_error("creating the namespace", ns, &e)),
        }
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ns.to_string());
        let mut objects = objects::namespaced(ns, &self.settings);
        if let Some((server, user, password)) = &registry {
            objects.push(("Secret", objects::pull_secret(ns, server, user, password)));
        }
        for (kind, value) in objects {
            let resource = match kind {
                "ServiceAccount" => ApiResource::erase::<ServiceAccount>(&()),
                "Role" => ApiResource::erase::<Role>(&()),
                "RoleBinding" => ApiResource::erase::<RoleBinding>(&()),
                "ResourceQuota" => {
                    ApiResource::erase::<k8s_openapi::api::core::v1::ResourceQuota>(&())
                }
                "LimitRange" => ApiResource::erase::<k8s_openapi::api::core::v1::LimitRange>(&()),
                "NetworkPolicy" => ApiResource::erase::<NetworkPolicy>(&()),
                _ => ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
            };
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
            let object: DynamicObject =
                serde_json::from_value(value).map_err(|e| EnvError::Api {
                    action: format!("building the {kind}"),
                    namespace: ns.into(),
                    message: e.to_string(),
                })?;
            match api.create(&PostParams::default(), &object).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(api_error(&format!("creating the {kind}"), ns, &e)),
            }
        }
        if registry.is_some() {
            let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
            let patch = serde_json::json!({"imagePullSecrets": [{"name": objects::PULL_SECRET}]});
            sas.patch(
                objects::DEPLOYER,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
            .map_err(|e| api_error("attaching the pull secret", ns, &e))?;
        }
        let sas: Api<ServiceAccount> = Api::namespaced(client, ns);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                // Kubernetes' minimum is ten minutes.
                expiration_seconds: Some(i64::try_from(ttl.max(600)).unwrap_or(i64::MAX)),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let token = sas
            .create_token_request(objects::DEPLOYER, &PostParams::default(), &request)
            .await
            .map_err(|e| api_error("requesting the deployer's token", ns, &e))?
            .status
            .and_then(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| EnvError::Api {
                action: "requesting the deployer's token".into(),
                namespace: ns.into(),
                message: "the server returned no token".into(),
            })?;
        Ok(Ready { token })
    }

    /// Deletes every namespace this run created and waits (bounded) until each is gone;
    /// with `--keep-environments` only says what stays. Returns lines for the user.
    pub async fn teardown(&self) -> Vec<String> {
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        let mut report = Vec::new();
        for ns in created {
            if self.keep {
                // Marked, so `gantry gc` waits for the expiry rather than reaping it now that
                // its process is gone.
                let api: Api<Namespace> = Api::all(self.cluster.client.clone());
                let patch =
                    serde_json::json!({"metadata": {"annotations": {objects::KEPT: "true"}}});
                let marked = api
                    .patch(
                        &ns,
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await;
                report.push(match marked {
                    Ok(_) => format!("kept namespace {ns} (until its expiry; `gantry gc` removes it then)"),
                    Err(e) => format!("kept namespace {ns}, but marking it failed ({e}); `gantry gc` may remove it early"),
                });
                continue;
            }
            report.push(
                match delete_namespace(&self.cluster.client, &ns, self.settings.delete_timeout)
                    .await
                {
                    Ok(took) => format!("namespace {ns} deleted ({:.1}s)", took.as_secs_f64()),
                    Err(e) => format!("namespace {ns}: {e}"),
                },
            );
        }
        report
    }
}

/// Deletes `ns` and waits until the API no longer has it (at most `timeout`).
pub async fn delete_namespace(
    client: &kube::Client,
    ns: &str,
    timeout: Duration,
) -> Result<Duration, EnvError> {
    let started = Instant::now();
    let api: Api<Namespace> = Api::all(client.clone());
    match api.delete(ns, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(started.elapsed()),
        Err(e) => return Err(api_error("deleting the namespace", ns, &e)),
    }
    let mut pause = Duration::from_millis(20);
    loop {
        match api.get_opt(ns).await {
            Ok(None) => return Ok(started.elapsed()),
            Ok(Some(_)) => {}
            Err(e) => return Err(api_error("waiting for the namespace to go", ns, &e)),
        }
        if started.elapsed() > timeout {
            return Err(EnvError::Api {
                action: "waiting for the namespace to go".into(),
                namespace: ns.into(),
                message: format!(
                    "still there after {}s (deletion was requested; `gantry gc` retries)",
                    timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(pause).await;
        // Capped low: an overshoot adds straight to every pipeline's end (docs/benchmarks.md).
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
