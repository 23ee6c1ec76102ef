//! Reaching a cluster served on the host's loopback (kind, k3d) from container jobs:
//! a container's 127.0.0.1 is its own. gantry listens on the Docker bridge gateway (the host as
//! containers see it) and forwards each connection, byte for byte, to the API server. TLS is
//! end to end; the job's kubeconfig keeps the original host as `tls-server-name`, so the
//! server certificate still verifies. The listener lives as long as the pipeline.

use std::net::{IpAddr, SocketAddr};
use tokio::net::{TcpListener, TcpStream};

/// Where container jobs reach the API server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerEndpoint {
    /// `https://<gateway>:<port>`.
    pub server: String,
    /// The name the certificate is checked against (the original host).
    pub tls_server_name: Option<String>,
}

/// (host, port) of an `https://host:port/…` URL.
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, port) = v6.split_once("]:")?;
        return Some((host.to_string(), port.parse().ok()?));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), 443)),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why container jobs cannot be given a way to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The kubeconfig's server is not a URL with a host.
    #[error("cannot read the API server URL {server}")]
    BadServer {
        /// As the kubeconfig has it.
        server: String,
    },
    /// No port on the bridge address.
    #[error("cannot listen on the Docker bridge {gateway}: {source}")]
    Listen {
        /// The bridge's address on the host.
        gateway: IpAddr,
        /// The system's error.
        source: std::io::Error,
    },
    /// The listener's own address is unknown.
    #[error("Docker bridge listener: {source}")]
    LocalAddr {
        /// The system's error.
        source: std::io::Error,
    },
}

/// The endpoint for container jobs: the server itself unless it is on the host's loopback;
/// then a forwarder on `gateway` (the Docker bridge's address on the host).
pub async fn container_endpoint(
    server: &str,
    tls_server_name: Option<&str>,
    gateway: IpAddr,
) -> Result<ContainerEndpoint, ProxyError> {
    let Some((host, port)) = host_port(server) else {
        return Err(ProxyError::BadServer {
            server: server.to_string(),
        });
    };
    if !is_loopback(&host) {
        return Ok(ContainerEndpoint {
            server: server.to_string(),
            tls_server_name: tls_server_name.map(str::to_string),
        });
    }
    let listener = TcpListener::bind(SocketAddr::new(gateway, 0))
        .await
        .map_err(|source| ProxyError::Listen { gateway, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ProxyError::LocalAddr { source })?;
    let target = if host == "localhost" {
        "127.0.0.1".to_string()
    } else {
        host.clone()
    };
    tokio::spawn(forward(listener, format!("{target}:{port}")));
    let shown = match local.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    Ok(ContainerEndpoint {
        server: format!("https://{shown}:{}", local.port()),
        tls_server_name: Some(tls_server_name.map_or(host, str::to_string)),
    })
}

/// The host's address on Docker's default bridge (`docker0`, e.g. 172.17.0.1), which
/// containers on any bridge network reach the host by.
pub async fn bridge_gateway(docker: &bollard::Docker) -> Option<IpAddr> {
    let network = docker
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .ok()?;
    let configs = network.ipam?.config?;
    // Engines do not always report the gateway; Docker's default is the subnet's first address.
    configs.into_iter().find_map(|c| {
        c.gateway
            .and_then(|g| g.parse().ok())
            .or_else(|| first_host(c.subnet.as_deref()?))
    })
}

/// The first host address of an IPv4 subnet (`172.17.0.0/16` → `172.17.0.1`).
fn first_host(subnet: &str) -> Option<IpAddr> {
    let (net, _) = subnet.split_once('/')?;
    let ip: std::net::Ipv4Addr = net.parse().ok()?;
    Some(IpAddr::V4(std::net::Ipv4Addr::from(
        u32::from(ip).checked_add(1)?,
    )))
}

async fn forward(listener: TcpListener, target: String) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let target = target.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_gateway_defaults_to_the_subnets_first_address() {
        assert_eq!(
            first_host("172.17.0.0/16"),
            Some("172.17.0.1".parse().unwrap())
        );
        assert_eq!(first_host("fd00::/64"), None);
    }

    #[test]
    fn reads_hosts_and_ports() {
        assert_eq!(
            host_port("https://127.0.0.1:6443"),
            Some(("127.0.0.1".into(), 6443))
        );
        assert_eq!(
            host_port("https://k8s.example.com/"),
            Some(("k8s.example.com".into(), 443))
        );
        assert_eq!(host_port("https://[::1]:6443"), Some(("::1".into(), 6443)));
        assert!(is_loopback("localhost") && is_loopback("127.0.0.2") && is_loopback("::1"));
        assert!(!is_loopback("10.0.0.1"));
    }

    #[tokio::test]
    async fn remote_servers_are_used_as_they_are() {
        let e = container_endpoint("https://10.1.2.3:6443", None, "127.0.0.1".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(e.server, "https://10.1.2.3:6443");
        assert_eq!(e.tls_server_name, None);
    }

    #[tokio::test]
    async fn loopback_servers_are_forwarded_and_keep_their_name() {
        // An echo server standing in for the API server.
        let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = api.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = api.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        // Loopback stands in for the bridge gateway, so the test needs no Docker.
        let e = container_endpoint(
            &format!("https://127.0.0.1:{port}"),
            None,
            "127.0.0.1".parse().unwrap(),
        )
        .await
        .unwrap();
        assert_ne!(e.server, format!("https://127.0.0.1:{port}"));
        assert_eq!(e.tls_server_name.as_deref(), Some("127.0.0.1"));
        let (_, p) = host_port(&e.server).unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", p)).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
    }
}
