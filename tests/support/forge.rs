//! The real test forge (Gitea, `testing/forge/up.sh`) as the tests drive it: its API with the
//! admin token or a second user's (users, private repositories, forks, pull requests, webhooks,
//! commit statuses), git pushes over HTTP with a token a credential helper gives git through
//! its environment, and stopping and starting it again (`down.sh`/`up.sh` on the same directory) for outages.

use super::serve::{Resp, request};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A running test forge.
#[derive(Clone, Debug)]
pub struct Gitea {
    /// The directory `up.sh` used.
    pub dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Its SSH server's port on 127.0.0.1 (user `git`).
    pub ssh_port: String,
    /// The admin's name.
    pub admin: String,
    /// The admin's API token (also the push token of the tests).
    pub token: String,
}

impl Gitea {
    /// The forge `up.sh` described in `dir/env`.
    pub fn from_dir(dir: &Path) -> Gitea {
        let env = std::fs::read_to_string(dir.join("env"))
            .unwrap_or_else(|e| panic!("GANTRY_TEST_FORGE={}: no env file: {e}", dir.display()));
        let get = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("{}/env has no {k}", dir.display()))
                .to_string()
        };
        let url = get("GITEA_URL");
        Gitea {
            dir: dir.to_path_buf(),
            addr: url.trim_start_matches("http://").to_string(),
            url,
            ssh_port: get("GITEA_SSH_PORT"),
            admin: get("GITEA_ADMIN_USER"),
            token: get("GITEA_ADMIN_TOKEN"),
        }
    }

    /// Waits (at most `secs`) until the API answers.
    pub fn wait_up(&self, secs: u64) {
        let end = Instant::now() + Duration::from_secs(secs);
        while !self.answers() {
            assert!(
                Instant::now() < end,
                "the test forge at {} does not answer (testing/forge/up.sh {})",
                self.url,
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether the API answers now.
    pub fn answers(&self) -> bool {
        std::net::TcpStream::connect(&self.addr).is_ok()
            && request(&self.addr, "GET", "/api/v1/version", &[], b"").status == 200
    }

    /// An API call with the admin token.
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        self.api_as(&self.token, method, path, body)
    }

    /// An API call with `token` (the admin's or another user's).
    pub fn api_as(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("token {token}");
        let body = body.map(Value::to_string).unwrap_or_default();
        request(
            &self.addr,
            method,
            &format!("/api/v1{path}"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    /// An API call that must answer `expected`; its JSON.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>, expected: u16) -> Value {
        self.call_as(&self.token, method, path, body, expected)
    }

    /// An API call with `token` that must answer `expected`; its JSON.
    pub fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> Value {
        let r = self.api_as(token, method, path, body);
        assert_eq!(r.status, expected, "{method} {path}: {}", r.text());
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// A name no earlier run of the tests used (the forge keeps its data between runs).
    pub fn unique(prefix: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
    }

    /// A new user with a password; returns the password.
    pub fn create_user(&self, name: &str) -> String {
        let password = format!("pw-{}", Gitea::unique("x"));
        self.call(
            "POST",
            "/admin/users",
            Some(
                &json!({"username": name, "email": format!("{name}@example.com"),
                "password": password, "must_change_password": false}),
            ),
            201,
        );
        password
    }

    /// A token of user `name` (created by the admin, acting as that user).
    pub fn user_token(&self, name: &str, password: &str) -> String {
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{name}:{password}")
            )
        );
        let body =
            json!({"name": Gitea::unique("t"), "scopes": ["write:repository", "write:user"]})
                .to_string();
        let r = request(
            &self.addr,
            "POST",
            &format!("/api/v1/users/{name}/tokens"),
            &[
                ("Authorization", &basic),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "token of {name}: {}", r.text());
        r.json()["sha1"].as_str().expect("token").to_string()
    }

    /// A new empty repository `name` of the admin; its full name (`owner/name`).
    pub fn create_repo(&self, name: &str, private: bool) -> String {
        let v = self.call(
            "POST",
            "/user/repos",
            Some(
                &json!({"name": name, "private": private, "auto_init": false,
                "default_branch": "main"}),
            ),
            201,
        );
        v["full_name"].as_str().expect("full_name").to_string()
    }

    /// A webhook of `repo` (push and pull request events) to `url`, signed with `secret`.
    pub fn add_webhook(&self, repo: &str, url: &str, secret: &str) {
        self.call(
            "POST",
            &format!("/repos/{repo}/hooks"),
            Some(&json!({"type": "gitea", "active": true,
                "events": ["push", "pull_request"],
                "config": {"url": url, "content_type": "json", "secret": secret}})),
            201,
        );
    }

    /// A pull request of `repo` from its branch `head` into `base`; its number.
    pub fn open_pull_request(&self, repo: &str, head: &str, base: &str) -> i64 {
        self.open_pull_request_from(&self.token, repo, repo, head, base)
    }

    /// A pull request, opened with `token`, from branch `head` of `head_repo` (`repo` itself
    /// or a fork of it) into `base` of `repo`; its number. It waits until `head_repo` knows
    /// `head`.
    pub fn open_pull_request_from(
        &self,
        token: &str,
        head_repo: &str,
        repo: &str,
        head: &str,
        base: &str,
    ) -> i64 {
        self.wait_branch(token, head_repo, head, None);
        // A fork's branch is named `owner:branch`.
        let head = match head_repo.split_once('/') {
            Some((owner, _)) if head_repo != repo => format!("{owner}:{head}"),
            _ => head.to_string(),
        };
        let v = self.call_as(
            token,
            "POST",
            &format!("/repos/{repo}/pulls"),
            Some(&json!({"head": head, "base": base, "title": format!("{head} into {base}")})),
            201,
        );
        v["number"].as_i64().expect("number")
    }

    /// Waits (at most 30 s) until `repo`, read with `token`, has `branch` (at commit `sha`, if
    /// given): Gitea takes in a push asynchronously.
    pub fn wait_branch(&self, token: &str, repo: &str, branch: &str, sha: Option<&str>) {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.api_as(
                token,
                "GET",
                &format!("/repos/{repo}/branches/{branch}"),
                None,
            );
            if r.status == 200 && sha.is_none_or(|s| r.json()["commit"]["id"] == s) {
                return;
            }
            assert!(
                Instant::now() < end,
                "{repo} never got branch {branch} at {sha:?}: {}",
                r.text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Lets user `name` read the admin's `repo` (so that it can fork a private one).
    pub fn add_reader(&self, repo: &str, name: &str) {
        self.call(
            "PUT",
            &format!("/repos/{repo}/collaborators/{name}"),
            Some(&json!({"permission": "read"})),
            204,
        );
    }

    /// A fork of `repo` by the user whose token is `token`; its full name.
    pub fn fork(&self, repo: &str, token: &str) -> String {
        let v = self.call_as(
            token,
            "POST",
            &format!("/repos/{repo}/forks"),
            Some(&json!({})),
            202,
        );
        v["full_name"].as_str().expect("full_name").to_string()
    }

    /// A read-only deploy key of `repo` (an OpenSSH public key line).
    pub fn add_deploy_key(&self, repo: &str, public_key: &str) {
        self.call(
            "POST",
            &format!("/repos/{repo}/keys"),
            Some(
                &json!({"title": Gitea::unique("deploy"), "key": public_key.trim(),
                "read_only": true}),
            ),
            201,
        );
    }

    /// The clone URL of `repo` over SSH.
    pub fn ssh_url(&self, repo: &str) -> String {
        format!("ssh://git@127.0.0.1:{}/{repo}.git", self.ssh_port)
    }

    /// A `known_hosts` line pinning the SSH server's host key (read from its key file, not
    /// from the network).
    pub fn known_hosts(&self) -> String {
        let key = self.dir.join("data/ssh/gitea.rsa");
        let public = run(Command::new("ssh-keygen").arg("-y").arg("-f").arg(&key));
        format!("[127.0.0.1]:{} {public}", self.ssh_port)
    }

    /// The clone URL of `repo` over HTTP.
    pub fn clone_url(&self, repo: &str) -> String {
        format!("{}/{repo}.git", self.url)
    }

    /// Pushes `branch` of the local repository `dir` to `repo` with `token`, which git gets
    /// from a credential helper reading it from git's environment (not the command line, not
    /// the URL).
    pub fn push(&self, dir: &Path, repo: &str, branch: &str, token: &str) {
        run(Command::new("git")
            .current_dir(dir)
            .args(["push", "--quiet", &self.clone_url(repo)])
            .arg(format!("{branch}:refs/heads/{branch}"))
            .env("GIT_CONFIG_COUNT", "2")
            .env("GIT_CONFIG_KEY_0", "credential.helper")
            .env("GIT_CONFIG_VALUE_0", "")
            .env("GIT_CONFIG_KEY_1", "credential.helper")
            .env(
                "GIT_CONFIG_VALUE_1",
                "!f() { test \"$1\" = get && echo username=gantry && echo \"password=$FORGE_TEST_TOKEN\"; }; f",
            )
            .env("FORGE_TEST_TOKEN", token)
            .env("GIT_TERMINAL_PROMPT", "0"));
    }

    /// Every status of commit `sha` of `repo`, oldest first.
    pub fn statuses(&self, repo: &str, sha: &str) -> Vec<Value> {
        let v = self.call(
            "GET",
            &format!("/repos/{repo}/commits/{sha}/statuses?sort=oldest&limit=50"),
            None,
            200,
        );
        v.as_array().cloned().unwrap_or_default()
    }

    /// Waits (at most `secs`) until `sha`'s statuses satisfy `done`; them then.
    pub fn wait_statuses(
        &self,
        repo: &str,
        sha: &str,
        secs: u64,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.statuses(repo, sha);
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "statuses of {repo}@{sha} never got there: {s:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the forge (`down.sh`; its data stays).
    pub fn stop(&self) {
        run(Command::new(script("down.sh")).arg(&self.dir));
        assert!(!self.answers(), "the forge still answers after down.sh");
    }

    /// Starts it again on its data (`up.sh`), waiting until it answers.
    pub fn start(&self) {
        run(Command::new(script("up.sh")).arg(&self.dir));
        self.wait_up(60);
    }
}

/// `testing/forge/NAME`.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testing/forge")
        .join(name)
}

/// Runs `cmd`, which must succeed; its standard output, trimmed.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{:?} {:?}: {}",
        cmd.get_program(),
        cmd.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The state of a Gitea status (`status`, `state` in older versions).
pub fn state(status: &Value) -> &str {
    status["status"]
        .as_str()
        .or_else(|| status["state"].as_str())
        .unwrap_or("")
}
