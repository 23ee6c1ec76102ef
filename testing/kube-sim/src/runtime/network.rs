//! One Docker bridge network per namespace: pods of a namespace reach each other and its
//! Service names; other namespaces are on other networks.

use super::labels::{labels, network_name};
use super::{Runtime, RuntimeError};
use bollard::models::NetworkCreateRequest;

impl Runtime {
    /// Creates the namespace's network unless it exists; returns its name.
    pub(crate) async fn network(&self, namespace: &str) -> Result<String, RuntimeError> {
        let name = network_name(&self.inner.config.instance, namespace);
        if self.inner.docker.inspect_network(&name, None).await.is_ok() {
            return Ok(name);
        }
        let req = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(labels(
                &self.inner.config.instance,
                namespace,
                "",
                "",
                "network",
            )),
            ..Default::default()
        };
        match self.inner.docker.create_network(req).await {
            Ok(_) => Ok(name),
            // A concurrent creation won the race.
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
