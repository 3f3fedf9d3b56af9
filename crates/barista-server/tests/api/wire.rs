//! HTTP/1.1 on the wire, as Barista speaks it (`crates/barista-http`: `server.rs`,
//! `request.rs`, `chunked.rs`): framing, pipelining, HTTP/1.0, HEAD, `Expect: 100-continue`,
//! chunked bodies, and the refusals that close a connection.

use crate::common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ORDER: &str = r#"{"customer_name": "Wire", "lines": [{"item_id": "bun", "quantity": 1}]}"#;

/// Sends `bytes` on a fresh connection and reads until the server closes it
/// (or `wait` passes, when it keeps the connection open).
async fn exchange(app: &App, bytes: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}

/// The status codes of every response in `text`, in order.
fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| text[at + 9..at + 12].parse().ok())
        .collect()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let app = spawn_app().await;
    app.shop_with_menu("pipe").await;
    let three = "GET /v1/shops/pipe/menu HTTP/1.1\r\nhost: x\r\n\r\n\
                 GET /v1/shops/nope/menu HTTP/1.1\r\nhost: x\r\n\r\n\
                 GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let got = exchange(&app, three.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(statuses(&got), [200, 404, 200], "{got}");
    assert!(got.contains("connection: close\r\n"), "{got}");
}

#[tokio::test]
async fn a_chunked_order_is_placed_and_answered_with_its_length() {
    let app = spawn_app().await;
    app.shop_with_menu("chunky").await;
    let (a, b) = ORDER.split_at(20);
    let request = format!(
        "POST /v1/shops/chunky/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x};x=y\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let got = exchange(&app, request.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(statuses(&got), [201], "{got}");
    assert!(got.contains("content-length: "), "{got}");
    assert!(got.contains("\"customer_name\":\"Wire\""), "{got}");
}

#[tokio::test]
async fn expect_continue_gets_a_go_ahead_before_the_body() {
    let app = spawn_app().await;
    app.shop_with_menu("expect").await;
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/shops/expect/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
        ORDER.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(ORDER.as_bytes()).await.unwrap();
    let mut rest = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut rest)).await;
    assert_eq!(statuses(&rest), [201], "{rest}");
}

#[tokio::test]
async fn http_1_0_and_head_are_answered_as_their_rules_say() {
    let app = spawn_app().await;
    app.shop_with_menu("old").await;
    let got = exchange(
        &app,
        b"GET /v1/shops/old/menu HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        statuses(&got),
        [200],
        "HTTP/1.0 is closed after one answer: {got}"
    );
    assert!(got.contains("connection: close\r\n"));
    let got = exchange(
        &app,
        b"HEAD /v1/shops/old/menu HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(statuses(&got), [200], "{got}");
    assert!(got.ends_with("\r\n\r\n"), "HEAD has no body: {got}");
}

#[tokio::test]
async fn broken_framing_is_a_problem_then_the_connection_closes() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("smuggle").await;
    for (request, status, code) in [
        (
            "POST /v1/shops/smuggle/orders HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\
             transfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
            400,
            "malformed_request",
        ),
        (
            "POST /v1/shops/smuggle/orders HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            501,
            "not_implemented",
        ),
        (
            "POST /v1/shops/smuggle/orders HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            400,
            "malformed_request",
        ),
        ("GARBAGE / HTTP/9.9\r\n\r\n", 400, "malformed_request"),
    ] {
        let got = exchange(&app, request.as_bytes(), Duration::from_secs(5)).await;
        assert_eq!(statuses(&got), [status], "one answer, then closed: {got}");
        assert!(
            got.contains("content-type: application/problem+json"),
            "{got}"
        );
        assert!(got.contains("x-request-id: "), "{got}");
        assert!(got.contains(&format!("\"code\":\"{code}\"")), "{got}");
    }
    let huge = format!("GET / HTTP/1.1\r\nx-big: {}\r\n\r\n", "a".repeat(9000));
    let got = exchange(&app, huge.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(statuses(&got), [431], "{got}");
    // Nothing was ordered by any of it.
    let queue = app.get("/v1/shops/smuggle/orders", Some(&key)).await;
    assert_eq!(queue.status(), 200);
    let queue: serde_json::Value = queue.json().await.unwrap();
    assert_eq!(queue["orders"].as_array().map(Vec::len), Some(0), "{queue}");
}
