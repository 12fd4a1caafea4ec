//! `POST /v1/sync`: one batch of Automerge sync messages in, the server's answers out.
//!
//! The handler is the protocol's edge: it checks the content type and encoding, reads at most
//! [`MAX_BODY_BYTES`] (and, for a gzip body, decompresses at most that many: a gzip bomb is a
//! `413`, not an out-of-memory), parses the JSON (`400 malformed` for bad JSON, base64, a
//! document id, or two messages for one document) and hands the request to the store. See
//! `docs/protocol.md`.
//!
//! Admission: at most [`Admission`]'s permits of sync requests work at once (by default one
//! per core). The others wait for a permit here, as tasks, before they take a blocking thread:
//! a thread waiting on the store's lock would hold its stack and its allocator arena, and the
//! server's memory would follow the number of devices syncing instead of the cores. A request
//! that has waited [`Admission::queue_wait`] is answered `503 busy` with `Retry-After` (the
//! queue ahead of it at the recent pace), before a phone's own request timeout runs out: the
//! phone comes back then, instead of giving up on a request the server would still work on.

use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use client_core::protocol::{DocMessage, SyncRequest, SyncResponse};
use client_core::DocId;
use http_body_util::BodyExt;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::{blocking, AppError, AppState};
use crate::error::Error;

/// The largest request body, compressed or not (16 MiB).
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// How much of an oversized body is read (and discarded) before answering `413`, so that an
/// honest client that sent too much reads the answer instead of a reset connection.
const DRAIN_BYTES: usize = 4 * MAX_BODY_BYTES;
/// The most messages one request may carry.
pub const MAX_MESSAGES_IN: usize = 5_000;

/// How long a sync request waits for its turn by default before it is answered `503 busy`
/// (`doorstep serve --sync-queue-wait-secs`): well below a phone's 60 s request timeout, so
/// that a phone hears "busy, try again in N s" instead of timing out on a request the server
/// may still work on afterwards.
pub const DEFAULT_QUEUE_WAIT: Duration = Duration::from_secs(20);

/// How many sync requests work (parse, store, answer) at once; the rest wait as tasks, at
/// most [`Admission::queue_wait`] each, then are told to come back later.
#[derive(Clone, Debug)]
pub struct Admission {
    permits: Arc<tokio::sync::Semaphore>,
    size: usize,
    queue_wait: Duration,
    /// Requests waiting for a permit now.
    waiting: Arc<AtomicUsize>,
    /// A running mean of how long a request holds its permit, in milliseconds.
    mean_ms: Arc<AtomicU64>,
}

/// A sync request's turn to work; its time is counted into the running mean when dropped.
#[derive(Debug)]
pub struct Turn {
    _permit: tokio::sync::OwnedSemaphorePermit,
    started: Instant,
    mean_ms: Arc<AtomicU64>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let took = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // An exponential mean over the last ~8 requests; races between two drops lose one
        // sample at worst, which an estimate can afford.
        let old = self.mean_ms.load(Ordering::Relaxed);
        let new = if old == 0 { took } else { (old * 7 + took) / 8 };
        self.mean_ms.store(new.max(1), Ordering::Relaxed);
    }
}

