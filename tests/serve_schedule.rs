//! Pipeline schedules under `gantry serve` (issue 26): `[[repository.schedule]]` and the API's
//! schedules start pipelines with `CI_PIPELINE_SOURCE=schedule` and their variables; they
//! live in the database (a restart keeps them) and a tick missed while the server was down
//! runs once at start, not once per missed tick. Second-granular cron expressions keep the
//! waits short.

use crate::support::serve::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PIPELINE: &str = r#"
nightly:
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  script:
    - echo "scheduled source=$CI_PIPELINE_SOURCE nightly=$NIGHTLY"
"#;

/// A repository `app` with [`PIPELINE`] in a temporary directory.
fn repository() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    repo(&src, PIPELINE);
    (tmp, src)
}

fn config(tmp: &Path, src: &Path, active: bool) -> String {
    let file = tmp.join("gantry.toml");
    std::fs::write(
        &file,
        format!(
            "[[repository]]\nname = \"group/app\"\nsource = \"{}\"\nexecutor = \"shell\"\n\
             [[repository.schedule]]\ncron = \"* * * * * *\"\ntimezone = \"Europe/Berlin\"\n\
             ref = \"main\"\nvariables = {{ NIGHTLY = \"from-config\" }}\nactive = {active}\n",
            src.display()
        ),
    )
    .unwrap();
    file.display().to_string()
}

/// Pipelines of source `schedule`, oldest first.
fn scheduled(server: &Server) -> Vec<Value> {
    let list = server.api("/pipelines?per_page=100");
    let mut v: Vec<Value> = list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] == "schedule")
        .cloned()
        .collect();
    v.reverse();
    v
}

/// Waits (at most `secs`) until there are at least `n` scheduled pipelines; they then.
fn wait_scheduled(server: &Server, n: usize, secs: u64) -> Vec<Value> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = scheduled(server);
        if v.len() >= n {
            return v;
        }
        assert!(
            Instant::now() < end,
            "{} scheduled pipelines, expected {n}: {}",
            v.len(),
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn nightly_log(server: &Server, id: i64) -> String {
    let p = server.wait_done(id, 60);
    assert_eq!(p["status"], "success", "{p:#}");
    server.log(Server::job(&p, "nightly")["id"].as_i64().unwrap())
}

#[test]
fn config_and_api_schedules_start_schedule_pipelines() {
    let (tmp, src) = repository();
    let data = tmp.path().join("data");
    // Every second from the config file: it fires.
    let mut server = Server::start(&data, &["--config", &config(tmp.path(), &src, true)]);
    let first = wait_scheduled(&server, 1, 30);
    let log = nightly_log(&server, first[0]["id"].as_i64().unwrap());
    assert!(
        log.contains("scheduled source=schedule nightly=from-config"),
        "{log}"
    );
    let listed = server.api("/schedules")["schedules"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed:#}");
    let config_id = listed[0]["id"].as_i64().unwrap();
    assert_eq!(listed[0]["owner"], "config");
    assert!(listed[0]["next_run_at"].is_string(), "{listed:#}");
    assert!(server.terminate(30));
    // The file turns it off: the same schedule, inactive, without a next run.
    let server = Server::start(&data, &["--config", &config(tmp.path(), &src, false)]);
    let listed = server.api("/schedules")["schedules"].clone();
    assert_eq!(listed[0]["id"].as_i64(), Some(config_id), "{listed:#}");
    assert_eq!(
        (
            listed[0]["active"].as_bool(),
            listed[0]["next_run_at"].is_null()
        ),
        (Some(false), true)
    );
    // The API cannot change the config file's schedule.
    let r = server.api_post(&format!("/schedules/{config_id}/run"), &json!({}));
    assert_eq!(
        r.status,
        201,
        "run now works for every schedule: {}",
        r.text()
    );
    let r = request(
        &server.addr,
        "DELETE",
        &format!("/api/v1/schedules/{config_id}"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        b"",
    );
    assert_eq!(r.status, 409, "{}", r.text());
    // One through the API: 03:00 in Berlin; run now starts a schedule pipeline at once.
    let r = server.api_post(
        "/schedules",
        &json!({"repository": "group/app", "cron": "0 3 * * *", "timezone": "Europe/Berlin",
                "ref": "main", "variables": {"NIGHTLY": "from-api"}, "description": "nightly"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let s = r.json();
    let id = s["id"].as_i64().unwrap();
    assert_eq!(
        (s["owner"].as_str(), s["active"].as_bool()),
        (Some("api"), Some(true))
    );
    let next = s["next_run_at"].as_str().unwrap();
    // 03:00 Berlin is 01:00 or 02:00 UTC (summer or winter time).
    assert!(
        next.contains("T01:00:00.000Z") || next.contains("T02:00:00.000Z"),
        "{next}"
    );
    let r = server.api_post(&format!("/schedules/{id}/run"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let p = r.json();
    assert_eq!(p["source"], "schedule");
    let log = nightly_log(&server, p["id"].as_i64().unwrap());
    assert!(log.contains("nightly=from-api"), "{log}");
    assert_eq!(
        server.api(&format!("/schedules/{id}"))["last_pipeline_id"],
        p["id"]
    );
    // Changed: inactive has no next run; a bad cron is refused.
    let auth = format!("Bearer {TOKEN}");
    let put = |body: &Value| {
        request(
            &server.addr,
            "PUT",
            &format!("/api/v1/schedules/{id}"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
    };
    let r = put(&json!({"active": false}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["next_run_at"].is_null(), "{}", r.text());
    assert_eq!(put(&json!({"cron": "61 * * * *"})).status, 400);
    assert_eq!(put(&json!({"timezone": "Nowhere/Else"})).status, 400);
    let del = request(
        &server.addr,
        "DELETE",
        &format!("/api/v1/schedules/{id}"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(del.status, 204, "{}", del.text());
    assert_eq!(
        server
            .get(&format!("/api/v1/schedules/{id}"), Some(TOKEN))
            .status,
        404
    );
}

#[test]
fn a_schedule_survives_a_restart_and_missed_ticks_run_once() {
    let (tmp, src) = repository();
    let mut server = Server::for_repo(tmp.path(), &src, &[]);
    // Four ticks a minute, the first a few seconds from now; the server is down for all four.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let seconds: Vec<String> = (0..4).map(|i| ((now + 5 + i) % 60).to_string()).collect();
    let r = server.api_post(
        "/schedules",
        &json!({"repository": "group/app", "cron": format!("{} * * * * *", seconds.join(",")),
                "ref": "main", "variables": {"NIGHTLY": "missed"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    assert!(server.terminate(30));
    std::thread::sleep(Duration::from_secs(10));
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let s = server.api(&format!("/schedules/{id}"));
    assert_eq!(
        s["variables"]["NIGHTLY"], "missed",
        "kept across the restart: {s:#}"
    );
    let runs = wait_scheduled(&server, 1, 30);
    let log = nightly_log(&server, runs[0]["id"].as_i64().unwrap());
    assert!(log.contains("nightly=missed"), "{log}");
    // Once, not once per missed tick; the next run is a minute away.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(scheduled(&server).len(), 1, "{:?}", scheduled(&server));
    let s = server.api(&format!("/schedules/{id}"));
    assert_eq!(s["last_pipeline_id"], runs[0]["id"], "{s:#}");
    assert!(s["next_run_at"].is_string(), "{s:#}");
}
