//! GitHub's commit status API: `POST /repos/{owner}/{repo}/statuses/{sha}` with a bearer
//! token, API version 2022-11-28, and `state` (error, failure, pending, success), `context`,
//! `target_url`, `description` (at most 140 characters).

use super::{Request, Status, cut};
use crate::serve::credentials::Secret;
use serde_json::json;

/// gantry's status in GitHub's words: running is still pending; a canceled pipeline is an
/// error (it did not judge the commit); a pipeline with nothing to run passes.
pub fn state(status: &str) -> &'static str {
    match status {
        "success" | "skipped" => "success",
        "failed" => "failure",
        "canceled" => "error",
        _ => "pending",
    }
}

/// The request.
pub fn request(base: &str, s: &Status<'_>, token: &Secret) -> Request {
    Request {
        url: format!("{base}/repos/{}/statuses/{}", s.project, s.sha),
        headers: vec![
            ("Authorization", format!("Bearer {}", token.expose())),
            ("Accept", "application/vnd.github+json".to_string()),
            ("X-GitHub-Api-Version", "2022-11-28".to_string()),
        ],
        body: json!({
            "state": state(s.state),
            "target_url": s.target_url,
            "description": cut(s.description, 140),
            "context": s.context,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_as_github_documents_it() {
        let token = crate::serve::credentials::tests_secret("ghp_x");
        let long = "x".repeat(200);
        let r = request(
            "https://api.github.com",
            &Status {
                project: "octo/app",
                sha: "abc",
                git_ref: "main",
                state: "running",
                target_url: None,
                description: &long,
                context: "gantry/pipeline",
            },
            &token,
        );
        assert_eq!(r.url, "https://api.github.com/repos/octo/app/statuses/abc");
        assert!(
            r.headers
                .contains(&("Authorization", "Bearer ghp_x".to_string()))
        );
        assert_eq!(r.body["state"], "pending");
        assert_eq!(r.body["description"].as_str().unwrap().len(), 140);
        assert_eq!(r.body["context"], "gantry/pipeline");
        assert_eq!(
            ["failed", "canceled", "success"].map(state),
            ["failure", "error", "success"]
        );
    }
}
