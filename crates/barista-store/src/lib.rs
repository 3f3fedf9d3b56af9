//! Barista's storage layer.
//!
//! [`Store`] is the one interface the server talks to: every method is a named
//! transaction (`place_order`, `claim_next`), never generic CRUD. Every table
//! is keyed by the shop (tenant) first and every query filters on it.
//!
//! The transactions are written once (`transactions.rs`, over the statements
//! of `sql.rs`), with the domain deciding every rule; a backend (`sqlite/`,
//! `postgres/`) only opens connections, runs statements, and commits. Writes
//! append to the `events` table (a transactional outbox) in the same
//! transaction as the change; the [`Feed`] only wakes readers up, so a reader
//! that misses a wake-up loses nothing: it re-reads the table.
#![forbid(unsafe_code)]

mod conn;
mod db;
mod error;
mod feed;
pub mod postgres;
mod records;
mod schema;
mod sql;
pub mod sqlite;
mod tenants;
pub mod timing;
mod transactions;
mod value;

pub use error::StoreError;
pub use feed::Feed;
pub use records::{Event, EventPos, OrderPage, Placed, PoolStats, Purged};
pub use schema::SCHEMA_VERSION;
pub use tenants::{EXPORT_FORMAT, ShopChange, ShopExport};
pub use transactions::{GroupWrite, ItemWrite, MenuChange};

