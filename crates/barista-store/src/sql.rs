//! Every statement Barista runs, once, for both backends.
//!
//! The text is PostgreSQL's. SQLite reads it through [`for_sqlite`]: `$N`
//! parameters become `?N`, and row-lock clauses (`FOR UPDATE`, `SKIP LOCKED`)
//! are dropped, since SQLite's single writer already runs one write at a time;
//! a statement SQLite cannot read as written (`LATERAL`) has its own spelling
//! beside PostgreSQL's. Only what one backend alone does (PostgreSQL's
//! `pg_notify`, the schemas) lives in that backend.

macro_rules! item_columns {
    () => {
        "item_id, name, description, category, price_cents, available, stock, options"
    };
}

macro_rules! order_columns {
    () => {
        "id, status, customer_name, note, lines, total_cents, currency, version, created_at, updated_at"
    };
}

/// The order columns of `orders o`, for reads that join events to their orders.
macro_rules! joined_order_columns {
    () => {
        "o.id, o.status, o.customer_name, o.note, o.lines, o.total_cents, o.currency, o.version, o.created_at, o.updated_at"
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

/// The shop columns `Row::shop` reads, the last its menu version (as
/// [`MENU_VERSION`]), so a cache of shops can tell when one changed.
macro_rules! shop_columns {
    () => {
        "s.id, s.slug, s.name, s.currency, s.created_at, s.staff_key_hash, s.suspended,
        s.menu_version + CAST(COALESCE(
            (SELECT sum(i.stock_version) FROM menu_items i WHERE i.shop_id = s.id), 0) AS BIGINT)"
    };
}

pub(crate) const SHOP_BY_SLUG: &str = concat!(
    "SELECT ",
    shop_columns!(),
    " FROM shops s WHERE s.slug = $1"
);

pub(crate) const SHOP_BY_ID: &str =
    concat!("SELECT ", shop_columns!(), " FROM shops s WHERE s.id = $1");

/// A page of shops by slug, for the operator.
pub(crate) const SHOPS_AFTER: &str = concat!(
    "SELECT ",
    shop_columns!(),
    " FROM shops s WHERE s.slug > $1 ORDER BY s.slug LIMIT $2"
);

/// A new staff key: every session signed with the old one ends with it, and
/// the raised version tells every replica's cache to read the shop again.
pub(crate) const SET_STAFF_KEY: &str = "
    UPDATE shops SET staff_key_hash = $2, menu_version = menu_version + 1
    WHERE id = $1";

/// The operator's change of a shop's name or standing (`NULL` keeps it).
pub(crate) const UPDATE_SHOP: &str = "
    UPDATE shops SET name = COALESCE($2, name), suspended = COALESCE($3, suspended),
        menu_version = menu_version + 1
    WHERE id = $1";

/// The orders a report counts, a page at a time: an index range of
/// `orders_by_age (shop_id, created_at, id)`, from just after the last order
/// read ($2, $3; an empty id to start) until before $4.
pub(crate) const REPORT_ORDERS: &str = "
    SELECT status, total_cents, lines, created_at, ready_at, id
    FROM orders
    WHERE shop_id = $1 AND created_at >= $2 AND (created_at > $2 OR id > $3) AND created_at < $4
    ORDER BY created_at, id
    LIMIT $5";

/// How many rows of each table the shop owns (`shops` counts its own row).
pub(crate) const SHOP_ROWS: &str = "
    SELECT (SELECT count(*) FROM shops WHERE id = $1),
        (SELECT count(*) FROM menu_items WHERE shop_id = $1),
        (SELECT count(*) FROM modifier_groups WHERE shop_id = $1),
        (SELECT count(*) FROM orders WHERE shop_id = $1),
        (SELECT count(*) FROM order_events WHERE shop_id = $1),
        (SELECT count(*) FROM idempotency_keys WHERE shop_id = $1)";

/// The tables of [`SHOP_ROWS`], in its order.
pub(crate) const SHOP_TABLES: [&str; 6] = [
    "shops",
    "menu_items",
    "modifier_groups",
    "orders",
    "order_events",
    "idempotency_keys",
];

/// Everything a shop owns, children first (their keys reference the shop).
pub(crate) const DELETE_SHOP: &[&str] = &[
    "DELETE FROM order_events WHERE shop_id = $1",
    "DELETE FROM idempotency_keys WHERE shop_id = $1",
    "DELETE FROM orders WHERE shop_id = $1",
    "DELETE FROM modifier_groups WHERE shop_id = $1",
    "DELETE FROM menu_items WHERE shop_id = $1",
    "DELETE FROM shops WHERE id = $1",
];

/// A menu's version: edits count on the shop row, stock changes on each item's
/// row, so an order taking stock never touches the shop row that every order
/// of the shop would otherwise queue on. Every committed change raises the sum.
pub(crate) const MENU_VERSION: &str = "
    SELECT s.menu_version + CAST(COALESCE(
        (SELECT sum(i.stock_version) FROM menu_items i WHERE i.shop_id = s.id), 0) AS BIGINT)
    FROM shops s
    WHERE s.id = $1";

/// How many shops one [`MENU_VERSIONS`] statement checks.
pub(crate) const MENU_VERSIONS_BATCH: usize = 64;

/// Many shops' menu versions (as [`MENU_VERSION`]) in one statement: a
/// replica checks every menu it holds twice a second, and one statement per
/// shop cost the database a round trip per shop per replica. Takes
/// [`MENU_VERSIONS_BATCH`] ids; a shorter list repeats one of its ids.
pub(crate) static MENU_VERSIONS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let ids: Vec<String> = (1..=MENU_VERSIONS_BATCH).map(|i| format!("${i}")).collect();
    format!(
        "SELECT s.id, s.menu_version + CAST(COALESCE(
            (SELECT sum(i.stock_version) FROM menu_items i WHERE i.shop_id = s.id), 0) AS BIGINT)
        FROM shops s
        WHERE s.id IN ({})",
        ids.join(", ")
    )
});

