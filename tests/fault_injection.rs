//! Random interrupts, as a hostile tester would send them: `gantry run` of a pipeline with
//! parallel jobs, background children and a `when: always` job, on each executor (shell; Docker;
//! Kubernetes on the real cluster GANTRY_TEST_KUBECONFIG names), gets SIGINT or SIGKILL at a
//! random moment. After
//! SIGINT (gantry's own teardown), and after SIGKILL plus `gantry gc`, nothing may be left:
//! no job process (found by the `GANTRY_RUN` marker of this test's project), no container or
//! network labelled with that gantry's pid, no gantry-labelled pod or namespace on the cluster.
//!
//! `GANTRY_FAULT_RUNS` (default 2: one SIGINT, one SIGKILL) runs per executor; `bench/faults.sh`
//! runs 20 or more with a random `GANTRY_FAULT_SEED`. Docker and Kubernetes cases skip with a
//! notice without an engine or a cluster, and fail instead under GANTRY_REQUIRE_DOCKER=1 /
//! GANTRY_REQUIRE_CLUSTER=1.

use crate::support::checks::knob;
use crate::support::cluster::Kube as Cluster;
use crate::support::{gate, images, repo};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pipeline every case runs: two parallel jobs (one with a background child), a later job,
/// and a cleanup that always runs.
fn pipeline(image: bool) -> String {
    let image = if image {
        format!("default:\n  image: {}\n", images::BUSYBOX)
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
        left.extend(c.settle(Duration::from_secs(30), false));
    }
    (left, started)
}

#[test]
fn random_interrupts_leave_nothing_on_any_executor() {
    let runs: u64 = knob("GANTRY_FAULT_RUNS", 2);
    let seed: u64 = knob("GANTRY_FAULT_SEED", 21);
    let mut rng = Rng(seed.max(1));
    let docker = gate::docker();
    // A SIGKILLed gantry's containers are orphans until `gantry gc`: no test that looks for
    // orphans may run meanwhile.
    let _docker = gate::DOCKER.alone();
    if docker {
        images::busybox();
    }
    // Its leftovers are everything gantry-labelled on the cluster: no other test may be there.
    let cluster = docker.then(Cluster::connect).flatten();
    let _cluster = cluster.as_ref().map(|_| gate::CLUSTER.alone());
    if cluster.is_some() {
        images::load_into_cluster(&[images::BUSYBOX]);
    }
    let mut failures = Vec::new();
    for executor in ["shell", "docker", "kubernetes"] {
        if (executor != "shell" && !docker) || (executor == "kubernetes" && cluster.is_none()) {
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
