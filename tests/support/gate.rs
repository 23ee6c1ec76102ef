//! Whether a test's outside world is here: a Docker engine, the real test cluster. Without it a
//! test skips, and says so once per run on the terminal (not in the captured output of each
//! test, which nobody sees when it passes); under `GANTRY_REQUIRE_DOCKER=1` /
//! `GANTRY_REQUIRE_CLUSTER=1` (CI) the missing piece fails the test instead, so nothing passes
//! by skipping where it must run. The tests share one process, so the answers are found once.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Whether `var` is set to `1`.
pub fn required(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

/// Prints `text` on the terminal past the test harness's capture.
pub fn notice(text: &str) {
    let _ = writeln!(std::io::stderr(), "NOTICE: {text}");
}

/// Whether a Docker engine answers. Without one: a notice (once), or a failure under
/// GANTRY_REQUIRE_DOCKER=1.
pub fn docker() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    let up = *UP.get_or_init(|| {
        let up = Command::new("docker")
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success());
        if !up && !required("GANTRY_REQUIRE_DOCKER") {
            notice("no Docker engine reachable; the Docker tests are skipped");
        }
        up
    });
    assert!(
        up || !required("GANTRY_REQUIRE_DOCKER"),
        "GANTRY_REQUIRE_DOCKER=1 but no Docker engine is reachable"
    );
    up
}

/// How to get the cluster the Kubernetes tests run on, as the notice and the failure say it.
const START_CLUSTER: &str = "start the test cluster with `testing/cluster/up.sh DIR`, then \
     `. DIR/env` (or `export GANTRY_TEST_KUBECONFIG=DIR/kubeconfig`) and, as .ci/run does, \
     `export GANTRY_TEST_IMAGE=gantry.test/busybox:1 \
     GANTRY_TEST_LOAD_IMAGE=\"$PWD/testing/cluster/load-image.sh DIR\"` \
     (FOUNDING_REGISTRY_LISTEN, FOUNDING_CLUSTER_REGISTRY, FOUNDING_KUBE_DIND for the founding scenario)";

/// The admin kubeconfig of the real cluster GANTRY_TEST_KUBECONFIG names. Without one: `None`
/// after a notice (once per run) saying how to start it, or a failure under
/// GANTRY_REQUIRE_CLUSTER=1.
pub fn cluster() -> Option<PathBuf> {
    let path = std::env::var_os("GANTRY_TEST_KUBECONFIG").map(PathBuf::from);
    assert!(
        path.is_some() || !required("GANTRY_REQUIRE_CLUSTER"),
        "GANTRY_REQUIRE_CLUSTER=1 but GANTRY_TEST_KUBECONFIG names no cluster: {START_CLUSTER}"
    );
    if path.is_none() {
        static TOLD: OnceLock<()> = OnceLock::new();
        TOLD.get_or_init(|| {
            notice(&format!(
                "GANTRY_TEST_KUBECONFIG is unset; the Kubernetes tests are skipped: {START_CLUSTER}"
            ))
        });
    }
    path
}

/// Tests that count everything gantry-labelled on a shared engine, or reap what looks abandoned
/// there, take the engine's lock alone; tests that only look at their own objects take it
/// shared. Every Docker test takes Docker's alone: its tests reap (gc, restarts) and count. The
/// cluster's tests mostly share it. Always take Docker's before the cluster's.
pub struct Engine(RwLock<()>);

impl Engine {
    /// Alone on the engine: for tests that assert nothing gantry-labelled is left.
    pub fn alone(&self) -> RwLockWriteGuard<'_, ()> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Beside other such tests, but never beside one that counts.
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Docker engine's lock.
pub static DOCKER: Engine = Engine(RwLock::new(()));
/// The cluster's lock.
pub static CLUSTER: Engine = Engine(RwLock::new(()));

/// Chromium and chromedriver. Without them: `None` after a notice (once), or a failure under
/// GANTRY_REQUIRE_BROWSER=1.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names
            .iter()
            .map(std::path::Path::new)
            .find(|p| p.is_file())
            .map(std::path::Path::to_path_buf)
    };
    let chromium = find(&[
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]);
    let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        assert!(
            !required("GANTRY_REQUIRE_BROWSER"),
            "GANTRY_REQUIRE_BROWSER=1 but chromium or chromedriver is missing"
        );
        static TOLD: OnceLock<()> = OnceLock::new();
        TOLD.get_or_init(|| {
            notice("chromium/chromedriver not installed; the browser tests are skipped")
        });
        return None;
    };
    Some((chromium, driver))
}

/// How to get the forge the Gitea tests run on, as the notice and the failure say it.
const START_FORGE: &str = "start the test forge with `testing/forge/up.sh DIR`, then \
     `export GANTRY_TEST_FORGE=DIR` (as .ci/run does)";

/// The real test forge (Gitea) GANTRY_TEST_FORGE names: the directory `testing/forge/up.sh`
/// wrote its `env` into. Without one: `None` after a notice (once per run) saying how to
/// start it, or a failure under GANTRY_REQUIRE_FORGE=1; a named forge that does not answer
/// fails the test.
pub fn forge() -> Option<super::forge::Gitea> {
    let dir = std::env::var_os("GANTRY_TEST_FORGE").map(PathBuf::from);
    assert!(
        dir.is_some() || !required("GANTRY_REQUIRE_FORGE"),
        "GANTRY_REQUIRE_FORGE=1 but GANTRY_TEST_FORGE names no forge: {START_FORGE}"
    );
    let Some(dir) = dir else {
        static TOLD: OnceLock<()> = OnceLock::new();
        TOLD.get_or_init(|| {
            notice(&format!(
                "GANTRY_TEST_FORGE is unset; the Gitea tests are skipped: {START_FORGE}"
            ))
        });
        return None;
    };
    let gitea = super::forge::Gitea::from_dir(&dir);
    gitea.wait_up(30);
    Some(gitea)
}

/// The forge's lock: a test that stops the forge holds it alone.
pub static FORGE: Engine = Engine(RwLock::new(()));
