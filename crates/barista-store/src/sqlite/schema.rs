//! SQLite migrations, applied in order and tracked by `PRAGMA user_version`.
//! Every key starts with `shop_id`, as on PostgreSQL, so the two stay alike.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE shops (
    id             INTEGER PRIMARY KEY,
    slug           TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    currency       TEXT    NOT NULL,
    staff_key_hash BLOB    NOT NULL,
    menu_version   INTEGER NOT NULL DEFAULT 1,
    event_seq      INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);
CREATE TABLE menu_items (
    shop_id     INTEGER NOT NULL REFERENCES shops (id),
    item_id     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    price_cents INTEGER NOT NULL,
    available   INTEGER NOT NULL,
    stock       INTEGER,
    PRIMARY KEY (shop_id, item_id)
) WITHOUT ROWID;
CREATE TABLE orders (
    shop_id       INTEGER NOT NULL REFERENCES shops (id),
    id            TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    customer_name TEXT    NOT NULL,
    note          TEXT    NOT NULL,
    lines         TEXT    NOT NULL,
    total_cents   INTEGER NOT NULL,
    currency      TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (shop_id, id)
) WITHOUT ROWID;
CREATE INDEX orders_by_status ON orders (shop_id, status, id);
CREATE TABLE idempotency_keys (
    shop_id     INTEGER NOT NULL REFERENCES shops (id),
    key         TEXT    NOT NULL,
    fingerprint BLOB    NOT NULL,
    order_id    TEXT    NOT NULL,
    response    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (shop_id, key)
) WITHOUT ROWID;
CREATE TABLE events (
    shop_id    INTEGER NOT NULL REFERENCES shops (id),
    seq        INTEGER NOT NULL,
    order_id   TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (shop_id, seq)
) WITHOUT ROWID;
CREATE INDEX events_by_order ON events (shop_id, order_id, seq);
"#];

/// Brings the schema up to date; returns the version it is at.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(MIGRATIONS.len())
}