/// Counts a menu edit. The shop row is the first lock every menu edit takes,
/// so two edits of one shop never deadlock; `$2` is how much the edit takes
/// away from the items' counts (a removed item's), so the version still grows.
pub(crate) const COUNT_MENU_EDIT: &str = "
    UPDATE shops SET menu_version = menu_version + 1 + $2
    WHERE id = $1";

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
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (shop_id, item_id) DO UPDATE SET
        name = excluded.name, description = excluded.description,
        category = excluded.category, price_cents = excluded.price_cents,
        available = excluded.available, stock = excluded.stock,
        options = excluded.options"
);

/// The shop's modifier groups, by id: few, and read whole.
pub(crate) const MODIFIER_GROUPS: &str = "
    SELECT group_id, name, min_select, max_select, modifiers
    FROM modifier_groups WHERE shop_id = $1 ORDER BY group_id";

pub(crate) const SAVE_MODIFIER_GROUP: &str = "
    INSERT INTO modifier_groups (shop_id, group_id, name, min_select, max_select, modifiers)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (shop_id, group_id) DO UPDATE SET
        name = excluded.name, min_select = excluded.min_select,
        max_select = excluded.max_select, modifiers = excluded.modifiers";

pub(crate) const DELETE_MODIFIER_GROUP: &str = "
    DELETE FROM modifier_groups WHERE shop_id = $1 AND group_id = $2";

/// The items that offer some group: those whose options are not empty.
pub(crate) const ITEMS_WITH_OPTIONS: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM menu_items WHERE shop_id = $1 AND options <> '' ORDER BY item_id"
);

/// When the shop takes orders: its zone, weekly hours and dated exceptions,
/// and pause; and its count of menu edits, which says whether modifier groups
/// read before are still the shop's (`transactions::GroupsCache`).
/// Read by every order too: `suspended` there stops orders on every replica
/// as soon as the suspension commits, whatever the replicas' caches hold.
pub(crate) const SCHEDULE: &str = "
    SELECT time_zone, hours, paused_until, menu_version, suspended FROM shops WHERE id = $1";

pub(crate) const SAVE_SCHEDULE: &str = "
    UPDATE shops SET time_zone = $2, hours = $3, menu_version = menu_version + 1
    WHERE id = $1";

pub(crate) const SAVE_PAUSE: &str = "
    UPDATE shops SET paused_until = $2, menu_version = menu_version + 1
    WHERE id = $1";

/// The oldest orders in one status (`placed` or `brewing`), in queue order:
/// read in the order of the index of orders by status, so a shop with a
/// million orders waiting (a load test that never brews) reads only these.
pub(crate) const WAITING: &str = "
    SELECT created_at, id FROM orders
    WHERE shop_id = $1 AND status = $2
    ORDER BY created_at, id
    LIMIT 1000";

