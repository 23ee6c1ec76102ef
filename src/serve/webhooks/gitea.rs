//! Gitea and Forgejo webhooks: push and pull request events named by `X-Gitea-Event`,
//! authenticated by `X-Gitea-Signature` (HMAC-SHA256 of the raw body, bare hex). Their
//! payloads follow GitHub's (`repository.full_name`, `ref`, `before`, `after`, `pull_request`
//! with `head`/`base`), so they are read by the GitHub module's readers; what differs is the
//! header names, the signature's form and the word for new commits on a pull request
//! (`synchronized`).

use super::{HookError, Outcome, authenticated, github};
use crate::serve::auth;
use crate::serve::config::Config;
use axum::http::HeaderMap;

/// Checks and reads a Gitea webhook.
pub fn parse(config: &Config, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, HookError> {
    // Forgejo sends its own names beside Gitea's.
    let event = ["x-gitea-event", "x-forgejo-event"]
        .into_iter()
        .find_map(|name| headers.get(name)?.to_str().ok())
        .unwrap_or("");
    let signed = |secret: &str| auth::gitea_signature_ok(secret, headers, body);
    let (v, repo) = authenticated(
        config,
        body,
        &["repository", "full_name"],
        signed,
        "X-Gitea-Signature",
    )?;
    match event {
        "push" => github::push(&repo.name, &v),
        "pull_request" => github::pull_request(&repo.name, &v),
        "" => Err(HookError::bad("no X-Gitea-Event header")),
        other => Ok(Outcome::Ignored(format!(
            "event `{other}` starts no pipeline"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use hmac::{Hmac, KeyInit, Mac};
    use serde_json::json;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn config() -> Config {
        let dir = std::env::temp_dir();
        let text = format!(
            "webhook_secret = \"s3\"\n[[repository]]\nname = \"org/app\"\nsource = \"{}\"\n",
            dir.display()
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        Config::load(Some(file.path()), Default::default()).unwrap()
    }

    fn signed(event: &str, body: &[u8], secret: &str) -> HeaderMap {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let mut h = HeaderMap::new();
        h.insert("x-gitea-event", HeaderValue::from_str(event).unwrap());
        h.insert(
            "x-gitea-signature",
            HeaderValue::from_str(&auth::hex(&mac.finalize().into_bytes())).unwrap(),
        );
        h
    }

    #[test]
    fn a_signed_push_and_a_synchronized_pull_request_start_pipelines() {
        let c = config();
        let push = json!({"ref": "refs/heads/main", "before": SHA, "after": SHA,
            "repository": {"full_name": "org/app"}, "pusher": {"login": "alice"},
            "sender": {"login": "alice"}})
        .to_string();
        let Ok(Outcome::Run(p)) =
            parse(&c, &signed("push", push.as_bytes(), "s3"), push.as_bytes())
        else {
            panic!("a signed push runs");
        };
        assert_eq!((p.git_ref.as_str(), p.source.as_str()), ("main", "push"));
        let pr = json!({"action": "synchronized", "number": 2,
            "repository": {"full_name": "org/app"},
            "pull_request": {"id": 5, "title": "t", "body": "",
                "head": {"ref": "topic", "sha": SHA}, "base": {"ref": "main", "sha": SHA}},
            "sender": {"login": "bob"}})
        .to_string();
        let Ok(Outcome::Run(p)) = parse(
            &c,
            &signed("pull_request", pr.as_bytes(), "s3"),
            pr.as_bytes(),
        ) else {
            panic!("new commits on a pull request run");
        };
        assert_eq!(p.source, "merge_request_event");
    }

    #[test]
    fn a_wrong_signature_is_unauthorized() {
        let c = config();
        let push = json!({"ref": "refs/heads/main", "after": SHA,
            "repository": {"full_name": "org/app"}})
        .to_string();
        let e = parse(
            &c,
            &signed("push", push.as_bytes(), "other"),
            push.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::UNAUTHORIZED);
        assert!(e.reason.contains("X-Gitea-Signature"), "{}", e.reason);
    }
}
