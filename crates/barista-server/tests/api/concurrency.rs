//! Real concurrent clients against one server.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flash_sale_of_200_orders_for_50_buns_sells_exactly_50() {
    let app = spawn_app().await;
    let key = app.create_shop("flash").await;
    app.put_item(
        "flash",
        &key,
        "bun",
        json!({"name": "Bun", "category": "pastry", "price_cents": 300, "stock": 50}),
    )
    .await;
    let url = app.url("/v1/shops/flash/orders");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = reqwest::Client::new();
            let url = url.clone();
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .json(&json!({"customer_name": format!("c{i}"), "lines": [{"item_id": "bun", "quantity": 1}]}))
                    .send_checked().await;
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut created = HashSet::new();
    let mut sold_out = 0;
    for task in tasks {
        match task.await.unwrap() {
            (201, body) => assert!(created.insert(body["id"].as_str().unwrap().to_owned())),
            (409, body) => {
                assert_eq!(body["code"], "out_of_stock");
                sold_out += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(created.len(), 50);
    assert_eq!(sold_out, 150);
    assert_eq!(app.stock("flash", "bun").await, 0);
    let list: Value = app
        .get("/v1/shops/flash/orders?limit=200", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    let listed: HashSet<_> = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, created, "exactly the acknowledged orders exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_with_one_idempotency_key_make_one_order() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("once").await;
    let url = app.url("/v1/shops/once/orders");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = reqwest::Client::new();
            let url = url.clone();
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .header("idempotency-key", "tap-tap-tap")
                    .json(&json!({"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": 1}]}))
                    .send_checked().await;
                let replayed = res.headers().contains_key("idempotent-replayed");
                (res.status().as_u16(), replayed, res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut fresh = 0;
    for task in tasks {
        let (status, replayed, body) = task.await.unwrap();
        // A duplicate that arrives while the first runs waits for it and
        // replays its answer (no 409 exists for that in the contract).
        assert_eq!(status, 201, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_owned());
        fresh += usize::from(!replayed);
    }
    assert_eq!(ids.len(), 1, "every answer names the same order");
    assert_eq!(fresh, 1, "exactly one answer created it");
    assert_eq!(app.stock("once", "bun").await, 4, "stock was taken once");
    let list: Value = app
        .get("/v1/shops/once/orders", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
}
