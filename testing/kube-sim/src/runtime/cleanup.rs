//! Reaping: every container, network and volume carrying the kube-sim labels — of this
//! instance on shutdown, of any instance for `kube-sim --cleanup`.

use super::labels::{LABEL_INSTANCE, LABEL_OWNER};
use super::{Runtime, RuntimeError};
use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use std::collections::HashMap;

/// Removes everything matching `label` (`kube-sim=1` or `kube-sim.instance=<i>`); how many.
pub async fn reap(docker: &Docker, label: &str) -> usize {
    let filters = HashMap::from([("label", vec![label])]);
    let mut removed = 0;
    let opts = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker.list_containers(Some(opts)).await.unwrap_or_default();
    let removals = containers
        .into_iter()
        .filter_map(|c| c.id)
        .map(|id| async move {
            let opts = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            docker.remove_container(&id, Some(opts)).await.is_ok()
        });
    removed += futures_util::future::join_all(removals)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
    for n in docker.list_networks(Some(opts)).await.unwrap_or_default() {
        if let Some(name) = n.name
            && docker.remove_network(&name).await.is_ok()
        {
            removed += 1;
        }
    }
    let opts = ListVolumesOptionsBuilder::new().filters(&filters).build();
    let volumes = docker
        .list_volumes(Some(opts))
        .await
        .ok()
        .and_then(|v| v.volumes)
        .unwrap_or_default();
    for v in volumes {
        if docker
            .remove_volume(
                &v.name,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    removed
}

impl Runtime {
    /// See [`Runtime::shutdown`].
    pub(crate) async fn shutdown_impl(&self) {
        let pods: Vec<_> = self
            .inner
            .pods
            .lock()
            .map(|mut p| p.drain().map(|(_, e)| e).collect())
            .unwrap_or_default();
        for e in pods {
            let _ = e.stop.send(true);
        }
        if let Ok(mut s) = self.inner.services.lock() {
            s.clear();
        }
        let label = format!("{LABEL_INSTANCE}={}", self.inner.config.instance);
        reap(&self.inner.docker, &label).await;
    }
}

/// See [`super::cleanup_all`].
pub async fn cleanup_all() -> Result<usize, RuntimeError> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| RuntimeError::docker("connecting to the Docker engine", e))?;
    docker
        .ping()
        .await
        .map_err(|e| RuntimeError::docker("pinging the Docker engine", e))?;
    Ok(reap(&docker, &format!("{LABEL_OWNER}=1")).await)
}
