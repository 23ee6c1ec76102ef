//! One Docker bridge network per namespace: pods of a namespace reach each other and its
//! Service names; other namespaces are on other networks.

use super::labels::{labels, network_name};
use super::{Runtime, RuntimeError};
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};

/// The /16 whose /24s namespace networks use once Docker's default address pools are full.
const FALLBACK_PREFIX: &str = "10.213";

impl Runtime {
    /// Creates the namespace's network unless it exists; returns its name.
    pub(crate) async fn network(&self, namespace: &str) -> Result<String, RuntimeError> {
        let name = network_name(&self.inner.config.instance, namespace);
        let _serial = self.inner.net_lock.lock().await;
        if self.inner.docker.inspect_network(&name, None).await.is_ok() {
            return Ok(name);
        }
        let req = |subnet: Option<String>| NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(labels(
                &self.inner.config.instance,
                namespace,
                "",
                "",
                "network",
            )),
            ipam: subnet.map(|s| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(s),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut result = self.inner.docker.create_network(req(None)).await;
        // Docker's default pools hold only ~30 networks; beyond them, small subnets of our own.
        if let Err(e) = &result
            && e.to_string().contains("available, non-overlapping")
        {
            for n in 0..=255u16 {
                result = self
                    .inner
                    .docker
                    .create_network(req(Some(format!("{FALLBACK_PREFIX}.{n}.0/24"))))
                    .await;
                if result.is_ok() {
                    break;
                }
            }
        }
        match result {
            Ok(_) => Ok(name),
            // Another kube-sim process created it meanwhile.
            Err(_) if self.inner.docker.inspect_network(&name, None).await.is_ok() => Ok(name),
            Err(e) => Err(RuntimeError::docker(format!("creating network {name}"), e)),
        }
    }

    /// Removes the namespace's network; containers still attached keep it (logged, not fatal).
    pub(crate) async fn remove_network(&self, namespace: &str) {
        let name = network_name(&self.inner.config.instance, namespace);
        let _ = self.inner.docker.remove_network(&name).await;
    }
}
