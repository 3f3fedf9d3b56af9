//! The values store transactions take and return, beside the domain types.

use barista_domain::{Order, OrderId, Status};

/// The result of `place_order`.
#[derive(Debug, Clone)]
pub enum Placed {
    Created(Order),
    /// The key was seen with the same request: the order as that first answer showed it.
    Replayed(Order),
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
