//! The Kubernetes executor end to end on the real cluster GANTRY_TEST_KUBECONFIG names (its
//! nodes run the locally built test images, loaded with GANTRY_TEST_LOAD_IMAGE). Without a
//! cluster, or without the Docker engine the images are built with, these tests skip with a
//! notice; under GANTRY_REQUIRE_CLUSTER=1 / GANTRY_REQUIRE_DOCKER=1 (CI) they fail instead.
//! Every test ends by asserting, through the API, that no gantry-labelled pod or namespace
//! remains, so each has the cluster to itself.

use crate::support::checks::{assert_printed, succeeded};
use crate::support::cluster::{Held, Kube};
use crate::support::images::{self, BUSYBOX, KUBE_TOOLS as TOOLS};
use crate::support::{Test, combined, gantry_command, gate, repo};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::RwLockWriteGuard;
use std::time::{Duration, Instant};

/// The cluster held for one test.
type OnCluster = Held<RwLockWriteGuard<'static, ()>>;

impl OnCluster {
    /// `None` (after a notice) without a cluster or a Docker engine to build the images with.
    fn start() -> Option<OnCluster> {
        let kube = Kube::connect()?;
        if !gate::docker() {
            return None;
        }
        images::load_into_cluster(&[images::busybox(), images::kube_tools()]);
        Some(Held::new(kube, gate::CLUSTER.alone()))
    }

    /// `gantry run --executor kubernetes` against this cluster in `dir`, with `extra` arguments.
    fn command(&self, dir: &Path, extra: &[&str]) -> Command {
        let mut c = gantry_command(dir);
        c.args([
            "run",
            "--executor",
            "kubernetes",
            "--pull",
            "never",
            "--grace",
            "1",
        ])
        .arg("--kubeconfig")
        .arg(&self.kubeconfig)
        .args(extra);
        c
    }

    /// `gantry run --executor kubernetes` in `dir`: (exit code, all output).
    fn run(&self, dir: &Path, extra: &[&str]) -> (i32, String) {
        combined(&self.command(dir, extra).output().unwrap())
    }

    /// `gantry run --executor kubernetes` of `pipeline` in a new repository `name`, which must
    /// succeed: its output.
    fn succeeds(&self, name: &str, pipeline: &str) -> String {
        let (_tmp, dir) = repo(name, pipeline, "pipeline");
        let (code, out) = self.run(&dir, &[]);
        assert_eq!(code, 0, "{out}");
        out
    }

