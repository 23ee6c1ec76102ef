//! Environments end to end on the real cluster GANTRY_TEST_KUBECONFIG names (skipped with a
//! notice without one; a failure under GANTRY_REQUIRE_CLUSTER=1). Every assertion about
//! namespaces, objects and permissions reads the API (admin client, or kubectl with the job's
//! own kubeconfig), never gantry's output. Jobs run in the shell executor and need `kubectl`;
//! the pods they start run GANTRY_TEST_IMAGE (a busybox the nodes have: `httpd`, `wget`), or the
//! busybox test image built here and loaded onto the nodes.

use crate::support::cluster::{Held, Kube, kubectl, spawn_shell_jobs, web_manifests};
use crate::support::{combined, gate, git, images, repo};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::RwLockReadGuard;
use std::time::{Duration, Instant};

/// The cluster held for one test.
type OnCluster = Held<RwLockReadGuard<'static, ()>>;

impl OnCluster {
    /// `None` (after a notice) without a cluster, or without GANTRY_TEST_IMAGE and the Docker
    /// engine to build a test image with.
    fn start() -> Option<OnCluster> {
        let kube = Kube::connect()?;
        if std::env::var_os("GANTRY_TEST_IMAGE").is_none() && !gate::docker() {
            return None;
        }
        images::for_cluster();
        Some(Held::new(kube, gate::CLUSTER.shared()))
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        let api: Api<Namespace> = Api::all(self.client.clone());
        self.rt
            .block_on(api.get_opt(ns))
            .unwrap()
            .is_some_and(|n| n.metadata.deletion_timestamp.is_none())
    }

    /// Asserts that namespace `ns` is gone from the API, not merely terminating (a run's
    /// teardown waits until it is); `log`, gantry's output, is quoted if it is not.
    fn assert_deleted(&self, ns: &str, log: &str) {
        assert!(
            self.namespace(ns).is_none(),
            "namespace {ns} is still there after the run:\n{log}"
        );
    }

    /// Names of the objects of `kind` (group, version, kind, plural) in `ns`.
    fn names(&self, ns: &str, gvk: (&str, &str, &str, &str)) -> Vec<String> {
        let (group, version, kind, plural) = gvk;
        let ar = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: if group.is_empty() {
                version.into()
            } else {
                format!("{group}/{version}")
            },
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        self.rt
            .block_on(api.list(&Default::default()))
            .unwrap_or_else(|e| panic!("listing {plural} in {ns}: {e}"))
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect()
    }

