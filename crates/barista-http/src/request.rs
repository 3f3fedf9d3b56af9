//! A request head, read as RFC 9112 writes it (by `httparse`, then checked
//! further), and the bytes of a request a client sends.
//!
//! What is refused (each answered, then the connection closes, since the next
//! request's start can no longer be found):
//! - a head over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields: 431;
//! - a malformed head (a line ending in a bare LF among them); a request
//!   target with anything but visible ASCII; an
//!   HTTP/1.1 request without exactly one valid `Host` (§3.2); a
//!   `Content-Length` that is not one number; both `Content-Length` and
//!   `Transfer-Encoding` (the request-smuggling shape); a `Transfer-Encoding`
//!   whose last coding is not `chunked`, or any in HTTP/1.0: 400;
//! - a transfer coding other than `chunked`: 501;
//! - a body past the server's limit: 413; one that does not arrive in time: 408.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version, header};

/// The longest request head read.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most header fields a request may carry.
pub const MAX_HEADERS: usize = 64;

/// How a message's body is framed.
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

/// Why a request was refused at the connection, before the app saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 431: the head is too large.
    HeadTooLarge,
    /// 400, with what was wrong.
    Malformed(&'static str),
    /// 501: a transfer coding this server does not decode.
    UnsupportedCoding,
    /// 501: a method this server does not know.
    UnsupportedMethod,
    /// 413: the body is larger than the server takes (its limit in bytes).
    BodyTooLarge(usize),
    /// 408: the body did not arrive in time (the time allowed, in ms).
    BodyTimeout(u64),
}

impl Refusal {
    /// The status it is answered with.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Refusal::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::UnsupportedCoding | Refusal::UnsupportedMethod => StatusCode::NOT_IMPLEMENTED,
            Refusal::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// What was wrong, in a sentence.
    pub fn detail(self) -> String {
        match self {
            Refusal::HeadTooLarge => {
                "the request head is larger than 8 KiB or has over 64 fields".into()
            }
            Refusal::Malformed(what) => what.into(),
            Refusal::UnsupportedCoding => "only the chunked transfer coding is understood".into(),
            Refusal::UnsupportedMethod => {
                "the method is none of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE, QUERY"
                    .into()
            }
            Refusal::BodyTooLarge(limit) => format!("the body must be at most {limit} bytes"),
            Refusal::BodyTimeout(ms) => {
                format!("the body did not arrive within {}s", ms as f64 / 1000.0)
            }
        }
    }
}

/// The methods of RFC 9110, PATCH and QUERY (the safe method with a body of
/// the IETF's HTTP working group): anything else is answered 501 (as RFC 9110
/// §9.1 says), never passed on. A known method that no route takes is the
/// app's to answer (405 with `Allow`): API fuzzers try QUERY on every path
/// and expect just that.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "QUERY",
];

/// A `Host` value: `uri-host [ ":" port ]` (RFC 3986). Not empty: RFC 9112
/// lets a client send an empty one for a target without an authority, which
/// no request to this server has, and nginx refuses it.
fn valid_host(value: &[u8]) -> bool {
    if value.is_empty() {
        return false;
    }
    let (host, port) = match value.iter().rposition(|b| *b == b':') {
        Some(i) if !value.starts_with(b"[") || value[..i].ends_with(b"]") => {
            (&value[..i], Some(&value[i + 1..]))
        }
        _ => (value, None),
    };
    if port.is_some_and(|p| !p.iter().all(u8::is_ascii_digit)) {
        return false;
    }
    if let Some(literal) = host.strip_prefix(b"[") {
        return literal.strip_suffix(b"]").is_some_and(|ip| {
            !ip.is_empty()
                && ip
                    .iter()
                    .all(|b| b.is_ascii_hexdigit() || b":.".contains(b))
        });
    }
    host.iter()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(b))
}

