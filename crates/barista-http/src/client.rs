//! The client side, built for load generation: one keep-alive connection over
//! any byte stream (plain TCP, or TLS the caller set up), prebuilt request
//! bytes, a reused read buffer, and no allocation per request unless the
//! caller asks for the body. Responses are read with the same strict chunked
//! decoder the server reads requests with.

use crate::chunked::{Chunked, Decoded};
use crate::request::Framing;
use crate::response::{ResponseHead, parse_response_head};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a request on a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// The request could not be written.
    Write,
    /// The connection closed, reset or sent something that is not HTTP.
    Read,
}

/// What of a response to keep beyond its status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub etag: bool,
    pub body: bool,
}

/// What the caller keeps of a response.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    /// The ETag header, when asked for.
    pub etag: Option<String>,
    /// The body, when asked for.
    pub body: Vec<u8>,
}

/// A keep-alive connection.
pub struct Client<S> {
    stream: S,
    buf: Vec<u8>,
    /// False once the server said `Connection: close` or a body ran to EOF.
    reusable: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            reusable: true,
        }
    }

    /// Whether another request may be sent on it.
    pub fn reusable(&self) -> bool {
        self.reusable
    }

    async fn fill(&mut self) -> Result<usize, Broken> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        self.stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|_| Broken::Read)
    }

    async fn write(&mut self, request: &[u8]) -> Result<(), Broken> {
        self.stream
            .write_all(request)
            .await
            .map_err(|_| Broken::Write)?;
        // What a TLS stream still holds goes out now (a no-op on TCP).
        self.stream.flush().await.map_err(|_| Broken::Write)
    }

    /// Reads until a whole response head is in the buffer; consumes it.
    async fn head(&mut self, head_only: bool, etag: bool) -> Result<ResponseHead, Broken> {
        loop {
            match parse_response_head(&self.buf, head_only, etag) {
                Ok(Some(head)) => {
                    self.buf.drain(..head.len);
                    if head.close {
                        self.reusable = false;
                    }
                    return Ok(head);
                }
                Ok(None) => {
                    if self.fill().await? == 0 {
                        return Err(Broken::Read);
                    }
                }
                Err(_) => return Err(Broken::Read),
            }
        }
    }

    /// Sends one request and reads its whole response.
    pub async fn send(&mut self, request: &[u8], keep: Keep) -> Result<Reply, Broken> {
        self.write(request).await?;
        let head = self.head(request.starts_with(b"HEAD "), keep.etag).await?;
        let mut reply = Reply {
            status: head.status,
            etag: head.etag,
            body: Vec::new(),
        };
        match head.framing {
            Framing::Length(n) => {
                let n = usize::try_from(n).map_err(|_| Broken::Read)?;
                while self.buf.len() < n {
                    if self.fill().await? == 0 {
                        return Err(Broken::Read);
                    }
                }
                if keep.body {
                    reply.body.extend_from_slice(&self.buf[..n]);
                }
                self.buf.drain(..n);
            }
            Framing::Chunked => {
                let mut decoder = Chunked::new(usize::MAX);
                loop {
                    match decoder.decode(&self.buf) {
                        Decoded::Done(used) => {
                            self.buf.drain(..used);
                            break;
                        }
                        Decoded::More(used) => {
                            self.buf.drain(..used);
                            if !keep.body {
                                decoder.body.clear();
                            }
                            if self.fill().await? == 0 {
                                return Err(Broken::Read);
                            }
                        }
                        Decoded::TooLarge | Decoded::Malformed(_) => return Err(Broken::Read),
                    }
                }
                if keep.body {
                    reply.body = decoder.body;
                }
            }
            Framing::None if head.until_close => {
                while self.fill().await? > 0 {}
                if keep.body {
                    reply.body.append(&mut self.buf);
                }
                self.buf.clear();
                self.reusable = false;
            }
            Framing::None => {}
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
    ) -> Result<u16, Broken> {
        self.reusable = false;
        self.write(request).await?;
        let head = self.head(false, false).await?;
        if head.status != 200 {
            return Ok(head.status);
        }
        on_open();
        // The body, de-chunked as it arrives, then cut into events at blank lines.
        let mut decoder = (head.framing == Framing::Chunked).then(|| Chunked::new(usize::MAX));
        let mut text: Vec<u8> = vec![];
        loop {
            let ended = match &mut decoder {
                Some(d) => {
                    let outcome = d.decode(&self.buf);
                    text.append(&mut d.body);
                    match outcome {
                        Decoded::Done(used) => {
                            self.buf.drain(..used);
                            true
                        }
                        Decoded::More(used) => {
                            self.buf.drain(..used);
                            false
                        }
                        Decoded::TooLarge | Decoded::Malformed(_) => return Err(Broken::Read),
                    }
                }
                None => {
                    text.append(&mut self.buf);
                    false
                }
            };
            while let Some(end) = text.windows(2).position(|w| w == b"\n\n") {
                let event = String::from_utf8_lossy(&text[..end]).into_owned();
                text.drain(..end + 2);
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if !data.is_empty() && !on_event(&data.join("\n")) {
                    return Ok(head.status);
                }
            }
            if ended || self.fill().await? == 0 {
                return Ok(head.status);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::request_bytes;
    use tokio::net::{TcpListener, TcpStream};

    async fn client_of(script: Vec<&'static [u8]>) -> Client<TcpStream> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            for answer in script {
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(answer).await.unwrap();
            }
        });
        Client::new(TcpStream::connect(addr).await.unwrap())
    }

    /// An event stream whose last events share a read with the closing chunk:
    /// every event is still seen.
    #[tokio::test]
    async fn an_event_stream_is_read_event_by_event_to_its_last_chunk() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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
        let mut client = Client::new(TcpStream::connect(addr).await.unwrap());
        let mut seen = vec![];
        let opened = std::cell::Cell::new(false);
        let status = client
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
        let mut client = client_of(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"e1\"\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
        ])
        .await;
        let req = request_bytes("GET", "h", "/", &[], b"");
        let all = Keep {
            etag: true,
            body: true,
        };
        let r = client.send(&req, all).await.unwrap();
        assert_eq!(
            (r.status, r.etag.as_deref(), r.body.as_slice()),
            (200, Some("\"e1\""), &b"abcde"[..])
        );
        let r = client.send(&req, all).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"hello"[..]));
        let r = client.send(&req, Keep::default()).await.unwrap();
        assert_eq!(r.status, 304);
        assert!(client.reusable());
    }

    #[tokio::test]
    async fn a_malformed_chunked_answer_is_a_broken_read() {
        let mut client = client_of(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ])
        .await;
        let req = request_bytes("GET", "h", "/", &[], b"");
        assert_eq!(
            client.send(&req, Keep::default()).await.unwrap_err(),
            Broken::Read
        );
    }
}
