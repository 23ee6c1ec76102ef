//! Helpers of the `gantry serve` tests: a server process on a free port (the tests share one
//! process, so never a fixed one), a minimal HTTP/1.1 client (real sockets, no client library),
//! webhook payloads and polling.

pub use super::git;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// API token every test server uses.
pub const TOKEN: &str = "test-token-123";
/// Webhook secret every test server uses.
pub const SECRET: &str = "hook-secret";

/// A repository at `dir` with `pipeline` committed on `main`; returns the commit.
pub fn repo(dir: &Path, pipeline: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    commit(dir, pipeline, "first")
}

/// Commits a new `.gitlab-ci.yml`; returns the commit.
pub fn commit(dir: &Path, pipeline: &str, message: &str) -> String {
    std::fs::write(dir.join(".gitlab-ci.yml"), pipeline).unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// A header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading everything: ignore a broken pipe.
    let _ = s.write_all(body);
    // Read until the body is complete (some servers keep the connection open regardless).
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        if complete(&raw) {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    parse(&raw)
}

fn complete(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let body = &raw[split + 4..];
    if let Some(len) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        return len.trim().parse::<usize>().is_ok_and(|n| body.len() >= n);
    }
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    false
}

fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        body = out;
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// A running `gantry serve`.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Its data directory.
    pub data: PathBuf,
    /// Its stderr (tracing logs).
    pub log: PathBuf,
}

