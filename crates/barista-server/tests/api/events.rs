//! The SSE streams, read by a real HTTP client.

use crate::common::*;
use barista_store::OpenOptions;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

/// Reads an SSE response until `n` events have arrived (bounded in time).
pub struct SseReader {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

#[derive(Debug)]
pub struct SseEvent {
    pub id: String,
    pub data: Value,
}

impl SseReader {
    pub fn new(res: reqwest::Response) -> Self {
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            stream: res.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next `order` event; `pickup` estimates met on the way are checked and passed over.
    pub async fn next_event(&mut self) -> SseEvent {
        loop {
            let (kind, id, data) = self.next_frame().await;
            if kind == "pickup" {
                continue;
            }
            assert_eq!(kind, "order");
            return SseEvent {
                id: id.expect("an order event has an id"),
                data,
            };
        }
    }

    /// The next `pickup` estimate; `order` events met on the way are passed over.
    pub async fn next_pickup(&mut self) -> Value {
        loop {
            let (kind, _, data) = self.next_frame().await;
            if kind == "pickup" {
                return data;
            }
        }
    }

    /// The next event of any kind, checked against the document: (event, id, data).
    async fn next_frame(&mut self) -> (String, Option<String>, Value) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut id, mut data, mut kind) = (None, None, None);
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = Some(v.trim().to_owned())
                        }
                        if let Some(v) = line.strip_prefix("data:") {
                            data = Some(serde_json::from_str(v.trim()).unwrap())
                        }
                        if let Some(v) = line.strip_prefix("event:") {
                            kind = Some(v.trim().to_owned())
                        }
                    }
                    if let Some(data) = data {
                        let kind = kind.unwrap_or_default();
                        crate::contract::check_event(id.as_deref(), &kind, &data);
                        return (kind, id, data);
                    }
                    continue; // a keep-alive comment
                }
                let chunk = self.stream.next().await.expect("the stream ended").unwrap();
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an event within 10 s")
    }
}

impl SseReader {
    /// Whether the server ends the stream (within 10 s) with no further event.
    pub async fn ends(&mut self) -> bool {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = self.stream.next().await {
                self.buffer
                    .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                if self.buffer.contains("data:") {
                    return false;
                }
            }
            true
        })
        .await
        .unwrap_or(false)
    }
}

pub async fn open(app: &App, path: &str, key: Option<&str>, last_id: Option<&str>) -> SseReader {
    let mut req = app
        .client
        .get(app.url(path))
        .header("accept", "text/event-stream");
    if let Some(key) = key {
        req = req.bearer_auth(key)
    }
    if let Some(id) = last_id {
        req = req.header("last-event-id", id)
    }
    SseReader::new(req.send_checked().await)
}

#[tokio::test]
async fn an_order_stream_sends_the_current_state_then_every_change() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("sse-order").await;
    let order: Value = app
        .order("sse-order", json!([{"item_id": "bun", "quantity": 1}]))
        .await
        .json()
        .await
        .unwrap();
    let id = order["id"].as_str().unwrap();
    let path = format!("/v1/shops/sse-order/orders/{id}/events");
    let mut stream = open(&app, &path, None, None).await;
    let first = stream.next_event().await;
    let mut plain = order.clone();
    assert!(plain.as_object_mut().unwrap().remove("pickup").is_some());
    assert_eq!(first.data, plain, "the current state comes first");

    // Another order's change is not on this stream.
    app.order("sse-order", json!([{"item_id": "bun", "quantity": 1}]))
        .await;
    let claimed = app
        .post_json("/v1/shops/sse-order/queue/claim", Some(&key), &json!({}))
        .await;
    assert_eq!(claimed.status(), 200);
    let brewing = stream.next_event().await;
    assert_eq!(brewing.data["status"], "brewing");
    assert_eq!(brewing.data["id"], id);
    let version = |e: &SseEvent| e.id.parse::<i64>().unwrap();
    assert_eq!(
        (version(&first), version(&brewing)),
        (1, 2),
        "an order's stream counts its versions"
    );
    app.post_json(
        &format!("/v1/shops/sse-order/orders/{id}/status"),
        Some(&key),
        &json!({"status": "ready"}),
    )
    .await;
    let ready = stream.next_event().await;
    assert_eq!(
        (
            ready.data["status"].as_str(),
            ready.data["version"].as_i64()
        ),
        (Some("ready"), Some(3))
    );

    // Reconnecting with Last-Event-ID resumes after it: nothing missed, nothing repeated.
    let mut resumed = open(&app, &path, None, Some(&first.id)).await;
    assert_eq!(resumed.next_event().await.id, brewing.id);
    assert_eq!(resumed.next_event().await.id, ready.id);
}

