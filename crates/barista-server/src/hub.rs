//! One reader per shop, fanned out in memory to every stream of the shop.
//!
//! A shop's *tail* is a task that exists while the shop has a stream open: it
//! is woken by the store's feed, reads the shop's new events once, and sends
//! them to every subscriber over a broadcast channel. So 10,000 streams on one
//! shop cost one database read per batch of events, not 10,000.
//!
//! Why no event is lost between a stream's own read and the tail's batches:
//! a subscriber subscribes first and reads its backlog from the store after.
//! The tail's position is never past what was readable when it was taken, and
//! an event readable only after the subscriber's last read has a position past
//! everything readable before it (the store's rule, see `sql.rs`), so the tail
//! sends it after the subscription. A subscriber that falls behind the channel
//! (`Lagged`) reads the store again from where it is; nothing is skipped.

use barista_store::{Event, EventPos, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Events read from the table per query.
pub const PAGE: usize = 256;
/// Batches a subscriber may be behind before it reads the store itself.
const CHANNEL: usize = 256;
/// How soon to read again when an event is known to be committed but an older
/// transaction still runs, so it is not yet readable (see `sql.rs`).
const BEHIND: Duration = Duration::from_millis(20);
/// A tail reads again at least this often, whatever it heard.
const RECHECK: Duration = Duration::from_secs(5);

/// One of a shop's events as streams send it: the order serialized once,
/// however many streams send it.
#[derive(Debug, Clone)]
pub struct Published {
    pub pos: EventPos,
    pub order: barista_domain::OrderId,
    pub version: i64,
    pub is_final: bool,
    /// The order after the change, as JSON.
    pub data: Arc<str>,
}

impl From<Event> for Published {
    fn from(event: Event) -> Published {
        Published {
            pos: event.pos,
            order: event.order.id,
            version: event.order.version,
            is_final: event.order.status.is_final(),
            data: serde_json::to_string(&event.order)
                .unwrap_or_default()
                .into(),
        }
    }
}

/// A batch of a shop's events, in position order.
pub type Batch = Arc<[Published]>;

/// How many streams may be open.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub total: usize,
    pub per_shop: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            total: 12_000,
            per_shop: 10_000,
        }
    }
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Server,
    Shop,
}

type Tails = Arc<Mutex<HashMap<i64, broadcast::Sender<Batch>>>>;

fn lock(tails: &Tails) -> std::sync::MutexGuard<'_, HashMap<i64, broadcast::Sender<Batch>>> {
    tails.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Hub {
    store: Arc<dyn Store>,
    limits: StreamLimits,
    /// A `std` mutex: held to look up, insert or remove a tail, never across `.await`.
    tails: Tails,
    open: Arc<AtomicUsize>,
    draining: watch::Receiver<bool>,
}

/// A stream's place in its shop's fan-out; counted until dropped.
pub struct Subscription {
    pub batches: broadcast::Receiver<Batch>,
    open: Arc<AtomicUsize>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a stream could not subscribe.
#[derive(Debug)]
pub enum SubscribeError {
    Full(Full),
    Store(barista_store::StoreError),
}

impl From<Full> for SubscribeError {
    fn from(full: Full) -> Self {
        SubscribeError::Full(full)
    }
}

impl From<barista_store::StoreError> for SubscribeError {
    fn from(e: barista_store::StoreError) -> Self {
        SubscribeError::Store(e)
    }
}

impl Hub {
    pub fn new(
        store: Arc<dyn Store>,
        limits: StreamLimits,
        draining: watch::Receiver<bool>,
    ) -> Self {
        Self {
            store,
            limits,
            tails: Arc::default(),
            open: Arc::new(AtomicUsize::new(0)),
            draining,
        }
    }

    /// Open streams, on every shop.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Shops with a tail running.
    pub fn tails(&self) -> usize {
        lock(&self.tails).len()
    }

    /// Subscribes to the shop's events; starts its tail if it has none.
    /// The caller reads its backlog from the store *after* this returns.
    pub async fn subscribe(
        &self,
        shop: &barista_domain::Shop,
    ) -> Result<Subscription, SubscribeError> {
        if let Some(sender) = lock(&self.tails).get(&shop.id) {
            return Ok(self.admit(sender)?);
        }
        // The tail starts where the store is now, read before any subscriber's backlog.
        let wake = self.store.feed().subscribe(shop.id);
        let after = self.store.last_event(shop).await?;
        let mut tails = lock(&self.tails);
        if let Some(sender) = tails.get(&shop.id) {
            // Another stream started the tail meanwhile.
            return Ok(self.admit(sender)?);
        }
        let (sender, _) = broadcast::channel(CHANNEL);
        let sub = self.admit(&sender)?;
        tails.insert(shop.id, sender.clone());
        drop(tails);
        let tail = Tail {
            store: self.store.clone(),
            shop: shop.clone(),
            tails: self.tails.clone(),
            sender,
            wake,
            draining: self.draining.clone(),
            after,
        };
        tokio::spawn(tail.run());
        Ok(sub)
    }

    /// Counts a new subscriber, within the limits. Called with the lock held,
    /// so a tail never stops between being found and being subscribed to.
    fn admit(&self, sender: &broadcast::Sender<Batch>) -> Result<Subscription, Full> {
        if sender.receiver_count() >= self.limits.per_shop {
            return Err(Full::Shop);
        }
        if self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.limits.total).then_some(n + 1)
            })
            .is_err()
        {
            return Err(Full::Server);
        }
        Ok(Subscription {
            batches: sender.subscribe(),
            open: self.open.clone(),
        })
    }
}

/// The one reader of a shop's events.
struct Tail {
    store: Arc<dyn Store>,
    shop: barista_domain::Shop,
    tails: Tails,
    sender: broadcast::Sender<Batch>,
    wake: watch::Receiver<EventPos>,
    draining: watch::Receiver<bool>,
    after: EventPos,
}

impl Tail {
    async fn run(mut self) {
        loop {
            if *self.draining.borrow() || self.stop_if_unheard() {
                break;
            }
            let pause = match self.store.events_after(&self.shop, self.after, PAGE).await {
                Ok(events) if !events.is_empty() => {
                    if let Some(last) = events.last() {
                        self.after = last.pos;
                    }
                    let full = events.len() == PAGE;
                    let batch: Batch = events.into_iter().map(Published::from).collect();
                    // No receiver left is noticed at the top of the loop.
                    let _ = self.sender.send(batch);
                    if full {
                        continue;
                    }
                    Duration::ZERO
                }
                Ok(_) if *self.wake.borrow() > self.after => BEHIND,
                Ok(_) => RECHECK,
                Err(e) => {
                    tracing::warn!(shop = %self.shop.slug, error = %e, "a shop's events could not be read; retrying");
                    Duration::from_secs(1)
                }
            };
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                woken = self.wake.changed() => if woken.is_err() { break },
                _ = self.draining.changed() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        self.stop();
    }

    /// Stops the tail when no stream listens; under the lock, so a stream
    /// that joins at the same moment finds no tail and starts a new one.
    fn stop_if_unheard(&self) -> bool {
        let mut tails = lock(&self.tails);
        if self.sender.receiver_count() > 0 {
            return false;
        }
        tails.remove(&self.shop.id);
        true
    }

    fn stop(&self) {
        let mut tails = lock(&self.tails);
        if tails
            .get(&self.shop.id)
            .is_some_and(|s| s.same_channel(&self.sender))
        {
            tails.remove(&self.shop.id);
        }
    }
}