impl Server {
    /// Starts `gantry serve` with the test token and secret plus `args`.
    pub fn start(data: &Path, args: &[&str]) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let log = data.join(format!(
            "server-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(["--api-token", TOKEN, "--webhook-secret", SECRET])
            .args(if args.contains(&"--executor") {
                &[][..]
            } else {
                &["--executor", "shell"][..]
            })
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("gantry serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(a.trim().to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let s = Server {
            child,
            addr,
            data: data.to_path_buf(),
            log,
        };
        assert_eq!(s.get("/healthz", None).status, 200);
        s
    }

    /// Starts a server on `tmp/data` serving the repository at `src` as `group/app`, plus `args`.
    pub fn for_repo(tmp: &Path, src: &Path, args: &[&str]) -> Server {
        let repo = format!("group/app={}", src.display());
        let all: Vec<&str> = ["--repo", repo.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        Server::start(&tmp.join("data"), &all)
    }

    /// A GitLab push of `group/app`'s `main` from `before` to `after`; the new pipeline's id.
    pub fn push_main(&self, before: &str, after: &str) -> i64 {
        let r = self.gitlab(
            "Push Hook",
            Some(SECRET),
            &push("group/app", "main", before, after),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["id"].as_i64().expect("pipeline id")
    }

    /// Waits (at most a minute) until job `job`'s log contains `text`.
    pub fn wait_log(&self, job: i64, text: &str) {
        self.poll(60, || match self.log(job).contains(text) {
            true => Ok(()),
            false => Err(format!("log of job {job} never showed {text:?}")),
        })
    }

    /// Waits until job `name` of pipeline `id` has logged `text`; the pipeline then.
    pub fn wait_job_log(&self, id: i64, name: &str, text: &str) -> Value {
        let p = self.wait_pipeline(id, 60, |p| {
            p["jobs"].as_array().is_some_and(|j| !j.is_empty())
        });
        self.wait_log(Server::job(&p, name)["id"].as_i64().expect("job id"), text);
        p
    }

    /// GET with an optional token.
    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        request(&self.addr, "GET", path, &h, b"")
    }

    /// GET with the token, JSON.
    pub fn api(&self, path: &str) -> Value {
        let r = self.get(&format!("/api/v1{path}"), Some(TOKEN));
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    /// POST with the token.
    pub fn api_post(&self, path: &str, body: &Value) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        request(
            &self.addr,
            "POST",
            &format!("/api/v1{path}"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
    }

    /// POST a GitLab webhook.
    pub fn gitlab(&self, event: &str, token: Option<&str>, body: &Value) -> Resp {
        let mut h = vec![
            ("X-Gitlab-Event", event),
            ("Content-Type", "application/json"),
        ];
        if let Some(t) = token {
            h.push(("X-Gitlab-Token", t));
        }
        request(
            &self.addr,
            "POST",
            "/hooks/gitlab",
            &h,
            body.to_string().as_bytes(),
        )
    }

    /// Calls `look` every 100 ms until it returns `Ok` (at most `secs`); on time-out panics
    /// with its last `Err` (which says what was awaited and quotes what was seen) and the
    /// server's stderr. Every wait of the serve tests is one of these.
    pub fn poll<T>(&self, secs: u64, mut look: impl FnMut() -> Result<T, String>) -> T {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            match look() {
                Ok(done) => return done,
                Err(seen) => assert!(Instant::now() < end, "{seen}\n{}", self.stderr()),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls pipeline `id` until `done` holds (at most `secs`).
    pub fn wait_pipeline(&self, id: i64, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        self.poll(secs, || {
            let p = self.api(&format!("/pipelines/{id}"));
            match done(&p) {
                true => Ok(p),
                false => Err(format!("pipeline {id} never got there: {p:#}")),
            }
        })
    }

    /// Pipeline `id` as a restarted server shows it after its predecessor was killed
    /// mid-pipeline: failed, for the reason `interrupted`.
    pub fn interrupted(&self, id: i64) -> Value {
        let p = self.api(&format!("/pipelines/{id}"));
        assert_eq!(
            (p["status"].as_str(), p["reason"].as_str()),
            (Some("failed"), Some("interrupted")),
            "{p:#}"
        );
        p
    }

    /// Polls until the pipeline has a terminal status.
    pub fn wait_done(&self, id: i64, secs: u64) -> Value {
        self.wait_pipeline(id, secs, |p| {
            ["success", "failed", "canceled", "skipped"]
                .contains(&p["status"].as_str().unwrap_or(""))
        })
    }

    /// The job called `name` of pipeline JSON `p`.
    pub fn job<'a>(p: &'a Value, name: &str) -> &'a Value {
        p["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|j| j["name"] == name && j["retried"] != true)
            .unwrap_or_else(|| panic!("no job {name} in {p:#}"))
    }

    /// A job's log.
    pub fn log(&self, job: i64) -> String {
        let r = self.get(&format!("/api/v1/jobs/{job}/log"), Some(TOKEN));
        assert_eq!(r.status, 200);
        r.text()
    }

    /// The (latest) pipeline of `repo` that runs `job` alone (a retry, an environment's stop).
    pub fn pipeline_of_job(&self, repo: &str, job: &str) -> Value {
        let list = self.api(&format!("/pipelines?repository={repo}"));
        super::member(&list["pipelines"], "only_job", job).clone()
    }

    /// Number of pipelines stored.
    pub fn count(&self) -> i64 {
        self.api("/pipelines")["total"].as_i64().unwrap()
    }

    /// The server's log so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (at most `secs`); whether it exited by itself.
    pub fn terminate(&mut self, secs: u64) -> bool {
        super::terminate(&mut self.child, secs)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GitLab push payload.
pub fn push(project: &str, branch: &str, before: &str, after: &str) -> Value {
    json!({
        "object_kind": "push",
        "ref": format!("refs/heads/{branch}"),
        "before": before,
        "after": after,
        "checkout_sha": after,
        "user_username": "alice",
        "user_name": "Alice Example",
        "user_email": "alice@example.com",
        "project": {"path_with_namespace": project},
    })
}

/// Zero commit id (new branch).
pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// A masked project variable's value.
pub const MASKED: &str = "m4sked-secret-value";

/// A server whose jobs go to runners (silent ones fail after `timeout` seconds), serving a
/// repository `group/app` with `pipeline` on `main` and a masked project variable: the
/// temporary directory (keep it), the server and the commit.
pub fn coordinator(pipeline: &str, timeout: u64) -> (tempfile::TempDir, Server, String) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, pipeline);
    let vars = tmp.path().join("variables.yml");
    let settings = [
        format!("runner_timeout = {timeout}"),
        "[[repository]]".into(),
        "name = \"group/app\"".into(),
        format!("source = \"{}\"", src.display()),
        format!("variables_file = \"{}\"", vars.display()),
        "executor = \"runners\"".into(),
    ];
    let config = tmp.path().join("gantry.toml");
    for (file, text) in [
        (
            &vars,
            format!("SECRET: {{value: {MASKED}, masked: true}}\nPLAIN: visible\n"),
        ),
        (&config, settings.join("\n")),
    ] {
        std::fs::write(file, text).unwrap();
    }
    let args = ["--config", config.to_str().unwrap(), "--executor", "auto"];
    let server = Server::start(&tmp.path().join("data"), &args);
    (tmp, server, sha)
}
