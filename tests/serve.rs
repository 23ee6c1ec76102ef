//! `gantry serve` over real HTTP with the shell executor: webhooks, the API, the queue's limits,
//! cancel and auto-cancel, restart after a crash, and the security rules.

use crate::support::serve::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TWO_JOBS: &str = r#"
stages: [build, test]
build:
  stage: build
  script:
    - echo "built $CI_COMMIT_REF_NAME from $CI_PIPELINE_SOURCE by $GITLAB_USER_LOGIN"
    - printf '\033[31mred\033[0m\n'
test:
  stage: test
  needs: [build]
  script:
    - echo "tested $CI_COMMIT_SHORT_SHA before $CI_COMMIT_BEFORE_SHA"
"#;

#[test]
fn a_gitlab_push_runs_the_pipeline_and_its_log_is_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, TWO_JOBS);
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let r = server.gitlab(
        "Push Hook",
        Some(SECRET),
        &push("group/app", "main", ZERO, &sha),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_i64().unwrap();
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    assert_eq!(p["sha"], sha);
    assert_eq!(p["source"], "push");
    for field in ["created_at", "started_at", "finished_at"] {
        assert!(
            p[field].as_str().is_some_and(|t| t.ends_with('Z')),
            "{field}: {p:#}"
        );
    }
    let build = Server::job(&p, "build");
    let test = Server::job(&p, "test");
    assert_eq!(test["needs"], json!(["build"]));
    assert_eq!(build["stage"], "build");
    let log = server.log(build["id"].as_i64().unwrap());
    assert!(log.contains("built main from push by alice"), "{log}");
    assert!(
        log.contains("\x1b[31mred\x1b[0m"),
        "colours are kept for the UI: {log:?}"
    );
    let tlog = server.log(test["id"].as_i64().unwrap());
    assert!(tlog.contains(&format!("tested {}", &sha[..8])), "{tlog}");
    // offset reads the rest
    let r = server.get(
        &format!("/api/v1/jobs/{}/log?offset=10", build["id"]),
        Some(TOKEN),
    );
    assert_eq!(r.text(), log[10..]);
    assert_eq!(r.header("x-log-size"), Some(log.len().to_string().as_str()));
    // the list shows it
    let list = server.api("/pipelines?repository=group/app&ref=main&status=success");
    assert_eq!(list["total"], 1);
    assert_eq!(list["pipelines"][0]["id"], id);
    assert_eq!(server.api("/pipelines?status=failed")["total"], 0);
    let metrics = server.get("/metrics", None).text();
    assert!(
        metrics.contains("gantry_webhooks_total{forge=\"gitlab\",result=\"queued\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gantry_pipelines_total{status=\"success\"} 1"),
        "{metrics}"
    );
}

pub(crate) fn github_signature(body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[test]
fn wrong_token_or_bad_signature_is_401_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, TWO_JOBS);
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let payload = push("group/app", "main", ZERO, &sha);
    assert_eq!(
        server.gitlab("Push Hook", Some("wrong"), &payload).status,
        401
    );
    assert_eq!(server.gitlab("Push Hook", None, &payload).status, 401);
    assert_eq!(
        server
            .gitlab("Push Hook", Some(&format!("{SECRET}x")), &payload)
            .status,
        401
    );
    let gh = json!({"ref": "refs/heads/main", "before": ZERO, "after": sha, "repository": {"full_name": "group/app"}, "sender": {"login": "bob"}});
    let body = gh.to_string();
    let bad = github_signature(b"something else");
    for sig in [Some(bad.as_str()), Some("sha256=zz"), None] {
        let mut h = vec![("X-GitHub-Event", "push")];
        if let Some(s) = sig {
            h.push(("X-Hub-Signature-256", s));
        }
        let r = request(&server.addr, "POST", "/hooks/github", &h, body.as_bytes());
        assert_eq!(r.status, 401, "{sig:?}: {}", r.text());
    }
    assert_eq!(server.count(), 0, "no pipeline row after refused webhooks");
    // The right signature is accepted and the pipeline runs as a push.
    let good = github_signature(body.as_bytes());
    let r = request(
        &server.addr,
        "POST",
        "/hooks/github",
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &good)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let p = server.wait_done(r.json()["id"].as_i64().unwrap(), 60);
    assert_eq!(p["status"], "success");
    let log = server.log(Server::job(&p, "build")["id"].as_i64().unwrap());
    assert!(log.contains("built main from push by bob"), "{log}");
    let metrics = server.get("/metrics", None).text();
    assert!(
        metrics.contains("gantry_webhooks_total{forge=\"gitlab\",result=\"unauthorized\"} 3"),
        "{metrics}"
    );
}