#[tokio::test]
async fn a_waiting_order_is_told_when_to_come_and_the_estimate_moves_with_the_queue() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("pickup").await;
    let mut placed = vec![];
    for _ in 0..3 {
        let res = app
            .order("pickup", json!([{"item_id": "flat-white", "quantity": 1}]))
            .await;
        placed.push(res.json::<Value>().await.unwrap());
    }
    let last = &placed[2];
    assert_eq!(placed[0]["pickup"]["ahead"], 0);
    assert_eq!(
        last["pickup"]["measured"], false,
        "no history: the default pace"
    );
    let id = last["id"].as_str().unwrap();
    let read: Value = app
        .get(&format!("/v1/shops/pickup/orders/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["pickup"]["ahead"], 2);
    let mut stream = open(
        &app,
        &format!("/v1/shops/pickup/orders/{id}/events"),
        None,
        None,
    )
    .await;
    assert_eq!(stream.next_pickup().await["ahead"], 2);
    // The front order is made and handed over: one fewer ahead.
    for target in ["ready", "collected"] {
        let front = placed[0]["id"].as_str().unwrap();
        if target == "ready" {
            app.post_json("/v1/shops/pickup/queue/claim", Some(&key), &json!({}))
                .await;
        }
        app.post_json(
            &format!("/v1/shops/pickup/orders/{front}/status"),
            Some(&key),
            &json!({"status": target}),
        )
        .await;
    }
    assert_eq!(stream.next_pickup().await["ahead"], 1);
    // Ready itself: no estimate any more, on the order or its stream.
    for (i, order) in placed.iter().enumerate().skip(1) {
        let oid = order["id"].as_str().unwrap();
        if i == 1 {
            app.post_json("/v1/shops/pickup/queue/claim", Some(&key), &json!({}))
                .await;
        }
        app.post_json("/v1/shops/pickup/queue/claim", Some(&key), &json!({}))
            .await;
        app.post_json(
            &format!("/v1/shops/pickup/orders/{oid}/status"),
            Some(&key),
            &json!({"status": "ready"}),
        )
        .await;
    }
    loop {
        let event = stream.next_event().await;
        if event.data["status"] == "ready" {
            break;
        }
    }
    let read: Value = app
        .get(&format!("/v1/shops/pickup/orders/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(read.get("pickup").is_none(), "{read}");
}

#[tokio::test]
async fn an_order_stream_ends_after_its_final_status_and_a_reconnect_past_it_is_204() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("sse-end").await;
    let order: Value = app
        .order("sse-end", json!([{"item_id": "bun", "quantity": 1}]))
        .await
        .json()
        .await
        .unwrap();
    let id = order["id"].as_str().unwrap();
    let path = format!("/v1/shops/sse-end/orders/{id}/events");
    let mut stream = open(&app, &path, None, None).await;
    assert_eq!(stream.next_event().await.data["status"], "placed");
    let status = format!("/v1/shops/sse-end/orders/{id}/status");
    app.post_json("/v1/shops/sse-end/queue/claim", Some(&key), &json!({}))
        .await;
    app.post_json(&status, Some(&key), &json!({"status": "ready"}))
        .await;
    app.post_json(&status, Some(&key), &json!({"status": "collected"}))
        .await;
    let mut last = stream.next_event().await;
    while last.data["status"] != "collected" {
        last = stream.next_event().await;
    }
    assert!(
        stream.ends().await,
        "the stream ends after the final status"
    );
    assert_eq!(app.gauge("barista_sse_streams").await, 0.0);

    // An EventSource reconnecting past the end is told to stop: 204.
    let res = app
        .client
        .get(app.url(&path))
        .header("last-event-id", &last.id)
        .send_checked()
        .await;
    assert_eq!(res.status(), 204);
    // A new reader gets the final state, then the end.
    let mut late = open(&app, &path, None, None).await;
    assert_eq!(late.next_event().await.data["status"], "collected");
    assert!(late.ends().await);
}

#[tokio::test]
async fn every_stream_on_a_shop_sees_a_change_and_past_the_caps_a_stream_is_503() {
    let mut config = config();
    config.streams = barista_server::hub::StreamLimits {
        total: 60,
        per_shop: 50,
    };
    let app = spawn_app_with(config, OpenOptions::default()).await;
    let key = app.shop_with_menu("sse-many").await;
    app.shop_with_menu("sse-other").await;
    let order: Value = app
        .order("sse-many", json!([{"item_id": "bun", "quantity": 1}]))
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/v1/shops/sse-many/orders/{}/events",
        order["id"].as_str().unwrap()
    );
    let mut streams = vec![];
    for _ in 0..50 {
        let mut s = open(&app, &path, None, None).await;
        assert_eq!(s.next_event().await.data["status"], "placed");
        streams.push(s);
    }
    let refused = app.get(&path, None).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 503, "too_many_streams").await;
    // Another shop has room up to the replica's total.
    let other: Value = app
        .order("sse-other", json!([{"item_id": "bun", "quantity": 1}]))
        .await
        .json()
        .await
        .unwrap();
    let other_path = format!(
        "/v1/shops/sse-other/orders/{}/events",
        other["id"].as_str().unwrap()
    );
    let mut others = vec![];
    for _ in 0..10 {
        others.push(open(&app, &other_path, None, None).await);
    }
    assert_problem(app.get(&other_path, None).await, 503, "too_many_streams").await;
    assert_eq!(app.gauge("barista_sse_streams").await, 60.0);

    // One change reaches every stream of its shop.
    app.post_json("/v1/shops/sse-many/queue/claim", Some(&key), &json!({}))
        .await;
    for s in &mut streams {
        assert_eq!(s.next_event().await.data["status"], "brewing");
    }
    // Closed streams free their places.
    drop(streams);
    drop(others);
    let left = app.wait_gauge("barista_sse_streams", |v| v == 0.0).await;
    assert_eq!(left, 0.0, "closed streams are no longer counted");
    let mut again = open(&app, &path, None, None).await;
    assert_eq!(again.next_event().await.data["status"], "brewing");
}

