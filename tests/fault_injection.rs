//! Random interrupts, as a hostile tester would send them: `gantry run` of a pipeline with
//! parallel jobs, background children and a `when: always` job, on each executor (shell; Docker;
//! Kubernetes on the in-process kube-sim), gets SIGINT or SIGKILL at a random moment. After
//! SIGINT (gantry's own teardown), and after SIGKILL plus `gantry gc`, nothing may be left:
//! no job process (found by the `GANTRY_RUN` marker of this test's project), no container or
//! network labelled with that gantry's pid, no gantry-labelled pod or namespace on the cluster.
//!
//! `GANTRY_FAULT_RUNS` (default 2: one SIGINT, one SIGKILL) runs per executor; `bench/faults.sh`
//! runs 20 or more with a random `GANTRY_FAULT_SEED`. Docker and Kubernetes cases skip with a
//! notice without an engine, and fail instead under GANTRY_REQUIRE_DOCKER=1.

mod common;

use common::repo;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUSYBOX: &str = "gantry-test/busybox:1";

/// The pipeline every case runs: two parallel jobs (one with a background child), a later job,
/// and a cleanup that always runs.
fn pipeline(image: bool) -> String {
    let image = if image {
        format!("default:\n  image: {BUSYBOX}\n")
    } else {
        String::new()
    };
    format!(
        "{image}stages: [one, two]\n\
         a:\n  stage: one\n  script: ['(sleep 30) &', 'sleep 0.$((RANDOM % 9))', 'sleep 30']\n\
         b:\n  stage: one\n  script: ['sleep 0.5', 'sleep 30']\n\
         c:\n  stage: two\n  script: ['sleep 1']\n\
         cleanup:\n  stage: two\n  when: always\n  script: ['echo cleaned']\n"
    )
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn docker_ok() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("GANTRY_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "GANTRY_REQUIRE_DOCKER=1 but no Docker engine is reachable"
        );
        eprintln!("NOTICE: no Docker engine reachable; Docker and Kubernetes fault cases skipped");
        return false;
    }
    common::busybox_image(BUSYBOX);
    true
}

/// Job processes of `project`'s runs still alive: working in its state directory (shell jobs),
/// or carrying the marker of one of its runs (also container processes).
fn job_processes(project: &Path) -> Vec<String> {
    let state = project.join(".gantry");
    let needle = format!("GANTRY_RUN={}", state.display());
    let mut found = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let (Ok(env), Ok(stat)) = (
            std::fs::read(p.path().join("environ")),
            std::fs::read_to_string(p.path().join("stat")),
        ) else {
            continue;
        };
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
        let in_state =
            std::fs::read_link(p.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&state));
        let marked = env
            .split(|b| *b == 0)
            .any(|kv| kv.starts_with(needle.as_bytes()));
        if !zombie && (in_state || marked) {
            found.push(format!("process {pid}: {}", stat.trim()));
        }
    }
    found
}

/// Containers and networks the gantry with `pid` made.
fn docker_leftovers(pid: u32) -> Vec<String> {
    let mut left = Vec::new();
    for what in [&["ps", "-a"][..], &["network", "ls"][..]] {
        let o = Command::new("docker")
            .args(what)
            .args(["--filter", &format!("label=gantry.pid={pid}")])
            .args(["--format", "{{.Names}}{{.Name}}"])
            .output()
            .unwrap();
        left.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| format!("{} {l}", what[0])),
        );
    }
    left
}

struct Cluster {
    rt: tokio::runtime::Runtime,
    sim: Option<kube_sim::Cluster>,
    kubeconfig: PathBuf,
    client: kube::Client,
}

impl Cluster {
    fn start() -> Cluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = rt
            .block_on(kube_sim::Cluster::start(kube_sim::ClusterOptions::default()))
            .expect("kube-sim starts");
        let kubeconfig = sim.kubeconfig_path().to_path_buf();
        let client = rt.block_on(async {
            let kc = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap();
            kube::Client::try_from(config).unwrap()
        });
        Cluster {
            rt,
            sim: Some(sim),
            kubeconfig,
            client,
        }
    }

    /// gantry-labelled pods, and namespaces not yet terminating.
    fn leftovers(&self) -> Vec<String> {
        let lp = ListParams::default().labels("app.kubernetes.io/managed-by=gantry");
        let pods: Api<Pod> = Api::all(self.client.clone());
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let mut left: Vec<String> = self
            .rt
            .block_on(pods.list(&lp))
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .map(|p| format!("pod {}", p.metadata.name.unwrap_or_default()))
            .collect();
        left.extend(
            self.rt
                .block_on(namespaces.list(&lp))
                .map(|l| l.items)
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.metadata.deletion_timestamp.is_none())
                .map(|n| format!("namespace {}", n.metadata.name.unwrap_or_default())),
        );
        left
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(c) = self.sim.take() {
            self.rt.block_on(c.stop());
        }
    }
}

