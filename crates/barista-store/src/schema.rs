//! The schema, once for both backends: migrations applied in order, each
//! written with a few type words (`{INT}`, `{BYTES}`, ...) that [`Dialect`]
//! spells for SQLite or PostgreSQL. Every key of a tenant's data starts with
//! `shop_id` and every query filters on it, so the tables can later be
//! distributed by tenant (Citus); `shops` itself is small and would be a
//! reference table.

/// 1: the first release. 2: events ordered without a per-shop counter (see
/// `sql.rs`, `EVENTS_AFTER`), each order stored once (events keep what changed,
/// keys keep the order id), stock changes counted per item for the menu version.
/// 3: keys found by age, so expired ones are purged without a scan; orders
/// listed and claimed by `created_at` (order ids are random from here on).
/// 4: events found by position across shops, for one reader per replica.
/// 5: sizes and choices (an item's `options`, the shop's modifier groups),
/// and a shop's opening hours, time zone and pause.
/// 6: a shop can be suspended; an order keeps when it was first ready (for
/// the day's takings, after its events are purged).
/// The schema version this build writes (one per migration).
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// A database whose schema is `found`, newer than this build knows: refused,
/// since this build would write rows the newer schema does not expect.
pub(crate) fn newer_than_this_build(found: usize) -> crate::StoreError {
    crate::StoreError::Config(format!(
        "the database's schema is version {found}, newer than this barista's ({SCHEMA_VERSION}): \
         run the barista release that wrote it, or a newer one"
    ))
}

pub(crate) const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE shops (
    id             {SERIAL},
    slug           TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    currency       TEXT    NOT NULL,
    staff_key_hash {BYTES} NOT NULL,
    menu_version   {INT}   NOT NULL DEFAULT 1,
    event_seq      {INT}   NOT NULL DEFAULT 0,
    created_at     {INT}   NOT NULL
);
CREATE TABLE menu_items (
    shop_id     {INT}  NOT NULL REFERENCES shops (id),
    item_id     {KEY}  NOT NULL,
    name        TEXT   NOT NULL,
    description TEXT   NOT NULL,
    category    {KEY}  NOT NULL,
    price_cents {INT}  NOT NULL,
    available   {BOOL} NOT NULL,
    stock       {INT},
    PRIMARY KEY (shop_id, item_id)
){CLUSTERED};
CREATE TABLE orders (
    shop_id       {INT} NOT NULL REFERENCES shops (id),
    id            {KEY} NOT NULL,
    status        TEXT  NOT NULL,
    customer_name TEXT  NOT NULL,
    note          TEXT  NOT NULL,
    lines         TEXT  NOT NULL,
    total_cents   {INT} NOT NULL,
    currency      TEXT  NOT NULL,
    version       {INT} NOT NULL,
    created_at    {INT} NOT NULL,
    updated_at    {INT} NOT NULL,
    PRIMARY KEY (shop_id, id)
){CLUSTERED};
CREATE INDEX orders_by_status ON orders (shop_id, status, id);
CREATE TABLE idempotency_keys (
    shop_id     {INT}   NOT NULL REFERENCES shops (id),
    key         TEXT    NOT NULL,
    fingerprint {BYTES} NOT NULL,
    order_id    TEXT    NOT NULL,
    response    TEXT    NOT NULL,
    created_at  {INT}   NOT NULL,
    PRIMARY KEY (shop_id, key)
){CLUSTERED};
CREATE TABLE events (
    shop_id    {INT} NOT NULL REFERENCES shops (id),
    seq        {INT} NOT NULL,
    order_id   {KEY} NOT NULL,
    data       TEXT  NOT NULL,
    created_at {INT} NOT NULL,
    PRIMARY KEY (shop_id, seq)
){CLUSTERED};
CREATE INDEX events_by_order ON events (shop_id, order_id, seq);
",
    "
ALTER TABLE menu_items ADD COLUMN stock_version {INT} NOT NULL DEFAULT 0;
CREATE TABLE order_events (
    shop_id  {INT} NOT NULL REFERENCES shops (id),
    tx       {EVENT_TX},
    pos      {EVENT_POS},
    order_id {KEY} NOT NULL,
    status   TEXT  NOT NULL,
    version  {INT} NOT NULL,
    at       {INT} NOT NULL{EVENT_KEY}
);
CREATE INDEX order_events_in_order ON order_events (shop_id, tx, pos);
CREATE INDEX order_events_by_order ON order_events (shop_id, order_id, version);
{MOVE_EVENTS}
DROP TABLE events;
ALTER TABLE idempotency_keys DROP COLUMN response;
{FUNCTIONS}
",
    "
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (shop_id, created_at);
DROP INDEX orders_by_status;
CREATE INDEX orders_by_status ON orders (shop_id, status, created_at, id);
CREATE INDEX orders_by_age ON orders (shop_id, created_at, id);
",
    "