    /// Waits until `ns` is gone (the API no longer returns it).
    fn gone(&self, ns: &str, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.namespace(ns).is_none() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// Starts `gantry run` for `dir` on the cluster; `OUT` is where jobs leave files for the test.
fn spawn(sim: &OnCluster, dir: &Path, out: &Path, extra: &[&str]) -> Child {
    spawn_shell_jobs(&sim.kubeconfig, dir, out, &images::for_cluster(), extra)
}

/// Waits for a spawned gantry: its exit code and output.
fn finish(child: Child) -> (i32, String) {
    combined(&child.wait_with_output().unwrap())
}

/// Starts `gantry run` of the founding pipeline in `dir` and waits until its test job has
/// begun (touched `$OUT/test-started`): the running gantry and the environment's namespace,
/// read from the kubeconfig the deploy job copied to `$OUT/job-kubeconfig`.
fn run_until_the_test_job(sim: &OnCluster, dir: &Path, out: &Path) -> (Child, String) {
    let mut child = spawn(sim, dir, out, &[]);
    wait_for(&out.join("test-started"), &mut child);
    (child, namespace_in(&out.join("job-kubeconfig")))
}

fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut log = String::new();
            if let Some(mut s) = child.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut log);
            }
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut log);
            }
            panic!(
                "gantry ended ({status}) before {} appeared:\n{log}",
                path.display()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The namespace a job's kubeconfig (copied to `file` by the job) is pinned to.
fn namespace_in(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect("gantry writes JSON kubeconfigs");
    v["contexts"][0]["context"]["namespace"]
        .as_str()
        .unwrap()
        .to_string()
}

fn signal(child: &Child, sig: i32) {
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// deploy → test → `when: always` cleanup, the founding scenario's shape.
fn pipeline(test_script: &str) -> String {
    format!(
        "\
stages: [deploy, test, cleanup]
variables:
  TAG: v1
  IMAGE: set-by-the-test
  NAMESPACE: \"${{KUBE_NAMESPACE}}\"
deploy:
  stage: deploy
  environment:
    name: test-for-ci
  script:
    - cp \"$KUBECONFIG\" \"$OUT/job-kubeconfig\"
    - echo \"token=$KUBE_TOKEN\"
    - gantry render web.yaml.j2 -o web.yaml
    - kubectl apply -f web.yaml
test:
  stage: test
  environment:
    name: test-for-ci
  script:
{test_script}
cleanup:
  stage: cleanup
  when: always
  environment:
    name: test-for-ci
  script:
    - echo \"$NAMESPACE\" >> \"$OUT/cleanup-ran\"
    - ./configureCluster.sh $KUBE_CA_PEM_FILE $KUBE_URL $KUBE_TOKEN
    - kubectl delete deployment web --ignore-not-found --namespace $NAMESPACE
"
    )
}

/// A repository `name` holding `pipeline`, the web manifest template and the founding
/// pipeline's `configureCluster.sh`: (its temporary home, the repository, the folder beside it
/// where its jobs leave files for the test, `$OUT`).
fn project(name: &str, pipeline: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, dir) = repo(name, pipeline, "init");
    std::fs::write(
        dir.join("web.yaml.j2"),
        web_manifests("{{ IMAGE | quote }}", "\"hello-{{ TAG }}\""),
    )
    .unwrap();
    // The founding pipeline's helper, as its jobs call it.
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines/dynamic-environments/configureCluster.sh");
    std::fs::copy(script, dir.join("configureCluster.sh")).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "manifest"]);
    let out = tmp.path().join("out");
    (tmp, dir, out)
}

#[test]
fn deploy_test_cleanup_in_a_locked_down_namespace_that_is_gone_afterwards() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let test_script = "    - touch \"$OUT/test-started\"
    - until [ -f \"$OUT/gate\" ]; do sleep 0.1; done
    - kubectl rollout status deployment/web --timeout=90s
    - kubectl run probe --image=\"$IMAGE\" --restart=Never --command -- wget -qO- http://web/
    - for i in $(seq 1 180); do phase=$(kubectl get pod probe -o jsonpath='{.status.phase}'); [ \"$phase\" = Succeeded ] || [ \"$phase\" = Failed ] && break; sleep 0.5; done; echo \"probe=$phase\"
    - kubectl logs probe > \"$OUT/http\"";
    let (_tmp, dir, out) = project("shop", &pipeline(test_script));
    let (child, ns) = run_until_the_test_job(&sim, &dir, &out);
    let job_config = out.join("job-kubeconfig");
    // While the pipeline runs: the namespace and every object of the lockdown exist.
    let namespace = sim
        .namespace(&ns)
        .expect("the namespace exists while jobs run");
    let labels = namespace.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("gantry")
    );
    assert!(labels.contains_key("gantry.pipeline"), "{labels:?}");
    let notes = namespace.metadata.annotations.unwrap_or_default();
    assert!(notes.contains_key("gantry.dev/expires-at"), "{notes:?}");
    for (gvk, name) in [
        (
            ("", "v1", "ServiceAccount", "serviceaccounts"),
            "gantry-deployer",
        ),
        (
            ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
            "gantry-deployer",
        ),
        (
            (
                "rbac.authorization.k8s.io",
                "v1",
                "RoleBinding",
                "rolebindings",
            ),
            "gantry-deployer",
        ),
        (
            ("", "v1", "ResourceQuota", "resourcequotas"),
            "gantry-quota",
        ),
        (("", "v1", "LimitRange", "limitranges"), "gantry-limits"),
        (
            (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
            ),
            "gantry-same-namespace-only",
        ),
    ] {
        let names = sim.names(&ns, gvk);
        assert!(
            names.iter().any(|n| n == name),
            "{} {name} missing in {ns}: {names:?}",
            gvk.2
        );
    }
    // The deploy job applied the rendered manifest with its own credentials.
    assert!(
        sim.names(&ns, ("", "v1", "ConfigMap", "configmaps"))
            .contains(&"web-content".to_string())
    );
    // The job's credentials: refused cluster-wide and elsewhere, fine at home.
    let (ok, text) = kubectl(&job_config, &["get", "namespaces"]);
    assert!(
        !ok && text.contains("Forbidden"),
        "get ns as the job: {text}"
    );
    let (ok, text) = kubectl(&job_config, &["get", "pods", "-n", "default"]);
    assert!(
        !ok && text.contains("Forbidden"),
        "another namespace as the job: {text}"
    );
    let (ok, text) = kubectl(&job_config, &["get", "configmaps", "web-content"]);
    assert!(ok, "its own namespace as the job: {text}");
    std::fs::write(out.join("gate"), "").unwrap();
    let (code, log) = finish(child);
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        std::fs::read_to_string(out.join("http")).unwrap().trim(),
        "hello-v1"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("cleanup-ran"))
            .unwrap()
            .trim(),
        ns,
        "cleanup ran in the same namespace"
    );
    // Teardown waited until it was gone: it is gone now, not merely terminating.
    sim.assert_deleted(&ns, &log);
}