#[tokio::test]
async fn the_shop_stream_is_for_staff_and_resumes_from_last_event_id() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("sse-shop").await;
    let mut live = open(&app, "/v1/shops/sse-shop/events", Some(&key), None).await;
    let mut placed = vec![];
    for _ in 0..3 {
        let o: Value = app
            .order(
                "sse-shop",
                json!([{"item_id": "flat-white", "quantity": 1}]),
            )
            .await
            .json()
            .await
            .unwrap();
        placed.push(o["id"].clone());
    }
    let mut got = vec![];
    for _ in 0..3 {
        got.push(live.next_event().await);
    }
    assert_eq!(
        got.iter().map(|e| e.data["id"].clone()).collect::<Vec<_>>(),
        placed
    );

    let mut resumed = open(
        &app,
        "/v1/shops/sse-shop/events",
        Some(&key),
        Some(&got[0].id),
    )
    .await;
    assert_eq!(resumed.next_event().await.id, got[1].id);
    assert_eq!(resumed.next_event().await.id, got[2].id);

    let res = app
        .client
        .get(app.url("/v1/shops/sse-shop/events"))
        .header("last-event-id", "soon")
        .bearer_auth(&key)
        .send_checked()
        .await;
    assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn shutting_down_closes_event_streams_and_the_server_stops() {
    let mut app = spawn_app().await;
    let key = app.shop_with_menu("sse-stop").await;
    let res = app
        .client
        .get(app.url("/v1/shops/sse-stop/events"))
        .bearer_auth(&key)
        .send_checked()
        .await;
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    app.shut_down();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends when the server drains");
    let server = app.stopped.take().unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(
        matches!(result, Ok(Ok(Ok(())))),
        "the server stops cleanly: {result:?}"
    );
}

/// One reader per replica feeds the streams of every shop: streams on many
/// shops each get exactly their own shop's orders, placed all at once (on
/// PostgreSQL by another replica, so the reader hears of them by NOTIFY).
#[tokio::test]
async fn streams_on_many_shops_each_get_exactly_their_shops_orders() {
    let app = spawn_app().await;
    let other = if on_postgres() {
        Some(app.spawn_beside(config()).await)
    } else {
        None
    };
    let placing = other.as_ref().unwrap_or(&app);
    let shops: Vec<String> = (1..=6).map(|i| format!("fan-{i}")).collect();
    let mut streams = vec![];
    for slug in &shops {
        let key = app.shop_with_menu(slug).await;
        let path = format!("/v1/shops/{slug}/events");
        streams.push(open(&app, &path, Some(&key), None).await);
    }
    let line = json!([{"item_id": "flat-white", "quantity": 1}]);
    let orders = futures_util::future::join_all(
        shops
            .iter()
            .flat_map(|slug| [slug, slug])
            .map(|slug| placing.order(slug, line.clone())),
    )
    .await;
    let mut placed: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (slug, res) in shops.iter().flat_map(|slug| [slug, slug]).zip(orders) {
        assert_eq!(res.status(), 201);
        let order: Value = res.json().await.unwrap();
        let id = order["id"].as_str().unwrap().to_owned();
        placed.entry(slug.as_str()).or_default().push(id);
    }
    for (slug, stream) in shops.iter().zip(&mut streams) {
        let mut got = vec![];
        for _ in 0..2 {
            let event = stream.next_event().await;
            assert_eq!(event.data["shop"], slug.as_str(), "{:?}", event.data);
            got.push(event.data["id"].as_str().unwrap().to_owned());
        }
        got.sort();
        let mut want = placed[slug.as_str()].clone();
        want.sort();
        assert_eq!(got, want, "{slug}'s stream");
    }
}
