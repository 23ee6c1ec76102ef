//! `cargo bench --bench docker`: per-job overhead of the Docker executor for a `true` job versus
//! raw bollard create/start/wait/remove of the same image, sequentially and with 4 at once; then
//! the issue-25 figure, whole commands: a 10-job pipeline at `-j 1` against 10 sequential
//! `docker run --rm IMAGE true` (the CLI a user would compare with).
//! Needs a Docker engine and the busybox test image (built here from Debian's static busybox).
//! The repository is created on the working directory's filesystem (under `target/`), which is
//! printed; raw and gantry runs alternate `RUNS` times (default 3) and medians are reported.

mod common;

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use futures_util::StreamExt;
use std::process::Command;
use std::time::Instant;

const IMAGE: &str = common::BUSYBOX;
const JOBS: usize = 40;
/// Jobs of the whole-command comparison with `docker run`.
const CLI_JOBS: usize = 10;

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

fn main() {
    if !common::docker_up() {
        println!("no Docker engine: skipped");
        return;
    }
    common::build_busybox_image();
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
    let tmp = common::scratch_dir("bench-docker-");
    println!(
        "filesystem: {} at {}",
        common::filesystem(tmp.path()),
        tmp.path().display()
    );
    let job = |i: usize| format!("j{i}:\n  image: {IMAGE}\n  script: [\"true\"]\n");
    common::repository(tmp.path(), &(0..JOBS).map(job).collect::<String>());
    let ten: String = (0..CLI_JOBS).map(job).collect();
    std::fs::write(tmp.path().join("ten.yml"), ten).expect("ten.yml");
    let gantry_ms = |args: &[&str]| {
        let t = Instant::now();
        let ok = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["run", "-q"])
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "gantry run {args:?}");
        t.elapsed().as_secs_f64() * 1e3
    };
    let gantry = |j: &str| gantry_ms(&["-j", j]) / JOBS as f64;
    let (runs, median) = (common::runs(), common::median);
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
    docker_cli(&|| gantry_ms(&["-j", "1", "-f", "ten.yml"]));
}

/// `gantry run -j 1` of a 10-job pipeline against 10 sequential `docker run --rm IMAGE true`,
/// alternating, whole commands: the gantry side includes process start, plan, the pipeline's
/// network and teardown.
fn docker_cli(gantry_ms: &dyn Fn() -> f64) {
    let cli = || {
        let t = Instant::now();
        for _ in 0..CLI_JOBS {
            let ok = Command::new("docker")
                .args(["run", "--rm", IMAGE, "true"])
                .output()
                .expect("docker")
                .status
                .success();
            assert!(ok, "docker run --rm {IMAGE} true");
        }
        t.elapsed().as_secs_f64() * 1e3
    };
    let runs = common::runs();
    let (mut d, mut g) = (vec![], vec![]);
    for _ in 0..runs {
        d.push(cli());
        g.push(gantry_ms());
    }
    println!(
        "{CLI_JOBS} jobs, `docker run --rm` vs `gantry run -j 1`, median of {runs} alternating runs"
    );
    println!("  docker run: {d:.0?} ms, gantry: {g:.0?} ms");
    let (d, g) = (common::median(d), common::median(g));
    println!(
        "  docker run {:.0} ms/job, gantry {:.0} ms/job, ratio {:.2}x",
        d / CLI_JOBS as f64,
        g / CLI_JOBS as f64,
        g / d
    );
}
