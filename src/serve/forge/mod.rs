//! Commit statuses on the forge: what each forge's status API wants (`gitlab.rs`,
//! `github.rs`, `gitea.rs`: the URL, the token's header, the body, gantry's status in the
//! forge's words) and one HTTP client that sends them and sorts the answer into delivered,
//! try again (when, honouring `Retry-After`) or refused. The outbox (`outbox.rs`) decides what
//! is sent when; this module never touches the database.

pub mod gitea;
pub mod github;
pub mod gitlab;

use super::config::Forge;
use super::credentials::Secret;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

/// One status of one commit, in gantry's words.
#[derive(Clone, Debug)]
pub struct Status<'a> {
    /// The forge's project path (`org/app`).
    pub project: &'a str,
    /// The commit.
    pub sha: &'a str,
    /// Its branch or tag.
    pub git_ref: &'a str,
    /// gantry's status (`pending`, `running`, `success`, `failed`, `canceled`, `skipped`,
    /// `manual`).
    pub state: &'a str,
    /// The pipeline's page in serve's UI.
    pub target_url: Option<&'a str>,
    /// One line for people.
    pub description: &'a str,
    /// The status's name on the forge (`gantry/pipeline`).
    pub context: &'a str,
}

/// An HTTP request to a forge's API; it holds the token, so it has no `Debug`.
pub struct Request {
    /// Absolute URL.
    pub url: String,
    /// Headers (the token's among them).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Value,
}

/// The request that sets `status` on `forge` at API base `base` with `token`.
pub fn request(forge: Forge, base: &str, status: &Status<'_>, token: &Secret) -> Request {
    match forge {
        Forge::Gitlab => gitlab::request(base, status, token),
        Forge::Github => github::request(base, status, token),
        Forge::Gitea => gitea::request(base, status, token),
    }
}

/// `text` cut to at most `max` characters (the forges limit descriptions; GitHub to 140).
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// What became of one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The forge took it (HTTP status).
    Delivered(u16),
    /// Down, slow, overloaded or rate-limited: try again, after `after` when the forge said.
    Retry {
        /// The forge's `Retry-After` (or rate-limit reset), if it gave one.
        after: Option<Duration>,
        /// What happened.
        why: String,
    },
    /// The forge refused it for good (a wrong token, an unknown project or commit).
    Refused(String),
}

/// The one client of every forge (rustls on ring, as kube's; a timeout, so a hanging forge
/// only delays its own statuses).
fn client() -> Result<&'static reqwest::Client, &'static reqwest::Error> {
    static CLIENT: OnceLock<Result<reqwest::Client, reqwest::Error>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // Another part of the process may have installed it already: that one is used.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
                .build()
        })
        .as_ref()
}

/// Sends `req` and sorts the answer.
pub async fn send(req: Request) -> Delivery {
    let client = match client() {
        Ok(c) => c,
        Err(e) => return Delivery::Refused(format!("cannot build the HTTP client: {e}")),
    };
    let mut builder = client.post(&req.url).json(&req.body);
    for (name, value) in &req.headers {
        builder = builder.header(*name, value);
    }
    let response = match builder.send().await {
        Ok(r) => r,
        // Connection refused, reset, timed out: the forge is down or slow. reqwest's message
        // names the URL, which holds no credential.
        Err(e) => {
            return Delivery::Retry {
                after: None,
                why: format!("cannot reach the forge: {}", error_chain(&e)),
            };
        }
    };
    let code = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    judge(code, &headers, &body)
}

/// `e` with its sources (`error sending request: connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// An answer's meaning: 2xx delivered; 429, 5xx and 403 that says when to come back are
/// tried again; any other answer is refused (sending it again would get the same).
pub fn judge(code: u16, headers: &reqwest::header::HeaderMap, body: &str) -> Delivery {
    if (200..300).contains(&code) {
        return Delivery::Delivered(code);
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok());
    // GitHub's primary rate limit: 403/429 with no requests left until `x-ratelimit-reset`.
    let reset = (header("x-ratelimit-remaining") == Some("0"))
        .then(|| header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()))
        .flatten()
        .map(|at| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            at.saturating_sub(now).max(1)
        });
    let after = retry_after.or(reset).map(Duration::from_secs);
    let why = format!("HTTP {code}{}", message(body));
    match code {
        429 | 500..=599 => Delivery::Retry { after, why },
        403 if after.is_some() => Delivery::Retry { after, why },
        _ => Delivery::Refused(why),
    }
}

/// `: MESSAGE` from a forge's JSON error (`message`, GitLab's `error`), short.
fn message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = match v.get("message").or_else(|| v.get("error")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => return String::new(),
    };
    format!(": {}", cut(text.lines().next().unwrap_or(""), 200))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn answers_are_sorted_into_delivered_retry_and_refused() {
        let none = HeaderMap::new();
        assert_eq!(judge(201, &none, ""), Delivery::Delivered(201));
        assert!(matches!(
            judge(503, &none, ""),
            Delivery::Retry { after: None, .. }
        ));
        let mut later = HeaderMap::new();
        later.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(
            judge(429, &later, ""),
            Delivery::Retry {
                after: Some(Duration::from_secs(7)),
                why: "HTTP 429".into()
            }
        );
        assert!(matches!(
            judge(403, &later, ""),
            Delivery::Retry { after: Some(_), .. }
        ));
        assert_eq!(
            judge(403, &none, r#"{"message":"Bad credentials"}"#),
            Delivery::Refused("HTTP 403: Bad credentials".into())
        );
        assert!(matches!(judge(404, &none, ""), Delivery::Refused(_)));
    }

    #[test]
    fn descriptions_are_cut_on_characters() {
        assert_eq!(cut("äöü", 2), "äö");
        assert_eq!(cut("ab", 140), "ab");
    }
}
