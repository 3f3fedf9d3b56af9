//! The HTTP/1.1 wire format, as Barista's connections speak it: a request
//! head parsed (by `httparse`) into what the router needs, a chunked request
//! body decoded, and a response head written. Pure functions over bytes; the
//! connection loop that reads and writes them is `conn.rs`.
//!
//! Barista speaks HTTP/1.1 itself instead of through hyper's server so that a
//! connection holds no buffer while it waits: hyper keeps an 8 KiB read buffer
//! and an 8 KiB write buffer for every connection for its whole life, which
//! was most of the memory of 10,000 idle keep-alive clients or open event
//! streams. Here a buffer exists only while a request is being read, and a
//! response is written straight from its bytes.
//!
//! What is refused, as RFC 9112 says (each as a problem, then the connection
//! closes, since the next request's start can no longer be found):
//! - a head over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields: 431;
//! - a malformed head, a `Content-Length` that is not one number, both
//!   `Content-Length` and `Transfer-Encoding` (the request-smuggling shape), or
//!   a `Transfer-Encoding` whose last coding is not `chunked`: 400;
//! - a transfer coding other than `chunked`: 501.

use crate::problem::Code;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};

/// The longest request head read (hyper's minimum buffer, as before).
pub const MAX_HEAD: usize = 8 * 1024;
/// The most header fields a request may carry.
pub const MAX_HEADERS: usize = 64;

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the client lets the connection stay open after this request.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a go-ahead before its body.
    pub expect_continue: bool,
}

/// Why a request head (or body) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 431: the head is too large.
    HeadTooLarge,
    /// 400, with what was wrong.
    Malformed(&'static str),
    /// 501: a transfer coding Barista does not decode.
    UnsupportedCoding,
}

impl Refusal {
    /// The problem it is answered with.
    pub fn code(self) -> Code {
        match self {
            Refusal::HeadTooLarge => Code::HeadersTooLarge,
            Refusal::Malformed(_) => Code::MalformedRequest,
            Refusal::UnsupportedCoding => Code::NotImplemented,
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            Refusal::HeadTooLarge => "the request head is larger than 8 KiB or has over 64 fields",
            Refusal::Malformed(what) => what,
            Refusal::UnsupportedCoding => "only the chunked transfer coding is understood",
        }
    }
}

/// Parses the request head at the start of `buf`: `Ok(None)` while it is
/// incomplete, else the head and its length in bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, Refusal> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(Refusal::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
        Err(_) => return Err(Refusal::Malformed("the request head is not HTTP/1.1")),
    };
    if len > MAX_HEAD {
        return Err(Refusal::HeadTooLarge);
    }
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| Refusal::Malformed("the method is not a token"))?;
    let uri: Uri = req
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| Refusal::Malformed("the request target is not a URI"))?;
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    let mut length: Option<u64> = None;
    let mut coding: Option<Vec<u8>> = None;
    let mut keep_alive = version == Version::HTTP_11;
    let mut expect_continue = false;
    for field in req.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| Refusal::Malformed("a header name is not a token"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| Refusal::Malformed("a header value has a control character"))?;
        if name == header::CONTENT_LENGTH {
            let n = content_length(field.value)?;
            if length.is_some_and(|m| m != n) {
                return Err(Refusal::Malformed(
                    "Content-Length is given twice, differently",
                ));
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            let codings = coding.get_or_insert_with(Vec::new);
            if !codings.is_empty() {
                codings.push(b',');
            }
            codings.extend_from_slice(field.value);
        } else if name == header::CONNECTION {
            for token in field.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::HTTP_10 {
                    keep_alive = true;
                }
            }
        } else if name == header::EXPECT {
            expect_continue = field
                .value
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue");
        }
        headers.append(name, value);
    }
    let framing = match (coding, length) {
        (Some(_), Some(_)) => {
            return Err(Refusal::Malformed(
                "Content-Length and Transfer-Encoding may not both be given",
            ));
        }
        (Some(_), None) if version == Version::HTTP_10 => {
            return Err(Refusal::Malformed("HTTP/1.0 has no Transfer-Encoding"));
        }
        (Some(codings), None) => {
            let last = codings.rsplit(|b| *b == b',').next().unwrap_or(b"");
            if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(Refusal::Malformed(
                    "the last transfer coding of a request must be chunked",
                ));
            }
            if codings.split(|b| *b == b',').count() > 1 {
                return Err(Refusal::UnsupportedCoding);
            }
            Framing::Chunked
        }
        (None, Some(0) | None) => Framing::None,
        (None, Some(n)) => Framing::Length(n),
    };
    Ok(Some((
        Head {
            method,
            uri,
            version,
            headers,
            framing,
            keep_alive,
            expect_continue,
        },
        len,
    )))
}

