//! GitLab webhooks: push, tag push and merge request events, authenticated by the shared
//! `X-Gitlab-Token`, turned into the pipeline GitLab itself would create.

use super::merge_request::MergeRequest;
use super::{
    HookError, Outcome, authenticated, push_pipeline, put, split_ref, text, valid_ref, valid_sha,
};
use crate::serve::auth;
use crate::serve::config::Config;
use axum::http::HeaderMap;
use serde_json::Value;

/// Checks and reads a GitLab webhook.
pub fn parse(config: &Config, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, HookError> {
    let (v, repo) = authenticated(
        config,
        body,
        &["project", "path_with_namespace"],
        |s| auth::gitlab_token_ok(s, headers),
        "X-Gitlab-Token",
    )?;
    let kind = text(&v, &["object_kind"]).or_else(|| {
        match headers.get("x-gitlab-event").and_then(|h| h.to_str().ok()) {
            Some("Push Hook") => Some("push"),
            Some("Tag Push Hook") => Some("tag_push"),
            Some("Merge Request Hook") => Some("merge_request"),
            _ => None,
        }
    });
    match kind {
        Some("push" | "tag_push") => push(&repo.name, &v),
        Some("merge_request") => merge_request(&repo.name, &v),
        Some(other) => Ok(Outcome::Ignored(format!(
            "event `{other}` starts no pipeline"
        ))),
        None => Err(HookError::bad("payload has no `object_kind`")),
    }
}

fn push(repo: &str, v: &Value) -> Result<Outcome, HookError> {
    let r = text(v, &["ref"]).ok_or_else(|| HookError::bad("push payload has no `ref`"))?;
    let (kind, name) = split_ref(r)?;
    let after = text(v, &["after"]).unwrap_or("");
    if after.bytes().all(|b| b == b'0') && !after.is_empty() {
        return Ok(Outcome::Ignored(format!("{r} was deleted")));
    }
    let sha = text(v, &["checkout_sha"])
        .filter(|s| !s.is_empty())
        .unwrap_or(after);
    if !valid_sha(sha) {
        return Err(HookError::bad(format!(
            "push payload: `checkout_sha`/`after` {sha:?} is not a commit id"
        )));
    }
    let before = text(v, &["before"]).filter(|b| valid_sha(b));
    let mut vars = Vec::new();
    put(&mut vars, "CI_COMMIT_BEFORE_SHA", before);
    put(&mut vars, "GITLAB_USER_LOGIN", text(v, &["user_username"]));
    put(&mut vars, "GITLAB_USER_NAME", text(v, &["user_name"]));
    put(&mut vars, "GITLAB_USER_EMAIL", text(v, &["user_email"]));
    if let Some(id) = v.get("user_id").and_then(Value::as_i64) {
        vars.push(("GITLAB_USER_ID".into(), id.to_string()));
    }
    Ok(push_pipeline(repo, (kind, name), sha, before, vars))
}

fn merge_request(repo: &str, v: &Value) -> Result<Outcome, HookError> {
    let mr = v
        .get("object_attributes")
        .ok_or_else(|| HookError::bad("merge request payload has no `object_attributes`"))?;
    let action = text(mr, &["action"]).unwrap_or("");
    match action {
        "open" | "reopen" => {}
        "update" if mr.get("oldrev").is_some_and(|o| !o.is_null()) => {}
        "update" => {
            return Ok(Outcome::Ignored(
                "merge request updated without new commits".into(),
            ));
        }
        other => {
            return Ok(Outcome::Ignored(format!(
                "merge request action `{other}` starts no pipeline"
            )));
        }
    }
    let field = |k: &str| {
        text(mr, &[k]).ok_or_else(|| HookError::bad(format!("merge request payload has no `{k}`")))
    };
    let source = field("source_branch")?;
    let target = field("target_branch")?;
    if !valid_ref(source) || !valid_ref(target) {
        return Err(HookError::bad(
            "merge request branch names are not valid refs",
        ));
    }
    let sha = text(mr, &["last_commit", "id"])
        .ok_or_else(|| HookError::bad("merge request payload has no `last_commit.id`"))?;
    if !valid_sha(sha) {
        return Err(HookError::bad(format!(
            "`last_commit.id` {sha:?} is not a commit id"
        )));
    }
    let iid = mr
        .get("iid")
        .and_then(Value::as_i64)
        .ok_or_else(|| HookError::bad("merge request payload has no `iid`"))?;
    let request = MergeRequest {
        repo,
        iid,
        id: mr.get("id").and_then(Value::as_i64),
        source,
        target,
        sha,
        before: text(mr, &["oldrev"]),
        title: text(mr, &["title"]),
        description: text(mr, &["description"]),
    };
    let mut vars = request.variables();
    put(
        &mut vars,
        "CI_MERGE_REQUEST_PROJECT_URL",
        text(v, &["project", "web_url"]),
    );
    let labels: Vec<&str> = v
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|l| text(l, &["title"])).collect())
        .unwrap_or_default();
    put(
        &mut vars,
        "CI_MERGE_REQUEST_LABELS",
        Some(&labels.join(",")),
    );
    put(
        &mut vars,
        "GITLAB_USER_LOGIN",
        text(v, &["user", "username"]),
    );
    put(&mut vars, "GITLAB_USER_NAME", text(v, &["user", "name"]));
    put(&mut vars, "GITLAB_USER_EMAIL", text(v, &["user", "email"]));
    // Which projects the branches live in: a fork's merge request is untrusted.
    super::project_ids(
        &mut vars,
        mr.get("source_project_id").and_then(Value::as_i64),
        mr.get("target_project_id").and_then(Value::as_i64),
        text(mr, &["source", "path_with_namespace"]),
    );
    Ok(request.pipeline(vars))
}
