//! How one batch reaches the server and its answer comes back: the [`Transport`] trait and
//! its HTTP implementation.
//!
//! The sync rounds ([`crate::run`]) only need "send this `SyncRequest`, get a `SyncResponse`
//! or an error"; hiding the wire behind a trait lets the same rounds run against the real
//! server over HTTP ([`HttpTransport`]) and against an in-process hub in tests
//! ([`crate::hub::MemoryHub`]). This is the only module that knows HTTP: status codes, headers,
//! compression and the server's JSON error bodies are turned into [`SyncError`] here, once.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use client_core::protocol::{SyncRequest, SyncResponse};
use serde::Deserialize;

use crate::error::SyncError;

/// Exchanges one batch with the server.
///
/// An implementation performs exactly one request: no retries (the scheduler retries with
/// backoff) and no splitting (the rounds split large batches).
pub trait Transport: Send + Sync {
    /// Sends `request` and returns the server's answer. (By reference: the caller keeps the
    /// batch, to split it if the server finds it too large.)
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send;
}

impl<T: Transport> Transport for Arc<T> {
    fn exchange(
        &self,
        request: &SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send {
        (**self).exchange(request)
    }
}

/// Checks a server address and returns it in the form stored and used: an `http` or `https`
/// URL without query, fragment or trailing slash.
pub fn normalize_server_url(url: &str) -> Result<String, SyncError> {
    // The reason never repeats the URL: it might carry a password.
    let bad = |reason: &str| SyncError::Invalid {
        field: "server",
        reason: reason.to_string(),
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("no query or fragment, please"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("credentials belong in --token, not in the URL"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// The start of an enrolment link: `doorstep://enrol?server=URL&token=TOKEN`.
pub const ENROL_LINK_PREFIX: &str = "doorstep://enrol?";

/// The enrolment link for a device token on `server` (what `doorstep admin device issue
/// --link` prints and shows as a QR code): the phone joins by opening it instead of typing a
/// 43-character token. The server URL is normalised; both values are form-encoded.
pub fn enrol_link(server: &str, token: &str) -> Result<String, SyncError> {
    let server = normalize_server_url(server)?;
    let link = reqwest::Url::parse_with_params(
        "doorstep://enrol",
        [("server", server.as_str()), ("token", token.trim())],
    )
    .map_err(|e| SyncError::Invalid {
        field: "link",
        reason: e.to_string(),
    })?;
    Ok(link.to_string())
}

/// The server URL and token of an enrolment link. Anything else (another scheme, a missing
/// or repeated field) is [`SyncError::Invalid`] on `link`, never echoing the token.
pub fn parse_enrol_link(link: &str) -> Result<(String, String), SyncError> {
    let bad = |reason: &str| SyncError::Invalid {
        field: "link",
        reason: reason.to_string(),
    };
    let link = link.trim();
    if !link.starts_with(ENROL_LINK_PREFIX) {
        return Err(bad("an enrolment link begins with doorstep://enrol?"));
    }
    let url = reqwest::Url::parse(link).map_err(|_| bad("not a link"))?;
    let (mut server, mut token) = (None, None);
    for (key, value) in url.query_pairs() {
        let slot = match key.as_ref() {
            "server" => &mut server,
            "token" => &mut token,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(bad(&format!("`{key}` is given twice")));
        }
    }
    match (server, token) {
        (Some(s), Some(t)) => Ok((s, t)),
        _ => Err(bad("the link needs both server= and token=")),
    }
}

/// Tuning of the HTTP client.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long one whole request (upload, server work, download) may take.
    pub timeout: Duration,
    /// Request bodies of at least this many bytes are sent gzipped (`None`: never).
    pub gzip_above: Option<usize>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            gzip_above: Some(1024),
        }
    }
}

/// The server over HTTP: `POST {server}/v1/sync` with the device's bearer token.
#[derive(Clone)]
pub struct HttpTransport {
    server: String,
    token: String,
    client: reqwest::Client,
    gzip_above: Option<usize>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("HttpTransport")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The server's JSON error body: `{"error": {"code", "message"}}`, with `"wipe": true` for a
/// revoked device (accepted at the top level or inside `error`).
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
    #[serde(default)]
    wipe: bool,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    wipe: bool,
}

/// Gzips a request body.
fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::fast(),
    );
    enc.write_all(bytes)?;
    enc.finish()
}

/// A reqwest error with its causes ("error sending request" alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// The seconds of a `Retry-After` header in its delay-seconds form (an HTTP date is not used
/// by our server and is ignored), capped at an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(|s| s.min(3600))
}

/// Maps a refused request (any status but 200) to the error a caller can act on.
pub(crate) fn error_from_status(status: u16, body: &[u8]) -> SyncError {
    error_with_retry_after(status, body, None)
}

/// [`error_from_status`], with the answer's `Retry-After` seconds: a `503` or `429` that
/// carries one is [`SyncError::Busy`] (come back then), not a fault.
pub(crate) fn error_with_retry_after(
    status: u16,
    body: &[u8],
    retry_after: Option<u64>,
) -> SyncError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed.error.code;
    let message = if parsed.error.message.is_empty() {
        String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
    } else {
        parsed.error.message
    };
    if let (429 | 503, Some(secs)) = (status, retry_after) {
        return SyncError::Busy {
            retry_after_secs: secs,
            message,
        };
    }
    match status {
        401 => SyncError::Unauthorized(message),
        403 if code == "revoked" || parsed.wipe || parsed.error.wipe => SyncError::Revoked,
        408 | 429 | 500..=599 => SyncError::Server { status, message },
        _ => SyncError::Refused {
            status,
            code: if code.is_empty() {
                format!("http_{status}")
            } else {
                code
            },
            message,
        },
    }
}

