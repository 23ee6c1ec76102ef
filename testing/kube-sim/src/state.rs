//! The state every request handler and controller shares.

use crate::auth::Tokens;
use crate::runtime::{ObjectLookup, Runtime};
use crate::store::Store;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Shared state of one cluster instance.
pub struct State {
    /// All objects.
    pub store: Arc<Store>,
    /// Accepted bearer tokens.
    pub tokens: Arc<Tokens>,
    /// The CA certificate (PEM) clients and pods trust.
    pub ca_pem: String,
    /// The container runtime; None when kube-sim runs API-only.
    pub runtime: Option<Runtime>,
    /// Why there is no runtime (shown in pod conditions and log/exec errors).
    pub no_runtime_reason: String,
    /// Where runtime reports (and controller-made reports) go; the controller loop reads them.
    pub runtime_events: tokio::sync::mpsc::UnboundedSender<crate::runtime::RuntimeEvent>,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
}

/// What the runtime reads from the store (ConfigMaps, Secrets, ServiceAccount tokens).
pub struct Lookup {
    /// The store objects come from.
    pub store: Arc<Store>,
    /// Where ServiceAccount tokens are minted.
    pub tokens: Arc<Tokens>,
}

impl ObjectLookup for Lookup {
    fn get(&self, namespace: &str, kind: &str, name: &str) -> Option<Value> {
        let key = match kind {
            "ConfigMap" => "/configmaps",
            "Secret" => "/secrets",
            "ServiceAccount" => "/serviceaccounts",
            "Pod" => "/pods",
            "Service" => "/services",
            _ => return None,
        };
        self.store.get(key, namespace, name)
    }

    fn service_account_token(&self, namespace: &str, service_account: &str) -> Option<String> {
        let sa = self
            .store
            .get("/serviceaccounts", namespace, service_account)?;
        let uid = crate::meta::uid(&sa).to_string();
        Some(
            self.tokens
                .mint(namespace, service_account, &uid, 3600 * 24, &[])
                .0,
        )
    }
}
