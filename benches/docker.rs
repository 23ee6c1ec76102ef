//! `cargo bench --bench docker`: per-job overhead of the Docker executor for a `true` job versus
//! raw bollard create/start/wait/remove of the same image, sequentially and with 4 at once.
//! Needs a Docker engine and the busybox test image (built here from Debian's static busybox).
//! The repository is created on the working directory's filesystem (under `target/`), which is
//! printed; raw and gantry runs alternate `RUNS` times (default 3) and medians are reported.

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use futures_util::StreamExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const IMAGE: &str = "gantry-test/busybox:1";
const JOBS: usize = 40;

fn build_image() {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", ctx.path().join("busybox")).expect("busybox-static");
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n").unwrap();
    assert!(
        Command::new("docker")
            .args(["build", "-q", "-t", IMAGE])
            .arg(ctx.path())
            .status()
            .unwrap()
            .success()
    );
}

async fn raw_one(docker: &Docker) {
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(vec!["true".into()]),
        ..Default::default()
    };
    let id = docker
        .create_container(None, body)
        .await
        .expect("create")
        .id;
    docker.start_container(&id, None).await.expect("start");
    let _ = docker.wait_container(&id, None).next().await;
    let _ = docker
        .remove_container(
            &id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
}

fn git(dir: &Path, args: &[&str]) {
    assert!(
        Command::new("git")
            .args(["-c", "user.name=b", "-c", "user.email=b@e"])
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap()
            .success()
    );
}

fn main() {
    if !Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("no Docker engine: skipped");
        return;
    }
    build_image();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let docker = rt.block_on(async {
        Docker::connect_with_local_defaults()
            .unwrap()
            .negotiate_version()
            .await
            .unwrap()
    });
    let raw = |parallel: usize| {
        let t = Instant::now();
        rt.block_on(async {
            let mut left = JOBS;
            while left > 0 {
                let n = left.min(parallel);
                futures_util::future::join_all((0..n).map(|_| raw_one(&docker))).await;
                left -= n;
            }
        });
        t.elapsed().as_secs_f64() * 1e3 / JOBS as f64
    };
    let tmp = tempfile::Builder::new()
        .prefix("bench-docker-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let fs = Command::new("df")
        .arg("--output=fstype")
        .arg(tmp.path())
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.lines().last().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default();
    println!("filesystem: {fs} at {}", tmp.path().display());
    let mut y = String::new();
    for i in 0..JOBS {
        y.push_str(&format!("j{i}:\n  image: {IMAGE}\n  script: [\"true\"]\n"));
    }
    std::fs::write(tmp.path().join(".gitlab-ci.yml"), y).unwrap();
    git(tmp.path(), &["init", "-q"]);
    git(tmp.path(), &["add", "."]);
    git(tmp.path(), &["commit", "-qm", "bench"]);
    let gantry = |j: &str| {
        let t = Instant::now();
        let ok = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["run", "-q", "-j", j])
            .current_dir(tmp.path())
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok);
        t.elapsed().as_secs_f64() * 1e3 / JOBS as f64
    };
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut rs, mut gs, mut rp, mut gp) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        rs.push(raw(1));
        gs.push(gantry("1"));
        rp.push(raw(4));
        gp.push(gantry("4"));
    }
    println!("median of {runs} alternating runs (RUNS=N to change)");
    let (raw_seq, g_seq, raw_par, g_par) = (median(rs), median(gs), median(rp), median(gp));
    println!(
        "{:>8} {:>16} {:>16} {:>7}",
        "", "raw ms/job", "gantry ms/job", "ratio"
    );
    println!(
        "{:>8} {raw_seq:>16.1} {g_seq:>16.1} {:>6.2}x",
        "-j 1",
        g_seq / raw_seq
    );
    println!(
        "{:>8} {raw_par:>16.1} {g_par:>16.1} {:>6.2}x",
        "-j 4",
        g_par / raw_par
    );
}
