//! Who may do what: the API token (stored only as a SHA-256 hash, compared in constant time),
//! browser sessions made from it (an `HttpOnly`, `SameSite=Strict` cookie), and the webhook
//! checks (GitLab's shared token, GitHub's HMAC-SHA256 signature).

use super::App;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Name of the session cookie.
pub const COOKIE: &str = "gantry_session";
/// How long a session lasts (ms).
pub const SESSION_MS: i64 = 12 * 3600 * 1000;

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// SHA-256 of `s`, hex: what is stored instead of tokens and session ids.
pub fn hash(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// Equal bytes, in time that depends only on the length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The system gave no random bytes for a token or session.
#[derive(Debug, thiserror::Error)]
#[error("no randomness: {0}")]
pub struct NoRandomness(#[source] pub getrandom::Error);

/// A fresh random secret (`prefix` + 64 hex digits).
pub fn random_secret(prefix: &str) -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(NoRandomness)?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

/// Whether `token` is the API token whose hash is `stored`.
pub fn token_matches(stored: &str, token: &str) -> bool {
    constant_time_eq(hash(token).as_bytes(), stored.as_bytes())
}

/// GitLab's `X-Gitlab-Token` check.
pub fn gitlab_token_ok(secret: &str, headers: &HeaderMap) -> bool {
    headers
        .get("x-gitlab-token")
        .is_some_and(|v| constant_time_eq(v.as_bytes(), secret.as_bytes()))
}

/// GitHub's `X-Hub-Signature-256: sha256=HEX` check: HMAC-SHA256 of the raw body.
pub fn github_signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(sig) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(unhex)
    else {
        return false;
    };
    hmac_ok(secret, body, &sig)
}

/// Gitea's and Forgejo's `X-Gitea-Signature: HEX` check: HMAC-SHA256 of the raw body, hex
/// without a prefix.
pub fn gitea_signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(sig) = headers
        .get("x-gitea-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| unhex(v.trim()))
    else {
        return false;
    };
    hmac_ok(secret, body, &sig)
}

/// Whether `sig` is the HMAC-SHA256 of `body` under `secret` (compared in constant time).
fn hmac_ok(secret: &str, body: &[u8], sig: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(sig).is_ok()
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the request carries the API token (`Authorization: Bearer`) or a live session.
pub fn authorized(app: &App, headers: &HeaderMap) -> bool {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return token_matches(&app.token_hash, token.trim());
    }
    cookie(headers, COOKIE).is_some_and(|s| app.db.session_valid(&hash(s)).unwrap_or(false))
}

/// Middleware: 401 unless [`authorized`].
pub async fn require(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if authorized(&app, req.headers()) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"error": "missing or wrong API token"})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signature() {
        // The example of GitHub's documentation ("Validating webhook deliveries").
        let mut h = HeaderMap::new();
        h.insert(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
                .parse()
                .unwrap(),
        );
        assert!(github_signature_ok(
            "It's a Secret to Everybody",
            &h,
            b"Hello, World!"
        ));
        assert!(!github_signature_ok("other", &h, b"Hello, World!"));
        assert!(!github_signature_ok(
            "It's a Secret to Everybody",
            &h,
            b"Hello, World?"
        ));
        assert!(!github_signature_ok("x", &HeaderMap::new(), b""));
    }

    #[test]
    fn tokens() {
        let t = random_secret("gantry_").unwrap();
        assert_eq!(t.len(), 7 + 64);
        assert!(token_matches(&hash(&t), &t));
        assert!(!token_matches(&hash(&t), "gantry_x"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
