//! The web UI in headless Chromium, driven over WebDriver (chromedriver, plain HTTP/JSON): log in,
//! see a pipeline appear after a webhook, open a job and watch its log arrive live (ANSI colours
//! rendered, masked values masked), press cancel; also a phone-width view. Screenshots go to
//! `target/screenshots/`. Without chromium/chromedriver the test skips with a notice; with
//! GANTRY_REQUIRE_BROWSER=1 it fails instead.

use crate::support::serve::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(val(*c)) << (18 - 6 * i))
        });
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

/// A WebDriver session on a chromedriver process.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < end, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]}}}});
        let r = request(
            &addr,
            "POST",
            "/session",
            &[("Content-Type", "application/json")],
            caps.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "new session: {}", r.text());
        let session = r.json()["value"]["sessionId"].as_str().unwrap().to_string();
        Browser {
            driver,
            addr,
            session,
        }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("/session/{}{path}", self.session);
        let r = request(
            &self.addr,
            method,
            &url,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
        r.json()["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url}));
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("find {css}: {v}"))
            .to_string()
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    fn wait(&self, what: &str, script: &str, secs: u64) {
        let end = Instant::now() + Duration::from_secs(secs);
        while self.js(script) != json!(true) {
            assert!(
                Instant::now() < end,
                "waited in vain for {what}; page: {}",
                self.js("return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let png = b64decode(self.call("GET", "/screenshot", json!({})).as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = screenshots().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(
            &self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            b"",
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

const PIPELINE: &str = r#"
stages: [build, test, cleanup]
build:
  stage: build
  script:
    - for i in $(seq 1 200); do printf 'log-line-%s \033[32mgreen\033[0m secret=%s\n' $i "$DEPLOY_TOKEN"; sleep 0.15; done
lint:
  stage: build
  script: [echo linted]
unit:
  stage: test
  needs: [build]
  script: [echo unit]
report:
  stage: cleanup
  when: always
  script: [echo report-ran]
"#;

fn login(b: &Browser, base: &str, shot: Option<&str>) {
    b.go(&format!("{base}/"));
    b.wait(
        "the login page",
        "return location.pathname === '/login'",
        10,
    );
    if let Some(name) = shot {
        b.screenshot(name);
    }
    let token = b.find("#token");
    b.call(
        "POST",
        &format!("/element/{token}/value"),
        json!({"text": TOKEN}),
    );
    let button = b.find("#login-button");
    b.call("POST", &format!("/element/{button}/click"), json!({}));
    b.wait(
        "the pipeline list",
        "return location.pathname === '/' && !!document.querySelector('#pipelines')",
        10,
    );
}

#[test]
fn the_web_ui_logs_in_shows_pipelines_streams_a_log_and_cancels() {
    let Some((chromium, driver)) = crate::support::gate::browser() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, PIPELINE);
    let vars = tmp.path().join("variables.yml");
    std::fs::write(
        &vars,
        "DEPLOY_TOKEN:\n  value: hunter2-very-secret\n  masked: true\n",
    )
    .unwrap();
    let config = tmp.path().join("gantry.toml");
    std::fs::write(&config, format!(
        "[[repository]]\nname = \"group/app\"\nsource = \"{}\"\nexecutor = \"shell\"\nvariables_file = \"{}\"\n",
        src.display(), vars.display()
    )).unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let base = format!("http://{}", server.addr);
    let b = Browser::start(&chromium, &driver);

    // Login
    login(&b, &base, Some("01-login"));
    b.wait(
        "the live stream",
        "return document.getElementById('live').classList.contains('on')",
        10,
    );

    // A webhook's pipeline appears without a reload
    let marker = b.js("window.__same_page = 42; return window.__same_page");
    assert_eq!(marker, json!(42));
    let id = server.push_main(ZERO, &sha);
    b.wait(
        "the new pipeline row",
        &format!("return !!document.querySelector('tr.pipeline[data-id=\"{id}\"]')"),
        20,
    );
    assert_eq!(
        b.js("return window.__same_page"),
        json!(42),
        "the row arrived live, not by reloading"
    );
    b.wait("running status", &format!("return !!document.querySelector('tr.pipeline[data-id=\"{id}\"] .badge[data-status=\"running\"]')"), 20);
    b.screenshot("02-pipeline-list");

    // The pipeline page: stages with jobs, needs drawn
    b.go(&format!("{base}/pipelines/{id}"));
    b.wait(
        "the DAG",
        "return document.querySelectorAll('.stage').length === 3",
        20,
    );
    assert_eq!(
        b.js(
            "return [...document.querySelectorAll('.stage h3')].map(h => h.textContent).join(',')"
        ),
        json!("build,test,cleanup")
    );
    b.wait(
        "a needs edge",
        "return document.querySelectorAll('#edges path').length === 1",
        10,
    );
    b.screenshot("03-pipeline-dag");

    // The job page: the log arrives live, coloured and masked
    let p = server.api(&format!("/pipelines/{id}"));
    let build = Server::job(&p, "build")["id"].as_i64().unwrap();
    b.go(&format!("{base}/jobs/{build}"));
    b.wait(
        "first log lines",
        "return (document.getElementById('log')?.textContent || '').includes('log-line-3 ')",
        30,
    );
    let count = "return ((document.getElementById('log')?.textContent || '').match(/log-line-/g) || []).length";
    let before = b.js(count).as_i64().unwrap();
    b.wait("more lines, live", &format!("{count} > {}", before + 3), 20);
    let text = b
        .js("return (document.getElementById('log')?.textContent || '')")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !text.contains("hunter2-very-secret"),
        "the masked value is hidden"
    );
    assert!(text.contains("secret=[MASKED]"), "{text}");
    assert!(
        !text.contains("\u{1b}"),
        "escape codes are rendered, not shown"
    );
    let coloured = "const s = document.querySelector('#log span[style*=\"color\"]'); \
        return !!s && getComputedStyle(s).color !== getComputedStyle(document.getElementById('log')).color";
    assert_eq!(
        b.js(coloured),
        json!(true),
        "ANSI colour rendered (and not blocked by the CSP)"
    );
    b.screenshot("04-job-log-live");

    // Cancel from the UI: the job is canceled, the when: always job still runs
    let cancel = b.find("#cancel");
    b.call("POST", &format!("/element/{cancel}/click"), json!({}));
    let p = server.wait_done(id, 30);
    assert_eq!(p["status"], "canceled", "{p:#}");
    assert_eq!(Server::job(&p, "build")["status"], "canceled");
    assert_eq!(Server::job(&p, "report")["status"], "success");
    b.wait(
        "the canceled badge",
        "return !!document.querySelector('#job-status .badge[data-status=\"canceled\"]')",
        10,
    );
    b.screenshot("05-job-canceled");

    // Phone width: the pipeline page still fits
    b.call("POST", "/window/rect", json!({"width": 390, "height": 844}));
    b.go(&format!("{base}/pipelines/{id}"));
    b.wait(
        "the DAG",
        "return document.querySelectorAll('.stage').length === 3",
        20,
    );
    let overflow = b.js("return document.documentElement.scrollWidth <= window.innerWidth + 1");
    assert_eq!(
        overflow,
        json!(true),
        "no horizontal page scroll at phone width (the DAG scrolls inside its box)"
    );
    b.screenshot("06-phone-pipeline");
    b.go(&format!("{base}/"));
    b.wait(
        "the list",
        "return !!document.querySelector('tr.pipeline')",
        20,
    );
    b.screenshot("07-phone-list");

    // "Run pipeline" creates a `web` pipeline and opens it.
    let r = b.find("#run-ref");
    b.call(
        "POST",
        &format!("/element/{r}/value"),
        json!({"text": "main"}),
    );
    let run = b.find("#run-button");
    b.call("POST", &format!("/element/{run}/click"), json!({}));
    b.wait("the new pipeline page", &format!("return location.pathname.startsWith('/pipelines/') && location.pathname !== '/pipelines/{id}'"), 20);
    let new_id: i64 = b
        .js("return location.pathname.split('/')[2]")
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let p = server.api(&format!("/pipelines/{new_id}"));
    assert_eq!(
        (p["source"].as_str(), p["ref"].as_str()),
        (Some("web"), Some("main"))
    );
    server.api_post(&format!("/pipelines/{new_id}/cancel"), &json!({}));
    server.wait_done(new_id, 30);
}

const ENVIRONMENT: &str = r#"
stages: [deploy, cleanup]
deploy:
  stage: deploy
  script: [echo deployed]
  environment:
    name: review/main
    url: https://main.review.example.com
    on_stop: stop_review
stop_review:
  stage: cleanup
  script: [echo stopped]
  when: manual
  environment:
    name: review/main
    action: stop
"#;

#[test]
fn the_environments_view_shows_a_deployment_and_stop_runs_its_on_stop_job() {
    let Some((chromium, driver)) = crate::support::gate::browser() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, ENVIRONMENT);
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let id = server.push_main(ZERO, &sha);
    assert_eq!(server.wait_done(id, 60)["status"], "success");
    let base = format!("http://{}", server.addr);
    let b = Browser::start(&chromium, &driver);
    login(&b, &base, None);
    let nav = b.find("#nav-environments");
    b.call("POST", &format!("/element/{nav}/click"), json!({}));
    let row = "document.querySelector('tr.environment[data-name=\"review/main\"]')";
    b.wait(
        "the environment row",
        &format!("return location.pathname === '/environments' && !!{row}"),
        20,
    );
    let text = b
        .js(&format!("return {row}.innerText"))
        .as_str()
        .unwrap()
        .to_string();
    for want in [
        "review/main",
        "group/app",
        "https://main.review.example.com",
        &format!("#{id}"),
        &sha[..8],
        "available",
        "never",
    ] {
        assert!(text.contains(want), "{want} in {text:?}");
    }
    b.screenshot("08-environments");
    let stop = b.find("tr.environment button.stop");
    b.call("POST", &format!("/element/{stop}/click"), json!({}));
    b.wait(
        "the stopped state",
        &format!("return !!{row}?.querySelector('.badge[data-status=\"stopped\"]')"),
        60,
    );
    assert_eq!(
        b.js(&format!("return !!{row}.querySelector('button.stop')")),
        json!(false),
        "a stopped environment has no Stop button"
    );
    b.screenshot("09-environment-stopped");
    let envs = server.api("/environments?repository=group/app");
    assert_eq!(envs[0]["state"], "stopped", "{envs:#}");
    let stop = server.pipeline_of_job("group/app", "stop_review");
    let stop = server.wait_done(stop["id"].as_i64().unwrap(), 30);
    assert_eq!(Server::job(&stop, "stop_review")["status"], "success");
}

#[test]
fn an_untrusted_pipeline_is_approved_and_a_schedule_run_from_the_ui() {
    let Some((chromium, driver)) = crate::support::gate::browser() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(
        &src,
        "job:\n  rules:\n    - when: always\n  script: [echo \"ran from $CI_PIPELINE_SOURCE\"]\n",
    );
    let server = Server::for_repo(tmp.path(), &src, &[]);
    let fork = json!({
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "group/app"},
        "object_attributes": {"iid": 1, "action": "open", "source_branch": "main",
            "target_branch": "main", "last_commit": {"id": sha},
            "source_project_id": 2, "target_project_id": 1,
            "source": {"path_with_namespace": "eve/app"}},
    });
    let r = server.gitlab("Merge Request Hook", Some(SECRET), &fork);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let base = format!("http://{}", server.addr);
    let b = Browser::start(&chromium, &driver);
    login(&b, &base, None);
    b.go(&format!("{base}/pipelines/{id}"));
    b.wait(
        "the approval button",
        "return !!document.querySelector('#approve') && document.querySelector('.trust')?.innerText.includes('eve/app')",
        20,
    );
    b.screenshot("10-waiting-for-approval");
    let approve = b.find("#approve");
    b.call("POST", &format!("/element/{approve}/click"), json!({}));
    b.wait(
        "the approved pipeline's success",
        "return !!document.querySelector('h1 .badge[data-status=\"success\"]') && !document.querySelector('#approve')",
        60,
    );
    let p = server.api(&format!("/pipelines/{id}"));
    assert!(p["approved_at"].is_string(), "{p:#}");
    // A schedule made through the API shows its next run; Run now opens its pipeline.
    let r = server.api_post(
        "/schedules",
        &json!({"repository": "group/app", "cron": "0 3 * * *", "ref": "main", "description": "nightly"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let nav = b.find("#nav-schedules");
    b.call("POST", &format!("/element/{nav}/click"), json!({}));
    b.wait(
        "the schedule row with its next run",
        "return location.pathname === '/schedules' && !!document.querySelector('tr.schedule .next-run time')",
        20,
    );
    b.screenshot("11-schedules");
    let run = b.find("tr.schedule button.run-now");
    b.call("POST", &format!("/element/{run}/click"), json!({}));
    b.wait(
        "the scheduled pipeline's page",
        &format!("return location.pathname.startsWith('/pipelines/') && location.pathname !== '/pipelines/{id}'"),
        20,
    );
    let path = b.js("return location.pathname");
    let new: i64 = path
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let p = server.wait_done(new, 60);
    assert_eq!(
        (p["status"].as_str(), p["source"].as_str()),
        (Some("success"), Some("schedule")),
        "{p:#}"
    );
}
