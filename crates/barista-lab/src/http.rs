//! A minimal HTTP/1.1 client, built for load generation: one keep-alive
//! connection, prebuilt request bytes, a reused read buffer, and no allocation
//! per request unless the caller asks for the body. Like wrk, it speaks
//! HTTP/1.1, plain or over TLS (rustls) for `https://` targets.

use crate::tls::Tls;
use rustls::pki_types::ServerName;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A parsed `http://host:port/path` or `https://...` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `host:port` as written, for the Host header.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
    /// `https://`: the connection speaks TLS.
    pub tls: bool,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (rest, tls) = match (text.strip_prefix("http://"), text.strip_prefix("https://")) {
            (Some(rest), _) => (rest, false),
            (None, Some(rest)) => (rest, true),
            (None, None) => return Err(format!("{text:?} is not an http:// or https:// URL")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{text:?} names no host"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p
                    .parse()
                    .map_err(|_| format!("{text:?} has a bad port {p:?}"))?;
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        Ok(Url {
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            tls,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// The same server with another path.
    pub fn with_path(&self, path: &str) -> Url {
        Url {
            path: path.to_owned(),
            ..self.clone()
        }
    }

    pub async fn resolve(&self) -> Result<SocketAddr, String> {
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", self.host))
    }

    /// Where connections to this URL go: its address, resolved once, and for
    /// `https://` the TLS client (`tls`) with the name the certificate must bear.
    pub async fn endpoint(&self, tls: &Tls) -> Result<Endpoint, String> {
        let addr = self.resolve().await?;
        let tls = match self.tls {
            false => None,
            true => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| format!("{} is not a name TLS can check", self.host))?;
                Some((tls.connector()?, name))
            }
        };
        Ok(Endpoint { addr, tls })
    }
}

/// Where a connection goes: an address, and TLS for an `https://` target.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.addr)
    }
}

impl From<SocketAddr> for Endpoint {
    /// A plain HTTP endpoint.
    fn from(addr: SocketAddr) -> Endpoint {
        Endpoint { addr, tls: None }
    }
}

/// A connection's bytes: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Builds the bytes of one request.
pub fn request_bytes(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: barista-lab\r\n",
        url.path, url.authority
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Why a request failed, as counted in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    Connect,
    Timeout,
    Write,
    /// The connection closed, reset or sent something that is not HTTP.
    Read,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Write => "write",
            Failure::Read => "read",
        }
    }
}

/// What the lab keeps of a response.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    /// The ETag header, when asked for.
    pub etag: Option<String>,
    /// The body, when asked for.
    pub body: Vec<u8>,
}

pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    /// False once the server said `Connection: close` or the body ran to EOF.
    reusable: bool,
}

const MAX_HEAD: usize = 64 * 1024;

impl Conn {
    pub async fn connect(endpoint: &Endpoint) -> Result<Conn, Failure> {
        Conn::open(endpoint).await.map_err(|_| Failure::Connect)
    }

