//! The test images, built locally from what Debian ships (no registry is reachable from CI's
//! machine): a `FROM scratch` busybox, and images that add host binaries with the C libraries
//! they load. Each is built once per run (the tests share one process; Docker's build cache
//! makes a rebuild cheap across runs) and, when the real cluster is named, loaded onto its nodes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// busybox with a page in `/www` for service tests.
pub const BUSYBOX: &str = "gantry-test/busybox:1";
/// BUSYBOX plus Debian's docker CLI (with libc and the loader).
pub const DOCKER_CLI: &str = "gantry-test/docker-cli:1";
/// BUSYBOX plus kubectl (static) and Debian's docker CLI.
pub const KUBE_TOOLS: &str = "gantry-test/kube-tools:1";
/// busybox, kubectl and the C libraries the host-built gantry needs (mounted into the job).
pub const KUBE_JOB: &str = "gantry-test/kube-job:1";

const LIBC: (&str, &str) = (
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libc.so.6",
);
const LOADER: (&str, &str) = ("/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2");

fn kubectl() -> String {
    std::fs::canonicalize("/usr/bin/kubectl")
        .expect("kubectl is installed")
        .display()
        .to_string()
}

/// Builds `tag` once per run: `FROM base` (or busybox from scratch), the host `files` (from,
/// to) copied in, then the `RUN` lines.
fn build(tag: &'static str, base: Option<&str>, files: &[(&str, &str)], run: &str) -> &'static str {
    static BUILT: OnceLock<Mutex<HashMap<&'static str, ()>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if built.contains_key(tag) {
        return tag;
    }
    let ctx = tempfile::tempdir().unwrap();
    let mut dockerfile = match base {
        Some(b) => format!("FROM {b}\n"),
        None => {
            std::fs::copy(super::busybox_binary(), ctx.path().join("busybox")).unwrap();
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
                .to_string()
        }
    };
    for (i, (from, to)) in files.iter().enumerate() {
        std::fs::copy(from, ctx.path().join(format!("f{i}")))
            .unwrap_or_else(|e| panic!("{from}: {e}"));
        dockerfile.push_str(&format!("COPY f{i} {to}\n"));
    }
    dockerfile.push_str(run);
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    super::checks::succeeded(
        Command::new("docker")
            .args(["build", "-q", "-t", tag])
            .arg(ctx.path()),
        &format!("building {tag}"),
    );
    built.insert(tag, ());
    tag
}

/// [`BUSYBOX`], built.
pub fn busybox() -> &'static str {
    build(
        BUSYBOX,
        None,
        &[],
        "RUN mkdir -p /www /tmp && echo hello-from-service > /www/index.html\nEXPOSE 8080\n",
    )
}

/// [`DOCKER_CLI`], built.
pub fn docker_cli() -> &'static str {
    build(
        DOCKER_CLI,
        Some(busybox()),
        &[("/usr/bin/docker", "/usr/bin/docker"), LIBC, LOADER],
        "",
    )
}

/// [`KUBE_TOOLS`], built.
pub fn kube_tools() -> &'static str {
    build(
        KUBE_TOOLS,
        Some(busybox()),
        &[
            (&kubectl(), "/usr/bin/kubectl"),
            ("/usr/bin/docker", "/usr/bin/docker"),
            LIBC,
            LOADER,
        ],
        "",
    )
}

/// [`KUBE_JOB`], built.
pub fn kube_job() -> &'static str {
    let libs = ["libc.so.6", "libm.so.6", "libz.so.1", "libgcc_s.so.1"]
        .map(|n| format!("/lib/x86_64-linux-gnu/{n}"));
    let kubectl = kubectl();
    let mut files = vec![(kubectl.as_str(), "/usr/bin/kubectl")];
    files.extend(libs.iter().map(|l| (l.as_str(), l.as_str())));
    files.push(LOADER);
    build(KUBE_JOB, None, &files, "RUN mkdir -p /tmp\n")
}

/// A test image the cluster's nodes can run: GANTRY_TEST_IMAGE (CI's, already on the nodes), or
/// [`BUSYBOX`] built here and loaded onto them.
pub fn for_cluster() -> String {
    std::env::var("GANTRY_TEST_IMAGE").unwrap_or_else(|_| {
        let image = busybox();
        load_into_cluster(&[image]);
        image.to_string()
    })
}

/// Makes locally built Docker `images` available to the nodes of the real cluster
/// GANTRY_TEST_KUBECONFIG names, with the command GANTRY_TEST_LOAD_IMAGE gives (run by `sh -c`
/// with the images as its arguments: `testing/cluster/load-image.sh DIR` for the project's test
/// cluster, `kind load docker-image` for kind). Each image is loaded once per run.
pub fn load_into_cluster(images: &[&str]) {
    if std::env::var_os("GANTRY_TEST_KUBECONFIG").is_none() {
        return;
    }
    let Ok(load) = std::env::var("GANTRY_TEST_LOAD_IMAGE") else {
        super::gate::notice(&format!(
            "GANTRY_TEST_LOAD_IMAGE is unset; {images:?} must be on the nodes"
        ));
        return;
    };
    static LOADED: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let new: Vec<&str> = images
        .iter()
        .copied()
        .filter(|i| !loaded.iter().any(|l| l == i))
        .collect();
    if new.is_empty() {
        return;
    }
    super::checks::succeeded(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{load} \"$@\""))
            .arg("load-image")
            .args(&new),
        &format!("GANTRY_TEST_LOAD_IMAGE ({load}) for {new:?}"),
    );
    loaded.extend(new.iter().map(|s| s.to_string()));
}

/// The founding pipeline's image build script (`images/build-images.sh`), for tests that build
/// its images.
pub fn founding_images_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines/dynamic-environments/images/build-images.sh")
}
