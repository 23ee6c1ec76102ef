//! Connecting to the cluster the user named, and proving before any job starts that it answers
//! and lets gantry manage namespaces. Only an explicit [`ClusterChoice`] is ever read.

use super::EnvError;
use super::config::ClusterChoice;
use base64::Engine;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::time::Duration;

/// A connected cluster and what a job needs to reach it.
#[derive(Clone)]
pub struct Cluster {
    /// Client with the user's credentials (namespace management).
    pub client: kube::Client,
    /// API server URL (`KUBE_URL`).
    pub server: String,
    /// CA bundle, PEM (`KUBE_CA_PEM`); `None` when the kubeconfig skips verification.
    pub ca_pem: Option<String>,
    /// `tls-server-name` of the kubeconfig, if any.
    pub tls_server_name: Option<String>,
    /// The context used, for labels and `gantry env list`.
    pub context: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// Reads the named kubeconfig/context, connects, and checks that namespaces can be listed.
pub async fn connect(choice: &ClusterChoice) -> Result<Cluster, EnvError> {
    let shown = choice.kubeconfig.as_ref().map_or_else(
        || "the default kubeconfig".to_string(),
        |p| p.display().to_string(),
    );
    let kubeconfig = match &choice.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| EnvError::Kubeconfig {
        file: shown.clone(),
        message: e.to_string(),
    })?;
    let context = choice
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())
        .ok_or_else(|| EnvError::Kubeconfig {
            file: shown.clone(),
            message: "it names no current context; pass --kube-context".into(),
        })?;
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| EnvError::Kubeconfig {
            file: shown.clone(),
            message: e.to_string(),
        })?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(30));
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let ca_pem = match (&config.root_cert, &config.root_cert_file) {
        (Some(ders), _) if !ders.is_empty() => Some(ders.iter().map(|d| pem(d)).collect()),
        (_, Some(file)) => std::fs::read_to_string(file).ok(),
        _ => None,
    };
    let tls_server_name = config.tls_server_name.clone();
    let client = kube::Client::try_from(config).map_err(|e| EnvError::Unreachable {
        server: server.clone(),
        message: e.to_string(),
    })?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if let Err(e) = namespaces
        .list_metadata(&ListParams::default().limit(1))
        .await
    {
        return Err(match &e {
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => EnvError::Unauthorised {
                server,
                context,
                message: s.message.clone(),
            },
            _ => EnvError::Unreachable {
                server,
                message: error_chain(&e),
            },
        });
    }
    Ok(Cluster {
        client,
        server,
        ca_pem,
        tls_server_name,
        context,
    })
}

/// A DER certificate as PEM.
fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// An error with its causes, so "connection refused" is not hidden behind "client error".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
