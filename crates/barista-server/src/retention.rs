//! Bounded storage: idempotency keys expire after their TTL and events after
//! their retention. A background task deletes them in small batches, one short
//! write each with a pause between, so writers (SQLite's one writer above all)
//! never wait behind a large delete.

use barista_domain::Timestamp;
use barista_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long what is kept only for a while is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// An `Idempotency-Key` replays its order for this long, then is forgotten
    /// (a retry after it would place a new order).
    pub idempotency_ttl: Duration,
    /// Events resume streams (`Last-Event-ID`) for this long.
    pub events: Duration,
    /// How often the purge runs.
    pub every: Duration,
    /// Rows per delete.
    pub batch: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            idempotency_ttl: Duration::from_secs(24 * 3600),
            events: Duration::from_secs(7 * 24 * 3600),
            every: Duration::from_secs(60),
            batch: 500,
        }
    }
}

/// The least TTL an `Idempotency-Key` may have: a client retrying through a
/// day's outage must not place its order twice.
pub const MIN_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Pause between two batches, so other writes go first.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

fn before(age: Duration) -> Timestamp {
    let age = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(Timestamp::now().micros().saturating_sub(age))
}

/// Deletes everything past its retention, batch by batch; the rows deleted.
pub async fn purge_all(
    store: &dyn Store,
    retention: &Retention,
    pause: Duration,
) -> barista_store::Result<(u64, u64)> {
    let (mut keys, mut events) = (0, 0);
    let batch = retention.batch.max(1);
    for shop in store.shop_ids().await? {
        loop {
            // The cut-offs move with the clock, batch by batch.
            let purged = store
                .purge(
                    shop,
                    before(retention.idempotency_ttl),
                    before(retention.events),
                    batch,
                )
                .await?;
            keys += purged.keys;
            events += purged.events;
            if (purged.keys as usize) < batch && (purged.events as usize) < batch {
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
    Ok((keys, events))
}

/// Purges every `retention.every` until the server drains.
pub async fn run(
    store: Arc<dyn Store>,
    retention: Retention,
    metrics: Arc<crate::observe::metrics::Metrics>,
    mut draining: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(retention.every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = draining.changed() => return,
        }
        let purge = purge_all(store.as_ref(), &retention, BETWEEN_BATCHES);
        tokio::select! {
            purged = purge => match purged {
                Ok((keys, events)) => {
                    metrics.purged_keys.add(keys);
                    metrics.purged_events.add(events);
                    if keys + events > 0 {
                        tracing::debug!(keys, events, "purged expired keys and old events");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "purge failed; retrying at the next run"),
            },
            _ = draining.changed() => return,
        }
    }
}
