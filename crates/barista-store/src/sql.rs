//! Every statement Barista runs, once, for both backends.
//!
//! The text is PostgreSQL's. SQLite reads it through [`for_sqlite`]: `$N`
//! parameters become `?N`, and row-lock clauses (`FOR UPDATE`, `SKIP LOCKED`)
//! are dropped, since SQLite's single writer already runs one write at a time.
//! Only what one backend alone does (PostgreSQL's `pg_notify`, the schemas)
//! lives in that backend.

macro_rules! item_columns {
    () => {
        "item_id, name, description, category, price_cents, available, stock"
    };
}

macro_rules! order_columns {
    () => {
        "id, status, customer_name, note, lines, total_cents, currency, version, created_at, updated_at"
    };
}

pub(crate) const PING: &str = "SELECT 1";

pub(crate) const HAS_SHOPS: &str = "SELECT EXISTS (SELECT 1 FROM shops)";

/// Returns no row when the slug is taken.
pub(crate) const INSERT_SHOP: &str = "
    INSERT INTO shops (slug, name, currency, staff_key_hash, created_at)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (slug) DO NOTHING
    RETURNING id";

pub(crate) const SHOP_BY_SLUG: &str = "
    SELECT id, slug, name, currency, created_at, staff_key_hash
    FROM shops
    WHERE slug = $1";

pub(crate) const MENU_VERSION: &str = "SELECT menu_version FROM shops WHERE id = $1";

/// Takes the shop row first, so every menu write locks in the same order.
pub(crate) const BUMP_MENU_VERSION: &str = "
    UPDATE shops SET menu_version = menu_version + 1
    WHERE id = $1
    RETURNING menu_version";

pub(crate) const MENU_ITEMS: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM menu_items WHERE shop_id = $1 ORDER BY category, item_id"
);

pub(crate) const ITEM: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM menu_items WHERE shop_id = $1 AND item_id = $2"
);

pub(crate) const ITEM_FOR_UPDATE: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM menu_items WHERE shop_id = $1 AND item_id = $2 FOR UPDATE"
);

pub(crate) const SAVE_ITEM: &str = concat!(
    "INSERT INTO menu_items (shop_id, ",
    item_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (shop_id, item_id) DO UPDATE SET
        name = excluded.name, description = excluded.description,
        category = excluded.category, price_cents = excluded.price_cents,
        available = excluded.available, stock = excluded.stock"
);

pub(crate) const DELETE_ITEM: &str = "DELETE FROM menu_items WHERE shop_id = $1 AND item_id = $2";

/// All or nothing for one item: no row changes when fewer than `$3` are left.
pub(crate) const TAKE_STOCK: &str = "
    UPDATE menu_items SET stock = stock - $3
    WHERE shop_id = $1 AND item_id = $2 AND stock >= $3";

pub(crate) const GIVE_BACK_STOCK: &str = "
    UPDATE menu_items SET stock = stock + $3
    WHERE shop_id = $1 AND item_id = $2 AND stock IS NOT NULL";

pub(crate) const INSERT_ORDER: &str = concat!(
    "INSERT INTO orders (shop_id, ",
    order_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

pub(crate) const ORDER: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE shop_id = $1 AND id = $2"
);

pub(crate) const ORDER_FOR_UPDATE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE shop_id = $1 AND id = $2 FOR UPDATE"
);

/// SKIP LOCKED: baristas on other replicas claim other orders, never wait.
pub(crate) const OLDEST_PLACED: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE shop_id = $1 AND status = 'placed'
    ORDER BY id LIMIT 1
    FOR UPDATE SKIP LOCKED"
);

/// One page, oldest first, optionally of one status; `$4` is one more than the page.
pub(crate) const ORDERS_PAGE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders
    WHERE shop_id = $1 AND id > $2 AND (CAST($3 AS TEXT) IS NULL OR status = $3)
    ORDER BY id LIMIT $4"
);

pub(crate) const UPDATE_ORDER_STATUS: &str = "
    UPDATE orders SET status = $3, version = $4, updated_at = $5
    WHERE shop_id = $1 AND id = $2";

pub(crate) const NEXT_EVENT_SEQ: &str = "
    UPDATE shops SET event_seq = event_seq + 1
    WHERE id = $1
    RETURNING event_seq";

pub(crate) const INSERT_EVENT: &str = "
    INSERT INTO events (shop_id, seq, order_id, data, created_at)
    VALUES ($1, $2, $3, $4, $5)";

pub(crate) const EVENTS_AFTER: &str = "
    SELECT seq, order_id, data FROM events
    WHERE shop_id = $1 AND seq > $2 AND (CAST($3 AS TEXT) IS NULL OR order_id = $3)
    ORDER BY seq LIMIT $4";

pub(crate) const LAST_EVENT_SEQ: &str = "SELECT event_seq FROM shops WHERE id = $1";

/// Claims a key before anything else; a concurrent claim of the same key waits
/// here (on any replica) until this transaction ends. No row: it was taken.
pub(crate) const CLAIM_KEY: &str = "
    INSERT INTO idempotency_keys (shop_id, key, fingerprint, order_id, response, created_at)
    VALUES ($1, $2, $3, '', '', $4)
    ON CONFLICT (shop_id, key) DO NOTHING";

pub(crate) const FIND_KEY: &str = "
    SELECT fingerprint, order_id FROM idempotency_keys
    WHERE shop_id = $1 AND key = $2";

pub(crate) const COMPLETE_KEY: &str = "
    UPDATE idempotency_keys SET order_id = $3, response = $4
    WHERE shop_id = $1 AND key = $2";

/// A statement as SQLite reads it: `?N` parameters, no row-lock clauses.
/// Translated once per statement and kept.
pub(crate) fn for_sqlite(sql: &'static str) -> &'static str {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static TRANSLATED: RefCell<HashMap<&'static str, &'static str>> = RefCell::default();
    }
    TRANSLATED.with(|t| {
        *t.borrow_mut().entry(sql).or_insert_with(|| {
            let text = sql
                .replace(" FOR UPDATE SKIP LOCKED", "")
                .replace(" FOR UPDATE", "")
                .replace('$', "?");
            Box::leak(text.into_boxed_str())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_reads_numbered_parameters_and_no_row_locks() {
        assert_eq!(
            for_sqlite(TAKE_STOCK).trim(),
            "UPDATE menu_items SET stock = stock - ?3\n    WHERE shop_id = ?1 AND item_id = ?2 AND stock >= ?3"
        );
        assert!(!for_sqlite(OLDEST_PLACED).contains("FOR UPDATE"));
        assert!(!for_sqlite(OLDEST_PLACED).contains("SKIP"));
        assert!(!for_sqlite(ITEM_FOR_UPDATE).contains("FOR UPDATE"));
        assert!(
            std::ptr::eq(for_sqlite(ITEM), for_sqlite(ITEM)),
            "kept, not redone"
        );
    }
}
