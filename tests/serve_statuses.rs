//! Commit statuses as GitHub's and GitLab's APIs document them, sent by `gantry serve` to a
//! loopback server that records them (neither forge runs here; Gitea's are checked against a
//! real Gitea in `forge_gitea`): the URL, the token's header, the states in the forge's words
//! in order, the link to the pipeline's page; a forge that rate-limits gets the latest status
//! after its `Retry-After`; a forge that refuses never fails a pipeline; the token is in no
//! log and no API answer.

use crate::support::capture::{Answer, Capture, Captured};
use crate::support::serve::*;
use serde_json::Value;

const PASSES: &str = "ok:\n  script:\n    - echo fine\n";
const FAILS: &str = "broken:\n  script:\n    - echo about to fail\n    - exit 3\n";

/// One pipeline of `group/app` (holding `pipeline`) on a server reporting to `forge` at a
/// recording server that answers with `script` first, with `token`.
struct Run {
    /// The server's directory.
    _tmp: tempfile::TempDir,
    server: Server,
    /// What the forge saw.
    forge: Capture,
    /// The pipeline.
    id: i64,
    sha: String,
    /// Its end.
    end: Value,
}

fn run(pipeline: &str, forge: &str, script: Vec<Answer>, token: &str) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    let sha = repo(&src, pipeline);
    let capture = Capture::start(script);
    let token_file = tmp.path().join("forge-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let config = tmp.path().join("gantry.toml");
    let text = format!(
        "public_url = \"http://ci.example.test/\"\n[[repository]]\nname = \"group/app\"\nsource = \"{}\"\nforge = \"{forge}\"\nforge_url = \"{}\"\nforge_token_file = \"{}\"\n",
        src.display(),
        capture.url,
        token_file.display()
    );
    std::fs::write(&config, text).unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let id = server.push_main(ZERO, &sha);
    let end = server.wait_done(id, 60);
    Run {
        _tmp: tmp,
        server,
        forge: capture,
        id,
        sha,
        end,
    }
}

fn states(requests: &[Captured]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.body["state"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The token appears in none of the server's log and API answers.
fn token_kept(server: &Server, id: i64, token: &str) {
    assert!(!server.stderr().contains(token), "{}", server.stderr());
    let answers = [
        server.api(&format!("/pipelines/{id}")).to_string(),
        server.api("/pipelines").to_string(),
        server.api("/repositories").to_string(),
    ];
    for a in answers {
        assert!(!a.contains(token), "{a}");
    }
}

#[test]
fn github_gets_pending_then_success_with_a_bearer_token_and_a_link() {
    let token = "ghp_statusTOKEN0123";
    let r = run(PASSES, "github", Vec::new(), token);
    let (server, github, id, sha) = (&r.server, &r.forge, r.id, &r.sha);
    assert_eq!(r.end["status"], "success", "{:#}", r.end);
    let seen = github.wait(30, |r| r.body["state"] == "success");
    assert_eq!(
        states(&seen),
        ["pending", "pending", "success"],
        "{seen:#?}"
    );
    let descriptions: Vec<&str> = seen
        .iter()
        .map(|r| r.body["description"].as_str().unwrap())
        .collect();
    assert!(
        descriptions[0].contains("waiting")
            && descriptions[1].contains("running")
            && descriptions[2].contains("passed"),
        "{descriptions:?}"
    );
    for r in &seen {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, format!("/repos/group/app/statuses/{sha}"));
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {token}").as_str())
        );
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
        assert!(
            r.header("user-agent")
                .is_some_and(|u| u.starts_with("gantry/"))
        );
        assert_eq!(r.body["context"], "gantry/pipeline");
        assert_eq!(
            r.body["target_url"],
            format!("http://ci.example.test/pipelines/{id}")
        );
    }
    let p = server.wait_pipeline(id, 30, |p| p["forge_status"]["state"] == "success");
    assert_eq!(p["forge_status"]["outcome"], "delivered", "{p:#}");
    assert_eq!(p["forge_status"]["forge"], "github");
    assert!(
        p["forge_status"]["last_result"]
            .as_str()
            .is_some_and(|r| r.contains("HTTP 201")),
        "{p:#}"
    );
    token_kept(server, id, token);
}

#[test]
fn gitlab_rate_limiting_gets_the_latest_status_after_retry_after() {
    let token = "glpat-statusTOKEN4567";
    // The first call is rate-limited for a second; everything after is taken.
    let limited = vec![(429, vec![("Retry-After", "1")])];
    let r = run(FAILS, "gitlab", limited, token);
    let (server, gitlab, id, sha) = (&r.server, &r.forge, r.id, &r.sha);
    assert_eq!(r.end["status"], "failed", "{:#}", r.end);
    let seen = gitlab.wait(30, |r| r.body["state"] == "failed" && r.answered == 201);
    assert_eq!(seen[0].answered, 429, "{seen:#?}");
    assert_eq!(seen[0].body["state"], "pending");
    let last = seen.last().unwrap();
    assert_eq!(last.body["state"], "failed");
    assert!(
        seen.iter().filter(|r| r.body["state"] == "failed").count() == 1,
        "the end is sent once: {seen:#?}"
    );
    for r in &seen {
        assert_eq!(
            r.path,
            format!("/api/v4/projects/group%2Fapp/statuses/{sha}")
        );
        assert_eq!(r.header("private-token"), Some(token));
        assert_eq!(r.body["name"], "gantry/pipeline");
        assert_eq!(r.body["ref"], "main");
    }
    let p = server.wait_pipeline(id, 30, |p| p["forge_status"]["outcome"] == "delivered");
    assert_eq!(p["forge_status"]["state"], "failed", "{p:#}");
    token_kept(server, id, token);
}

#[test]
fn a_forge_that_refuses_never_fails_the_pipeline() {
    let refusals = (0..10).map(|_| (401, Vec::new())).collect();
    let r = run(PASSES, "gitea", refusals, "gitea-wrong-token");
    let (server, gitea, id, sha) = (&r.server, &r.forge, r.id, &r.sha);
    assert_eq!(r.end["status"], "success", "{:#}", r.end);
    let seen = gitea.wait(30, |r| r.body["state"] == "success");
    assert_eq!(
        seen[0].path,
        format!("/api/v1/repos/group/app/statuses/{sha}")
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some("token gitea-wrong-token")
    );
    let p = server.wait_pipeline(id, 30, |p| p["forge_status"]["state"] == "success");
    assert_eq!(p["forge_status"]["outcome"], "refused", "{p:#}");
    assert!(
        p["forge_status"]["last_result"]
            .as_str()
            .is_some_and(|r| r.contains("HTTP 401")),
        "{p:#}"
    );
}
