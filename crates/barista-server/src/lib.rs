//! Barista's HTTP server.
//!
//! [`run`] takes an already-bound listener and a shutdown future, so tests bind
//! port 0 and never wait for start-up. Requests read straight down: route ->
//! handler -> domain validation -> store transaction -> response (+ event).
#![forbid(unsafe_code)]

mod admission;
pub mod auth;
pub mod demo;
mod error;
mod extract;
mod menu_cache;
mod openapi;
mod rate_limit;
mod routes;
mod state;

pub use error::ApiError;
pub use state::{AppState, Config};

use barista_store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves the API on `listener` until `shutdown` resolves, then stops
/// accepting, ends SSE streams, and waits for in-flight requests to finish.
pub async fn run(
    config: Config,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (drain, draining) = watch::channel(false);
    let state = AppState::new(store, config, draining);
    let app = routes::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = drain.send(true);
        })
        .await
}
