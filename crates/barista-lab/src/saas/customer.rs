//! A customer: reads the menu with its ETag, thinks, now and then orders
//! (an `Idempotency-Key`, resent with the same key after a connection
//! error), then follows its order's stream until it is collected.

use super::setup::orderables;
use super::shared::{Shared, micros};
use super::{Kind, slug};
use crate::http::{Conn, Failure, Keep, request_bytes};
use crate::stats::histogram;
use crate::workload::Rng;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A customer's pause: exponential around the mean, at most four times it.
pub(super) fn think(rng: &mut Rng, mean: Duration) -> Duration {
    let u = (rng.below(1_000_000) as f64 + 0.5) / 1_000_000.0;
    mean.mul_f64((-u.ln()).min(4.0))
}

pub(super) async fn customer(shared: Arc<Shared>, shop: usize, id: usize, order_share: f64) {
    let plan = &shared.plan;
    let mut rng = Rng::new((shop * 100_003 + id) as u64);
    let slug = slug(&plan.prefix, shop);
    let menu_url = plan.base.with_path(&format!("/v1/shops/{slug}/menu"));
    let order_url = plan.base.with_path(&format!("/v1/shops/{slug}/orders"));
    let mut conn: Option<Conn> = None;
    let mut etag: Option<String> = None;
    // Customers arrive over the first think time, not all at once.
    let first = plan.think.mul_f64(rng.below(1000) as f64 / 1000.0);
    if !shared.pause(first).await {
        return;
    }
    let menu = orderables();
    let mut visits = 0u64;
    while !shared.over() {
        visits += 1;
        let headers: Vec<(String, String)> = etag
            .iter()
            .map(|e| ("If-None-Match".to_owned(), e.clone()))
            .collect();
        let read = request_bytes("GET", &menu_url, &headers, b"");
        let keep = Keep {
            etag: true,
            body: false,
        };
        let kind = if etag.is_some() {
            Kind::Menu304
        } else {
            Kind::Menu
        };
        if let Ok(reply) = shared.send(&mut conn, kind, shop, &read, keep).await
            && reply.status == 200
        {
            etag = reply.etag;
        }
        let ordering = rng.below(1_000_000) as f64 / 1_000_000.0 < order_share;
        if !shared.pause(think(&mut rng, plan.think)).await {
            return;
        }
        if ordering {
            let key = format!("saas-{:x}-{shop}-{id}-{visits}", shared.run);
            let item = &menu[rng.below(menu.len() as u64) as usize];
            let body = serde_json::json!({
                "customer_name": format!("Customer {id}"),
                "lines": [item.line(&mut rng, 1)],
            })
            .to_string();
            let headers = [
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("Idempotency-Key".to_owned(), key),
            ];
            let bytes = request_bytes("POST", &order_url, &headers, body.as_bytes());
            let keep = Keep {
                etag: false,
                body: true,
            };
            let sent = Instant::now();
            let mut placed = shared
                .send(&mut conn, Kind::Order, shop, &bytes, keep)
                .await;
            if matches!(
                placed,
                Err(Failure::Connect | Failure::Read | Failure::Write)
            ) {
                // Resent with the same key: at most one order is made.
                placed = shared
                    .send(&mut conn, Kind::Order, shop, &bytes, keep)
                    .await;
            }
            let order = placed.ok().filter(|r| r.status == 201).and_then(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned))
            });
            if let Some(order) = order {
                shared.placed.fetch_add(1, Ordering::Relaxed);
                // One descriptor per customer: the menu's connection goes while
                // the stream is open.
                conn = None;
                follow(&shared, shop, &slug, &order, sent).await;
            }
            if !shared.pause(think(&mut rng, plan.think)).await {
                return;
            }
        }
    }
}

/// Follows one order's stream until it is collected (or the run ends),
/// timing "ready" from when the order was sent.
async fn follow(shared: &Shared, shop: usize, slug: &str, order: &str, sent: Instant) {
    let url = shared
        .plan
        .base
        .with_path(&format!("/v1/shops/{slug}/orders/{order}/events"));
    let bytes = request_bytes(
        "GET",
        &url,
        &[("Accept".to_owned(), "text/event-stream".to_owned())],
        b"",
    );
    let opened = Instant::now();
    let now_open = shared.open_streams.fetch_add(1, Ordering::Relaxed) + 1;
    shared.peak_streams.fetch_max(now_open, Ordering::Relaxed);
    let mut seen_ready = false;
    let mut first = true;
    let read = async {
        let mut conn = Conn::connect(&shared.endpoint).await?;
        conn.events(
            &bytes,
            || {},
            |data| {
                if first {
                    first = false;
                    shared.record(Kind::StreamOpen, opened.elapsed());
                }
                let status = status_of(data);
                if !seen_ready && matches!(status, "ready" | "collected") {
                    seen_ready = true;
                    let took = sent.elapsed();
                    shared.ready_seen.fetch_add(1, Ordering::Relaxed);
                    let _ = shared
                        .order_to_ready
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(micros(took));
                    let mut s = shared.shops[shop].lock().unwrap_or_else(|p| p.into_inner());
                    let _ = s.ready.get_or_insert_with(histogram).record(micros(took));
                }
                if matches!(status, "collected" | "cancelled") {
                    shared.collected_seen.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                true
            },
        )
        .await
    };
    // The stream is followed to the end of the run at most.
    let left = shared.end.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, read).await {
        Ok(Ok(200)) => {}
        Ok(Ok(status)) => shared.error(Kind::StreamOpen, Some(shop), format!("http_{status}")),
        Ok(Err(f)) => shared.error(Kind::StreamOpen, Some(shop), f.name().to_owned()),
        Err(_) => {} // still brewing when the run ended: not an error
    }
    shared.open_streams.fetch_sub(1, Ordering::Relaxed);
}

/// An order's status in an event's data (the order as JSON).
pub(super) fn status_of(data: &str) -> &str {
    data.split("\"status\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
}
