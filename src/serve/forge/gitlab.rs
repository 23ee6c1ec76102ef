//! GitLab's commit status API: `POST /api/v4/projects/:id/statuses/:sha` with the project's
//! URL-encoded path as `:id`, the token in `PRIVATE-TOKEN`, and `state` (GitLab's own words:
//! pending, running, success, failed, canceled, skipped), `name`, `ref`, `target_url`,
//! `description`.

use super::{Request, Status, cut};
use crate::serve::credentials::Secret;
use serde_json::json;

/// gantry's status in GitLab's words (the same, but for a pipeline waiting for someone).
pub fn state(status: &str) -> &'static str {
    match status {
        "running" => "running",
        "success" => "success",
        "failed" => "failed",
        "canceled" => "canceled",
        "skipped" => "skipped",
        _ => "pending",
    }
}

/// The request.
pub fn request(base: &str, s: &Status<'_>, token: &Secret) -> Request {
    Request {
        url: format!(
            "{base}/api/v4/projects/{}/statuses/{}",
            s.project.replace('/', "%2F"),
            s.sha
        ),
        headers: vec![("PRIVATE-TOKEN", token.expose().to_string())],
        body: json!({
            "state": state(s.state),
            "ref": s.git_ref,
            "name": s.context,
            "target_url": s.target_url,
            "description": cut(s.description, 255),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_as_gitlab_documents_it() {
        let token = crate::serve::credentials::tests_secret("glpat-x");
        let r = request(
            "https://gitlab.example.com",
            &Status {
                project: "group/sub/app",
                sha: "abc",
                git_ref: "main",
                state: "failed",
                target_url: Some("http://ci/pipelines/3"),
                description: "pipeline #3 failed",
                context: "gantry/pipeline",
            },
            &token,
        );
        assert_eq!(
            r.url,
            "https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fapp/statuses/abc"
        );
        assert_eq!(r.headers, vec![("PRIVATE-TOKEN", "glpat-x".to_string())]);
        assert_eq!(r.body["state"], "failed");
        assert_eq!(r.body["name"], "gantry/pipeline");
        assert_eq!(r.body["ref"], "main");
        assert_eq!(state("manual"), "pending");
    }
}
