//! The accept loop and each connection's lifetime, with the limits a server on
//! the open internet needs (axum's own `serve` has none of them):
//!
//! - at most `max_connections` open at once: past it the loop stops accepting
//!   (new clients wait in the kernel's backlog) until one closes;
//! - `header_timeout`: once a request's first byte arrives, its head must be
//!   complete within it (a client trickling a byte a second is cut off);
//! - `body_timeout`: a request's body must arrive within it (408), and it is
//!   read whole (at most 64 KiB, 413 past it) before the request is handled,
//!   so a client that uploads slowly holds a connection, never a request slot;
//! - `idle_timeout`: a keep-alive connection with no request for this long is
//!   closed, and so is one whose client stops reading its answer for as long;
//! - on shutdown: no new connections, idle ones closed, every other one
//!   finishes its current request (answered with `connection: close`), and
//!   after `drain_timeout` the rest are dropped.
//!
//! A connection holds no buffer while it waits for a request (the wire format
//! is `http1.rs`, which says why Barista speaks it itself): one is taken when
//! bytes arrive and given back once the request is read.

use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::http1::{self, Chunked, Decoded, Framing, Head, Refusal, Sending};
use crate::problem::Code;
use axum::body::Body;
use axum::http::{Method, Request, Version};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

/// The limits of [`serve`]; the binary's flags fill them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub drain_timeout: Duration,
    /// Before draining, how long `/readyz` fails while everything else is served.
    pub shutdown_delay: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 16_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
        }
    }
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

/// How a stop arrives: `winding` turns true at the stop signal (responses then
/// close their connection), `draining` after the shutdown delay (no new
/// connection; idle ones closed; the rest finish).
pub struct Stop {
    pub winding: watch::Receiver<bool>,
    pub draining: watch::Receiver<bool>,
}

/// How long a connection accepted as the drain starts may take to send its first
/// request: a balancer that connected just before then still gets its answer.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// What a connection's task needs besides its socket.
struct Ctx<S> {
    app: S,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
    winding: watch::Receiver<bool>,
}

/// Serves `app` on `listener` until `shutdown` changes to `true`, then drains.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    metrics: Arc<crate::observe::metrics::Metrics>,
    stop: Stop,
) -> io::Result<()>
where
    S: tower_service::Service<
            axum::extract::Request,
            Response = Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let Stop { winding, draining } = stop;
    let mut shutdown = draining.clone();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let spawn = |stream: TcpStream, slot, connections: &mut JoinSet<()>| {
        let _ = stream.set_nodelay(true);
        let open = Open::new(metrics.clone());
        let mut ctx = Ctx {
            app: app.clone(),
            limits: limits.clone(),
            shutdown: draining.clone(),
            winding: winding.clone(),
        };
        connections.spawn(async move {
            let _open = (slot, open);
            connection(stream, &mut ctx).await;
        });
    };
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
        spawn(stream, slot, &mut connections);
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    // Connections the kernel completed before the listener closes are served
    // (a balancer already sent them a request), not reset.
    while let Ok(slot) = slots.clone().try_acquire_owned() {
        match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
            Ok(Ok((stream, _))) => spawn(stream, slot, &mut connections),
            _ => break,
        }
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

/// How much is read at a time.
const READ_CHUNK: usize = 4096;

/// Why a connection stops: the client went, a deadline passed, or it was answered with close.
struct Closed;

/// Serves one connection's requests, one after another, until it closes.
async fn connection<S>(stream: TcpStream, ctx: &mut Ctx<S>)
where
    S: tower_service::Service<
            axum::extract::Request,
            Response = Response,
            Error = std::convert::Infallible,
        >,
{
    let mut buf: Vec<u8> = Vec::new();
    let mut fresh = true;
    loop {
        if buf.is_empty() {
            // Between requests: no buffer (`serve_one` gave it back), only
            // the socket and this task.
            if wait_for_request(&stream, &mut buf, ctx, fresh)
                .await
                .is_err()
            {
                return;
            }
            fresh = false;
            if buf.is_empty() {
                continue;
            }
        }
        if serve_one(&stream, &mut buf, ctx).await.is_err() {
            return;
        }
    }
}

