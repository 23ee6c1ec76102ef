//! Environments without a cluster: off unless named, and a named cluster that cannot be used
//! stops the run before any job starts.

use crate::support::{gantry, repo};
use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const PIPELINE: &str = "\
deploy:
  environment:
    name: review/$CI_COMMIT_REF_SLUG
    kubernetes:
      namespace: should-not-exist
  script:
    - echo \"token=[${KUBE_TOKEN:-none}] kubeconfig=[${KUBECONFIG:-none}]\"
    - touch \"$MARKER\"
";

/// A TCP listener counting the connections it receives.
fn recorder() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            c.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
        }
    });
    (addr, count)
}

fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{server}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: abc\ncontexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\ncurrent-context: ctx\n"
    )
}

#[test]
fn without_cluster_options_no_request_reaches_any_cluster_and_jobs_run_as_before() {
    let (addr, connections) = recorder();
    let (tmp, dir) = repo("envless", PIPELINE, "init");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".kube")).unwrap();
    std::fs::write(home.join(".kube/config"), kubeconfig(&addr)).unwrap();
    std::fs::write(tmp.path().join("ambient"), kubeconfig(&addr)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["run", "--executor", "shell", "--var"])
        .arg(format!(
            "MARKER={}",
            tmp.path().join("ran-deploy").display()
        ))
        .current_dir(&dir)
        .env("KUBECONFIG", tmp.path().join("ambient"))
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The job's own environment is untouched: KUBECONFIG is the ambient one it inherited.
    assert!(stdout.contains("token=[none]"), "{stdout}");
    assert!(
        tmp.path().join("ran-deploy").exists(),
        "the job did not run"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "gantry contacted a cluster"
    );
    // gc and plan also stay away from it.
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["gc"])
        .current_dir(&dir)
        .env("KUBECONFIG", tmp.path().join("ambient"))
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "gc contacted a cluster"
    );
}

#[test]
fn a_named_cluster_that_does_not_answer_stops_the_run_before_any_job() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stderr = stopped_before_any_job("unreachable", &format!("127.0.0.1:{port}"), &[]);
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(stderr.contains(&port.to_string()), "{stderr}");
}

/// `gantry run --executor shell ARGS` of [`PIPELINE`] in a new repository `name`, with a
/// kubeconfig naming the API server at `server`, which must stop the run (exit code 2) before
/// its job: gantry's stderr.
fn stopped_before_any_job(name: &str, server: &str, args: &[&str]) -> String {
    let (tmp, dir) = repo(name, PIPELINE, "init");
    let config = tmp.path().join("kubeconfig");
    std::fs::write(&config, kubeconfig(server)).unwrap();
    let marker = tmp.path().join("ran-deploy");
    let marker_var = format!("MARKER={}", marker.display());
    let mut all = vec![
        "run",
        "--executor",
        "shell",
        "--kubeconfig",
        config.to_str().unwrap(),
        "--var",
        marker_var.as_str(),
    ];
    all.extend_from_slice(args);
    let (code, out, err) = gantry(&dir, &all);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!marker.exists(), "a job ran");
    err
}

#[test]
fn a_context_missing_from_the_kubeconfig_is_a_clear_error() {
    let stderr = stopped_before_any_job("nocontext", "127.0.0.1:1", &["--kube-context", "nope"]);
    assert!(stderr.contains("nope"), "{stderr}");
}

#[test]
fn plan_shows_which_jobs_get_which_namespace() {
    let pipeline = "\
variables:
  TEAM: Shop
deploy:
  environment:
    name: review/$CI_COMMIT_REF_SLUG
  script: [echo]
pinned:
  environment:
    name: staging
    kubernetes:
      namespace: ${TEAM}-staging
  script: [echo]
plain:
  script: [echo]
";
    let (_tmp, dir) = repo("My_Project", pipeline, "init");
    let sha = crate::support::git(&dir, &["rev-parse", "--short=8", "HEAD"]);
    let (code, out, err) = gantry(&dir, &["plan", "--ref", "feature/X"]);
    assert_eq!(code, 0, "{err}");
    let expected = format!("namespace my-project-feature-x-{sha}-1");
    assert!(out.contains(&expected), "{out}");
    assert!(out.contains("namespace shop-staging"), "{out}");
    let (_, json, _) = gantry(&dir, &["plan", "--ref", "feature/X", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ns: Vec<Option<&str>> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["environment"]["kube_namespace"].as_str())
        .collect();
    assert_eq!(
        ns,
        [
            Some(format!("my-project-feature-x-{sha}-1").as_str()),
            Some("shop-staging"),
            None
        ]
    );
}
