//! A pod's sandbox: the infra container that owns the pod's network namespace (hostname, IP on
//! the namespace network, /etc/hosts with the API server's in-cluster names and the pod's
//! hostAliases) and mounts its
//! emptyDir volumes to make them world-writable; plus the container create/remove helpers.

use super::labels::{self, labels};
use super::state::PodEntry;
use super::{Runtime, RuntimeError, env, image, probes, volumes};
use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use std::collections::HashMap;
use std::time::Duration;

/// Where the infra container mounts the pod's emptyDir volumes (to make them world-writable).
const EMPTY_DIRS: &str = "/kube-sim-empty-dirs";

impl Runtime {
    /// Creates the pod's network (namespace), emptyDir volumes and infra container; records the IP.
    pub(crate) async fn setup_infra(&self, e: &PodEntry) -> Result<(), RuntimeError> {
        let network = self.network(&e.namespace).await?;
        self.infra_image().await?;
        let inst = &self.inner.config.instance;
        for v in volumes::empty_dirs(&e.pod) {
            let req = bollard::models::VolumeCreateRequest {
                name: Some(volumes::empty_dir_volume(&e.uid, &v)),
                labels: Some(labels(inst, &e.namespace, &e.name, &e.uid, "volume")),
                ..Default::default()
            };
            self.inner.docker.create_volume(req).await.map_err(|err| {
                RuntimeError::docker(format!("creating emptyDir volume {v}"), err)
            })?;
        }
        let hostname = env::str_at(&e.pod, "/spec/hostname").unwrap_or(&e.name);
        let body = ContainerCreateBody {
            image: Some(image::INFRA_IMAGE.into()),
            entrypoint: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done".into(),
            ]),
            hostname: Some(hostname.chars().take(63).collect()),
            labels: Some(labels(inst, &e.namespace, &e.name, &e.uid, "infra")),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                // The in-cluster name of the API server, in the /etc/hosts the pod shares.
                // …and the pod's `hostAliases`.
                extra_hosts: with_host_aliases(api_hosts(&self.inner.config.api_host), &e.pod),
                mounts: Some(
                    volumes::empty_dirs(&e.pod)
                        .iter()
                        .map(|v| bollard::models::Mount {
                            target: Some(format!("{EMPTY_DIRS}/{}", labels::safe(v))),
                            source: Some(volumes::empty_dir_volume(&e.uid, v)),
                            typ: Some(bollard::models::MountType::VOLUME),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![e.name.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let name = format!("{}-infra", self.pod_prefix(e));
        let id = self.create(&name, body).await?;
        if let Ok(mut live) = e.live.lock() {
            live.infra = Some(id.clone());
        }
        self.inner
            .docker
            .start_container(&id, None)
            .await
            .map_err(|err| RuntimeError::docker("starting the pod's infra container", err))?;
        let info = self
            .inner
            .docker
            .inspect_container(&id, None)
            .await
            .map_err(|err| RuntimeError::docker("inspecting the pod's infra container", err))?;
        let ip = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|n| n.get(&network).and_then(|ep| ep.ip_address.clone()))
            .unwrap_or_default();
        if let Ok(mut live) = e.live.lock() {
            live.ip = ip;
        }
        // emptyDir is world-writable in Kubernetes; a fresh Docker volume is root's 0755.
        let dirs = volumes::empty_dirs(&e.pod);
        if !dirs.is_empty() {
            let mut cmd = vec!["chmod".to_string(), "0777".into()];
            cmd.extend(
                dirs.iter()
                    .map(|v| format!("{EMPTY_DIRS}/{}", labels::safe(v))),
            );
            probes::exec_code(&self.inner.docker, &id, cmd, Duration::from_secs(10)).await;
        }
        Ok(())
    }

    /// Creates a labelled container (removing a stale one of the same name first).
    pub(crate) async fn create(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, RuntimeError> {
        let opts = CreateContainerOptionsBuilder::new().name(name).build();
        match self
            .inner
            .docker
            .create_container(Some(opts.clone()), body.clone())
            .await
        {
            Ok(r) => Ok(r.id),
            Err(_) => {
                self.remove_container(name).await;
                self.inner
                    .docker
                    .create_container(Some(opts), body)
                    .await
                    .map(|r| r.id)
                    .map_err(|err| RuntimeError::docker(format!("creating container {name}"), err))
            }
        }
    }

    /// Force-removes a container and its anonymous volumes.
    pub(crate) async fn remove_container(&self, id: &str) {
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        let _ = self.inner.docker.remove_container(id, Some(opts)).await;
    }
}

/// `kubernetes.default.svc` & co. → the API server, when it is reached by IP.
/// `hosts` plus `name:ip` for every name of the pod's `spec.hostAliases`.
fn with_host_aliases(hosts: Option<Vec<String>>, pod: &serde_json::Value) -> Option<Vec<String>> {
    let mut all = hosts.unwrap_or_default();
    for alias in pod
        .pointer("/spec/hostAliases")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
    {
        let Some(ip) = alias.get("ip").and_then(|i| i.as_str()) else {
            continue;
        };
        for name in alias
            .get("hostnames")
            .and_then(|h| h.as_array())
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
        {
            all.push(format!("{name}:{ip}"));
        }
    }
    (!all.is_empty()).then_some(all)
}

fn api_hosts(api_host: &str) -> Option<Vec<String>> {
    api_host.parse::<std::net::IpAddr>().ok()?;
    Some(
        [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        .iter()
        .map(|n| format!("{n}:{api_host}"))
        .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_aliases_join_the_api_names() {
        let pod = serde_json::json!({"spec": {"hostAliases": [
            {"ip": "127.0.0.1", "hostnames": ["web", "db"]}, {"hostnames": ["no-ip"]}]}});
        let hosts = with_host_aliases(api_hosts("10.0.0.1"), &pod).unwrap();
        assert!(hosts.contains(&"kubernetes.default.svc:10.0.0.1".to_string()));
        assert_eq!(hosts[hosts.len() - 2..], ["web:127.0.0.1", "db:127.0.0.1"]);
        assert_eq!(with_host_aliases(None, &serde_json::json!({})), None);
    }
}