impl Admission {
    /// Lets `size` sync requests work at once (at least one), the others waiting at most
    /// [`DEFAULT_QUEUE_WAIT`].
    pub fn new(size: usize) -> Admission {
        let size = size.max(1);
        Admission {
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
            size,
            queue_wait: DEFAULT_QUEUE_WAIT,
            waiting: Arc::new(AtomicUsize::new(0)),
            mean_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same admission, a request waiting at most `wait` for its turn (zero: a request
    /// that cannot work at once is answered busy at once).
    pub fn with_queue_wait(mut self, wait: Duration) -> Admission {
        self.queue_wait = wait;
        self
    }

    /// How many may work at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How long a request waits for its turn at most.
    pub fn queue_wait(&self) -> Duration {
        self.queue_wait
    }

    /// How many are working now.
    pub fn working(&self) -> usize {
        self.size - self.permits.available_permits()
    }

    /// How many are waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits (as a task, holding no thread) for the request's turn; after
    /// [`Admission::queue_wait`] without one, `Error::Busy` with the seconds after which a
    /// retry may find room: the queue ahead, worked `size` at a time at the running mean.
    pub async fn enter(&self) -> Result<Turn, Error> {
        let permits = self.permits.clone();
        let acquired = if let Ok(p) = permits.clone().try_acquire_owned() {
            Some(p)
        } else {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            let waited = tokio::time::timeout(self.queue_wait, permits.acquire_owned()).await;
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            match waited {
                Ok(Ok(p)) => Some(p),
                Ok(Err(_)) => {
                    return Err(Error::Internal("the sync admission is closed".into()));
                }
                Err(_) => None,
            }
        };
        match acquired {
            Some(permit) => Ok(Turn {
                _permit: permit,
                started: Instant::now(),
                mean_ms: self.mean_ms.clone(),
            }),
            None => Err(Error::Busy {
                retry_after_secs: self.retry_after_secs(),
            }),
        }
    }

    /// When a request refused now may come back: the work queued ahead of it (the waiting
    /// requests and itself, `size` at a time, at the running mean), between 1 and 60 s.
    pub fn retry_after_secs(&self) -> u64 {
        let mean = self.mean_ms.load(Ordering::Relaxed).max(100);
        let ahead = u64::try_from(self.waiting() + 1).unwrap_or(u64::MAX);
        let size = u64::try_from(self.size).unwrap_or(1).max(1);
        let ms = ahead.saturating_mul(mean) / size;
        ms.div_ceil(1000).clamp(1, 60)
    }
}

/// One sync request at work per core: the store's document work is CPU-bound (Automerge)
/// and serialised by its lock, so more at once only adds threads waiting.
pub fn default_sync_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The sync route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sync))
}

fn too_large() -> Error {
    Error::TooLarge(format!("the body exceeds {MAX_BODY_BYTES} bytes"))
}

