//! The one mapping from the crate's errors to HTTP answers.
//!
//! Every error becomes a status and the body `{"error": {"code", "message"}}`; a revoked
//! device's answer also carries `"wipe": true`. Errors nobody outside can act on (storage, a
//! bug) are logged with their cause and answered as a plain `500 internal` whose message says
//! nothing about the inside. Nothing here ever sees a token.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::Error;

/// An error on its way to becoming an HTTP answer.
#[derive(Debug)]
pub struct AppError(pub Error);

impl<E: Into<Error>> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError(e.into())
    }
}

/// The status of an error's kind.
pub fn status(e: &Error) -> StatusCode {
    match e.code() {
        "unauthorized" => StatusCode::UNAUTHORIZED,
        "revoked" | "actor_mismatch" | "forbidden" => StatusCode::FORBIDDEN,
        "not_found" => StatusCode::NOT_FOUND,
        "exists" => StatusCode::CONFLICT,
        "unsupported_protocol" | "malformed" | "invalid" | "playbook" => StatusCode::BAD_REQUEST,
        "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status(&e);
        let (code, message) = if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
            ("internal", "internal error".to_string())
        } else {
            tracing::debug!(error = %e, code = e.code(), "request refused");
            (e.code(), e.to_string())
        };
        let mut body = serde_json::json!({ "error": { "code": code, "message": message } });
        if matches!(e, Error::Revoked) {
            body["wipe"] = serde_json::Value::Bool(true);
        }
        (status, Json(body)).into_response()
    }
}

/// The answer for a path the API does not have.
pub async fn not_found() -> AppError {
    AppError(Error::not_found("path", "requested"))
}
