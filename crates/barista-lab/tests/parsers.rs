//! Property tests of what the lab parses: HTTP responses from the server it
//! measures (over a real loopback socket), and the durations, SLOs, load
//! profiles and URLs a user types. Never a panic or a hang; what a well-formed
//! response says is read back exactly, however it is framed.

use barista_lab::duration::parse_duration;
use barista_lab::http::{Conn, Failure, Keep, Reply, Url};
use proptest::prelude::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request to a server that answers `bytes` and closes.
fn answered_with(bytes: Vec<u8>) -> Result<Reply, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(&bytes).await;
        });
        let mut conn = Conn::connect(&addr.into()).await?;
        let keep = Keep {
            etag: true,
            body: true,
        };
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            conn.send(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n", keep),
        )
        .await
        .expect("the parser never hangs on a connection the server closed");
        server.await.unwrap();
        reply
    })
}

/// A well-formed response: Content-Length or chunked (with random chunk sizes
/// and extensions), and some headers the parser must pass over.
fn response() -> impl Strategy<Value = (u16, Vec<u8>, Vec<u8>)> {
    (
        prop_oneof![200u16..204, 205u16..304, 305u16..600],
        prop::collection::vec(any::<u8>(), 0..3000),
        any::<bool>(),
        prop::collection::vec(1usize..700, 1..8),
        any::<bool>(),
    )
        .prop_map(|(status, body, chunked, sizes, ext)| {
            let mut out =
                format!("HTTP/1.1 {status} Whatever\r\nx-a: 1\r\nETag: \"v1\"\r\n").into_bytes();
            if chunked {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = body.as_slice();
                let mut i = 0;
                while !rest.is_empty() {
                    let n = sizes[i % sizes.len()].min(rest.len());
                    let ext = if ext { ";name=value" } else { "" };
                    out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                    i += 1;
                }
                out.extend_from_slice(b"0\r\nx-trailer: t\r\n\r\n");
            } else {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
            }
            (status, body, out)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_well_formed_response_is_read_exactly((status, body, bytes) in response()) {
        let reply = answered_with(bytes).expect("a well-formed response parses");
        prop_assert_eq!(reply.status, status);
        prop_assert_eq!(reply.body, body);
        prop_assert_eq!(reply.etag.as_deref(), Some("\"v1\""));
    }

    #[test]
    fn a_damaged_response_is_a_failure_or_a_reply_never_a_panic(
        (_, _, bytes) in response(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = bytes;
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let _ = answered_with(bytes);
    }

    #[test]
    fn any_bytes_are_a_failure_or_a_reply(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = answered_with(bytes);
    }

    #[test]
    fn a_huge_chunk_size_is_a_failure_not_an_overflow(
        size in prop_oneof![Just("ffffffffffffffff".to_string()), Just("fffffffffffffffe".to_string()), "[0-9a-f]{15,20}"]
    ) {
        let bytes = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc").into_bytes();
        prop_assert!(answered_with(bytes).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    /// A number and a unit is the duration it says, to the microsecond.
    #[test]
    fn a_number_and_a_unit_are_the_duration_they_say(
        whole in 0u64..100_000,
        tenths in proptest::option::of(0u64..10),
        unit in proptest::sample::select(vec![("us", 1e-6), ("ms", 1e-3), ("s", 1.0), ("", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)]),
    ) {
        let number = match tenths {
            Some(t) => format!("{whole}.{t}"),
            None => whole.to_string(),
        };
        let seconds = number.parse::<f64>().unwrap() * unit.1;
        let text = format!("{number}{}", unit.0);
        let parsed = parse_duration(&text).unwrap();
        let close = (parsed.as_secs_f64() - seconds).abs() <= 1e-6 * seconds.max(1.0);
        prop_assert!(close, "{}{}: {:?}", number, unit.0, parsed);
    }

    /// Anything but digits and one unit is refused.
    #[test]
    fn other_text_is_refused(unit in "[a-zA-Z]{1,3}", number in "[0-9]{1,4}") {
        let known = ["us", "ms", "s", "m", "min", "h", "d"].contains(&unit.as_str());
        let (text, negative) = (format!("{number}{unit}"), format!("-{number}{unit}"));
        prop_assert_eq!(parse_duration(&text).is_ok(), known);
        prop_assert!(parse_duration(&negative).is_err());
    }

    #[test]
    fn what_a_user_types_is_parsed_or_refused(text in ".{0,30}|[0-9.]{1,25}(us|ms|s|m|h|d)?") {
        let _ = parse_duration(&text);
        let _ = Url::parse(&text);
        let _ = barista_lab::slo::Slo::parse(&text);
        let _ = barista_lab::profile::ProfileSpec::parse(&text);
    }

    #[test]
    fn durations_read_back_what_they_say(ms in 0u64..10_000_000) {
        prop_assert_eq!(parse_duration(&format!("{ms}ms")), Ok(Duration::from_millis(ms)));
    }
}