#[test]
fn malformed_payloads_are_400_unknown_repositories_404_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, TWO_JOBS);
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let h = [("X-Gitlab-Token", SECRET), ("X-Gitlab-Event", "Push Hook")];
    let r = request(&server.addr, "POST", "/hooks/gitlab", &h, b"{not json");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("not JSON"));
    let mut no_sha = push("group/app", "main", ZERO, "nope");
    no_sha["checkout_sha"] = Value::Null;
    let r = server.gitlab("Push Hook", Some(SECRET), &no_sha);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = server.gitlab(
        "Push Hook",
        Some(SECRET),
        &push("group/app", "-x", ZERO, &sha),
    );
    assert_eq!(r.status, 400, "option-like ref refused: {}", r.text());
    let r = server.gitlab(
        "Push Hook",
        Some(SECRET),
        &push("group/other", "main", ZERO, &sha),
    );
    assert_eq!(r.status, 404);
    // API trigger: bad bodies, unknown repository, unknown ref
    for (body, status) in [
        (json!({"ref": "main"}), 400),
        (
            json!({"repository": "group/app", "ref": "main", "extra": 1}),
            400,
        ),
        (
            json!({"repository": "group/app", "ref": "main", "variables": {"BAD NAME": "x"}}),
            400,
        ),
        (json!({"repository": "group/nope", "ref": "main"}), 404),
        (
            json!({"repository": "group/app", "ref": "no-such-branch"}),
            400,
        ),
    ] {
        let r = server.api_post("/pipelines", &body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(server.count(), 0);
    // a valid API trigger runs with source `api` and its variables
    let src_yml = "job:\n  script:\n    - echo \"source=$CI_PIPELINE_SOURCE greeting=$GREETING\"\n";
    commit(&src, src_yml, "api pipeline");
    let r = server.api_post(
        "/pipelines",
        &json!({"repository": "group/app", "ref": "main", "variables": {"GREETING": "hi there"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let p = server.wait_done(r.json()["id"].as_i64().unwrap(), 60);
    assert_eq!(
        (p["status"].as_str(), p["source"].as_str()),
        (Some("success"), Some("api"))
    );
    let log = server.log(Server::job(&p, "job")["id"].as_i64().unwrap());
    assert!(log.contains("source=api greeting=hi there"), "{log}");
}

#[test]
fn twenty_queued_pipelines_respect_global_and_per_repository_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let yml = "job:\n  script:\n    - sleep 0.4\n";
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    repo(&a, yml);
    repo(&b, yml);
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "--repo",
            &format!("g/a={}", a.display()),
            "--repo",
            &format!("g/b={}", b.display()),
            "--concurrency",
            "3",
            "--repo-concurrency",
            "2",
        ],
    );
    let mut ids = Vec::new();
    for i in 0..20 {
        let repo = if i % 2 == 0 { "g/a" } else { "g/b" };
        let r = server.api_post("/pipelines", &json!({"repository": repo, "ref": "main"}));
        assert_eq!(r.status, 201, "{}", r.text());
        ids.push(r.json()["id"].as_i64().unwrap());
    }
    let done: Vec<Value> = ids.iter().map(|id| server.wait_done(*id, 120)).collect();
    let ms = |p: &Value, k: &str| -> i64 {
        let t = p[k].as_str().unwrap();
        // 2026-11-28T04:08:07.331Z → ms of the day (runs within one day)
        let (d, h, m, s) = (&t[8..10], &t[11..13], &t[14..16], &t[17..23]);
        (d.parse::<i64>().unwrap() * 86_400
            + h.parse::<i64>().unwrap() * 3600
            + m.parse::<i64>().unwrap() * 60)
            * 1000
            + (s.parse::<f64>().unwrap() * 1000.0) as i64
    };
    let mut events: Vec<(i64, i32, String)> = Vec::new();
    for p in &done {
        assert_eq!(p["status"], "success", "{p:#}");
        let repo = p["repository"].as_str().unwrap().to_string();
        events.push((ms(p, "started_at"), 1, repo.clone()));
        events.push((ms(p, "finished_at"), -1, repo));
    }
    events.sort_by_key(|(t, d, _)| (*t, *d));
    let (mut all, mut peak) = (0, 0);
    let mut per: std::collections::HashMap<String, (i32, i32)> = Default::default();
    for (_, d, repo) in &events {
        all += d;
        peak = peak.max(all);
        let e = per.entry(repo.clone()).or_default();
        e.0 += d;
        e.1 = e.1.max(e.0);
        assert!(all <= 3, "more than 3 pipelines at once");
        assert!(e.0 <= 2, "more than 2 pipelines of {repo} at once");
    }
    assert!(peak >= 2, "pipelines did run concurrently (peak {peak})");
    let metrics = server.get("/metrics", None).text();
    assert!(
        metrics.contains("gantry_queue_latency_seconds_count 20"),
        "{metrics}"
    );
}

const CANCELABLE: &str = r#"
stages: [work, cleanup]
long:
  stage: work
  script:
    - echo started-long
    - sleep 30
    - echo never-printed
cleanup:
  stage: cleanup
  when: always
  script:
    - echo cleanup-ran
"#;

#[test]
fn cancel_stops_the_running_job_and_still_runs_the_always_job() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, CANCELABLE);
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_job_log(id, "long", "started-long");
    let long = Server::job(&p, "long")["id"].as_i64().unwrap();
    let started = Instant::now();
    let r = server.api_post(&format!("/pipelines/{id}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let p = server.wait_done(id, 30);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cancel did not stop the sleep"
    );
    assert_eq!(p["status"], "canceled", "{p:#}");
    assert_eq!(p["reason"], "canceled by a user");
    assert_eq!(Server::job(&p, "long")["status"], "canceled");
    let cleanup = Server::job(&p, "cleanup");
    assert_eq!(cleanup["status"], "success", "{p:#}");
    assert!(
        server
            .log(cleanup["id"].as_i64().unwrap())
            .contains("cleanup-ran")
    );
    assert!(!server.log(long).contains("never-printed"));
    // a finished pipeline cannot be canceled again; retry makes a new one
    assert_eq!(
        server
            .api_post(&format!("/pipelines/{id}/cancel"), &json!({}))
            .status,
        409
    );
    let r = server.api_post(&format!("/pipelines/{id}/retry"), &json!({}));
    assert_eq!(r.status, 201);
    let retry = r.json();
    assert_eq!(
        (retry["retried_from"].as_i64(), retry["sha"].as_str()),
        (Some(id), Some(sha.as_str()))
    );
    let rid = retry["id"].as_i64().unwrap();
    server.wait_pipeline(rid, 60, |p| p["status"] == "running");
    server.api_post(&format!("/pipelines/{rid}/cancel"), &json!({}));
    assert_eq!(server.wait_done(rid, 30)["status"], "canceled");
}

const INTERRUPTIBLE: &str = r#"
slow:
  interruptible: true
  script:
    - echo slow-started
    - sleep 30
"#;

// Issue 21, finding 1: a symlink in the repository made the server read a file outside the
// checkout and quote it in the pipeline's `reason`.
#[test]
fn a_symlink_out_of_the_checkout_is_refused_and_its_target_never_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let secret_dir = tmp.path().join("server-files");
    std::fs::create_dir_all(&secret_dir).unwrap();
    // Not YAML a pipeline could use: an error quoting it would show the "token".
    std::fs::write(secret_dir.join("kubeconfig.yml"), "token: [SECRET-4711\n").unwrap();
    let src = tmp.path().join("app");
    std::fs::create_dir_all(&src).unwrap();
    git(&src, &["init", "-q", "-b", "main"]);
    std::os::unix::fs::symlink(secret_dir.join("kubeconfig.yml"), src.join("leak.yml")).unwrap();
    std::os::unix::fs::symlink(&secret_dir, src.join("conf")).unwrap();
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let mut before = ZERO.to_string();
    for include in ["leak.yml", "conf/kubeconfig.yml", "conf/*.yml"] {
        let sha = commit(
            &src,
            &format!("include: [{{local: '{include}'}}]\njob: {{script: [echo]}}\n"),
            include,
        );
        let id = server.push_main(&before, &sha);
        before = sha;
        let p = server.wait_done(id, 60);
        assert_eq!(p["status"], "failed", "{include}: {p:#}");
        let reason = p["reason"].as_str().unwrap_or_default();
        crate::support::checks::refused_quietly(include, reason, "SECRET");
    }
}