/// What one case leaves, waiting up to `within` for it to go.
fn settle(within: Duration, mut left: impl FnMut() -> Vec<String>) -> Vec<String> {
    let start = Instant::now();
    loop {
        let l = left();
        if l.is_empty() || start.elapsed() > within {
            return l;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One run of `executor`, interrupted by `signal` after `delay`: what was left, and whether a
/// job had started when the signal came.
fn case(
    executor: &str,
    signal: i32,
    delay: Duration,
    cluster: Option<&Cluster>,
) -> (Vec<String>, bool) {
    let (tmp, dir) = repo("faults", &pipeline(executor != "shell"), "init");
    let events = tmp.path().join("events.json");
    let mut args: Vec<String> = ["run", "--grace", "1", "-j", "4", "--format", "json"]
        .map(String::from)
        .to_vec();
    match executor {
        "shell" => args.extend(["--executor", "shell"].map(String::from)),
        "docker" => args.extend(["--pull", "never"].map(String::from)),
        _ => args.extend(["--executor", "kubernetes", "--pull", "never"].map(String::from)),
    }
    let mut kube_args: Vec<String> = Vec::new();
    if let Some(c) = cluster {
        kube_args = vec!["--kubeconfig".into(), c.kubeconfig.display().to_string()];
    }
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(&args)
        .args(&kube_args)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&events).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    std::thread::sleep(delay);
    let started = std::fs::read_to_string(&events).is_ok_and(|e| e.contains("\"job_started\""));
    unsafe {
        libc::kill(pid as i32, signal);
    }
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            return (
                vec![format!(
                    "gantry did not end within 120 s of signal {signal}"
                )],
                started,
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if signal == libc::SIGKILL {
        let gc = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .arg("gc")
            .args(&kube_args)
            .current_dir(&dir)
            .output()
            .unwrap();
        if !gc.status.success() {
            return (
                vec![format!(
                    "gc failed: {}",
                    String::from_utf8_lossy(&gc.stderr)
                )],
                started,
            );
        }
    }
    let mut left = settle(Duration::from_secs(5), || job_processes(&dir));
    if executor != "shell" {
        left.extend(settle(Duration::from_secs(10), || docker_leftovers(pid)));
    }
    if let Some(c) = cluster {
        left.extend(settle(Duration::from_secs(30), || c.leftovers()));
    }
    (left, started)
}

#[test]
fn random_interrupts_leave_nothing_on_any_executor() {
    let runs: u64 = std::env::var("GANTRY_FAULT_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("GANTRY_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    let mut rng = Rng(seed.max(1));
    let docker = docker_ok();
    let cluster = docker.then(Cluster::start);
    let mut failures = Vec::new();
    for executor in ["shell", "docker", "kubernetes"] {
        if executor != "shell" && !docker {
            continue;
        }
        let (mut left_total, mut mid_job) = (0, 0);
        for n in 0..runs {
            let signal = if n % 2 == 0 {
                libc::SIGINT
            } else {
                libc::SIGKILL
            };
            // From before the first job starts to well into the sleeps.
            let delay = Duration::from_millis(100 + rng.below(4_000));
            let c = cluster.as_ref().filter(|_| executor == "kubernetes");
            let (left, started) = case(executor, signal, delay, c);
            left_total += left.len();
            mid_job += usize::from(started);
            if !left.is_empty() {
                failures.push(format!(
                    "{executor}, signal {signal} after {delay:?}: {left:?}"
                ));
            }
        }
        println!(
            "faults: {executor}: {runs} runs (seed {seed}), {mid_job} interrupted with jobs running, {left_total} leftovers"
        );
    }
    assert!(failures.is_empty(), "left behind:\n{}", failures.join("\n"));
}