/// Waits (holding no buffer) for the next request's first bytes and reads them.
async fn wait_for_request<S>(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    ctx: &mut Ctx<S>,
    fresh: bool,
) -> Result<(), Closed> {
    let closing = async {
        stopping(&mut ctx.shutdown).await;
        if fresh {
            // Opened for a request that is on its way: wait for it a little.
            tokio::time::sleep(FIRST_REQUEST_GRACE).await;
        }
    };
    tokio::select! {
        // A request already here when draining starts is still served.
        biased;
        ready = stream.readable() => ready.map_err(|_| Closed)?,
        () = tokio::time::sleep(ctx.limits.idle_timeout) => return Err(Closed),
        () = closing => return Err(Closed),
    }
    buf.reserve(READ_CHUNK);
    match stream.try_read_buf(buf) {
        Ok(0) => Err(Closed),
        Ok(_) => Ok(()),
        // `readable` may wake with nothing to read.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            *buf = Vec::new();
            Ok(())
        }
        Err(_) => Err(Closed),
    }
}

/// Reads more of the request into `buf` before `deadline`.
async fn read_more(stream: &TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), Closed> {
    loop {
        buf.reserve(READ_CHUNK);
        match timeout_at(deadline, stream.readable()).await {
            Ok(Ok(())) => {}
            _ => return Err(Closed),
        }
        match stream.try_read_buf(buf) {
            Ok(0) => return Err(Closed),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return Err(Closed),
        }
    }
}

/// Reads, handles and answers the request that begins in `buf`.
async fn serve_one<S>(stream: &TcpStream, buf: &mut Vec<u8>, ctx: &mut Ctx<S>) -> Result<(), Closed>
where
    S: tower_service::Service<
            axum::extract::Request,
            Response = Response,
            Error = std::convert::Infallible,
        >,
{
    let head_deadline = Instant::now() + ctx.limits.header_timeout;
    let (head, len) = loop {
        match http1::parse_head(buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => read_more(stream, buf, head_deadline).await?,
            Err(refusal) => return refuse(stream, refusal_problem(refusal), &ctx.limits).await,
        }
    };
    buf.drain(..len);
    // A body refused (too large, too slow, malformed) is answered through
    // the app, so the answer is logged, counted and carries a request id like
    // any other; the connection then closes, its next request's start unknown.
    let (body, refused) = match read_body(stream, buf, &head, &ctx.limits).await {
        Ok(body) => (body, None),
        Err(Some(problem)) => (Bytes::new(), Some(BodyRefused(problem))),
        Err(None) => return Err(Closed),
    };
    let Head {
        method,
        uri,
        version,
        headers,
        keep_alive,
        ..
    } = head;
    let mut request = Request::new(Body::from(body));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    let keep_alive = keep_alive && refused.is_none();
    if let Some(refused) = refused {
        request.extensions_mut().insert(refused);
    }
    std::future::poll_fn(|cx| ctx.app.poll_ready(cx))
        .await
        .map_err(|_| Closed)?;
    let Ok(response) = ctx.app.call(request).await;
    let keep_alive = keep_alive && !*ctx.shutdown.borrow() && !*ctx.winding.borrow();
    if buf.is_empty() {
        // Given back before a long answer (an event stream) is written.
        *buf = Vec::new();
    }
    let sent = send(stream, response, &method, version, keep_alive, &ctx.limits).await;
    if sent.is_ok() && keep_alive {
        Ok(())
    } else {
        Err(Closed)
    }
}

/// The problem answering a refused request head.
fn refusal_problem(refusal: Refusal) -> Response {
    ApiError::new(refusal.code(), refusal.detail()).into_response()
}

/// Answers `problem` and closes: the next request's start is unknown.
async fn refuse(stream: &TcpStream, mut problem: Response, limits: &Limits) -> Result<(), Closed> {
    use crate::observe::layer::{REQUEST_ID, new_request_id};
    problem.headers_mut().insert(REQUEST_ID, new_request_id());
    let _ = send(
        stream,
        problem,
        &Method::GET,
        Version::HTTP_11,
        false,
        limits,
    )
    .await;
    Err(Closed)
}

/// A request whose body was refused: the app answers this problem instead.
#[derive(Clone)]
pub(crate) struct BodyRefused(pub ApiError);

