//! The environments' NetworkPolicy (`gantry-same-namespace-only`) isolates on a real cluster:
//! gantry creates a pipeline's environment, its deploy job starts a web Service and a probe pod
//! there; a pod in another namespace cannot reach the Service, the probe pod can, and once the
//! policy is deleted the other namespace's pod can too (so the block was the policy's, not a
//! broken network). Reachability is what `nc` in a busybox pod sees, never gantry's output.
//!
//! Needs the admin kubeconfig of a cluster that enforces NetworkPolicy in
//! GANTRY_TEST_KUBECONFIG (testing/cluster/up.sh's: kube-router's firewall), `kubectl`, and a
//! busybox image on the node (GANTRY_TEST_IMAGE, default up.sh's `gantry.test/busybox:1`).
//! Without a cluster it skips with a notice; on a cluster that enforces no policy at all (a
//! deny-all policy does not block either) it skips with a notice too, unless
//! GANTRY_REQUIRE_CLUSTER=1, which makes both fail.

use crate::support::cluster::{kubectl, spawn_shell_jobs, web_manifests};
use crate::support::{self, gate};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// What the web pod serves; seeing it means the connection went through.
const PAGE: &str = "hello-from-netpol-web";

/// The deploy job: a web Deployment and Service and a probe pod in the environment's namespace,
/// then the namespace's name for the test, then it waits until the test is done.
const PIPELINE: &str = "\
deploy:
  environment:
    name: review
  script:
    - kubectl apply -f web.yaml
    - kubectl run probe --image=\"$IMAGE\" --image-pull-policy=IfNotPresent --restart=Never --command -- sleep 600
    - kubectl rollout status deployment/web --timeout=120s
    - kubectl wait --for=condition=Ready pod/probe --timeout=120s
    - echo \"$KUBE_NAMESPACE\" > \"$OUT/namespace.tmp\" && mv \"$OUT/namespace.tmp\" \"$OUT/namespace\"
    - until [ -f \"$OUT/done\" ]; do sleep 0.2; done
";

fn image() -> String {
    std::env::var("GANTRY_TEST_IMAGE").unwrap_or_else(|_| "gantry.test/busybox:1".into())
}

/// The running pipeline and a namespace of the test's own; dropping it (a failed assertion
/// included) lets the deploy job end, so gantry deletes the environment, and deletes the other
/// namespace.
struct Run {
    kubeconfig: PathBuf,
    out: PathBuf,
    child: Option<Child>,
    other: Option<String>,
}

impl Run {
    /// Lets the deploy job end; gantry's exit code and output once it has torn down.
    fn finish(&mut self) -> (i32, String) {
        let _ = std::fs::write(self.out.join("done"), "");
        let Some(mut child) = self.child.take() else {
            return (-1, String::new());
        };
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(180) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        support::combined(&o)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(ns) = self.other.take() {
            kubectl(
                &self.kubeconfig,
                &["delete", "namespace", &ns, "--wait=false"],
            );
        }
        self.finish();
    }
}

/// Waits for `file`, which the deploy job writes once its pods are ready.
fn wait_for(file: &Path, run: &mut Run) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text.trim().to_string();
        }
        let child = run.child.as_mut().unwrap();
        if child.try_wait().unwrap().is_some() {
            let (code, log) = run.finish();
            panic!("gantry ended ({code}) before the deploy job was ready:\n{log}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the deploy job was not ready in 240 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A pod `probe` (busybox, sleeping) in `ns`, created by the admin once the namespace's default
/// ServiceAccount exists, and ready.
fn probe_pod(kubeconfig: &Path, ns: &str) {
    let start = Instant::now();
    let image = format!("--image={}", image());
    loop {
        let (ok, text) = kubectl(
            kubeconfig,
            &[
                "run",
                "probe",
                "-n",
                ns,
                &image,
                "--image-pull-policy=IfNotPresent",
                "--restart=Never",
                "--command",
                "--",
                "sleep",
                "600",
            ],
        );
        if ok {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "probe pod in {ns}: {text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (ok, text) = kubectl(
        kubeconfig,
        &[
            "wait",
            "-n",
            ns,
            "--for=condition=Ready",
            "pod/probe",
            "--timeout=120s",
        ],
    );
    assert!(ok, "probe pod in {ns} not ready: {text}");
}

/// Whether the pod `probe` in `ns` gets the web page from `ip` port 80 (an HTTP request by
/// `nc`, which gives up after 3 s). The script says which, so a failing `kubectl exec` is never
/// taken for a blocked connection.
fn reaches(kubeconfig: &Path, ns: &str, ip: &str) -> bool {
    let script = format!(
        "if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ip} 80 | grep -q {PAGE}; \
         then echo verdict=REACHED; else echo verdict=BLOCKED; fi"
    );
    let (ok, text) = kubectl(
        kubeconfig,
        &["exec", "-n", ns, "probe", "--", "sh", "-c", &script],
    );
    assert!(ok, "kubectl exec in {ns}: {text}");
    match (
        text.contains("verdict=REACHED"),
        text.contains("verdict=BLOCKED"),
    ) {
        (true, false) => true,
        (false, true) => false,
        _ => panic!("probe in {ns} said neither: {text}"),
    }
}

/// Probes until the answer is `want` (the firewall follows pods and policies within seconds);
/// whether it came within `within`.
fn settles(kubeconfig: &Path, ns: &str, ip: &str, want: bool, within: Duration) -> bool {
    let start = Instant::now();
    loop {
        if reaches(kubeconfig, ns, ip) == want {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_environments_network_policy_lets_only_its_own_namespace_reach_its_service() {
    let Some(kubeconfig) = gate::cluster() else {
        return;
    };
    let _cluster = gate::CLUSTER.shared();
    let require = std::env::var("GANTRY_REQUIRE_CLUSTER").as_deref() == Ok("1");
    let (tmp, dir) = support::repo("netpol", PIPELINE, "init");
    std::fs::write(
        dir.join("web.yaml"),
        web_manifests(&format!("{:?}", image()), PAGE),
    )
    .unwrap();
    support::git(&dir, &["add", "."]);
    support::git(&dir, &["commit", "-q", "-m", "web"]);
    let out = tmp.path().join("out");
    let child = spawn_shell_jobs(&kubeconfig, &dir, &out, &image(), &[]);
    let mut run = Run {
        kubeconfig: kubeconfig.clone(),
        out: out.clone(),
        child: Some(child),
        other: None,
    };
    let ns = wait_for(&out.join("namespace"), &mut run);
    let (ok, ip) = kubectl(
        &kubeconfig,
        &[
            "get",
            "service",
            "web",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    );
    assert!(ok && !ip.trim().is_empty(), "the web Service in {ns}: {ip}");
    let ip = ip.trim().to_string();

    let other = format!("gantry-netpol-other-{}", std::process::id());
    let (ok, text) = kubectl(&kubeconfig, &["create", "namespace", &other]);
    assert!(ok, "creating {other}: {text}");
    run.other = Some(other.clone());
    probe_pod(&kubeconfig, &other);

    let minute = Duration::from_secs(60);
    // Another namespace is shut out by gantry's policy...
    if !settles(&kubeconfig, &other, &ip, false, minute) {
        // ...or the cluster enforces no policy at all: a deny-all in the environment's
        // namespace tells the two apart.
        let deny_all = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: gantry-test-deny-all\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";
        let file = tmp.path().join("deny-all.yaml");
        std::fs::write(&file, deny_all).unwrap();
        let (ok, text) = kubectl(
            &kubeconfig,
            &["apply", "-n", &ns, "-f", file.to_str().unwrap()],
        );
        assert!(ok, "applying a deny-all policy: {text}");
        let enforced = settles(&kubeconfig, &other, &ip, false, minute);
        assert!(
            !enforced,
            "a deny-all policy shuts {other} out of {ns}, but gantry-same-namespace-only does not"
        );
        assert!(
            !require,
            "GANTRY_REQUIRE_CLUSTER=1 but the cluster enforces no NetworkPolicy (testing/cluster/up.sh starts kube-router's firewall)"
        );
        eprintln!(
            "NOTICE: the cluster in GANTRY_TEST_KUBECONFIG enforces no NetworkPolicy; the NetworkPolicy test is skipped"
        );
        return;
    }
    // ...while a pod in the environment's own namespace reaches the Service...
    assert!(
        settles(&kubeconfig, &ns, &ip, true, minute),
        "the probe pod in {ns} cannot reach its own namespace's Service {ip}"
    );
    assert!(
        !reaches(&kubeconfig, &other, &ip),
        "{other} reached {ns}'s Service after all"
    );
    // ...and without the policy the other namespace gets through: the block was the policy's.
    let (ok, text) = kubectl(
        &kubeconfig,
        &[
            "delete",
            "networkpolicy",
            "gantry-same-namespace-only",
            "-n",
            &ns,
        ],
    );
    assert!(ok, "deleting the policy: {text}");
    assert!(
        settles(&kubeconfig, &other, &ip, true, minute),
        "{other} still cannot reach {ns}'s Service {ip} without the policy"
    );

    let (code, log) = run.finish();
    assert_eq!(code, 0, "{log}");
    let (_, text) = kubectl(&kubeconfig, &["get", "namespace", &ns, "-o", "name"]);
    assert!(
        text.contains("NotFound"),
        "the environment {ns} outlived the run: {text}"
    );
}
