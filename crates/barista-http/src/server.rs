//! The accept loop and each connection's lifetime, with the limits a server on
//! the open internet needs:
//!
//! - at most `max_connections` open at once: past it the loop stops accepting
//!   (new clients wait in the kernel's backlog) until one closes;
//! - `header_timeout`: once a request's first byte arrives, its head must be
//!   complete within it (a client trickling a byte a second is cut off);
//! - `body_timeout`: a request's body must arrive within it (408), and it is
//!   read whole (at most `body_limit`, 413 past it) before the app sees the
//!   request, so a client that uploads slowly holds a connection, never a
//!   request slot;
//! - `idle_timeout`: a keep-alive connection with no request for this long is
//!   closed, and so is one whose client stops reading its answer for as long;
//! - on shutdown: no new connections, idle ones closed, every other one
//!   finishes its current request (answered with `connection: close`), and
//!   after `drain_timeout` the rest are dropped.
//!
//! A connection holds no buffer while it waits for a request: one is taken
//! when bytes arrive and given back once the request is read (a general
//! purpose server keeps a read and a write buffer per connection for its
//! whole life, which was most of the memory of 10,000 idle keep-alive clients
//! or open event streams). A response is written straight from its bytes.
//!
//! The app sees every request with its client's address ([`Peer`]); a request
//! whose body was refused reaches it with [`Refused`] and an empty body, so
//! the app answers (and logs, and counts) it like any other. A refused head
//! never reaches the app: `Config::refuse` writes its answer.

use crate::chunked::{self, Chunked, Decoded};
use crate::lanes::{Entry, Lane, Lanes};
use crate::request::{self, Framing, Head, Refusal};
use crate::response::{self, Sending};
use bytes::Bytes;
use http::{Method, Request, Response, Version};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

/// The limits of [`serve`].
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub drain_timeout: Duration,
    /// Before draining, how long the app keeps serving (its readiness says so).
    pub shutdown_delay: Duration,
    /// The largest request body read.
    pub body_limit: usize,
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
            body_limit: 64 * 1024,
        }
    }
}

/// The client's address, in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// In a request's extensions when its body was refused: the app answers this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub Refusal);

/// How [`serve`] answers and counts.
#[derive(Clone)]
pub struct Config {
    pub limits: Limits,
    /// Connections open now, kept up to date here (for the app's metrics).
    pub open_connections: Arc<AtomicI64>,
    /// The answer to a request head refused before the app saw it.
    pub refuse: fn(Refusal) -> Response<Full<Bytes>>,
    /// The lanes at the door (`lanes`), if the app sorts its requests.
    pub lanes: Option<Arc<Lanes>>,
}

impl Config {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            open_connections: Arc::new(AtomicI64::new(0)),
            refuse: plain_refusal,
            lanes: None,
        }
    }
}

/// A refusal as plain text.
pub fn plain_refusal(refusal: Refusal) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(refusal.detail())));
    *response.status_mut() = refusal.status();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// How a stop arrives: `winding` turns true at the stop signal (responses then
/// close their connection), `draining` after the shutdown delay (no new
/// connection; idle ones closed; the rest finish).
pub struct Stop {
    pub winding: watch::Receiver<bool>,
    pub draining: watch::Receiver<bool>,
}

impl Stop {
    /// A stop that starts when `signal` resolves, with no delay between
    /// winding down and draining.
    pub fn on(signal: impl std::future::Future<Output = ()> + Send + 'static) -> Stop {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            signal.await;
            let _ = tx.send(true);
        });
        Stop {
            winding: rx.clone(),
            draining: rx,
        }
    }
}

/// Counted among the open connections for as long as it lives.
struct Open(Arc<AtomicI64>);