// Issue 21, finding 4: a push repeating the current commit canceled its waiting API pipeline.
#[test]
fn a_push_of_the_same_commit_supersedes_no_pipeline_of_that_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let ci = "slow:\n  interruptible: true\n  script:\n    - echo started-$DEPLOY\n    - sleep 1\n";
    let sha = repo(&src, ci);
    let server = Server::for_repo(tmp.path(), &src, &["--repo-concurrency", "1"]);
    let api = |deploy: &str| {
        let body =
            json!({"repository": "group/app", "ref": "main", "variables": {"DEPLOY": deploy}});
        let r = server.api_post("/pipelines", &body);
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["id"].as_i64().unwrap()
    };
    let running = api("1");
    server.wait_job_log(running, "slow", "started-1");
    let waiting = api("2");
    let pushed = server.push_main(ZERO, &sha);
    for id in [running, waiting, pushed] {
        let p = server.wait_done(id, 60);
        assert_eq!(p["status"], "success", "pipeline {id}: {p:#}");
        assert_eq!(p["sha"], sha.as_str());
    }
}

#[test]
fn a_second_push_to_the_same_ref_auto_cancels_the_first_pipelines_interruptible_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let first = repo(&src, INTERRUPTIBLE);
    let server = Server::for_repo(tmp.path(), &src, &["--repo-concurrency", "2"]);
    let a = server.push_main(ZERO, &first);
    server.wait_job_log(a, "slow", "slow-started");
    let second = commit(
        &src,
        &INTERRUPTIBLE.replace("sleep 30", "sleep 0.1"),
        "second",
    );
    let b = server.push_main(&first, &second);
    let pa = server.wait_done(a, 30);
    assert_eq!(pa["status"], "canceled", "{pa:#}");
    assert_eq!(pa["reason"], format!("superseded by pipeline #{b}"));
    assert_eq!(Server::job(&pa, "slow")["status"], "canceled");
    let pb = server.wait_done(b, 60);
    assert_eq!(pb["status"], "success", "{pb:#}");
    // A pipeline whose running job is not interruptible is left alone.
    let third = commit(
        &src,
        "keep:\n  script:\n    - echo keep-started\n    - sleep 1.5\n",
        "third",
    );
    let c = server.push_main(&second, &third);
    server.wait_job_log(c, "keep", "keep-started");
    let fourth = commit(&src, "keep:\n  script: [echo fourth]\n", "fourth");
    let d = server.push_main(&third, &fourth);
    assert_eq!(server.wait_done(c, 60)["status"], "success");
    assert_eq!(server.wait_done(d, 60)["status"], "success");
}