/// When the shop's latest orders became ready, and when each was claimed,
/// newest first: the shop's events read backwards in stream order until
/// enough ready moves are found, each order's claim by its own events.
pub(crate) const RECENT_READY: &str = "
    SELECT r.at, (SELECT max(b.at) FROM order_events b
                  WHERE b.shop_id = r.shop_id AND b.order_id = r.order_id AND b.status = 'brewing')
    FROM order_events r
    WHERE r.shop_id = $1 AND r.status = 'ready'
    ORDER BY r.tx DESC, r.pos DESC
    LIMIT $2";

/// The removed item's count of stock changes, which the menu version keeps.
pub(crate) const DELETE_ITEM: &str = "
    DELETE FROM menu_items WHERE shop_id = $1 AND item_id = $2
    RETURNING stock_version";

/// All or nothing for one item: no row changes when fewer than `$3` are left.
pub(crate) const TAKE_STOCK: &str = "
    UPDATE menu_items SET stock = stock - $3, stock_version = stock_version + 1
    WHERE shop_id = $1 AND item_id = $2 AND stock >= $3";

pub(crate) const GIVE_BACK_STOCK: &str = "
    UPDATE menu_items SET stock = stock + $3, stock_version = stock_version + 1
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
    ORDER BY created_at, id LIMIT 1
    FOR UPDATE SKIP LOCKED"
);

/// Where a page goes on from: the last order of the previous page, whose
/// place in `(created_at, id)` the next page starts after (ids are random).
pub(crate) const PAGE_CURSOR: &str = "
    SELECT created_at, id FROM orders WHERE shop_id = $1 AND id = $2";

/// One page of the shop's orders, oldest first, after `($2, $3)` in
/// `(created_at, id)`; `$4` is one more than the page. A range of the index
/// of orders by age: the page costs its own rows, however many orders the
/// shop has. (One statement with an optional status and an optional cursor,
/// written as `$3 IS NULL OR status = $3`, could use neither index for a
/// range and read every order the shop ever had.)
pub(crate) const ORDERS_PAGE: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders
    WHERE shop_id = $1 AND (created_at, id) > ($2, $3)
    ORDER BY created_at, id LIMIT $4"
);

/// [`ORDERS_PAGE`] of one status `$5`: a range of the index of orders by status.
pub(crate) const ORDERS_PAGE_OF_STATUS: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders
    WHERE shop_id = $1 AND status = $5 AND (created_at, id) > ($2, $3)
    ORDER BY created_at, id LIMIT $4"
);

/// `ready_at` keeps the first time an order was ready, for the takings'
/// time to ready (events are purged after a week; reports go back further).
pub(crate) const UPDATE_ORDER_STATUS: &str = "
    UPDATE orders SET status = $3, version = $4, updated_at = $5,
        ready_at = CASE WHEN $3 = 'ready' AND ready_at IS NULL THEN $5 ELSE ready_at END
    WHERE shop_id = $1 AND id = $2";

/// An order's event: what changed, when. The rest of the order is read from
/// its row, so an order is stored once. `tx` and `pos` are the event's place in
/// its shop's stream (see `EVENTS_AFTER`); each database fills them in.
pub(crate) const INSERT_EVENT: &str = "
    INSERT INTO order_events (shop_id, order_id, status, version, at)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING tx, pos";

/// A shop's events after `($2, $3)`, in `(tx, pos)` order: the order in which
/// they must be delivered, with no event ever visible before an earlier one.
///
/// Events are numbered without a shop-wide counter (which would make a shop's
/// orders commit one at a time). On PostgreSQL `tx` is the id of the writing
/// transaction and `pos` comes from a sequence; ids are handed out in order but
/// transactions commit in any order, so a reader takes only events of
/// transactions older than every one still running (`barista_horizon()`, the
/// snapshot's `xmin`): those are all finished, so nothing can later appear
/// before what was read. On SQLite the single writer commits in order: `tx` is
/// 0 and the horizon is never reached.
pub(crate) const EVENTS_AFTER: &str = concat!(
    "SELECT e.tx, e.pos, e.status, e.version, e.at, ",
    joined_order_columns!(),
    " FROM order_events e
    JOIN orders o ON o.shop_id = e.shop_id AND o.id = e.order_id
    WHERE e.shop_id = $1 AND (e.tx > $2 OR (e.tx = $2 AND e.pos > $3))
        AND e.tx < barista_horizon()
    ORDER BY e.tx, e.pos
    LIMIT $4"
);

