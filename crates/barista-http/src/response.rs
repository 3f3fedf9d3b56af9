//! A response head: written by the server, read by the client.

use crate::request::Framing;
use http::{HeaderMap, Method, StatusCode, header};

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

/// A response head as a client reads it.
#[derive(Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// How the body is framed; [`Framing::None`] also for a body that runs
    /// until the connection closes (see `until_close`).
    pub framing: Framing,
    pub until_close: bool,
    /// The server said `Connection: close`.
    pub close: bool,
    /// The ETag, when asked for.
    pub etag: Option<String>,
    /// The head's length in bytes.
    pub len: usize,
}

/// The longest response head a client reads.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Why a response could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadResponse(pub &'static str);

/// Parses the response head at the start of `buf`, to a request that was a
/// `HEAD` when `head_only`: `Ok(None)` while incomplete.
pub fn parse_response_head(
    buf: &[u8],
    head_only: bool,
    want_etag: bool,
) -> Result<Option<ResponseHead>, BadResponse> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
            return Err(BadResponse("the response head is too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(BadResponse("the response head is not HTTP/1.1")),
    };
    let status = response.code.unwrap_or(0);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = response.version == Some(0);
    let mut etag = None;
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = h.value.trim_ascii();
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.len() > 19 {
                return Err(BadResponse("Content-Length is not a number"));
            }
            length = Some(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')));
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or(b"");
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        } else if want_etag && h.name.eq_ignore_ascii_case("etag") {
            etag = Some(String::from_utf8_lossy(h.value).into_owned());
        }
    }
    let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    let (framing, until_close) = match (no_body, chunked, length) {
        (true, _, _) => (Framing::None, false),
        (false, true, _) => (Framing::Chunked, false),
        (false, false, Some(0)) => (Framing::None, false),
        (false, false, Some(n)) => (Framing::Length(n), false),
        (false, false, None) => (Framing::None, true),
    };
    Ok(Some(ResponseHead {
        status,
        framing,
        until_close,
        close: close || until_close,
        etag,
        len,
    }))
}

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
    use http::HeaderValue;

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
    }

    #[test]
    fn a_written_head_reads_back() {
        let mut out = Vec::new();
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static("\"e1\""));
        write_head(
            &mut out,
            StatusCode::OK,
            &headers,
            Sending::Chunked,
            true,
            false,
        );
        let head = parse_response_head(&out, false, true).unwrap().unwrap();
        assert_eq!(
            (
                head.status,
                head.framing,
                head.close,
                head.etag.as_deref(),
                head.len
            ),
            (200, Framing::Chunked, false, Some("\"e1\""), out.len())
        );
        let notmod = parse_response_head(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
            false,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            notmod.framing,
            Framing::None,
            "a 304 has no body whatever its length says"
        );
        let eof = parse_response_head(b"HTTP/1.0 200 OK\r\n\r\n", false, false)
            .unwrap()
            .unwrap();
        assert!(eof.until_close && eof.close);
        assert!(
            parse_response_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                false,
                false
            )
            .is_err()
        );
    }
}
