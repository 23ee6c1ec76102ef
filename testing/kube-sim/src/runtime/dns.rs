//! Service names inside a namespace network. Each Service with ready backends gets a small
//! busybox proxy container on the namespace's network whose network aliases are `<svc>`,
//! `<svc>.<ns>` and `<svc>.<ns>.svc.cluster.local` (Docker's embedded DNS resolves them only on
//! that network, so other namespaces cannot). It forwards every Service `port` to the
//! `targetPort` of the first ready backend with `nc -ll … -e nc <backend> <targetPort>`; the
//! backend's IP sits in a file that is rewritten when the backends change, so the name and its
//! address stay stable while pods come and go. TCP only.

use super::image::INFRA_IMAGE;
use super::labels::{self, labels};
use super::{Runtime, ServicePort};
use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig};
use std::collections::HashMap;

/// What the runtime keeps per Service.
#[derive(Clone, Default)]
pub struct ServiceState {
    /// Backend pod names as the API side gave them.
    pub pods: Vec<String>,
    /// The ports.
    pub ports: Vec<ServicePort>,
    /// The proxy container, when one runs.
    pub proxy: Option<String>,
    /// The backend IP the proxy forwards to.
    pub backend_ip: String,
}

/// The proxy's shell script: one persistent `nc` listener per port.
fn script(ports: &[ServicePort]) -> String {
    let mut s = String::from("trap 'exit 0' TERM INT; ");
    for p in ports
        .iter()
        .filter(|p| p.protocol.eq_ignore_ascii_case("TCP") || p.protocol.is_empty())
    {
        s.push_str(&format!(
            "nc -ll -p {} -e sh -c 'exec nc $(cat /backend) {}' & ",
            p.port, p.target_port
        ));
    }
    s.push_str("while :; do sleep 3600 & wait $!; done");
    s
}

impl Runtime {
    /// See [`Runtime::set_service_backends`].
    pub(crate) async fn set_backends_impl(
        &self,
        namespace: &str,
        service: &str,
        pods: Vec<String>,
        ports: Vec<ServicePort>,
    ) {
        let _guard = self.inner.dns_lock.lock().await;
        let key = (namespace.to_string(), service.to_string());
        let old = self
            .inner
            .services
            .lock()
            .ok()
            .and_then(|s| s.get(&key).cloned())
            .unwrap_or_default();
        let ip = pods
            .iter()
            .filter_map(|p| self.pod_entry(namespace, p))
            .filter_map(|e| e.live.lock().ok().map(|l| l.ip.clone()))
            .find(|ip| !ip.is_empty())
            .unwrap_or_default();
        let mut state = ServiceState {
            pods,
            ports,
            proxy: old.proxy.clone(),
            backend_ip: ip.clone(),
        };
        if ip.is_empty() || state.ports.is_empty() {
            if let Some(p) = &old.proxy {
                self.remove_container(p).await;
            }
            state.proxy = None;
        } else if old.proxy.is_some() && old.ports == state.ports {
            if old.backend_ip != ip
                && let Some(p) = &old.proxy
            {
                let cmd = vec!["sh".into(), "-c".into(), format!("echo {ip} > /backend")];
                let _ = super::probes::exec_code(
                    &self.inner.docker,
                    p,
                    cmd,
                    std::time::Duration::from_secs(5),
                )
                .await;
            }
        } else {
            if let Some(p) = &old.proxy {
                self.remove_container(p).await;
            }
            state.proxy = self
                .start_proxy(namespace, service, &state.ports, &ip)
                .await;
        }
        if let Ok(mut s) = self.inner.services.lock() {
            if state.pods.is_empty() && state.proxy.is_none() {
                s.remove(&key);
            } else {
                s.insert(key, state);
            }
        }
    }

    async fn start_proxy(
        &self,
        namespace: &str,
        service: &str,
        ports: &[ServicePort],
        ip: &str,
    ) -> Option<String> {
        let network = self.network(namespace).await.ok()?;
        super::image::ensure_infra_image(&self.inner.docker)
            .await
            .ok()?;
        let aliases = vec![
            service.to_string(),
            format!("{service}.{namespace}"),
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.cluster.local"),
        ];
        let body = ContainerCreateBody {
            image: Some(INFRA_IMAGE.into()),
            entrypoint: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo {ip} > /backend; {}", script(ports)),
            ]),
            labels: Some(labels(
                &self.inner.config.instance,
                namespace,
                service,
                "",
                "service",
            )),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network,
                    EndpointSettings {
                        aliases: Some(aliases),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let name = format!(
            "kube-sim-{}-{}-svc-{}",
            labels::safe(&self.inner.config.instance),
            labels::safe(namespace),
            labels::safe(service)
        );
        let id = self.create(&name, body).await.ok()?;
        self.inner.docker.start_container(&id, None).await.ok()?;
        Some(id)
    }

    /// A pod went away: services that forwarded to it move to another backend or vanish.
    pub(crate) async fn pod_gone(&self, namespace: &str, pod: &str) {
        let affected: Vec<(String, ServiceState)> = self
            .inner
            .services
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|((ns, _), st)| ns == namespace && st.pods.iter().any(|p| p == pod))
                    .map(|((_, svc), st)| (svc.clone(), st.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (svc, st) in affected {
            let pods = st.pods.into_iter().filter(|p| p != pod).collect();
            self.set_backends_impl(namespace, &svc, pods, st.ports)
                .await;
        }
    }
}