/// A page of every shop's events (`EVENTS_AFTER_ANY`), each with its order
/// `o` and its shop `s`, joined as `$join` says.
macro_rules! events_of_every_shop {
    ($join:expr) => {
        concat!(
            "SELECT e.tx, e.pos, e.status, e.version, e.at, ",
            joined_order_columns!(),
            ", e.shop_id, s.slug
    FROM (
        SELECT tx, pos, shop_id, order_id, status, version, at FROM order_events
        WHERE tx >= $1 AND (tx > $1 OR pos > $2) AND tx < barista_horizon()
        ORDER BY tx, pos
        LIMIT $3
    ) e
    ",
            $join,
            "
    ORDER BY e.tx, e.pos"
        )
    };
}

/// Every shop's events after `($1, $2)`, in `(tx, pos)` order, with their
/// shop: the one reader per replica that feeds all its streams (`hub.rs`).
/// The same visibility rule as `EVENTS_AFTER`. The page of events is taken
/// first, then each event's order and shop by their keys, one index lookup
/// each: a `LATERAL` subquery with `LIMIT 1` is not flattened into a join, so
/// the plan does not hang on the statistics. With plain joins it did: a
/// generic plan hashed the whole `orders` table, and before the tables were
/// first analyzed the plan found orders by shop alone and filtered all of the
/// shop's orders for each event, a read that grew with every order placed
/// (0.4 ms at the start of `bench/saas`, 1.7 ms a minute later, when the
/// four replicas' readers took a quarter of the database's core).
pub(crate) const EVENTS_AFTER_ANY: &str = events_of_every_shop!(concat!(
    "CROSS JOIN LATERAL (SELECT ",
    order_columns!(),
    " FROM orders WHERE shop_id = e.shop_id AND id = e.order_id LIMIT 1) o
    CROSS JOIN LATERAL (SELECT slug FROM shops WHERE id = e.shop_id LIMIT 1) s"
));

/// [`EVENTS_AFTER_ANY`] as SQLite spells it: it has no `LATERAL`, and its
/// planner looks each joined row up by its primary key anyway.
const EVENTS_AFTER_ANY_SQLITE: &str = events_of_every_shop!(
    "JOIN orders o ON o.shop_id = e.shop_id AND o.id = e.order_id
    JOIN shops s ON s.id = e.shop_id"
);

/// Statements SQLite spells otherwise, beside PostgreSQL's text.
const SQLITE_SPELLINGS: &[(&str, &str)] = &[(EVENTS_AFTER_ANY, EVENTS_AFTER_ANY_SQLITE)];

/// Where the reader of every shop's events starts: the last event it may see.
pub(crate) const LAST_EVENT_ANY: &str = "
    SELECT tx, pos FROM order_events
    WHERE tx < barista_horizon()
    ORDER BY tx DESC, pos DESC
    LIMIT 1";

/// One order's events after version `$3`: its own changes are serialized by
/// its row lock, so their versions are their order.
pub(crate) const ORDER_EVENTS_AFTER: &str = concat!(
    "SELECT e.tx, e.pos, e.status, e.version, e.at, ",
    joined_order_columns!(),
    " FROM order_events e
    JOIN orders o ON o.shop_id = e.shop_id AND o.id = e.order_id
    WHERE e.shop_id = $1 AND e.order_id = $2 AND e.version > $3
    ORDER BY e.version
    LIMIT $4"
);

/// Where a new stream of the shop starts: its last event a reader may see.
pub(crate) const LAST_EVENT: &str = "
    SELECT tx, pos FROM order_events
    WHERE shop_id = $1 AND tx < barista_horizon()
    ORDER BY tx DESC, pos DESC
    LIMIT 1";

/// Claims a key before anything else; a concurrent claim of the same key waits
/// here (on any replica) until this transaction ends. No row: it was taken.
/// The key names the order this transaction is about to place (the claim
/// rolls back with it if it fails).
pub(crate) const CLAIM_KEY: &str = "
    INSERT INTO idempotency_keys (shop_id, key, fingerprint, order_id, created_at)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (shop_id, key) DO NOTHING";