use async_trait::async_trait;
use barista_domain::{
    Hours, IdempotentRequest, ItemFields, ItemId, ItemPatch, Menu, MenuItem, ModifierGroup,
    NewOrder, NewShop, Order, OrderId, Pause, Shop, Slug, Status,
};
use std::sync::Arc;
use std::time::Duration;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything Barista keeps. Implementations must be safe to share between
/// tasks and must make a write durable before its future resolves.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether any shop exists (an empty database gets the demo shop).
    async fn has_shops(&self) -> Result<bool>;
    /// Creates a shop; `SlugTaken` if the slug is in use.
    async fn create_shop(&self, new: NewShop, staff_key_hash: Vec<u8>) -> Result<Shop>;
    async fn shop(&self, slug: &Slug) -> Result<Option<Shop>>;
    /// The whole menu at its current version.
    async fn menu(&self, shop: &Shop) -> Result<Menu>;
    /// The shop's current menu version, for cheap staleness checks.
    async fn menu_version(&self, shop: &Shop) -> Result<i64>;
    /// (shop id, current menu version) of each of these shops, in a statement
    /// per 64 shops; shops that do not exist are left out.
    async fn menu_versions(&self, shop_ids: &[i64]) -> Result<Vec<(i64, i64)>>;
    /// Creates or replaces an item.
    async fn put_item(&self, shop: &Shop, id: ItemId, fields: ItemFields) -> Result<ItemWrite>;
    /// Changes some fields of an existing item; `NotFound` if there is none.
    async fn patch_item(&self, shop: &Shop, id: ItemId, patch: ItemPatch) -> Result<MenuItem>;
    /// Removes an item; `NotFound` if there is none.
    async fn delete_item(&self, shop: &Shop, id: ItemId) -> Result<()>;
    /// Creates or replaces a modifier group; `Invalid` if a modifier id is another group's.
    async fn put_modifier_group(&self, shop: &Shop, group: ModifierGroup) -> Result<GroupWrite>;
    /// Removes a group no item offers; `NotFound` if there is none.
    async fn delete_modifier_group(&self, shop: &Shop, id: ItemId) -> Result<()>;
    /// Marks a modifier available or not for every item; its group after the change.
    async fn set_modifier_available(
        &self,
        shop: &Shop,
        id: ItemId,
        available: bool,
    ) -> Result<ModifierGroup>;
    /// The shop's opening hours and pause.
    async fn schedule(&self, shop: &Shop) -> Result<(Hours, Option<Pause>)>;
    /// Replaces the shop's opening hours.
    async fn set_hours(&self, shop: &Shop, hours: Hours) -> Result<(Hours, Option<Pause>)>;
    /// The shop's waiting orders and recent ready moves, for pickup estimates.
    async fn queue(&self, shop: &Shop) -> Result<barista_domain::Queue>;
    /// Pauses ordering, or resumes it (`None`).
    async fn set_pause(&self, shop: &Shop, pause: Option<Pause>) -> Result<(Hours, Option<Pause>)>;
    /// Prices the order from the menu, takes stock for every line or none,
    /// records the order and its event, honouring the idempotency key.
    async fn place_order(
        &self,
        shop: &Shop,
        order: NewOrder,
        key: Option<IdempotentRequest>,
    ) -> Result<Placed>;
    async fn order(&self, shop: &Shop, id: OrderId) -> Result<Option<Order>>;
    /// Orders oldest first; returns one page and the cursor of the next, if any.
    async fn list_orders(
        &self,
        shop: &Shop,
        page: OrderPage,
    ) -> Result<(Vec<Order>, Option<OrderId>)>;
    /// Moves the oldest `placed` order to `brewing`; `None` when none is waiting.
    async fn claim_next(&self, shop: &Shop) -> Result<Option<Order>>;
    /// Moves an order along the status machine; cancelling gives stock back.
    async fn set_status(&self, shop: &Shop, id: OrderId, to: Status) -> Result<Order>;
    /// The shop's events after `after`, in stream order (never one before an
    /// earlier event that is not yet committed).
    async fn events_after(&self, shop: &Shop, after: EventPos, limit: usize) -> Result<Vec<Event>>;
    /// One order's events after its version `after`, in order.
    async fn order_events_after(
        &self,
        shop: &Shop,
        order: OrderId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Event>>;
    /// Where a new stream of the shop starts: its last event a reader may see.
    async fn last_event(&self, shop: &Shop) -> Result<EventPos>;
    /// Every shop's events after `after`, in stream order, each with its
    /// shop's id: what one reader per replica reads for all its streams.
    async fn events_after_any(&self, after: EventPos, limit: usize) -> Result<Vec<(i64, Event)>>;
    /// Where that reader starts: the last event of any shop a reader may see.
    async fn last_event_any(&self) -> Result<EventPos>;
    /// Every shop's id (for background work over all shops).
    async fn shop_ids(&self) -> Result<Vec<i64>>;
    /// Deletes, in one small transaction, up to `batch` of the shop's
    /// idempotency keys made before `keys_before` and up to `batch` of its
    /// events from before `events_before`.
    async fn purge(
        &self,
        shop_id: i64,
        keys_before: barista_domain::Timestamp,
        events_before: barista_domain::Timestamp,
        batch: usize,
    ) -> Result<Purged>;
    /// Replaces the shop's staff key (its hash): the old key and its sessions end.
    async fn replace_staff_key(&self, shop: &Shop, staff_key_hash: Vec<u8>) -> Result<Shop>;
    /// Changes a shop's name or standing.
    async fn change_shop(&self, shop: &Shop, change: ShopChange) -> Result<Shop>;
    /// Up to `limit` shops whose slugs sort after `after`, by slug.
    async fn shops(&self, after: &str, limit: i64) -> Result<Vec<Shop>>;
    /// The report of the orders placed in `range`: each row is counted as it
    /// is read (an index range of `orders_by_age`), none is kept.
    async fn report(
        &self,
        shop: &Shop,
        range: &barista_domain::ReportRange,
    ) -> Result<barista_domain::Report>;
    /// How many rows of each table the shop owns.
    async fn shop_rows(&self, shop_id: i64) -> Result<Vec<(&'static str, i64)>>;
    /// All of the shop's data, read in one snapshot.
    async fn export_shop(&self, shop: &Shop) -> Result<ShopExport>;
    /// A shop from an export, under its slug (`SlugTaken` if in use); all or nothing.
    async fn import_shop(&self, export: ShopExport) -> Result<Shop>;
    /// Deletes the shop and every row it owns.
    async fn delete_shop(&self, shop: &Shop) -> Result<()>;
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
    /// What committed writes changed: wake-ups for event readers, menu versions.
    fn feed(&self) -> &Feed;
    /// Connection and commit statistics, for metrics.
    fn pool_stats(&self) -> PoolStats;
    /// Time per kind of call, round trips, and the ping, for metrics.
    fn timings(&self) -> &timing::Timings;
}

/// The database a URL names, with its schema applied.
pub async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(path) => Ok(Arc::new(db::Db::new(
            sqlite::Sqlite::open(&path, options).await?,
        ))),
        DatabaseUrl::Postgres(url) => Ok(Arc::new(db::Db::new(
            postgres::Postgres::open(&url, options).await?,
        ))),
    }
}

/// Tuning that callers may change; the defaults suit production.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// SQLite: how long a write waits for a lock held by another process before giving up (503).
    pub busy_timeout: Duration,
    /// PostgreSQL: connections this replica keeps (the server's limit is shared by all replicas).
    pub pool_size: usize,
    /// PostgreSQL: how long a request waits for a free connection before 503.
    pub pool_timeout: Duration,
    /// PostgreSQL: the longest a statement may run before it is cancelled (503).
    pub statement_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            pool_size: 16,
            pool_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// A `--database` URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                return Err(StoreError::Config(
                    "sqlite URL names no file: use sqlite://FILE".into(),
                ));
            }
            return Ok(Self::Sqlite(rest.into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(StoreError::Config(format!(
            "unsupported database URL {url:?}: use sqlite://FILE or postgres://USER@HOST/DB"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_parsed_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://barista.db").unwrap(),
            DatabaseUrl::Sqlite("barista.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/barista.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/barista.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@localhost/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