#[test]
fn killed_mid_pipeline_the_restarted_server_marks_it_interrupted_and_keeps_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let pidfile = tmp.path().join("job.pid");
    let yml = format!(
        "first:\n  stage: build\n  script: [echo first-done]\nsecond:\n  stage: test\n  script:\n    - echo $$ > {}\n    - echo before-kill\n    - sleep 60\n",
        pidfile.display()
    );
    let sha = repo(&src, &yml);
    let data = tmp.path().join("data");
    let args = ["--repo".to_string(), format!("group/app={}", src.display())];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::start(&data, &args);
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_pipeline(id, 60, |p| {
        p["jobs"].as_array().is_some_and(|j| !j.is_empty())
    });
    let second = Server::job(&p, "second")["id"].as_i64().unwrap();
    let first = Server::job(&p, "first")["id"].as_i64().unwrap();
    server.wait_log(second, "before-kill");
    std::thread::sleep(Duration::from_millis(600)); // past a log flush
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let restarted = Server::start(&data, &args);
    let p = restarted.interrupted(id);
    assert_eq!(Server::job(&p, "first")["status"], "success");
    assert_eq!(Server::job(&p, "second")["status"], "failed");
    assert!(restarted.log(first).contains("first-done"));
    assert!(restarted.log(second).contains("before-kill"));
    let words: Vec<&str> = p["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["job_id"].is_null())
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["pending", "running", "failed"]);
    assert!(
        !data.join("work").join(id.to_string()).exists(),
        "the interrupted checkout is removed"
    );
    // The orphaned shell job (its own process group) was stopped by the restart.
    let pgid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while unsafe { libc::kill(-pgid, 0) } == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive = unsafe { libc::kill(-pgid, 0) } == 0;
    if alive {
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    assert!(
        !alive,
        "the interrupted pipeline's shell job (group {pgid}) is still running"
    );
}