pub(crate) const FIND_KEY: &str = "
    SELECT fingerprint, order_id FROM idempotency_keys
    WHERE shop_id = $1 AND key = $2";

pub(crate) const SHOP_IDS: &str = "SELECT id FROM shops ORDER BY id";

/// What a serving replica runs on most requests: prepared on each PostgreSQL
/// connection as it opens (`postgres::warm`), so its first requests do not
/// wait for the backend to load its catalogs and plan them.
pub(crate) const SERVING: &[&str] = &[
    SHOP_BY_SLUG,
    MENU_VERSION,
    MENU_ITEMS,
    ITEM_FOR_UPDATE,
    TAKE_STOCK,
    CLAIM_KEY,
    FIND_KEY,
    INSERT_ORDER,
    ORDER,
    ORDER_FOR_UPDATE,
    OLDEST_PLACED,
    UPDATE_ORDER_STATUS,
    INSERT_EVENT,
    EVENTS_AFTER,
    EVENTS_AFTER_ANY,
    ORDER_EVENTS_AFTER,
    LAST_EVENT,
    LAST_EVENT_ANY,
];

/// Up to `$3` of a shop's idempotency keys made before `$2`, oldest first
/// (found through `idempotency_keys_by_age`, so the batch costs its size).
pub(crate) const PURGE_KEYS: &str = "
    DELETE FROM idempotency_keys
    WHERE shop_id = $1 AND key IN (
        SELECT key FROM idempotency_keys
        WHERE shop_id = $1 AND created_at < $2
        ORDER BY created_at
        LIMIT $3)";

/// When a shop's first event (in stream order) was written: before it is
/// old, none is, and [`PURGE_EVENTS`] is not run (one index probe, where the
/// delete would read its whole batch of events to find none).
pub(crate) const OLDEST_EVENT_AT: &str = "
    SELECT at FROM order_events
    WHERE shop_id = $1
    ORDER BY tx, pos
    LIMIT 1";

/// Of a shop's `$3` oldest events (in stream order, through
/// `order_events_in_order`), those before `$2`. Looking at a bounded number of
/// rows keeps the batch small even when few are old: events are written in
/// time order, so the oldest in the stream are the oldest in time.
pub(crate) const PURGE_EVENTS: &str = "
    DELETE FROM order_events
    WHERE shop_id = $1 AND at < $2 AND (tx, pos) IN (
        SELECT tx, pos FROM order_events
        WHERE shop_id = $1
        ORDER BY tx, pos
        LIMIT $3)";

/// A statement as SQLite reads it: its own spelling where it has one
/// ([`SQLITE_SPELLINGS`]), `?N` parameters, no row-lock clauses, and no
/// horizon (its writer commits in order). Translated once and kept.
pub(crate) fn for_sqlite(sql: &'static str) -> &'static str {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static TRANSLATED: RefCell<HashMap<&'static str, &'static str>> = RefCell::default();
    }
    TRANSLATED.with(|t| {
        *t.borrow_mut().entry(sql).or_insert_with(|| {
            let own = SQLITE_SPELLINGS.iter().find(|(pg, _)| *pg == sql);
            let text = own
                .map_or(sql, |(_, lite)| lite)
                .replace(" FOR UPDATE SKIP LOCKED", "")
                .replace(" FOR UPDATE", "")
                .replace("barista_horizon()", "9223372036854775807")
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
            for_sqlite(UPDATE_ORDER_STATUS)
                .lines()
                .last()
                .unwrap()
                .trim(),
            "WHERE shop_id = ?1 AND id = ?2"
        );
        assert!(for_sqlite(EVENTS_AFTER).contains("e.tx < 9223372036854775807"));
        assert!(!for_sqlite(OLDEST_PLACED).contains("FOR UPDATE"));
        assert!(!for_sqlite(OLDEST_PLACED).contains("SKIP"));
        assert!(!for_sqlite(ITEM_FOR_UPDATE).contains("FOR UPDATE"));
        assert!(EVENTS_AFTER_ANY.contains("LATERAL"));
        assert!(!for_sqlite(EVENTS_AFTER_ANY).contains("LATERAL"));
        assert!(
            std::ptr::eq(for_sqlite(ITEM), for_sqlite(ITEM)),
            "kept, not redone"
        );
    }
}
