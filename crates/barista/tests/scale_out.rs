//! Stateless replicas over one PostgreSQL, behind the real nginx with the
//! config in deploy/nginx. Runs under scripts/with-postgres (scripts/test).

mod common;

use common::{BIN, Nginx, Served, every_order, fresh_database, json_of, serve};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const ADMIN: &str = "scale-admin";

/// The private PostgreSQL, or `None` when the run skips it (`barista_testkit`).
fn admin_url(test: &str) -> Option<String> {
    barista_testkit::postgres_url(test)
}

fn replica(url: &str, cwd: &std::path::Path, extra: &[&str]) -> Served {
    let mut c = Command::new(BIN);
    c.current_dir(cwd).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--no-demo",
        "--admin-token",
        ADMIN,
        "--database",
        url,
    ]);
    c.args(extra);
    serve(c, 0)
}

/// Replicas over a fresh database, and nginx in front of them.
struct Fleet {
    replicas: Vec<Served>,
    lb: String,
    client: reqwest::Client,
    _nginx: Nginx,
}

impl Fleet {
    /// `n` replicas over `url` (migrated first), run from `cwd`, behind nginx;
    /// nginx adds the upstream it used as `X-Upstream`.
    async fn start(url: &str, n: usize, cwd: &std::path::Path) -> Fleet {
        Fleet::start_with(url, n, cwd, &[]).await
    }

