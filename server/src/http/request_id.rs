//! Every request's id, its log span and its line in the metrics: the outermost layer of the
//! app ([`observe`]).
//!
//! A request gets an id — the client's `X-Request-Id` when it is short and plain
//! (`[A-Za-z0-9._-]{1,64}`, so a proxy's or a phone's id ties their logs to ours), otherwise a
//! fresh random one — that is echoed in the answer's `X-Request-Id` and carried by every log
//! line written while the request is handled (a tracing span `request{id, method, route}`;
//! storage work on blocking threads enters the same span, see `http::blocking`). One line
//! per answered request says its status and time. The span and the line name the route's
//! template, never the path or query a client sent (a login link's token is in its path), and
//! no header: tokens never reach the log.

use std::fmt;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::metrics::{ErrorCode, OTHER_ROUTE};
use super::AppState;

/// The header that carries a request's id both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The target of the one `answered` line per request: `RUST_LOG=info,doorstep::access=off`
/// drops those lines and keeps the request's span on every other line.
pub const ACCESS_TARGET: &str = "doorstep::access";

/// The longest id taken from a client.
const MAX_LEN: usize = 64;

/// A request's id: short, plain ASCII (safe in a header and a log line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The client's id if it is one we accept (`[A-Za-z0-9._-]{1,64}`).
    pub fn parse(text: &str) -> Option<RequestId> {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        (!text.is_empty() && text.len() <= MAX_LEN && text.chars().all(plain))
            .then(|| RequestId(text.to_string()))
    }

    /// A fresh random id (32 hex digits).
    pub fn random() -> RequestId {
        RequestId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The client's id from the headers if acceptable, else a fresh one.
    pub fn from_headers(headers: &HeaderMap) -> RequestId {
        headers
            .get(&HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(RequestId::parse)
            .unwrap_or_else(RequestId::random)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Gives the request its id and span, answers with the id, logs the outcome and counts it.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = RequestId::from_headers(req.headers());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(OTHER_ROUTE, |p| p.as_str())
        .to_string();
    let method = req.method().clone();
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = start.elapsed();
    let status = response.status();
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, value);
    }
    let code = response.extensions().get::<ErrorCode>().copied();
    state
        .metrics
        .request(&method, &route, status, code, elapsed);
    span.in_scope(|| {
        tracing::info!(
            target: ACCESS_TARGET,
            status = status.as_u16(),
            ms = elapsed.as_secs_f64() * 1000.0,
            code = code.map(|ErrorCode(c)| c),
            "answered"
        );
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_taken_from_clients() {
        for good in ["a", "abc-123_X.y", &"7".repeat(64)] {
            assert_eq!(RequestId::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", &"7".repeat(65), "a b", "a\nb", "Bearer:x", "ü", "a/b"] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
        let fresh = RequestId::random();
        assert_eq!(fresh.as_str().len(), 32);
        assert!(RequestId::parse(fresh.as_str()).is_some());
        assert_ne!(fresh, RequestId::random());
    }
}
