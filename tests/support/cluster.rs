//! The real Kubernetes cluster the Kubernetes tests run on (GANTRY_TEST_KUBECONFIG: the one
//! `testing/cluster/up.sh` starts, in CI and on a developer's machine), read through its API
//! with an admin client, never through gantry's output. Without one the tests skip (see
//! [`super::gate::cluster`]). It replaced kube-sim, the in-process simulator each test used to
//! start: one implementation of Kubernetes, the upstream one.

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An admin client of the cluster, with the runtime its calls block on.
pub struct Kube {
    pub rt: tokio::runtime::Runtime,
    pub kubeconfig: PathBuf,
    pub client: kube::Client,
}

/// The label every object gantry creates carries.
pub const MANAGED: &str = "app.kubernetes.io/managed-by=gantry";

/// The environment tests' web application: a ConfigMap `web-content` holding `index.html`, a
/// Deployment `web` whose one busybox pod serves it with `httpd` on 8080 (ready once the port
/// answers), and the Service `web` in front of it (port 80). `image` and `page` are YAML
/// values, written as given (a quoted name, or a template expression the job renders).
pub fn web_manifests(image: &str, page: &str) -> String {
    r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-content
data:
  index.html: $PAGE
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, name: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: $IMAGE
          imagePullPolicy: IfNotPresent
          command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
          ports: [{containerPort: 8080}]
          readinessProbe:
            tcpSocket: {port: 8080}
            periodSeconds: 1
          volumeMounts: [{name: content, mountPath: /www}]
      volumes:
        - name: content
          configMap: {name: web-content}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"#
    .replace("$IMAGE", image)
    .replace("$PAGE", page)
}

/// The cluster as one test holds it: the client, and the test's hold on the cluster lock
/// (`gate::CLUSTER`: shared, or alone for a test that counts everything gantry-labelled),
/// released when the test ends.
pub struct Held<G> {
    pub kube: Kube,
    _hold: G,
}

impl<G> Held<G> {
    pub fn new(kube: Kube, hold: G) -> Held<G> {
        Held { kube, _hold: hold }
    }
}

impl<G> std::ops::Deref for Held<G> {
    type Target = Kube;
    fn deref(&self) -> &Kube {
        &self.kube
    }
}

impl Kube {
    /// A client of the cluster GANTRY_TEST_KUBECONFIG names; `None` (after the run's one
    /// notice) without one.
    pub fn connect() -> Option<Kube> {
        let kubeconfig = super::gate::cluster()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let kc = kube::config::Kubeconfig::read_from(&kubeconfig)
                .unwrap_or_else(|e| panic!("{}: {e}", kubeconfig.display()));
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap();
            kube::Client::try_from(config).unwrap()
        });
        Some(Kube {
            rt,
            kubeconfig,
            client,
        })
    }

    /// gantry-labelled pods and namespaces; terminating namespaces too if `terminating`.
    pub fn leftovers(&self, terminating: bool) -> Vec<String> {
        let lp = ListParams::default().labels(MANAGED);
        let pods: Api<Pod> = Api::all(self.client.clone());
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let mut left: Vec<String> = self
            .rt
            .block_on(pods.list(&lp))
            .unwrap()
            .items
            .into_iter()
            .map(|p| format!("pod {}", p.metadata.name.unwrap_or_default()))
            .collect();
        left.extend(
            self.rt
                .block_on(namespaces.list(&lp))
                .unwrap()
                .items
                .into_iter()
                .filter(|n| terminating || n.metadata.deletion_timestamp.is_none())
                .map(|n| format!("namespace {}", n.metadata.name.unwrap_or_default())),
        );
        left
    }

    /// Waits (at most `within`) until nothing gantry-labelled is left (terminating namespaces
    /// count if `terminating`); what is left then.
    pub fn settle(&self, within: Duration, terminating: bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let left = self.leftovers(terminating);
            if left.is_empty() || start.elapsed() > within {
                return left;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Asserts that nothing gantry-labelled is left, not even a terminating namespace (waiting
    /// up to 30 s for deletions to finish).
    pub fn assert_clean(&self) {
        let left = self.settle(Duration::from_secs(30), true);
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    /// The namespace `ns`, if the API has it (terminating or not).
    pub fn namespace(&self, ns: &str) -> Option<Namespace> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        self.rt.block_on(api.get_opt(ns)).unwrap()
    }

    /// `gantry ARGS --kubeconfig ADMIN` in `dir` (`gc`, `env list`), which must succeed: its
    /// stdout.
    pub fn gantry(&self, dir: &Path, args: &[&str]) -> String {
        let o = super::checks::succeeded(
            super::gantry_command(dir)
                .args(args)
                .arg("--kubeconfig")
                .arg(&self.kubeconfig),
            &format!("gantry {args:?}"),
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// This kubeconfig with every user's credentials replaced by `token`.
    pub fn with_token(&self, token: &str) -> String {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let mut v = serde_json::to_value(&kc).unwrap();
        for user in v["users"].as_array_mut().unwrap() {
            user["user"] = serde_json::json!({ "token": token });
        }
        serde_json::to_string(&v).unwrap()
    }
}

/// `gantry run --executor shell` in `dir` on the cluster `kubeconfig` names, its output piped:
/// the environment tests' run, whose jobs leave files for the test in `out` (`$OUT`) and start
/// pods of `image` (`$IMAGE`).
pub fn spawn_shell_jobs(
    kubeconfig: &Path,
    dir: &Path,
    out: &Path,
    image: &str,
    extra: &[&str],
) -> Child {
    std::fs::create_dir_all(out).unwrap();
    super::gantry_command(dir)
        .args(["run", "--executor", "shell", "--grace", "1", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--var")
        .arg(format!("OUT={}", out.display()))
        .arg("--var")
        .arg(format!("IMAGE={image}"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `kubectl` with `kubeconfig` (the admin's, or a job's): (success, stdout then stderr).
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let o = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl is installed");
    (o.status.success(), super::combined(&o).1)
}
