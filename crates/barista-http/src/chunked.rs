//! The chunked transfer coding (RFC 9112 §7.1), read strictly and written.
//!
//! A reader that accepts what another reader would not is how request
//! smuggling starts: a front end and a back end that disagree on where a
//! message ends. So every line of the coding is read as the RFC writes it
//! and anything else is refused:
//!
//! - a chunk-size is hex digits only (no sign, no space, at most 15); an
//!   extension is `;` and a token, optionally `=` a token or a quoted string,
//!   with no whitespace around them (h11 and llhttp refuse it too);
//! - every line ends in CR LF: a bare LF, or a CR not followed by LF, is
//!   malformed (a last chunk ended by a bare LF must not turn the next
//!   request's lines into this one's trailers);
//! - a chunk's data is followed by CR LF exactly;
//! - a trailer line is a field (`token ":" value`, the value without NUL, CR
//!   or LF), not a continuation (obs-fold) and not anything else, and the
//!   trailer section ends at the first empty line.

/// The longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 1024;
/// The most trailer fields accepted.
const MAX_TRAILERS: usize = 64;

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CR LF after a chunk's data.
    DataEnd,
    /// Trailer lines (this many so far), until an empty one.
    Trailers(usize),
    Done,
}

/// Decodes a chunked body as its bytes arrive.
#[derive(Debug)]
pub struct Chunked {
    state: State,
    /// The decoded body so far (a streaming reader may take it as it grows).
    pub body: Vec<u8>,
    /// Bytes of data allowed in all, taken ones included.
    limit: u64,
    seen: u64,
}

/// What the decoder needs next.
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

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|b| is_tchar(*b))
}

/// The next line of `input` without its CR LF, and the bytes it took; `None`
/// while it is incomplete.
fn line(input: &[u8]) -> Result<Option<(&[u8], usize)>, &'static str> {
    match input.iter().position(|b| *b == b'\n') {
        None if input.len() > MAX_LINE => Err("a chunk line is too long"),
        None if input.contains(&b'\r') && input.last() != Some(&b'\r') => {
            Err("a CR in a chunk line is not followed by LF")
        }
        None => Ok(None),
        Some(i) if i == 0 || input[i - 1] != b'\r' => Err("a chunk line ends in a bare LF"),
        Some(i) if input[..i - 1].contains(&b'\r') => {
            Err("a CR in a chunk line is not followed by LF")
        }
        Some(i) if i - 1 > MAX_LINE => Err("a chunk line is too long"),
        Some(i) => Ok(Some((&input[..i - 1], i + 1))),
    }
}

/// A quoted string's length at the start of `text`, if it is one.
fn quoted(text: &[u8]) -> Option<usize> {
    let visible = |c: u8| c == b'\t' || c == b' ' || (0x21..=0x7e).contains(&c) || c >= 0x80;
    if text.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < text.len() {
        match text[i] {
            b'"' => return Some(i + 1),
            b'\\' => match text.get(i + 1) {
                Some(&c) if visible(c) => i += 2,
                _ => return None,
            },
            c if visible(c) => i += 1,
            _ => return None,
        }
    }
    None
}

/// A chunk-size line's size: hex digits, then extensions (checked, ignored).
/// RFC 9112 allows whitespace around an extension's `;` and `=`; h11 and
/// llhttp refuse it, and a reader more lenient than others is where
/// smuggling starts, so it is refused here too.
fn chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err("a chunk size is not hex");
    }
    if digits > 15 {
        return Err("a chunk size is too large");
    }
    let size = line[..digits].iter().fold(0u64, |n, d| {
        n << 4 | u64::from((*d as char).to_digit(16).unwrap_or(0))
    });
    let mut rest = &line[digits..];
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix(b";") else {
            return Err("a chunk size is followed by something other than an extension");
        };
        let name = after.iter().take_while(|b| is_tchar(**b)).count();
        if name == 0 {
            return Err("a chunk extension has no name");
        }
        rest = &after[name..];
        if let Some(value) = rest.strip_prefix(b"=") {
            let len = match quoted(value) {
                Some(len) => len,
                None => value.iter().take_while(|b| is_tchar(**b)).count(),
            };
            if len == 0 {
                return Err("a chunk extension's value is not a token or a quoted string");
            }
            rest = &value[len..];
        }
    }
    Ok(size)
}

/// A trailer line: a field, never a continuation.
fn trailer(line: &[u8]) -> Result<(), &'static str> {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return Err("a trailer line is not a field");
    };
    if !is_token(&line[..colon]) {
        return Err("a trailer field's name is not a token");
    }
    if line[colon + 1..]
        .iter()
        .any(|b| *b == 0 || *b == b'\r' || *b == b'\n' || (*b < 0x20 && *b != b'\t') || *b == 0x7f)
    {
        return Err("a trailer field's value has a control character");
    }
    Ok(())
}

