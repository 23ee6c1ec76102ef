//! The address containers use to reach the host: the gateway of Docker's default bridge.

use std::net::IpAddr;
use std::time::Duration;

/// The Docker bridge gateway (e.g. 172.17.0.1), if Docker answers within a few seconds.
pub async fn docker_bridge_gateway() -> Option<IpAddr> {
    let docker = bollard::Docker::connect_with_local_defaults().ok()?;
    let net = tokio::time::timeout(
        Duration::from_secs(5),
        docker.inspect_network("bridge", None),
    )
    .await
    .ok()?
    .ok()?;
    net.ipam?
        .config?
        .into_iter()
        .filter_map(|c| c.gateway)
        .find_map(|g| g.parse::<IpAddr>().ok().filter(IpAddr::is_ipv4))
}