/// A `Content-Length` value: decimal digits only (`u64::from_str` would take a `+`).
fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Refusal::Malformed("Content-Length is not a number"));
    }
    Ok(digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines, until an empty one.
    Trailers,
    Done,
}

/// Decodes a chunked request body as its bytes arrive.
#[derive(Debug)]
pub struct Chunked {
    state: Chunk,
    /// The decoded body so far.
    pub body: Vec<u8>,
    limit: usize,
}

/// The longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 1024;

/// What a chunked body's decoder needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// More bytes; this many were used.
    More(usize),
    /// The body is complete; this many bytes were used.
    Done(usize),
    /// The body is larger than the limit.
    TooLarge,
    Malformed(&'static str),
}

impl Chunked {
    pub fn new(limit: usize) -> Self {
        Self {
            state: Chunk::Size,
            body: Vec::new(),
            limit,
        }
    }

    /// Decodes from `input`, keeping what is complete; the caller drops the
    /// used bytes and calls again with more.
    pub fn decode(&mut self, input: &[u8]) -> Decoded {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.state {
                Chunk::Done => return Decoded::Done(at),
                Chunk::Data(0) => self.state = Chunk::DataEnd,
                Chunk::Data(left) => {
                    if rest.is_empty() {
                        return Decoded::More(at);
                    }
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.body.extend_from_slice(&rest[..take]);
                    self.state = Chunk::Data(left - take as u64);
                    at += take;
                }
                Chunk::Size | Chunk::DataEnd | Chunk::Trailers => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > MAX_LINE {
                            return Decoded::Malformed("a chunk line is too long");
                        }
                        return Decoded::More(at);
                    };
                    let line = &rest[..end];
                    at += end + 2;
                    match self.state {
                        Chunk::DataEnd if !line.is_empty() => {
                            return Decoded::Malformed("a chunk is longer than its size");
                        }
                        Chunk::DataEnd => self.state = Chunk::Size,
                        Chunk::Trailers if line.is_empty() => self.state = Chunk::Done,
                        Chunk::Trailers => {}
                        _ => {
                            let size = match chunk_size(line) {
                                Some(size) => size,
                                None => return Decoded::Malformed("a chunk size is not hex"),
                            };
                            if size > (self.limit - self.body.len()) as u64 {
                                return Decoded::TooLarge;
                            }
                            self.state = if size == 0 {
                                Chunk::Trailers
                            } else {
                                Chunk::Data(size)
                            };
                        }
                    }
                }
            }
        }
    }
}

/// A chunk-size line's size (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|b| *b == b';').next()?.trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        let v = (*d as char).to_digit(16)?;
        Some(n << 4 | u64::from(v))
    })
}

/// How a response's body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// No body (HEAD, 1xx, 204, 304): the app's headers are sent as they are.
    Bodiless,
    Length(u64),
    Chunked,
    /// Until the connection closes (a streamed answer to an HTTP/1.0 client).
    UntilClose,
}

