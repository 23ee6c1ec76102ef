//! HTTP to GitLab's runner API: hyper's client (already in gantry through kube) with rustls
//! and the system's roots, so `https://gitlab.com` and a loopback `http://` test double both
//! work. Tokens travel in JSON bodies and the `JOB-TOKEN` header only, never in a URL.

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Longest a request may take, long polls included (GitLab holds `jobs/request` up to ~50 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a request to GitLab failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configured URL is not usable.
    #[error("GitLab URL `{url}`: expected http(s)://HOST[:PORT][/PATH] without credentials in it")]
    Url {
        /// As configured.
        url: String,
    },
    /// A request cannot be built from the URL and path.
    #[error("{method} {path}: {source}")]
    Request {
        /// HTTP method.
        method: Method,
        /// API path.
        path: String,
        /// The builder's error.
        source: http::Error,
    },
    /// The connection failed.
    #[error("{method} {path}: {source}")]
    Http {
        /// HTTP method.
        method: Method,
        /// API path.
        path: String,
        /// hyper's error.
        source: hyper_util::client::legacy::Error,
    },
    /// Reading the answer failed.
    #[error("{method} {path}: reading the answer: {source}")]
    Body {
        /// HTTP method.
        method: Method,
        /// API path.
        path: String,
        /// hyper's error.
        source: hyper::Error,
    },
    /// No answer in time.
    #[error("{method} {path}: no answer within {REQUEST_TIMEOUT:?}")]
    Timeout {
        /// HTTP method.
        method: Method,
        /// API path.
        path: String,
    },
    /// The answer's body is not what GitLab sends.
    #[error("{path}: unexpected answer: {source}")]
    Json {
        /// API path.
        path: String,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// A download could not be written.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file written.
        file: std::path::PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}

/// A client for one GitLab instance.
#[derive(Clone)]
pub struct Client {
    http: Hyper<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
}

/// GitLab's answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers (`Job-Status`, `Range`, `X-GitLab-*`).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| ClientError::Json {
            path: path.to_string(),
            source,
        })
    }
}

/// Checks that `url` is `http(s)://authority[/path]` with no user or password in it.
pub fn check_url(url: &str) -> Result<String, ClientError> {
    let bad = || ClientError::Url {
        url: url.split('@').next_back().unwrap_or_default().to_string(),
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    Ok(url.trim_end_matches('/').to_string())
}

impl Client {
    /// A client for the instance at `url`.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let base = check_url(url)?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        // No system roots (a minimal container) still allows plain http to a local instance.
        let connector = match builder.with_native_roots() {
            Ok(b) => b.https_or_http().enable_http1().build(),
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
                .https_or_http()
                .enable_http1()
                .build(),
        };
        let http = Hyper::builder(TokioExecutor::new()).build(connector);
        Ok(Client { http, base })
    }

    /// The instance's URL as configured.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let mut r = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header(
                "User-Agent",
                concat!("gantry-runner ", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Full::new(body))
            .map_err(|source| ClientError::Request {
                method: method.clone(),
                path: path.to_string(),
                source,
            })
    }

    async fn response(
        &self,
        method: &Method,
        path: &str,
        req: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(req)).await {
            Err(_) => Err(ClientError::Timeout {
                method: method.clone(),
                path: path.to_string(),
            }),
            Ok(r) => r.map_err(|source| ClientError::Http {
                method: method.clone(),
                path: path.to_string(),
                source,
            }),
        }
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, ClientError> {
        let req = self.request(&method, path, headers, body)?;
        let resp = self.response(&method, path, req).await?;
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|source| ClientError::Body {
                method: method.clone(),
                path: path.to_string(),
                source,
            })?
            .to_bytes();
        Ok(Answer {
            status,
            headers: parts.headers,
            body,
        })
    }

    /// Sends `value` as JSON.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        value: &serde_json::Value,
    ) -> Result<Answer, ClientError> {
        let body = Bytes::from(value.to_string());
        self.send(
            method,
            path,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            body,
        )
        .await
    }

    /// GETs `path` into the file `to` as it arrives; returns the status (the file is written
    /// only for 200).
    pub async fn download(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        to: &Path,
    ) -> Result<u16, ClientError> {
        let method = Method::GET;
        let req = self.request(&method, path, headers, Bytes::new())?;
        let resp = self.response(&method, path, req).await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Ok(status);
        }
        let io = |source| ClientError::Io {
            file: to.to_path_buf(),
            source,
        };
        let mut file = tokio::fs::File::create(to).await.map_err(io)?;
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|source| ClientError::Body {
                method: method.clone(),
                path: path.to_string(),
                source,
            })?;
            if let Some(data) = frame.data_ref() {
                file.write_all(data).await.map_err(io)?;
            }
        }
        file.flush().await.map_err(io)?;
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn urls_with_credentials_are_refused_without_quoting_them() {
        assert_eq!(
            check_url("https://gitlab.example.com/").unwrap(),
            "https://gitlab.example.com"
        );
        let e = check_url("https://user:s3cret@gitlab.example.com")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(check_url("ftp://gitlab.example.com").is_err());
        assert!(check_url("http://").is_err());
    }
}