impl HttpTransport {
    /// A transport to `server` (an http(s) URL) with the device token `token`.
    pub fn new(server: &str, token: &str) -> Result<HttpTransport, SyncError> {
        HttpTransport::with_options(server, token, HttpOptions::default())
    }

    /// Like [`HttpTransport::new`], with timeouts and compression chosen.
    pub fn with_options(
        server: &str,
        token: &str,
        options: HttpOptions,
    ) -> Result<HttpTransport, SyncError> {
        let server = normalize_server_url(server)?;
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            // Below the server's keep-alive (its 20 s header timeout): a pooled connection is
            // never one the server is closing as the next round goes out on it.
            .pool_idle_timeout(Duration::from_secs(15))
            .user_agent(concat!("doorstep-client-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Network(describe(&e)))?;
        Ok(HttpTransport {
            server,
            token: token.to_string(),
            client,
            gzip_above: options.gzip_above,
        })
    }

    /// The server's URL (normalised).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `GET {server}/health`: whether the server answers at all.
    pub async fn health(&self) -> Result<(), SyncError> {
        let r = self
            .client
            .get(format!("{}/health", self.server))
            .send()
            .await
            .map_err(|e| SyncError::Network(describe(&e)))?;
        let status = r.status().as_u16();
        if status == 200 {
            return Ok(());
        }
        let body = r.bytes().await.unwrap_or_default();
        Err(error_from_status(status, &body))
    }

    async fn post(&self, request: &SyncRequest) -> Result<SyncResponse, SyncError> {
        let json = serde_json::to_vec(request).map_err(|e| SyncError::Server {
            status: 0,
            message: format!("cannot encode the request: {e}"),
        })?;
        let (body, gzipped) = match self.gzip_above {
            Some(min) if json.len() >= min => match gzip(&json) {
                Ok(gz) => (gz, true),
                Err(_) => (json, false),
            },
            _ => (json, false),
        };
        let mut builder = self
            .client
            .post(format!("{}/v1/sync", self.server))
            .bearer_auth(&self.token)
            // reqwest's `gzip` feature asks for (Accept-Encoding) and inflates gzip answers.
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if gzipped {
            builder = builder.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        let response = builder
            .body(body)
            .send()
            .await
            .map_err(|e| SyncError::Network(describe(&e)))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        // A connection cut while the body arrives is the network's fault, whatever the status.
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SyncError::Network(describe(&e)))?;
        if status != 200 {
            return Err(error_with_retry_after(status, &bytes, wait));
        }
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Server {
            status,
            message: format!("the answer is not a sync response: {e}"),
        })
    }
}

impl Transport for HttpTransport {
    async fn exchange(&self, request: &SyncRequest) -> Result<SyncResponse, SyncError> {
        self.post(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked_and_normalised() {
        assert_eq!(
            normalize_server_url("https://sync.example.com/").unwrap(),
            "https://sync.example.com"
        );
        assert_eq!(
            normalize_server_url(" http://127.0.0.1:8080/doorstep/ ").unwrap(),
            "http://127.0.0.1:8080/doorstep"
        );
        for bad in [
            "",
            "sync.example.com",
            "ftp://example.com",
            "https://example.com/?a=1",
            "https://user:pw@example.com",
        ] {
            assert!(normalize_server_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_bodies_map_to_what_the_device_can_do() {
        let body = |code: &str, extra: &str| {
            format!(r#"{{"error":{{"code":"{code}","message":"m"}}{extra}}}"#).into_bytes()
        };
        assert!(matches!(
            error_from_status(401, &body("unauthorized", "")),
            SyncError::Unauthorized(_)
        ));
        assert!(matches!(
            error_from_status(403, &body("revoked", r#","wipe":true"#)),
            SyncError::Revoked
        ));
        assert!(matches!(
            error_from_status(403, &body("actor_mismatch", "")),
            SyncError::Refused { status: 403, ref code, .. } if code == "actor_mismatch"
        ));
        assert!(matches!(
            error_from_status(413, &body("too_large", "")),
            SyncError::Refused { status: 413, .. }
        ));
        assert!(matches!(
            error_from_status(503, b"<html>bad gateway</html>"),
            SyncError::Server { status: 503, .. }
        ));
        assert!(matches!(
            error_from_status(404, b""),
            SyncError::Refused { ref code, .. } if code == "http_404"
        ));
        // A busy server says when to come back; without the header a 503 is a fault.
        let busy = error_with_retry_after(503, &body("busy", ""), Some(7));
        assert_eq!(busy.retry_after(), Some(std::time::Duration::from_secs(7)));
        assert_eq!(busy.code(), "busy");
        assert!(busy.is_retryable());
        assert!(matches!(
            error_with_retry_after(429, &body("too_many_attempts", ""), Some(3)),
            SyncError::Busy {
                retry_after_secs: 3,
                ..
            }
        ));
        assert!(matches!(
            error_with_retry_after(400, &body("malformed", ""), Some(3)),
            SyncError::Refused { status: 400, .. }
        ));
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "12".parse().unwrap());
        assert_eq!(retry_after(&h), Some(12));
        h.insert(reqwest::header::RETRY_AFTER, "999999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(3600));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let t = HttpTransport::new("http://127.0.0.1:9", "s3cret-token").unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
