//! The binary's start-up contract and clean-up: `kube-sim --listen 127.0.0.1:0 --kubeconfig F`
//! writes F once it serves; SIGTERM removes every container and network it created; after a
//! SIGKILL, `kube-sim --cleanup` removes what was left. Asserted through the Docker API.
//! `--cleanup` removes every instance's leftovers, so this file holds one test only (cargo
//! runs test binaries one after another).

mod common;

use common::{IMAGE, docker_ready, kubectl_with, labelled};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(kubeconfig: &Path, instance: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["--instance", instance, "--require-runtime"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kube-sim starts")
}

async fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "kubeconfig written within 30s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_pod(kubeconfig: &Path, instance: &str) {
    let ok = |o: common::Out| assert!(o.ok, "{} {}", o.stdout, o.stderr);
    ok(kubectl_with(kubeconfig, &["create", "ns", "life"]).await);
    ok(kubectl_with(
        kubeconfig,
        &[
            "run",
            "sleeper",
            "-n",
            "life",
            "--image",
            IMAGE,
            "--image-pull-policy=Never",
            "--",
            "sleep",
            "3600",
        ],
    )
    .await);
    let start = Instant::now();
    loop {
        let (containers, networks) = labelled(instance).await;
        if containers > 0 && networks > 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the pod's containers appear"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_cleanup_leave_nothing_labelled() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    // SIGTERM: the instance removes its own containers and network.
    let kc = dir.path().join("term.kubeconfig");
    let instance = format!("lifecycle-term-{}", std::process::id());
    let mut child = spawn(&kc, &instance);
    wait_for(&kc).await;
    start_pod(&kc, &instance).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "kube-sim exits after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        labelled(&instance).await,
        (0, 0),
        "SIGTERM removed containers and networks"
    );

    // SIGKILL leaves things behind; --cleanup removes them.
    let kc = dir.path().join("kill.kubeconfig");
    let instance = format!("lifecycle-kill-{}", std::process::id());
    let mut child = spawn(&kc, &instance);
    wait_for(&kc).await;
    start_pod(&kc, &instance).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let (containers, _) = labelled(&instance).await;
    assert!(containers > 0, "a killed instance leaves its containers");
    let out = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .arg("--cleanup")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        labelled(&instance).await,
        (0, 0),
        "--cleanup removed containers and networks"
    );
}
