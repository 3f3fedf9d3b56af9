//! What the statements a replica runs in the background cost on PostgreSQL,
//! in buffers read (the same figure on every run, unlike time): they must
//! cost what they return, not the size of the tables they touch, whatever plan
//! the planner picks and whether or not the tables were ever analyzed.
//!
//! The hub's reader once found each event's order by its shop alone and
//! filtered all of the shop's orders: a read that grew with every order, until
//! four replicas' readers took a quarter of the database's core.

use crate::sql;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// A database of its own (dropped at the end), with the schema applied.
struct Scratch {
    admin: Client,
    name: String,
    client: Client,
}

impl Scratch {
    async fn new(url: &str) -> Scratch {
        let (admin, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
        tokio::spawn(connection);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("barista_plans_{}_{nanos}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.dbname(&name);
        let (mut client, connection) = config.connect(NoTls).await.unwrap();
        tokio::spawn(connection);
        super::schema::migrate(&mut client).await.unwrap();
        Scratch {
            admin,
            name,
            client,
        }
    }

    async fn drop(self) {
        drop(self.client);
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

/// Shared buffers `EXPLAIN ANALYZE` saw `execute` read, and the rows it returned.
async fn cost(client: &Client, execute: &str) -> (u64, u64) {
    let messages = client
        .simple_query(&format!(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {execute}"
        ))
        .await
        .unwrap();
    let text = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap();
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    let root = &plan[0]["Plan"];
    let blocks =
        root["Shared Hit Blocks"].as_u64().unwrap() + root["Shared Read Blocks"].as_u64().unwrap();
    (blocks, root["Actual Rows"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_reads_cost_their_rows_not_the_shops_orders() {
    let test = "background_reads_cost_their_rows_not_the_shops_orders";
    let Some(url) = barista_testkit::postgres_url(test) else {
        return;
    };
    let db = Scratch::new(&url).await;
    let c = &db.client;
    // One shop with 3,000 orders, an event each (each of its own transaction,
    // as orders are placed); never analyzed, as a new deployment's tables are
    // for their first minutes.
    c.batch_execute(
        "ALTER TABLE orders SET (autovacuum_enabled = false);
         ALTER TABLE order_events SET (autovacuum_enabled = false);
         ALTER TABLE shops SET (autovacuum_enabled = false);
         INSERT INTO shops (slug, name, currency, staff_key_hash, created_at)
             VALUES ('plans', 'Plans', 'EUR', '\\x00', 0);
         INSERT INTO orders (shop_id, id, status, customer_name, note, lines, total_cents,
                             currency, version, created_at, updated_at)
             SELECT 1, 'order-' || lpad(n::text, 5, '0'), 'placed', 'Ana', '', '[]', 250,
                    'EUR', 1, n, n
             FROM generate_series(1, 3000) n;
         INSERT INTO order_events (shop_id, tx, order_id, status, version, at)
             SELECT 1, n - 100000, 'order-' || lpad(n::text, 5, '0'), 'placed', 1, n
             FROM generate_series(1, 3000) n;",
    )
    .await
    .unwrap();
    let (tx, pos): (i64, i64) = {
        let row = c
            .query_one(
                "SELECT tx, pos FROM order_events WHERE order_id = 'order-02990'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    c.batch_execute(&format!(
        "PREPARE events_after_any AS {};
         PREPARE oldest_event_at AS {};",
        sql::EVENTS_AFTER_ANY,
        sql::OLDEST_EVENT_AT
    ))
    .await
    .unwrap();
    for mode in ["force_custom_plan", "force_generic_plan"] {
        c.batch_execute(&format!("SET plan_cache_mode = {mode}"))
            .await
            .unwrap();
        // The reader's page: the last ten events, each joined to its order.
        let (blocks, rows) = cost(c, &format!("EXECUTE events_after_any({tx}, {pos}, 256)")).await;
        assert_eq!(rows, 10, "{mode}");
        assert!(
            blocks <= 10 * 8 + 20,
            "{mode}: the reader read {blocks} buffers for 10 events of a shop with 3,000 orders"
        );
        // The purge's check that nothing is old: one probe.
        let (blocks, rows) = cost(c, "EXECUTE oldest_event_at(1)").await;
        assert_eq!(rows, 1, "{mode}");
        assert!(
            blocks <= 10,
            "{mode}: the purge's check read {blocks} buffers"
        );
    }
    db.drop().await;
}
