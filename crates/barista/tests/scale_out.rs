//! Two stateless replicas over one PostgreSQL, behind the real nginx with the
//! config in deploy/nginx. Runs when the test command provides PostgreSQL
//! (scripts/with-postgres, used by scripts/test).

mod common;

use common::{BIN, Served, serve};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "scale-admin";

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn fresh_database(admin: &str) -> String {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let name = format!("scale{}", std::process::id());
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

fn replica(url: &str, cwd: &std::path::Path) -> Served {
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
    serve(c, 0)
}

/// Reads SSE events (id, data) from a response, bounded in time.
async fn next_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
) -> (i64, Value) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let id = block
                    .lines()
                    .find_map(|l| l.strip_prefix("id:"))
                    .map(|v| v.trim().parse().unwrap());
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
    let Ok(admin) = std::env::var("BARISTA_TEST_POSTGRES_URL") else {
        eprintln!("not run: BARISTA_TEST_POSTGRES_URL is unset (scripts/with-postgres sets it)");
        return;
    };
    let nginx_bin = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|b| Command::new(b).arg("-v").output().is_ok());
    let nginx_bin = nginx_bin.expect("nginx (Debian's package; scripts/test installs it)");
    let url = fresh_database(&admin).await;
    let out = Command::new(BIN)
        .args(["migrate", "--database", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // Stateless: the replicas run from an empty directory they may not write to.
    let cwd = tempfile::tempdir().unwrap();
    let mut perms = std::fs::metadata(cwd.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(cwd.path(), perms).unwrap();
    let (a, b) = (replica(&url, cwd.path()), replica(&url, cwd.path()));

    // The real balancer, with the repository's config pointed at the two replicas.
    let work = tempfile::tempdir().unwrap();
    let lb_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let template = include_str!("../../../deploy/nginx/barista.conf");
    let servers = format!(
        "server {};\n    server {};",
        a.base.trim_start_matches("http://"),
        b.base.trim_start_matches("http://")
    );
    let config = template
        .replace(
            "server 127.0.0.1:8081;\n    server 127.0.0.1:8082;",
            &servers,
        )
        .replace(
            "listen 127.0.0.1:8080",
            &format!("listen 127.0.0.1:{lb_port}"),
        )
        .replace(
            "worker_processes auto;",
            &format!(
                "worker_processes 1;\npid {}/nginx.pid;\nerror_log {}/error.log;",
                work.path().display(),
                work.path().display()
            ),
        )
        .replace(
            "proxy_set_header Host $host;",
            "proxy_set_header Host $host;\n      add_header X-Upstream $upstream_addr;",
        );
    let conf = work.path().join("nginx.conf");
    std::fs::write(&conf, config).unwrap();
    let _nginx = Nginx(
        Command::new(nginx_bin)
            .args(["-c", conf.to_str().unwrap(), "-g", "daemon off;"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lb = format!("http://127.0.0.1:{lb_port}");
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if c.get(format!("{lb}/healthz"))
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

    // Through the balancer: a shop, a menu, orders spread over both replicas.
    let created: Value = c
        .post(format!("{lb}/v1/shops"))
        .bearer_auth(ADMIN)
        .json(&json!({"slug": "twin", "name": "Twin", "currency": "EUR"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["staff_key"].as_str().unwrap().to_owned();
    let put = c
        .put(format!("{lb}/v1/shops/twin/menu/items/tea"))
        .bearer_auth(&key)
        .json(&json!({"name": "Tea", "category": "tea", "price_cents": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
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
    let order: Value = c
        .post(format!("{}/v1/shops/twin/orders", a.base))
        .json(&json!({"customer_name": "Ana", "lines": [{"item_id": "tea", "quantity": 2}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = order["id"].as_str().unwrap().to_owned();
    let read: Value = c
        .get(format!("{}/v1/shops/twin/orders/{id}", b.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, order);

    // A menu change on one replica is served by the other within about a second.
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
            since.elapsed() < Duration::from_secs(3),
            "B still serves the old menu after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the menu change reached the other replica in {:?}",
        since.elapsed()
    );

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
    let claimed: Value = c
        .post(format!("{}/v1/shops/twin/queue/claim", b.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
        .header("last-event-id", first_id.to_string())
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
    drop((a, b));
}
