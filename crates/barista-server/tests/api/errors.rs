//! Every problem code of docs/api.md, and inputs that must never cause a 500.

use crate::common::*;
use barista_server::Config;
use barista_store::OpenOptions;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn raw_post(
    app: &App,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.send_checked().await
}

#[tokio::test]
async fn bodies_that_are_not_json_or_not_the_expected_shape_are_400() {
    let app = spawn_app().await;
    app.shop_with_menu("e400").await;
    for body in [
        "{not json",
        "",
        "[]",
        r#"{"customer_name": "Ana"}"#,
        r#"{"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": "two"}]}"#,
        r#"{"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": 1.5}]}"#,
        r#"{"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": 99999999999999999999}]}"#,
    ] {
        let res = raw_post(
            &app,
            "/v1/shops/e400/orders",
            Some("application/json"),
            body,
        )
        .await;
        assert_problem(res, 400, "malformed_json").await;
    }
    assert_eq!(app.stock("e400", "bun").await, 5);
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_415() {
    let app = spawn_app().await;
    app.shop_with_menu("e415").await;
    let order = r#"{"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": 1}]}"#;
    assert_problem(
        raw_post(&app, "/v1/shops/e415/orders", Some("text/plain"), order).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        raw_post(&app, "/v1/shops/e415/orders", None, order).await,
        415,
        "unsupported_media_type",
    )
    .await;
    let ok = raw_post(
        &app,
        "/v1/shops/e415/orders",
        Some("application/json; charset=utf-8"),
        order,
    )
    .await;
    assert_eq!(ok.status(), 201, "parameters on the media type are fine");
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_whether_declared_or_streamed() {
    let app = spawn_app().await;
    app.shop_with_menu("e413").await;
    let big = format!(
        r#"{{"customer_name": "Ana", "note": "{}", "lines": []}}"#,
        "x".repeat(70 * 1024)
    );
    let res = raw_post(
        &app,
        "/v1/shops/e413/orders",
        Some("application/json"),
        big.clone(),
    )
    .await;
    assert_problem(res, 413, "payload_too_large").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(8192)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let res = raw_post(
        &app,
        "/v1/shops/e413/orders",
        Some("application/json"),
        streamed,
    )
    .await;
    assert_problem(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = spawn_app().await;
    app.create_shop("e404").await;
    assert_problem(app.get("/v2/anything", None).await, 404, "not_found").await;
    assert_problem(app.get("/v1/shops/e404/nope", None).await, 404, "not_found").await;
    let res = app
        .client
        .delete(app.url("/v1/shops/e404"))
        .send_checked()
        .await;
    assert_problem(res, 405, "method_not_allowed").await;
    let res = app
        .client
        .put(app.url("/v1/shops/e404/orders"))
        .send_checked()
        .await;
    assert_problem(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_missing_or_wrong_credential_is_401() {
    let app = spawn_app().await;
    app.create_shop("e401").await;
    assert_problem(
        app.get("/v1/shops/e401/events", None).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.get("/v1/shops/e401/orders", Some("bsk_wrong")).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn a_shop_over_its_request_budget_gets_429_with_retry_after() {
    let config = Config {
        shop_rate_limit: Some(3),
        ..config()
    };
    let app = spawn_app_with(config, OpenOptions::default()).await;
    let staff = app.create_shop("busy-shop").await;
    app.create_shop("calm-shop").await;
    let first = app.get("/v1/shops/busy-shop/menu", None).await;
    assert_eq!(first.headers()["ratelimit-policy"], "\"customer\";q=3;w=1");
    assert!(
        first.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"customer\";r=2;t="),
        "{:?}",
        first.headers()["ratelimit"]
    );
    let mut limited = None;
    for _ in 0..10 {
        let res = app.get("/v1/shops/busy-shop/menu", None).await;
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("a burst of 10 over a budget of 3/s is limited");
    assert!(
        res.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains(";r=0;")
    );
    // Customers spent their budget; the shop's staff still have theirs.
    let queue = app.get("/v1/shops/busy-shop/orders", Some(&staff)).await;
    assert_eq!(
        queue.status(),
        200,
        "staff are not held at 429 by customers"
    );
    assert_eq!(queue.headers()["ratelimit-policy"], "\"staff\";q=3;w=1");
    // A wrong key is refused before it is charged: it spends no one's budget.
    for _ in 0..5 {
        let res = app
            .get("/v1/shops/busy-shop/orders", Some("bsk_wrong"))
            .await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(
        app.get("/v1/shops/busy-shop/orders", Some(&staff))
            .await
            .status(),
        200
    );
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_problem(res, 429, "rate_limited").await;
    assert_eq!(
        app.get("/v1/shops/calm-shop/menu", None).await.status(),
        200,
        "other shops are not limited"
    );
    // The budget refills: after the advertised wait, customers are served.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let refilled = app.get("/v1/shops/busy-shop/menu", None).await;
    assert_eq!(refilled.status(), 200, "served again after Retry-After");
}

#[tokio::test]
async fn past_the_in_flight_limit_requests_get_a_fast_503_overloaded() {
    let config = Config {
        max_in_flight: 1,
        ..config()
    };
    let options = OpenOptions {
        busy_timeout: Duration::from_secs(30),
        ..OpenOptions::default()
    };
    let app = spawn_app_with(config, options).await;
    app.shop_with_menu("e503").await;
    // Hold the only slot: an order waiting in the database for a lock.
    let lock = hold_write_lock(&app, "e503", "bun").await;
    let waiting = {
        let (client, url) = (app.client.clone(), app.url("/v1/shops/e503/orders"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(
                    &json!({"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": 1}]}),
                )
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // The slot is taken once the order is in: the operations listener says so.
    let in_flight = app
        .wait_gauge("http_server_active_requests", |v| v >= 1.0)
        .await;
    assert_eq!(in_flight, 1.0, "the order waits in the database");
    let res = app.get("/v1/shops/e503/menu", None).await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_problem(res, 503, "overloaded").await;
    assert_eq!(
        app.get("/healthz", None).await.status(),
        200,
        "health is never shed"
    );
    drop(lock);
    assert_eq!(
        waiting.await.unwrap(),
        201,
        "the waiting order goes through"
    );
    assert_eq!(
        app.get("/v1/shops/e503/menu", None).await.status(),
        200,
        "the slot is freed"
    );
}

#[tokio::test]
async fn a_slow_upload_holds_no_slot_and_gets_408_when_its_body_is_late() {
    let mut config = Config {
        max_in_flight: 1,
        ..config()
    };
    config.limits.body_timeout = Duration::from_millis(500);
    let app = spawn_app_with(config, OpenOptions::default()).await;
    app.shop_with_menu("slow-body").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        b"POST /v1/shops/slow-body/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    // While its body trickles, the only slot is free for others.
    for _ in 0..5 {
        assert_eq!(
            app.get("/v1/shops/slow-body/menu", None).await.status(),
            200
        );
    }
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_string(&mut answer))
        .await
        .expect("an answer within the body timeout")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert_eq!(app.stock("slow-body", "bun").await, 5, "nothing changed");
}

#[tokio::test]
async fn a_database_locked_by_another_process_gives_503_unavailable_and_no_order() {
    // SQLite: another process holds the database's write lock past the busy
    // timeout. PostgreSQL: another session holds the item's row past the
    // statement timeout.
    let options = OpenOptions {
        busy_timeout: Duration::from_millis(100),
        statement_timeout: Duration::from_millis(300),
        ..OpenOptions::default()
    };
    let app = spawn_app_with(config(), options).await;
    let key = app.shop_with_menu("locked").await;
    let lock = hold_write_lock(&app, "locked", "bun").await;
    let res = app
        .order("locked", json!([{"item_id": "bun", "quantity": 1}]))
        .await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_problem(res, 503, "unavailable").await;
    drop(lock);
    let list: serde_json::Value = app
        .get("/v1/shops/locked/orders", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["orders"].as_array().unwrap().is_empty());
    assert_eq!(
        app.order("locked", json!([{"item_id": "bun", "quantity": 1}]))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn hostile_inputs_never_cause_a_server_error() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("hostile").await;
    let paths = [
        "/v1/shops/hostile/orders",
        "/v1/shops/hostile/menu/items/x",
        "/v1/shops/hostile/orders/00000000-0000-7000-8000-000000000000/status",
        "/v1/shops/%FF%FE/orders",
        "/v1/shops/hostile/menu/items/%00",
        "/v1/shops",
    ];
    let bodies = [
        "null",
        "0",
        "\"str\"",
        "{}",
        r#"{"lines": null}"#,
        r#"{"customer_name": null, "lines": [null]}"#,
        r#"{"customer_name": "\u0000", "lines": [{"item_id": "bun", "quantity": -1}]}"#,
        r#"{"name": "x", "category": "y", "price_cents": 1e3}"#,
        r#"{"status": 5}"#,
        "\u{feff}{}",
        r#"{"slug": "abc", "name": "n", "currency": "EUR", "extra": {"deep": [1, 2, 3]}}"#,
    ];
    for path in paths {
        for body in bodies {
            for method in [
                reqwest::Method::POST,
                reqwest::Method::PUT,
                reqwest::Method::PATCH,
            ] {
                let res = app
                    .client
                    .request(method.clone(), app.url(path))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send_checked()
                    .await;
                assert!(
                    res.status().as_u16() < 500,
                    "{method} {path} {body} gave {}",
                    res.status()
                );
                if !res.status().is_success() {
                    assert_eq!(
                        res.headers()["content-type"],
                        "application/problem+json",
                        "{method} {path} {body}"
                    );
                }
            }
        }
    }
    // A raw request with a broken head is refused without disturbing the server.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
    raw.write_all(b"GARBAGE / HTTP/9.9\r\n\r\n").await.unwrap();
    let mut buf = vec![0; 64];
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf)).await;
    assert_eq!(app.get("/healthz", None).await.status(), 200);
}

#[tokio::test]
async fn a_request_in_flight_when_shutdown_starts_still_completes() {
    let mut app = spawn_app().await;
    app.shop_with_menu("draining").await;
    let body = br#"{"customer_name": "Late", "lines": [{"item_id": "bun", "quantity": 1}]}"#;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let before = app.gauge("barista_open_connections").await;
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/shops/draining/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body[..10]).await.unwrap();
    // Shutdown starts only once the server has taken the connection (a
    // connection still in the kernel's backlog is not in flight).
    app.wait_gauge("barista_open_connections", |n| n > before)
        .await;
    app.shut_down();
    conn.write_all(&body[10..]).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the in-flight order completes: {answer}"
    );
    let server = app.stopped.take().unwrap();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(10), server).await,
        Ok(Ok(Ok(())))
    ));
}