/// A `Content-Length` value: decimal digits only (`u64::from_str` takes a `+`).
fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Refusal::Malformed("Content-Length is not a number"));
    }
    Ok(digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
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
    // httparse takes a bare LF for a line's end, as RFC 9112 lets a reader;
    // nginx and h11 read such heads differently, so it is refused.
    if (0..len).any(|i| buf[i] == b'\n' && (i == 0 || buf[i - 1] != b'\r')) {
        return Err(Refusal::Malformed("a line of the head ends in a bare LF"));
    }
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| Refusal::Malformed("the method is not a token"))?;
    if !METHODS.contains(&method.as_str()) {
        return Err(Refusal::UnsupportedMethod);
    }
    let target = req.path.unwrap_or("");
    if target.is_empty() || !target.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Refusal::Malformed(
            "the request target has a byte that is not visible ASCII",
        ));
    }
    let uri: Uri = target
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
    let mut hosts = 0;
    let mut keep_alive = version == Version::HTTP_11;
    let mut expect_continue = false;
    for field in req.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| Refusal::Malformed("a header name is not a token"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| Refusal::Malformed("a header value has a control character"))?;
        if name == header::HOST {
            hosts += 1;
            if !valid_host(field.value) {
                return Err(Refusal::Malformed("the Host field is not a host"));
            }
        } else if name == header::CONTENT_LENGTH {
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
    if hosts > 1 {
        return Err(Refusal::Malformed("the Host field is given more than once"));
    }
    if hosts == 0 && version == Version::HTTP_11 {
        return Err(Refusal::Malformed("an HTTP/1.1 request must carry Host"));
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

/// One request as [`read_requests`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub method: String,
    /// The request target, as sent.
    pub target: String,
    pub body: Vec<u8>,
}

/// What a server reads from `input`, the bytes a client sent on one
/// connection before closing its side: each request in turn, read by the same
/// functions the connection loop uses ([`parse_head`], the chunked decoder),
/// until one is refused (`Err`) or the bytes end (incomplete: `Ok`). For the
/// differential test against other parsers: where this reads a boundary,
/// the server does.
pub fn read_requests(mut input: &[u8], body_limit: usize) -> (Vec<Read>, Result<(), Refusal>) {
    let mut read = vec![];
    while !input.is_empty() {
        let (head, len) = match parse_head(input) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return (read, Ok(())),
            Err(refusal) => return (read, Err(refusal)),
        };
        input = &input[len..];
        let body = match head.framing {
            Framing::None => vec![],
            Framing::Length(n) if n > body_limit as u64 => {
                return (read, Err(Refusal::BodyTooLarge(body_limit)));
            }
            Framing::Length(n) if (input.len() as u64) < n => return (read, Ok(())),
            Framing::Length(n) => {
                let (body, rest) = input.split_at(n as usize);
                input = rest;
                body.to_vec()
            }
            Framing::Chunked => {
                let mut decoder = crate::chunked::Chunked::new(body_limit);
                match decoder.decode(input) {
                    crate::chunked::Decoded::Done(used) => {
                        input = &input[used..];
                        decoder.body
                    }
                    crate::chunked::Decoded::More(_) => return (read, Ok(())),
                    crate::chunked::Decoded::TooLarge => {
                        return (read, Err(Refusal::BodyTooLarge(body_limit)));
                    }
                    crate::chunked::Decoded::Malformed(why) => {
                        return (read, Err(Refusal::Malformed(why)));
                    }
                }
            }
        };
        read.push(Read {
            method: head.method.to_string(),
            target: head.uri.to_string(),
            body,
        });
        if !head.keep_alive {
            // The server answers and closes: what follows is never read.
            break;
        }
    }
    (read, Ok(()))
}

/// The bytes of one request: `Host` from `authority`, a `Content-Length`
/// when it has a body (or a method that carries one), then the body.
pub fn request_bytes(
    method: &str,
    authority: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    for part in [method, " ", target, " HTTP/1.1\r\nHost: ", authority] {
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(b"\r\nUser-Agent: barista-lab\r\n");
    for (name, value) in headers {
        for part in [name.as_str(), ": ", value.as_str(), "\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
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
        let close = head("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n")
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
            head(&format!("POST / HTTP/1.1\r\nHost: a\r\n{h}\r\n"))
                .map(|parsed| parsed.unwrap().0.framing)
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
            "Transfer-Encoding: xchunked\r\n",
        ] {
            assert!(matches!(framing(bad), Err(Refusal::Malformed(_))), "{bad}");
        }
        assert_eq!(
            framing("Transfer-Encoding: gzip, chunked\r\n"),
            Err(Refusal::UnsupportedCoding)
        );
        let expect =
            head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
        assert!(expect.unwrap().unwrap().0.expect_continue);
    }

    #[test]
    fn host_is_one_valid_field_in_http_1_1() {
        for good in [
            "Host: a\r\n",
            "Host: example.com:8080\r\n",
            "Host: [::1]:80\r\n",
        ] {
            assert!(
                head(&format!("GET / HTTP/1.1\r\n{good}\r\n")).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "",
            "Host: a\r\nHost: b\r\n",
            "Host: a b\r\n",
            "Host: a/b\r\n",
            "Host: a:x\r\n",
            "Host: a@b\r\n",
            "Host: [zz]\r\n",
            "Host: \r\n",
        ] {
            assert!(
                matches!(
                    head(&format!("GET / HTTP/1.1\r\n{bad}\r\n")),
                    Err(Refusal::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        assert!(
            head("GET / HTTP/1.0\r\n\r\n").is_ok(),
            "HTTP/1.0 needs none"
        );
    }

    #[test]
    fn an_unknown_method_is_not_implemented() {
        assert_eq!(
            head("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            Refusal::UnsupportedMethod
        );
        assert_eq!(
            head("get / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            Refusal::UnsupportedMethod,
            "methods are case-sensitive"
        );
    }

    #[test]
    fn garbage_and_raw_bytes_in_the_target_are_malformed() {
        for bad in [
            &b"\x00\x01\x02\r\n\r\n"[..],
            b"GET / FOO/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nX\r\n\r\n",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        ] {
            assert!(
                matches!(parse_head(bad), Err(Refusal::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_connection_s_requests_are_read_in_turn_until_one_is_refused() {
        let input = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nokGET /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
        let (read, end) = read_requests(input, 100);
        assert_eq!(read.len(), 2);
        assert_eq!(
            (read[0].target.as_str(), read[0].body.as_slice()),
            ("/a", &b"ok"[..])
        );
        assert_eq!(
            (read[1].method.as_str(), read[1].body.as_slice()),
            ("GET", &b"x"[..])
        );
        assert!(
            matches!(end, Err(Refusal::Malformed(_))),
            "no Host: {end:?}"
        );
        let (read, end) = read_requests(
            b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n",
            100,
        );
        assert_eq!(
            (read.len(), end),
            (1, Ok(())),
            "nothing is read after close"
        );
    }

    #[test]
    fn requests_carry_host_and_length() {
        let r = request_bytes(
            "POST",
            "h:1",
            "/p",
            &[("Content-Type".into(), "application/json".into())],
            b"{}",
        );
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("POST /p HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(text.contains("Content-Length: 2\r\n") && text.ends_with("\r\n\r\n{}"));
        assert!(parse_head(text.as_bytes()).unwrap().is_some());
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
                let mut text = format!("GET {path} HTTP/1.1\r\nHost: h\r\n");
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
        }
    }
}