#[test]
fn every_api_route_needs_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    repo(&src, TWO_JOBS);
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let routes = [
        ("GET", "/api/v1/pipelines"),
        ("POST", "/api/v1/pipelines"),
        ("GET", "/api/v1/pipelines/1"),
        ("POST", "/api/v1/pipelines/1/cancel"),
        ("POST", "/api/v1/pipelines/1/retry"),
        ("GET", "/api/v1/jobs/1"),
        ("GET", "/api/v1/jobs/1/log"),
        ("GET", "/api/v1/jobs/1/log/stream"),
        ("POST", "/api/v1/jobs/1/retry"),
        ("GET", "/api/v1/jobs/1/artifacts/x.txt"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/repositories"),
        ("GET", "/api/v1/no-such-route"),
    ];
    for (method, path) in routes {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Basic dGVzdA=="),
            Some("Bearer "),
        ] {
            let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
            let r = request(&server.addr, method, path, &h, b"{}");
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}: {}", r.text());
        }
        let cookie = [("Cookie", "gantry_session=forged")];
        assert_eq!(
            request(&server.addr, method, path, &cookie, b"{}").status,
            401,
            "{method} {path} with a forged session"
        );
    }
    assert_eq!(server.count(), 0);
    // The OpenAPI document is public and names the routes.
    let doc = server.get("/api/v1/openapi.json", None);
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/jobs/{id}/log"].is_object());
    assert!(doc["paths"]["/runners"].is_object());
    // UI login: a wrong token is refused; the right one gets an HttpOnly, SameSite session.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(
        request(&server.addr, "POST", "/login", &form, b"token=nope").status,
        401
    );
    let r = request(
        &server.addr,
        "POST",
        "/login",
        &form,
        format!("token={TOKEN}").as_bytes(),
    );
    assert_eq!(r.status, 303);
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap();
    let r = request(
        &server.addr,
        "GET",
        "/api/v1/pipelines",
        &[("Cookie", session)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        request(&server.addr, "GET", "/", &[("Cookie", session)], b"").status,
        200
    );
    assert_eq!(
        server.get("/", None).status,
        303,
        "the UI redirects to the login page"
    );
}

#[test]
fn path_traversal_is_refused_and_artifacts_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let yml = "make:\n  script: [mkdir -p out, echo artifact-body > out/file.txt]\n  artifacts:\n    paths: [out/]\n";
    let sha = repo(&src, yml);
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    let job = Server::job(&p, "make")["id"].as_i64().unwrap();
    let j = server.api(&format!("/jobs/{job}"));
    assert_eq!(j["artifacts"][0]["path"], "out/file.txt", "{j:#}");
    let r = server.get(
        &format!("/api/v1/jobs/{job}/artifacts/out/file.txt"),
        Some(TOKEN),
    );
    assert_eq!((r.status, r.text().as_str()), (200, "artifact-body\n"));
    for path in [
        format!("/api/v1/jobs/{job}/artifacts/../../../../etc/passwd"),
        format!("/api/v1/jobs/{job}/artifacts/..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        format!("/api/v1/jobs/{job}/artifacts/out/..%2F..%2F..%2Fgantry.db"),
        format!("/api/v1/jobs/{job}/artifacts/%2Fetc%2Fpasswd"),
        "/api/v1/jobs/..%2F..%2Fetc%2Fpasswd/log".to_string(),
        "/api/v1/jobs/1%2F..%2F2/log".to_string(),
    ] {
        let r = server.get(&path, Some(TOKEN));
        assert!(
            matches!(r.status, 400 | 404),
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("root:"), "{path} leaked a file");
        assert!(!r.text().contains("SQLite"), "{path} leaked the database");
    }
}

#[test]
fn payloads_over_the_size_limit_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, TWO_JOBS);
    let server = Server::for_repo(tmp.path(), &src, &["--max-body", "4096"]);
    let mut big = push("group/app", "main", ZERO, &sha);
    big["padding"] = json!("x".repeat(10_000));
    let r = server.gitlab("Push Hook", Some(SECRET), &big);
    assert_eq!(r.status, 413, "{}", r.text());
    let auth = format!("Bearer {TOKEN}");
    let body =
        json!({"repository": "group/app", "ref": "main", "variables": {"BIG": "y".repeat(10_000)}})
            .to_string();
    let r = request(
        &server.addr,
        "POST",
        "/api/v1/pipelines",
        &[("Authorization", &auth)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 413);
    assert_eq!(server.count(), 0);
    // under the limit it works
    assert_eq!(
        server
            .gitlab(
                "Push Hook",
                Some(SECRET),
                &push("group/app", "main", ZERO, &sha)
            )
            .status,
        201
    );
}

