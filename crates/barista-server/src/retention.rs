//! Bounded storage: idempotency keys expire after their TTL and events after
//! their retention. A background task deletes them in small batches, one short
//! write each with a pause between, so writers (SQLite's one writer above all)
//! never wait behind a large delete.
//!
//! A pass is spread over the shops, and each replica starts its passes at its
//! own point of the interval: replicas started together once purged together,
//! and in `bench/saas` four replicas' passes over 100 shops put 0.8 s of
//! deletes on the database's core within three seconds, every minute. A shop
//! with no old event costs one index probe (`OLDEST_EVENT_AT`), not a delete.

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

/// Deletes everything past its retention, batch by batch, with `pause`
/// between batches and shops (less between shops when a pass at that pace
/// would take over half the interval); the rows deleted.
pub async fn purge_all(
    store: &dyn Store,
    retention: &Retention,
    pause: Duration,
) -> barista_store::Result<(u64, u64)> {
    let (mut keys, mut events) = (0, 0);
    let batch = retention.batch.max(1);
    let shops = store.shop_ids().await?;
    let between_shops = pace(retention.every, shops.len(), pause);
    for (i, shop) in shops.into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(between_shops).await;
        }
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

/// The pause between two shops of a pass: `pause`, or less when a pass at
/// that pace would take over half of `every`.
fn pace(every: Duration, shops: usize, pause: Duration) -> Duration {
    let shops = u32::try_from(shops.max(1)).unwrap_or(u32::MAX);
    (every / 2 / shops).min(pause)
}

/// A random fraction in [0, 1): where in the interval this replica purges.
fn fraction() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

/// Purges every `retention.every`, the first time at a random point of the
/// first interval, until the server drains.
pub async fn run(
    store: Arc<dyn Store>,
    retention: Retention,
    metrics: Arc<crate::observe::metrics::Metrics>,
    mut draining: watch::Receiver<bool>,
) {
    let every = retention.every.max(Duration::from_secs(1));
    let first = tokio::time::Instant::now() + every.mul_f64(fraction());
    let mut tick = tokio::time::interval_at(first, every);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_is_paced_to_fit_half_the_interval() {
        let minute = Duration::from_secs(60);
        assert_eq!(pace(minute, 100, BETWEEN_BATCHES), BETWEEN_BATCHES);
        assert_eq!(
            pace(minute, 10_000, BETWEEN_BATCHES),
            Duration::from_millis(3)
        );
        assert_eq!(pace(minute, 0, BETWEEN_BATCHES), BETWEEN_BATCHES);
    }

    #[test]
    fn replicas_start_their_passes_at_their_own_points() {
        let points: Vec<f64> = (0..64).map(|_| fraction()).collect();
        assert!(points.iter().all(|f| (0.0..1.0).contains(f)));
        let early = points.iter().filter(|&&f| f < 0.5).count();
        assert!((8..=56).contains(&early), "{points:?}");
    }
}