/// The environment's ResourceQuota and LimitRange are enforced by the API server's admission
/// chain: a pod over
/// the quota is refused with the reason in the job's log; a pod without limits gets the
/// LimitRange's defaults.
#[test]
fn admission_refuses_a_pod_over_the_quota_and_defaults_the_limits() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let test_script =
        "    - if kubectl apply -f over.yaml > over.out 2>&1; then echo admitted; exit 1; fi
    - cat over.out
    - kubectl run nolimits --image=\"$IMAGE\" --restart=Never --command -- sleep 1
    - kubectl get pod nolimits -o jsonpath='{.spec.containers[0].resources}' > \"$OUT/defaults\"";
    let (_tmp, dir, out) = project("admission", &pipeline(test_script));
    std::fs::write(
        dir.join("over.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: over\nspec:\n  containers:\n  - name: c\n    \
         image: busybox\n    resources:\n      requests: {cpu: 100m, memory: 1Gi}\n      \
         limits: {cpu: 500m, memory: 20Gi}\n",
    )
    .unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "over quota"]);
    let (code, log) = finish(spawn(&sim, &dir, &out, &[]));
    assert_eq!(code, 0, "{log}");
    // The admission plugin's refusal, as the job's log shows it.
    assert!(
        log.contains("exceeded quota: gantry-quota") && log.contains("limits.memory=20Gi"),
        "{log}"
    );
    let defaults: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("defaults")).unwrap()).unwrap();
    assert_eq!(defaults["limits"]["cpu"], "500m", "{defaults}");
    assert_eq!(defaults["limits"]["memory"], "512Mi", "{defaults}");
    assert_eq!(defaults["requests"]["cpu"], "100m", "{defaults}");
    assert_eq!(defaults["requests"]["memory"], "128Mi", "{defaults}");
    let ns = namespace_in(&out.join("job-kubeconfig"));
    sim.assert_deleted(&ns, &log);
}

#[test]
fn a_failing_test_job_still_ends_with_the_namespace_deleted() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let (_tmp, dir, out) = project("failing", &pipeline("    - exit 3"));
    let child = spawn(&sim, &dir, &out, &[]);
    let (code, log) = finish(child);
    assert_eq!(code, 1, "{log}");
    let ns = namespace_in(&out.join("job-kubeconfig"));
    assert!(
        out.join("cleanup-ran").exists(),
        "the when: always job did not run"
    );
    // KUBE_TOKEN is masked in the output.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("job-kubeconfig")).unwrap())
            .unwrap();
    let token = config["users"][0]["user"]["token"].as_str().unwrap();
    assert!(
        token.len() > 8 && !log.contains(token),
        "the token leaked:\n{log}"
    );
    assert!(log.contains("token=[MASKED]"), "{log}");
    sim.assert_deleted(&ns, &log);
}

#[test]
fn sigint_mid_pipeline_still_deletes_the_namespace() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let (_tmp, dir, out) = project(
        "interrupted",
        &pipeline("    - touch \"$OUT/test-started\"\n    - sleep 300"),
    );
    let (child, ns) = run_until_the_test_job(&sim, &dir, &out);
    assert!(sim.namespace_exists(&ns));
    signal(&child, libc::SIGINT);
    let (code, log) = finish(child);
    assert_ne!(code, 0, "{log}");
    sim.assert_deleted(&ns, &log);
}

