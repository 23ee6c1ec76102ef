//! The founding scenario end to end (issue 10): runs `tests/e2e/founding-scenario.sh`, which
//! builds the images, starts Debian's docker-registry and kube-sim, runs
//! `pipelines/dynamic-environments.gitlab-ci.yml` with the Docker executor, again with the
//! Kubernetes executor, and once more on a push webhook to `gantry serve` (Kubernetes executor,
//! environment and namespace read from its API while it runs), and checks through the
//! registry's, the cluster's and the server's APIs. This test
//! asserts on its exit code and on the lines that say what held.
//! Without a Docker engine it skips with a notice (fails under GANTRY_REQUIRE_DOCKER=1); without
//! `docker-registry` it skips with a notice (fails under GANTRY_REQUIRE_REGISTRY=1), unless
//! FOUNDING_REGISTRY names a running registry. GANTRY_TEST_KUBECONFIG runs it against a real
//! cluster instead of kube-sim (with FOUNDING_REGISTRY set to a registry its nodes can pull from).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

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

/// The scripts run one at a time: they share the registry's port.
static SERIAL: Mutex<()> = Mutex::new(());

/// kube-sim's binary beside this test's gantry (same profile directory), built if needed.
fn kube_sim_binary() -> PathBuf {
    let gantry = Path::new(env!("CARGO_BIN_EXE_gantry"));
    let release = gantry
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "release");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", "kube-sim", "--bins"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        build.arg("--release");
    }
    let built = build.status().expect("cargo build -p kube-sim");
    assert!(built.success(), "building kube-sim failed");
    gantry.with_file_name("kube-sim")
}

