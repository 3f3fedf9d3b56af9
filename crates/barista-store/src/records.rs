//! The values store transactions take and return, beside the domain types.

use barista_domain::{Currency, IdempotencyKey, MenuItem, Order, OrderId, Slug, Status, Timestamp};
use serde::Serialize;

/// A shop as clients see it.
#[derive(Debug, Serialize)]
pub struct PublicShop<'a> {
    pub slug: &'a Slug,
    pub name: &'a str,
    pub currency: Currency,
    pub created_at: Timestamp,
}

/// A shop as stored, with what only the server may see (its id and key hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopRecord {
    pub id: i64,
    pub slug: Slug,
    pub name: String,
    pub currency: Currency,
    pub created_at: Timestamp,
    /// SHA-256 of the staff key: the key itself is never stored.
    pub staff_key_hash: Vec<u8>,
}

impl ShopRecord {
    /// The public form (docs/api.md's Shop).
    pub fn public(&self) -> PublicShop<'_> {
        PublicShop {
            slug: &self.slug,
            name: &self.name,
            currency: self.currency,
            created_at: self.created_at,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewShop {
    pub slug: Slug,
    pub name: String,
    pub currency: Currency,
    pub staff_key_hash: Vec<u8>,
}

/// An idempotency key with the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    pub key: IdempotencyKey,
    pub fingerprint: Vec<u8>,
}

/// The result of `place_order`.
#[derive(Debug, Clone)]
pub enum Placed {
    Created {
        order: Order,
        /// The order's JSON, as stored for replays and events.
        json: String,
        /// Set when the order took stock, which changes the menu.
        menu_version: Option<i64>,
    },
    /// The key was seen with the same request: the first response's body.
    Replayed { order_id: OrderId, json: String },
}

/// An item after a write, and the menu version that write produced.
#[derive(Debug, Clone)]
pub struct ItemWrite {
    pub item: MenuItem,
    pub created: bool,
    pub menu_version: i64,
}

/// An order after a status change.
#[derive(Debug, Clone)]
pub struct OrderChange {
    pub order: Order,
    /// Set when the change gave stock back (a cancel), which changes the menu.
    pub menu_version: Option<i64>,
}

/// Which page of orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderPage {
    pub status: Option<Status>,
    pub after: Option<OrderId>,
    pub limit: usize,
}

/// One row of the events table: the order as it was after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub order_id: OrderId,
    pub data: String,
}

/// How the database connections are used, for metrics.
#[derive(Debug, Clone, Default)]
pub struct PoolStats {
    pub idle: u64,
    pub in_use: u64,
    pub max: u64,
    /// Total time operations waited for a connection (or, for writes, the writer).
    pub wait_micros: u64,
    pub waits: u64,
    /// Write transactions committed.
    pub commits: u64,
    /// Write requests those transactions carried.
    pub committed_writes: u64,
}
