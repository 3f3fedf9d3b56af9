//! The PostgreSQL client against the private server of `scripts/with-postgres`
//! (which speaks TLS with a certificate from its own CA): TLS as libpq's
//! `sslmode` asks, and the pool and statement timeouts answering "unavailable".

use barista_domain::{ItemBody, ItemFields, ItemId, NewShop, ShopBody};
use barista_store::{OpenOptions, StoreError};
use std::time::Duration;

struct Server {
    url: String,
    ca: String,
}

/// The private server, or `None` when the run skips PostgreSQL (`barista_testkit`).
fn server(test: &str) -> Option<Server> {
    let url = barista_testkit::postgres_url(test)?;
    let ca = std::env::var("BARISTA_TEST_POSTGRES_CA").expect("BARISTA_TEST_POSTGRES_CA");
    Some(Server { url, ca })
}

/// Whether the connections named `app` are encrypted, as the server sees them.
async fn encrypted(url: &str, app: &str) -> Vec<bool> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn open(url: &str) -> Result<std::sync::Arc<dyn barista_store::Store>, StoreError> {
    barista_store::open(url, &OpenOptions::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_over_tls_to_a_server_its_ca_signed() {
    let Some(s) = server("verify_full_connects_over_tls_to_a_server_its_ca_signed") else {
        return;
    };
    let app = "tls-verify-full";
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}&application_name={app}",
        s.url, s.ca
    );
    let store = open(&url).await.unwrap();
    store.ping().await.unwrap();
    let seen = encrypted(&s.url, app).await;
    assert!(!seen.is_empty() && seen.iter().all(|&tls| tls), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_refuses_a_server_no_trusted_root_signed() {
    let Some(s) = server("verify_full_refuses_a_server_no_trusted_root_signed") else {
        return;
    };
    // No sslrootcert: the built-in public roots, which never signed the test CA.
    let url = format!("{}?sslmode=verify-full", s.url);
    let refused = open(&url)
        .await
        .err()
        .expect("an untrusted server is refused");
    assert!(
        matches!(refused, StoreError::Unavailable(ref why) if why.contains("cannot connect")),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_without_checking_and_disable_does_not_encrypt() {
    let Some(s) = server("require_encrypts_without_checking_and_disable_does_not_encrypt") else {
        return;
    };
    for (mode, tls) in [("require", true), ("prefer", true), ("disable", false)] {
        let app = format!("tls-{mode}");
        let url = format!("{}?sslmode={mode}&application_name={app}", s.url);
        let store = open(&url).await.unwrap();
        store.ping().await.unwrap();
        let seen = encrypted(&s.url, &app).await;
        assert!(
            !seen.is_empty() && seen.iter().all(|&t| t == tls),
            "{mode}: {seen:?}"
        );
    }
    let unknown = open(&format!("{}?sslmode=sometimes", s.url)).await;
    assert!(matches!(unknown, Err(StoreError::Config(_))));
}

/// A connection of the test's own that holds `shop`'s row locked until dropped.
async fn lock_shop_row(url: &str, shop_id: i64) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM shops WHERE id = {shop_id} FOR UPDATE"
        ))
        .await
        .unwrap();
    client
}

fn tea() -> ItemFields {
    ItemFields::parse(ItemBody {
        name: "Tea".into(),
        description: String::new(),
        category: "tea".into(),
        price_cents: Some(300),
        available: true,
        stock: None,
        variations: vec![],
        modifier_groups: vec![],
    })
    .unwrap()
}

async fn shop(store: &dyn barista_store::Store, slug: &str) -> barista_domain::Shop {
    let new = NewShop::parse(ShopBody {
        slug: slug.into(),
        name: "Timeouts".into(),
        currency: "EUR".into(),
    })
    .unwrap();
    store.create_shop(new, vec![1; 32]).await.unwrap()
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{nanos:x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_finds_no_free_connection_in_time_is_unavailable() {
    let Some(s) = server("a_request_that_finds_no_free_connection_in_time_is_unavailable") else {
        return;
    };
    let options = OpenOptions {
        pool_size: 1,
        pool_timeout: Duration::from_millis(200),
        ..OpenOptions::default()
    };
    let store = barista_store::open(&s.url, &options).await.unwrap();
    let shop = shop(store.as_ref(), &unique("pool")).await;
    let lock = lock_shop_row(&s.url, shop.id).await;
    // The one connection waits on the locked row...
    let writer = {
        let (store, shop) = (store.clone(), shop.clone());
        tokio::spawn(async move {
            store
                .put_item(&shop, ItemId::parse("tea").unwrap(), tea())
                .await
        })
    };
    let since = std::time::Instant::now();
    while store.pool_stats().in_use < 1 {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the writer never took the connection"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...so a read finds none free within the pool timeout.
    let read = store.menu(&shop).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    drop(lock);
    writer.await.unwrap().unwrap();
    store.menu(&shop).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_timeout_is_unavailable_and_changes_nothing() {
    let Some(s) = server("a_statement_past_its_timeout_is_unavailable_and_changes_nothing") else {
        return;
    };
    let options = OpenOptions {
        statement_timeout: Duration::from_millis(300),
        ..OpenOptions::default()
    };
    let store = barista_store::open(&s.url, &options).await.unwrap();
    let shop = shop(store.as_ref(), &unique("slow")).await;
    let lock = lock_shop_row(&s.url, shop.id).await;
    let write = store
        .put_item(&shop, ItemId::parse("tea").unwrap(), tea())
        .await;
    assert!(
        matches!(write, Err(StoreError::Unavailable(_))),
        "{write:?}"
    );
    drop(lock);
    let menu = store.menu(&shop).await.unwrap();
    assert!(menu.items.is_empty(), "the timed-out write changed nothing");
}

/// A deadlock that PostgreSQL breaks by aborting Barista's transaction is
/// retried, and the order is made once. Another session holds the item's row;
/// Barista's order claims its key, then waits for the row; the other session
/// then waits for that key: a cycle. Barista waited first, so its deadlock
/// check (after `deadlock_timeout`, 1 s) runs first and aborts it; the other
/// session (its own check set far later) gets the key and rolls back, and
/// Barista's retry succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_retried_and_the_order_made_once() {
    let Some(s) = server("a_deadlock_is_retried_and_the_order_made_once") else {
        return;
    };
    let store = barista_store::open(&s.url, &OpenOptions::default())
        .await
        .unwrap();
    let shop = shop(store.as_ref(), &unique("deadlock")).await;
    let mut bun = tea();
    bun.stock = Some(10);
    store
        .put_item(&shop, ItemId::parse("bun").unwrap(), bun)
        .await
        .unwrap();
    let (other, connection) = tokio_postgres::connect(&s.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    other
        .batch_execute(&format!(
            "SET deadlock_timeout = '30s'; SET application_name = 'deadlocker';
             BEGIN; SELECT 1 FROM menu_items WHERE shop_id = {} AND item_id = 'bun' FOR UPDATE",
            shop.id
        ))
        .await
        .unwrap();
    let body: barista_domain::NewOrderBody = serde_json::from_str(
        r#"{"customer_name": "Dora", "lines": [{"item_id": "bun", "quantity": 2}]}"#,
    )
    .unwrap();
    let order = barista_domain::NewOrder::parse(body).unwrap();
    let request = barista_domain::IdempotentRequest::new(
        barista_domain::IdempotencyKey::parse(b"deadlock-key").unwrap(),
        &order,
    );
    let placing = {
        let (store, shop) = (store.clone(), shop.clone());
        tokio::spawn(async move { store.place_order(&shop, order, Some(request)).await })
    };
    // Barista's transaction now holds the key and waits for the row. Watched
    // from a session of its own: inside `other`'s transaction,
    // pg_stat_activity would be a snapshot frozen at its first read.
    let (watcher, connection) = tokio_postgres::connect(&s.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let since = std::time::Instant::now();
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND application_name <> 'deadlocker'
                   AND query LIKE '%menu_items%' AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "the order never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The other session waits for the key: PostgreSQL aborts Barista's side.
    other
        .execute(
            "INSERT INTO idempotency_keys (shop_id, key, fingerprint, order_id, created_at)
             VALUES ($1, 'deadlock-key', '\\x00', 'not-an-order', 0)",
            &[&shop.id],
        )
        .await
        .expect("the other session got the key: PostgreSQL chose Barista's transaction");
    other.batch_execute("ROLLBACK").await.unwrap();
    let placed = placing.await.unwrap().expect("the retry succeeded");
    let barista_store::Placed::Created(order) = placed else {
        panic!("not created")
    };
    let (orders, _) = store
        .list_orders(
            &shop,
            barista_store::OrderPage {
                status: None,
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(orders.len(), 1, "one order");
    assert_eq!(orders[0].id, order.id);
    let menu = store.menu(&shop).await.unwrap();
    assert_eq!(menu.items[0].stock, Some(8), "stock taken once");
    let log = std::fs::read_to_string(std::env::var("BARISTA_TEST_POSTGRES_LOG").unwrap())
        .unwrap_or_default();
    assert!(
        log.contains("deadlock detected"),
        "PostgreSQL saw a deadlock"
    );
}
