//! The real `barista` binary as a child process: start-up, the demo shop,
//! graceful stop, and crash safety under kill -9.

use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{BIN, Served, serve, serve_command};

const ADMIN: &str = "cli-admin";

/// Starts `barista serve` with the admin token; reads the demo banner unless `--no-demo`.
fn start(db: &Path, extra: &[&str]) -> Served {
    let mut args = vec!["--admin-token", ADMIN];
    args.extend_from_slice(extra);
    let banner = if extra.contains(&"--no-demo") { 1 } else { 4 };
    let served = serve(serve_command(Command::new(BIN), db, &args), banner);
    assert!(served.metrics.is_some(), "a metrics line");
    served
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn serve_creates_the_demo_shop_once_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut server = start(&db, &[]);
    let key = server
        .lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("bsk_"))
        .map(|k| format!("bsk_{k}"));
    let key = key.expect("the demo staff key is printed");
    let c = client();
    let menu: Value = c
        .get(format!("{}/v1/shops/demo/menu", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = menu["items"].as_array().unwrap();
    assert!(items.len() >= 6);
    for category in ["coffee", "tea", "pastry"] {
        assert!(
            items.iter().any(|i| i["category"] == category),
            "the demo sells {category}"
        );
    }
    assert!(
        items.iter().any(|i| i["stock"].is_number()),
        "one item has limited stock"
    );
    let claim = c
        .post(format!("{}/v1/shops/demo/queue/claim", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        claim.status(),
        204,
        "the printed key is the demo shop's staff key"
    );

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "a SIGTERM stop is a clean exit: {exit:?}");

    // The second start finds the shop and prints no new key.
    let mut again = start(&db, &["--no-demo"]);
    let res = c
        .get(format!("{}/v1/shops/demo", again.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    again.child.kill().unwrap();
    let _ = again.child.wait();
}

#[test]
fn migrate_applies_the_schema_and_bad_urls_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = Command::new(BIN)
        .args(["migrate", "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(db.exists());
    let out = Command::new(BIN)
        .args(["migrate", "--database", "mysql://nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--database",
        "--listen",
        "--admin-token",
        "--no-demo",
        "BARISTA_DATABASE",
    ] {
        assert!(help.contains(flag), "serve --help mentions {flag}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_order_survives_kill_9_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut server = start(&db, &["--no-demo"]);
    let c = client();
    let created: Value = c
        .post(format!("{}/v1/shops", server.base))
        .bearer_auth(ADMIN)
        .json(&json!({"slug": "crashy", "name": "Crashy", "currency": "EUR"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["staff_key"].as_str().unwrap().to_owned();
    const STOCK: i64 = 1_000_000;
    let res = c
        .put(format!("{}/v1/shops/crashy/menu/items/bun", server.base))
        .bearer_auth(&key)
        .json(&json!({"name": "Bun", "category": "pastry", "price_cents": 300, "stock": STOCK}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // 16 clients place orders back to back; every 201 is recorded.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let url = format!("{}/v1/shops/crashy/orders", server.base);
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let (acked, url, c) = (acked.clone(), url.clone(), client());
            tokio::spawn(async move {
                for n in 0.. {
                    let body = json!({"customer_name": format!("c{i}-{n}"), "lines": [{"item_id": "bun", "quantity": 1 + n % 3}]});
                    let Ok(res) = c.post(&url).json(&body).send().await else { break };
                    if res.status() != 201 { break }
                    let Ok(order) = res.json::<Value>().await else { break };
                    acked.lock().unwrap().push(order["id"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    // Kill once a good number of orders are acknowledged (bounded in time).
    for _ in 0..600 {
        if acked.lock().unwrap().len() >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    let _ = server.child.wait();
    for task in clients {
        let _ = task.await;
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "orders were acknowledged before the kill ({})",
        acked.len()
    );
    eprintln!("{} orders acknowledged before kill -9", acked.len());

    let mut server = start(&db, &["--no-demo"]);
    let mut stored = vec![];
    let mut cursor = String::new();
    loop {
        let page: Value = c
            .get(format!(
                "{}/v1/shops/crashy/orders?limit=200&cursor={cursor}",
                server.base
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stored.extend(page["orders"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let ids: Vec<&str> = stored.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no order is stored twice");
    for id in &acked {
        assert!(
            unique.contains(id.as_str()),
            "acknowledged order {id} was lost"
        );
    }
    // Stock and orders moved together: nothing half-committed survived.
    let taken: i64 = stored
        .iter()
        .map(|o| o["lines"][0]["quantity"].as_i64().unwrap())
        .sum();
    let menu: Value = c
        .get(format!("{}/v1/shops/crashy/menu", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(menu["items"][0]["stock"].as_i64().unwrap(), STOCK - taken);
    server.child.kill().unwrap();
    let _ = server.child.wait();
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_with_its_id_route_status_and_shop() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--log-format",
            "json",
            "--no-demo",
            "--database",
        ])
        .arg(format!("sqlite://{}", dir.path().join("logs.db").display()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let c = client();
    let res = c
        .get(format!("{base}/v1/shops/nowhere/menu"))
        .header("x-request-id", "log-me-7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["x-request-id"], "log-me-7");
    // Stop the server so stderr ends, then read every line it wrote.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| {
            let l = l.unwrap();
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"))
        })
        .collect();
    assert!(child.wait().unwrap().success());
    let request = lines
        .iter()
        .find(|l| l["request_id"] == "log-me-7")
        .expect("the request's line");
    assert_eq!(request["message"], "request");
    assert_eq!(request["route"], "/v1/shops/{shop}/menu");
    assert_eq!(request["status"], 404);
    assert_eq!(request["shop"], "nowhere");
    assert_eq!(request["method"], "GET");
    assert!(request["latency_ms"].as_f64().is_some());
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["request_id"] == "log-me-7")
            .count(),
        1,
        "one line per request"
    );
}
