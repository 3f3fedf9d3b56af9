//! What every handler shares: the store, the caches, the limits, and whether
//! the server is draining.

use crate::error::ApiError;
use crate::menu_cache::MenuCache;
use crate::observe::Metrics;
use crate::observe::routes::RouteTemplates;
use crate::rate_limit::ShopRateLimit;
use crate::secret::Secret;
use barista_domain::{Shop, Slug};
use barista_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Shops already looked up, by slug. A shop's row rarely changes (a new staff
/// key, a new name, a suspension), and when it does every replica drops it:
/// this one at the commit, the others when the store's feed tells them or,
/// whatever happened to the notice, within the freshness check's half second
/// (`lib.rs`). Staff routes read the shop afresh anyway (`access`), so a
/// replaced key locks out at once everywhere. A `std` lock: held for a map
/// lookup only.
pub struct Shops {
    held: RwLock<HashMap<String, Arc<Shop>>>,
    /// Ends every stream of a shop (`Hub::closer`).
    close_streams: Box<dyn Fn(i64) + Send + Sync>,
}

impl Shops {
    /// For `access` alone: a handler takes its shop through `ShopAccess`.
    /// `fresh` reads it from the store even when it is held.
    pub(crate) async fn find(
        &self,
        store: &dyn Store,
        slug: &str,
        fresh: bool,
    ) -> Result<Arc<Shop>, ApiError> {
        if !fresh && let Some(shop) = self.read().get(slug) {
            return Ok(shop.clone());
        }
        let not_found = || ApiError::not_found(format!("no shop `{slug}`"));
        let parsed = Slug::parse(slug).map_err(|_| not_found())?;
        let Some(shop) = store.shop(&parsed).await? else {
            self.forget_slug(slug);
            return Err(not_found());
        };
        let shop = Arc::new(shop);
        let before = self.write().insert(slug.to_owned(), shop.clone());
        // Read afresh and found in other hands: what streams were opened with is gone.
        if let Some(before) = before
            && !same_hands(&before, &shop)
        {
            (self.close_streams)(before.id);
        }
        Ok(shop)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Shop>>> {
        self.held.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Shop>>> {
        self.held.write().unwrap_or_else(|p| p.into_inner())
    }

    fn forget_slug(&self, slug: &str) {
        self.write().remove(slug);
    }

    /// Drops the shop: the next request reads it again.
    pub fn forget(&self, shop_id: i64) {
        self.write().retain(|_, shop| shop.id != shop_id);
    }

    /// Drops the shop and ends its streams.
    pub fn close(&self, shop_id: i64) {
        self.forget(shop_id);
        (self.close_streams)(shop_id);
    }

    /// Every shop held, for the freshness check.
    pub fn held(&self) -> Vec<Arc<Shop>> {
        self.read().values().cloned().collect()
    }

    pub fn new(close_streams: impl Fn(i64) + Send + Sync + 'static) -> Self {
        Shops {
            held: RwLock::default(),
            close_streams: Box::new(close_streams),
        }
    }
}

/// Whether `now` is the shop `before` was, with the same key, not suspended:
/// streams opened before may go on.
pub fn same_hands(before: &Shop, now: &Shop) -> bool {
    now.id == before.id && now.staff_key_hash == before.staff_key_hash && !now.suspended
}

/// The route table's documents, made by the layer above the routes
/// (`lib.rs`, which knows how) and served by them. Made on first use, not at
/// start: building the OpenAPI tree is a megabyte of small allocations, which
/// a replica that is never asked for it should not carry.
pub struct Documents {
    build: fn() -> serde_json::Value,
    openapi: std::sync::OnceLock<(bytes::Bytes, axum::http::HeaderValue)>,
}

impl Documents {
    pub fn new(build: fn() -> serde_json::Value) -> Documents {
        Documents {
            build,
            openapi: std::sync::OnceLock::new(),
        }
    }

    /// The OpenAPI document as a tree, made anew (for a page rendered once).
    pub fn openapi_tree(&self) -> serde_json::Value {
        (self.build)()
    }

    /// The OpenAPI document, serialized, and its strong validator (a digest:
    /// it changes with the binary).
    pub fn openapi(&self) -> &(bytes::Bytes, axum::http::HeaderValue) {
        self.openapi.get_or_init(|| {
            let json = bytes::Bytes::from(self.openapi_tree().to_string());
            let etag = crate::respond::digest_etag(&json);
            (json, etag)
        })
    }
}

/// How the server behaves; the binary fills it from flags and environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Enables the admin routes; without it they answer 404.
    pub admin_token: Option<Secret>,
    /// Requests handled at once before the rest get a fast 503 `overloaded`; 0 is no limit.
    pub max_in_flight: usize,
    /// Orders first: when menu and shop reads wait at the door (`observe::door`); `None` is never.
    pub cheap_lane: Option<CheapLane>,
    /// Requests per second per shop before 429 `rate_limited`; `None` is no limit.
    pub shop_rate_limit: Option<u32>,
    /// Record metrics on the request path (off only to measure what they cost).
    pub metrics: bool,
    /// Which part of the API this replica serves.
    pub role: Role,
    /// Connections and timeouts.
    pub limits: barista_http::Limits,
    /// Event streams open at once.
    pub streams: crate::hub::StreamLimits,
    /// How long idempotency keys and events are kept.
    pub retention: crate::retention::Retention,
}

/// When the cheap lane closes, and how long a request waits in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheapLane {
    /// The executor delay past which it closes.
    pub delay: std::time::Duration,
    /// The longest a cheap request waits before a 503 `overloaded`.
    pub max_wait: std::time::Duration,
}

