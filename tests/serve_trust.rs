//! Trust under `gantry serve` (issue 26): protected refs get protected variables and
//! `CI_COMMIT_REF_PROTECTED=true`, other refs do not; a merge request from a fork (GitLab's
//! project ids, GitHub's head repository) or by an author outside `trusted_authors` waits as
//! `manual` until approved through the API, then runs without the protected variable — its
//! value in no log, artifact or API answer.

use crate::serve::github_signature;
use crate::support::serve::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The protected variable's value: not masked, so only its absence keeps it out of a log.
const SECRET_VALUE: &str = "prot3cted-v4lue-1234";

const PIPELINE: &str = r#"
show:
  rules:
    - when: always
  script:
    - echo "token=[$DEPLOY_TOKEN] plain=[$PLAIN] protected=$CI_COMMIT_REF_PROTECTED source=$CI_PIPELINE_SOURCE"
    - mkdir -p out && echo "[$DEPLOY_TOKEN]" > out/token.txt
  artifacts:
    paths: [out/]
"#;

/// A server for `src` as `group/app` with a protected `main`, a protected and a plain project
/// variable, plus `extra` settings of the repository.
fn server(tmp: &Path, src: &Path, extra: &str) -> Server {
    let vars = tmp.join("variables.yml");
    std::fs::write(
        &vars,
        format!("DEPLOY_TOKEN: {{value: {SECRET_VALUE}, protected: true}}\nPLAIN: visible\n"),
    )
    .unwrap();
    let config = tmp.join("gantry.toml");
    std::fs::write(
        &config,
        format!(
            "[[repository]]\nname = \"group/app\"\nsource = \"{}\"\nvariables_file = \"{}\"\nprotected = [\"main\", \"v*\"]\n{extra}",
            src.display(),
            vars.display()
        ),
    )
    .unwrap();
    Server::start(&tmp.join("data"), &["--config", config.to_str().unwrap()])
}

/// The `show` job's log of finished pipeline `id`, which must have succeeded.
fn show_log(server: &Server, id: i64) -> (Value, String) {
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    let log = server.log(Server::job(&p, "show")["id"].as_i64().unwrap());
    (p, log)
}

/// Every answer the API gives about pipeline `p` (the pipeline, the list, its jobs, their logs
/// and artifacts), as one text.
fn everything_about(server: &Server, p: &Value) -> String {
    let id = p["id"].as_i64().unwrap();
    let mut all = server.api(&format!("/pipelines/{id}")).to_string();
    all += &server.api("/pipelines?per_page=100").to_string();
    for j in p["jobs"].as_array().unwrap() {
        let jid = j["id"].as_i64().unwrap();
        let job = server.api(&format!("/jobs/{jid}"));
        all += &job.to_string();
        all += &server.log(jid);
        for a in job["artifacts"].as_array().unwrap() {
            let path = a["path"].as_str().unwrap();
            let r = server.get(&format!("/api/v1/jobs/{jid}/artifacts/{path}"), Some(TOKEN));
            assert_eq!(r.status, 200, "{path}");
            all += &r.text();
        }
    }
    all
}

/// A repository `app` in a temporary directory with [`PIPELINE`] on `main` and one more commit
/// on branch `name` (the checkout stays on `main`): the directory, the repository, `main`'s
/// commit and the branch's.
fn repository(name: &str) -> (tempfile::TempDir, PathBuf, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let main = repo(&src, PIPELINE);
    git(&src, &["checkout", "-q", "-b", name]);
    let sha = commit(&src, &format!("{PIPELINE}\n# {name}\n"), name);
    git(&src, &["checkout", "-q", "main"]);
    (tmp, src, main, sha)
}

