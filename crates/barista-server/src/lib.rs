//! Barista's HTTP server.
//!
//! [`run`] takes an already-bound listener and a shutdown future, so tests bind
//! port 0 and never wait for start-up. Requests read straight down: route ->
//! handler -> domain validation -> store transaction -> response (+ event).
#![forbid(unsafe_code)]
// The OpenAPI document's schemas are one `json!` literal, deeper than the default allows.
#![recursion_limit = "256"]

mod access;
pub mod auth;
pub mod demo;
mod error;
mod extract;
pub mod hub;
mod menu_cache;
pub mod observe;
mod openapi;
mod ops;
mod pickup;
pub mod problem;
mod rate_limit;
mod respond;
pub mod retention;
mod routes;
pub mod secret;
mod session;
mod state;

pub use barista_http::Limits;
pub use error::ApiError;

/// The OpenAPI document `/openapi.json` serves.
pub fn openapi_document() -> serde_json::Value {
    openapi::document()
}
pub use state::{AppState, CheapLane, Config, Role};

use barista_store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_layer::Layer;

/// Where the server listens: the public API, and (optionally) the operations
/// endpoints (`/metrics`, `/debug/pprof/profile`) on an address of their own.
pub struct Listeners {
    pub api: TcpListener,
    pub ops: Option<TcpListener>,
}

/// Serves until `shutdown` resolves, then stops accepting, ends SSE streams,
/// and waits for in-flight requests to finish.
pub async fn run(
    config: Config,
    store: Arc<dyn Store>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (drain, draining) = watch::channel(false);
    // True from the stop signal on (before the drain when there is a shutdown delay):
    // answers then close their connection, so a balancer's kept-alive connections
    // end after a request instead of being cut while idle when the drain starts.
    let (wind_down, winding) = watch::channel(false);
    let documents = state::Documents::new(openapi::document);
    let state = AppState::new(
        store,
        config,
        routes::templates(),
        documents,
        draining.clone(),
    );
    let refresher = tokio::spawn(keep_menus_fresh(state.clone(), draining.clone()));
    let purger = tokio::spawn(retention::run(
        state.store.clone(),
        state.config.retention,
        state.metrics.clone(),
        draining.clone(),
    ));
    // The operations listener gets the same connection loop and limits as
    // the public one.
    let ops = listeners.ops.map(|listener| {
        let app = ops::router(state.clone());
        let stop = barista_http::Stop {
            winding: draining.clone(),
            draining: draining.clone(),
        };
        let config = barista_http::Config {
            limits: state.config.limits.clone(),
            open_connections: Default::default(),
            refuse: observe::layer::refusal,
            lanes: None,
        };
        tokio::spawn(barista_http::serve::<_, axum::body::Body, _>(
            listener, app, config, stop,
        ))
    });
    // Layers wrap the whole router once: `Router::layer` would wrap every route
    // apart and clone that stack on each request, a measurable cost on the menu.
    let layer = observe::layer::ObserveLayer::new(
        state.metrics.clone(),
        state.route_templates.clone(),
        state.config.max_in_flight,
    );
    let lanes = state.config.cheap_lane.map(|lane| {
        let door = observe::door::RouteDoor::new(state.route_templates.clone());
        let lanes = Arc::new(barista_http::Lanes::new(
            Arc::new(door),
            lane.delay,
            lane.max_wait,
        ));
        state.metrics.set_lanes(lanes.clone());
        lanes
    });
    let config = barista_http::Config {
        limits: state.config.limits.clone(),
        open_connections: state.metrics.open_connections.clone(),
        refuse: observe::layer::refusal,
        lanes,
    };
    let stopping = state.clone();
    let app = layer.layer(routes::router(state));
    tokio::spawn(async move {
        shutdown.await;
        stopping
            .unready
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = wind_down.send(true);
        let delay = stopping.config.limits.shutdown_delay;
        if !delay.is_zero() {
            tracing::info!(
                delay_s = delay.as_secs_f64(),
                "shutting down: /readyz fails, serving on until the delay passes"
            );
            tokio::time::sleep(delay).await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = drain.send(true);
    });
    let stop = barista_http::Stop { winding, draining };
    let served =
        barista_http::serve::<_, axum::body::Body, _>(listeners.api, app, config, stop).await;
    if let Some(ops) = ops {
        let _ = ops.await;
    }
    refresher.abort();
    purger.abort();
    served
}

/// How often held menus are checked against the database.
const MENU_FRESHNESS: std::time::Duration = std::time::Duration::from_millis(500);

/// Drops cached menus and shops that another replica (or `barista shops`, on
/// the same database) changed or deleted, so none is served more than about a
/// second after a change, whatever happened to notifications.
async fn keep_menus_fresh(state: AppState, mut draining: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(MENU_FRESHNESS);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = draining.changed() => return,
        }
        let held: std::collections::HashMap<i64, i64> =
            state.menu_cache.held().into_iter().collect();
        let shops: std::collections::HashMap<i64, Arc<barista_domain::Shop>> =
            state.shops.held().into_iter().map(|s| (s.id, s)).collect();
        let mut ids: Vec<i64> = held.keys().chain(shops.keys()).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        // One statement per 64 shops held, not one per shop.
        let Ok(versions) = state.store.menu_versions(&ids).await else {
            continue;
        };
        let current: std::collections::HashMap<i64, i64> = versions.into_iter().collect();
        for id in ids {
            let now = current.get(&id).copied();
            if held
                .get(&id)
                .is_some_and(|&v| now.is_none_or(|now| now > v))
            {
                state.menu_cache.invalidate(id, now.unwrap_or(i64::MAX));
            }
            let Some(shop) = shops.get(&id) else {
                continue;
            };
            if now.is_none_or(|now| now > shop.version) {
                state.shops.forget(id);
                // Its streams end if what they were opened with is gone:
                // the shop, its key, or its standing.
                let again = state.store.shop(&shop.slug).await;
                let same = matches!(&again, Ok(Some(now)) if state::same_hands(shop, now));
                if again.is_ok() && !same {
                    state.shops.close(id);
                }
            }
        }
    }
}
