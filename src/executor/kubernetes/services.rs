//! A job's `services:` as containers of its pod, as GitLab's Kubernetes executor runs them: one
//! `svc-N` container per service sharing the pod's network, reached on 127.0.0.1 under its alias
//! and GitLab's derived hostnames (through the pod's `hostAliases`). A `docker:*dind` service is
//! served by the node's Docker socket unless `--privileged-dind` asks for a real one. A service
//! with a health-check port (GitLab Runner's `HEALTHCHECK_TCP_PORT`; a real dind's engine port)
//! gets a TCP readiness probe, and the job's script waits for it. Pure.

use crate::executor::ServiceSpec;
use crate::executor::docker::{is_dind, service_hostnames};

/// One service container of the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Container name (`svc-0`, `svc-1`, …).
    pub name: String,
    /// Image, after `--image-map`.
    pub image: String,
    /// `command` of the container: the service's `entrypoint`.
    pub command: Option<Vec<String>>,
    /// `args` of the container: the service's `command`.
    pub args: Option<Vec<String>>,
    /// The job's variables, then the service's own.
    pub env: Vec<(String, String)>,
    /// A real `docker:dind` (with `--privileged-dind`).
    pub privileged: bool,
    /// Names the build container reaches it by (valid DNS names only: the API rejects others).
    pub hostnames: Vec<String>,
    /// The TCP port the script waits for (a readiness probe on it): `HEALTHCHECK_TCP_PORT`, or a
    /// real dind's engine port.
    pub health_port: Option<u16>,
}

/// The last value of `name` in `env` (later entries override earlier ones).
fn var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The port to wait on before the script: `HEALTHCHECK_TCP_PORT` (as GitLab Runner's Kubernetes
/// executor, which cannot read an image's exposed ports); for a real dind without it, the port
/// the job's `DOCKER_HOST` names on the service, else the engine's (2375 when
/// `DOCKER_TLS_CERTDIR` is set empty, 2376 with TLS, as docker:dind's entrypoint chooses).
/// Without it the socket-less engine is still starting when the script's first `docker` runs.
fn health_port(env: &[(String, String)], dind: bool, hostnames: &[String]) -> Option<u16> {
    if let Some(p) = var(env, "HEALTHCHECK_TCP_PORT") {
        return p.trim().parse().ok();
    }
    if !dind {
        return None;
    }
    let named = var(env, "DOCKER_HOST")
        .and_then(|h| h.strip_prefix("tcp://"))
        .and_then(|h| h.trim_end_matches('/').rsplit_once(':'))
        .filter(|(host, _)| hostnames.iter().any(|n| n == host))
        .and_then(|(_, port)| port.parse().ok());
    named.or(Some(match var(env, "DOCKER_TLS_CERTDIR") {
        Some("") => 2375,
        _ => 2376,
    }))
}

/// The pod's services, and whether the build container gets the node's Docker socket instead of
/// a `docker:dind` service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Services {
    /// Service containers, in the job's order.
    pub containers: Vec<Container>,
    /// Pass the node's `/var/run/docker.sock` through (a `docker:dind` service without
    /// `--privileged-dind`).
    pub docker_socket: bool,
    /// Warnings for the job log.
    pub warnings: Vec<String>,
}

