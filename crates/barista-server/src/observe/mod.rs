//! Seeing what the server does: metrics ([`metrics`], [`process`]), one log
//! line per request with its request id ([`layer`]), CPU profiles on demand
//! ([`profile`]), all served on the separate operations listener (`crate::ops`).

pub mod admission;
pub mod door;
pub mod layer;
pub mod metrics;
pub mod process;
pub mod profile;
pub mod routes;

pub use metrics::{Metrics, OrderOutcome};

use std::sync::Arc;

/// Counts an open SSE stream for as long as it lives.
pub struct StreamGuard(Arc<Metrics>);

impl StreamGuard {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        metrics.sse_streams.add(1);
        Self(metrics)
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.sse_streams.add(-1);
    }
}
