//! The founding scenario end to end (issue 10): runs `tests/e2e/founding-scenario.sh`, which
//! builds the images, starts Debian's docker-registry, runs
//! `pipelines/dynamic-environments.gitlab-ci.yml` with the Docker executor, again with the
//! Kubernetes executor, and once more on a push webhook to `gantry serve` (Kubernetes executor,
//! environment and namespace read from its API while it runs), and checks through the
//! registry's, the cluster's and the server's APIs. This test
//! asserts on its exit code and on the lines that say what held.
//! Without a Docker engine it skips with a notice (fails under GANTRY_REQUIRE_DOCKER=1); without
//! `docker-registry` it skips with a notice (fails under GANTRY_REQUIRE_REGISTRY=1), unless
//! FOUNDING_REGISTRY names a running registry; without the real cluster GANTRY_TEST_KUBECONFIG
//! names it skips with the run's notice (fails under GANTRY_REQUIRE_CLUSTER=1). Its nodes must
//! pull from the registry: .ci/run sets FOUNDING_REGISTRY_LISTEN and FOUNDING_CLUSTER_REGISTRY.

use crate::support::gate::{self, required};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::RwLockWriteGuard;

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The cluster's kubeconfig and the engines to themselves (the scripts share the registry's
/// port and count every gantry-labelled object on the cluster), if the scenario can run here;
/// `None` after a notice saying why not.
fn prerequisites() -> Option<(
    PathBuf,
    RwLockWriteGuard<'static, ()>,
    RwLockWriteGuard<'static, ()>,
)> {
    let kubeconfig = gate::cluster()?;
    if !gate::docker() {
        return None;
    }
    if std::env::var_os("FOUNDING_REGISTRY").is_none() && !on_path("docker-registry") {
        assert!(
            !required("GANTRY_REQUIRE_REGISTRY"),
            "GANTRY_REQUIRE_REGISTRY=1 but docker-registry is not installed"
        );
        gate::notice(
            "docker-registry is not installed (apt-get install docker-registry); \
             the founding scenario is skipped",
        );
        return None;
    }
    Some((kubeconfig, gate::DOCKER.alone(), gate::CLUSTER.alone()))
}

/// Runs the e2e script at `root` (a checkout: its `tests/e2e/` and `pipelines/`) with
/// `executors`; (exit code, stdout, everything for a failure message).
fn run_script(root: &Path, kubeconfig: &Path, executors: &str) -> (Option<i32>, String, String) {
    let out = Command::new("timeout")
        .args(["--signal=TERM", "--kill-after=30", "1200", "bash"])
        .arg(root.join("tests/e2e/founding-scenario.sh"))
        .env("FOUNDING_EXECUTORS", executors)
        .env("FOUNDING_SKIP_BUILD", "1")
        .env("GANTRY_BIN", env!("CARGO_BIN_EXE_gantry"))
        .env("FOUNDING_KUBECONFIG", kubeconfig)
        .env_remove("FOUNDING_KEEP")
        .output()
        .expect("running tests/e2e/founding-scenario.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    (out.status.code(), stdout, context)
}

/// Asserts that the script printed each of `lines` after `prefix` (`founding: [RUN] ` for a
/// run's checks, `  [RUN] ` for its jobs' output); `context` is its whole output.
fn assert_printed<S: AsRef<str>>(
    stdout: &str,
    context: &str,
    prefix: &str,
    lines: impl IntoIterator<Item = S>,
) {
    for held in lines {
        let line = format!("{prefix}{}", held.as_ref());
        assert!(stdout.contains(&line), "missing `{line}`\n{context}");
    }
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
    let Some((kubeconfig, _docker, _cluster)) = prerequisites() else {
        return;
    };
    let (code, stdout, context) = run_script(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &kubeconfig,
        "docker kubernetes serve",
    );
    assert_eq!(code, Some(0), "the script failed\n{context}");

    // On a push: the server's API showed the environment and its namespace while the pipeline
    // ran, then the pipeline succeeded and the environment was stopped with its namespace gone.
    assert_printed(
        &stdout,
        &context,
        "founding: [serve] ",
        [
            "the push started pipeline #1",
            "ok: the pipeline's status is success (success)",
            "ok: while it ran, the API listed environment test-for-ci in namespace deals-master-",
            "ok: afterwards the API lists the environment as stopped",
            "PASS\n",
        ]
        .into_iter()
        .chain(SHARED_CHECKS),
    );
    assert_printed(
        &stdout,
        &context,
        "  [serve] ",
        [
            "test │ runTests: all checks passed against http://deals in namespace deals-master-",
            "cleanup │ Removing everything deployed in Kubernetes namespace deals-master-",
        ],
    );

    for executor in ["docker", "kubernetes"] {
        assert_printed(
            &stdout,
            &context,
            &format!("founding: [{executor}] "),
            SHARED_CHECKS
                .into_iter()
                .chain(["ok: the pipeline succeeded (exit 0)", "PASS\n"]),
        );
        // The pipeline's own output: the requests' answers were checked inside the cluster.
        assert_printed(
            &stdout,
            &context,
            &format!("  [{executor}] "),
            [
                "test    │ PASS: the build under test answers (master-",
                "test    │ PASS: deal for holy",
                "test    │ runTests: all checks passed against http://deals in namespace deals-master-",
                "cleanup │ Removing everything deployed in Kubernetes namespace deals-master-",
            ],
        );
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
    let Some((kubeconfig, _docker, _cluster)) = prerequisites() else {
        return;
    };
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

    let (code, stdout, context) = run_script(root, &kubeconfig, "docker kubernetes serve");
    assert_eq!(code, Some(1), "the script did not fail\n{context}");
    for executor in ["docker", "kubernetes"] {
        assert_printed(
            &stdout,
            &context,
            &format!("  [{executor}] "),
            [
                "test    │ FAIL: deal for holy (no '{\"id\":\"holy\",\"name\":\"Holy\",\"price\":9999,\"deal_price\":7999}' in the answer)",
                "test    │ PASS: deal for crossed",
            ],
        );
        assert_printed(
            &stdout,
            &context,
            &format!("founding: [{executor}] "),
            [
                "FAILED: the pipeline succeeded (exit 1)",
                "FAILED: every test passed (test job log)",
                "ok: the cleanup job ran",
                "ok: the namespace deals-master-",
                "ok: no gantry-labelled object is left in the cluster",
                "ok: no job pod is left in the cluster",
                "ok: no container or network of this run is left in Docker",
                "FAIL\n",
            ],
        );
    }
    assert_printed(
        &stdout,
        &context,
        "  [serve] ",
        ["test │ FAIL: deal for holy"],
    );
    assert_printed(
        &stdout,
        &context,
        "founding: [serve] ",
        [
            "FAILED: the pipeline's status is success (failed)",
            "ok: while it ran, the API listed environment test-for-ci in namespace deals-master-",
            "ok: afterwards the API lists the environment as stopped",
            "ok: the cleanup job ran",
            "ok: the namespace deals-master-",
            "ok: no gantry-labelled object is left in the cluster",
            "ok: no job pod is left in the cluster",
            "FAIL\n",
        ],
    );
    assert!(
        stdout.contains("founding: FAIL: see the FAILED lines above"),
        "{context}"
    );
}