impl Open {
    fn new(count: Arc<AtomicI64>) -> Open {
        count.fetch_add(1, Relaxed);
        Open(count)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Resolves once `shutdown` is `true` (its guard is not kept: futures stay `Send`).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await.map(|_| ());
}

/// How long a connection accepted as the drain starts may take to send its first
/// request: a balancer that connected just before then still gets its answer.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// What a connection's task needs besides its socket.
struct Ctx<S> {
    app: S,
    config: Config,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
    winding: watch::Receiver<bool>,
}

/// Serves `app` on `listener` until `stop` drains, then drains.
pub async fn serve<S, B, RB>(
    listener: TcpListener,
    app: S,
    config: Config,
    stop: Stop,
) -> io::Result<()>
where
    S: tower_service::Service<Request<B>, Response = Response<RB>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: From<Bytes> + Send + 'static,
    RB: Body<Data = Bytes> + Unpin + Send + 'static,
    RB::Error: Send,
{
    let Stop { winding, draining } = stop;
    let mut shutdown = draining.clone();
    let limits = config.limits.clone();
    let controller = config
        .lanes
        .clone()
        .map(|lanes| AbortOnDrop(tokio::spawn(lanes.control())));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let spawn = |stream: TcpStream, peer: SocketAddr, slot, connections: &mut JoinSet<()>| {
        let _ = stream.set_nodelay(true);
        let open = Open::new(config.open_connections.clone());
        let mut ctx = Ctx {
            app: app.clone(),
            config: config.clone(),
            peer,
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
        let (stream, peer) = tokio::select! {
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
        spawn(stream, peer, slot, &mut connections);
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    // Connections the kernel completed before the listener closes are served
    // (a balancer already sent them a request), not reset. Accepted from the
    // kernel directly: tokio hears of a connection only when its driver next
    // turns, and one it had not heard of was reset with its request in it
    // (nginx answered that POST 502, since it does not resend one).
    if let Ok(listener) = listener.into_std() {
        while let Ok(slot) = slots.clone().try_acquire_owned() {
            let Ok((stream, peer)) = listener.accept() else {
                break;
            };
            let stream = stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream));
            if let Ok(stream) = stream {
                spawn(stream, peer, slot, &mut connections);
            }
        }
    }
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
    drop(controller);
    Ok(())
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How much is read at a time.
const READ_CHUNK: usize = 4096;

/// Why a connection stops: the client went, a deadline passed, or it was answered with close.
struct Closed;

/// Buffers for reading requests and writing answers, kept per thread for
/// reuse: a connection holds one only while a request is read or an answer
/// written, so a few are in use at a time, and taking one back from here
/// costs less than the allocator (whose bins were a fifth of the profile of
/// the menu with 10,000 keep-alive clients, with a buffer allocated for each).
mod buffers {
    use std::cell::RefCell;

    /// The sizes kept: a request's reads, and an answer's head and body.
    pub(super) const READ: usize = 4096;
    pub(super) const WRITE: usize = 16 * 1024;

    thread_local! {
        static FREE: RefCell<[Vec<Vec<u8>>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
    }

    /// Buffers of each size kept for reuse on a thread, at most.
    const KEPT: usize = 64;

    fn class(size: usize) -> usize {
        usize::from(size == WRITE)
    }

    pub(super) fn take(size: usize) -> Vec<u8> {
        FREE.with(|free| free.borrow_mut()[class(size)].pop())
            .unwrap_or_else(|| Vec::with_capacity(size))
    }

    /// Gives an emptied buffer back (one that grew past its size is dropped).
    pub(super) fn give(mut buf: Vec<u8>, size: usize) {
        buf.clear();
        if buf.capacity() == size {
            FREE.with(|free| {
                let mut free = free.borrow_mut();
                let kept = &mut free[class(size)];
                if kept.len() < KEPT {
                    kept.push(buf);
                }
            });
        }
    }

    /// A write buffer, given back when dropped.
    pub(super) struct Out(pub(super) Vec<u8>);

    impl Out {
        pub(super) fn new() -> Out {
            Out(take(WRITE))
        }
    }

    impl Drop for Out {
        fn drop(&mut self) {
            give(std::mem::take(&mut self.0), WRITE);
        }
    }
}

/// Serves one connection's requests, one after another, until it closes.
///
/// Between requests it holds no buffer, only the socket and this task; what
/// it waits on (the socket, its idle deadline, the server's drain) is set up
/// once for the connection, not once a request.
async fn connection<S, B, RB>(stream: TcpStream, ctx: &mut Ctx<S>)
where
    S: tower_service::Service<Request<B>, Response = Response<RB>, Error = Infallible>,
    B: From<Bytes>,
    RB: Body<Data = Bytes> + Unpin,
{
    let idle_timeout = ctx.config.limits.idle_timeout;
    let mut shutdown = ctx.shutdown.clone();
    let closing = stopping(&mut shutdown);
    tokio::pin!(closing);
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let (mut fresh, mut draining) = (true, false);
    // When the last request was answered: the idle deadline is moved only
    // when it passes (not reset for every request, which costs the timer).
    let mut last_done = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if buf.is_empty() {
            if draining && !fresh {
                return;
            }
            let last_look = tokio::select! {
                // A request already here when draining starts is still served.
                biased;
                ready = read_ready(&stream) => if ready.is_err() { return } else { false },
                () = &mut idle => {
                    let deadline = last_done + idle_timeout;
                    if draining || deadline <= Instant::now() {
                        return;
                    }
                    idle.as_mut().reset(deadline);
                    continue;
                }
                () = &mut closing, if !draining => {
                    draining = true;
                    if fresh {
                        // Opened for a request that is on its way: wait for it a little.
                        idle.as_mut().reset(Instant::now() + FIRST_REQUEST_GRACE);
                        continue;
                    }
                    true
                }
            };
            buf = buffers::take(buffers::READ);
            // An idle connection is closed as the drain starts, but first the
            // kernel is asked for a request that reached it just now (tokio
            // would hear of it only when its driver next turns): closed
            // unread, it was reset, and nginx answered that POST 502.
            let read = if last_look {
                read_now(&stream, &mut buf)
            } else {
                read_some(&stream, &mut buf)
            };
            match read {
                Ok(0) => return,
                Ok(_) => fresh = false,
                Err(e) if last_look && e.kind() == io::ErrorKind::WouldBlock => return,
                // `readable` may wake with nothing to read.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    buffers::give(std::mem::take(&mut buf), buffers::READ);
                    continue;
                }
                Err(_) => return,
            }
        }
        if serve_one(&stream, &mut buf, ctx).await.is_err() {
            return;
        }
        last_done = Instant::now();
    }
}

/// Resolves when the socket may have bytes to read. Through the stream's own
/// reader slot (`poll_read_ready`), as `AsyncRead` waits: `readable()` queues
/// a waiter on a locked list each time, which showed in the profile of
/// 10,000 keep-alive clients.
fn read_ready(stream: &TcpStream) -> impl std::future::Future<Output = io::Result<()>> + '_ {
    std::future::poll_fn(move |cx| stream.poll_read_ready(cx))
}

/// Reads what the socket holds into `buf`. A read that leaves room in the
/// buffer took everything there was, so the socket is marked not ready
/// without asking the kernel again (as nginx does after a short `recv`): a
/// keep-alive connection costs one `recv` a request, not a second one that
/// finds nothing. Readiness is cleared only as of before the read, so bytes
/// that arrive after it wake the connection as usual.
fn read_some(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = buf.capacity() - buf.len();
    let mut got = None;
    let read = stream.try_io(tokio::io::Interest::READABLE, || {
        let n = stream.try_read_buf(buf)?;
        got = Some(n);
        if n > 0 && n < spare {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(n)
        }
    });
    match (read, got) {
        (Err(e), Some(n)) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
        (read, _) => read,
    }
}

/// Reads what the socket holds into `buf` with a system call, whatever tokio
/// last heard of its readiness.
fn read_now(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    use std::io::Read;
    let socket = socket2::SockRef::from(stream);
    let start = buf.len();
    buf.resize(buf.capacity().max(start + READ_CHUNK), 0);
    let read = (&*socket).read(&mut buf[start..]);
    buf.truncate(start + *read.as_ref().unwrap_or(&0));
    read
}

/// Reads more of the request into `buf` before `deadline`.
async fn read_more(stream: &TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), Closed> {
    loop {
        buf.reserve(READ_CHUNK);
        match timeout_at(deadline, read_ready(stream)).await {
            Ok(Ok(())) => {}
            _ => return Err(Closed),
        }
        match read_some(stream, buf) {
            Ok(0) => return Err(Closed),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return Err(Closed),
        }
    }
}

/// Reads, handles and answers the request that begins in `buf`.
async fn serve_one<S, B, RB>(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    ctx: &mut Ctx<S>,
) -> Result<(), Closed>
where
    S: tower_service::Service<Request<B>, Response = Response<RB>, Error = Infallible>,
    B: From<Bytes>,
    RB: Body<Data = Bytes> + Unpin,
{
    let limits = &ctx.config.limits;
    // Read from the clock only when the head does not arrive whole at once.
    let mut head_deadline = None;
    let (head, len) = loop {
        match request::parse_head(buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => {
                let deadline =
                    *head_deadline.get_or_insert_with(|| Instant::now() + limits.header_timeout);
                read_more(stream, buf, deadline).await?
            }
            Err(refusal) => {
                let answer = (ctx.config.refuse)(refusal);
                let _ = send(
                    stream,
                    answer,
                    &Method::GET,
                    Version::HTTP_11,
                    false,
                    limits,
                )
                .await;
                return Err(Closed);
            }
        }
    };
    buf.drain(..len);
    let mut extensions = http::Extensions::new();
    extensions.insert(Peer(ctx.peer));
    if let Some(lanes) = &ctx.config.lanes {
        let lane = lanes.door().lane(&head.method, &head.uri, &mut extensions);
        // A first-lane request is never held at the door.
        if lane == Lane::Cheap && !lanes.is_open() {
            // Waiting holds the connection, not a buffer.
            if buf.is_empty() {
                buffers::give(std::mem::take(buf), buffers::READ);
            }
            if lanes.enter().await == Entry::Refused {
                // A body not read leaves the next request's start unknown: close.
                let keep_alive =
                    head.keep_alive && matches!(head.framing, Framing::None | Framing::Length(0));
                let version = head.version;
                send(
                    stream,
                    lanes.door().busy(),
                    &head.method,
                    version,
                    keep_alive,
                    limits,
                )
                .await?;
                return if keep_alive { Ok(()) } else { Err(Closed) };
            }
        } else if lane == Lane::Cheap {
            lanes.enter().await;
        }
    }
    // A body refused (too large, too slow, malformed) is answered by the app,
    // so the answer is logged and counted like any other; the connection then
    // closes, its next request's start unknown.
    let (body, refused) = match read_body(stream, buf, &head, limits).await {
        Ok(body) => (body, None),
        Err(Some(refusal)) => (Bytes::new(), Some(Refused(refusal))),
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
    let mut request = Request::new(B::from(body));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    *request.extensions_mut() = extensions;
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
        buffers::give(std::mem::take(buf), buffers::READ);
    }
    let sent = send(
        stream,
        response,
        &method,
        version,
        keep_alive,
        &ctx.config.limits,
    )
    .await;
    if sent.is_ok() && keep_alive {
        Ok(())
    } else {
        Err(Closed)
    }
}

/// Reads a request's whole body within the body timeout. `Err(Some)` is a
/// refusal to answer, `Err(None)` a connection to drop.
async fn read_body(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    head: &Head,
    limits: &Limits,
) -> Result<Bytes, Option<Refusal>> {
    let too_large = Some(Refusal::BodyTooLarge(limits.body_limit));
    let late = Some(Refusal::BodyTimeout(limits.body_timeout.as_millis() as u64));
    let want = match head.framing {
        Framing::None => return Ok(Bytes::new()),
        Framing::Length(n) if n > limits.body_limit as u64 => return Err(too_large),
        Framing::Length(n) => Some(n as usize),
        Framing::Chunked => None,
    };
    let deadline = Instant::now() + limits.body_timeout;
    if head.expect_continue && want.is_none_or(|n| buf.len() < n) {
        write_all(stream, b"HTTP/1.1 100 Continue\r\n\r\n", limits)
            .await
            .map_err(|_| None)?;
    }
    let more = async |buf: &mut Vec<u8>| match read_more(stream, buf, deadline).await {
        Ok(()) => Ok(()),
        Err(Closed) if Instant::now() >= deadline => Err(late),
        Err(Closed) => Err(None),
    };
    if let Some(n) = want {
        while buf.len() < n {
            more(buf).await?;
        }
        let body = Bytes::copy_from_slice(&buf[..n]);
        buf.drain(..n);
        return Ok(body);
    }
    let mut chunked = Chunked::new(limits.body_limit);
    loop {
        match chunked.decode(buf) {
            Decoded::Done(used) => {
                buf.drain(..used);
                return Ok(Bytes::from(chunked.body));
            }
            Decoded::More(used) => {
                buf.drain(..used);
                more(buf).await?;
            }
            Decoded::TooLarge => return Err(too_large),
            Decoded::Malformed(why) => return Err(Some(Refusal::Malformed(why))),
        }
    }
}

/// Writes all of `bytes`, or fails when the client has not read them within
/// the idle timeout.
async fn write_all(stream: &TcpStream, mut bytes: &[u8], limits: &Limits) -> Result<(), Closed> {
    let mut deadline = None;
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(0) => return Err(Closed),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let until = *deadline.get_or_insert_with(|| Instant::now() + limits.idle_timeout);
                match timeout_at(until, stream.writable()).await {
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
async fn send<RB>(
    stream: &TcpStream,
    response: Response<RB>,
    method: &Method,
    version: Version,
    keep_alive: bool,
    limits: &Limits,
) -> Result<(), Closed>
where
    RB: Body<Data = Bytes> + Unpin,
{
    let (parts, mut body) = response.into_parts();
    let http10 = version == Version::HTTP_10;
    let length = body.size_hint().exact();
    let sending = match length {
        _ if response::bodiless(method, parts.status) => Sending::Bodiless,
        Some(n) => Sending::Length(n),
        None if http10 => Sending::UntilClose,
        None => Sending::Chunked,
    };
    let keep_alive = keep_alive && sending != Sending::UntilClose;
    let mut pooled = buffers::Out::new();
    let out = &mut pooled.0;
    out.reserve(256 + length.filter(|n| *n <= ONE_WRITE).unwrap_or(0) as usize);
    response::write_head(
        out,
        parts.status,
        &parts.headers,
        sending,
        keep_alive,
        http10,
    );
    // The head is written: its headers and extensions are not kept for the
    // life of a long answer (10,000 event streams held them all).
    drop(parts);
    match sending {
        Sending::Bodiless => write_all(stream, out, limits).await,
        Sending::Length(n) => {
            if n > ONE_WRITE {
                write_all(stream, out, limits).await?;
                out.clear();
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
            write_all(stream, out, limits).await
        }
        Sending::Chunked | Sending::UntilClose => {
            write_all(stream, out, limits).await?;
            drop(pooled);
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
                                write_all(stream, &chunked::chunk(&data), limits).await?;
                            } else {
                                write_all(stream, &data, limits).await?;
                            }
                        }
                    }
                }
            }
            if chunked {
                write_all(stream, chunked::LAST_CHUNK, limits).await?;
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
