//! The values store transactions take and return, beside the domain types.

use barista_domain::{Order, OrderId, Status};

/// What one purge batch deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub keys: u64,
    pub events: u64,
}

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

/// An event's place in its shop's stream: events are delivered in this order.
/// `tx` is 0 on SQLite. Shown to clients as `pos` or `tx.pos` (the `id:` of the
/// shop's event stream), which is what `Last-Event-ID` sends back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventPos {
    pub tx: i64,
    pub pos: i64,
}

impl std::fmt::Display for EventPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.tx == 0 {
            write!(f, "{}", self.pos)
        } else {
            write!(f, "{}.{}", self.tx, self.pos)
        }
    }
}

impl std::str::FromStr for EventPos {
    type Err = ();

    /// `pos` or `tx.pos`, each a number of at most 18 digits.
    fn from_str(text: &str) -> Result<Self, ()> {
        let number = |t: &str| {
            (!t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<i64>().ok())
                .flatten()
                .ok_or(())
        };
        match text.split_once('.') {
            Some((tx, pos)) => Ok(EventPos {
                tx: number(tx)?,
                pos: number(pos)?,
            }),
            None => Ok(EventPos {
                tx: 0,
                pos: number(text)?,
            }),
        }
    }
}

/// An event: the order as it was after the change, and its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub pos: EventPos,
    pub order: Order,
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
    /// Time the single writer spent on batches (SQLite; PostgreSQL has no one writer).
    pub writer_busy_micros: Option<u64>,
}