    /// Connects (and for TLS, shakes hands), saying why it could not.
    pub async fn open(endpoint: &Endpoint) -> Result<Conn, String> {
        let tcp = TcpStream::connect(endpoint.addr)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", endpoint.addr))?;
        let _ = tcp.set_nodelay(true);
        let stream = match &endpoint.tls {
            None => Stream::Plain(tcp),
            Some((connector, name)) => Stream::Tls(Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS with {} failed: {e}", endpoint.addr))?,
            )),
        };
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            reusable: true,
        })
    }

    pub fn reusable(&self) -> bool {
        self.reusable
    }

    /// Sends on the connection kept in `slot` when it can take another
    /// request, else on a new one to `endpoint` kept there in its place.
    pub async fn send_on(
        slot: &mut Option<Conn>,
        endpoint: &Endpoint,
        request: &[u8],
        keep: Keep,
    ) -> Result<Reply, Failure> {
        let conn = match slot {
            Some(conn) if conn.reusable() => conn,
            _ => slot.insert(Conn::connect(endpoint).await?),
        };
        conn.send(request, keep).await
    }

    async fn fill(&mut self) -> Result<usize, Failure> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|_| Failure::Read)?;
        Ok(n)
    }

    /// Sends one request and reads its whole response.
    pub async fn send(&mut self, request: &[u8], keep: Keep) -> Result<Reply, Failure> {
        self.stream
            .write_all(request)
            .await
            .map_err(|_| Failure::Write)?;
        if let Stream::Tls(_) = self.stream {
            // TLS records rustls still holds go out now.
            self.stream.flush().await.map_err(|_| Failure::Write)?;
        }
        let head_only = request.starts_with(b"HEAD ");
        // Read until the head is complete.
        let (status, head_len, framing, etag) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 48];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = response.code.unwrap_or(0);
                    let mut framing = Framing::UntilClose;
                    let mut etag = None;
                    for h in response.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let n = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse().ok());
                            framing = Framing::Length(n.ok_or(Failure::Read)?);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                            && h.value
                                .windows(7)
                                .any(|w| w.eq_ignore_ascii_case(b"chunked"))
                        {
                            framing = Framing::Chunked;
                        } else if h.name.eq_ignore_ascii_case("connection")
                            && h.value.eq_ignore_ascii_case(b"close")
                        {
                            self.reusable = false;
                        } else if keep.etag && h.name.eq_ignore_ascii_case("etag") {
                            etag = Some(String::from_utf8_lossy(h.value).into_owned());
                        }
                    }
                    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
                        framing = Framing::Length(0);
                    }
                    break (status, len, framing, etag);
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(Failure::Read);
                    }
                    if self.fill().await? == 0 {
                        return Err(Failure::Read);
                    }
                }
                Err(_) => return Err(Failure::Read),
            }
        };
        self.buf.drain(..head_len);
        let mut reply = Reply {
            status,
            etag,
            body: Vec::new(),
        };
        match framing {
            Framing::Length(n) => {
                while self.buf.len() < n {
                    if self.fill().await? == 0 {
                        return Err(Failure::Read);
                    }
                }
                if keep.body {
                    reply.body.extend_from_slice(&self.buf[..n]);
                }
                self.buf.drain(..n);
            }
            Framing::Chunked => self.read_chunked(keep.body, &mut reply.body).await?,
            Framing::UntilClose => {
                while self.fill().await? > 0 {}
                if keep.body {
                    reply.body.append(&mut self.buf);
                }
                self.buf.clear();
                self.reusable = false;
            }
        }
        Ok(reply)
    }

    /// Sends a request for a Server-Sent Events stream and reads it as it
    /// comes: `on_event` gets each event's `data`, and the reading stops when
    /// it answers false, or when the stream ends (`Ok(status)` either way; a
    /// status other than 200 ends it at once). `on_open` is called when a 200
    /// head arrives, before any event. The connection is spent.
    pub async fn events(
        &mut self,
        request: &[u8],
        on_open: impl FnOnce(),
        mut on_event: impl FnMut(&str) -> bool,
    ) -> Result<u16, Failure> {
        self.reusable = false;
        self.stream
            .write_all(request)
            .await
            .map_err(|_| Failure::Write)?;
        self.stream.flush().await.map_err(|_| Failure::Write)?;
        let (status, head_len, chunked) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 48];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let chunked = response.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("transfer-encoding")
                            && h.value
                                .windows(7)
                                .any(|w| w.eq_ignore_ascii_case(b"chunked"))
                    });
                    break (response.code.unwrap_or(0), len, chunked);
                }
                Ok(httparse::Status::Partial) if self.buf.len() <= MAX_HEAD => {
                    if self.fill().await? == 0 {
                        return Err(Failure::Read);
                    }
                }
                _ => return Err(Failure::Read),
            }
        };
        self.buf.drain(..head_len);
        if status != 200 {
            return Ok(status);
        }
        on_open();
        // The body, de-chunked as it arrives, then cut into events at blank lines.
        let mut text: Vec<u8> = vec![];
        let mut ended = false;
        loop {
            if chunked {
                while let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    let size = std::str::from_utf8(&self.buf[..i])
                        .ok()
                        .and_then(|t| usize::from_str_radix(t.split(';').next()?.trim(), 16).ok())
                        .ok_or(Failure::Read)?;
                    if size == 0 {
                        // The last chunk: the events before it still count.
                        ended = true;
                        break;
                    }
                    if self.buf.len() < i + 2 + size + 2 {
                        break;
                    }
                    text.extend_from_slice(&self.buf[i + 2..i + 2 + size]);
                    self.buf.drain(..i + 2 + size + 2);
                }
            } else {
                text.append(&mut self.buf);
            }
            while let Some(end) = text.windows(2).position(|w| w == b"\n\n") {
                let event = String::from_utf8_lossy(&text[..end]).into_owned();
                text.drain(..end + 2);
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if !data.is_empty() && !on_event(&data.join("\n")) {
                    return Ok(status);
                }
            }
            if ended || self.fill().await? == 0 {
                return Ok(status);
            }
        }
    }

    async fn read_chunked(&mut self, keep: bool, body: &mut Vec<u8>) -> Result<(), Failure> {
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if self.buf.len() > MAX_HEAD || self.fill().await? == 0 {
                    return Err(Failure::Read);
                }
            };
            let size_text =
                std::str::from_utf8(&self.buf[..line_end]).map_err(|_| Failure::Read)?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| Failure::Read)?;
            // The chunk and its CRLF; a size that overflows is not HTTP.
            let framed = size.checked_add(2).ok_or(Failure::Read)?;
            self.buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers, then an empty line.
                loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        let empty = i == 0;
                        self.buf.drain(..i + 2);
                        if empty {
                            return Ok(());
                        }
                    } else if self.fill().await? == 0 {
                        return Err(Failure::Read);
                    }
                }
            }
            while self.buf.len() < framed {
                if self.fill().await? == 0 {
                    return Err(Failure::Read);
                }
            }
            if keep {
                body.extend_from_slice(&self.buf[..size]);
            }
            self.buf.drain(..framed);
        }
    }
}

