//! The accept loop: how many connections the server holds and how long each may dawdle.
//!
//! `axum::serve` reads request heads without a deadline and accepts every connection, so 500
//! slow or silent clients could hold the server's file descriptors for as long as they liked
//! and take `/health` down with them. This loop serves each connection with hyper's HTTP/1
//! server and puts four limits on it ([`Limits`]):
//!
//! - a **connection cap**: past it the server stops accepting (new clients wait in the kernel's
//!   backlog, costing the server nothing) until a connection ends;
//! - a **header timeout**: a request's head (request line and headers) must have arrived
//!   within it, counted from when the server starts waiting for it; on a kept-alive connection
//!   that is the end of the previous response, so it also bounds an idle keep-alive;
//! - a **body timeout**: a request's body must have arrived whole within it, counted from its
//!   head (a body that drips in byte by byte is cut off);
//! - an **idle timeout**: a connection on which no byte moved either way for that long, while
//!   no handler is working on one of its requests, is closed (a client that stopped reading
//!   its response, say). Event streams send a keep-alive comment well within it.
//!
//! Each request carries the peer's address ([`ConnectInfo`]) for the login throttle; the
//! number of open connections is a gauge of the metrics. On shutdown the loop stops accepting
//! (the listening socket is closed: new clients are refused) and asks every connection to
//! finish its request in flight and close; connections still open after the **shutdown grace**
//! are dropped (a request cut there is not acknowledged, so its client sends it again).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};

/// The limits at the edge (flags of `doorstep serve`, see docs/api.md).
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long a request's head may take to arrive.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, from its head.
    pub body_timeout: Duration,
    /// How long a connection may sit with nothing moving while no handler works for it.
    pub idle_timeout: Duration,
    /// How many connections are held at once.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish once the server is told to stop.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    /// Defaults that suit phones on 2G: a request head of a few hundred bytes arrives in well
    /// under a second even at 2.5 KB/s, but a radio waking up can take seconds; a 1 MiB sync
    /// body at 10 KB/s takes 100 s.
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then lets every
/// connection finish the request in flight and returns once all are closed, or once the
/// shutdown grace is over (those still open are then dropped). `open` counts the connections
/// held.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    open: Gauge,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::error!(error = %e, "accept failed");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let limits = limits.clone();
        let stop = stop_rx.clone();
        let open = open.clone();
        open.inc();
        tokio::spawn(async move {
            connection(stream, peer, app, &limits, stop).await;
            open.dec();
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // Resolves once every connection dropped its receiver, i.e. ended.
    if tokio::time::timeout(limits.shutdown_grace, stop_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            open = open.get(),
            grace = ?limits.shutdown_grace,
            "shutdown grace over: dropping the connections still open"
        );
    }
}

/// Errors of one connection that say nothing about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until it ends, times out, sits idle or the server stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: &Limits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let body_timeout = limits.body_timeout;
    let in_service = activity.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let req = req.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
        let mut app = app.clone();
        let busy = Busy::new(in_service.clone());
        async move {
            let response: Result<Response<Body>, Infallible> =
                tower_service::Service::call(&mut app, req).await;
            drop(busy);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let idle = idle(activity, limits.idle_timeout);
    tokio::pin!(idle);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = &mut idle => {
                tracing::debug!(%peer, "idle connection closed");
                return;
            }
        }
    }
}

/// Resolves once nothing moved on the connection for `timeout` while no handler was busy.
async fn idle(activity: Arc<Activity>, timeout: Duration) {
    loop {
        let deadline = activity.last() + timeout;
        let now = Instant::now();
        if now >= deadline {
            if activity.busy.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::time::sleep(timeout).await;
        } else {
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// When bytes last moved on a connection, and how many of its requests a handler works on.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::AcqRel);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Acquire))
    }
}

/// Marks a handler at work on one of the connection's requests.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A TCP stream that records when bytes move.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The error of a body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

/// A request body that must arrive whole by a deadline.
struct DeadlineBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        DeadlineBody {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimedOut(this.timeout).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Descriptors kept free of connections: the database, its journal, blocking threads' files.
const DESCRIPTOR_RESERVE: usize = 64;

/// How many connections the process's file descriptor limit leaves room for, after raising
/// the soft limit to the hard one (a connection past the limit would fail `accept` and every
/// other file the server opens).
pub fn descriptor_room() -> usize {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return usize::MAX;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        if lim.rlim_cur == libc::RLIM_INFINITY {
            return usize::MAX;
        }
        usize::try_from(lim.rlim_cur)
            .unwrap_or(usize::MAX)
            .saturating_sub(DESCRIPTOR_RESERVE)
            .max(1)
    }
    #[cfg(not(unix))]
    {
        usize::MAX
    }
}
