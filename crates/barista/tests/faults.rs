//! Fault injection with the real binary over the real PostgreSQL of
//! `scripts/with-postgres`, which this test crashes and restarts: customers
//! keep ordering through it all, each order resent with its Idempotency-Key
//! until it is acknowledged, as the contract tells clients to.
//!
//! 1. PostgreSQL is killed (`kill -9` of all its processes) under load: the
//!    replica stays up, answers 503 with `Retry-After` (never a 500) and fails
//!    `/readyz`; PostgreSQL restarts; the replica recovers by itself, and a
//!    stream opened before the crash receives the events of orders placed
//!    after it (the listener reconnected and re-read what it missed).
//! 2. The replica is killed (`kill -9`) under load and started again.
//!
//! After both: every acknowledged order is stored exactly once, no key made
//! two orders, and stock moved with the orders, nothing half-committed.

use serde_json::json;
use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{
    Served, careful, every_order, first_item_stock, fresh_database, printed_keys, serve_url,
    shop_with_buns, start_together,
};

const ADMIN: &str = "faults-admin";
const STOCK: i64 = 1_000_000;

fn replica(url: &str) -> Served {
    serve_url(
        url,
        &[
            "--no-demo",
            "--admin-token",
            ADMIN,
            "--db-pool-timeout",
            "1s",
            "--db-statement-timeout",
            "2s",
        ],
    )
}

fn ctl(action: &str) {
    let script = std::env::var("BARISTA_TEST_POSTGRES_CTL").expect("BARISTA_TEST_POSTGRES_CTL");
    let status = Command::new(script).arg(action).status().unwrap();
    assert!(status.success(), "PostgreSQL {action}");
}

/// Until a minute has passed, `check` is polled; panics with `what` past it.
async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) {
    careful::eventually(what, Duration::from_secs(60), check).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_survive_postgres_and_replica_crashes_exactly_once() {
    let Some(admin) =
        barista_testkit::postgres_url("orders_survive_postgres_and_replica_crashes_exactly_once")
    else {
        return;
    };
    let url = fresh_database(&admin, "faults").await;
    let mut server = replica(&url);
    let base = Arc::new(Mutex::new(server.base.clone()));
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let key = shop_with_buns(&c, &server.base, ADMIN, "faulty", STOCK).await;

    // The staff stream, open from before the crash.
    let stream = c
        .get(format!("{}/v1/shops/faulty/events", server.base))
        .bearer_auth(&key)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (streamed, reader) = careful::collect(stream);

    // Eight customers order back to back, each resending its order with the
    // same key until it is acknowledged.
    let customers = careful::Customers::start(8, base.clone(), "faulty", "bun");
    let seen = customers.seen.clone();
    let attempts = customers.attempts.clone();
    let acked = || seen.lock().unwrap().acked.len();
    eventually("orders before the crash", async || acked() >= 100).await;

    // 1. PostgreSQL dies.
    ctl("crash");
    eventually("503s while PostgreSQL is down", async || {
        seen.lock().unwrap().unavailable > 0
    })
    .await;
    let ready = c
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "not ready without its database");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the replica stays up"
    );
    let before_restart = acked();
    ctl("start");
    eventually("ready again after PostgreSQL returns", async || {
        c.get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    eventually("orders after the restart", async || {
        acked() >= before_restart + 100
    })
    .await;
    // An order placed now reaches the stream opened before the crash.
    // (Retried with one key: a replica may still refuse with a 503 while its
    // pool reconnects, and a retry must not place it twice.)
    let mut after_id = String::new();
    eventually("an order placed after the restart", async || {
        let res = c
            .post(format!("{}/v1/shops/faulty/orders", server.base))
            .header("idempotency-key", "after-the-crash")
            .json(&json!({"customer_name": "After the crash", "lines": [{"item_id": "bun", "quantity": 1}]}))
            .send()
            .await;
        match res {
            Ok(r) if r.status() == 201 => {
                let order: serde_json::Value = r.json().await.unwrap();
                after_id = order["id"].as_str().unwrap().to_owned();
                true
            }
            _ => false,
        }
    })
    .await;
    eventually("the old stream hears of a new order", async || {
        streamed.lock().unwrap().contains(&after_id)
    })
    .await;
    reader.abort();

    // 2. The replica dies and comes back on a new port.
    let before_kill = acked();
    server.child.kill().unwrap(); // SIGKILL
    let _ = server.child.wait();
    server = replica(&url);
    *base.lock().unwrap() = server.base.clone();
    eventually("orders after the replica's restart", async || {
        acked() >= before_kill + 100
    })
    .await;
    let seen = customers.finish().await;
    assert!(
        seen.wrong.is_empty(),
        "answers off the contract: {:?}",
        seen.wrong
    );
    eprintln!(
        "{} orders acknowledged in {} attempts; {} answered 503 while PostgreSQL was down",
        seen.acked.len(),
        attempts.load(Ordering::Relaxed),
        seen.unavailable
    );
    // Every order, read back once.
    let stored = every_order(&c, &server.base, "faulty", &key).await;
    let unique: HashSet<&str> = stored.iter().map(|o| o["id"].as_str().unwrap()).collect();
    // One order per key: every stored order is an acknowledged key's (or the
    // one placed without a key after the crash).
    assert_eq!(stored.len(), seen.acked.len() + 1, "one order per key");
    for (idem, id) in &seen.acked {
        assert!(unique.contains(id.as_str()), "{idem}'s order {id} was lost");
    }
    let taken: i64 = stored
        .iter()
        .map(|o| o["lines"][0]["quantity"].as_i64().unwrap())
        .sum();
    assert_eq!(
        first_item_stock(&c, &server.base, "faulty").await,
        STOCK - taken
    );
}

/// Three replicas started at once on an empty PostgreSQL database, with the
/// demo asked for: the schema is applied once (an advisory lock), all three
/// serve, and exactly one demo shop and one key are made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_an_empty_database_make_one_demo_shop() {
    let Some(admin) = barista_testkit::postgres_url(
        "replicas_starting_together_on_an_empty_database_make_one_demo_shop",
    ) else {
        return;
    };
    let url = fresh_database(&admin, "racing").await;
    let mut replicas = start_together(3, || serve_url(&url, &[]));
    let c = reqwest::Client::new();
    for replica in &replicas {
        let res = c
            .get(format!("{}/v1/shops/demo", replica.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "every replica serves the demo shop");
    }
    let keys = printed_keys(&mut replicas);
    assert_eq!(keys.len(), 1, "one demo shop, one key: {keys:?}");
}