#[test]
fn after_sigkill_gc_deletes_the_abandoned_namespace() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let (_tmp, dir, out) = project(
        "killed",
        &pipeline(
            "    - echo $$ > \"$OUT/test-pid\"\n    - touch \"$OUT/test-started\"\n    - sleep 300",
        ),
    );
    let (mut child, ns) = run_until_the_test_job(&sim, &dir, &out);
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    // The job's shell outlives gantry (its own process group, pgid = its pid); end that group.
    let pgid: i32 = std::fs::read_to_string(out.join("test-pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    assert!(sim.namespace_exists(&ns), "nothing was left to collect");
    sim.gantry(&dir, &["gc"]);
    assert!(
        sim.gone(&ns, Duration::from_secs(30)),
        "gc left namespace {ns}"
    );
}

#[test]
fn an_on_stop_job_runs_exactly_once() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    // `stop` is manual: nothing starts it during the pipeline, so teardown must, once.
    let manual = "\
deploy:
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    on_stop: stop
  script:
    - cp \"$KUBECONFIG\" \"$OUT/job-kubeconfig\"
stop:
  when: manual
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    action: stop
  script:
    - echo \"stopped $KUBE_NAMESPACE\" >> \"$OUT/stops\"
";
    let (_tmp, dir, out) = project("onstop", manual);
    let (code, log) = finish(spawn(&sim, &dir, &out, &[]));
    assert_eq!(code, 0, "{log}");
    let ns = namespace_in(&out.join("job-kubeconfig"));
    let stops = std::fs::read_to_string(out.join("stops")).unwrap_or_default();
    assert_eq!(stops.lines().collect::<Vec<_>>(), [format!("stopped {ns}")]);
    sim.assert_deleted(&ns, &log);
    // A stop job that already ran in the pipeline is not run again.
    let always = manual.replace("when: manual", "when: always");
    let (_tmp, dir, out) = project("onstop2", &always);
    let (code, log) = finish(spawn(&sim, &dir, &out, &[]));
    assert_eq!(code, 0, "{log}");
    let stops = std::fs::read_to_string(out.join("stops")).unwrap_or_default();
    assert_eq!(stops.lines().count(), 1, "{stops}");
}

#[test]
fn container_jobs_reach_a_loopback_cluster_and_render_with_the_mounted_gantry() {
    if gate::cluster().is_none() || !gate::docker() {
        return;
    }
    let _docker = gate::DOCKER.alone();
    let image = images::kube_job();
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        "\
deploy:
  image: {image}
  environment:
    name: review
  script:
    - case \"$KUBE_URL\" in https://127.*) echo \"loopback URL in a container\"; exit 1;; esac
    - gantry render cm.j2 -o cm.yaml
    - kubectl apply -f cm.yaml
    - until kubectl get configmap gate >/dev/null 2>&1; do sleep 0.2; done
"
    );
    let (_tmp, dir, out) = project("incontainer", &pipeline);
    std::fs::write(
        dir.join("cm.j2"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-container\ndata:\n  ns: {{ KUBE_NAMESPACE }}\n",
    )
    .unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "template"]);
    let sha = git(&dir, &["rev-parse", "--short=8", "HEAD"]);
    let ns = format!("incontainer-master-{sha}-1");
    std::fs::create_dir_all(&out).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["run", "--grace", "1", "--pull", "never", "--kubeconfig"])
        .arg(&sim.kubeconfig)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The container applied its rendered ConfigMap through the forwarder: read it from the API.
    let start = Instant::now();
    let configmaps = ("", "v1", "ConfigMap", "configmaps");
    loop {
        if sim.namespace(&ns).is_some()
            && sim
                .names(&ns, configmaps)
                .contains(&"from-container".into())
        {
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            let (_, log) = finish(child);
            panic!("gantry ended before the ConfigMap appeared:\n{log}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no ConfigMap in {ns}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(sim.client.clone(), &ns);
    let cm = sim.rt.block_on(api.get("from-container")).unwrap();
    assert_eq!(cm.data.unwrap_or_default().get("ns"), Some(&ns));
    let gate: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "gate"}})).unwrap();
    sim.rt
        .block_on(api.create(&Default::default(), &gate))
        .unwrap();
    let (code, log) = finish(child);
    assert_eq!(code, 0, "{log}");
    sim.assert_deleted(&ns, &log);
}