#[test]
fn merge_request_and_tag_webhooks_set_gitlabs_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let yml = r#"
mr:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script:
    - echo "mr=$CI_MERGE_REQUEST_IID $CI_MERGE_REQUEST_SOURCE_BRANCH_NAME->$CI_MERGE_REQUEST_TARGET_BRANCH_NAME title=$CI_MERGE_REQUEST_TITLE"
tag:
  rules:
    - if: $CI_COMMIT_TAG
  script:
    - echo "tag=$CI_COMMIT_TAG"
"#;
    repo(&src, yml);
    git(&src, &["checkout", "-q", "-b", "feature"]);
    let feature = commit(&src, &format!("{yml}\n# feature\n"), "feature work");
    git(&src, &["tag", "v1.0", &feature]);
    git(&src, &["checkout", "-q", "main"]);
    let server = Server::for_repo(tmp.path(), &src, &["--repo-concurrency", "2"]);
    let mr = json!({
        "object_kind": "merge_request",
        "user": {"username": "carol"},
        "project": {"path_with_namespace": "group/app"},
        "object_attributes": {"iid": 7, "id": 70, "title": "Add things", "action": "open",
            "source_project_id": 1, "target_project_id": 1,
            "source_branch": "feature", "target_branch": "main", "last_commit": {"id": feature}},
    });
    let r = server.gitlab("Merge Request Hook", Some(SECRET), &mr);
    assert_eq!(r.status, 201, "{}", r.text());
    let p = server.wait_done(r.json()["id"].as_i64().unwrap(), 60);
    assert_eq!(
        (p["status"].as_str(), p["source"].as_str()),
        (Some("success"), Some("merge_request_event")),
        "{p:#}"
    );
    assert_eq!(p["jobs"].as_array().unwrap().len(), 1);
    let log = server.log(Server::job(&p, "mr")["id"].as_i64().unwrap());
    assert!(log.contains("mr=7 feature->main title=Add things"), "{log}");
    let mut closed = mr.clone();
    closed["object_attributes"]["action"] = json!("close");
    let r = server.gitlab("Merge Request Hook", Some(SECRET), &closed);
    assert_eq!(r.status, 200);
    assert!(r.json()["ignored"].is_string());
    let tag = json!({"object_kind": "tag_push", "ref": "refs/tags/v1.0", "before": ZERO, "after": feature, "checkout_sha": feature, "project": {"path_with_namespace": "group/app"}});
    let r = server.gitlab("Tag Push Hook", Some(SECRET), &tag);
    assert_eq!(r.status, 201, "{}", r.text());
    let p = server.wait_done(r.json()["id"].as_i64().unwrap(), 60);
    assert_eq!(p["status"], "success", "{p:#}");
    let log = server.log(Server::job(&p, "tag")["id"].as_i64().unwrap());
    assert!(log.contains("tag=v1.0"), "{log}");
}

#[test]
fn the_watcher_starts_a_pipeline_for_a_new_commit_and_logs_are_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    repo(&src, "quiet:\n  script: [echo first]\n");
    let server = Server::for_repo(
        tmp.path(),
        &src,
        &[
            "--watch",
            "main",
            "--watch-interval",
            "1",
            "--log-limit",
            "2000",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500)); // the first look only records the head
    assert_eq!(server.count(), 0);
    let sha = commit(
        &src,
        "loud:\n  script:\n    - for i in $(seq 1 500); do echo line-$i; done\n",
        "loud",
    );
    let end = Instant::now() + Duration::from_secs(30);
    while server.count() == 0 {
        assert!(Instant::now() < end, "the watcher never started a pipeline");
        std::thread::sleep(Duration::from_millis(200));
    }
    let id = server.api("/pipelines")["pipelines"][0]["id"]
        .as_i64()
        .unwrap();
    let p = server.wait_done(id, 60);
    assert_eq!(
        (
            p["status"].as_str(),
            p["sha"].as_str(),
            p["source"].as_str()
        ),
        (Some("success"), Some(sha.as_str()), Some("push"))
    );
    let job = Server::job(&p, "loud");
    let log = server.log(job["id"].as_i64().unwrap());
    assert!(log.len() <= 2100, "capped: {}", log.len());
    assert!(log.contains("line-1\n"));
    assert!(!log.contains("line-500"));
    assert!(
        log.trim_end()
            .ends_with("[gantry: log truncated: this job's log exceeded the 2000-byte limit]"),
        "{log}"
    );
    assert_eq!(
        server.api(&format!("/jobs/{}", job["id"]))["log_truncated"],
        true
    );
}

