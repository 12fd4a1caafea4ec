//! The one mapping from the crate's errors to HTTP answers.
//!
//! Every error becomes a status and the body `{"error": {"code", "message"}}`; a revoked
//! device's answer also carries `"wipe": true`. Errors nobody outside can act on (storage, a
//! bug) are logged with their cause and answered as a plain `500 internal` whose message says
//! nothing about the inside. Nothing here ever sees a token.
//!
//! Answers made outside the handlers — axum's extractor rejections (a body that is not JSON,
//! a missing field, a bad path or query, a wrong content type, a body over the limit), a
//! method the route does not have — come as text or empty; [`json_errors`] rewrites them into
//! the same body, so a client parses one shape everywhere.

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::metrics::ErrorCode;
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
        "too_many_attempts" => StatusCode::TOO_MANY_REQUESTS,
        "busy" | "not_ready" => StatusCode::SERVICE_UNAVAILABLE,
        "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status(&e);
        // Only internals are hidden; a 503 (`busy`, `not_ready`) says what to do.
        let (code, message) = if status == StatusCode::INTERNAL_SERVER_ERROR {
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
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(code));
        if let Some(secs) = e.retry_after_secs() {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// The largest non-JSON error body read to become a message.
const MESSAGE_BYTES: usize = 4096;

/// Rewrites an error answer that is not JSON or HTML (axum's rejections, a `405`) into
/// `{"error": {"code", "message"}}`, keeping its status (a `422` of a JSON body that does not
/// fit the type becomes `400 invalid`) and its headers (`Allow`, `Retry-After`). The
/// dashboard's page in words for a person's browser (`text/html`: a path that is not there, a
/// used login link) is left as it is.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // JSON errors are ours already; HTML ones are the dashboard's pages for a person (a used
    // login link, an unknown page), asked for with `Accept: text/html`. Everything else is a
    // framework's plain-text rejection.
    let ours = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if ours {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MESSAGE_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let (status, code) = match status {
        StatusCode::BAD_REQUEST => (status, "malformed"),
        StatusCode::UNPROCESSABLE_ENTITY => (StatusCode::BAD_REQUEST, "invalid"),
        StatusCode::NOT_FOUND => (status, "not_found"),
        StatusCode::METHOD_NOT_ALLOWED => (status, "method_not_allowed"),
        StatusCode::REQUEST_TIMEOUT => (status, "timeout"),
        StatusCode::PAYLOAD_TOO_LARGE => (status, "too_large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "unsupported_media_type"),
        StatusCode::TOO_MANY_REQUESTS => (status, "too_many_attempts"),
        s if s.is_server_error() => (s, "internal"),
        s => (s, "refused"),
    };
    let message = if status.is_server_error() || text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    parts.status = status;
    parts.extensions.insert(ErrorCode(code));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// The answer for a path the API does not have.
pub async fn not_found() -> AppError {
    AppError(Error::not_found("path", "requested"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_answer_429_or_503_with_retry_after() {
        for (e, status) in [
            (
                Error::TooManyAttempts {
                    retry_after_secs: 4,
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                Error::Busy {
                    retry_after_secs: 5,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ] {
            let secs = e.retry_after_secs().unwrap().to_string();
            let r = AppError(e).into_response();
            assert_eq!(r.status(), status);
            assert_eq!(r.headers()[RETRY_AFTER], secs.as_str());
        }
        let r = AppError(Error::Busy {
            retry_after_secs: 1,
        })
        .into_response();
        assert_eq!(r.extensions().get::<ErrorCode>(), Some(&ErrorCode("busy")));
        let r = AppError(Error::LoginFailed).into_response();
        assert!(!r.headers().contains_key(RETRY_AFTER));
    }
}