    /// `gantry run --executor kubernetes` in `dir` as a child process, its output going to the
    /// returned file.
    fn spawn(&self, dir: &Path, extra: &[&str]) -> (std::process::Child, PathBuf) {
        let log = dir.join("gantry-output.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = self
            .command(dir, extra)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        (child, log)
    }

    /// The first gantry pod of job `job` whose containers all run (waits up to a minute).
    fn running_pod(&self, job: &str) -> Pod {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let selector = format!("app.kubernetes.io/managed-by=gantry,gantry.job={job}");
        let start = Instant::now();
        loop {
            let list = self
                .rt
                .block_on(pods.list(&ListParams::default().labels(&selector)))
                .unwrap();
            let running = list.items.into_iter().find(|p| {
                let statuses = p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.clone())
                    .unwrap_or_default();
                !statuses.is_empty()
                    && statuses
                        .iter()
                        .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
            });
            if let Some(p) = running {
                return p;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no running pod of job {job}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn pods_share_the_workspace_and_artifacts_and_report_exit_codes() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        "stages: [build, test]\n\
         build:\n  stage: build\n  image: {BUSYBOX}\n  script:\n    - cat input.txt\n    - test \"$(pwd)\" = \"$CI_PROJECT_DIR\"\n    - mkdir -p out && sed s/hello/built-from/ input.txt > out/made.txt\n  artifacts:\n    paths: [out/]\n\
         read:\n  stage: test\n  image: {BUSYBOX}\n  script:\n    - echo \"read=$(cat out/made.txt)\"\n\
         broken:\n  stage: test\n  image: {BUSYBOX}\n  allow_failure: true\n  script:\n    - echo about-to-fail\n    - exit 7\n  after_script:\n    - echo \"after=$CI_JOB_STATUS\"\n"
    );
    let (_tmp, dir) = repo("kexec", &pipeline, "pipeline");
    std::fs::write(dir.join("input.txt"), "hello-workspace\n").unwrap();
    crate::support::git(&dir, &["add", "."]);
    crate::support::git(&dir, &["commit", "-q", "-m", "input"]);
    let junit = dir.join("junit.xml");
    let (code, out) = sim.run(&dir, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    // The pod read the workspace, a later pod the artifact, and the failing job's after_script
    // saw that it failed.
    assert_printed(
        &out,
        &[
            "hello-workspace",
            "read=built-from-workspace",
            "about-to-fail",
            "after=failed",
        ],
    );
    let report = std::fs::read_to_string(&junit).unwrap();
    assert!(report.contains("exit code 7"), "{report}");
    sim.assert_clean();
}

#[test]
fn a_missing_image_fails_fast_naming_it() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let image = "gantry-test/does-not-exist:404";
    let pipeline = format!("job:\n  image: {image}\n  script: [echo never-ran]\n");
    let (_tmp, dir) = repo("kmissing", &pipeline, "pipeline");
    let started = Instant::now();
    let (code, out) = sim.run(&dir, &[]);
    let took = started.elapsed();
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(image) && out.contains("cannot be pulled"),
        "{out}"
    );
    assert!(!out.contains("never-ran\n"), "{out}");
    assert!(took < Duration::from_secs(30), "took {took:?}: {out}");
    sim.assert_clean();
}

#[test]
fn a_timeout_stops_the_script_and_removes_the_pod() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        "job:\n  image: {BUSYBOX}\n  timeout: 2s\n  script:\n    - echo started\n    - sleep 60\n    - echo not-reached\n  after_script:\n    - echo \"after=$CI_JOB_STATUS\"\n"
    );
    let (_tmp, dir) = repo("ktimeout", &pipeline, "pipeline");
    let started = Instant::now();
    let (code, out) = sim.run(&dir, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(started.elapsed() < Duration::from_secs(45), "{out}");
    assert!(
        out.contains("started") && !out.contains("not-reached"),
        "{out}"
    );
    assert!(out.contains("timed out"), "{out}");
    assert!(out.contains("after=failed"), "{out}");
    sim.assert_clean();
}

#[test]
fn a_dind_service_is_the_nodes_docker_engine() {
    // The node's Docker socket must be this host's engine (the test asks both for the same
    // image): true of the project's test cluster, whose node is this host (its pods run on
    // containerd, the socket beside it is dockerd's), and of kind with the socket mounted; only
    // the cluster's owner can say so, with GANTRY_TEST_NODES_SHARE_DOCKER=1 (CI does).
    if gate::cluster().is_some() && !gate::required("GANTRY_TEST_NODES_SHARE_DOCKER") {
        gate::notice(
            "dind pass-through needs cluster nodes on this host's Docker engine; skipped \
             without GANTRY_TEST_NODES_SHARE_DOCKER=1",
        );
        return;
    }
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        "build:\n  image: {TOOLS}\n  services: [docker:27-dind]\n  script:\n    - echo \"host=$DOCKER_HOST\"\n    - docker image inspect --format 'seen={{{{.Id}}}}' {BUSYBOX}\n"
    );
    let out = sim.succeeds("kdind", &pipeline);
    assert!(out.contains("host=unix:///var/run/docker.sock"), "{out}");
    assert!(out.contains("served by the node's Docker engine"), "{out}");
    let id = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", BUSYBOX])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert!(!id.is_empty());
    assert!(
        out.contains(&format!("seen={id}")),
        "the job saw the host's engine: {out}"
    );
    sim.assert_clean();
}