CREATE INDEX order_events_by_pos ON order_events (tx, pos);
",
    "
ALTER TABLE menu_items ADD COLUMN options TEXT NOT NULL DEFAULT '';
CREATE TABLE modifier_groups (
    shop_id    {INT} NOT NULL REFERENCES shops (id),
    group_id   {KEY} NOT NULL,
    name       TEXT  NOT NULL,
    min_select {INT} NOT NULL,
    max_select {INT} NOT NULL,
    modifiers  TEXT  NOT NULL,
    PRIMARY KEY (shop_id, group_id)
){CLUSTERED};
ALTER TABLE shops ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE shops ADD COLUMN hours TEXT NOT NULL DEFAULT '';
ALTER TABLE shops ADD COLUMN paused_until {INT};
",
    "
ALTER TABLE shops ADD COLUMN suspended {BOOL} NOT NULL DEFAULT FALSE;
ALTER TABLE orders ADD COLUMN ready_at {INT};
UPDATE orders SET ready_at = (
    SELECT min(e.at) FROM order_events e
    WHERE e.shop_id = orders.shop_id AND e.order_id = orders.id AND e.status = 'ready')
WHERE status IN ('ready', 'collected');
",
];

/// How a backend spells the schema's type words.
pub(crate) struct Dialect {
    /// The shops' own key, numbered by the database.
    serial: &'static str,
    int: &'static str,
    bytes: &'static str,
    bool: &'static str,
    /// Text keys, compared byte by byte (ids sort the same everywhere).
    key: &'static str,
    /// After a table keyed by the shop: stored in key order where the database can.
    clustered: &'static str,
    /// An event's transaction: PostgreSQL's id of the one that wrote it.
    event_tx: &'static str,
    /// An event's place within its transaction (and, on SQLite, overall).
    event_pos: &'static str,
    event_key: &'static str,
    /// Version 1's events moved into version 2's table.
    move_events: &'static str,
    /// What only this backend has: the visibility horizon.
    functions: &'static str,
}

pub(crate) const SQLITE: Dialect = Dialect {
    serial: "INTEGER PRIMARY KEY",
    int: "INTEGER",
    bytes: "BLOB",
    bool: "INTEGER",
    key: "TEXT",
    clustered: " WITHOUT ROWID",
    event_tx: "INTEGER NOT NULL DEFAULT 0",
    event_pos: "INTEGER PRIMARY KEY AUTOINCREMENT",
    event_key: "",
    move_events: "INSERT INTO order_events (shop_id, order_id, status, version, at)
    SELECT shop_id, order_id, json_extract(data, '$.status'), json_extract(data, '$.version'), created_at
    FROM events ORDER BY shop_id, seq;",
    functions: "",
};

pub(crate) const POSTGRES: Dialect = Dialect {
    serial: "BIGSERIAL PRIMARY KEY",
    int: "BIGINT",
    bytes: "BYTEA",
    bool: "BOOLEAN",
    key: "TEXT COLLATE \"C\"",
    clustered: "",
    event_tx: "BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)",
    event_pos: "BIGSERIAL",
    event_key: ",\n    PRIMARY KEY (shop_id, pos)",
    move_events: "INSERT INTO order_events (shop_id, tx, pos, order_id, status, version, at)
    SELECT shop_id, 0, seq, order_id, data::json->>'status', (data::json->>'version')::bigint, created_at
    FROM events;
SELECT setval(pg_get_serial_sequence('order_events', 'pos'), greatest(max(pos), 1)) FROM order_events;",
    functions: "
CREATE FUNCTION barista_horizon() RETURNS BIGINT LANGUAGE sql STABLE
    AS 'SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint';",
};

impl Dialect {
    /// Migration `sql` as this backend runs it.
    pub(crate) fn spell(&self, sql: &str) -> String {
        sql.replace("{SERIAL}", self.serial)
            .replace("{INT}", self.int)
            .replace("{BYTES}", self.bytes)
            .replace("{BOOL}", self.bool)
            .replace("{KEY}", self.key)
            .replace("{CLUSTERED}", self.clustered)
            .replace("{EVENT_TX}", self.event_tx)
            .replace("{EVENT_POS}", self.event_pos)
            .replace("{EVENT_KEY}", self.event_key)
            .replace("{MOVE_EVENTS}", self.move_events)
            .replace("{FUNCTIONS}", self.functions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_word_is_spelled_in_both_dialects() {
        for sql in MIGRATIONS {
            for dialect in [SQLITE, POSTGRES] {
                let spelled = dialect.spell(sql);
                assert!(!spelled.contains('{'), "{spelled}");
            }
        }
        assert!(
            POSTGRES
                .spell(MIGRATIONS[0])
                .contains("item_id     TEXT COLLATE \"C\"  NOT NULL")
        );
    }
}