impl Chunked {
    /// A decoder that refuses more than `limit` bytes of data.
    pub fn new(limit: usize) -> Self {
        Self {
            state: State::Size,
            body: Vec::new(),
            limit: limit as u64,
            seen: 0,
        }
    }

    /// Decodes from `input`, keeping what is complete in `body`; the caller
    /// drops the used bytes and calls again with more.
    pub fn decode(&mut self, input: &[u8]) -> Decoded {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.state {
                State::Done => return Decoded::Done(at),
                State::Data(0) => self.state = State::DataEnd,
                State::Data(left) => {
                    if rest.is_empty() {
                        return Decoded::More(at);
                    }
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.body.extend_from_slice(&rest[..take]);
                    self.state = State::Data(left - take as u64);
                    at += take;
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|b| *b != b'\r') {
                            return Decoded::Malformed("a chunk is longer than its size");
                        }
                        return Decoded::More(at);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Decoded::Malformed("a chunk is longer than its size");
                    }
                    at += 2;
                    self.state = State::Size;
                }
                State::Size | State::Trailers(_) => {
                    let (line, used) = match line(rest) {
                        Ok(Some(found)) => found,
                        Ok(None) => return Decoded::More(at),
                        Err(why) => return Decoded::Malformed(why),
                    };
                    at += used;
                    self.state = match self.state {
                        State::Trailers(_) if line.is_empty() => State::Done,
                        State::Trailers(n) if n >= MAX_TRAILERS => {
                            return Decoded::Malformed("too many trailer fields");
                        }
                        State::Trailers(n) => match trailer(line) {
                            Ok(()) => State::Trailers(n + 1),
                            Err(why) => return Decoded::Malformed(why),
                        },
                        _ => match chunk_size(line) {
                            Err(why) => return Decoded::Malformed(why),
                            Ok(size) if size > self.limit - self.seen => return Decoded::TooLarge,
                            Ok(0) => State::Trailers(0),
                            Ok(size) => {
                                self.seen += size;
                                State::Data(size)
                            }
                        },
                    };
                }
            }
        }
    }
}

/// One chunk of a chunked body: size line, data, CR LF.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 20);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The last chunk of a chunked body, with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8]) -> (Decoded, Vec<u8>) {
        let mut d = Chunked::new(1000);
        let r = d.decode(input);
        (r, d.body)
    }

    #[test]
    fn a_chunked_body_decodes_with_extensions_and_trailers() {
        let input =
            b"5;ext=1\r\nhello\r\n7;a=\"q\\\"x\";b\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let (r, body) = decode(input);
        assert_eq!(r, Decoded::Done(input.len() - 4));
        assert_eq!(body, b"hello, world");
        let mut small = Chunked::new(4);
        assert_eq!(small.decode(b"5\r\nhello\r\n0\r\n\r\n"), Decoded::TooLarge);
    }

    fn all_malformed(inputs: &[&[u8]]) {
        for bad in inputs {
            assert!(
                matches!(decode(bad).0, Decoded::Malformed(_)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn every_line_ends_in_cr_lf() {
        all_malformed(&[
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"0\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"0\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"0\r\nX: 1\n\r\n",
            b"5\r\r\nhello\r\n0\r\n\r\n",
            b"0\rX\r\n\r\n",
        ]);
    }

    #[test]
    fn a_chunk_size_is_hex_digits_and_nothing_else() {
        all_malformed(&[
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5\x0c\r\nhello\r\n0\r\n\r\n",
            b"5\t\r\nhello\r\n0\r\n\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;a b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"x\r\nhello\r\n0\r\n\r\n",
            b"5;a\x00\r\nhello\r\n0\r\n\r\n",
            b"1000000000000000\r\n",
            b"\r\nhello\r\n0\r\n\r\n",
        ]);
        all_malformed(&[
            b"5 ;a\r\nhello\r\n0\r\n\r\n",
            b"5; a\r\nhello\r\n0\r\n\r\n",
            b"5;a =b\r\nhello\r\n0\r\n\r\n",
        ]);
    }

    #[test]
    fn trailers_are_fields_and_nothing_else() {
        all_malformed(&[
            b"0\r\nX\r\n\r\n",
            b"0\r\n X: 1\r\n\r\n",
            b"0\r\nX y: 1\r\n\r\n",
            b"0\r\nX: a\x00b\r\n\r\n",
            b"0\r\n: v\r\n\r\n",
        ]);
    }

    #[test]
    fn data_is_followed_by_cr_lf_exactly() {
        assert!(matches!(decode(b"2\r\nabc\r\n").0, Decoded::Malformed(_)));
        assert!(matches!(
            decode(b"2\r\nab\n0\r\n\r\n").0,
            Decoded::Malformed(_)
        ));
        assert_eq!(decode(b"2\r\nab\r").0, Decoded::More(5));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

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