/// `--privileged-dind`, for nodes without a Docker socket (a containerd node, as the project's
/// test cluster's): the `docker:dind` service is a real engine in the job's pod, built from
/// Debian's engine by the founding pipeline's images/build-images.sh, and the job builds there.
#[test]
fn a_privileged_dind_service_is_an_engine_of_its_own_in_the_pod() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    succeeded(
        Command::new("sh").arg(images::founding_images_script()),
        "build-images.sh",
    );
    let (docker, dind) = ("gantry-founding/docker:1", "gantry-founding/dind:1");
    images::load_into_cluster(&[docker, dind]);
    // The script's first command talks to the engine: gantry waits for the engine's port (the
    // one DOCKER_HOST names) before the script, as a socket-less engine takes seconds to start.
    let pipeline = format!(
        "build:\n  image: {docker}\n  services: [docker:27-dind]\n  variables:\n    DOCKER_HOST: tcp://docker:2375\n  script:\n\
         \x20   - docker info --format 'engine={{{{.ID}}}}'\n\
         \x20   - printf 'FROM scratch\\nCOPY f /f\\n' > Dockerfile && echo in-pod > f\n\
         \x20   - docker build -q -t gantry-test/in-pod:1 .\n\
         \x20   - docker image inspect --format 'built={{{{.Id}}}}' gantry-test/in-pod:1\n"
    );
    let (_tmp, dir) = repo("kprivdind", &pipeline, "pipeline");
    let map = format!("docker:27-dind={dind}");
    let (code, out) = sim.run(&dir, &["--privileged-dind", "--image-map", &map]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("served by the node's Docker engine"), "{out}");
    assert!(
        out.contains(&format!("waiting for service {dind} on port 2375")),
        "{out}"
    );
    assert!(out.contains("on port 2375 ready in"), "{out}");
    assert!(out.contains("built=sha256:"), "{out}");
    let host = Command::new("docker")
        .args(["info", "--format", "{{.ID}}"])
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&host.stdout).trim().to_string();
    let engine = out
        .lines()
        .filter_map(|l| l.split("engine=").nth(1))
        .find(|id| !id.contains("{{"))
        .unwrap_or_default()
        .trim();
    assert!(
        !engine.is_empty() && engine != host,
        "an engine of its own: {engine} vs host {host}\n{out}"
    );
    sim.assert_clean();
}

#[test]
fn an_environment_job_reaches_the_cluster_from_its_pod() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        r#"deploy:
  image: {TOOLS}
  environment:
    name: review/pod
  script:
    - echo "url=$KUBE_URL"
    - test "$KUBE_URL" = "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
    - kubectl create configmap from-pod --from-literal=ns=$KUBE_NAMESPACE
    - seen=$(kubectl get configmap from-pod -o jsonpath='{{.data.ns}}')
    - test "$seen" = "$KUBE_NAMESPACE" && echo "roundtrip=$seen"
  after_script:
    - kubectl get pods -o name | sed 's/^/after:/'
"#
    );
    let out = sim.succeeds("kincluster", &pipeline);
    assert!(
        !out.contains("url=https://127."),
        "a loopback URL in a pod: {out}"
    );
    assert!(out.contains("roundtrip="), "{out}");
    assert!(
        out.contains("after:pod/"),
        "after_script reached the cluster too: {out}"
    );
    sim.assert_clean();
}

#[test]
fn a_service_container_is_reached_by_alias_and_derived_name() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        r#"job:
  image: {BUSYBOX}
  services:
    - name: {BUSYBOX}
      alias: web
      entrypoint: ["httpd"]
      command: ["-f", "-p", "8080", "-h", "/www"]
  script:
    - for i in $(seq 50); do wget -q -O- http://web:8080/ && break; sleep 0.2; done
    - echo "by-alias=$(wget -q -O- http://web:8080/)"
    - echo "by-name=$(wget -q -O- http://gantry-test-busybox:8080/)"
"#
    );
    let out = sim.succeeds("kservice", &pipeline);
    assert!(out.contains("by-alias=hello-from-service"), "{out}");
    assert!(out.contains("by-name=hello-from-service"), "{out}");
    sim.assert_clean();
}

/// A service that takes a while to listen, with GitLab Runner's `HEALTHCHECK_TCP_PORT`: the
/// script starts only once the port answers (a readiness probe the node checks), so its first
/// request succeeds without a retry loop.
#[test]
fn a_service_with_a_healthcheck_port_is_awaited_before_the_script() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        r#"job:
  image: {BUSYBOX}
  services:
    - name: {BUSYBOX}
      alias: slow
      entrypoint: ["sh", "-c", "sleep 4; exec httpd -f -p 8080 -h /www"]
      variables:
        HEALTHCHECK_TCP_PORT: "8080"
  script:
    - echo "first=$(wget -q -O- http://slow:8080/)"
