//! Bounded storage, through the running server: its background purge deletes
//! expired idempotency keys and old events, and keeps the orders.

use crate::common::*;
use barista_store::OpenOptions;
use serde_json::{Value, json};
use std::time::Duration;

async fn place_keyed(app: &App, key: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/v1/shops/purge/orders"))
        .header("idempotency-key", key)
        .json(&json!({"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": 1}]}))
        .send_checked()
        .await;
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn the_background_purge_forgets_expired_keys_and_old_events_and_keeps_orders() {
    let mut config = config();
    config.retention = barista_server::retention::Retention {
        idempotency_ttl: Duration::from_millis(1),
        events: Duration::from_millis(1),
        every: Duration::from_secs(1),
        batch: 2,
    };
    let app = spawn_app_with(config, OpenOptions::default()).await;
    app.shop_with_menu("purge").await;
    let mut orders = vec![];
    for i in 0..3 {
        let (status, order) = place_keyed(&app, &format!("key-{i}")).await;
        assert_eq!(status, 201);
        orders.push(order);
    }
    // Bounded: the purge runs every second, two rows a batch.
    let keys = app
        .wait_gauge("barista_purged_idempotency_keys_total", |v| v >= 3.0)
        .await;
    let events = app
        .wait_gauge("barista_purged_events_total", |v| v >= 3.0)
        .await;
    assert!(
        keys >= 3.0 && events >= 3.0,
        "purged {keys} keys, {events} events"
    );
    for order in &orders {
        let id = order["id"].as_str().unwrap();
        let res = app.get(&format!("/v1/shops/purge/orders/{id}"), None).await;
        assert_eq!(res.status(), 200, "orders are kept");
    }
    // A retry after the TTL is a new order: the key was forgotten.
    let (status, again) = place_keyed(&app, "key-0").await;
    assert_eq!(status, 201);
    assert_ne!(again["id"], orders[0]["id"]);
}