/// Whether a response to `method` with `status` carries no body.
pub fn bodiless(method: &Method, status: StatusCode) -> bool {
    method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// Writes a response head into `out`: the status line, the app's headers
/// (framing fields replaced by `sending`'s), `date`, and `connection`.
pub fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    sending: Sending,
    keep_alive: bool,
    http10: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        let framing = name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING;
        if (framing && sending != Sending::Bodiless) || name == header::CONNECTION {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match sending {
        Sending::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Sending::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Sending::Bodiless | Sending::UntilClose => {}
    }
    if !headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        date::now(|d| out.extend_from_slice(d));
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// One chunk of a chunked body: size line, data, CRLF.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 20);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The last chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The `date` header's value, formatted once a second per thread.
mod date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }

    pub fn now(with: impl FnOnce(&[u8])) {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        CACHED.with(|cached| {
            let mut cached = cached.borrow_mut();
            if cached.0 != secs {
                *cached = (secs, httpdate::fmt_http_date(now));
            }
            with(cached.1.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(Head, usize)>, Refusal> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn a_plain_get_parses_and_keeps_the_connection() {
        let text = "GET /v1/shops/demo/menu?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\nGET";
        let (head, len) = head(text).unwrap().unwrap();
        assert_eq!(len, text.len() - 3);
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.uri.path(), "/v1/shops/demo/menu");
        assert_eq!(head.uri.query(), Some("x=1"));
        assert_eq!(head.headers["accept"], "*/*");
        assert_eq!(head.framing, Framing::None);
        assert!(head.keep_alive);
        assert!(!head.expect_continue);
    }

    #[test]
    fn an_incomplete_head_asks_for_more_until_it_is_too_large() {
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(head(&long).unwrap_err(), Refusal::HeadTooLarge);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(
            head(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err(),
            Refusal::HeadTooLarge
        );
    }

    #[test]
    fn connection_and_version_decide_keep_alive() {
        let close = head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap()
            .unwrap()
            .0;
        assert!(!close.keep_alive);
        let old = head("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().0;
        assert!(!old.keep_alive);
        let old_kept = head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap()
            .0;
        assert!(old_kept.keep_alive);
    }

    #[test]
    fn body_framing_is_read_and_smuggling_shapes_are_refused() {
        let framing = |h: &str| {
            head(&format!("POST / HTTP/1.1\r\n{h}\r\n")).map(|parsed| parsed.unwrap().0.framing)
        };
        assert_eq!(framing("Content-Length: 12\r\n"), Ok(Framing::Length(12)));
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(Framing::None));
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Ok(Framing::Length(5))
        );
        for bad in [
            "Content-Length: +5\r\n",
            "Content-Length: 5, 6\r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
        ] {
            assert!(matches!(framing(bad), Err(Refusal::Malformed(_))), "{bad}");
        }
        assert_eq!(
            framing("Transfer-Encoding: gzip, chunked\r\n"),
            Err(Refusal::UnsupportedCoding)
        );
        let expect = head("POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
        assert!(expect.unwrap().unwrap().0.expect_continue);
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            "\x00\x01\x02\r\n\r\n",
            "GET / FOO/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nX\r\n\r\n",
        ] {
            assert!(matches!(head(bad), Err(Refusal::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_chunked_body_decodes_with_extensions_and_trailers() {
        let mut d = Chunked::new(100);
        let input = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        assert_eq!(d.decode(input), Decoded::Done(input.len() - 4));
        assert_eq!(d.body, b"hello, world");
        let mut small = Chunked::new(4);
        assert_eq!(small.decode(b"5\r\nhello\r\n0\r\n\r\n"), Decoded::TooLarge);
        let mut bad = Chunked::new(100);
        assert!(matches!(bad.decode(b"zz\r\n"), Decoded::Malformed(_)));
        let mut long = Chunked::new(100);
        assert!(matches!(
            long.decode(b"2\r\nabc\r\n"),
            Decoded::Malformed(_)
        ));
    }

    #[test]
    fn a_response_head_has_its_framing_date_and_connection() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        let mut out = Vec::new();
        write_head(
            &mut out,
            StatusCode::OK,
            &headers,
            Sending::Length(2),
            false,
            false,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-type: text/plain\r\n"));
        assert!(text.contains("content-length: 2\r\n") && !text.contains("99"));
        assert!(text.contains("date: ") && text.contains(" GMT\r\n"));
        assert!(text.ends_with("connection: close\r\n\r\n"));
        let mut head = Vec::new();
        write_head(
            &mut head,
            StatusCode::OK,
            &headers,
            Sending::Bodiless,
            true,
            true,
        );
        let text = String::from_utf8(head).unwrap();
        assert!(
            text.contains("content-length: 99\r\n"),
            "HEAD keeps the GET's length"
        );
        assert!(text.ends_with("connection: keep-alive\r\n\r\n"));
        assert_eq!(
            chunk(b"hello world, again"),
            b"12\r\nhello world, again\r\n"
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// Any bytes: a head, a request for more, or a refusal; never a panic,
            /// never a length past the input.
            #[test]
            fn any_bytes_parse_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                if let Ok(Some((_, len))) = parse_head(&bytes) {
                    prop_assert!(len <= bytes.len());
                }
            }

            /// Heads built from arbitrary fields parse back to those fields.
            #[test]
            fn heads_round_trip(
                path in "/[a-z0-9/._~-]{0,40}",
                fields in proptest::collection::vec(("x-[a-z]{1,10}", "[ -~]{0,30}"), 0..10),
            ) {
                let mut text = format!("GET {path} HTTP/1.1\r\n");
                for (name, value) in &fields {
                    text.push_str(&format!("{name}: {value}\r\n"));
                }
                text.push_str("\r\n");
                let (head, len) = parse_head(text.as_bytes()).unwrap().unwrap();
                prop_assert_eq!(len, text.len());
                prop_assert_eq!(head.uri.path(), path.as_str());
                for (name, value) in &fields {
                    let sent = value.trim_matches(' ');
                    prop_assert!(head.headers.get_all(name.as_str()).iter().any(|v| v == sent));
                }
            }

            /// A body cut into any chunks, arriving in any pieces, decodes to itself.
            #[test]
            fn chunked_bodies_decode_whatever_the_pieces(
                body in proptest::collection::vec(any::<u8>(), 0..2000),
                cuts in proptest::collection::vec(1usize..300, 0..20),
                piece in 1usize..64,
            ) {
                let mut encoded = Vec::new();
                let mut rest = &body[..];
                for cut in cuts.iter().copied() {
                    if rest.is_empty() { break; }
                    let (now, later) = rest.split_at(cut.min(rest.len()));
                    encoded.extend_from_slice(&chunk(now));
                    rest = later;
                }
                if !rest.is_empty() {
                    encoded.extend_from_slice(&chunk(rest));
                }
                encoded.extend_from_slice(LAST_CHUNK);
                let mut decoder = Chunked::new(4096);
                let mut pending: Vec<u8> = Vec::new();
                let mut done = false;
                for piece in encoded.chunks(piece) {
                    pending.extend_from_slice(piece);
                    match decoder.decode(&pending) {
                        Decoded::More(used) => { pending.drain(..used); }
                        Decoded::Done(used) => { pending.drain(..used); done = true; break; }
                        other => prop_assert!(false, "{other:?}"),
                    }
                }
                prop_assert!(done);
                prop_assert!(pending.is_empty());
                prop_assert_eq!(decoder.body, body);
            }

            /// Arbitrary bytes as a chunked body: decoded, waiting, or refused; no panic.
            #[test]
            fn any_bytes_as_a_chunked_body_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let mut decoder = Chunked::new(256);
                match decoder.decode(&bytes) {
                    Decoded::More(used) | Decoded::Done(used) => prop_assert!(used <= bytes.len()),
                    Decoded::TooLarge | Decoded::Malformed(_) => {}
                }
                prop_assert!(decoder.body.len() <= 256);
            }
        }
    }
}
