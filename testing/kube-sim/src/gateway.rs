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
    let configs = net.ipam?.config?;
    let explicit = configs
        .iter()
        .filter_map(|c| c.gateway.as_deref())
        .find_map(|g| g.parse::<IpAddr>().ok().filter(IpAddr::is_ipv4));
    // Docker often leaves the gateway out of the bridge's IPAM config; it is then the
    // first address of the subnet (172.17.0.1 for 172.17.0.0/16).
    explicit.or_else(|| {
        configs
            .iter()
            .filter_map(|c| c.subnet.as_deref())
            .find_map(first_host)
    })
}

fn first_host(subnet: &str) -> Option<IpAddr> {
    let (addr, _) = subnet.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    Some(IpAddr::V4(std::net::Ipv4Addr::from(u32::from(ip) | 1)))
}
