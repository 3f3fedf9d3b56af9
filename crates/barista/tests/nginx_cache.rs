//! The shipped nginx config (deploy/nginx) in front of a real replica: it
//! caches the shop and the menu, revalidates them with `If-None-Match`, serves
//! a menu change once the replica has it, never caches a request with
//! credentials, and lets a replica's validators through to the client.

mod common;

use common::{BIN, Nginx, serve, serve_command};
use std::process::Command;
use std::time::{Duration, Instant};

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn nginx_caches_the_menu_and_the_shop_and_serves_a_change_after_revalidating() {
    let dir = tempfile::tempdir().unwrap();
    let replica = serve(
        serve_command(Command::new(BIN), &dir.path().join("b.db"), &[]),
        3,
    );
    let key = replica
        .lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("bsk_"))
        .expect("the demo shop's key")
        .to_owned();
    let nginx = Nginx::start(&[replica.base.as_str()], false);
    let c = reqwest::Client::new();
    let menu = format!("{}/v1/shops/demo/menu", nginx.url);

    // The first read fills the cache, the next is answered from it.
    let first = c.get(&menu).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-cache-status"), "MISS");
    assert_eq!(header(&first, "cache-control"), "public, max-age=1");
    let etag = header(&first, "etag");
    let body: serde_json::Value = first.json().await.unwrap();
    let second = c.get(&menu).send().await.unwrap();
    assert_eq!(header(&second, "x-cache-status"), "HIT");
    // A client's own validator is answered by nginx.
    let conditional = c
        .get(&menu)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(conditional.status(), 304);

    // The shop is cached the same way, with a validator of its own.
    let shop = format!("{}/v1/shops/demo", nginx.url);
    let a = c.get(&shop).send().await.unwrap();
    assert_eq!(a.status(), 200);
    assert!(!header(&a, "etag").is_empty(), "the shop has an ETag");
    let b = c.get(&shop).send().await.unwrap();
    assert_eq!(header(&b, "x-cache-status"), "HIT");

    // A staff change through nginx (credentials: never cached) ...
    // An item without sizes: a sized one's price is its first size's.
    let plain = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i.get("variations").is_none())
        .unwrap();
    let item = plain["id"].as_str().unwrap().to_owned();
    let price = plain["price_cents"].as_i64().unwrap() + 10;
    let patched = c
        .patch(format!("{}/v1/shops/demo/menu/items/{item}", nginx.url))
        .bearer_auth(&key)
        .json(&serde_json::json!({"price_cents": price}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    // ... is served once the cached copy has been revalidated (within about a
    // second: max-age=1; the deadline is a safety net, not the promise).
    let start = Instant::now();
    let mut statuses = vec![];
    loop {
        let res = c.get(&menu).send().await.unwrap();
        statuses.push(header(&res, "x-cache-status"));
        let now: serde_json::Value = res.json().await.unwrap();
        let seen = now["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == item.as_str())
            .unwrap()["price_cents"]
            .as_i64()
            .unwrap();
        if seen == price {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nginx still serves the old menu: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A refresh of the entry brought it (with background update, the request
    // that starts one gets the old copy, STALE; the next gets the new one).
    assert!(
        statuses.iter().any(|s| s != "HIT"),
        "the change came through a refresh of the entry: {statuses:?}"
    );

    // A read with credentials goes to the replica and is not cached.
    let staff = c.get(&menu).bearer_auth(&key).send().await.unwrap();
    assert_eq!(staff.status(), 200);
    assert_eq!(header(&staff, "x-cache-status"), "BYPASS");
}