"#
    );
    let out = sim.succeeds("khealth", &pipeline);
    assert!(
        out.contains(&format!("waiting for service {BUSYBOX} on port 8080")),
        "{out}"
    );
    assert!(out.contains("on port 8080 ready in"), "{out}");
    assert!(out.contains("first=hello-from-service"), "{out}");
    sim.assert_clean();
}

/// Waits for `child` (at most `limit`); its exit code and output.
fn finish(mut child: std::process::Child, log: &Path, limit: Duration) -> (i32, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "gantry did not finish within {limit:?}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(log).unwrap_or_default(),
    )
}

/// Waits until `log` contains `text` (at most a minute).
fn wait_for_output(log: &Path, text: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {text:?} in: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pod_settings_from_config_and_overrides_land_on_the_pod() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        "job:\n  image: {BUSYBOX}\n  variables:\n    KUBERNETES_MEMORY_LIMIT: 300Mi\n    KUBERNETES_CPU_LIMIT: \"4\"\n  script:\n    - echo settled\n    - sleep 3\n"
    );
    let (_tmp, dir) = Test::new()
        .name("ksettings")
        .pipeline(&pipeline)
        .uncommitted(
            ".gantry/config.toml",
            "[kubernetes.executor]\ncpu_request = \"100m\"\ncpu_limit = \"1\"\nmemory_request = \"64Mi\"\n\
         memory_limit = \"256Mi\"\nmemory_limit_overwrite_max_allowed = \"512Mi\"\n\
         node_selector = { \"kubernetes.io/os\" = \"linux\" }\npod_labels = { team = \"ci\" }\n",
        )
        .create();
    let (child, log) = sim.spawn(&dir, &[]);
    let pod = sim.running_pod("job");
    let (code, out) = finish(child, &log, Duration::from_secs(120));
    assert_eq!(code, 0, "{out}");
    let spec = pod.spec.unwrap();
    let build = &spec.containers[0];
    let resources = build.resources.clone().unwrap();
    let get = |m: &Option<
        std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
               k: &str| { m.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone()) };
    assert_eq!(get(&resources.requests, "cpu").as_deref(), Some("100m"));
    assert_eq!(get(&resources.requests, "memory").as_deref(), Some("64Mi"));
    // Within the configured maximum: the job's override wins.
    assert_eq!(get(&resources.limits, "memory").as_deref(), Some("300Mi"));
    // No maximum for the CPU limit: the override is ignored, with a note.
    assert_eq!(get(&resources.limits, "cpu").as_deref(), Some("1"));
    assert!(out.contains("KUBERNETES_CPU_LIMIT ignored"), "{out}");
    assert_eq!(
        spec.node_selector
            .unwrap_or_default()
            .get("kubernetes.io/os")
            .map(String::as_str),
        Some("linux")
    );
    let labels = pod.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("ci"));
    sim.assert_clean();
}

#[test]
fn sigint_deletes_the_pods_and_still_runs_the_always_job() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        "stages: [build, cleanup]\n\
         long:\n  stage: build\n  image: {BUSYBOX}\n  script:\n    - echo long-started\n    - sleep 300\n    - echo not-reached\n\
         cleanup:\n  stage: cleanup\n  when: always\n  image: {BUSYBOX}\n  script:\n    - echo cleanup-ran\n"
    );
    let (_tmp, dir) = repo("ksigint", &pipeline, "pipeline");
    let (child, log) = sim.spawn(&dir, &[]);
    let pod = sim.running_pod("long");
    wait_for_output(&log, "long-started");
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let (code, out) = finish(child, &log, Duration::from_secs(120));
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("not-reached\n"), "{out}");
    assert!(
        out.contains("cleanup-ran"),
        "the when: always job ran: {out}"
    );
    let name = pod.metadata.name.unwrap_or_default();
    let ns = pod.metadata.namespace.unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(sim.client.clone(), &ns);
    let left = sim.rt.block_on(pods.get_opt(&name)).ok().flatten();
    assert!(
        left.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
        "pod {ns}/{name} survived the interrupt"
    );
    sim.assert_clean();
}

