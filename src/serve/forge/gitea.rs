//! Gitea's and Forgejo's commit status API: `POST /api/v1/repos/{owner}/{repo}/statuses/{sha}`
//! with `Authorization: token …`, and `state` (pending, success, error, failure, warning),
//! `context`, `target_url`, `description`.

use super::{Request, Status, cut};
use crate::serve::credentials::Secret;
use serde_json::json;

/// gantry's status in Gitea's words (as GitHub's: it has no running or canceled).
pub fn state(status: &str) -> &'static str {
    super::github::state(status)
}

/// The request.
pub fn request(base: &str, s: &Status<'_>, token: &Secret) -> Request {
    Request {
        url: format!("{base}/api/v1/repos/{}/statuses/{}", s.project, s.sha),
        headers: vec![("Authorization", format!("token {}", token.expose()))],
        body: json!({
            "state": state(s.state),
            "target_url": s.target_url,
            "description": cut(s.description, 255),
            "context": s.context,
        }),
    }
}
