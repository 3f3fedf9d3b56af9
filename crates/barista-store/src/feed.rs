//! What committed writes changed, for the readers in this process.
//!
//! Per shop: the highest event sequence number known to be committed (event
//! streams wait on it, then re-read the `events` table, so a lost wake-up costs
//! latency, never an event), and the menu version (the menu cache listens, so
//! a change is served on the very next request). The store announces its own
//! writes at commit; on PostgreSQL, `LISTEN/NOTIFY` announces other replicas'.

use crate::EventPos;
use crate::transactions::{Changes, MenuChange};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use tokio::sync::watch;

type MenuListener = Box<dyn Fn(i64, MenuChange) + Send + Sync>;

#[derive(Default)]
pub struct Feed {
    /// A `std` mutex: held only to look up or insert a sender, never across `.await`.
    events: Mutex<HashMap<i64, watch::Sender<EventPos>>>,
    menus: OnceLock<MenuListener>,
}

impl Feed {
    fn sender(&self, shop_id: i64) -> watch::Sender<EventPos> {
        let mut shops = self.events.lock().unwrap_or_else(|p| p.into_inner());
        shops
            .entry(shop_id)
            .or_insert_with(|| watch::channel(EventPos::default()).0)
            .clone()
    }

    /// A receiver that changes whenever the shop has a new event; it holds the
    /// latest event known to be committed (a reader behind it reads again).
    pub fn subscribe(&self, shop_id: i64) -> watch::Receiver<EventPos> {
        self.sender(shop_id).subscribe()
    }

    /// Announces that the shop's event at `pos` is committed.
    pub fn publish(&self, shop_id: i64, pos: EventPos) {
        self.sender(shop_id).send_if_modified(|latest| {
            let newer = pos > *latest;
            if newer {
                *latest = pos;
            }
            newer
        });
    }

    /// Wakes every reader of every shop (after a lost connection to the notifier).
    pub fn wake_all(&self) {
        let shops = self.events.lock().unwrap_or_else(|p| p.into_inner());
        for sender in shops.values() {
            sender.send_modify(|_| {});
        }
    }

    /// Calls `listener(shop_id, change)` whenever a menu changes (one listener: the menu cache).
    pub fn on_menu_change(&self, listener: impl Fn(i64, MenuChange) + Send + Sync + 'static) {
        let _ = self.menus.set(Box::new(listener));
    }

    /// Announces that the shop's menu changed.
    pub fn menu_changed(&self, shop_id: i64, change: MenuChange) {
        if let Some(listener) = self.menus.get() {
            listener(shop_id, change);
        }
    }

    /// Announces what a committed write changed.
    pub(crate) fn announce(&self, shop_id: i64, changes: &Changes) {
        if let Some(change) = changes.menu {
            self.menu_changed(shop_id, change);
        }
        if let Some(pos) = changes.event {
            self.publish(shop_id, pos);
        }
    }
}