/// What of a response to keep beyond its status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub etag: bool,
    pub body: bool,
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_ports() {
        let u = Url::parse("http://127.0.0.1:8080/v1/shops/demo/menu?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/v1/shops/demo/menu?x=1")
        );
        let u = Url::parse("http://localhost").unwrap();
        assert_eq!(
            (u.port, u.path.as_str(), u.authority.as_str()),
            (80, "/", "localhost")
        );
        let u = Url::parse("http://[::1]:9000/a").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        let u = Url::parse("https://example.com/a").unwrap();
        assert_eq!((u.tls, u.port, u.scheme()), (true, 443, "https"));
        let u = Url::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (true, 8443, "/"));
        assert!(Url::parse("ftp://example.com").is_err());
        assert!(Url::parse("example.com").is_err());
        assert!(Url::parse("http://h:port/").is_err());
    }

    #[test]
    fn requests_carry_host_and_length() {
        let u = Url::parse("http://h:1/p").unwrap();
        let r = request_bytes(
            "POST",
            &u,
            &[("Content-Type".into(), "application/json".into())],
            b"{}",
        );
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("POST /p HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(text.contains("Content-Length: 2\r\n") && text.ends_with("\r\n\r\n{}"));
    }

    /// An event stream whose last events share a read with the closing chunk:
    /// every event is still seen (the saas scenario once missed "collected").
    #[tokio::test]
    async fn an_event_stream_is_read_event_by_event_to_its_last_chunk() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
            let event = |n: u32, status: &str| {
                let e = format!("id: {n}\nevent: order\ndata: {{\"status\":\"{status}\"}}\n\n");
                format!("{:x}\r\n{e}\r\n", e.len())
            };
            let first = format!("{head}{}", event(1, "placed"));
            s.write_all(first.as_bytes()).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let rest = format!("{}{}0\r\n\r\n", event(2, "ready"), event(3, "collected"));
            s.write_all(rest.as_bytes()).await.unwrap();
        });
        let mut conn = Conn::connect(&addr.into()).await.unwrap();
        let mut seen = vec![];
        let opened = std::cell::Cell::new(false);
        let status = conn
            .events(
                b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n",
                || opened.set(true),
                |data| {
                    assert!(opened.get(), "the head is announced before the first event");
                    seen.push(data.to_owned());
                    true
                },
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert!(opened.get());
        assert_eq!(
            seen,
            [
                r#"{"status":"placed"}"#,
                r#"{"status":"ready"}"#,
                r#"{"status":"collected"}"#
            ]
        );
    }

    #[tokio::test]
    async fn chunked_and_sized_bodies_are_read_on_one_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"e1\"\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").await.unwrap();
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello")
                .await
                .unwrap();
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n")
                .await
                .unwrap();
        });
        let mut conn = Conn::connect(&addr.into()).await.unwrap();
        let url = Url::parse(&format!("http://{addr}/")).unwrap();
        let req = request_bytes("GET", &url, &[], b"");
        let r = conn
            .send(
                &req,
                Keep {
                    etag: true,
                    body: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.etag.as_deref(), r.body.as_slice()),
            (200, Some("\"e1\""), &b"abcde"[..])
        );
        let r = conn
            .send(
                &req,
                Keep {
                    etag: false,
                    body: true,
                },
            )
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"hello"[..]));
        let r = conn.send(&req, Keep::default()).await.unwrap();
        assert_eq!(
            r.status, 304,
            "a 304 has no body whatever its length header says"
        );
        assert!(conn.reusable());
    }
}
