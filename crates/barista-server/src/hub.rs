//! One reader of events per replica, fanned out in memory to every stream.
//!
//! While any stream is open the replica runs one *reader*: woken by the
//! store's feed, it reads every shop's new events in one query and sends each
//! shop's over that shop's broadcast channel. So 10,000 streams on one shop
//! cost one read per batch of events, not 10,000; and 100 shops with streams
//! on four replicas cost each replica one read per batch, not one per shop.
//! What commits within `GAP` of a read goes in the next one.
//!
//! Why no event is lost between a stream's own read and the reader's batches:
//! a subscriber subscribes first and reads its backlog from the store after.
//! The reader's position is never past what was readable when it was taken,
//! and an event readable only after the subscriber's last read has a position
//! past everything readable before it (the store's rule, see `sql.rs`), so the
//! reader sends it after the subscription. An event the reader read before a
//! shop had a channel was readable before that shop's first subscriber read
//! its backlog. A subscriber that falls behind the channel (`Lagged`) reads
//! the store again from where it is; nothing is skipped.

use barista_store::{Event, EventPos, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// Events read from the table per query.
pub const PAGE: usize = 256;
/// Batches a subscriber may be behind before it reads the store itself.
const CHANNEL: usize = 256;
/// How soon to read again when an event is known to be committed but an older
/// transaction still runs, so it is not yet readable (see `sql.rs`).
const BEHIND: Duration = Duration::from_millis(20);
/// The reader reads again at least this often, whatever it heard.
const RECHECK: Duration = Duration::from_secs(5);
/// The shortest time between two reads that are not pages of one backlog:
/// what commits meanwhile is read together.
const GAP: Duration = Duration::from_millis(25);
/// How often shops whose last stream closed lose their channel.
const SWEEP: Duration = Duration::from_secs(1);

/// One of a shop's events as streams send it: the order serialized once,
/// however many streams send it.
#[derive(Debug, Clone)]
pub struct Published {
    pub pos: EventPos,
    pub order: barista_domain::OrderId,
    pub version: i64,
    pub status: barista_domain::Status,
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
            status: event.order.status,
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

/// The shops with a channel, and whether the reader runs.
#[derive(Default)]
struct Channels {
    shops: HashMap<i64, broadcast::Sender<Batch>>,
    reading: bool,
}

type Tails = Arc<Mutex<Channels>>;

fn lock(tails: &Tails) -> std::sync::MutexGuard<'_, Channels> {
    tails.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Hub {
    store: Arc<dyn Store>,
    limits: StreamLimits,
    /// A `std` mutex: held to look up, insert or remove a channel, never across `.await`.
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

    /// What ends every stream of a shop at once (its key was replaced, it was
    /// suspended or deleted): its channel is dropped, so each of its streams
    /// ends and its client, reconnecting, is asked for its credentials again.
    pub fn closer(&self) -> impl Fn(i64) + Send + Sync + 'static {
        let tails = self.tails.clone();
        move |shop_id| {
            lock(&tails).shops.remove(&shop_id);
        }
    }

    /// Open streams, on every shop.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Subscribes to the shop's events; starts the reader if none runs.
    /// The caller reads its backlog from the store *after* this returns.
    pub async fn subscribe(
        &self,
        shop: &barista_domain::Shop,
    ) -> Result<Subscription, SubscribeError> {
        {
            let mut tails = lock(&self.tails);
            if tails.reading {
                return Ok(self.join(&mut tails, shop.id)?);
            }
        }
        // The reader starts where the store is now, read before any subscriber's backlog.
        let wake = self.store.feed().subscribe();
        let after = self.store.last_event_any().await?;
        let mut tails = lock(&self.tails);
        if !tails.reading {
            tails.reading = true;
            let reader = Reader {
                store: self.store.clone(),
                tails: self.tails.clone(),
                wake,
                draining: self.draining.clone(),
                after,
            };
            tokio::spawn(reader.run());
        }
        Ok(self.join(&mut tails, shop.id)?)
    }

    /// Joins the shop's channel (made if it has none), within the limits.
    /// Called with the lock held, so the reader never drops a channel
    /// between its being found and its being subscribed to.
    fn join(&self, tails: &mut Channels, shop_id: i64) -> Result<Subscription, Full> {
        let sender = tails
            .shops
            .entry(shop_id)
            .or_insert_with(|| broadcast::channel(CHANNEL).0);
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

/// The one reader of every shop's events.
struct Reader {
    store: Arc<dyn Store>,
    tails: Tails,
    wake: watch::Receiver<EventPos>,
    draining: watch::Receiver<bool>,
    after: EventPos,
}

impl Reader {
    async fn run(mut self) {
        let mut swept = Instant::now();
        loop {
            if *self.draining.borrow() {
                break;
            }
            if swept.elapsed() >= SWEEP {
                swept = Instant::now();
                if self.stop_if_unheard() {
                    return;
                }
            }
            let read_at = Instant::now();
            let announced = *self.wake.borrow_and_update();
            let pause = match self.store.events_after_any(self.after, PAGE).await {
                Ok(events) => {
                    let full = events.len() == PAGE;
                    if let Some((_, last)) = events.last() {
                        self.after = last.pos;
                    }
                    self.send(events);
                    if full {
                        continue;
                    }
                    if announced > self.after {
                        BEHIND
                    } else {
                        RECHECK
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "events could not be read; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                woken = self.wake.changed() => if woken.is_err() { break },
                _ = self.draining.changed() => {}
                () = tokio::time::sleep(pause) => {}
            }
            tokio::time::sleep_until((read_at + GAP).into()).await;
        }
        self.stop();
    }

    /// Sends each shop's events to its channel, if it has one. A shop whose
    /// first stream joins after the channels are looked up here read these
    /// events in its backlog: they were readable before it subscribed.
    fn send(&self, events: Vec<(i64, Event)>) {
        if events.is_empty() {
            return;
        }
        let senders: HashMap<i64, broadcast::Sender<Batch>> = {
            let tails = lock(&self.tails);
            events
                .iter()
                .filter_map(|(shop, _)| tails.shops.get(shop).map(|s| (*shop, s.clone())))
                .collect()
        };
        let mut batches: HashMap<i64, Vec<Published>> = HashMap::new();
        for (shop, event) in events {
            if senders.contains_key(&shop) {
                batches.entry(shop).or_default().push(event.into());
            }
        }
        for (shop, batch) in batches {
            // A channel with no receiver left is dropped by the next sweep.
            let _ = senders[&shop].send(batch.into());
        }
    }

    /// Drops the channels no stream listens to, and stops the reader when
    /// none is left; under the lock, so a stream that joins at the same
    /// moment finds no reader and starts a new one.
    fn stop_if_unheard(&self) -> bool {
        let mut tails = lock(&self.tails);
        tails.shops.retain(|_, s| s.receiver_count() > 0);
        if tails.shops.is_empty() {
            tails.reading = false;
            return true;
        }
        false
    }

    fn stop(&self) {
        let mut tails = lock(&self.tails);
        tails.shops.clear();
        tails.reading = false;
    }
}
