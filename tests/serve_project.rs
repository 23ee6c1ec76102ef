//! `gantry serve` through the project layer, as `gantry run`: the commit's `.gantry/config.toml`
//! (one reader, located errors, `[executor]` rules), the operator's cluster and `[kubernetes]`
//! bounds a commit cannot widen, GitLab's job lifecycle (`pending` before `running`), and
//! environments (list, Stop running `on_stop`, `auto_stop_in`, kept across a restart). Shell
//! executor, no cluster: what needs one is in `tests/founding_scenario.rs`.

use crate::support::serve::*;
use serde_json::Value;
use std::path::Path;

const ONE_JOB: &str = "build:\n  script: [echo built]\n";

/// A repository whose commit carries `config` as `.gantry/config.toml`.
fn repo_with_config(dir: &Path, pipeline: &str, config: &str) -> String {
    std::fs::create_dir_all(dir.join(".gantry")).unwrap();
    std::fs::write(dir.join(".gantry/config.toml"), config).unwrap();
    repo(dir, pipeline)
}

fn failed_reason(server: &Server, sha: &str) -> String {
    let id = server.push_main(ZERO, sha);
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "failed", "{p:#}");
    p["reason"].as_str().unwrap_or_default().to_string()
}

/// An operator config serving `src` as `group/app` with a cluster and `[repository.kubernetes]`.
fn operator_config(tmp: &Path, src: &Path) -> std::path::PathBuf {
    let kubeconfig = tmp.join("operator.kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n").unwrap();
    let file = tmp.join("gantry.toml");
    std::fs::write(
        &file,
        format!(
            r#"[[repository]]
name = "group/app"
source = "{}"
executor = "shell"
kubeconfig = "{}"
kube_context = "ci"
[repository.kubernetes]
quota = {{ pods = "10" }}
[repository.kubernetes.executor]
cpu_limit = "1"
"#,
            src.display(),
            kubeconfig.display()
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_commit_cannot_name_another_cluster_or_widen_the_operators_bounds() {
    for (config, why) in [
        (
            "[kubernetes]\nkubeconfig = \"/root/.kube/config\"\n",
            "cannot name a cluster",
        ),
        (
            "[kubernetes]\ncontext = \"production\"\n",
            "cannot name a cluster",
        ),
        ("[kubernetes]\nquota = { pods = \"500\" }\n", "quota.pods"),
        ("[kubernetes]\nnetwork_policy = false\n", "network_policy"),
        ("[kubernetes.executor]\ncpu_limit = \"64\"\n", "cpu_limit"),
        (
            "[kubernetes.executor]\nservice_account = \"cluster-admin\"\n",
            "service_account",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("app");
        let sha = repo_with_config(&src, ONE_JOB, config);
        let file = operator_config(tmp.path(), &src);
        let server = Server::start(
            &tmp.path().join("data"),
            &["--config", file.to_str().unwrap()],
        );
        let reason = failed_reason(&server, &sha);
        assert!(reason.contains(why), "{config}: {reason}");
        assert!(reason.contains(".gantry/config.toml"), "{reason}");
        // Nothing ran: the job never started.
        let p = server.api("/pipelines?repository=group/app");
        let id = p["pipelines"][0]["id"].as_i64().unwrap();
        let jobs = server.api(&format!("/pipelines/{id}"))["jobs"].clone();
        assert_eq!(jobs.as_array().map_or(0, Vec::len), 0, "{jobs:#}");
    }
}

#[test]
fn a_misspelt_table_fails_the_served_pipeline_with_its_location() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo_with_config(&src, ONE_JOB, "[components]\n\n[executer]\nrules = []\n");
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let reason = failed_reason(&server, &sha);
    assert!(reason.contains("config.toml:3:"), "{reason}");
    assert!(reason.contains("executer"), "{reason}");
}

#[test]
fn executor_rules_of_the_commit_apply_and_jobs_are_pending_before_running() {
    // Under `auto`, a rule sends the image job to the shell: no Docker engine is needed.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo_with_config(
        &src,
        "build:\n  image: alpine:3\n  tags: [local]\n  script: [echo in the shell]\n",
        "[executor]\nrules = [{ tags = [\"local\"], executor = \"shell\" }]\n",
    );
    let server = Server::for_repo(tmp.path(), &src, &["--executor", "auto"]);
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}\n{}", server.stderr());
    let job = Server::job(&p, "build");
    let log = server.log(job["id"].as_i64().unwrap());
    assert!(log.contains("in the shell"), "{log}");
    let jid = job["id"].clone();
    let seen: Vec<&str> = p["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["job_id"] == jid)
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert_eq!(seen, ["created", "pending", "running", "success"], "{p:#}");
}

const ENVIRONMENTS: &str = r#"
stages: [deploy, cleanup]
deploy:
  stage: deploy
  script: [echo deploying]
  environment:
    name: review/main
    url: https://main.review.example.com
    on_stop: stop_review
    auto_stop_in: 1 hour
stop_review:
  stage: cleanup
  script: [echo stopping review]
  when: manual
  environment:
    name: review/main
    action: stop
short:
  stage: deploy
  script: [echo short-lived]
  environment:
    name: short
    on_stop: stop_short
    auto_stop_in: 2 seconds
stop_short:
  stage: cleanup
  script: [echo stopping short]
  when: manual
  environment:
    name: short
    action: stop
"#;

fn environments(server: &Server) -> Vec<Value> {
    server
        .api("/environments?repository=group/app")
        .as_array()
        .unwrap()
        .clone()
}

fn env_named<'a>(envs: &'a [Value], name: &str) -> &'a Value {
    envs.iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no environment {name}: {envs:#?}"))
}

fn wait_state(server: &Server, name: &str, state: &str, secs: u64) -> Value {
    server.poll(secs, || {
        let e = env_named(&environments(server), name).clone();
        match e["state"] == state {
            true => Ok(e),
            false => Err(format!("{name} never became {state}: {e:#}")),
        }
    })
}

#[test]
fn environments_are_listed_stopped_by_their_on_stop_job_and_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, ENVIRONMENTS);
    let mut server = Server::for_repo(tmp.path(), &src, &[]);
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    let envs = environments(&server);
    let review = env_named(&envs, "review/main");
    assert_eq!(review["state"], "available", "{review:#}");
    assert_eq!(review["pipeline_id"], id);
    assert_eq!(review["sha"], sha);
    assert_eq!(review["url"], "https://main.review.example.com");
    assert!(review["namespace"].is_null(), "no cluster, no namespace");
    assert!(review["auto_stop_at"].as_str().is_some(), "{review:#}");
    // `auto_stop_in: 2 seconds`: the server stops it by itself, running its on_stop job.
    let short = wait_state(&server, "short", "stopped", 60);
    assert_eq!(short["name"], "short");
    // A restart keeps what is there.
    assert!(server.terminate(30));
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let envs = environments(&server);
    assert_eq!(env_named(&envs, "review/main")["state"], "available");
    assert_eq!(env_named(&envs, "short")["state"], "stopped");
    // Stop runs `stop_review` for the deploying commit.
    let eid = env_named(&envs, "review/main")["id"].as_i64().unwrap();
    let r = server.api_post(&format!("/environments/{eid}/stop"), &Value::Null);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        ["stopping", "stopped"].contains(&r.json()["state"].as_str().unwrap()),
        "{}",
        r.text()
    );
    wait_state(&server, "review/main", "stopped", 60);
    let stop = server.pipeline_of_job("group/app", "stop_review");
    assert_eq!(stop["sha"], sha);
    let stop = server.wait_done(stop["id"].as_i64().unwrap(), 60);
    assert_eq!(
        stop["jobs"].as_array().map(Vec::len),
        Some(1),
        "the stop job runs alone, nothing is redeployed: {stop:#}"
    );
    assert_eq!(
        env_named(&environments(&server), "review/main")["pipeline_id"],
        id,
        "still deployed by the first pipeline"
    );
    let job = Server::job(&stop, "stop_review");
    assert!(
        server
            .log(job["id"].as_i64().unwrap())
            .contains("stopping review")
    );
    // Stopping it again is a conflict; an unknown one is 404.
    let again = server.api_post(&format!("/environments/{eid}/stop"), &Value::Null);
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(
        server
            .api_post("/environments/9999/stop", &Value::Null)
            .status,
        404
    );
}
