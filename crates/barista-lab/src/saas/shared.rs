//! What the run counts as it goes: latency and errors per kind of request,
//! each shop's customers' view, and the sends every virtual user makes.

use super::{Kind, SaasPlan};
use crate::http::{Conn, Endpoint, Failure, Keep, Reply};
use crate::stats::histogram;
use crate::workload::Rng;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};

pub(super) struct Tally {
    pub(super) latency: Histogram<u64>,
    pub(super) errors: BTreeMap<String, u64>,
}

/// One shop's customers' view of their orders.
#[derive(Default)]
pub(super) struct ShopTally {
    pub(super) ready: Option<Histogram<u64>>,
    pub(super) errors: u64,
}

pub(super) struct Shared {
    pub(super) plan: SaasPlan,
    pub(super) endpoint: Endpoint,
    pub(super) kinds: Vec<Mutex<Tally>>,
    pub(super) shops: Vec<Mutex<ShopTally>>,
    pub(super) order_to_ready: Mutex<Histogram<u64>>,
    pub(super) placed: AtomicU64,
    pub(super) ready_seen: AtomicU64,
    pub(super) collected_seen: AtomicU64,
    pub(super) open_streams: AtomicUsize,
    pub(super) peak_streams: AtomicUsize,
    /// Boards opened for the first time, and a wake-up for each.
    pub(super) boards_open: AtomicUsize,
    pub(super) board_opened: tokio::sync::Notify,
    pub(super) customers_came: std::sync::atomic::AtomicBool,
    pub(super) start: Instant,
    pub(super) end: Instant,
    pub(super) run: u64,
}

pub(super) fn micros(d: Duration) -> u64 {
    d.as_micros().clamp(1, 60_000_000) as u64
}

impl Shared {
    /// Nothing counted yet; the run ends `plan.duration` from now.
    pub(super) fn new(plan: SaasPlan, endpoint: Endpoint) -> Shared {
        let start = Instant::now();
        Shared {
            endpoint,
            kinds: Kind::ALL
                .iter()
                .map(|_| {
                    Mutex::new(Tally {
                        latency: histogram(),
                        errors: BTreeMap::new(),
                    })
                })
                .collect(),
            shops: (0..plan.shops).map(|_| Mutex::default()).collect(),
            order_to_ready: Mutex::new(histogram()),
            placed: AtomicU64::new(0),
            ready_seen: AtomicU64::new(0),
            collected_seen: AtomicU64::new(0),
            open_streams: AtomicUsize::new(0),
            peak_streams: AtomicUsize::new(0),
            boards_open: AtomicUsize::new(0),
            board_opened: tokio::sync::Notify::new(),
            customers_came: std::sync::atomic::AtomicBool::new(false),
            start,
            end: start + plan.duration,
            run: Rng::new(0).next_u64(),
            plan,
        }
    }

    pub(super) fn record(&self, kind: Kind, took: Duration) {
        let mut k = self.kinds[kind as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let _ = k.latency.record(micros(took));
    }

    pub(super) fn error(&self, kind: Kind, shop: Option<usize>, what: String) {
        let mut k = self.kinds[kind as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *k.errors.entry(what).or_default() += 1;
        if let Some(s) = shop {
            self.shops[s]
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .errors += 1;
        }
    }

    pub(super) fn over(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Sleeps `d`, or less if the run ends first; false when it has ended.
    pub(super) async fn pause(&self, d: Duration) -> bool {
        let until = (Instant::now() + d).min(self.end);
        tokio::time::sleep_until(until.into()).await;
        !self.over()
    }

    /// One request on `conn` (opened if needed), timed and counted under `kind`.
    pub(super) async fn send(
        &self,
        conn: &mut Option<Conn>,
        kind: Kind,
        shop: usize,
        bytes: &[u8],
        keep: Keep,
    ) -> Result<Reply, Failure> {
        let began = Instant::now();
        let attempt = Conn::send_on(conn, &self.endpoint, bytes, keep);
        let result = match tokio::time::timeout(self.plan.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        };
        match &result {
            Ok(reply) => {
                self.record(kind, began.elapsed());
                if reply.status >= 400 {
                    self.error(kind, Some(shop), error_name(reply));
                }
            }
            Err(f) => {
                *conn = None;
                self.error(kind, Some(shop), f.name().to_owned());
            }
        }
        result
    }
}

/// An error answer's name in the report: its status, and its problem's
/// `code` when the body was kept (`http_503_overloaded`).
fn error_name(reply: &Reply) -> String {
    let code = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned));
    match code {
        Some(code) => format!("http_{}_{code}", reply.status),
        None => format!("http_{}", reply.status),
    }
}
