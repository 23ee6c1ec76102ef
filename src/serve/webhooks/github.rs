//! GitHub webhooks: push (branches and tags) and pull request events, authenticated by the
//! HMAC-SHA256 signature of the raw body (`X-Hub-Signature-256`). Pull requests run as
//! `merge_request_event` pipelines, so the same `rules` apply as for GitLab merge requests.

use super::merge_request::MergeRequest;
use super::{
    HookError, Outcome, authenticated, push_pipeline, put, split_ref, text, valid_ref, valid_sha,
};
use crate::serve::auth;
use crate::serve::config::Config;
use axum::http::HeaderMap;
use serde_json::Value;

/// Checks and reads a GitHub webhook.
pub fn parse(config: &Config, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, HookError> {
    let (v, repo) = authenticated(
        config,
        body,
        &["repository", "full_name"],
        |s| auth::github_signature_ok(s, headers, body),
        "X-Hub-Signature-256",
    )?;
    let event = headers
        .get("x-github-event")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match event {
        "push" => push(&repo.name, &v),
        "pull_request" => pull_request(&repo.name, &v),
        "ping" => Ok(Outcome::Ignored("ping".into())),
        "" => Err(HookError::bad("no X-GitHub-Event header")),
        other => Ok(Outcome::Ignored(format!(
            "event `{other}` starts no pipeline"
        ))),
    }
}

fn push(repo: &str, v: &Value) -> Result<Outcome, HookError> {
    if v.get("deleted").and_then(Value::as_bool) == Some(true) {
        return Ok(Outcome::Ignored("ref deleted".into()));
    }
    let r = text(v, &["ref"]).ok_or_else(|| HookError::bad("push payload has no `ref`"))?;
    let (kind, name) = split_ref(r)?;
    let sha = text(v, &["after"]).unwrap_or("");
    if !valid_sha(sha) {
        return Err(HookError::bad(format!(
            "push payload: `after` {sha:?} is not a commit id"
        )));
    }
    let before = text(v, &["before"]).filter(|b| valid_sha(b) && !b.bytes().all(|c| c == b'0'));
    let mut vars = Vec::new();
    put(&mut vars, "CI_COMMIT_BEFORE_SHA", before);
    put(
        &mut vars,
        "GITLAB_USER_LOGIN",
        text(v, &["sender", "login"]),
    );
    put(&mut vars, "GITLAB_USER_NAME", text(v, &["pusher", "name"]));
    put(
        &mut vars,
        "GITLAB_USER_EMAIL",
        text(v, &["pusher", "email"]),
    );
    Ok(push_pipeline(repo, (kind, name), sha, before, vars))
}

fn pull_request(repo: &str, v: &Value) -> Result<Outcome, HookError> {
    let action = text(v, &["action"]).unwrap_or("");
    if !matches!(action, "opened" | "reopened" | "synchronize") {
        return Ok(Outcome::Ignored(format!(
            "pull request action `{action}` starts no pipeline"
        )));
    }
    let pr = v
        .get("pull_request")
        .ok_or_else(|| HookError::bad("pull request payload has no `pull_request`"))?;
    let field = |p: &[&str]| {
        text(pr, p).ok_or_else(|| {
            HookError::bad(format!(
                "pull request payload has no `pull_request.{}`",
                p.join(".")
            ))
        })
    };
    let source = field(&["head", "ref"])?;
    let target = field(&["base", "ref"])?;
    let sha = field(&["head", "sha"])?;
    if !valid_ref(source) || !valid_ref(target) || !valid_sha(sha) {
        return Err(HookError::bad(
            "pull request branches or head sha are not valid",
        ));
    }
    let number = v
        .get("number")
        .and_then(Value::as_i64)
        .ok_or_else(|| HookError::bad("pull request payload has no `number`"))?;
    let request = MergeRequest {
        repo,
        iid: number,
        id: pr.get("id").and_then(Value::as_i64),
        source,
        target,
        sha,
        before: text(v, &["before"]),
        title: text(pr, &["title"]),
        description: text(pr, &["body"]),
    };
    let mut vars = request.variables();
    vars.extend([
        (
            "CI_EXTERNAL_PULL_REQUEST_IID".to_string(),
            number.to_string(),
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME".into(),
            source.into(),
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA".into(),
            sha.into(),
        ),
        (
            "CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME".into(),
            target.into(),
        ),
    ]);
    put(
        &mut vars,
        "CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_SHA",
        text(pr, &["base", "sha"]),
    );
    put(
        &mut vars,
        "GITLAB_USER_LOGIN",
        text(v, &["sender", "login"]),
    );
    // Which repositories the branches live in: a fork's pull request is untrusted.
    let repo_id = |side: &str| pr.get(side)?.get("repo")?.get("id")?.as_i64();
    super::project_ids(
        &mut vars,
        repo_id("head"),
        repo_id("base"),
        text(pr, &["head", "repo", "full_name"]),
    );
    Ok(request.pipeline(vars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

    fn pr(action: &str) -> Value {
        json!({
            "action": action, "number": 7, "before": "not-a-sha",
            "pull_request": {"id": 99, "title": "Add deals", "body": "",
                "head": {"ref": "feature/x", "sha": HEAD.to_uppercase()},
                "base": {"ref": "main", "sha": HEAD}},
            "sender": {"login": "bob"},
        })
    }

    #[test]
    fn a_pull_request_runs_as_a_merge_request_pipeline_with_gitlabs_variables() {
        let Ok(Outcome::Run(p)) = pull_request("group/app", &pr("opened")) else {
            panic!("an opened pull request starts a pipeline");
        };
        assert_eq!(p.source, "merge_request_event");
        assert_eq!((p.git_ref.as_str(), p.sha.as_str()), ("feature/x", HEAD));
        assert_eq!(p.target_branch.as_deref(), Some("main"));
        assert_eq!(p.before_sha, None, "an invalid `before` is dropped");
        let var = |k: &str| {
            p.variables
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(var("CI_MERGE_REQUEST_IID"), Some("7"));
        assert_eq!(var("CI_MERGE_REQUEST_ID"), Some("99"));
        assert_eq!(var("CI_EXTERNAL_PULL_REQUEST_IID"), Some("7"));
        assert_eq!(var("CI_MERGE_REQUEST_TITLE"), Some("Add deals"));
        assert_eq!(var("CI_MERGE_REQUEST_DESCRIPTION"), None, "empty is unset");
        assert_eq!(var("GITLAB_USER_LOGIN"), Some("bob"));
    }

    #[test]
    fn closed_pull_requests_and_bad_branches_start_nothing() {
        assert!(matches!(
            pull_request("group/app", &pr("closed")),
            Ok(Outcome::Ignored(_))
        ));
        let mut bad = pr("opened");
        bad["pull_request"]["head"]["ref"] = json!("-x");
        assert!(pull_request("group/app", &bad).is_err());
    }
}
