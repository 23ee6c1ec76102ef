//! Private registries end to end (issue 28): a real registry — Debian's `docker-registry` with
//! htpasswd authentication, started by the test on a free loopback port — holds the locally
//! built busybox under a private name, the local copy is removed, and gantry runs a pipeline
//! whose job (and service) image is that private image: with `DOCKER_AUTH_CONFIG` as a job
//! variable, with `CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD`, with a `docker-credential-*`
//! helper, and with a wrong password in gantry's environment (the job fails naming the
//! registry and the reason; the password is in no output). The Kubernetes executor pulls the
//! same image on the cluster's node through the job's pull Secret.
//!
//! Without a Docker engine these tests skip with the run's notice (fail under
//! GANTRY_REQUIRE_DOCKER=1); without `docker-registry` or `htpasswd` (apache2-utils) they skip
//! with a notice (fail under GANTRY_REQUIRE_REGISTRY=1); the Kubernetes one also needs the
//! cluster GANTRY_TEST_KUBECONFIG names. Docker treats 127.0.0.0/8 registries as insecure
//! (plain HTTP) by default, and so does the test cluster's containerd for loopback hosts.

use crate::support::cluster::{Held, Kube};
use crate::support::gate::{self, required};
use crate::support::{Test, docker, images};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the registry knows.
const USER: &str = "gantry-test";

/// Whether `tool` can be started (it is on PATH).
fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `command` with `input` on its stdin (how secrets go in: never as an argument).
fn with_stdin(command: &mut Command, input: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A `docker-registry` with htpasswd authentication on 127.0.0.1 (a free port), its storage,
/// configuration and password file in a temporary directory; stopped, and the images pushed to
/// it removed from the engine, when dropped.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    host: String,
    /// The password: distinctive, so no output may contain it.
    password: String,
    /// Local tags made for pushing.
    pushed: Vec<String>,
}

