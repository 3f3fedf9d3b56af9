//! The menu cache: each shop's menu as ready-to-send bytes with a strong ETag.
//!
//! Reads take a read lock and clone an `Arc`. A write that changes a menu
//! invalidates the shop's entry *with the new version* before its response is
//! sent, and a load that read an older version is refused, so a change is
//! served on the very next request even if a slow load races with it.

use axum::http::HeaderValue;
use barista_store::MenuChange;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub struct CachedMenu {
    pub version: i64,
    /// Prebuilt so a hit allocates nothing.
    pub etag: HeaderValue,
    pub body: Bytes,
    /// When what the menu says of ordering changes by itself (the shop opens,
    /// closes, or a pause ends), in µs since the epoch: a hit after it is a miss.
    pub expires_at: Option<i64>,
}

enum Slot {
    Ready(Arc<CachedMenu>),
    /// Invalidated: only a menu of at least this version may fill it.
    Stale {
        min_version: i64,
    },
}

#[derive(Default)]
pub struct MenuCache {
    /// A `std` lock: held for a map lookup only, never across `.await`.
    shops: RwLock<HashMap<i64, Slot>>,
}

impl MenuCache {
    pub fn get(&self, shop_id: i64) -> Option<Arc<CachedMenu>> {
        match self
            .shops
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&shop_id)
        {
            Some(Slot::Ready(menu))
                if menu
                    .expires_at
                    .is_none_or(|t| barista_domain::Timestamp::now().micros() < t) =>
            {
                Some(menu.clone())
            }
            _ => None,
        }
    }

    /// Stores a freshly loaded menu unless a newer version is already known.
    pub fn fill(&self, shop_id: i64, menu: CachedMenu) -> Arc<CachedMenu> {
        let menu = Arc::new(menu);
        let mut shops = self.shops.write().unwrap_or_else(|p| p.into_inner());
        let newer_known = match shops.get(&shop_id) {
            Some(Slot::Ready(m)) => m.version > menu.version,
            Some(Slot::Stale { min_version }) => *min_version > menu.version,
            None => false,
        };
        if !newer_known {
            shops.insert(shop_id, Slot::Ready(menu.clone()));
        }
        menu
    }

    /// (shop id, version) of every menu held, for the freshness check.
    pub fn held(&self) -> Vec<(i64, i64)> {
        let shops = self.shops.read().unwrap_or_else(|p| p.into_inner());
        shops
            .iter()
            .filter_map(|(id, slot)| match slot {
                Slot::Ready(m) => Some((*id, m.version)),
                Slot::Stale { .. } => None,
            })
            .collect()
    }

    /// Applies a change the store announced.
    pub fn changed(&self, shop_id: i64, change: MenuChange) {
        match change {
            MenuChange::To(version) | MenuChange::Shop(version) => {
                self.invalidate(shop_id, version)
            }
            MenuChange::Stock => self.forget(shop_id),
        }
    }

    /// Drops a held menu whose new version is not known (stock moved): the next
    /// read loads it. A load that read before the change and ends after this
    /// may still fill the old one; the freshness check replaces it within a second.
    fn forget(&self, shop_id: i64) {
        let mut shops = self.shops.write().unwrap_or_else(|p| p.into_inner());
        if let Some(Slot::Ready(_)) = shops.get(&shop_id) {
            shops.remove(&shop_id);
        }
    }

    /// Forgets the shop's menu: the next read loads version `version` or later.
    pub fn invalidate(&self, shop_id: i64, version: i64) {
        let mut shops = self.shops.write().unwrap_or_else(|p| p.into_inner());
        let current = match shops.get(&shop_id) {
            Some(Slot::Ready(m)) => m.version,
            Some(Slot::Stale { min_version }) => *min_version,
            None => i64::MIN,
        };
        if current < version {
            shops.insert(
                shop_id,
                Slot::Stale {
                    min_version: version,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu(version: i64) -> CachedMenu {
        CachedMenu {
            version,
            etag: HeaderValue::from_str(&format!("\"{version}\"")).unwrap(),
            body: Bytes::from_static(b"{}"),
            expires_at: None,
        }
    }

    #[test]
    fn a_menu_whose_ordering_changed_by_itself_is_loaded_again() {
        let cache = MenuCache::default();
        let mut m = menu(3);
        m.expires_at = Some(barista_domain::Timestamp::now().micros() - 1);
        cache.fill(1, m);
        assert!(cache.get(1).is_none(), "the shop opened or closed since");
        let mut m = menu(3);
        m.expires_at = Some(barista_domain::Timestamp::now().micros() + 60_000_000);
        cache.fill(1, m);
        assert!(cache.get(1).is_some());
    }

    #[test]
    fn a_filled_menu_is_served_until_invalidated() {
        let cache = MenuCache::default();
        assert!(cache.get(1).is_none());
        cache.fill(1, menu(3));
        assert_eq!(cache.get(1).unwrap().version, 3);
        cache.invalidate(1, 4);
        assert!(cache.get(1).is_none());
    }

    #[test]
    fn a_load_older_than_the_invalidation_is_not_kept() {
        let cache = MenuCache::default();
        cache.invalidate(1, 5);
        cache.fill(1, menu(4));
        assert!(
            cache.get(1).is_none(),
            "a racing stale load must not fill the cache"
        );
        cache.fill(1, menu(5));
        assert_eq!(cache.get(1).unwrap().version, 5);
    }

    #[test]
    fn a_stock_change_drops_a_held_menu_but_keeps_a_known_version() {
        let cache = MenuCache::default();
        cache.fill(1, menu(3));
        cache.changed(1, MenuChange::Stock);
        assert!(cache.get(1).is_none());
        cache.changed(1, MenuChange::To(9));
        cache.changed(1, MenuChange::Stock);
        cache.fill(1, menu(8));
        assert!(cache.get(1).is_none(), "version 9 is still required");
    }

    #[test]
    fn an_old_invalidation_does_not_drop_a_newer_menu() {
        let cache = MenuCache::default();
        cache.fill(1, menu(7));
        cache.invalidate(1, 6);
        assert_eq!(cache.get(1).unwrap().version, 7);
    }
}