/// Whether `name` is a DNS-1123 subdomain, which is what `hostAliases` accepts.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Plans the services of a job: `map` applies `--image-map`; `job_env` is the job's variables.
pub fn plan(
    specs: &[ServiceSpec],
    job_env: &[(String, String)],
    map: impl Fn(&str) -> String,
    privileged_dind: bool,
    node_socket: bool,
) -> Services {
    let mut out = Services::default();
    for s in specs {
        let dind = is_dind(&s.image);
        if dind && !privileged_dind {
            // Without a privileged engine: the node's socket, where allowed, else nothing.
            let how = if node_socket {
                "is served by the node's Docker engine (socket passed through); use --privileged-dind for a real one"
            } else {
                "not started: neither a privileged engine nor the node's Docker socket is allowed here"
            };
            out.warnings
                .push(format!("warning: service {} {how}", s.image));
            out.docker_socket = node_socket;
            continue;
        }
        let (mut hostnames, mut dropped) = (Vec::new(), Vec::new());
        for h in service_hostnames(&s.image, s.alias.as_deref()) {
            if is_dns_subdomain(&h) {
                hostnames.push(h);
            } else {
                dropped.push(h);
            }
        }
        if !dropped.is_empty() {
            out.warnings.push(format!(
                "note: service {}: {} not usable as pod host name(s) (not DNS names)",
                s.image,
                dropped.join(", ")
            ));
        }
        let mut env = job_env.to_vec();
        env.extend(s.variables.iter().cloned());
        let health_port = health_port(&env, dind, &hostnames);
        out.containers.push(Container {
            name: format!("svc-{}", out.containers.len()),
            image: map(&s.image),
            command: s.entrypoint.clone().filter(|e| !e.is_empty()),
            args: s.command.clone().filter(|c| !c.is_empty()),
            env,
            privileged: dind,
            hostnames,
            health_port,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(image: &str, alias: Option<&str>) -> ServiceSpec {
        ServiceSpec {
            image: image.into(),
            alias: alias.map(str::to_string),
            entrypoint: None,
            command: None,
            variables: Vec::new(),
        }
    }

    #[test]
    fn names_commands_variables_and_hostnames() {
        let mut web = spec("tutum/wordpress:latest", Some("web,site"));
        web.entrypoint = Some(vec!["httpd".into()]);
        web.command = Some(vec!["-f".into()]);
        web.variables = vec![("PORT".into(), "8080".into())];
        let s = plan(
            &[web, spec("postgres:16", None)],
            &[("A".into(), "1".into())],
            |i| format!("local/{i}"),
            false,
            true,
        );
        assert!(!s.docker_socket);
        let c = &s.containers[0];
        assert_eq!(c.name, "svc-0");
        assert_eq!(c.image, "local/tutum/wordpress:latest");
        assert_eq!(c.command.as_deref(), Some(&["httpd".to_string()][..]));
        assert_eq!(c.args.as_deref(), Some(&["-f".to_string()][..]));
        assert_eq!(
            c.env,
            [("A".into(), "1".into()), ("PORT".into(), "8080".into())]
        );
        // `tutum__wordpress` is GitLab's other derived name, but no DNS name: the API would
        // reject the pod, so it is left out with a note.
        assert_eq!(c.hostnames, ["tutum-wordpress", "web", "site"]);
        assert!(
            s.warnings[0].contains("tutum__wordpress"),
            "{:?}",
            s.warnings
        );
        assert_eq!(s.containers[1].name, "svc-1");
        assert_eq!(s.containers[1].hostnames, ["postgres"]);
    }

    #[test]
    fn dind_is_the_node_socket_unless_privileged() {
        let dind = |privileged, socket| {
            plan(
                &[spec("docker:27-dind", None)],
                &[],
                str::to_string,
                privileged,
                socket,
            )
        };
        let s = dind(false, true);
        assert!(s.docker_socket && s.containers.is_empty());
        assert!(s.warnings[0].contains("--privileged-dind"));
        // Neither allowed (an untrusted pipeline under serve): no socket, no engine.
        let s = dind(false, false);
        assert!(!s.docker_socket && s.containers.is_empty());
        assert!(s.warnings[0].contains("not started"), "{:?}", s.warnings);
        let s = dind(true, true);
        assert!(!s.docker_socket);
        assert!(s.containers[0].privileged);
        assert_eq!(s.containers[0].hostnames, ["docker"]);
    }

    #[test]
    fn health_ports_come_from_healthcheck_tcp_port_or_the_dind_engine() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let port = |image: &str, job: &[(&str, &str)], own: &[(&str, &str)]| {
            let mut s = spec(image, None);
            s.variables = env(own);
            plan(&[s], &env(job), str::to_string, true, true).containers[0].health_port
        };
        // No port to wait on for an ordinary service unless asked (GitLab's Kubernetes executor).
        assert_eq!(port("postgres:16", &[], &[]), None);
        assert_eq!(
            port("postgres:16", &[], &[("HEALTHCHECK_TCP_PORT", "5432")]),
            Some(5432)
        );
        assert_eq!(
            port(
                "postgres:16",
                &[("HEALTHCHECK_TCP_PORT", "1")],
                &[("HEALTHCHECK_TCP_PORT", "2")]
            ),
            Some(2)
        );
        assert_eq!(
            port("postgres:16", &[], &[("HEALTHCHECK_TCP_PORT", "x")]),
            None
        );
        // A real dind: the port DOCKER_HOST names on it, else the engine's by TLS.
        assert_eq!(
            port("docker:dind", &[("DOCKER_HOST", "tcp://docker:2375")], &[]),
            Some(2375)
        );
        assert_eq!(
            port(
                "docker:dind",
                &[("DOCKER_HOST", "tcp://elsewhere:1234")],
                &[]
            ),
            Some(2376)
        );
        assert_eq!(
            port("docker:dind", &[("DOCKER_TLS_CERTDIR", "")], &[]),
            Some(2375)
        );
        assert_eq!(port("docker:dind", &[], &[]), Some(2376));
        assert_eq!(
            port("docker:dind", &[], &[("HEALTHCHECK_TCP_PORT", "2380")]),
            Some(2380)
        );
    }

    #[test]
    fn dns_subdomains() {
        assert!(is_dns_subdomain("a-b.c1"));
        for bad in ["", "A", "a_b", "-a", "a-", "a..b", "localhost:5000-db"] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
    }
}
