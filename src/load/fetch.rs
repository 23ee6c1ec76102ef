//! Blocking HTTP GETs for includes, on the hyper + rustls stack kube already links (no second
//! HTTP stack). `load` is synchronous and may be called from inside a tokio runtime (`serve`,
//! `run`), so each request runs on a short-lived thread with its own current-thread runtime:
//! nothing blocks an outer runtime's worker, and no runtime is ever dropped in async context.
//! Fetches are rare (the cache answers repeated loads), so a connection per request is fine.

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;

/// GitLab's `Gitlab::HTTP` opens connections within 10 seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// GitLab's `Gitlab::HTTP` read timeout; a request never waits longer for an answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Redirects a remote include may follow (HTTParty's default limit).
const MAX_REDIRECTS: usize = 5;

/// An answer: status, body (within the size limit) and, for redirects, where to.
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a GET failed before an HTTP status could be judged. Never carries a header value.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an http(s) URL.
    #[error("`{0}` is not a valid http(s) address")]
    Address(String),
    /// No connection (DNS, refused, TLS).
    #[error("could not be fetched: {0}")]
    Connect(String),
    /// No complete answer in time.
    #[error("could not be fetched because of a timeout ({0:?})")]
    Timeout(Duration),
    /// The body is larger than allowed.
    #[error("is larger than {0} bytes")]
    TooLarge(u64),
    /// A redirect chain too long, or a redirect without a usable `Location`.
    #[error("could not be fetched: too many or invalid redirects")]
    Redirects,
    /// The TLS settings or the runtime could not be set up.
    #[error("cannot set up HTTPS: {0}")]
    Setup(String),
}

/// A request: URL, headers (a token's header among them; never logged), limits.
pub struct Request<'a> {
    /// http(s) URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, &'a str)>,
    /// Largest body accepted.
    pub max_bytes: u64,
    /// Time allowed for the whole request.
    pub timeout: Duration,
    /// Whether 3xx answers are followed (never for requests carrying a token: a redirect
    /// must not take a credential to another host).
    pub follow: bool,
}

/// The TLS settings, made once: the platform's roots (as kube's default), which honour
/// `SSL_CERT_FILE`.
#[derive(Clone)]
pub struct Http {
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Http {
    /// Loads the platform's trust roots.
    pub fn new() -> Result<Http, FetchError> {
        use rustls_platform_verifier::BuilderVerifierExt;
        let tls = rustls::ClientConfig::builder()
            .with_platform_verifier()
            .map_err(|e| FetchError::Setup(e.to_string()))?
            .with_no_client_auth();
        Ok(Http { tls: Arc::new(tls) })
    }

    /// GETs `request.url`, following redirects when allowed.
    pub fn get(&self, request: &Request) -> Result<Response, FetchError> {
        let tls = (*self.tls).clone();
        std::thread::scope(|s| {
            s.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| FetchError::Setup(e.to_string()))?;
                runtime.block_on(async {
                    tokio::time::timeout(request.timeout, get(tls, request))
                        .await
                        .unwrap_or(Err(FetchError::Timeout(request.timeout)))
                })
            })
            .join()
            .unwrap_or_else(|_| Err(FetchError::Setup("the request thread failed".into())))
        })
    }
}

async fn get(tls: rustls::ClientConfig, request: &Request<'_>) -> Result<Response, FetchError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let mut url = request.url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let uri: hyper::Uri = url.parse().map_err(|_| FetchError::Address(url.clone()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(FetchError::Address(url));
        }
        let mut builder = hyper::Request::get(uri.clone())
            .header("user-agent", concat!("gantry/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &request.headers {
            builder = builder.header(*name, *value);
        }
        let req = builder
            .body(Empty::new())
            .map_err(|_| FetchError::Address(url.clone()))?;
        let response = tokio::time::timeout(READ_TIMEOUT, client.request(req))
            .await
            .map_err(|_| FetchError::Timeout(READ_TIMEOUT))?
            .map_err(|e| FetchError::Connect(error_chain(&e)))?;
        let status = response.status();
        if request.follow && status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .ok_or(FetchError::Redirects)?;
            url = redirect_target(&uri, location).ok_or(FetchError::Redirects)?;
            continue;
        }
        let body = Limited::new(response.into_body(), request.max_bytes as usize)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError::TooLarge(request.max_bytes)
                } else {
                    FetchError::Connect(e.to_string())
                }
            })?
            .to_bytes();
        return Ok(Response {
            status: status.as_u16(),
            body: body.to_vec(),
        });
    }
    Err(FetchError::Redirects)
}

/// Where a `Location` header points, from the request's URL.
fn redirect_target(from: &hyper::Uri, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    let base = format!("{}://{}", from.scheme_str()?, from.authority()?);
    if location.starts_with('/') {
        return Some(format!("{base}{location}"));
    }
    let dir = from.path().rsplit_once('/').map_or("", |(d, _)| d);
    Some(format!("{base}{dir}/{location}"))
}

/// An error with its sources, for "could not connect" messages (hyper's top-level error
/// alone says only "client error (Connect)").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_request() {
        let from: hyper::Uri = "https://h.example/a/b.yml".parse().unwrap();
        assert_eq!(
            redirect_target(&from, "/c.yml").as_deref(),
            Some("https://h.example/c.yml")
        );
        assert_eq!(
            redirect_target(&from, "c.yml").as_deref(),
            Some("https://h.example/a/c.yml")
        );
        assert_eq!(
            redirect_target(&from, "http://o.example/x.yml").as_deref(),
            Some("http://o.example/x.yml")
        );
    }
}