#[test]
fn protected_variables_reach_protected_refs_only() {
    let (tmp, src, main, feature) = repository("feature");
    let server = server(tmp.path(), &src, "");
    let (p, log) = show_log(&server, server.push_main(ZERO, &main));
    assert!(
        log.contains(&format!(
            "token=[{SECRET_VALUE}] plain=[visible] protected=true source=push"
        )),
        "{log}"
    );
    assert_eq!(
        (p["ref_protected"].as_bool(), p["trusted"].as_bool()),
        (Some(true), Some(true))
    );
    let r = server.gitlab(
        "Push Hook",
        Some(SECRET),
        &push("group/app", "feature", ZERO, &feature),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (p, log) = show_log(&server, r.json()["id"].as_i64().unwrap());
    assert!(
        log.contains("token=[] plain=[visible] protected=false"),
        "{log}"
    );
    assert!(
        log.contains("protected variables withheld (the ref is not protected): DEPLOY_TOKEN"),
        "{log}"
    );
    assert_eq!(p["ref_protected"], false);
    let seen = everything_about(&server, &p);
    assert!(seen.contains("token.txt"), "the artifact was read: {seen}");
    assert!(!seen.contains(SECRET_VALUE), "{seen}");
}

#[test]
fn a_fork_merge_request_waits_for_approval_and_never_sees_protected_variables() {
    let (tmp, src, _, head) = repository("fork-work");
    let server = server(
        tmp.path(),
        &src,
        "privileged_dind = true\ndocker_socket = true\n",
    );
    let mr = json!({
        "object_kind": "merge_request",
        "user": {"username": "eve"},
        "project": {"path_with_namespace": "group/app"},
        "object_attributes": {"iid": 3, "id": 30, "title": "Print the secrets", "action": "open",
            "source_branch": "fork-work", "target_branch": "main", "last_commit": {"id": head},
            "source_project_id": 2, "target_project_id": 1,
            "source": {"path_with_namespace": "eve/app"}},
    });
    let r = server.gitlab("Merge Request Hook", Some(SECRET), &mr);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    // It waits: no job, status manual, and it stays so.
    std::thread::sleep(Duration::from_millis(1500));
    let p = server.api(&format!("/pipelines/{id}"));
    assert_eq!(p["status"], "manual", "{p:#}");
    assert_eq!(p["trusted"], false);
    assert!(
        p["untrusted_reason"].as_str().unwrap().contains("eve/app"),
        "{p:#}"
    );
    assert!(p["jobs"].as_array().unwrap().is_empty(), "{p:#}");
    // Approval needs the token.
    let r = request(
        &server.addr,
        "POST",
        &format!("/api/v1/pipelines/{id}/approve"),
        &[],
        b"",
    );
    assert_eq!(r.status, 401);
    let r = server.api_post(&format!("/pipelines/{id}/approve"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["approved_at"].is_string(), "{}", r.text());
    let (p, log) = show_log(&server, id);
    assert!(
        log.contains("token=[] plain=[visible] protected=false source=merge_request_event"),
        "{log}"
    );
    assert!(
        log.contains("untrusted pipeline (merge request from the fork eve/app)"),
        "{log}"
    );
    assert!(
        log.contains("denied: a privileged docker:dind, the host's Docker socket"),
        "{log}"
    );
    assert!(
        log.contains("withheld (an untrusted pipeline): DEPLOY_TOKEN"),
        "{log}"
    );
    let seen = everything_about(&server, &p);
    assert!(seen.contains("token.txt"), "the artifact was read: {seen}");
    assert!(!seen.contains(SECRET_VALUE), "{seen}");
    // Approved once; a second approval is refused.
    let r = server.api_post(&format!("/pipelines/{id}/approve"), &json!({}));
    assert_eq!(r.status, 409, "{}", r.text());
}

#[test]
fn github_fork_pull_requests_and_unlisted_authors_wait() {
    let (tmp, src, _, head) = repository("topic");
    let server = server(tmp.path(), &src, "trusted_authors = [\"alice\"]\n");
    let pr = |who: &str, head_repo: (i64, &str)| {
        json!({
            "action": "opened", "number": 5,
            "repository": {"full_name": "group/app"},
            "sender": {"login": who},
            "pull_request": {"id": 50, "title": "t", "body": "",
                "head": {"ref": "topic", "sha": head, "repo": {"id": head_repo.0, "full_name": head_repo.1}},
                "base": {"ref": "main", "sha": head, "repo": {"id": 1, "full_name": "group/app"}}},
        })
    };
    let send = |payload: &Value| {
        let body = payload.to_string();
        let sig = github_signature(body.as_bytes());
        let r = request(
            &server.addr,
            "POST",
            "/hooks/github",
            &[
                ("X-GitHub-Event", "pull_request"),
                ("X-Hub-Signature-256", &sig),
            ],
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()
    };
    let fork = send(&pr("alice", (9, "mallory/app")));
    assert_eq!(fork["status"], "manual", "{fork:#}");
    let stranger = send(&pr("mallory", (1, "group/app")));
    assert_eq!(stranger["status"], "manual", "{stranger:#}");
    let p = server.api(&format!("/pipelines/{}", stranger["id"]));
    assert!(
        p["untrusted_reason"].as_str().unwrap().contains("mallory"),
        "{p:#}"
    );
    // The same repository and a trusted author: runs at once.
    let own = send(&pr("alice", (1, "group/app")));
    show_log(&server, own["id"].as_i64().unwrap());
    // Waiting ones stay waiting, and can be canceled.
    let r = server.api_post(&format!("/pipelines/{}/cancel", fork["id"]), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        server.api(&format!("/pipelines/{}", fork["id"]))["status"],
        "canceled"
    );
    assert_eq!(
        server.api(&format!("/pipelines/{}", stranger["id"]))["status"],
        "manual"
    );
}

/// A GitLab merge request of `branch` at `sha` from the fork `eve/app`, approved; its id.
fn approved_fork_request(server: &Server, branch: &str, sha: &str) -> i64 {
    let mr = json!({
        "object_kind": "merge_request",
        "user": {"username": "eve"},
        "project": {"path_with_namespace": "group/app"},
        "object_attributes": {"iid": 4, "action": "open", "source_branch": branch,
            "target_branch": "main", "last_commit": {"id": sha},
            "source_project_id": 2, "target_project_id": 1,
            "source": {"path_with_namespace": "eve/app"}},
    });
    let r = server.gitlab("Merge Request Hook", Some(SECRET), &mr);
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (201, Some("manual")),
        "{}",
        r.text()
    );
    let id = r.json()["id"].as_i64().unwrap();
    let r = server.api_post(&format!("/pipelines/{id}/approve"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    id
}

#[test]
fn docker_dind_gets_the_hosts_socket_only_in_trusted_pipelines_where_opted_in() {
    if !crate::support::gate::docker() {
        return;
    }
    let _shared = crate::support::gate::DOCKER.shared();
    let image = crate::support::images::busybox();
    let pipeline = format!(
        "dind:\n  image: {image}\n  services: ['docker:dind']\n  rules:\n    - when: always\n  script:\n    - if [ -S /var/run/docker.sock ]; then echo socket=yes; else echo socket=no; fi\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let main = repo(&src, &pipeline);
    // The operator opted in: trusted pipelines get the socket.
    let server = server(
        tmp.path(),
        &src,
        "executor = \"docker\"\ndocker_socket = true\n",
    );
    let log_of = |id: i64| {
        let p = server.wait_done(id, 120);
        assert_eq!(p["status"], "success", "{p:#}");
        server.log(Server::job(&p, "dind")["id"].as_i64().unwrap())
    };
    let log = log_of(server.push_main(ZERO, &main));
    assert!(
        log.contains("socket passed through") && log.contains("socket=yes"),
        "{log}"
    );
    // A fork's merge request, approved: no socket, and its log says so.
    let log = log_of(approved_fork_request(&server, "main", &main));
    assert!(log.contains("socket=no"), "{log}");
    assert!(log.contains("service docker:dind not started"), "{log}");
    assert!(log.contains("denied: the host's Docker socket"), "{log}");
}

#[test]
fn an_untrusted_pipeline_is_kept_off_the_cluster_unless_the_operator_allows_it() {
    let (tmp, src, _, head) = repository("fork-work");
    // A cluster that does not exist: the refusal comes before any connection.
    let kubeconfig = tmp.path().join("operator.kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n").unwrap();
    let server = server(
        tmp.path(),
        &src,
        &format!(
            "executor = \"kubernetes\"\nkubeconfig = \"{}\"\n",
            kubeconfig.display()
        ),
    );
    let id = approved_fork_request(&server, "fork-work", &head);
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "failed", "{p:#}");
    let reason = p["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("untrusted pipeline") && reason.contains("untrusted_cluster"),
        "{reason}"
    );
    assert!(p["jobs"].as_array().unwrap().is_empty(), "{p:#}");
    // Allowed: the same pipeline, retried and approved, goes on to the (missing) cluster.
    drop(server);
    let server = self::server(
        tmp.path(),
        &src,
        &format!(
            "executor = \"kubernetes\"\nkubeconfig = \"{}\"\nuntrusted_cluster = true\n",
            kubeconfig.display()
        ),
    );
    let r = server.api_post(&format!("/pipelines/{id}/retry"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let again = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["status"], "manual", "a retry waits again");
    let r = server.api_post(&format!("/pipelines/{again}/approve"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let p = server.wait_done(again, 60);
    let reason = p["reason"].as_str().unwrap_or_default();
    assert!(!reason.contains("untrusted_cluster"), "{p:#}");
}
