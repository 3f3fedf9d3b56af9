//! Backups of the embedded database: `barista backup` while a server keeps
//! taking orders, `barista restore` into a new file, and a server on the
//! restored file holds every order acknowledged before the backup began,
//! once, with the stock to match.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{BIN, every_order, first_item_stock, serve, serve_command, shop_with_buns};

const ADMIN: &str = "backup-admin";
const STOCK: i64 = 1_000_000;

fn barista(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("BARISTA_DATABASE")
        .output()
        .unwrap()
}

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[tokio::test]
async fn a_backup_under_a_stream_of_orders_restores_every_order_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let server = serve(
        serve_command(
            Command::new(BIN),
            &live,
            &["--admin-token", ADMIN, "--no-demo"],
        ),
        1,
    );
    let base = server.base.clone();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let key = shop_with_buns(&c, &base, ADMIN, "backed", STOCK).await;

    // Customers order steadily, each order once with its own key, resent
    // until it is acknowledged; the ids acknowledged so far are kept.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let customers: Vec<_> = (0..4)
        .map(|customer| {
            let (c, base, acked, stop) = (c.clone(), base.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let idempotency = format!("backup-{customer}-{n}");
                    loop {
                        let sent = c
                            .post(format!("{base}/v1/shops/backed/orders"))
                            .header("idempotency-key", &idempotency)
                            .json(&serde_json::json!({"customer_name": "Bea", "lines": [{"item_id": "bun", "quantity": 1}]}))
                            .send()
                            .await;
                        if let Ok(answer) = sent
                            && answer.status() == 201
                        {
                            let order: serde_json::Value = answer.json().await.unwrap();
                            acked.lock().unwrap().push(order["id"].as_str().unwrap().to_owned());
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;

    // The backup, while the orders keep coming.
    let copy = dir.path().join("copy.db");
    let before: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let backup = barista(&["backup", "--database", &url(&live), copy.to_str().unwrap()]);
    let during = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for customer in customers {
        customer.await.unwrap();
    }
    let printed = String::from_utf8_lossy(&backup.stdout);
    assert!(
        backup.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(printed.contains("integrity ok"), "{printed}");
    assert!(!before.is_empty(), "orders were placed before the backup");
    assert!(
        acked.lock().unwrap().len() > during,
        "the server kept taking orders after the backup"
    );

    // A backup never overwrites, and a restore never replaces a live file unasked.
    let again = barista(&["backup", "--database", &url(&live), copy.to_str().unwrap()]);
    assert!(!again.status.success());
    let refused = barista(&["restore", "--database", &url(&live), copy.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let pg = barista(&[
        "backup",
        "--database",
        "postgres://u@127.0.0.1/b",
        dir.path().join("pg.db").to_str().unwrap(),
    ]);
    assert!(!pg.status.success());
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));
    drop(server);

    // Restored into a new file, served again.
    let restored = dir.path().join("restored.db");
    let restore = barista(&[
        "restore",
        "--database",
        &url(&restored),
        copy.to_str().unwrap(),
    ]);
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let server = serve(
        serve_command(
            Command::new(BIN),
            &restored,
            &["--admin-token", ADMIN, "--no-demo"],
        ),
        1,
    );
    let stored = every_order(&c, &server.base, "backed", &key).await;
    let ids: HashSet<String> = stored
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<_> = before.difference(&ids).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, missing from it: {missing:?}"
    );
    let all_acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert!(
        ids.len() < all_acked.len(),
        "orders placed after the backup are not in it"
    );
    assert_eq!(
        first_item_stock(&c, &server.base, "backed").await,
        STOCK - stored.len() as i64,
        "stock matches the orders in the copy"
    );
}