/// Reads a request's whole body within the body timeout. `Err(Some)` is a
/// problem to answer, `Err(None)` a connection to drop.
async fn read_body(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    head: &Head,
    limits: &Limits,
) -> Result<Bytes, Option<ApiError>> {
    let too_large = || {
        Some(ApiError::new(
            Code::PayloadTooLarge,
            format!("the body must be at most {BODY_LIMIT} bytes"),
        ))
    };
    let late = || {
        Some(ApiError::new(
            Code::RequestTimeout,
            format!(
                "the body did not arrive within {}s",
                limits.body_timeout.as_secs_f64()
            ),
        ))
    };
    let deadline = Instant::now() + limits.body_timeout;
    let want = match head.framing {
        Framing::None => return Ok(Bytes::new()),
        Framing::Length(n) if n > BODY_LIMIT as u64 => return Err(too_large()),
        Framing::Length(n) => Some(n as usize),
        Framing::Chunked => None,
    };
    if head.expect_continue && want.is_none_or(|n| buf.len() < n) {
        write_all(stream, b"HTTP/1.1 100 Continue\r\n\r\n", limits)
            .await
            .map_err(|_| None)?;
    }
    if let Some(n) = want {
        while buf.len() < n {
            if read_more(stream, buf, deadline).await.is_err() {
                return Err(if Instant::now() >= deadline {
                    late()
                } else {
                    None
                });
            }
        }
        let body = Bytes::copy_from_slice(&buf[..n]);
        buf.drain(..n);
        return Ok(body);
    }
    let mut chunked = Chunked::new(BODY_LIMIT);
    loop {
        match chunked.decode(buf) {
            Decoded::Done(used) => {
                buf.drain(..used);
                return Ok(Bytes::from(chunked.body));
            }
            Decoded::More(used) => {
                buf.drain(..used);
                if read_more(stream, buf, deadline).await.is_err() {
                    return Err(if Instant::now() >= deadline {
                        late()
                    } else {
                        None
                    });
                }
            }
            Decoded::TooLarge => return Err(too_large()),
            Decoded::Malformed(why) => {
                return Err(Some(ApiError::new(Code::MalformedRequest, why)));
            }
        }
    }
}

/// Writes all of `bytes`, or fails when the client has not read them within
/// the idle timeout.
async fn write_all(stream: &TcpStream, mut bytes: &[u8], limits: &Limits) -> Result<(), Closed> {
    let deadline = Instant::now() + limits.idle_timeout;
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(0) => return Err(Closed),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match timeout_at(deadline, stream.writable()).await {
                    Ok(Ok(())) => {}
                    _ => return Err(Closed),
                }
            }
            Err(_) => return Err(Closed),
        }
    }
    Ok(())
}

/// Answers bodies up to this size in one write with their head.
const ONE_WRITE: u64 = 64 * 1024;

/// Writes `response`: whole when its length is known, else chunked (or, to an
/// HTTP/1.0 client, until the connection closes).
async fn send(
    stream: &TcpStream,
    response: Response,
    method: &Method,
    version: Version,
    keep_alive: bool,
    limits: &Limits,
) -> Result<(), Closed> {
    let (parts, mut body) = response.into_parts();
    let http10 = version == Version::HTTP_10;
    let length = axum::body::HttpBody::size_hint(&body).exact();
    let sending = match length {
        _ if http1::bodiless(method, parts.status) => Sending::Bodiless,
        Some(n) => Sending::Length(n),
        None if http10 => Sending::UntilClose,
        None => Sending::Chunked,
    };
    let keep_alive = keep_alive && sending != Sending::UntilClose;
    let mut out =
        Vec::with_capacity(256 + length.filter(|n| *n <= ONE_WRITE).unwrap_or(0) as usize);
    http1::write_head(
        &mut out,
        parts.status,
        &parts.headers,
        sending,
        keep_alive,
        http10,
    );
    match sending {
        Sending::Bodiless => write_all(stream, &out, limits).await,
        Sending::Length(n) => {
            if n > ONE_WRITE {
                write_all(stream, &out, limits).await?;
                out = Vec::new();
            }
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| Closed)?;
                if let Ok(data) = frame.into_data() {
                    if n > ONE_WRITE {
                        write_all(stream, &data, limits).await?;
                    } else {
                        out.extend_from_slice(&data);
                    }
                }
            }
            write_all(stream, &out, limits).await
        }
        Sending::Chunked | Sending::UntilClose => {
            write_all(stream, &out, limits).await?;
            drop(out);
            let chunked = sending == Sending::Chunked;
            let mut watching = true;
            loop {
                let frame = tokio::select! {
                    frame = body.frame() => frame,
                    gone = client_gone(stream), if watching => {
                        if gone { return Err(Closed) }
                        watching = false;
                        continue;
                    }
                };
                match frame {
                    None => break,
                    Some(Err(_)) => return Err(Closed),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data()
                            && !data.is_empty()
                        {
                            if chunked {
                                write_all(stream, &http1::chunk(&data), limits).await?;
                            } else {
                                write_all(stream, &data, limits).await?;
                            }
                        }
                    }
                }
            }
            if chunked {
                write_all(stream, http1::LAST_CHUNK, limits).await?;
            }
            Ok(())
        }
    }
}

/// Resolves while a long answer is written: `true` when the client has
/// closed, `false` when it sent more (its next request waits, unread).
async fn client_gone(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    !matches!(stream.peek(&mut byte).await, Ok(1..))
}