#[test]
fn sigterm_stops_accepting_and_cancels_running_pipelines_after_the_grace() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, CANCELABLE);
    let mut server = Server::for_repo(tmp.path(), &src, &["--shutdown-grace", "1"]);
    let id = server.push_main(ZERO, &sha);
    server.wait_job_log(id, "long", "started-long");
    // A second pipeline waits behind it (one slot per repository) and survives the shutdown.
    let waiting = server.api_post(
        "/pipelines",
        &json!({"repository": "group/app", "ref": "main", "variables": {"QUICK": "1"}}),
    );
    assert_eq!(waiting.status, 201);
    let waiting = waiting.json()["id"].as_i64().unwrap();
    assert!(
        server.terminate(20),
        "the server stopped within the grace and the cleanup: {}",
        server.stderr()
    );
    let data = server.data.clone();
    drop(server);
    let again = Server::start(&data, &["--repo", &format!("group/app={}", src.display())]);
    let p = again.api(&format!("/pipelines/{id}"));
    assert_eq!(p["status"], "canceled", "{p:#}");
    assert_eq!(p["reason"], "canceled: the server shut down");
    // The waiting pipeline was kept and starts after the restart.
    let w = again.wait_pipeline(waiting, 60, |p| p["status"] != "pending");
    assert_ne!(w["status"], "canceled", "{w:#}");
    again.api_post(&format!("/pipelines/{waiting}/cancel"), &json!({}));
    again.wait_done(waiting, 30);
    assert_eq!(
        Server::job(&p, "cleanup")["status"],
        "success",
        "the when: always job ran during shutdown"
    );
}

/// Reads a Server-Sent Events stream until `want` appears in it (at most `secs`).
fn sse_until(addr: &str, path: &str, want: &str, secs: u64, during: impl FnOnce()) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    let mut during = Some(during);
    let end = Instant::now() + Duration::from_secs(secs);
    while !seen.contains(want) {
        assert!(
            Instant::now() < end,
            "SSE {path} never showed {want:?}: {seen}"
        );
        if let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        if seen.contains("text/event-stream")
            && let Some(f) = during.take()
        {
            f();
        }
    }
    seen
}

