//! Wake-ups for event readers: per shop, the highest event sequence known to be
//! committed. A reader that is behind re-reads the `events` table; the feed
//! never carries rows, so a lost wake-up costs latency, never an event.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

#[derive(Default)]
pub struct EventFeed {
    /// A `std` mutex: held only to look up or insert a sender, never across `.await`.
    shops: Mutex<HashMap<i64, watch::Sender<i64>>>,
}

impl EventFeed {
    fn sender(&self, shop_id: i64) -> watch::Sender<i64> {
        let mut shops = self.shops.lock().unwrap_or_else(|p| p.into_inner());
        shops
            .entry(shop_id)
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// A receiver that changes whenever the shop has a new event.
    pub fn subscribe(&self, shop_id: i64) -> watch::Receiver<i64> {
        self.sender(shop_id).subscribe()
    }

    /// Announces that events up to `seq` are committed for the shop.
    pub fn publish(&self, shop_id: i64, seq: i64) {
        self.sender(shop_id).send_if_modified(|latest| {
            let newer = seq > *latest;
            if newer {
                *latest = seq;
            }
            newer
        });
    }

    /// Wakes every reader of every shop (after a lost connection to the notifier).
    pub fn wake_all(&self) {
        let shops = self.shops.lock().unwrap_or_else(|p| p.into_inner());
        for sender in shops.values() {
            sender.send_modify(|_| {});
        }
    }
}
