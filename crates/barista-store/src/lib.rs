//! Barista's storage layer.
//!
//! [`Store`] is the one interface the server talks to: every method is a named
//! transaction (`place_order`, `claim_next`), never generic CRUD. Each backend
//! keeps its SQL beside its transactions. Every table is keyed by the shop
//! (tenant) first and every query filters on it.
//!
//! Writes append to the `events` table (a transactional outbox) in the same
//! transaction as the change; [`EventFeed`] only wakes readers up, so a reader
//! that misses a wake-up loses nothing: it re-reads the table.
#![forbid(unsafe_code)]

mod error;
mod feed;
pub mod postgres;
mod pricing;
mod records;
pub mod sqlite;

pub use error::StoreError;
pub use feed::EventFeed;
pub use records::{
    Event, IdempotentRequest, ItemWrite, NewShop, OrderChange, OrderPage, Placed, PoolStats,
    PublicShop, ShopRecord,
};

use async_trait::async_trait;
use barista_domain::{ItemFields, ItemId, ItemPatch, Menu, NewOrder, Order, OrderId, Slug, Status};
use std::sync::Arc;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything Barista keeps. Implementations must be safe to share between
/// tasks and must make a write durable before its future resolves.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether any shop exists (an empty database gets the demo shop).
    async fn has_shops(&self) -> Result<bool>;
    /// Creates a shop; `SlugTaken` if the slug is in use.
    async fn create_shop(&self, shop: NewShop) -> Result<ShopRecord>;
    async fn shop(&self, slug: &Slug) -> Result<Option<ShopRecord>>;
    /// The whole menu at its current version.
    async fn menu(&self, shop: &ShopRecord) -> Result<Menu>;
    /// The shop's current menu version, for cheap staleness checks.
    async fn menu_version(&self, shop: &ShopRecord) -> Result<i64>;
    /// Creates or replaces an item.
    async fn put_item(
        &self,
        shop: &ShopRecord,
        id: ItemId,
        fields: ItemFields,
    ) -> Result<ItemWrite>;
    /// Changes some fields of an existing item; `NotFound` if there is none.
    async fn patch_item(
        &self,
        shop: &ShopRecord,
        id: ItemId,
        patch: ItemPatch,
    ) -> Result<ItemWrite>;
    /// Removes an item; returns the new menu version. `NotFound` if there is none.
    async fn delete_item(&self, shop: &ShopRecord, id: ItemId) -> Result<i64>;
    /// Prices the order from the menu, takes stock for every line or none,
    /// records the order and its event, honouring the idempotency key.
    async fn place_order(
        &self,
        shop: &ShopRecord,
        order: NewOrder,
        key: Option<IdempotentRequest>,
    ) -> Result<Placed>;
    async fn order(&self, shop: &ShopRecord, id: OrderId) -> Result<Option<Order>>;
    /// Orders oldest first; returns one page and the cursor of the next, if any.
    async fn list_orders(
        &self,
        shop: &ShopRecord,
        page: OrderPage,
    ) -> Result<(Vec<Order>, Option<OrderId>)>;
    /// Moves the oldest `placed` order to `brewing`; `None` when none is waiting.
    async fn claim_next(&self, shop: &ShopRecord) -> Result<Option<OrderChange>>;
    /// Moves an order along the status machine; cancelling gives stock back.
    async fn set_status(&self, shop: &ShopRecord, id: OrderId, to: Status) -> Result<OrderChange>;
    /// Events after `after` (exclusive), oldest first, optionally of one order.
    async fn events_after(
        &self,
        shop: &ShopRecord,
        after: i64,
        order: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Event>>;
    /// The shop's latest event sequence number (0 when it has none).
    async fn last_event_seq(&self, shop: &ShopRecord) -> Result<i64>;
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
    /// Wake-ups for event readers.
    fn feed(&self) -> &EventFeed;
    /// Connection and commit statistics, for metrics.
    fn pool_stats(&self) -> PoolStats;
}

/// The database a URL names, with its schema applied.
pub async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(&path, options).await?)),
        DatabaseUrl::Postgres(url) => Ok(Arc::new(postgres::PostgresStore::open(&url).await?)),
    }
}

/// Tuning that callers may change; the defaults suit production.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long a write waits for a lock held by another process before giving up (503).
    pub busy_timeout: std::time::Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            busy_timeout: std::time::Duration::from_secs(5),
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