#[test]
fn live_events_job_retry_queue_limit_and_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, TWO_JOBS);
    let server = Server::for_repo(
        tmp.path(),
        &src,
        &["--concurrency", "1", "--queue-limit", "1"],
    );
    // Status events arrive as the pipeline runs.
    let mut id = 0;
    let seen = sse_until(
        &server.addr,
        "/api/v1/events",
        "\"status\":\"success\"",
        60,
        || {
            id = server.push_main(ZERO, &sha);
        },
    );
    assert!(
        seen.contains("event: pipeline") && seen.contains("event: job"),
        "{seen}"
    );
    assert!(seen.contains(&format!("\"id\":{id}")));
    let p = server.wait_done(id, 60);
    // The log stream replays the stored log from the offset.
    let build = Server::job(&p, "build")["id"].as_i64().unwrap();
    let seen = sse_until(
        &server.addr,
        &format!("/api/v1/jobs/{build}/log/stream?offset=0"),
        "built main",
        10,
        || {},
    );
    assert!(seen.contains("event: log"), "{seen}");
    // Retrying a job retries it inside its pipeline: a new row, the old one kept as retried.
    let test = Server::job(&p, "test")["id"].as_i64().unwrap();
    let r = server.api_post(&format!("/jobs/{test}/retry"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["id"].as_i64(), Some(id));
    let retry = server.wait_done(id, 60);
    assert_eq!(retry["status"].as_str(), Some("success"));
    let rows: Vec<(&str, bool)> = retry["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["name"].as_str().unwrap(), j["retried"] == true))
        .collect();
    assert_eq!(rows, [("build", false), ("test", true), ("test", false)]);
    // One slot, one waiting place: a third pipeline is refused with 503 and leaves no row.
    let slow = commit(&src, "slow:\n  script: [sleep 3]\n", "slow");
    let first = server.api_post(
        "/pipelines",
        &json!({"repository": "group/app", "ref": "main", "source": "web"}),
    );
    assert_eq!(first.status, 201);
    let first = first.json();
    assert_eq!(
        (first["source"].as_str(), first["sha"].as_str()),
        (Some("web"), Some(slow.as_str()))
    );
    server.wait_pipeline(first["id"].as_i64().unwrap(), 30, |p| {
        p["status"] == "running"
    });
    let before = server.count();
    assert_eq!(
        server
            .api_post(
                "/pipelines",
                &json!({"repository": "group/app", "ref": "main", "source": "trigger"})
            )
            .status,
        201
    );
    let r = server.api_post(
        "/pipelines",
        &json!({"repository": "group/app", "ref": "main"}),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(server.count(), before + 1);
    assert_eq!(
        server
            .api_post(
                "/pipelines",
                &json!({"repository": "group/app", "ref": "main", "source": "schedule"})
            )
            .status,
        400
    );
}

/// A failed job retried after its cause is fixed: the same pipeline, the old attempt kept as
/// retried, the job that waited for it run, the pipeline `success`; restart keeps all of it.
#[test]
fn job_retry_inside_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let flag = tmp.path().join("fixed");
    let yaml = format!(
        "stages: [build, test, deploy]\nbuild:\n  stage: build\n  script: [echo built]\n\
         test:\n  stage: test\n  script: ['test -f {}']\n\
         deploy:\n  stage: deploy\n  script: [echo deployed]\n",
        flag.display()
    );
    let sha = repo(&src, &yaml);
    let mut server = Server::for_repo(tmp.path(), &src, &[]);
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "failed", "{p:#}");
    assert_eq!(Server::job(&p, "deploy")["status"], "skipped");
    let test = Server::job(&p, "test")["id"].as_i64().unwrap();
    // Neither a running pipeline nor an old attempt can be retried; a finished job can.
    std::fs::write(&flag, "").unwrap();
    let r = server.api_post(&format!("/jobs/{test}/retry"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["id"].as_i64(), Some(id));
    assert_eq!(r.json()["retried_jobs"], json!(["test"]));
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    assert_eq!(server.count(), 1, "a job retry makes no new pipeline");
    let rows = |p: &Value| -> Vec<(String, String, bool)> {
        p["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                (
                    j["name"].as_str().unwrap().to_string(),
                    j["status"].as_str().unwrap().to_string(),
                    j["retried"] == true,
                )
            })
            .collect()
    };
    let want: Vec<(String, String, bool)> = [
        ("build", "success", false),
        ("test", "failed", true),
        ("deploy", "skipped", true),
        ("test", "success", false),
        ("deploy", "success", false),
    ]
    .iter()
    .map(|(n, s, r)| (n.to_string(), s.to_string(), *r))
    .collect();
    assert_eq!(rows(&p), want);
    let r = server.api_post(&format!("/jobs/{test}/retry"), &json!({}));
    assert_eq!(r.status, 409, "{}", r.text());
    // The first attempt's log stays readable.
    let new_test = Server::job(&p, "test")["id"].as_i64().unwrap();
    assert_ne!(new_test, test);
    server.log(test);
    // Restart keeps the retried rows.
    assert!(server.terminate(20), "{}", server.stderr());
    let server = Server::for_repo(tmp.path(), &src, &[]);
    assert_eq!(rows(&server.api(&format!("/pipelines/{id}"))), want);
}

/// A job retried on its own inside its pipeline receives the artifacts and `reports:dotenv`
/// variables of the jobs it needs, which are not run again (GitLab keeps their results). Jobs
/// see the repository's name as `CI_PROJECT_PATH`.
#[test]
fn a_retried_job_receives_the_artifacts_and_dotenv_of_jobs_not_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(
        &src,
        concat!(
            "stages: [build, test]\n",
            "build:\n  stage: build\n",
            "  script: [mkdir -p out, echo built-$CI_JOB_ID > out/v.txt, echo VERSION=1.2.$CI_JOB_ID > build.env]\n",
            "  artifacts:\n    paths: [out/]\n    reports: {dotenv: build.env}\n",
            "test:\n  stage: test\n  needs: [build]\n",
            "  script: [\"echo got $(cat out/v.txt) version $VERSION\", \"echo project $CI_PROJECT_PATH $CI_PROJECT_NAME\"]\n",
        ),
    );
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let id = server.push_main(ZERO, &sha);
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    let first = Server::job(&p, "test")["id"].as_i64().unwrap();
    let log = server.log(first);
    let want = log
        .lines()
        .find(|l| l.starts_with("got built-") && l.contains(" version 1.2."))
        .unwrap_or_else(|| panic!("{log}"))
        .to_string();
    // The project is named as the forge names it, not after the server's checkout folder.
    assert!(log.contains("\nproject group/app app"), "{log}");

    let r = server.api_post(&format!("/jobs/{first}/retry"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    let again = Server::job(&p, "test")["id"].as_i64().unwrap();
    assert_ne!(again, first);
    assert!(server.log(again).contains(&want), "{}", server.log(again));
}
