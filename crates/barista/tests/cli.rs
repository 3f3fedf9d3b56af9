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

use common::{
    BIN, Served, every_order, first_item_stock, json_of, printed_keys, serve, serve_command,
    shop_with_buns, start_together,
};

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
    let menu: serde_json::Value =
        json_of(c.get(format!("{}/v1/shops/demo/menu", server.base))).await;
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

    // The second start, with the demo asked for again, finds the shop: it
    // prints no new key, and the first key is still the shop's.
    let mut again = serve(serve_command(Command::new(BIN), &db, &[]), 1);
    let res = c
        .get(format!("{}/v1/shops/demo", again.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let claim = c
        .post(format!("{}/v1/shops/demo/queue/claim", again.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(claim.status(), 204, "the first key still opens the shop");
    let printed = again.stop();
    assert!(
        !printed
            .iter()
            .any(|l| l.contains("bsk_") || l.contains("created the demo shop")),
        "no second demo shop: {printed:?}"
    );
}

/// Three servers started at once on one empty database: all serve, one demo
/// shop is made, and one key is printed.
#[tokio::test]
async fn servers_starting_together_on_an_empty_database_make_one_demo_shop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("race.db");
    let mut servers = start_together(3, || serve(serve_command(Command::new(BIN), &db, &[]), 1));
    let c = client();
    for server in &servers {
        let res = c
            .get(format!("{}/v1/shops/demo/menu", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "every server serves the demo menu");
    }
    let alive = serve(serve_command(Command::new(BIN), &db, &[]), 1);
    let keys = printed_keys(&mut servers);
    assert_eq!(keys.len(), 1, "one demo shop, one key: {keys:?}");
    let claim = c
        .post(format!("{}/v1/shops/demo/queue/claim", alive.base))
        .bearer_auth(&keys[0])
        .send()
        .await
        .unwrap();
    assert_eq!(claim.status(), 204, "the printed key is the shop's");
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
    let said = String::from_utf8_lossy(&out.stdout);
    let version = barista_store::SCHEMA_VERSION;
    assert!(
        said.contains(&format!("up to date (version {version})")),
        "{said}"
    );
    let at: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(at, version as i64, "the schema is applied");
    // Twice is the same; a database newer than this build is refused.
    let again = Command::new(BIN)
        .args(["migrate", "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {}", version + 1))
        .unwrap();
    let newer = Command::new(BIN)
        .args(["migrate", "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(!newer.status.success());
    let said = String::from_utf8_lossy(&newer.stderr);
    assert!(said.contains("newer than this barista"), "{said}");
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
    const STOCK: i64 = 1_000_000;
    let key = shop_with_buns(&c, &server.base, ADMIN, "crashy", STOCK).await;

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
    let stored = every_order(&c, &server.base, "crashy", &key).await;
    let unique: HashSet<&str> = stored.iter().map(|o| o["id"].as_str().unwrap()).collect();
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
    assert_eq!(
        first_item_stock(&c, &server.base, "crashy").await,
        STOCK - taken
    );
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

/// SIGTERM on the real binary with `--shutdown-delay`: `/readyz` fails at once
/// while new requests are still served; then draining ends the event streams,
/// a request already in flight (its body still arriving) completes, and the
/// process exits 0 with every acknowledged order kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_first_then_drains_requests_and_streams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("drain.db");
    // The delay is a safety net, not a bet: the test moves on as soon as it
    // sees each step, and only needs the delay to outlast two requests.
    let mut server = serve(
        serve_command(
            Command::new(BIN),
            &db,
            // A body timeout past the delay: the request in flight waits it out.
            &["--shutdown-delay", "10s", "--body-timeout", "60s"],
        ),
        4,
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    // A fresh connection per request: a new client must see each step.
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let order = |name: &str| {
        json!({"customer_name": name, "lines": [{"item_id": "espresso", "quantity": 1}]})
            .to_string()
    };
    let placed: serde_json::Value = json_of(
        c.post(format!("{}/v1/shops/demo/orders", server.base))
            .header("content-type", "application/json")
            .body(order("Before")),
    )
    .await;
    let first = placed["id"].as_str().unwrap().to_owned();

    // An open stream on that order, its current state read.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            format!("GET /v1/shops/demo/orders/{first}/events HTTP/1.1\r\nhost: x\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("placed") {
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stream opened");
        seen.extend_from_slice(&chunk[..n]);
    }
    // A request in flight: its head is in, its body is not.
    let late = order("In flight");
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /v1/shops/demo/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
            late.len(),
            &late[..10]
        )
        .as_bytes(),
    )
    .await
    .unwrap();

    // The container's health check (`barista probe`, no shell or curl in the
    // image) says ready, and names what it asked when nothing listens.
    let probe = |listen: &str| {
        Command::new(BIN)
            .args(["probe", "--listen", listen])
            .env_remove("BARISTA_LISTEN")
            .output()
            .unwrap()
    };
    assert!(probe(&addr).status.success(), "probe: ready before SIGTERM");
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = nobody.local_addr().unwrap().to_string();
    drop(nobody);
    let refused = probe(&closed);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains(&format!("{closed}/readyz")));

    let term = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // Readiness fails...
    let mut unready = false;
    for _ in 0..1000 {
        let status = c
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status();
        if status == 503 {
            unready = true;
            break;
        }
        assert_eq!(status, 200);
    }
    assert!(unready, "/readyz answers 503 once SIGTERM arrives");
    let draining = probe(&addr);
    assert!(
        !draining.status.success(),
        "probe: not ready while draining"
    );
    assert!(String::from_utf8_lossy(&draining.stderr).contains("answered 503"));
    // ...while a new client is still served.
    let during = c
        .post(format!("{}/v1/shops/demo/orders", server.base))
        .header("content-type", "application/json")
        .body(order("During"))
        .send()
        .await
        .unwrap();
    assert_eq!(during.status(), 201, "served during the delay");
    // ...on a connection it then closes, so a balancer keeps none open to a
    // replica that is leaving (none can be cut idle when the drain starts).
    assert_eq!(
        during.headers()["connection"],
        "close",
        "answers close their connection once SIGTERM arrives"
    );
    let during: Value = during.json().await.unwrap();

    // Draining ends the stream: its last chunk arrives and the server closes it.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest))
        .await
        .expect("the stream ends when draining starts")
        .unwrap();
    seen.extend_from_slice(&rest);
    assert!(
        String::from_utf8_lossy(&seen).ends_with("0\r\n\r\n"),
        "the stream ended cleanly: {}",
        String::from_utf8_lossy(&seen)
    );
    // The request in flight completes, and its connection is closed after it.
    slow.write_all(&late.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let exit = tokio::task::spawn_blocking(move || {
        let exit = server.child.wait().unwrap();
        drop(server);
        exit
    })
    .await
    .unwrap();
    assert!(exit.success(), "a drained stop exits 0: {exit:?}");

    // All three acknowledged orders are there after a restart.
    let again = serve(serve_command(Command::new(BIN), &db, &["--no-demo"]), 1);
    let in_flight: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    for id in [
        first.as_str(),
        during["id"].as_str().unwrap(),
        in_flight["id"].as_str().unwrap(),
    ] {
        let res = c
            .get(format!("{}/v1/shops/demo/orders/{id}", again.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "order {id} was kept");
    }
}

/// `barista shops ...` on a database, its output and success.
fn shops(db: &Path, args: &[&str]) -> (bool, String) {
    // After the action's arguments, as the README writes it (the database
    // flags are global); the serve tests give them before.
    let out = Command::new(BIN)
        .arg("shops")
        .args(args)
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The operator's console: a shop created, served, exported, deleted to the
/// last row, and imported into an empty database reads back the same menu
/// and orders; suspension and a new key as the server sees them.
#[tokio::test]
async fn the_operators_console_exports_a_shop_and_imports_it_into_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let (db, empty) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let (ok, text) = shops(&db, &["create", "corner", "Corner Café"]);
    assert!(ok, "{text}");
    let key = text
        .split("shown this once): ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let mut server = start(&db, &["--no-demo"]);
    let c = client();
    let base = &server.base;
    let item = json!({"name": "Tea", "category": "tea", "price_cents": 250, "stock": 9});
    let res = c
        .put(format!("{base}/v1/shops/corner/menu/items/tea"))
        .bearer_auth(&key)
        .json(&item)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    for n in 1..=3 {
        let res = c
            .post(format!("{base}/v1/shops/corner/orders"))
            .json(&json!({"customer_name": "Ana", "lines": [{"item_id": "tea", "quantity": n}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let read = async |base: &str, key: &str| {
        let menu: Value = json_of(c.get(format!("{base}/v1/shops/corner/menu"))).await;
        let orders: Value = json_of(
            c.get(format!("{base}/v1/shops/corner/orders"))
                .bearer_auth(key),
        )
        .await;
        (menu, orders)
    };
    // Suspended and resumed from the console, while the server runs: it
    // hears within a second.
    assert!(shops(&db, &["suspend", "corner"]).0);
    // The menu's status, polled for up to 5 s until it is `want`.
    let menu_status = async |want: u16| {
        let mut status = 0;
        for _ in 0..50 {
            status = c
                .get(format!("{base}/v1/shops/corner/menu"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if status == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        status
    };
    let status = menu_status(403).await;
    assert_eq!(status, 403, "suspended");
    let (_, listed) = shops(&db, &["list"]);
    assert!(
        listed.contains("corner\tEUR\tsuspended\tCorner Café"),
        "{listed}"
    );
    assert!(shops(&db, &["resume", "corner"]).0);
    let status = menu_status(200).await;
    assert_eq!(status, 200, "resumed");
    // Read after the resume: suspending and resuming are edits of the shop,
    // and count in the menu's version.
    let before = read(base, &key).await;

    let file = dir.path().join("corner.json");
    let (ok, text) = shops(&db, &["export", "corner", "-o", file.to_str().unwrap()]);
    assert!(ok && text.contains("(3 orders)"), "{text}");
    let (ok, text) = shops(&db, &["delete", "corner"]);
    assert!(!ok && text.contains("--yes"), "asks first: {text}");
    assert!(shops(&db, &["delete", "corner", "--yes"]).0);
    let (_, listed) = shops(&db, &["list"]);
    assert!(!listed.contains("corner"), "{listed}");
    server.stop();

    // Into an empty database, and served from there: the same menu and orders.
    let (ok, text) = shops(&empty, &["import", file.to_str().unwrap()]);
    assert!(ok, "{text}");
    let (ok, text) = shops(&empty, &["import", file.to_str().unwrap()]);
    assert!(!ok && text.contains("slug exists"), "{text}");
    let server = start(&empty, &["--no-demo"]);
    let after = read(&server.base, &key).await;
    assert_eq!(after, before, "the same menu and orders, and the same key");
    // A new key from the console: the old one is refused.
    let (ok, text) = shops(&empty, &["rotate-key", "corner"]);
    assert!(ok, "{text}");
    let res = c
        .get(format!("{}/v1/shops/corner/orders", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // A file that is not an export is refused with a reason.
    std::fs::write(dir.path().join("bad.json"), "{}").unwrap();
    let (ok, text) = shops(
        &empty,
        &["import", dir.path().join("bad.json").to_str().unwrap()],
    );
    assert!(!ok && text.contains("not a Barista shop export"), "{text}");
}
