//! The doctor's on-call exam: real faults injected into a real Barista over a
//! real PostgreSQL, each of which must get the right verdict, the right named
//! cause with its fix, and the right answer to "will more replicas help?".
//!
//! - the staff list's indexes dropped on a shop with many orders: the index,
//!   named (table, columns) from the statement's plan;
//! - a pool of one connection under orders: raise the pool;
//! - 5 ms each way between the replica and PostgreSQL (a delaying proxy):
//!   the network, not the database;
//! - two replicas behind nginx, one held to a twentieth of a core: that one,
//!   never the healthy one;
//! - a healthy Barista: healthy.
//!
//! (A replica out of CPU is `doctor.rs`'s real-Barista case.) Replicas run
//! on CPU 0 and the doctor on CPU 1, one case at a time. Runs under
//! scripts/with-postgres (scripts/test); the starved replica needs root
//! (a cgroup), as `BARISTA_TEST_SKIP=cgroup` says otherwise.

mod common;

use common::{BIN, Nginx, Served, database_with_statements, pinned, serve, serve_url_command};
use serde_json::Value;
use std::time::Duration;

const ORDER: &str =
    r#"{"customer_name": "Ana", "lines": [{"item_id": "espresso", "quantity": 1}]}"#;

/// A replica over `url` on CPU 0, with its metrics listener; over an empty
/// database it makes the demo shop and prints its key (`staff_key`).
fn replica(url: &str, extra: &[&str]) -> Served {
    let c = serve_url_command(pinned(0, BIN), url, extra);
    // The metrics line, and with a new demo shop its banner and key.
    let fresh = !extra.contains(&"--no-demo");
    serve(c, if fresh { 3 } else { 1 })
}

fn staff_key(r: &Served) -> String {
    r.lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("bsk_"))
        .expect("the demo shop's key")
        .to_owned()
}

/// `barista doctor ARGS` on CPU 1: its diagnosis (and its text, for the log).
/// The runtime's other tasks (the delaying proxy) go on meanwhile.
fn doctor(args: &[&str]) -> Value {
    tokio::task::block_in_place(|| run_doctor(args))
}

