//! PostgreSQL migrations. Every key of a tenant's data starts with `shop_id`,
//! and every query filters on it, so the tables can later be distributed by
//! tenant (Citus); `shops` itself is small and would be a reference table.

use tokio_postgres::Client;

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE shops (
    id             BIGSERIAL PRIMARY KEY,
    slug           TEXT   NOT NULL UNIQUE,
    name           TEXT   NOT NULL,
    currency       TEXT   NOT NULL,
    staff_key_hash BYTEA  NOT NULL,
    menu_version   BIGINT NOT NULL DEFAULT 1,
    event_seq      BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);
CREATE TABLE menu_items (
    shop_id     BIGINT  NOT NULL REFERENCES shops (id),
    item_id     TEXT    COLLATE "C" NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    category    TEXT    COLLATE "C" NOT NULL,
    price_cents BIGINT  NOT NULL,
    available   BOOLEAN NOT NULL,
    stock       BIGINT,
    PRIMARY KEY (shop_id, item_id)
);
CREATE TABLE orders (
    shop_id       BIGINT NOT NULL REFERENCES shops (id),
    id            TEXT   COLLATE "C" NOT NULL,
    status        TEXT   NOT NULL,
    customer_name TEXT   NOT NULL,
    note          TEXT   NOT NULL,
    lines         TEXT   NOT NULL,
    total_cents   BIGINT NOT NULL,
    currency      TEXT   NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (shop_id, id)
);
CREATE INDEX orders_by_status ON orders (shop_id, status, id);
CREATE TABLE idempotency_keys (
    shop_id     BIGINT NOT NULL REFERENCES shops (id),
    key         TEXT   NOT NULL,
    fingerprint BYTEA  NOT NULL,
    order_id    TEXT   NOT NULL,
    response    TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (shop_id, key)
);
CREATE TABLE events (
    shop_id    BIGINT NOT NULL REFERENCES shops (id),
    seq        BIGINT NOT NULL,
    order_id   TEXT   COLLATE "C" NOT NULL,
    data       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (shop_id, seq)
);
CREATE INDEX events_by_order ON events (shop_id, order_id, seq);
"#];

/// Brings the schema up to date, one replica at a time (an advisory lock).
pub(crate) async fn migrate(client: &mut Client) -> Result<usize, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(7146501)", &[])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS barista_schema (version INT NOT NULL)")
        .await?;
    let current: i32 = tx
        .query_opt("SELECT version FROM barista_schema", &[])
        .await?
        .map(|r| r.get(0))
        .unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.batch_execute(sql).await?;
        tx.execute("DELETE FROM barista_schema", &[]).await?;
        tx.execute(
            "INSERT INTO barista_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(MIGRATIONS.len())
}