#[test]
fn gc_reaps_the_pod_of_a_killed_run() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline =
        format!("long:\n  image: {BUSYBOX}\n  script:\n    - echo long-started\n    - sleep 300\n");
    let (_tmp, dir) = repo("kgc", &pipeline, "pipeline");
    let (mut child, log) = sim.spawn(&dir, &[]);
    let pod = sim.running_pod("long");
    wait_for_output(&log, "long-started");
    child.kill().unwrap();
    child.wait().unwrap();
    let name = pod.metadata.name.unwrap_or_default();
    let ns = pod.metadata.namespace.unwrap_or_default();
    assert!(
        sim.leftovers(true).iter().any(|l| l.contains(&name)),
        "the killed run's pod is still there before gc"
    );
    let text = sim.gantry(&dir, &["gc"]);
    assert!(text.contains(&format!("removed pod {ns}/{name}")), "{text}");
    sim.assert_clean();
}

#[test]
fn rules_send_tagged_jobs_to_kubernetes_beside_shell_jobs() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        "local:\n  script:\n    - echo \"local-in=${{KUBERNETES_SERVICE_HOST:-host-shell}}\"\n\
         remote:\n  image: {BUSYBOX}\n  tags: [k8s]\n  script:\n    - echo \"remote-in=${{KUBERNETES_SERVICE_HOST:+pod}}\"\n"
    );
    let plan = Test::new()
        .name("kmixed")
        .pipeline(&pipeline)
        .uncommitted(
            ".gantry/config.toml",
            "[executor]\nrules = [{ tags = [\"k8s\"], executor = \"kubernetes\" }]\n",
        )
        .args(["plan"])
        .run()
        .success();
    let shown = &plan.stdout;
    let line = |job: &str| {
        shown
            .lines()
            .find(|l| l.trim_start().starts_with(job))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("remote").contains(&format!("kubernetes {BUSYBOX}")),
        "{shown}"
    );
    assert!(line("local").contains("shell"), "{shown}");
    let (code, out) = combined(
        &gantry_command(&plan.dir)
            .args(["run", "--pull", "never", "--grace", "1", "--kubeconfig"])
            .arg(&sim.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("local-in=host-shell"), "{out}");
    assert!(out.contains("remote-in=pod"), "{out}");
    assert!(
        out.contains("in namespace"),
        "the remote job ran as a pod: {out}"
    );
    sim.assert_clean();
}

#[test]
fn pods_are_reused_and_a_shell_opens_in_the_jobs_pod() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let pipeline = format!(
        "build:\n  image: {BUSYBOX}\n  script:\n    - mkdir -p out && echo built-in-pod > out/made.txt\n  artifacts:\n    paths: [out/]\n\
         read:\n  needs: [build]\n  image: {BUSYBOX}\n  script:\n    - cat out/made.txt\n"
    );
    let (_tmp, dir) = repo("kreuse", &pipeline, "pipeline");
    let (code, out) = sim.run(&dir, &["--reuse"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = sim.run(&dir, &["--reuse"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches("↺ reused: output of the run of").count(),
        2,
        "{out}"
    );
    assert!(out.contains("built-in-pod"), "replayed: {out}");
    sim.assert_clean();
    let kubeconfig = sim.kubeconfig.display().to_string();
    let (code, out) = crate::support::pty::on_pty(
        &dir,
        &[
            "shell",
            "read",
            "--executor",
            "kubernetes",
            "--pull",
            "never",
            "--kubeconfig",
            &kubeconfig,
        ],
        &[
            ("[read]", "cat out/made.txt; echo pod-$((6*7))\r"),
            ("pod-42", "exit\r"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "{out}");
    assert_printed(&out, &["in pod ", "built-in-pod"]);
    sim.assert_clean();
}

/// A list of caches on pods: each pull-push cache is copied into the pod's workspace on the
/// next run and back out after it; a `pull` cache is never saved, a `push` one never restored.
#[test]
fn a_list_of_caches_reaches_the_pod_and_comes_back() {
    let Some(sim) = OnCluster::start() else {
        return;
    };
    let (_tmp, dir) = repo(
        "kcache",
        &crate::support::workspace::cache_list_pipeline(BUSYBOX),
        "pipeline",
    );
    let (code, first) = sim.run(&dir, &[]);
    assert_eq!(code, 0, "{first}");
    let (code, second) = sim.run(&dir, &[]);
    assert_eq!(code, 0, "{second}");
    crate::support::workspace::assert_cache_lists(&dir, &first, &second);
    sim.assert_clean();
}