impl Registry {
    /// A running registry, or `None` (after a notice) when its tools are missing.
    fn start() -> Option<Registry> {
        for (tool, package) in [
            ("docker-registry", "docker-registry"),
            ("htpasswd", "apache2-utils"),
        ] {
            if !installed(tool) {
                assert!(
                    !required("GANTRY_REQUIRE_REGISTRY"),
                    "GANTRY_REQUIRE_REGISTRY=1 but {tool} is not installed"
                );
                gate::notice(&format!(
                    "{tool} is not installed (apt-get install {package}); the private-registry tests are skipped"
                ));
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let password = format!("pw-{}-{nanos:x}-secret", std::process::id());
        // The password on htpasswd's stdin, not its command line.
        let out = with_stdin(
            Command::new("htpasswd").args(["-B", "-i", "-n", USER]),
            &password,
        );
        assert!(out.status.success(), "htpasswd failed");
        std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}/storage\n\
             http:\n  addr: {host}\nauth:\n  htpasswd:\n    realm: gantry-test\n    path: {root}/htpasswd\n",
            root = dir.path().display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            dir,
            host,
            password,
            pushed: Vec::new(),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(&registry.host).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the registry did not start: {}",
                std::fs::read_to_string(registry.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    /// Pushes the test busybox as `HOST/private/NAME:1` (logged in through a throw-away Docker
    /// configuration, the password on stdin) and removes the local tag; the image's name.
    fn push(&mut self, name: &str) -> String {
        let image = format!("{}/private/{name}:1", self.host);
        let config = tempfile::tempdir().unwrap();
        let cfg = config.path().to_str().unwrap();
        let (ok, out) = docker(&["tag", images::busybox(), &image]);
        assert!(ok, "{out}");
        self.pushed.push(image.clone());
        let out = with_stdin(
            Command::new("docker").args([
                "--config",
                cfg,
                "login",
                "-u",
                USER,
                "--password-stdin",
                &self.host,
            ]),
            &self.password,
        );
        assert!(
            out.status.success(),
            "docker login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (ok, out) = docker(&["--config", cfg, "push", "-q", &image]);
        assert!(ok, "docker push {image}: {out}");
        self.forget(&image);
        image
    }

    /// Removes the engine's local copy of `image`, so the next job must pull it.
    fn forget(&self, image: &str) {
        let _ = docker(&["rmi", image]);
    }

    /// A `DOCKER_AUTH_CONFIG` for this registry with `password`.
    fn auth_config(&self, password: &str) -> String {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        serde_json::json!({"auths": {&self.host: {"auth": auth}}}).to_string()
    }

    /// Asserts that no output holds the password or its `auth` form.
    fn assert_not_in(&self, output: &str) {
        use base64::Engine;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", self.password));
        assert!(
            !output.contains(&self.password) && !output.contains(&auth),
            "the password is in the output:\n{output}"
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for image in &self.pushed {
            self.forget(image);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The engine to this test alone (it removes images others could use), a registry, and the
/// image `HOST/private/NAME:1` pushed to it; `None` after a notice when something is missing.
fn start(name: &str) -> Option<(std::sync::RwLockWriteGuard<'static, ()>, Registry, String)> {
    let alone = gate::DOCKER.alone();
    if !gate::docker() {
        return None;
    }
    let mut registry = Registry::start()?;
    let image = registry.push(name);
    Some((alone, registry, image))
}

/// `gantry run` of `pipeline` with gantry's environment `env`, a Docker configuration
/// directory of its own (empty unless `config` is given) instead of the user's: (exit code,
/// stdout and stderr).
fn run(pipeline: &str, env: &[(&str, &str)], config: Option<&str>) -> (i32, String) {
    let docker_config = tempfile::tempdir().unwrap();
    if let Some(c) = config {
        std::fs::write(docker_config.path().join("config.json"), c).unwrap();
    }
    let mut test = Test::new()
        .pipeline(pipeline)
        .args(["run"])
        .env("DOCKER_CONFIG", docker_config.path().to_str().unwrap());
    for (k, v) in env {
        test = test.env(k, v);
    }
    let r = test.run();
    (r.code, format!("{}\n{}", r.stdout, r.stderr))
}

/// Asserts that a run exited 0 and said each of `texts`.
fn assert_succeeded((code, out): &(i32, String), texts: &[&str]) {
    assert_eq!(*code, 0, "{out}");
    for t in texts {
        assert!(out.contains(t), "no {t:?} in:\n{out}");
    }
}

/// A job in `image` with a service of `service` (busybox's httpd under the alias `web`)
/// that prints what the service serves, with `variables`.
fn pipeline(image: &str, service: &str, variables: &str) -> String {
    format!(
        "variables:\n{variables}\njob:\n  image: {image}\n  services:\n    - name: {service}\n      alias: web\n      command: [httpd, -f, -p, '8080', -h, /www]\n  script:\n    - wget -qO- http://web:8080/\n    - echo ran-in-the-private-image\n"
    )
}

#[test]
fn docker_jobs_pull_private_images_with_docker_auth_config_and_ci_registry() {
    let Some((_alone, mut registry, image)) = start("job") else {
        return;
    };
    let service = registry.push("service");
    // Without credentials the registry refuses, and the failure says how to log in.
    let (code, out) = run(&pipeline(&image, &service, "  X: y"), &[], None);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(&format!("image `{image}` is not available locally"))
            && out.contains("give gantry its credentials (DOCKER_AUTH_CONFIG, `docker login`)"),
        "{out}"
    );
    // DOCKER_AUTH_CONFIG as a variable of the pipeline: job and service images are pulled.
    let vars = format!(
        "  DOCKER_AUTH_CONFIG: '{}'",
        registry.auth_config(&registry.password)
    );
    let authenticated = format!(
        "authenticating with the credentials for {} from $DOCKER_AUTH_CONFIG (a variable of the job)",
        registry.host
    );
    assert_succeeded(
        &run(&pipeline(&image, &service, &vars), &[], None),
        &[
            "hello-from-service",
            "ran-in-the-private-image",
            &authenticated,
        ],
    );
    registry.forget(&image);
    registry.forget(&service);
    // CI_REGISTRY_USER and CI_REGISTRY_PASSWORD for images under CI_REGISTRY.
    let vars = format!(
        "  CI_REGISTRY: {}\n  CI_REGISTRY_USER: {USER}\n  CI_REGISTRY_PASSWORD: {}",
        registry.host, registry.password
    );
    assert_succeeded(
        &run(&pipeline(&image, &service, &vars), &[], None),
        &[
            "ran-in-the-private-image",
            "from $CI_REGISTRY_USER and $CI_REGISTRY_PASSWORD",
        ],
    );
}

#[test]
fn a_wrong_password_fails_naming_the_registry_never_the_password() {
    let Some((_alone, registry, image)) = start("wrong") else {
        return;
    };
    let wrong = format!("{}-but-wrong", registry.password);
    let (code, out) = run(
        &format!("job:\n  image: {image}\n  script: [echo must-not-run]\n"),
        &[("DOCKER_AUTH_CONFIG", &registry.auth_config(&wrong))],
        None,
    );
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("must-not-run\n"), "{out}");
    assert!(
        out.contains(&format!(
            "could not be pulled from registry {} with credentials from $DOCKER_AUTH_CONFIG \
             (gantry's environment): unauthorized",
            registry.host
        )),
        "{out}"
    );
    registry.assert_not_in(&out);
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{wrong}"));
    assert!(!out.contains(&wrong) && !out.contains(&auth), "{out}");
}

#[test]
fn a_credential_helper_supplies_the_login() {
    use std::os::unix::fs::PermissionsExt;
    let Some((_alone, registry, image)) = start("helped") else {
        return;
    };
    // docker-credential-test: the server on stdin, the login on stdout, as Docker's helpers.
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread -r server\n[ \"$1\" = get ] && [ \"$server\" = {host} ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"%s\"}}' \"$server\" \"$(cat {secret})\"\n",
            host = registry.host,
            secret = bin.path().join("secret").display(),
        ),
    )
    .unwrap();
    std::fs::write(bin.path().join("secret"), &registry.password).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config = serde_json::json!({"credHelpers": {&registry.host: "test"}}).to_string();
    let result = run(
        &format!("job:\n  image: {image}\n  script: [echo pulled-with-a-helper]\n"),
        &[("PATH", &path)],
        Some(&config),
    );
    assert_succeeded(
        &result,
        &["pulled-with-a-helper", "from docker-credential-test"],
    );
    registry.assert_not_in(&result.1);
}

#[test]
fn kubernetes_pods_pull_private_images_through_a_pull_secret() {
    let Some(kube) = Kube::connect() else {
        return;
    };
    let Some((_alone, registry, image)) = start("pod") else {
        return;
    };
    let kube = Held::new(kube, gate::CLUSTER.alone());
    let job = |password: &str| {
        let (_tmp, dir) = crate::support::repo(
            "private-pod",
            &format!("job:\n  image: {image}\n  script: [echo ran-in-a-private-pod]\n"),
            "pipeline",
        );
        let o = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args([
                "run",
                "--executor",
                "kubernetes",
                "--pull",
                "always",
                "--grace",
                "1",
            ])
            .arg("--kubeconfig")
            .arg(&kube.kubeconfig)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("DOCKER_CONFIG", dir.join("no-docker-config"))
            .env("DOCKER_AUTH_CONFIG", registry.auth_config(password))
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let result = job(&registry.password);
    let authenticated = format!("authenticating with the credentials for {}", registry.host);
    assert_succeeded(&result, &["ran-in-a-private-pod", &authenticated]);
    registry.assert_not_in(&result.1);
    let (code, out) = job(&format!("{}-but-wrong", registry.password));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&image), "{out}");
    registry.assert_not_in(&out);
    kube.assert_clean();
    assert_no_pull_secrets(&kube, &image);
}

/// No gantry-labelled image-pull Secret is left on the cluster.
fn assert_no_pull_secrets(kube: &Kube, image: &str) {
    let api: Api<Secret> = Api::all(kube.client.clone());
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=gantry,gantry.job");
    let start = Instant::now();
    loop {
        let left: Vec<String> = kube
            .rt
            .block_on(api.list(&lp))
            .unwrap()
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "pull secrets left behind after pulling {image}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