#[test]
fn kept_environments_are_listed_and_outlive_gc_until_gc_all() {
    // Its `gc --all` also removes the containers of runs still going, on the Docker engine too:
    // never beside a test whose containers run (Docker's lock first, as every test takes them).
    let _docker = gate::DOCKER.alone();
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let (_tmp, dir, out) = project("kept", &pipeline("    - echo test"));
    let registry = [
        "--keep-environments",
        "--var",
        "CI_REGISTRY=registry.example.com",
        "--var",
        "CI_REGISTRY_USER=deployer",
        "--var",
        "CI_REGISTRY_PASSWORD=registry-secret-1",
    ];
    let (code, log) = finish(spawn(&sim, &dir, &out, &registry));
    assert_eq!(code, 0, "{log}");
    let ns = namespace_in(&out.join("job-kubeconfig"));
    assert!(
        sim.namespace_exists(&ns),
        "--keep-environments deleted {ns}"
    );
    let notes = sim
        .namespace(&ns)
        .unwrap()
        .metadata
        .annotations
        .unwrap_or_default();
    assert_eq!(
        notes.get("gantry.dev/kept").map(String::as_str),
        Some("true"),
        "{log}"
    );
    // User-set registry credentials became an image-pull Secret the deployer uses.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(sim.client.clone(), &ns);
    let secret = sim.rt.block_on(secrets.get("gantry-registry")).unwrap();
    assert_eq!(
        secret.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    let config = &secret.data.unwrap()[".dockerconfigjson"].0;
    let config: serde_json::Value = serde_json::from_slice(config).unwrap();
    assert_eq!(
        config["auths"]["registry.example.com"]["password"],
        "registry-secret-1"
    );
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(sim.client.clone(), &ns);
    let sa = sim.rt.block_on(sas.get("gantry-deployer")).unwrap();
    assert_eq!(sa.image_pull_secrets.unwrap()[0].name, "gantry-registry");
    let listed = sim.gantry(&dir, &["env", "list"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with(&ns))
        .unwrap_or_else(|| panic!("{ns} not listed:\n{listed}"));
    assert!(
        row.contains("in 23h") || row.contains("in 1d"),
        "expiry shown: {row}"
    );
    let context = kube::config::Kubeconfig::read_from(&sim.kubeconfig)
        .unwrap()
        .current_context
        .expect("the test kubeconfig names its context");
    assert!(
        row.trim_end().ends_with(&context),
        "context {context}: {row}"
    );
    // Its process is gone, but it was kept on purpose: plain gc leaves it.
    sim.gantry(&dir, &["gc"]);
    assert!(
        sim.namespace_exists(&ns),
        "gc removed a kept environment before its expiry"
    );
    sim.gantry(&dir, &["gc", "--all"]);
    assert!(sim.gone(&ns, Duration::from_secs(30)), "gc --all left {ns}");
}

#[test]
fn credentials_the_cluster_refuses_stop_the_run_before_any_job() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let (tmp, dir, out) = project("refused", &pipeline("    - echo test"));
    let config = tmp.path().join("bad-kubeconfig");
    let bad = sim.with_token("not-a-valid-token");
    std::fs::write(&config, bad).unwrap();
    // The shell-jobs run of the other tests, with these credentials.
    let run = spawn_shell_jobs(&config, &dir, &out, &images::for_cluster(), &[]);
    let (code, log) = finish(run);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("refused gantry's credentials"), "{log}");
    assert!(!out.join("job-kubeconfig").exists(), "a job ran");
    // Nothing was created with them either.
    let api: Api<Namespace> = Api::all(sim.client.clone());
    let ours =
        sim.rt
            .block_on(api.list(
                &kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=gantry"),
            ))
            .unwrap();
    // On a shared real cluster other tests' namespaces may exist: this project's may not.
    let names: Vec<String> = ours
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("refused-")),
        "{names:?}"
    );
}

