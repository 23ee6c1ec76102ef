//! The API's error: an HTTP status and a reason, as JSON `{"error": …}`; and the one parser of
//! numeric ids in paths. Apart from `api.rs` so every handler module (`sse.rs` too) can use
//! it without depending on the API's routes.

use super::db::DbError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error: status and reason.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    reason: String,
}

impl ApiError {
    /// 400.
    pub fn bad(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }
    /// 404.
    pub fn not_found(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            reason: reason.into(),
        }
    }
    /// 409.
    pub fn conflict(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            reason: reason.into(),
        }
    }
    /// 503.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            reason: reason.into(),
        }
    }
}

impl ApiError {
    /// The reason given back (also recorded, e.g. as a schedule's last error).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::error!("{e}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: "database error".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.reason}))).into_response()
    }
}

/// A numeric id from a path segment (anything else, `..` included, is refused).
pub fn id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad(format!("`{raw}` is not an id")))
}
