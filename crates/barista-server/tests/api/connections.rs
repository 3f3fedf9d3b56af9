//! Connection hygiene: clients that trickle bytes hold no one else up, and
//! are let go when their time is up.

use crate::common::*;
use barista_store::OpenOptions;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How many trickling clients: enough to hold every slot of a server that
/// gave one to each connection (the default admission limit is 1,024).
const TRICKLERS: usize = 2_000;

/// Opens a connection that sends `head` one byte a second until told to stop
/// or until the server closes it; reports whether it was still open.
async fn trickle(
    addr: String,
    head: &'static [u8],
    stop: tokio::sync::watch::Receiver<bool>,
) -> bool {
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return false;
    };
    let mut stop = stop;
    for (sent, byte) in head.iter().cycle().enumerate() {
        if *stop.borrow() {
            return true;
        }
        if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
            return false;
        }
        if sent == 1 {
            TRICKLED.fetch_add(1, Ordering::Relaxed);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return true,
        }
    }
    unreachable!("the head repeats")
}

/// Tricklers that have sent two bytes.
static TRICKLED: AtomicUsize = AtomicUsize::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_trickling_connections_do_not_stop_a_customer() {
    // Timeouts longer than the test, so the tricklers are all still there
    // while the customer is served (and the test shows they were).
    let mut config = config();
    config.limits.header_timeout = Duration::from_secs(120);
    config.limits.body_timeout = Duration::from_secs(120);
    // Fewer admission slots than body-tricklers: were a body read after a
    // request is admitted, the tricklers would hold every slot.
    config.max_in_flight = TRICKLERS / 4;
    let app = spawn_app_with(config, OpenOptions::default()).await;
    app.shop_with_menu("trickle").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Half trickle a request's head, half a body after a whole head.
    const HEAD: &[u8] = b"GET /v1/shops/trickle/menu HTTP/1.1\r\nhost: x\r\nx-slow: ";
    const BODY: &[u8] = b"POST /v1/shops/trickle/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"customer_name\": \"Slow\", ";
    // They connect in batches smaller than the listen backlog (1,024), each
    // taken by the server before the next: 2,000 SYNs at once on a busy
    // machine can overflow the kernel's accept queue, and a connection lost
    // there never reached Barista.
    let before = app.gauge("barista_open_connections").await;
    let mut tricklers = tokio::task::JoinSet::new();
    for batch in (0..TRICKLERS).collect::<Vec<_>>().chunks(250) {
        for &i in batch {
            let head = if i % 2 == 0 { HEAD } else { BODY };
            tricklers.spawn(trickle(addr.clone(), head, stopped.clone()));
        }
        let want = before + tricklers.len() as f64;
        app.wait_gauge("barista_open_connections", |v| v >= want)
            .await;
    }
    // Every trickler has sent its second byte, a second after its first: the
    // server holds 2,000 heads and bodies it has begun to read.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while TRICKLED.load(Ordering::Relaxed) < TRICKLERS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {TRICKLERS} tricklers sent two bytes in 60 s",
            TRICKLED.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An ordinary customer: a fresh connection reads the menu and orders.
    let customer = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let menu = customer
        .get(app.url("/v1/shops/trickle/menu"))
        .send()
        .await
        .unwrap();
    assert_eq!(menu.status(), 200);
    let order = customer
        .post(app.url("/v1/shops/trickle/orders"))
        .json(&json!({"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 201);
    assert_eq!(app.stock("trickle", "bun").await, 4);

    // The tricklers were all still connected while the customer was served.
    stop.send(true).unwrap();
    let mut still_open = 0;
    while let Some(open) = tricklers.join_next().await {
        still_open += usize::from(open.unwrap());
    }
    assert_eq!(still_open, TRICKLERS, "every trickler was still connected");
}

#[tokio::test]
async fn a_head_that_never_ends_is_closed_after_the_header_timeout() {
    let mut config = config();
    config.limits.header_timeout = Duration::from_millis(300);
    let app = spawn_app_with(config, OpenOptions::default()).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closes a head that never ends");
    assert!(app.get("/healthz", None).await.status().is_success());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let mut config = config();
    config.limits.idle_timeout = Duration::from_millis(300);
    let app = spawn_app_with(config, OpenOptions::default()).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), idle.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the server closes an idle connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "served first: {answer}");
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_waits_for_a_free_one() {
    let mut config = config();
    config.limits.max_connections = 1;
    let app = spawn_app_with(config, OpenOptions::default()).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut first = TcpStream::connect(&addr).await.unwrap();
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    first.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    // A second connection is accepted by the kernel but not served...
    let mut second = TcpStream::connect(&addr).await.unwrap();
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(early.is_err(), "served past the cap");
    // ...until the first goes.
    drop(first);
    let mut answer = Vec::new();
    second.read_to_end(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}
