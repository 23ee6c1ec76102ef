//! The one place that builds executors for a plan, for `gantry run` and `gantry serve` alike:
//! the cluster (contacted only when named, before any job), environments on it, Docker when a
//! job was assigned to it, Kubernetes when a job was, all behind one [`AutoExecutor`] that
//! dispatches each job as the plan assigned it.

use crate::environment::Environments;
use crate::environment::config::{ClusterChoice, Settings};
use crate::executor::ExecutorError;
use crate::executor::auto::AutoExecutor;
use crate::executor::docker::{self, DockerExecutor, DockerOptions};
use crate::executor::kubernetes::settings::ExecutorConfig;
use crate::executor::kubernetes::{KubeOptions, KubernetesExecutor};
use crate::plan::Plan;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything executors are built from.
#[derive(Clone, Debug, Default)]
pub struct ExecutorSettings {
    /// The cluster (none: no environments, no Kubernetes executor).
    pub cluster: ClusterChoice,
    /// How environment namespaces are set up.
    pub environments: Settings,
    /// Job pods.
    pub pod: ExecutorConfig,
    /// Docker (and, for pull policy, image map and dind, the Kubernetes executor).
    pub docker: DockerOptions,
    /// An existing namespace for Kubernetes jobs without an environment.
    pub kube_namespace: Option<String>,
    /// Leave environment namespaces in place after the pipeline.
    pub keep_environments: bool,
    /// The project directory (labels and annotations name it).
    pub project: PathBuf,
    /// Remove what crashed runs left (containers, pods) before starting.
    pub sweep_leftovers: bool,
}

/// The executors of one pipeline.
pub struct Built {
    /// Dispatches each job to the executor the plan assigned.
    pub executor: Arc<AutoExecutor>,
    /// The pipeline's environments, when a cluster is named.
    pub environments: Option<Arc<Environments>>,
}

/// An `--image-map` entry that is not `FROM=TO`.
#[derive(Debug, thiserror::Error)]
#[error("image map `{entry}`: expected FROM=TO")]
pub struct ImageMapError {
    /// As given.
    pub entry: String,
}

/// Why the executors a plan needs cannot be had: the message says what to start or pass.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The named cluster cannot be used.
    #[error(transparent)]
    Cluster(#[from] crate::environment::EnvError),
    /// Jobs need Docker and there is none.
    #[error(
        "{source}\n{} job{} use an image ({}); start a Docker engine, or run them in the shell with --executor shell (`executor = \"shell\"` for a served repository)",
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" },
        jobs.iter().take(5).map(String::as_str).collect::<Vec<_>>().join(", ")
    )]
    NoDocker {
        /// Why Docker cannot be reached (boxed: the client's errors are large).
        source: Box<ExecutorError>,
        /// The jobs that need it.
        jobs: Vec<String>,
    },
    /// Container jobs cannot be pointed at the cluster.
    #[error(
        "environments: cannot find the Docker bridge's gateway address, which container jobs reach the cluster by"
    )]
    NoGateway,
    /// The forwarder for container jobs cannot be set up.
    #[error(transparent)]
    Proxy(#[from] crate::environment::proxy::ProxyError),
    /// Jobs need a cluster and none is named.
    #[error(
        "the kubernetes executor needs a cluster: --kubeconfig FILE (or --kube-context, or [kubernetes] in .gantry/config.toml); it would run {}",
        jobs.iter().take(5).map(String::as_str).collect::<Vec<_>>().join(", ")
    )]
    NoCluster {
        /// The jobs that need it.
        jobs: Vec<String>,
    },
}

/// `FROM=TO` image substitutions.
pub fn image_map(pairs: &[String]) -> Result<Vec<(String, String)>, ImageMapError> {
    pairs
        .iter()
        .map(|m| {
            m.split_once('=')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| ImageMapError { entry: m.clone() })
        })
        .collect()
}

fn some_jobs(plan: &Plan, executor: &str) -> Vec<String> {
    plan.jobs
        .iter()
        .filter(|j| j.executor == executor)
        .map(|j| j.name.clone())
        .collect()
}

/// Builds the executors `plan`'s jobs were assigned; `note` hears what was found and swept.
pub async fn build(
    plan: &Plan,
    settings: &ExecutorSettings,
    note: &(dyn Fn(&str) + Sync),
) -> Result<Built, BuildError> {
    let image_jobs = some_jobs(plan, "docker");
    let kube_jobs = some_jobs(plan, "kubernetes");
    let mut cluster = None;
    let mut environments = None;
    if settings.cluster.is_set() {
        let c = crate::environment::cluster::connect(&settings.cluster).await?;
        note(&format!(
            "environments: cluster {} (context {})",
            c.server, c.context
        ));
        if settings.sweep_leftovers {
            // Namespaces an earlier run of this project left when its gantry died.
            let project = settings.project.display().to_string();
            let timeout = settings.environments.delete_timeout;
            match crate::environment::gc::reap_leftovers(&c, &project, timeout).await {
                Ok(lines) => lines.iter().for_each(|l| note(l)),
                Err(e) => note(&format!("environments: leftovers not checked: {e}")),
            }
        }
        environments = Some(Arc::new(Environments::new(
            c.clone(),
            settings.environments.clone(),
            plan.pipeline.iid,
            &settings.project,
            settings.keep_environments,
        )));
        cluster = Some(c);
    }
    let docker = if image_jobs.is_empty() {
        None
    } else {
        let d = docker::connect()
            .await
            .map_err(|source| BuildError::NoDocker {
                source: Box::new(source),
                jobs: image_jobs,
            })?;
        if let Some(envs) = &environments {
            let Some(gateway) = crate::environment::proxy::bridge_gateway(&d).await else {
                return Err(BuildError::NoGateway);
            };
            envs.enable_containers(gateway).await?;
        }
        if settings.sweep_leftovers {
            for r in DockerExecutor::sweep(&d, None).await {
                note(&format!("removed leftover {r}"));
            }
        }
        Some(DockerExecutor::new(d, settings.docker.clone()))
    };
    let mut executor = AutoExecutor::new(docker);
    if !kube_jobs.is_empty() {
        let Some(cluster) = cluster else {
            return Err(BuildError::NoCluster { jobs: kube_jobs });
        };
        // Pods are told the in-cluster address by their kubelet; the bridge forwarder is the
        // fallback for a loopback API server whose pods are local containers.
        if let Some(envs) = &environments
            && let Ok(d) = docker::connect().await
            && let Some(gateway) = crate::environment::proxy::bridge_gateway(&d).await
        {
            let _ = envs.enable_containers(gateway).await;
        }
        if settings.sweep_leftovers {
            for r in crate::executor::kubernetes::gc::sweep(&cluster, false)
                .await
                .unwrap_or_default()
            {
                note(&format!("removed leftover {r}"));
            }
        }
        executor = executor.with_kubernetes(KubernetesExecutor::new(
            cluster,
            KubeOptions {
                namespace: settings.kube_namespace.clone(),
                pull: settings.docker.pull,
                image_map: settings.docker.image_map.clone(),
                start_timeout: Duration::from_secs(300),
                service_timeout: settings.docker.service_timeout,
                project: settings.project.clone(),
                delete_timeout: settings.environments.delete_timeout,
                privileged_dind: settings.docker.privileged_dind,
                node_socket: settings.docker.host_socket,
                pod: settings.pod.clone(),
            },
        ));
    }
    Ok(Built {
        executor: Arc::new(executor),
        environments,
    })
}
