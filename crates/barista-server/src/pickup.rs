//! Pickup estimates: each shop's queue (its waiting orders and recent ready
//! moves, `barista_domain::Queue`) read once and shared by every order placed,
//! read and streamed on this replica meanwhile, so 10,000 customers watching
//! one shop's queue cost one read of it per change, not 10,000.

use barista_domain::{Order, OrderId, Pickup, Queue, Shop, Status, Timestamp};
use barista_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How old a queue may be for an order placed or read: a second's worth of
/// orders ahead that became ready since makes the estimate a little long.
pub const FRESH: Duration = Duration::from_secs(1);

/// A shop's queue as last read, when that read started, and the orders this
/// replica placed since then (sorted like the queue), which it cannot hold.
/// The read's lock is held across a read, so callers that want one queue
/// wait for one read; the list's is a `std` lock, held for a moment.
#[derive(Default)]
struct Held {
    read: tokio::sync::Mutex<Option<(Instant, Arc<Queue>)>>,
    since: Mutex<Since>,
}

/// Orders placed here, in queue order, and when each was noted.
#[derive(Default)]
struct Since {
    keys: Vec<(Timestamp, OrderId)>,
    noted: Vec<Instant>,
}

type Slot = Arc<Held>;

#[derive(Default)]
pub struct Queues {
    /// A `std` lock for the map, held for a lookup; each shop's own lock is
    /// held across its read, so callers that want one queue wait for one read.
    shops: Mutex<HashMap<i64, Slot>>,
}

impl Queues {
    fn slot(&self, shop_id: i64) -> Slot {
        self.shops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(shop_id)
            .or_default()
            .clone()
    }

    /// The estimate at `now` for a waiting order, from the shop's queue as
    /// read at or after `read_after`, and the orders placed here since.
    pub async fn get(
        &self,
        store: &dyn Store,
        shop: &Shop,
        read_after: Instant,
        order: (&OrderId, Timestamp),
    ) -> Result<Pickup, StoreError> {
        let held = self.slot(shop.id);
        let mut read = held.read.lock().await;
        let queue = match &*read {
            Some((at, queue)) if *at >= read_after => queue.clone(),
            _ => {
                let started = Instant::now();
                let queue = Arc::new(store.queue(shop).await?);
                *read = Some((started, queue.clone()));
                // What this read may hold no longer needs keeping.
                let mut since = lock(&held.since);
                let Since { keys, noted } = &mut *since;
                let mut i = 0;
                keys.retain(|_| {
                    i += 1;
                    noted[i - 1] >= started
                });
                noted.retain(|at| *at >= started);
                queue
            }
        };
        drop(read);
        let since = lock(&held.since);
        Ok(queue.estimate(&since.keys, order.0, order.1, Timestamp::now()))
    }

    /// An order this replica placed: counted ahead of later orders until a
    /// read of the queue holds it.
    pub fn placed(&self, shop_id: i64, order: &Order) {
        let held = self.slot(shop_id);
        let mut since = lock(&held.since);
        let key = (order.created_at, order.id);
        let at = since.keys.partition_point(|k| *k < key);
        since.keys.insert(at, key);
        since.noted.insert(at, Instant::now());
    }

    /// The estimate for `order` if it waits (placed or brewing), from a queue
    /// at most [`FRESH`] old. A queue that cannot be read gives none: the
    /// order's answer does not fail for want of an estimate.
    pub async fn estimate(&self, store: &dyn Store, shop: &Shop, order: &Order) -> Option<Pickup> {
        if !matches!(order.status, Status::Placed | Status::Brewing) {
            return None;
        }
        let read_after = Instant::now()
            .checked_sub(FRESH)
            .unwrap_or_else(Instant::now);
        match self
            .get(store, shop, read_after, (&order.id, order.created_at))
            .await
        {
            Ok(pickup) => Some(pickup),
            Err(e) => {
                tracing::warn!(error = %e, "no pickup estimate: the queue could not be read");
                None
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An order's JSON with its estimate, when it has one, as `pickup`.
pub fn with_pickup(order: &Order, pickup: Option<&Pickup>) -> serde_json::Result<Vec<u8>> {
    let mut body = serde_json::to_vec(order)?;
    if let Some(pickup) = pickup
        && body.last() == Some(&b'}')
    {
        body.pop();
        body.extend_from_slice(b",\"pickup\":");
        serde_json::to_writer(&mut body, pickup)?;
        body.push(b'}');
    }
    Ok(body)
}
