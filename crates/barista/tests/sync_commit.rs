//! The synchronous-replication trap: when a COMMIT's wait for a synchronous
//! standby is cancelled, PostgreSQL commits locally and only warns. Such an
//! order may be lost in a failover, so it must not be acknowledged: Barista
//! answers 503 with Retry-After, and the client's retry with its
//! Idempotency-Key finds the order, placed once.
//!
//! Here the standby the primary waits for never comes
//! (`synchronous_standby_names` names no one), so every COMMIT waits; the
//! waiting backend is cancelled (`pg_cancel_backend`, as an operator or a
//! tool would).

use std::time::Duration;

mod common;

use common::{every_order, first_item_stock, fresh_database, serve_url, shop_with_buns};

const ADMIN: &str = "sync-admin";
const STOCK: i64 = 100;

async fn set_standby_names(admin: &str, names: Option<&str>) {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let sql = match names {
        Some(names) => format!("ALTER SYSTEM SET synchronous_standby_names = '{names}'"),
        None => "ALTER SYSTEM RESET synchronous_standby_names".to_owned(),
    };
    client.batch_execute(&sql).await.unwrap();
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    // The reload reaches every backend at its next command.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_commit_whose_synchronous_wait_is_cut_short_is_not_acknowledged() {
    let Some(admin) = barista_testkit::postgres_url("sync_commit") else {
        return;
    };
    let url = fresh_database(&admin, "synccommit").await;
    let server = serve_url(
        &url,
        &[
            "--no-demo",
            "--admin-token",
            ADMIN,
            "--db-statement-timeout",
            "1s",
        ],
    );
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let key = shop_with_buns(&c, &server.base, ADMIN, "waiting", STOCK).await;
    let order = || {
        c.post(format!("{}/v1/shops/waiting/orders", server.base))
            .header("idempotency-key", "sync-1")
            .json(&serde_json::json!({"customer_name": "Sam", "lines": [{"item_id": "bun", "quantity": 2}]}))
    };

    set_standby_names(&admin, Some("nobody")).await;
    let first = tokio::spawn(order().send());
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut cancelled = false;
    for _ in 0..100 {
        let rows = client
            .query(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
                &[],
            )
            .await
            .unwrap();
        if !rows.is_empty() {
            cancelled = rows[0].get(0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = first.await.unwrap();
    set_standby_names(&admin, None).await;
    assert!(
        cancelled,
        "the commit waited for the standby and was cancelled"
    );
    let first = first.unwrap();
    let status = first.status();
    let retry_after = first.headers().contains_key("retry-after");
    let body = first.text().await.unwrap();
    assert_eq!(
        status, 503,
        "a commit no standby confirmed is not acknowledged: {body}"
    );
    assert!(retry_after, "{body}");

    // The retry, now that commits are confirmed: one order, placed once.
    let retry = order().send().await.unwrap();
    assert_eq!(retry.status(), 201);
    let stored = every_order(&c, &server.base, "waiting", &key).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        first_item_stock(&c, &server.base, "waiting").await,
        STOCK - 2
    );
}
