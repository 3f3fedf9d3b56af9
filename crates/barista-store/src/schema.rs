//! The schema, once for both backends: migrations applied in order, each
//! written with a few type words (`{INT}`, `{BYTES}`, ...) that [`Dialect`]
//! spells for SQLite or PostgreSQL. Every key of a tenant's data starts with
//! `shop_id` and every query filters on it, so the tables can later be
//! distributed by tenant (Citus); `shops` itself is small and would be a
//! reference table.

pub(crate) const MIGRATIONS: &[&str] = &["
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
"];

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
}

pub(crate) const SQLITE: Dialect = Dialect {
    serial: "INTEGER PRIMARY KEY",
    int: "INTEGER",
    bytes: "BLOB",
    bool: "INTEGER",
    key: "TEXT",
    clustered: " WITHOUT ROWID",
};

pub(crate) const POSTGRES: Dialect = Dialect {
    serial: "BIGSERIAL PRIMARY KEY",
    int: "BIGINT",
    bytes: "BYTEA",
    bool: "BOOLEAN",
    key: "TEXT COLLATE \"C\"",
    clustered: "",
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
