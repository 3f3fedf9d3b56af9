//! What every handler shares: the store, the caches, the limits, and whether
//! the server is draining.

use crate::auth::Secret;
use crate::error::ApiError;
use crate::menu_cache::MenuCache;
use crate::observe::Metrics;
use crate::observe::routes::RouteTemplates;
use crate::rate_limit::ShopRateLimit;
use barista_domain::Slug;
use barista_store::{ShopRecord, Store};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// How the server behaves; the binary fills it from flags and environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Enables the admin routes; without it they answer 404.
    pub admin_token: Option<Secret>,
    /// Requests handled at once before the rest get a fast 503 `overloaded`; 0 is no limit.
    pub max_in_flight: usize,
    /// Requests per second per shop before 429 `rate_limited`; `None` is no limit.
    pub shop_rate_limit: Option<u32>,
    /// Record metrics on the request path (off only to measure what they cost).
    pub metrics: bool,
    /// Which part of the API this replica serves.
    pub role: Role,
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
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "all" => Some(Role::All),
            "menu" => Some(Role::Menu),
            "orders" => Some(Role::Orders),
            _ => None,
        }
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
            shop_rate_limit: None,
            metrics: true,
            role: Role::All,
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
    pub menu_cache: MenuCache,
    pub metrics: Arc<Metrics>,
    pub route_templates: Arc<RouteTemplates>,
    /// Shops never change once created, so a found shop is cached for good.
    /// A `std` lock: held for a lookup only.
    shops: RwLock<HashMap<String, Arc<ShopRecord>>>,
    rate_limit: Option<ShopRateLimit>,
    /// Becomes `true` when shutdown starts: SSE streams end, `/readyz` fails.
    pub draining: watch::Receiver<bool>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.inner
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: Config, draining: watch::Receiver<bool>) -> Self {
        let rate_limit = config.shop_rate_limit.map(ShopRateLimit::new);
        let route_templates = Arc::new(RouteTemplates::new(
            crate::routes::ROUTES.iter().map(|r| r.path),
        ));
        let metrics = Arc::new(Metrics::new(config.metrics, &route_templates.labels()));
        Self {
            inner: Arc::new(Shared {
                store,
                config,
                menu_cache: MenuCache::default(),
                metrics,
                route_templates,
                shops: RwLock::default(),
                rate_limit,
                draining,
            }),
        }
    }

    /// The shop a path names (404 if none), charged against its request budget (429).
    pub async fn shop(&self, slug: &str) -> Result<Arc<ShopRecord>, ApiError> {
        let shop = self.find_shop(slug).await?;
        if let Some(limit) = &self.rate_limit
            && let Err(wait) = limit.check(shop.id)
        {
            self.metrics.rate_limited.inc();
            let mut e = ApiError::new(
                crate::problem::Code::RateLimited,
                "this shop is over its request budget; retry later",
            );
            e.retry_after = Some(wait);
            return Err(e);
        }
        Ok(shop)
    }

    async fn find_shop(&self, slug: &str) -> Result<Arc<ShopRecord>, ApiError> {
        if let Some(shop) = self
            .shops
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(slug)
        {
            return Ok(shop.clone());
        }
        let not_found = || ApiError::not_found(format!("no shop `{slug}`"));
        let parsed = Slug::parse(slug).map_err(|_| not_found())?;
        let shop = Arc::new(self.store.shop(&parsed).await?.ok_or_else(not_found)?);
        self.shops
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(slug.to_owned(), shop.clone());
        Ok(shop)
    }

    /// A shop already looked up, by id.
    pub fn known_shop(&self, id: i64) -> Option<Arc<ShopRecord>> {
        let shops = self.shops.read().unwrap_or_else(|p| p.into_inner());
        shops.values().find(|s| s.id == id).cloned()
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }
}
