//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`). kube-sim never advertises
//! protobuf, and kubectl sends JSON to it; a protobuf body gets 415 with a clear message.

use crate::resources::ResourceType;
use crate::status::ApiError;
use serde_json::Value;

/// Decodes a protobuf body; unsupported, answered with 415 Unsupported Media Type.
pub fn decode(rt: &ResourceType, _body: &[u8]) -> Result<Value, ApiError> {
    Err(ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "kube-sim accepts {} only as JSON (application/json); protobuf bodies are not supported",
            rt.kind
        ),
    ))
}
