//! What committed writes changed, for the readers in this process.
//!
//! The highest event position known to be committed, of any shop (the
//! replica's one event reader waits on it, then re-reads the events table, so
//! a lost wake-up costs latency, never an event), and each menu change (the
//! menu cache listens, so a change is served on the very next request). The
//! store announces its own writes at commit; on PostgreSQL, `LISTEN/NOTIFY`
//! announces other replicas'.

use crate::EventPos;
use crate::transactions::{Changes, MenuChange};
use std::sync::OnceLock;
use tokio::sync::watch;

type MenuListener = Box<dyn Fn(i64, MenuChange) + Send + Sync>;

pub struct Feed {
    events: watch::Sender<EventPos>,
    menus: OnceLock<MenuListener>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            events: watch::channel(EventPos::default()).0,
            menus: OnceLock::new(),
        }
    }
}

impl Feed {
    /// A receiver that changes whenever any shop has a new event; it holds the
    /// latest event known to be committed (a reader behind it reads again).
    pub fn subscribe(&self) -> watch::Receiver<EventPos> {
        self.events.subscribe()
    }

    /// Announces that an event at `pos` is committed.
    pub fn publish(&self, pos: EventPos) {
        self.events.send_if_modified(|latest| {
            let newer = pos > *latest;
            if newer {
                *latest = pos;
            }
            newer
        });
    }

    /// Wakes the reader (after a lost connection to the notifier).
    pub fn wake_all(&self) {
        self.events.send_modify(|_| {});
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
            self.publish(pos);
        }
    }
}
