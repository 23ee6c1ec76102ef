//! `cargo bench --bench kube_executor`: per-job overhead of the Kubernetes executor next to the
//! Docker executor, on the same `true` job in the same busybox image, in one run. The whole
//! command is timed (`gantry run`), on the real cluster GANTRY_TEST_KUBECONFIG names (the test
//! cluster: `testing/cluster/up.sh DIR`; the busybox image reaches its nodes through
//! GANTRY_TEST_LOAD_IMAGE), skipped with a notice without one. Reported: the wall
//! time of a one-job pipeline (fixed costs: connecting, the build namespace's creation and
//! deletion for Kubernetes, the network for Docker), then the cost of each further job
//! ((T(N) − T(1)) / (N − 1)) at `-j 1` and at `-j 4`. Executors alternate `RUNS` times (default 3);
//! medians are reported. The repository is on the working directory's disk (under `target/`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const JOBS: usize = 20;

/// Wall milliseconds of `gantry run` with `args` in `dir`, after checking it succeeded.
fn gantry(dir: &Path, args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["run", "-q", "--pull", "never", "--grace", "1"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("gantry");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "gantry run {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ms
}

/// One executor's medians: (one-job pipeline ms, ms per further job at -j 1, at -j 4).
struct Figures {
    single: f64,
    seq: f64,
    par: f64,
}

fn main() {
    let Some(kubeconfig) = common::cluster() else {
        return;
    };
    if !common::docker_up() {
        println!("NOTICE: skipped, no Docker engine (the Docker executor is the comparison)");
        return;
    }
    common::build_busybox_image();
    println!("cluster: GANTRY_TEST_KUBECONFIG={}", kubeconfig.display());

    let tmp = common::scratch_dir("bench-kube-");
    println!(
        "filesystem: {} at {}",
        common::filesystem(tmp.path()),
        tmp.path().display()
    );
    let job = |i: usize| {
        format!(
            "j{i}:\n  image: {}\n  script: [\"true\"]\n",
            common::BUSYBOX
        )
    };
    let many: String = (0..JOBS).map(job).collect();
    common::repository(tmp.path(), &many);
    std::fs::write(tmp.path().join("one.yml"), job(0)).expect("one.yml");

    let kc = kubeconfig.display().to_string();
    let kube: Vec<&str> = vec!["--executor", "kubernetes", "--kubeconfig", &kc];
    let docker: Vec<&str> = vec!["--executor", "auto"];
    let with = |base: &[&str], extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let time = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        gantry(tmp.path(), &refs)
    };
    let measure = |base: &[&str], samples: &mut [Vec<f64>; 3]| {
        let single = time(with(base, &["-f", "one.yml"]));
        let seq = time(with(base, &["-j", "1"]));
        let par = time(with(base, &["-j", "4"]));
        samples[0].push(single);
        samples[1].push((seq - single) / (JOBS - 1) as f64);
        samples[2].push((par - single) / (JOBS - 1) as f64);
    };
    let runs = common::runs();
    let (mut d, mut k): ([Vec<f64>; 3], [Vec<f64>; 3]) = Default::default();
    for _ in 0..runs {
        measure(&docker, &mut d);
        measure(&kube, &mut k);
    }
    let figures = |s: [Vec<f64>; 3]| {
        let [a, b, c] = s;
        Figures {
            single: common::median(a),
            seq: common::median(b),
            par: common::median(c),
        }
    };
    let (d, k) = (figures(d), figures(k));
    println!(
        "{JOBS} `true` jobs in {}; median of {runs} alternating runs (RUNS=N to change)",
        common::BUSYBOX
    );
    println!(
        "{:>12} {:>18} {:>20} {:>20}",
        "", "1-job pipeline ms", "ms/further job -j1", "ms/further job -j4"
    );
    for (name, f) in [("docker", &d), ("kubernetes", &k)] {
        println!(
            "{name:>12} {:>18.0} {:>20.0} {:>20.0}",
            f.single, f.seq, f.par
        );
    }
    println!(
        "{:>12} {:>17.2}x {:>19.2}x {:>19.2}x",
        "k8s/docker",
        k.single / d.single,
        k.seq / d.seq,
        k.par / d.par
    );
}