    /// The same, with `extra` flags for `barista serve`.
    async fn start_with(url: &str, n: usize, cwd: &std::path::Path, extra: &[&str]) -> Fleet {
        let out = Command::new(BIN)
            .args(["migrate", "--database", url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let replicas: Vec<Served> = (0..n).map(|_| replica(url, cwd, extra)).collect();
        let bases: Vec<&str> = replicas.iter().map(|r| r.base.as_str()).collect();
        let nginx = Nginx::start(&bases, true);
        let lb = nginx.url.clone();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut up = false;
        for _ in 0..200 {
            if client
                .get(format!("{lb}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(up, "nginx answers");
        Fleet {
            replicas,
            lb,
            client,
            _nginx: nginx,
        }
    }

    /// A shop created through the balancer; its staff key.
    async fn shop(&self, slug: &str) -> String {
        let created: Value = json_of(
            self.client
                .post(format!("{}/v1/shops", self.lb))
                .bearer_auth(ADMIN)
                .json(&json!({"slug": slug, "name": "Fleet shop", "currency": "EUR"})),
        )
        .await;
        created["staff_key"].as_str().unwrap().to_owned()
    }
}

/// Puts a menu item as the shop's staff; the answer's status.
async fn put_item(
    c: &reqwest::Client,
    base: &str,
    key: &str,
    shop: &str,
    item: &str,
    body: Value,
) -> reqwest::StatusCode {
    c.put(format!("{base}/v1/shops/{shop}/menu/items/{item}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

/// Reads SSE events (id, data) from a response, bounded in time.
async fn next_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let id = block
                    .lines()
                    .find_map(|l| l.strip_prefix("id:"))
                    .map(|v| v.trim().to_owned());
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data:"))
                    .map(|v| serde_json::from_str(v.trim()).unwrap());
                if let (Some(id), Some(data)) = (id, data) {
                    return (id, data);
                }
                continue;
            }
            let chunk = stream.next().await.expect("the stream ended").unwrap();
            buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("an event within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_nginx_share_orders_menus_and_events() {
    let Some(admin) = admin_url("two_replicas_behind_nginx_share_orders_menus_and_events") else {
        return;
    };
    let url = fresh_database(&admin, "twin").await;
    // Stateless: the replicas run from an empty directory they may not write to.
    let cwd = tempfile::tempdir().unwrap();
    let mut perms = std::fs::metadata(cwd.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(cwd.path(), perms).unwrap();
    let fleet = Fleet::start(&url, 2, cwd.path()).await;
    let (a, b) = (&fleet.replicas[0], &fleet.replicas[1]);
    let (lb, c) = (&fleet.lb, &fleet.client);

    // Through the balancer: a shop, a menu, orders spread over both replicas.
    let key = fleet.shop("twin").await;
    let put = put_item(
        c,
        lb,
        &key,
        "twin",
        "tea",
        json!({"name": "Tea", "category": "tea", "price_cents": 300}),
    )
    .await;
    assert_eq!(put, 201);
    let mut upstreams = std::collections::HashSet::new();
    for _ in 0..10 {
        let res = c
            .post(format!("{lb}/v1/shops/twin/orders"))
            .json(&json!({"customer_name": "Lb", "lines": [{"item_id": "tea", "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        upstreams.insert(res.headers()["x-upstream"].to_str().unwrap().to_owned());
    }
    assert_eq!(
        upstreams.len(),
        2,
        "nginx used both replicas: {upstreams:?}"
    );

    // An order placed on one replica is read on the other.
    let order: Value = json_of(
        c.post(format!("{}/v1/shops/twin/orders", a.base))
            .json(&json!({"customer_name": "Ana", "lines": [{"item_id": "tea", "quantity": 2}]})),
    )
    .await;
    let id = order["id"].as_str().unwrap().to_owned();
    let mut read: Value = json_of(c.get(format!("{}/v1/shops/twin/orders/{id}", b.base))).await;
    // The pickup estimate is of the moment each replica answered.
    let mut order = order;
    for o in [&mut read, &mut order] {
        assert!(o.as_object_mut().unwrap().remove("pickup").is_some(), "{o}");
    }
    assert_eq!(read, order);

    // A menu change on one replica is served by the other (each replica checks
    // its cached menus every 500 ms; the deadline is a safety net, not the promise).
    let b_menu = format!("{}/v1/shops/twin/menu", b.base);
    let menu_on_b = |c: reqwest::Client| {
        let url = b_menu.clone();
        async move {
            let m: Value = c.get(url).send().await.unwrap().json().await.unwrap();
            m["items"][0]["price_cents"].as_i64().unwrap()
        }
    };
    assert_eq!(menu_on_b(c.clone()).await, 300, "B caches the menu");
    let changed = c
        .patch(format!("{}/v1/shops/twin/menu/items/tea", a.base))
        .bearer_auth(&key)
        .json(&json!({"price_cents": 320}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let since = Instant::now();
    while menu_on_b(c.clone()).await != 320 {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "B still serves the old menu after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the menu change reached the other replica in {:?}",
        since.elapsed()
    );

    // One Idempotency-Key sent to both replicas at once makes one order.
    let put = put_item(
        c,
        lb,
        &key,
        "twin",
        "cake",
        json!({"name": "Cake", "category": "pastry", "price_cents": 450, "stock": 10}),
    )
    .await;
    assert_eq!(put, 201);
    let attempts: Vec<_> = (0..12)
        .map(|i| {
            let base = fleet.replicas[i % 2].base.clone();
            let c = c.clone();
            tokio::spawn(async move {
                let res = c
                    .post(format!("{base}/v1/shops/twin/orders"))
                    .header("idempotency-key", "one-key-two-replicas")
                    .json(&json!({"customer_name": "Twice", "lines": [{"item_id": "cake", "quantity": 3}]}))
                    .send()
                    .await
                    .unwrap();
                let replayed = res.headers().contains_key("idempotent-replayed");
                (res.status().as_u16(), replayed, res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut fresh = 0;
    for attempt in attempts {
        let (status, replayed, body) = attempt.await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_owned());
        fresh += usize::from(!replayed);
    }
    assert_eq!(ids.len(), 1, "every answer names one order: {ids:?}");
    assert_eq!(fresh, 1, "exactly one answer made it");
    // Both replicas come to 7 left (a cached menu may show 10 until its
    // replica hears of the change; never anything else).
    for replica in &fleet.replicas {
        let since = Instant::now();
        loop {
            let menu: Value = json_of(c.get(format!("{}/v1/shops/twin/menu", replica.base))).await;
            let stock = menu["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == "cake")
                .map(|i| i["stock"].clone())
                .unwrap();
            if stock == 7 {
                break;
            }
            assert_eq!(stock, 10, "stock was taken once");
            assert!(since.elapsed() < Duration::from_secs(30), "{stock}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // An SSE client on A sees a status change made on B. The ten orders placed
    // through nginx are older: claim them first, so this one is next.
    for _ in 0..10 {
        let claimed = c
            .post(format!("{}/v1/shops/twin/queue/claim", b.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(claimed.status(), 200);
    }
    let res = c
        .get(format!("{}/v1/shops/twin/orders/{id}/events", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (mut stream, mut buf) = (res.bytes_stream(), String::new());
    let (first_id, first) = next_event(&mut stream, &mut buf).await;
    assert_eq!(first["status"], "placed");
    let claimed: Value = json_of(
        c.post(format!("{}/v1/shops/twin/queue/claim", b.base))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(claimed["id"], order["id"]);
    let (brewing_id, brewing) = next_event(&mut stream, &mut buf).await;
    assert_eq!(brewing["status"], "brewing");
    let ready = c
        .post(format!("{}/v1/shops/twin/orders/{id}/status", b.base))
        .bearer_auth(&key)
        .json(&json!({"status": "ready"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let (ready_id, _) = next_event(&mut stream, &mut buf).await;

    // Reconnecting to the other replica with Last-Event-ID misses nothing.
    let res = c
        .get(format!("{}/v1/shops/twin/orders/{id}/events", b.base))
        .header("last-event-id", first_id)
        .send()
        .await
        .unwrap();
    let (mut again, mut buf2) = (res.bytes_stream(), String::new());
    assert_eq!(next_event(&mut again, &mut buf2).await.0, brewing_id);
    assert_eq!(next_event(&mut again, &mut buf2).await.0, ready_id);

    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "the replicas wrote no local file"
    );
    drop((again, stream));

    // A replica dies (kill -9): nginx sends everything to the other one; no
    // client sees an error.
    let mut fleet = fleet;
    fleet.replicas[0].child.kill().unwrap();
    let _ = fleet.replicas[0].child.wait();
    let (lb, c) = (&fleet.lb, &fleet.client);
    for i in 0..20 {
        let menu = c
            .get(format!("{lb}/v1/shops/twin/menu"))
            .send()
            .await
            .unwrap();
        assert_eq!(menu.status(), 200, "menu read {i} after the kill");
        let placed = c
            .post(format!("{lb}/v1/shops/twin/orders"))
            .header("idempotency-key", format!("after-kill-{i}"))
            .json(
                &json!({"customer_name": "Survivor", "lines": [{"item_id": "tea", "quantity": 1}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(placed.status(), 201, "order {i} after the kill");
    }
}

/// Scaling down as an orchestrator does (SIGTERM to one of two replicas, as
/// Kubernetes, Compose and systemd stop one) while clients keep ordering and
/// reading through nginx: not one request fails, the replica exits 0, and every
/// acknowledged order is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_a_replica_with_sigterm_fails_no_request_and_loses_no_order() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let Some(admin) =
        admin_url("scaling_down_a_replica_with_sigterm_fails_no_request_and_loses_no_order")
    else {
        return;
    };
    let url = fresh_database(&admin, "shrink").await;
    let cwd = tempfile::tempdir().unwrap();
    let mut fleet = Fleet::start_with(&url, 2, cwd.path(), &["--shutdown-delay", "1s"]).await;
    let key = fleet.shop("shrink").await;
    let item = json!({"name": "Tea", "category": "tea", "price_cents": 300});
    let put = put_item(&fleet.client, &fleet.lb, &key, "shrink", "tea", item).await;
    assert_eq!(put, 201);

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let after_term = Arc::new(AtomicUsize::new(0));
    let terminated = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (lb, c) = (fleet.lb.clone(), fleet.client.clone());
            let (stop, failures, acknowledged) =
                (stop.clone(), failures.clone(), acknowledged.clone());
            let (after_term, terminated) = (after_term.clone(), terminated.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let menu = c.get(format!("{lb}/v1/shops/shrink/menu")).send().await;
                    if !menu.as_ref().is_ok_and(|r| r.status() == 200) {
                        failures.lock().unwrap().push(format!("menu: {menu:?}"));
                    }
                    let placed = c
                        .post(format!("{lb}/v1/shops/shrink/orders"))
                        .header("idempotency-key", format!("shrink-{client}-{i}"))
                        .json(&json!({"customer_name": "Shrink", "lines": [{"item_id": "tea", "quantity": 1}]}))
                        .send()
                        .await;
                    match placed {
                        Ok(r) if r.status() == 201 => {
                            let order: Value = r.json().await.unwrap();
                            let id = order["id"].as_str().unwrap().to_owned();
                            acknowledged.lock().unwrap().push(id);
                            if terminated.load(Ordering::Relaxed) {
                                after_term.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        other => failures.lock().unwrap().push(format!("order: {other:?}")),
                    }
                }
            })
        })
        .collect();
    // Both replicas serve the load, then one is told to stop.
    while acknowledged.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = fleet.replicas[0].child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    terminated.store(true, Ordering::Relaxed);
    let mut leaving = fleet.replicas.remove(0);
    let exit = tokio::task::spawn_blocking(move || leaving.child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "the stopped replica exits 0: {exit:?}");
    // The survivor carries the load a while longer, alone.
    let at_exit = after_term.load(Ordering::Relaxed);
    while after_term.load(Ordering::Relaxed) < at_exit + 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} requests failed: {failures:?}\nnginx's log:\n{}",
        failures.len(),
        fleet._nginx.error_log()
    );
    let acknowledged = acknowledged.lock().unwrap().clone();
    let stored = every_order(&fleet.client, &fleet.lb, "shrink", &key).await;
    let stored: std::collections::HashSet<&str> =
        stored.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let acked: std::collections::HashSet<&str> = acknowledged.iter().map(String::as_str).collect();
    assert_eq!(
        acked.len(),
        acknowledged.len(),
        "no order acknowledged twice"
    );
    assert_eq!(
        stored, acked,
        "every acknowledged order is stored, and nothing else"
    );
    println!(
        "{} orders acknowledged, {} after SIGTERM; 0 failed requests",
        acked.len(),
        after_term.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flash_sale_over_four_replicas_sells_exactly_the_stock() {
    let Some(admin) = admin_url("a_flash_sale_over_four_replicas_sells_exactly_the_stock") else {
        return;
    };
    let url = fresh_database(&admin, "flash").await;
    let cwd = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(&url, 4, cwd.path()).await;
    let key = fleet.shop("flash").await;
    let drop =
        json!({"name": "Limited drop", "category": "merch", "price_cents": 2500, "stock": 50});
    let put = put_item(&fleet.client, &fleet.lb, &key, "flash", "drop", drop).await;
    assert_eq!(put, 201);

    // 1,000 buyers at once, each on a connection of its own.
    let buyers: Vec<_> = (0..1000)
        .map(|i| {
            let url = format!("{}/v1/shops/flash/orders", fleet.lb);
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                let res = client
                    .post(url)
                    .header("idempotency-key", format!("buyer-{i}"))
                    .json(&json!({"customer_name": format!("buyer {i}"), "lines": [{"item_id": "drop", "quantity": 1}]}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                (status, body)
            })
        })
        .collect();
    let mut sold = vec![];
    let mut refused = 0;
    for buyer in buyers {
        let (status, body) = buyer.await.unwrap();
        match status {
            201 => sold.push(body["id"].as_str().unwrap().to_owned()),
            409 => {
                assert_eq!(body["code"], "out_of_stock", "{body}");
                refused += 1;
            }
            other => panic!("a buyer got {other}: {body}"),
        }
    }
    assert_eq!((sold.len(), refused), (50, 950));
    let unique: std::collections::HashSet<_> = sold.iter().collect();
    assert_eq!(unique.len(), 50, "fifty different orders");

    let menu: Value = json_of(
        fleet
            .client
            .get(format!("{}/v1/shops/flash/menu", fleet.replicas[3].base)),
    )
    .await;
    assert_eq!(menu["items"][0]["stock"], 0);
    let listed: Value = json_of(
        fleet
            .client
            .get(format!("{}/v1/shops/flash/orders?limit=200", fleet.lb))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(
        listed["orders"].as_array().unwrap().len(),
        50,
        "nothing oversold"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_on_two_replicas_reach_every_stream_in_one_order_and_resume_anywhere() {
    let Some(admin) =
        admin_url("orders_on_two_replicas_reach_every_stream_in_one_order_and_resume_anywhere")
    else {
        return;
    };
    let url = fresh_database(&admin, "order").await;
    let cwd = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(&url, 2, cwd.path()).await;
    let key = fleet.shop("sequenced").await;
    let (a, b) = (&fleet.replicas[0], &fleet.replicas[1]);
    let c = &fleet.client;
    for item in ["tea", "bun"] {
        let body = json!({"name": item, "category": "c", "price_cents": 300, "stock": 1000});
        let put = put_item(c, &a.base, &key, "sequenced", item, body).await;
        assert_eq!(put, 201);
    }
    let stream = |base: &str, last: Option<String>| {
        let mut req = c
            .get(format!("{base}/v1/shops/sequenced/events"))
            .bearer_auth(&key);
        if let Some(last) = last {
            req = req.header("last-event-id", last);
        }
        req.send()
    };
    let on_a = stream(&a.base, None).await.unwrap();
    let on_b = stream(&b.base, None).await.unwrap();
    let (mut sa, mut ba) = (on_a.bytes_stream(), String::new());
    let (mut sb, mut bb) = (on_b.bytes_stream(), String::new());

    // Forty orders at once, half on each replica, each taking stock.
    let placing: Vec<_> = (0..40)
        .map(|i| {
            let base = if i % 2 == 0 { &a.base } else { &b.base };
            let url = format!("{base}/v1/shops/sequenced/orders");
            let item = if i % 3 == 0 { "tea" } else { "bun" };
            let c = c.clone();
            tokio::spawn(async move {
                let res = c
                    .post(url)
                    .json(&json!({"customer_name": format!("c{i}"), "lines": [{"item_id": item, "quantity": 1}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
                res.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        })
        .collect();
    let mut placed = std::collections::HashSet::new();
    for p in placing {
        placed.insert(p.await.unwrap());
    }
    let mut seen_a = vec![];
    let mut seen_b = vec![];
    for _ in 0..40 {
        seen_a.push(next_event(&mut sa, &mut ba).await);
        seen_b.push(next_event(&mut sb, &mut bb).await);
    }
    let ids = |seen: &[(String, Value)]| seen.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&seen_a),
        ids(&seen_b),
        "both replicas deliver one order"
    );
    let orders: std::collections::HashSet<String> = seen_a
        .iter()
        .map(|(_, o)| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(orders, placed, "every order once: no gap, no duplicate");

    // A client that read twenty on A resumes on B with exactly the other twenty.
    let resumed = stream(&b.base, Some(seen_a[19].0.clone())).await.unwrap();
    let (mut sr, mut br) = (resumed.bytes_stream(), String::new());
    for expected in &seen_a[20..] {
        assert_eq!(next_event(&mut sr, &mut br).await.0, expected.0);
    }
}