/// `kubeconfig` (the admin's) with its user's credentials replaced by `token`.
/// A job in environment `review` (namespace `fixed` when given) that sleeps in pipeline 1 only.
fn sleeper(namespace: Option<&str>) -> String {
    let ns = namespace
        .map(|n| format!("\n    kubernetes:\n      namespace: {n}"))
        .unwrap_or_default();
    format!(
        "job:\n  environment:\n    name: review{ns}\n  script:\n    - cp \"$KUBECONFIG\" \"$OUT/kubeconfig-$CI_PIPELINE_IID\"\n    - if [ \"$CI_PIPELINE_IID\" = 1 ]; then sleep 300; fi\n"
    )
}

// Issue 21, finding 3: after SIGKILL, re-running the same commit failed on the namespace the
// dead run left ("already exists and is not this pipeline's") until `gantry gc`.
#[test]
fn a_rerun_after_sigkill_reaps_the_dead_runs_namespace_and_a_live_owner_still_stops_it() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    for fixed in [None, Some("fixed-review")] {
        let (tmp, dir) = repo("rerun", &sleeper(fixed), "init");
        let out = tmp.path().join("out");
        let mut first = spawn(&sim, &dir, &out, &[]);
        wait_for(&out.join("kubeconfig-1"), &mut first);
        let ns = namespace_in(&out.join("kubeconfig-1"));
        signal(&first, libc::SIGKILL);
        let _ = first.wait();
        assert!(sim.namespace_exists(&ns), "nothing was left to reap");
        let (code, log) = finish(spawn(&sim, &dir, &out, &[]));
        assert_eq!(code, 0, "{fixed:?}: {log}");
        let pid = first.id();
        assert!(
            log.contains(&format!(
                "removed leftover namespace {ns} of gantry pipeline 1 (pid {pid} on this host is gone)"
            )),
            "{fixed:?}: {log}"
        );
        let second = namespace_in(&out.join("kubeconfig-2"));
        match fixed {
            Some(n) => assert_eq!(second, n),
            None => assert_ne!(second, ns, "the rerun gets its own namespace"),
        }
    }
    // The same fixed namespace from another checkout: reaped on demand (the 409 path) when its
    // owner is dead, refused while it lives.
    let (tmp, a) = repo("owner-a", &sleeper(Some("shared-review")), "init");
    let (_tmp_b, b) = repo("owner-b", &sleeper(Some("shared-review")), "init");
    let out = tmp.path().join("out");
    let mut live = spawn(&sim, &a, &out, &[]);
    wait_for(&out.join("kubeconfig-1"), &mut live);
    let (code, log) = finish(spawn(&sim, &b, &tmp.path().join("out-b"), &[]));
    assert_ne!(code, 0, "{log}");
    assert!(
        log.contains("namespace shared-review already exists and is not this pipeline's"),
        "{log}"
    );
    signal(&live, libc::SIGKILL);
    let _ = live.wait();
    // Pipeline 2 of checkout b does not sleep: it takes the namespace over and succeeds.
    let (code, log) = finish(spawn(&sim, &b, &tmp.path().join("out-b"), &[]));
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("removed leftover namespace shared-review of gantry pipeline 1"),
        "{log}"
    );
    // The killed owner's sleeping job goes with `gantry gc` in its checkout.
    let gc = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("gc")
        .current_dir(&a)
        .output()
        .unwrap();
    assert!(gc.status.success());
}

// Issue 21, finding 3: two runs of the same commit at the same time get their own namespaces.
#[test]
fn two_concurrent_runs_of_one_commit_do_not_collide() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let ci = "job:\n  environment:\n    name: review\n  script:\n    - cp \"$KUBECONFIG\" \"$OUT/kubeconfig-$CI_PIPELINE_IID\"\n    - sleep 1\n";
    let (tmp, dir) = repo("twice", ci, "init");
    let out = tmp.path().join("out");
    let a = spawn(&sim, &dir, &out, &[]);
    let b = spawn(&sim, &dir, &out, &[]);
    let (ca, la) = finish(a);
    let (cb, lb) = finish(b);
    assert_eq!((ca, cb), (0, 0), "{la}\n{lb}");
    let (n1, n2) = (
        namespace_in(&out.join("kubeconfig-1")),
        namespace_in(&out.join("kubeconfig-2")),
    );
    assert_ne!(n1, n2);
    assert!(sim.gone(&n1, Duration::from_secs(30)) && sim.gone(&n2, Duration::from_secs(30)));
}