fn run_doctor(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("d.json");
    let mut c = pinned(1, BIN);
    let out = c
        .arg("doctor")
        .args(args)
        .args(["--no-progress", "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    println!("{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// The doctor on a stream of orders to `served`, reading its metrics and
/// its database `url`, with `extra` flags.
fn doctor_of_orders(served: &Served, url: &str, extra: &[&str]) -> Value {
    let metrics = served.metrics.clone().unwrap();
    let orders = format!("{}/v1/shops/demo/orders", served.base);
    let mut args = vec![
        orders.as_str(),
        "-m",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-b",
        ORDER,
        "--metrics",
        &metrics,
        "--database",
        url,
    ];
    args.extend_from_slice(extra);
    doctor(&args)
}

fn said(d: &Value) -> String {
    format!(
        "{}\n{}\n{}",
        d["evidence"], d["next_steps"], d["more_replicas_said"]
    )
}

/// A TCP proxy that holds every chunk `delay` before passing it on, both ways
/// (a database `delay` away): its address.
async fn delaying_proxy(target: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    async fn one_way(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        delay: Duration,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
        let writer = tokio::spawn(async move {
            while let Some((due, bytes)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                if to.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = to.shutdown().await;
        });
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0
                || tx
                    .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
        drop(tx);
        let _ = writer.await;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(one_way(cr, sw, delay));
            tokio::spawn(one_way(sr, cw, delay));
        }
    });
    address
}

/// The staff list over 300,000 orders, its two indexes dropped: a request
/// scans the table. The doctor must name the index (table and columns).
async fn a_dropped_index_is_named(admin: &str) {
    let (url, db) = database_with_statements(admin, "faultindex").await;
    let served = replica(&url, &[]);
    let key = staff_key(&served);
    db.batch_execute(
        "INSERT INTO orders (shop_id, id, status, customer_name, note, lines, total_cents, currency, version, created_at, updated_at)
         SELECT s.id, gen_random_uuid()::text, (ARRAY['collected', 'collected', 'cancelled', 'placed'])[1 + g % 4], 'Ana', '',
                '[{\"item_id\":\"espresso\",\"name\":\"Espresso\",\"quantity\":1,\"unit_price_cents\":250,\"line_total_cents\":250}]',
                250, 'EUR', 1, 1700000000000000 + g, 1700000000000000 + g
           FROM shops s, generate_series(1, 300000) g WHERE s.slug = 'demo';
         ANALYZE orders;
         DROP INDEX orders_by_status; DROP INDEX orders_by_age;",
    )
    .await
    .unwrap();
    let metrics = served.metrics.clone().unwrap();
    let list = format!(
        "{}/v1/shops/demo/orders?status=placed&limit=20",
        served.base
    );
    let auth = format!("Authorization: Bearer {key}");
    let d = doctor(&[
        &list,
        "-H",
        &auth,
        "--metrics",
        &metrics,
        "--database",
        &url,
        "--slo",
        "p99<10ms",
        "--budget",
        "8s",
    ]);
    assert_eq!(d["verdict"], "performance", "{}", said(&d));
    assert_eq!(d["cause"]["kind"], "missing_index", "{}", said(&d));
    let advice = &d["cause"]["advice"];
    assert_eq!(advice["table"], "orders");
    let columns: Vec<&str> = advice["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(columns[..2], ["shop_id", "status"], "{advice}");
    assert!(columns.contains(&"created_at"), "{advice}");
    assert!(
        d["next_steps"]
            .to_string()
            .contains("CREATE INDEX CONCURRENTLY ON orders (shop_id, status"),
        "{}",
        said(&d)
    );
    assert_eq!(d["more_replicas"]["answer"], "no");
}

/// One pool connection for a stream of orders: throughput stops at about one
/// connection's worth while the CPU idles. The doctor must say "raise the
/// pool", never "add replicas".
async fn a_starved_pool_is_raised(admin: &str) {
    let (url, _db) = database_with_statements(admin, "faultpool").await;
    let served = replica(&url, &["--db-pool-size", "1"]);
    let d = doctor_of_orders(
        &served,
        &url,
        &["--max-connections", "24", "--budget", "12s"],
    );
    assert_eq!(d["verdict"], "contention", "{}", said(&d));
    assert_eq!(d["cause"]["kind"], "pool", "{}", said(&d));
    assert_eq!(d["cause"]["pool_size"], 1.0);
    assert!(d["cause"]["suggested"].as_u64().unwrap() >= 2);
    let steps = d["next_steps"].to_string();
    assert!(
        steps.contains("Raise --db-pool-size from 1 to about"),
        "{steps}"
    );
    assert!(!steps.contains("Scale out"), "{steps}");
    assert_eq!(d["more_replicas"]["answer"], "no");
}

/// 5 ms each way between the replica and PostgreSQL: an order is a few slow
/// round trips while the database executes each statement fast.
async fn a_far_database_is_the_network(admin: &str) {
    let (url, _db) = database_with_statements(admin, "faultnet").await;
    let authority = url
        .trim_start_matches("postgres://")
        .split('/')
        .next()
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap();
    let target: std::net::SocketAddr = authority.parse().unwrap();
    let proxy = delaying_proxy(target, Duration::from_millis(5)).await;
    let far = url.replace(authority, &proxy.to_string());
    let served = replica(&far, &[]);
    let d = doctor_of_orders(&served, &url, &["--slo", "p99<30ms", "--budget", "8s"]);
    assert_eq!(d["verdict"], "performance", "{}", said(&d));
    assert_eq!(d["cause"]["kind"], "network", "{}", said(&d));
    assert!(
        d["cause"]["trip_ms"].as_f64().unwrap() >= 8.0,
        "{}",
        d["cause"]
    );
    assert!(
        d["evidence"]
            .to_string()
            .contains("the time is in the network between the replica and the database"),
        "{}",
        said(&d)
    );
    assert_eq!(d["more_replicas"]["answer"], "no");
}

/// Two replicas behind the shipped nginx (round robin), one held to a
/// twentieth of a core: it is the bottleneck, and the idle one is never named.
async fn a_starved_replica_is_named_not_the_healthy_one(admin: &str) {
    let (url, _db) = database_with_statements(admin, "faultreplica").await;
    let slow = replica(&url, &[]);
    let fast = replica(&url, &["--no-demo"]);
    let Some(_cap) = barista_testkit::CpuCap::new(
        "a_starved_replica_is_named_not_the_healthy_one",
        slow.child.id(),
        0.05,
        Duration::from_millis(20),
    ) else {
        return;
    };
    let nginx = Nginx::start(&[slow.base.as_str(), fast.base.as_str()], false);
    let authority = |r: &Served| {
        r.metrics
            .clone()
            .unwrap()
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let (slow_name, fast_name) = (authority(&slow), authority(&fast));
    let d = doctor(&[
        &nginx.url,
        "--scenario",
        "rush",
        "--shop",
        "demo",
        "--metrics",
        slow.metrics.as_deref().unwrap(),
        "--metrics",
        fast.metrics.as_deref().unwrap(),
        "--budget",
        "10s",
    ]);
    assert_eq!(d["verdict"], "capacity", "{}", said(&d));
    assert_eq!(d["cause"]["kind"], "starved_replica", "{}", said(&d));
    assert_eq!(d["cause"]["replica"], slow_name.as_str());
    assert_eq!(d["differing_replica"], slow_name.as_str());
    assert_eq!(d["more_replicas"]["answer"], "fix_replica_first");
    assert!(
        !said(&d).contains(&fast_name),
        "the healthy replica is never named: {}",
        said(&d)
    );
}

/// A healthy Barista under its rush, within the SLO: healthy, and no more
/// replicas needed.
fn a_healthy_barista_is_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("healthy.db").display());
    let served = replica(&db, &[]);
    let d = doctor(&[
        &served.base,
        "--scenario",
        "rush",
        "--shop",
        "demo",
        "--metrics",
        served.metrics.as_deref().unwrap(),
        "--max-connections",
        "8",
        "--budget",
        "8s",
    ]);
    assert_eq!(d["verdict"], "healthy", "{}", said(&d));
    assert_eq!(d["more_replicas"]["answer"], "not_needed");
}

/// One test: the cases must not share the machine with each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_names_the_cause_and_the_fix_of_each_real_fault() {
    let test = "the_doctor_names_the_cause_and_the_fix_of_each_real_fault";
    let Some(admin) = barista_testkit::postgres_url(test) else {
        return;
    };
    a_dropped_index_is_named(&admin).await;
    a_starved_pool_is_raised(&admin).await;
    a_far_database_is_the_network(&admin).await;
    a_starved_replica_is_named_not_the_healthy_one(&admin).await;
    a_healthy_barista_is_healthy();
}
