//! The accept loop and each connection's lifetime, with the limits a server on
//! the open internet needs (axum's own `serve` has none of them):
//!
//! - at most `max_connections` open at once: past it the loop stops accepting
//!   (new clients wait in the kernel's backlog) until one closes;
//! - `header_timeout`: once a request's first byte arrives, its headers must be
//!   complete within it (a client trickling a byte a second is cut off);
//! - `idle_timeout`: a keep-alive connection with no request in flight and
//!   nothing read for this long is closed;
//! - on shutdown: no new connections, every connection asked to finish its
//!   current request and close, and after `drain_timeout` the rest dropped.
//!
//! The body-read timeout is applied where bodies are read (`observe::layer`).
//! Each connection's read buffer is capped at hyper's minimum (8 KiB): bodies
//! are at most 64 KiB and read in chunks, so a larger buffer only costs memory
//! on every idle connection.

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The limits of [`serve`]; the binary's flags fill them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 16_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Microseconds since the process started: one clock for every connection's marks.
fn now_micros() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    START.elapsed().as_micros() as u64
}

/// What a connection's watchdog reads: when bytes last moved, whether a
/// request is being handled, and when an unhandled request head began.
#[derive(Default)]
struct Activity {
    /// When bytes last moved either way (a streamed response keeps it busy).
    last_active: AtomicU64,
    /// When the first byte of a request head arrived (0: none pending).
    head_started: AtomicU64,
    in_service: AtomicUsize,
}

/// The socket, noting its reads in [`Activity`].
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let now = now_micros();
            let a = &self.activity;
            a.last_active.store(now, Relaxed);
            if a.in_service.load(Relaxed) == 0 {
                // Bytes while nothing is being handled: a request head has begun.
                let _ = a.head_started.compare_exchange(0, now, Relaxed, Relaxed);
            }
        }
        polled
    }
}

impl Watched {
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.last_active.store(now_micros(), Relaxed);
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(&polled);
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Counts a request as in service on its connection while it is handled.
#[derive(Clone)]
struct InService<S> {
    inner: S,
    activity: Arc<Activity>,
}

struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.in_service.fetch_sub(1, Relaxed);
    }
}

impl<S> tower_service::Service<axum::http::Request<hyper::body::Incoming>> for InService<S>
where
    S: tower_service::Service<axum::extract::Request>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<hyper::body::Incoming>) -> Self::Future {
        self.activity.in_service.fetch_add(1, Relaxed);
        self.activity.head_started.store(0, Relaxed);
        let handling = Handling(self.activity.clone());
        let future = self.inner.call(request.map(axum::body::Body::new));
        Box::pin(async move {
            let response = future.await;
            drop(handling);
            response
        })
    }
}

/// Why the watchdog closed a connection, if it did.
fn overdue(activity: &Activity, limits: &Limits) -> bool {
    if activity.in_service.load(Relaxed) > 0 {
        return false;
    }
    let now = now_micros();
    let head = activity.head_started.load(Relaxed);
    let slow_head =
        head != 0 && now.saturating_sub(head) > limits.header_timeout.as_micros() as u64;
    let idle = now.saturating_sub(activity.last_active.load(Relaxed))
        > limits.idle_timeout.as_micros() as u64;
    slow_head || idle
}

/// How often a connection's watchdog looks.
fn watch_every(limits: &Limits) -> Duration {
    (limits.header_timeout.min(limits.idle_timeout) / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// Counted among the open connections for as long as it lives.
struct Open(Arc<crate::observe::metrics::Metrics>);

impl Open {
    fn new(metrics: Arc<crate::observe::metrics::Metrics>) -> Open {
        metrics.open_connections.add(1);
        Open(metrics)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open_connections.add(-1);
    }
}

/// Resolves once `shutdown` is `true` (its guard is not kept: futures stay `Send`).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await.map(|_| ());
}

/// Serves `app` on `listener` until `shutdown` changes to `true`, then drains.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    metrics: Arc<crate::observe::metrics::Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: tower_service::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The watchdog enforces both limits; hyper's own timer would close idle
        // connections at the header timeout.
        .header_read_timeout(None)
        .max_buf_size(8192)
        .keep_alive(true);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = stopping(&mut shutdown) => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopping(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let (limits, mut shutdown) = (limits.clone(), shutdown.clone());
        let open = Open::new(metrics.clone());
        let (app, builder) = (app.clone(), builder.clone());
        connections.spawn(async move {
            let _open = (slot, open);
            // No buffers until the client speaks: a connection that only
            // waits costs its socket and this task, not hyper's 16 KiB of
            // buffers. (`peek`, as `readable` may wake with nothing to read.)
            let mut first = [0u8; 1];
            tokio::select! {
                peeked = stream.peek(&mut first) => if !matches!(peeked, Ok(1..)) { return },
                () = tokio::time::sleep(limits.idle_timeout) => return,
                () = stopping(&mut shutdown) => return,
            }
            let activity = Arc::new(Activity::default());
            activity.last_active.store(now_micros(), Relaxed);
            let io = TokioIo::new(Watched {
                stream,
                activity: activity.clone(),
            });
            let service = TowerToHyperService::new(InService {
                inner: app,
                activity: activity.clone(),
            });
            let connection = builder.serve_connection(io, service);
            let mut connection = std::pin::pin!(connection);
            let mut tick = tokio::time::interval(watch_every(&limits));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = connection.as_mut() => return,
                    _ = tick.tick() => if overdue(&activity, &limits) { return },
                    () = stopping(&mut shutdown) => break,
                }
            }
            // Draining: finish the request in hand, then close.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "drain deadline passed; closing the connections left"
        );
        connections.shutdown().await;
    }
    Ok(())
}