impl Default for CheapLane {
    fn default() -> Self {
        Self {
            delay: std::time::Duration::from_millis(1),
            max_wait: std::time::Duration::from_secs(1),
        }
    }
}

/// A replica's part of the API, so menu reads and orders can be sized apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    All,
    /// Shop and menu reads (and health): cheap, cacheable, the bulk of traffic.
    Menu,
    /// Everything else: orders, the queue, menu writes, events, shops.
    Orders,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::All, Role::Menu, Role::Orders];

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == text)
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Menu => "menu",
            Role::Orders => "orders",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            admin_token: None,
            max_in_flight: 1024,
            cheap_lane: None,
            shop_rate_limit: None,
            metrics: true,
            role: Role::All,
            limits: barista_http::Limits::default(),
            streams: crate::hub::StreamLimits::default(),
            retention: crate::retention::Retention::default(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Shared>,
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub config: Config,
    /// Kept current by the store's feed: a write invalidates before it returns.
    pub menu_cache: Arc<MenuCache>,
    pub metrics: Arc<Metrics>,
    pub route_templates: Arc<RouteTemplates>,
    /// Shops looked up so far; only `access` finds one for a request.
    pub shops: Arc<Shops>,
    pub documents: Documents,
    /// One reader of events per shop with streams open, fanned out to them.
    pub hub: crate::hub::Hub,
    /// Each shop's queue, for pickup estimates.
    pub queues: crate::pickup::Queues,
    rate_limit: Option<ShopRateLimit>,
    /// Becomes `true` when draining starts: SSE streams end, `/readyz` fails.
    pub draining: watch::Receiver<bool>,
    /// Set when shutdown is asked for: `/readyz` fails from then on, before
    /// draining starts (`--shutdown-delay` later).
    pub unready: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.inner
    }
}

impl AppState {
    /// `route_templates`: the route table's, which the layers above match
    /// requests against.
    pub fn new(
        store: Arc<dyn Store>,
        config: Config,
        route_templates: RouteTemplates,
        documents: Documents,
        draining: watch::Receiver<bool>,
    ) -> Self {
        let rate_limit = config.shop_rate_limit.map(ShopRateLimit::new);
        let route_templates = Arc::new(route_templates);
        let metrics = Arc::new(Metrics::new(config.metrics, &route_templates.labels()));
        let menu_cache = Arc::new(MenuCache::default());
        let hub = crate::hub::Hub::new(store.clone(), config.streams, draining.clone());
        let shops = Arc::new(Shops::new(hub.closer()));
        let (cache, held) = (menu_cache.clone(), shops.clone());
        store.feed().on_menu_change(move |shop, change| {
            cache.changed(shop, change);
            if let barista_store::MenuChange::Shop(_) = change {
                held.close(shop);
            }
        });
        Self {
            inner: Arc::new(Shared {
                hub,
                queues: Default::default(),
                store,
                config,
                menu_cache,
                metrics,
                route_templates,
                shops,
                documents,
                rate_limit,
                draining,
                unready: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Charges one request to the shop's `budget` on this replica (429 past
    /// it); the quota left goes in `slot`, for the response's headers.
    pub fn charge(
        &self,
        shop_id: i64,
        budget: crate::rate_limit::Budget,
        slot: Option<&crate::rate_limit::QuotaSlot>,
    ) -> Result<(), ApiError> {
        let Some(limit) = &self.rate_limit else {
            return Ok(());
        };
        let (quota, refused) = match limit.check(shop_id, budget) {
            Ok(quota) => (quota, None),
            Err((quota, wait)) => (quota, Some(wait)),
        };
        if let Some(slot) = slot {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(quota);
        }
        match refused {
            None => Ok(()),
            Some(wait) => {
                self.metrics.rate_limited.inc();
                let mut e = ApiError::new(
                    crate::problem::Code::RateLimited,
                    "this shop is over its request budget; retry later",
                );
                e.retry_after = Some(wait);
                Err(e)
            }
        }
    }

    pub fn rate_limited(&self) -> bool {
        self.rate_limit.is_some()
    }

    pub fn is_stopping(&self) -> bool {
        self.unready.load(std::sync::atomic::Ordering::Relaxed) || self.is_draining()
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }
}
