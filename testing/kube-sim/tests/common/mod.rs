//! Shared helpers of the kube-sim API tests: a cluster per test (each in its own instance, so
//! tests run in parallel), the real /usr/bin/kubectl against it, and the Docker skip rule.
#![allow(dead_code)]

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kube_sim::{Cluster, ClusterOptions, RuntimeMode};
use std::panic::AssertUnwindSafe;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The locally built test image (busybox-static in a scratch image, /www/index.html inside).
pub const IMAGE: &str = "kube-sim-test/busybox:1";

/// Starts a cluster, runs `body`, and always stops the cluster (removing its containers),
/// even when `body` panics.
pub async fn with_cluster<F>(runtime: RuntimeMode, body: F)
where
    F: for<'a> FnOnce(&'a Cluster) -> BoxFuture<'a, ()>,
{
    let opts = ClusterOptions {
        runtime,
        bookmark_interval: Duration::from_millis(500),
        ..Default::default()
    };
    with_options(opts, body).await
}

/// [`with_cluster`] with explicit options.
pub async fn with_options<F>(opts: ClusterOptions, body: F)
where
    F: for<'a> FnOnce(&'a Cluster) -> BoxFuture<'a, ()>,
{
    let cluster = Cluster::start(opts).await.expect("kube-sim starts");
    let result = AssertUnwindSafe(body(&cluster)).catch_unwind().await;
    cluster.stop().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Output of one kubectl run.
pub struct Out {
    /// Exit status success.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `/usr/bin/kubectl` with the cluster's kubeconfig (2-minute limit).
pub async fn kubectl(c: &Cluster, args: &[&str]) -> Out {
    kubectl_with(c.kubeconfig_path(), args).await
}

/// Runs kubectl with a given kubeconfig.
pub async fn kubectl_with(kubeconfig: &std::path::Path, args: &[&str]) -> Out {
    let child = tokio::process::Command::new("/usr/bin/kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in 120s"))
        .expect("kubectl runs");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs kubectl and returns stdout, failing the test with stderr when it fails.
pub async fn kubectl_ok(c: &Cluster, args: &[&str]) -> String {
    let out = kubectl(c, args).await;
    assert!(
        out.ok,
        "kubectl {args:?} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// Runs a shell command line with KUBECONFIG set (for the pipeline's exact commands).
pub async fn sh(c: &Cluster, script: &str, limit: Duration) -> Out {
    let child = tokio::process::Command::new("sh")
        .args(["-c", script])
        .env("KUBECONFIG", c.kubeconfig_path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(limit, child)
        .await
        .unwrap_or_else(|_| panic!("`{script}` did not finish in {limit:?}"))
        .expect("sh runs");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A kube-rs client for a kubeconfig file.
pub async fn client_for(path: &std::path::Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path).expect("kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kube-rs accepts the kubeconfig");
    kube::Client::try_from(config).expect("kube-rs client")
}

/// A kube-rs client for the cluster's admin.
pub async fn client(c: &Cluster) -> kube::Client {
    client_for(c.kubeconfig_path()).await
}

fn docker(args: &[&str]) -> (bool, String) {
    match Command::new("docker").args(args).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// True when Docker is usable (and the test image is built); otherwise prints a notice and
/// returns false, or panics when `GANTRY_REQUIRE_DOCKER=1`.
pub fn docker_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        if !docker(&["info"]).0 {
            assert!(
                std::env::var("GANTRY_REQUIRE_DOCKER").as_deref() != Ok("1"),
                "GANTRY_REQUIRE_DOCKER=1 but no Docker engine is reachable"
            );
            eprintln!("NOTICE: no Docker engine reachable; kube-sim Docker tests skipped");
            return false;
        }
        let ctx = tempfile::tempdir().expect("temp dir");
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .expect("busybox-static is installed (apt-get install busybox-static)");
        std::fs::copy(busybox, ctx.path().join("busybox")).expect("copy busybox");
        std::fs::write(
            ctx.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             RUN mkdir -p /www /tmp && echo hello-from-pod > /www/index.html\n",
        )
        .expect("write Dockerfile");
        let (ok, out) = docker(&["build", "-q", "-t", IMAGE, &ctx.path().to_string_lossy()]);
        assert!(ok, "building {IMAGE}: {out}");
        true
    })
}

/// Containers and networks labelled with this kube-sim instance, via the Docker API.
pub async fn labelled(instance: &str) -> (usize, usize) {
    use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
    use std::collections::HashMap;
    let docker = bollard::Docker::connect_with_local_defaults().expect("docker client");
    let filter: HashMap<String, Vec<String>> = HashMap::from([(
        "label".to_string(),
        vec![format!("kube-sim.instance={instance}")],
    )]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .expect("list containers");
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .expect("list networks");
    (containers.len(), networks.len())
}