/// Reads the body, at most [`MAX_BODY_BYTES`]; an oversized one (or one declared oversized) is
/// drained up to [`DRAIN_BYTES`] and refused.
async fn read_body(mut body: Body, declared_too_large: bool) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    let mut over = declared_too_large;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::Malformed(format!("reading the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        over |= seen > MAX_BODY_BYTES;
        if over {
            if seen > DRAIN_BYTES {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if over {
        return Err(too_large());
    }
    Ok(buf)
}

/// Checks the headers before reading anything: whether the body is gzip, and whether its
/// declared length is over the limit.
fn check_headers(headers: &HeaderMap) -> Result<(bool, bool), Error> {
    let ctype = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ctype.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(Error::UnsupportedMediaType(format!(
            "content type {ctype:?}: send application/json"
        )));
    }
    let gzip = match headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(e) if e.trim().eq_ignore_ascii_case("identity") => false,
        Some(e) if e.trim().eq_ignore_ascii_case("gzip") => true,
        Some(e) => {
            return Err(Error::UnsupportedMediaType(format!(
                "content encoding {e:?}: send gzip or nothing"
            )))
        }
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    Ok((gzip, declared.is_some_and(|n| n > MAX_BODY_BYTES as u64)))
}

/// The request as it arrives. client-core's `SyncRequest` decodes base64 from a borrowed
/// string only, which refuses JSON that escapes `/` as `\/` (legal, and some encoders do it);
/// this owned mirror accepts every valid JSON string.
#[derive(Deserialize)]
struct WireRequest {
    protocol: u32,
    actor: String,
    #[serde(default)]
    playbook: Option<String>,
    messages: Vec<WireMessage>,
}

#[derive(Deserialize)]
struct WireMessage {
    doc: DocId,
    data: String,
}

impl WireRequest {
    fn into_request(self) -> Result<SyncRequest, Error> {
        let messages = self
            .messages
            .into_iter()
            .map(|m| {
                let data = STANDARD
                    .decode(m.data.as_bytes())
                    .map_err(|e| Error::Malformed(format!("{}: data is not base64: {e}", m.doc)))?;
                Ok(DocMessage { doc: m.doc, data })
            })
            .collect::<Result<_, Error>>()?;
        Ok(SyncRequest {
            protocol: self.protocol,
            actor: self.actor,
            playbook: self.playbook,
            messages,
        })
    }
}

/// Decompresses and parses a body (on a blocking thread: this is CPU work). Public for the
/// fuzz test (`server/tests/hostile_fuzz.rs`), which drives it with hostile bodies.
pub fn parse(body: &[u8], gzip: bool) -> Result<SyncRequest, Error> {
    let mut inflated;
    let json = if gzip {
        inflated = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| Error::Malformed(format!("gzip: {e}")))?;
        if inflated.len() > MAX_BODY_BYTES {
            return Err(Error::TooLarge(format!(
                "the body decompresses to more than {MAX_BODY_BYTES} bytes"
            )));
        }
        &inflated[..]
    } else {
        body
    };
    let wire: WireRequest =
        serde_json::from_slice(json).map_err(|e| Error::Malformed(e.to_string()))?;
    if wire.messages.len() > MAX_MESSAGES_IN {
        return Err(Error::TooLarge(format!(
            "{} messages: at most {MAX_MESSAGES_IN} per request",
            wire.messages.len()
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(wire.messages.len());
    if let Some(twice) = wire.messages.iter().find(|m| !seen.insert(&m.doc)) {
        return Err(Error::Malformed(format!(
            "two messages for {}: at most one per document and request",
            twice.doc
        )));
    }
    wire.into_request()
}

/// One batch of Automerge sync messages in, the server's answers out (`docs/protocol.md`).
#[utoipa::path(
    post,
    path = "/sync",
    tag = "sync",
    request_body(content = serde_json::Value, description = "`SyncRequest`: `protocol`, `actor`, `playbook`, `messages` (docs/protocol.md §3)", content_type = "application/json"),
    responses(
        (status = 200, description = "`SyncResponse`: `protocol`, `messages`, `rejected`, `removed`, `more`, `playbook`", body = serde_json::Value),
        (status = 400, description = "Malformed or unsupported protocol"),
        (status = 401, description = "No or unknown token"),
        (status = 403, description = "Revoked device or actor mismatch"),
        (status = 413, description = "Too large"),
        (status = 415, description = "Not JSON, or an unknown content encoding"),
        (status = 503, description = "`busy`: no turn within the queue's wait; `Retry-After` says when to come back"),
    )
)]
async fn sync(
    State(state): State<AppState>,
    Caller(device): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SyncResponse>, AppError> {
    let (gzip, declared_too_large) = check_headers(&headers)?;
    let bytes = read_body(body, declared_too_large).await?;
    let team = device.member.team.clone();
    // Waits as a task, holding no thread, until the request may work; past the queue's
    // bound the phone is told to come back (`503 busy`, `Retry-After`).
    let _turn = state.sync_admission.enter().await?;
    let (response, changed, received) = blocking(&state, move |store| {
        let req = parse(&bytes, gzip)?;
        let before = store.change_seq()?;
        let r = store.sync(&device, &req)?;
        let changed = store.change_seq()? != before;
        tracing::info!(
            device = %device.id,
            user = %device.member.user,
            received = req.messages.len(),
            sent = r.messages.len(),
            rejected = r.rejected.len(),
            removed = r.removed.len(),
            more = r.more,
            changed,
            "sync"
        );
        Ok((r, changed, req.messages.len()))
    })
    .await?;
    state
        .metrics
        .sync_round(received, response.messages.len(), &response.rejected);
    if changed {
        state.events.changed(&team);
    }
    Ok(Json(response))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_gzip_bomb_is_too_large_not_out_of_memory() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..17 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 100_000);
        assert_eq!(parse(&bomb, true).unwrap_err().code(), "too_large");
        assert_eq!(parse(b"not gzip", true).unwrap_err().code(), "malformed");
        assert_eq!(parse(b"{", false).unwrap_err().code(), "malformed");
    }

    #[test]
    fn two_messages_for_one_document_are_malformed() {
        let body = br#"{"protocol":1,"actor":"ab","messages":[
            {"doc":"day:a1:2026-06-01","data":"Qg=="},
            {"doc":"day:a1:2026-06-02","data":"Qg=="},
            {"doc":"day:a1:2026-06-01","data":"Qw=="}]}"#;
        let e = parse(body, false).unwrap_err();
        assert_eq!(e.code(), "malformed");
        assert!(e.to_string().contains("day:a1:2026-06-01"), "{e}");
    }

    #[test]
    fn escaped_slashes_in_base64_are_accepted() {
        let body = br#"{"protocol":1,"actor":"ab","messages":[{"doc":"day:a1:2026-06-01","data":"Qg\/\/"}]}"#;
        let req = parse(body, false).unwrap();
        assert_eq!(req.messages[0].data, vec![0x42, 0x0f, 0xff]);
        let bad =
            br#"{"protocol":1,"actor":"ab","messages":[{"doc":"day:a1:2026-06-01","data":"!!"}]}"#;
        assert_eq!(parse(bad, false).unwrap_err().code(), "malformed");
    }
}
