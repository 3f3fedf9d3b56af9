//! Upgrading from earlier releases: a database each wrote (schema 2 and the
//! previous release's schema 4, kept as SQL in `tests/fixtures`) is migrated
//! by this build on start, and everything in it still works: orders read
//! back, an idempotent retry of an old order replays it, stock is as it was,
//! the staff key opens the queue, and old orders' events replay. What this
//! release adds (sizes and modifiers, opening hours and the pause) works on
//! the upgraded database. On SQLite and on PostgreSQL.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;

mod common;

use common::{BIN, fresh_database, json_of, serve_url};

/// (the schema it was written at, the SQLite fixture, the PostgreSQL fixture)
const FIXTURES: &[(usize, &str, &str)] = &[
    (
        2,
        include_str!("fixtures/schema-2.sqlite.sql"),
        include_str!("fixtures/schema-2.postgres.sql"),
    ),
    (
        4,
        include_str!("fixtures/schema-4.sqlite.sql"),
        include_str!("fixtures/schema-4.postgres.sql"),
    ),
];

/// The staff key named in a fixture's header.
fn staff_key(fixture: &str) -> String {
    let at = fixture.find("bsk_").expect("the fixture names its key");
    fixture[at..]
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap()
        .to_owned()
}

/// `barista serve` over `url` with retention long enough that the fixture's
/// old rows are not purged, whatever today's date.
fn start(url: &str) -> common::Served {
    serve_url(
        url,
        &[
            "--no-demo",
            "--idempotency-ttl",
            "36500d",
            "--event-retention",
            "36500d",
        ],
    )
}

/// What the previous release left must all be there and work.
async fn the_old_data_works(base: &str, key: &str) {
    let c = reqwest::Client::new();
    let list: serde_json::Value = json_of(
        c.get(format!("{base}/v1/shops/demo/orders?limit=100"))
            .bearer_auth(key),
    )
    .await;
    let by_name: HashMap<String, Value> = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["customer_name"].as_str().unwrap().to_owned(), o.clone()))
        .collect();
    assert_eq!(by_name.len(), 3, "{list}");
    assert_eq!(by_name["Ada"]["status"], "brewing");
    assert_eq!(by_name["Ada"]["total_cents"], 1100);
    assert_eq!(by_name["Grace"]["status"], "placed");
    assert_eq!(by_name["Linus"]["status"], "cancelled");
    let ada = by_name["Ada"]["id"].as_str().unwrap();

    // A retry of Ada's order with its key replays it, and takes no stock.
    let retry = c
        .post(format!("{base}/v1/shops/demo/orders"))
        .header("idempotency-key", "fixture-key-1")
        .json(&json!({"customer_name": "Ada", "lines": [
            {"item_id": "flat-white", "quantity": 2}, {"item_id": "cinnamon-bun", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], ada);
    let menu: serde_json::Value = json_of(c.get(format!("{base}/v1/shops/demo/menu"))).await;
    let bun = menu["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "cinnamon-bun")
        .unwrap();
    assert_eq!(
        bun["stock"], 11,
        "12, less Ada's 1 and Linus's 2, plus Linus's 2 back"
    );

    // The staff key opens the queue: Grace's order is next.
    let claimed: serde_json::Value = json_of(
        c.post(format!("{base}/v1/shops/demo/queue/claim"))
            .bearer_auth(key),
    )
    .await;
    assert_eq!(claimed["customer_name"], "Grace");
    assert_eq!(claimed["status"], "brewing");

    // Ada's stream opens with her order as it is: brewing, at version 2.
    let events = c
        .get(format!("{base}/v1/shops/demo/orders/{ada}/events"))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let mut events = events;
    while !text.contains("brewing") {
        match events.chunk().await {
            Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    assert!(text.starts_with("id: 2\n"), "{text}");
    assert!(
        text.contains("\"status\":\"brewing\"") && text.contains("\"version\":2"),
        "{text}"
    );
    what_this_release_adds_works(base, key).await;
}

/// Sizes and modifiers, opening hours and the pause, on the upgraded database.
async fn what_this_release_adds_works(base: &str, key: &str) {
    let c = reqwest::Client::new();
    let shop = format!("{base}/v1/shops/demo");
    let milk = json!({"name": "Milk", "min": 1, "max": 1,
        "modifiers": [{"id": "whole", "name": "Whole"}, {"id": "oat", "name": "Oat", "price_delta_cents": 50}]});
    let res = c
        .put(format!("{shop}/menu/modifier-groups/milk"))
        .bearer_auth(key)
        .json(&milk)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let latte = json!({"name": "Latte", "category": "coffee", "modifier_groups": ["milk"],
        "variations": [{"id": "regular", "name": "Regular", "price_cents": 390},
                       {"id": "large", "name": "Large", "price_cents": 450}]});
    let res = c
        .put(format!("{shop}/menu/items/latte"))
        .bearer_auth(key)
        .json(&latte)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let order: Value = json_of(c.post(format!("{shop}/orders")).json(&json!({
        "customer_name": "Barbara",
        "lines": [{"item_id": "latte", "quantity": 1, "variation_id": "large", "modifiers": ["oat"]}]}))).await;
    assert_eq!(order["total_cents"], 500, "{order}");
    let res = c
        .put(format!("{shop}/pause"))
        .bearer_auth(key)
        .json(&json!({"minutes": 15}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let refused = c
        .post(format!("{shop}/orders"))
        .json(
            &json!({"customer_name": "Edsger", "lines": [{"item_id": "espresso", "quantity": 1}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
}

#[tokio::test]
async fn sqlite_databases_of_earlier_releases_are_upgraded_and_work() {
    for &(from, fixture, _) in FIXTURES {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("old.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(fixture)
            .unwrap();
        let server = start(&format!("sqlite://{}", db.display()));
        the_old_data_works(&server.base, &staff_key(fixture)).await;
        let at: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            at,
            barista_store::SCHEMA_VERSION as i64,
            "from schema {from}"
        );
    }
}

#[tokio::test]
async fn postgres_databases_of_earlier_releases_are_upgraded_and_work() {
    let Some(admin) = barista_testkit::postgres_url(
        "postgres_databases_of_earlier_releases_are_upgraded_and_work",
    ) else {
        return;
    };
    let mut url = String::new();
    for &(from, _, fixture) in FIXTURES {
        url = fresh_database(&admin, &format!("upgrade{from}")).await;
        let (old, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        old.batch_execute(fixture).await.unwrap();
        let server = start(&url);
        the_old_data_works(&server.base, &staff_key(fixture)).await;
    }
    // A new session: the fixture's left `search_path` empty on the first.
    let (upgraded, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let version: i32 = upgraded
        .query_one("SELECT version FROM barista_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version as usize, barista_store::SCHEMA_VERSION);
    // A database a newer release wrote is refused, not written to.
    upgraded
        .batch_execute("UPDATE barista_schema SET version = version + 1")
        .await
        .unwrap();
    let newer = Command::new(BIN)
        .args(["migrate", "--database", &url])
        .output()
        .unwrap();
    assert!(!newer.status.success());
    let said = String::from_utf8_lossy(&newer.stderr);
    assert!(said.contains("newer than this barista"), "{said}");
}