/// Runs the e2e script at `root` (a checkout: its `tests/e2e/` and `pipelines/`) with
/// `executors`; (exit code, stdout, everything for a failure message).
fn run_script(root: &Path, executors: &str) -> (Option<i32>, String, String) {
    let mut script = Command::new("timeout");
    // FOUNDING_CLUSTER=kube-sim keeps the scenario on kube-sim even where a real cluster is
    // named.
    if std::env::var("FOUNDING_CLUSTER").as_deref() == Ok("kube-sim") {
        for v in [
            "FOUNDING_KUBECONFIG",
            "FOUNDING_REGISTRY_LISTEN",
            "FOUNDING_CLUSTER_REGISTRY",
            "FOUNDING_KUBE_DIND",
        ] {
            script.env_remove(v);
        }
    } else {
        // A real cluster instead of kube-sim (its nodes must pull from FOUNDING_REGISTRY).
        let required = std::env::var("GANTRY_REQUIRE_CLUSTER").as_deref() == Ok("1");
        let kubeconfig = std::env::var_os("GANTRY_TEST_KUBECONFIG");
        assert!(
            kubeconfig.is_some() || !required,
            "GANTRY_REQUIRE_CLUSTER=1 but GANTRY_TEST_KUBECONFIG names no cluster"
        );
        if let Some(kubeconfig) = kubeconfig {
            script.env("FOUNDING_KUBECONFIG", kubeconfig);
        }
    }
    let out = script
        .args(["--signal=TERM", "--kill-after=30", "1200", "bash"])
        .arg(root.join("tests/e2e/founding-scenario.sh"))
        .env("FOUNDING_EXECUTORS", executors)
        .env("FOUNDING_SKIP_BUILD", "1")
        .env("GANTRY_BIN", env!("CARGO_BIN_EXE_gantry"))
        .env("KUBE_SIM_BIN", kube_sim_binary())
        .env_remove("FOUNDING_KEEP")
        .output()
        .expect("running tests/e2e/founding-scenario.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    (out.status.code(), stdout, context)
}

/// What every run of the scenario must have checked (`founding: [RUN] ok: …`).
const SHARED_CHECKS: [&str; 12] = [
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
];

#[test]
fn founding_scenario_holds_with_both_executors_and_on_a_push_to_serve() {
    if !prerequisites() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (code, stdout, context) = run_script(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "docker kubernetes serve",
    );
    assert_eq!(code, Some(0), "the script failed\n{context}");

    // On a push: the server's API showed the environment and its namespace while the pipeline
    // ran, then the pipeline succeeded and the environment was stopped with its namespace gone.
    for held in [
        "founding: [serve] the push started pipeline #1",
        "founding: [serve] ok: the pipeline's status is success (success)",
        "founding: [serve] ok: while it ran, the API listed environment test-for-ci in namespace deals-master-",
        "founding: [serve] ok: afterwards the API lists the environment as stopped",
        "  [serve] test │ runTests: all checks passed against http://deals in namespace deals-master-",
        "  [serve] cleanup │ Removing everything deployed in Kubernetes namespace deals-master-",
        "founding: [serve] PASS\n",
    ]
    .into_iter()
    .map(String::from)
    .chain(SHARED_CHECKS.iter().map(|c| format!("founding: [serve] {c}")))
    {
        assert!(stdout.contains(&held), "missing `{held}`\n{context}");
    }

    for executor in ["docker", "kubernetes"] {
        for held in SHARED_CHECKS
            .into_iter()
            .chain(["ok: the pipeline succeeded (exit 0)"])
        {
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
        stdout.contains("founding: PASS: the founding scenario held with: docker kubernetes serve"),
        "{context}"
    );
}

/// A deals service that answers wrongly (the catalogue's price changed under the tests' feet)
/// fails the test job and the script, and the namespace is still cleaned up and deleted, with
/// either executor and on a push to `gantry serve`.
#[test]
fn a_wrong_answer_fails_the_scenario_and_still_cleans_up() {
    if !prerequisites() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for dir in ["tests/e2e", "pipelines/dynamic-environments/templates"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let copied = Command::new("cp")
        .args(["-R", "pipelines", "tests"])
        .arg(root)
        .current_dir(src)
        .status()
        .unwrap();
    assert!(copied.success());
    let manifest = root.join("pipelines/dynamic-environments/templates/my-sock-shop.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("holy,Holy,9999"), "{text}");
    std::fs::write(&manifest, text.replace("holy,Holy,9999", "holy,Holy,9990")).unwrap();

    let (code, stdout, context) = run_script(root, "docker kubernetes serve");
    assert_eq!(code, Some(1), "the script did not fail\n{context}");
    for executor in ["docker", "kubernetes"] {
        for held in [
            "test    │ FAIL: deal for holy (no '{\"id\":\"holy\",\"name\":\"Holy\",\"price\":9999,\"deal_price\":7999}' in the answer)",
            "test    │ PASS: deal for crossed",
        ] {
            let line = format!("  [{executor}] {held}");
            assert!(stdout.contains(&line), "missing `{line}`\n{context}");
        }
        for held in [
            "FAILED: the pipeline succeeded (exit 1)",
            "FAILED: every test passed (test job log)",
            "ok: the cleanup job ran",
            "ok: the namespace deals-master-",
            "ok: no gantry-labelled object is left in the cluster",
            "ok: no job pod is left in the cluster",
            "ok: no container or network of this run is left in Docker",
            "FAIL\n",
        ] {
            let line = format!("founding: [{executor}] {held}");
            assert!(stdout.contains(&line), "missing `{line}`\n{context}");
        }
    }
    for line in [
        "  [serve] test │ FAIL: deal for holy",
        "founding: [serve] FAILED: the pipeline's status is success (failed)",
        "founding: [serve] ok: while it ran, the API listed environment test-for-ci in namespace deals-master-",
        "founding: [serve] ok: afterwards the API lists the environment as stopped",
        "founding: [serve] ok: the cleanup job ran",
        "founding: [serve] ok: the namespace deals-master-",
        "founding: [serve] ok: no gantry-labelled object is left in the cluster",
        "founding: [serve] ok: no job pod is left in the cluster",
        "founding: [serve] FAIL\n",
    ] {
        assert!(stdout.contains(line), "missing `{line}`\n{context}");
    }
    assert!(
        stdout.contains("founding: FAIL: see the FAILED lines above"),
        "{context}"
    );
}
