//! `gantry serve` as a coordinator (issue 29, part 2): a repository with `executor =
//! "runners"` hands its jobs to runners speaking GitLab's runner API. These tests act as the
//! runner over plain HTTP: the payload GitLab would send, traces into serve's logs, state
//! updates deciding the job and the pipeline, artifacts up and down, tags routing,
//! cancellation answered with `Job-Status: canceled`, and a runner that goes silent.

use crate::support::serve::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Registers a runner through the API; its token.
fn register(server: &Server, tags: &[&str], untagged: bool) -> String {
    let r = server.api_post(
        "/runners",
        &json!({"description": format!("runner {tags:?}"), "tags": tags, "run_untagged": untagged}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let token = r.json()["token"].as_str().expect("token").to_string();
    let v = runner_call(
        server,
        "POST",
        "/api/v4/runners/verify",
        &[],
        &json!({"token": token}),
    );
    assert_eq!(v.status, 200, "{}", v.text());
    token
}

fn runner_call(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Resp {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    request(&server.addr, method, path, &h, body.to_string().as_bytes())
}

/// Long-polls for a job until one comes (at most 30 s); its payload.
fn take(server: &Server, token: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let r = runner_call(
            server,
            "POST",
            "/api/v4/jobs/request",
            &[],
            &json!({"token": token, "info": {"name": "test"}}),
        );
        match r.status {
            201 => return r.json(),
            204 => assert!(Instant::now() < end, "no job came: {}", server.stderr()),
            s => panic!("jobs/request answered {s}: {}", r.text()),
        }
    }
}

fn update(server: &Server, job: &Value, body: Value) -> Resp {
    let mut body = body;
    body["token"] = job["token"].clone();
    runner_call(
        server,
        "PUT",
        &format!("/api/v4/jobs/{}", job["id"]),
        &[],
        &body,
    )
}

fn trace(server: &Server, job: &Value, start: usize, text: &str) -> Resp {
    let range = format!("{start}-{}", start + text.len());
    request(
        &server.addr,
        "PATCH",
        &format!("/api/v4/jobs/{}/trace", job["id"]),
        &[
            ("JOB-TOKEN", job["token"].as_str().unwrap()),
            ("Content-Range", &range),
        ],
        text.as_bytes(),
    )
}

/// Clones `job`'s `repo_url` with its token as git's password (from the environment of a
/// credential helper, as a runner does); checks that it works exactly when `works`.
fn clone(job: &Value, tmp: &Path, works: bool) {
    let token = job["token"].as_str().unwrap();
    let to = tmp.join(format!("clone-{works}-{}", &token[token.len() - 6..]));
    let out = std::process::Command::new("git")
        .args(["-c", "credential.helper=", "-c"])
        .arg("credential.helper=!f() { echo username=gitlab-ci-token; echo \"password=$JOB_TOKEN\"; }; f")
        .args(["clone", "-q", job["git_info"]["repo_url"].as_str().unwrap()])
        .arg(&to)
        .env("JOB_TOKEN", token)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert_eq!(
        out.status.success(),
        works,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if works {
        let sha = job["git_info"]["sha"].as_str().unwrap();
        assert_eq!(git(&to, &["rev-parse", "HEAD"]), sha);
    }
}

fn variable<'a>(job: &'a Value, key: &str) -> &'a Value {
    let all = job["variables"].as_array().map_or(&[][..], Vec::as_slice);
    let found = all.iter().find(|v| v["key"] == key);
    found.unwrap_or_else(|| panic!("no variable {key} in {job:#}"))
}

/// A zip archive of `files`, stored uncompressed (so its size is the files').
fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in files {
        zip.start_file(*name, stored).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

const PIPELINE: &str = r#"
build:
  stage: build
  image: alpine:3.20
  before_script: [echo before]
  script: [echo "building $PLAIN"]
  after_script: [echo after]
  artifacts:
    paths: [out/]
  cache:
    key: deps-$CI_COMMIT_REF_SLUG
    paths: [vendor/]
    policy: pull
test:
  stage: test
  script: [cat out/built.txt]
"#;

#[test]
fn a_runner_runs_the_jobs_of_a_pipeline_with_the_payload_gitlab_sends() {
    let (tmp, server, sha) = coordinator(PIPELINE, 600);
    let token = register(&server, &[], true);
    let bad = runner_call(
        &server,
        "POST",
        "/api/v4/jobs/request",
        &[],
        &json!({"token": "glrt-wrong"}),
    );
    assert_eq!(bad.status, 403);
    let id = server.push_main(ZERO, &sha);

    let build = take(&server, &token);
    assert_eq!(build["job_info"]["name"], "build", "{build:#}");
    assert_eq!(build["git_info"]["sha"], sha.as_str());
    assert_eq!(build["git_info"]["ref"], "main");
    let url = build["git_info"]["repo_url"].as_str().unwrap();
    assert!(
        url.ends_with("/git/group/app.git") && !url.contains('@'),
        "{url}"
    );
    assert_eq!(build["image"]["name"], "alpine:3.20");
    let steps = build["steps"].as_array().unwrap();
    assert_eq!(steps[0]["name"], "script");
    assert_eq!(
        steps[0]["script"],
        json!(["echo before", "echo \"building $PLAIN\""])
    );
    assert_eq!(steps[1]["name"], "after_script");
    assert_eq!(steps[1]["when"], "always");
    assert_eq!(build["artifacts"][0]["paths"], json!(["out/"]));
    let cache = &build["cache"][0];
    assert_eq!(
        (&cache["key"], &cache["paths"], &cache["policy"]),
        (&json!("deps-main"), &json!(["vendor/"]), &json!("pull")),
        "{build:#}"
    );
    assert_eq!(variable(&build, "SECRET")["value"], MASKED);
    assert_eq!(variable(&build, "SECRET")["masked"], true);
    assert_eq!(variable(&build, "PLAIN")["masked"], false);
    assert_eq!(variable(&build, "CI_JOB_TOKEN")["masked"], true);
    assert_eq!(variable(&build, "CI_JOB_TOKEN")["value"], build["token"]);
    assert_eq!(variable(&build, "CI_COMMIT_SHA")["public"], true);
    clone(&build, tmp.path(), true);
    let forged = json!({"git_info": build["git_info"], "token": "glcbt-forged"});
    clone(&forged, tmp.path(), false);
    assert!(
        build["variables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["key"] != "CI_PROJECT_DIR"),
        "the server's own directories are not the runner's"
    );

    let r = update(&server, &build, json!({"state": "running"}));
    assert_eq!((r.status, r.header("job-status")), (200, Some("running")));
    let first = "building visible\n";
    let r = trace(&server, &build, 0, first);
    assert_eq!(r.status, 202, "{}", r.text());
    // A gap is refused with the size the server has.
    let r = trace(&server, &build, first.len() + 5, "lost\n");
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("range"),
        Some(format!("0-{}", first.len()).as_str())
    );
    // Another job's token is not this job's.
    let other = json!({"id": build["id"], "token": "glcbt-forged"});
    assert_eq!(trace(&server, &other, first.len(), "x\n").status, 403);

    // Larger than the server's request limit (`max_body`, 1 MiB): artifacts have their own.
    let big = "x".repeat(1536 * 1024);
    let archive = zip_of(&[
        ("out/built.txt", "built by the runner\n"),
        ("out/big.bin", &big),
    ]);
    let mut body = b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"artifacts.zip\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    body.extend_from_slice(&archive);
    body.extend_from_slice(b"\r\n--BOUNDARY--\r\n");
    let r = request(
        &server.addr,
        "POST",
        &format!(
            "/api/v4/jobs/{}/artifacts?artifact_format=zip&artifact_type=archive",
            build["id"]
        ),
        &[
            ("JOB-TOKEN", build["token"].as_str().unwrap()),
            ("Content-Type", "multipart/form-data; boundary=BOUNDARY"),
        ],
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = update(&server, &build, json!({"state": "success", "exit_code": 0}));
    assert_eq!(r.status, 200, "{}", r.text());
    // The job is over: its token no longer updates it.
    assert_eq!(
        update(&server, &build, json!({"state": "running"})).status,
        403
    );
    clone(&build, tmp.path(), false);
    // A runner's token is no job's token.
    let as_runner = json!({"id": build["id"], "token": token});
    assert_eq!(trace(&server, &as_runner, 0, "x\n").status, 403);

    let test = take(&server, &token);
    assert_eq!(test["job_info"]["name"], "test", "{test:#}");
    let dep = &test["dependencies"][0];
    assert_eq!(dep["name"], "build", "{test:#}");
    assert!(
        dep["artifacts_file"]["size"].as_u64().unwrap() > 0,
        "{dep:#}"
    );
    // The finished job's token downloads nothing; the dependent job's does.
    let path = format!("/api/v4/jobs/{}/artifacts", dep["id"]);
    let download = |token: &Value| {
        let token = token.as_str().unwrap();
        request(&server.addr, "GET", &path, &[("JOB-TOKEN", token)], b"")
    };
    assert_eq!(download(&build["token"]).status, 403);
    let got = download(&dep["token"]);
    assert_eq!(got.status, 200);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(got.body)).unwrap();
    let mut text = String::new();
    zip.by_name("out/built.txt")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "built by the runner\n");

    assert_eq!(trace(&server, &test, 0, "cat: no such file\n").status, 202);
    let r = update(
        &server,
        &test,
        json!({"state": "failed", "exit_code": 3, "failure_reason": "script_failure"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "failed", "{p:#}");
    assert_eq!(Server::job(&p, "build")["status"], "success");
    let t = Server::job(&p, "test");
    assert_eq!(t["status"], "failed");
    assert_eq!(t["exit_code"], 3, "{t:#}");
    let log = server.log(Server::job(&p, "build")["id"].as_i64().unwrap());
    assert!(
        log.contains("building visible") && !log.contains("lost"),
        "{log}"
    );
    let runners = server.api("/runners");
    let listed = &runners["runners"][0];
    assert!(listed["contacted_at"].as_i64().is_some(), "{runners:#}");
    assert!(
        !runners.to_string().contains(&token),
        "a runner's token is never listed"
    );
}

const TAGGED: &str = r#"
linux:
  tags: [linux]
  script: [uname]
anywhere:
  script: ["true"]
"#;

#[test]
fn tags_route_jobs_and_a_canceled_pipeline_tells_its_runner() {
    let (_tmp, server, sha) = coordinator(TAGGED, 600);
    let tagged = register(&server, &["linux", "x86"], false);
    let untagged = register(&server, &[], true);
    let id = server.push_main(ZERO, &sha);
    let statuses = |p: &Value| {
        let jobs = p["jobs"].as_array().map_or(&[][..], Vec::as_slice);
        jobs.iter().map(|j| j["status"].clone()).collect::<Vec<_>>()
    };
    // Waiting for a runner is GitLab's `pending`; picked up, `running`.
    server.wait_pipeline(id, 30, |p| {
        statuses(p) == [json!("pending"), json!("pending")]
    });
    let a = take(&server, &untagged);
    assert_eq!(a["job_info"]["name"], "anywhere", "{a:#}");
    let b = take(&server, &tagged);
    assert_eq!(b["job_info"]["name"], "linux", "{b:#}");
    assert_eq!(update(&server, &a, json!({"state": "running"})).status, 200);
    assert_eq!(update(&server, &b, json!({"state": "running"})).status, 200);
    server.wait_pipeline(id, 30, |p| {
        statuses(p) == [json!("running"), json!("running")]
    });

    let r = server.api_post(&format!("/pipelines/{id}/cancel"), &json!({}));
    assert!(r.status < 300, "{}", r.text());
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let r = update(&server, &b, json!({"state": "running"}));
        if r.header("job-status") == Some("canceled") {
            break;
        }
        assert!(Instant::now() < end, "never told canceled: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        update(&server, &a, json!({"state": "canceled"})).status,
        200
    );
    let _ = update(&server, &b, json!({"state": "canceled"}));
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "canceled", "{p:#}");
}

const RETRIED: &str = r#"
flaky:
  retry:
    max: 1
    when: runner_system_failure
  script: ["true"]
"#;

#[test]
fn a_silent_runner_fails_its_job_which_is_retried() {
    let (_tmp, server, sha) = coordinator(RETRIED, 2);
    let token = register(&server, &[], true);
    let id = server.push_main(ZERO, &sha);
    let first = take(&server, &token);
    assert_eq!(
        update(&server, &first, json!({"state": "running"})).status,
        200
    );
    // Silent: after runner_timeout the attempt fails and the retry is queued again.
    let second = take(&server, &token);
    assert_eq!(second["id"], first["id"]);
    assert_ne!(second["token"], first["token"]);
    let late = update(&server, &first, json!({"state": "success"}));
    assert_eq!(late.status, 403, "the vanished attempt's token is void");
    assert_eq!(
        update(
            &server,
            &second,
            json!({"state": "success", "exit_code": 0})
        )
        .status,
        200
    );
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    let log = server.log(Server::job(&p, "flaky")["id"].as_i64().unwrap());
    assert!(log.contains("runner_system_failure"), "{log}");
}
