//! The founding scenario end to end (issue 10): runs `tests/e2e/founding-scenario.sh`, which
//! builds the images, starts Debian's docker-registry and kube-sim, runs
//! `pipelines/dynamic-environments.gitlab-ci.yml` with the Docker executor and again with the
//! Kubernetes executor, and checks through the registry's and the cluster's APIs. This test
//! asserts on its exit code and on the lines that say what held.
//! Without a Docker engine it skips with a notice (fails under GANTRY_REQUIRE_DOCKER=1); without
//! `docker-registry` it skips with a notice (fails under GANTRY_REQUIRE_REGISTRY=1), unless
//! FOUNDING_REGISTRY names a running registry. GANTRY_TEST_KUBECONFIG runs it against a real
//! cluster instead of kube-sim (with FOUNDING_REGISTRY set to a registry its nodes can pull from).

use std::path::Path;
use std::process::Command;

fn required(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the scenario can run here; `false` after a notice saying why not.
fn prerequisites() -> bool {
    let engine = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !engine {
        assert!(
            !required("GANTRY_REQUIRE_DOCKER"),
            "GANTRY_REQUIRE_DOCKER=1 but no Docker engine is reachable"
        );
        eprintln!("NOTICE: no Docker engine reachable; the founding scenario is skipped");
        return false;
    }
    if std::env::var_os("FOUNDING_REGISTRY").is_none() && !on_path("docker-registry") {
        assert!(
            !required("GANTRY_REQUIRE_REGISTRY"),
            "GANTRY_REQUIRE_REGISTRY=1 but docker-registry is not installed"
        );
        eprintln!(
            "NOTICE: docker-registry is not installed (apt-get install docker-registry); \
             the founding scenario is skipped"
        );
        return false;
    }
    true
}

#[test]
fn founding_scenario_holds_with_the_docker_and_the_kubernetes_executor() {
    if !prerequisites() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gantry = Path::new(env!("CARGO_BIN_EXE_gantry"));
    // kube-sim's binary beside gantry's, built by the script's `cargo build` (the same profile
    // directory as this test's gantry).
    let kube_sim = gantry.with_file_name("kube-sim");
    let release = gantry
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "release");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", "kube-sim", "--bins"])
        .current_dir(root);
    if release {
        build.arg("--release");
    }
    let built = build.status().expect("cargo build -p kube-sim");
    assert!(built.success(), "building kube-sim failed");

    let mut script = Command::new("timeout");
    // A real cluster instead of kube-sim (its nodes must pull from FOUNDING_REGISTRY).
    if let Some(kubeconfig) = std::env::var_os("GANTRY_TEST_KUBECONFIG") {
        script.env("FOUNDING_KUBECONFIG", kubeconfig);
    }
    let out = script
        .args(["--signal=TERM", "--kill-after=30", "1200", "bash"])
        .arg(root.join("tests/e2e/founding-scenario.sh"))
        .env("FOUNDING_EXECUTORS", "docker kubernetes")
        .env("FOUNDING_SKIP_BUILD", "1")
        .env("GANTRY_BIN", gantry)
        .env("KUBE_SIM_BIN", &kube_sim)
        .env_remove("FOUNDING_KEEP")
        .output()
        .expect("running tests/e2e/founding-scenario.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "the script failed\n{context}");

    for executor in ["docker", "kubernetes"] {
        for held in [
            "ok: the pipeline succeeded (exit 0)",
            "ok: the registry lists iandcrosby/deals:master-",
            "ok: the deployment became ready while the pipeline ran (deployment deals ready (1) in deals-master-",
            "ok: the cluster pulled the image from the registry (test job log)",
            "ok: the readiness loop saw the deals pod's conditions all True (test job log)",
            "ok: the tests ran against the build under test (test job log)",
            "ok: every test passed (test job log)",
            "ok: the cleanup job ran",
            "ok: the namespace deals-master-",
            "ok: no gantry-labelled namespace is left",
            "ok: no gantry-labelled object is left in the cluster",
            "ok: no job pod is left in the cluster",
            "ok: no container or network of this run is left in Docker",
        ] {
            let line = format!("founding: [{executor}] {held}");
            assert!(stdout.contains(&line), "missing `{line}`\n{context}");
        }
        assert!(
            stdout.contains(&format!("founding: [{executor}] PASS\n")),
            "{context}"
        );
        // The pipeline's own output: the requests' answers were checked inside the cluster.
        for job_line in [
            "test    │ PASS: the build under test answers (master-",
            "test    │ PASS: deal for holy",
            "test    │ runTests: all checks passed against http://deals in namespace deals-master-",
            "cleanup │ Removing everything deployed in Kubernetes namespace deals-master-",
        ] {
            let line = format!("  [{executor}] {job_line}");
            assert!(stdout.contains(&line), "missing `{line}`\n{context}");
        }
    }
    assert!(!stdout.contains("FAILED"), "{context}");
    assert!(
        stdout.contains("founding: PASS: the founding scenario held with: docker kubernetes"),
        "{context}"
    );
}
