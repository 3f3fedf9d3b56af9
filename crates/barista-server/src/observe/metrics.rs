//! Barista's metrics, kept in atomics and rendered in the Prometheus text format.
//!
//! Hand-rolled rather than a metrics crate: the hot path is one slot lookup and
//! three relaxed atomic adds per request, and the label set is fixed by design
//! (method, route template, status; never a shop, an order, or anything a
//! client chooses), so a general-purpose registry would buy nothing.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

/// Upper bounds in seconds: 0.5 ms to 10 s.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "_OTHER",
];
/// (method, status) pairs kept per route; more than this share the last slot's label `_OTHER`.
const SLOTS: usize = 24;

pub fn method_index(method: &axum::http::Method) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(METHODS.len() - 1)
}

#[derive(Default)]
pub struct Histogram {
    /// Non-cumulative counts per bucket, plus one for +Inf; made cumulative when rendered.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn observe_micros(&self, micros: u64) {
        let seconds = micros as f64 / 1e6;
        let i = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.buckets[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count.load(Relaxed));
    }
}

#[derive(Default)]
struct Slot {
    /// 0 while free; else `method << 16 | status`.
    key: AtomicU32,
    latency: Histogram,
}

/// The request histograms of one route template.
pub struct RouteMetrics {
    template: &'static str,
    slots: [Slot; SLOTS],
}

impl RouteMetrics {
    fn slot(&self, key: u32) -> &Slot {
        for slot in &self.slots[..SLOTS - 1] {
            let current = slot.key.load(Relaxed);
            if current == key {
                return slot;
            }
            if current == 0 {
                match slot.key.compare_exchange(0, key, Relaxed, Relaxed) {
                    Ok(_) => return slot,
                    Err(won) if won == key => return slot,
                    Err(_) => continue,
                }
            }
        }
        &self.slots[SLOTS - 1]
    }
}

pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
}

pub struct Gauge(AtomicI64);

impl Gauge {
    const fn new() -> Gauge {
        Gauge(AtomicI64::new(0))
    }
    /// Adds `n`; returns the value before.
    pub fn add(&self, n: i64) -> i64 {
        self.0.fetch_add(n, Relaxed)
    }
    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// Why an order request ended as it did.
#[derive(Debug, Clone, Copy)]
pub enum OrderOutcome {
    Created,
    Replayed,
    OutOfStock,
    Rejected,
}

impl OrderOutcome {
    /// The outcome of what the store answered.
    pub fn of(placed: &Result<barista_store::Placed, barista_store::StoreError>) -> Self {
        use barista_store::{Placed, StoreError};
        match placed {
            Ok(Placed::Created(_)) => OrderOutcome::Created,
            Ok(Placed::Replayed(_)) => OrderOutcome::Replayed,
            Err(StoreError::OutOfStock { .. }) => OrderOutcome::OutOfStock,
            Err(_) => OrderOutcome::Rejected,
        }
    }
}

pub struct Metrics {
    /// False with `--no-metrics`: nothing is recorded on the request path.
    pub enabled: bool,
    routes: Vec<RouteMetrics>,
    pub active_requests: Gauge,
    pub open_connections: Gauge,
    menu_cache_hits: Counter,
    menu_cache_misses: Counter,
    pub sse_streams: Gauge,
    orders: [Counter; 4],
    pub admission_rejections: Counter,
    pub rate_limited: Counter,
    pub purged_keys: Counter,
    pub purged_events: Counter,
    /// The adaptive limit on database requests, once the layer makes it.
    database: std::sync::OnceLock<std::sync::Arc<super::admission::Adaptive>>,
}

impl Metrics {
    /// `templates`: every route template, then one for unmatched requests.
    pub fn new(enabled: bool, templates: &[&'static str]) -> Metrics {
        Metrics {
            enabled,
            routes: templates
                .iter()
                .map(|t| RouteMetrics {
                    template: t,
                    slots: std::array::from_fn(|_| Slot::default()),
                })
                .collect(),
            active_requests: Gauge::new(),
            open_connections: Gauge::new(),
            menu_cache_hits: Counter::new(),
            menu_cache_misses: Counter::new(),
            sse_streams: Gauge::new(),
            orders: [
                Counter::new(),
                Counter::new(),
                Counter::new(),
                Counter::new(),
            ],
            admission_rejections: Counter::new(),
            rate_limited: Counter::new(),
            purged_keys: Counter::new(),
            purged_events: Counter::new(),
            database: std::sync::OnceLock::new(),
        }
    }

    /// Shows the adaptive limit on database requests in the metrics.
    pub fn set_database_limit(&self, limit: std::sync::Arc<super::admission::Adaptive>) {
        let _ = self.database.set(limit);
    }

    pub fn observe_request(&self, route: usize, method: usize, status: u16, micros: u64) {
        let key = ((method as u32 + 1) << 16) | u32::from(status);
        if let Some(r) = self.routes.get(route) {
            r.slot(key).latency.observe_micros(micros);
        }
    }

    /// Counts an order's outcome (not with `--no-metrics`).
    pub fn order(&self, outcome: OrderOutcome) {
        if self.enabled {
            self.orders[outcome as usize].inc();
        }
    }

    pub fn menu_cache_hit(&self) {
        if self.enabled {
            self.menu_cache_hits.inc();
        }
    }

    pub fn menu_cache_miss(&self) {
        if self.enabled {
            self.menu_cache_misses.inc();
        }
    }

    /// Prometheus text format (version 0.0.4).
    pub fn render(&self, out: &mut String, pool: &barista_store::PoolStats) {
        let name = "http_server_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Duration of HTTP server requests, by method, route template and status."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for r in &self.routes {
            for slot in &r.slots {
                let key = slot.key.load(Relaxed);
                if key == 0 {
                    continue;
                }
                let method = METHODS[((key >> 16) as usize)
                    .saturating_sub(1)
                    .min(METHODS.len() - 1)];
                let labels = format!(
                    "http_request_method=\"{method}\",http_route=\"{}\",http_response_status_code=\"{}\"",
                    r.template,
                    key & 0xffff
                );
                slot.latency.render(out, name, &labels);
            }
        }
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        gauge(
            out,
            "http_server_active_requests",
            "HTTP requests being handled now.",
            self.active_requests.get(),
        );
        gauge(
            out,
            "barista_open_connections",
            "Client connections open now (the API listener).",
            self.open_connections.get(),
        );
        counter(
            out,
            "barista_menu_cache_hits_total",
            "Menu reads answered from the cache.",
            self.menu_cache_hits.get(),
        );
        counter(
            out,
            "barista_menu_cache_misses_total",
            "Menu reads that loaded the menu from the database.",
            self.menu_cache_misses.get(),
        );
        gauge(
            out,
            "barista_sse_streams",
            "Open Server-Sent Events streams.",
            self.sse_streams.get(),
        );
        let _ = writeln!(
            out,
            "# HELP barista_orders_total Order requests by outcome.\n# TYPE barista_orders_total counter"
        );
        for (label, c) in ["created", "replayed", "out_of_stock", "rejected"]
            .iter()
            .zip(&self.orders)
        {
            let _ = writeln!(
                out,
                "barista_orders_total{{outcome=\"{label}\"}} {}",
                c.get()
            );
        }
        counter(
            out,
            "barista_admission_rejections_total",
            "Requests shed with 503 overloaded.",
            self.admission_rejections.get(),
        );
        if let Some(limit) = self.database.get() {
            let _ = writeln!(
                out,
                "# HELP barista_admission_database_limit Requests to the database admitted at once (adaptive).\n# TYPE barista_admission_database_limit gauge\nbarista_admission_database_limit {:.0}\n# HELP barista_admission_database_in_flight Requests to the database in flight.\n# TYPE barista_admission_database_in_flight gauge\nbarista_admission_database_in_flight {}",
                limit.limit(),
                limit.in_flight()
            );
        }
        counter(
            out,
            "barista_rate_limited_total",
            "Requests refused with 429 rate_limited.",
            self.rate_limited.get(),
        );
        counter(
            out,
            "barista_purged_idempotency_keys_total",
            "Idempotency keys deleted after their TTL.",
            self.purged_keys.get(),
        );
        counter(
            out,
            "barista_purged_events_total",
            "Events deleted after their retention.",
            self.purged_events.get(),
        );
        let _ = writeln!(
            out,
            "# HELP barista_db_pool_connections Database connections by state.\n# TYPE barista_db_pool_connections gauge"
        );
        let _ = writeln!(
            out,
            "barista_db_pool_connections{{state=\"idle\"}} {}",
            pool.idle
        );
        let _ = writeln!(
            out,
            "barista_db_pool_connections{{state=\"in_use\"}} {}",
            pool.in_use
        );
        gauge(
            out,
            "barista_db_pool_max_connections",
            "Most database connections kept open.",
            pool.max as i64,
        );
        let wait = "barista_db_pool_wait_seconds_total";
        let _ = writeln!(
            out,
            "# HELP {wait} Time spent waiting for a database connection or the writer.\n# TYPE {wait} counter\n{wait} {}",
            pool.wait_micros as f64 / 1e6
        );
        counter(
            out,
            "barista_db_pool_waits_total",
            "Database operations that waited for a connection or the writer.",
            pool.waits,
        );
        counter(
            out,
            "barista_db_commits_total",
            "Write transactions committed (each may carry many requests).",
            pool.commits,
        );
        counter(
            out,
            "barista_db_committed_writes_total",
            "Write requests committed; divided by commits, the group-commit batch size.",
            pool.committed_writes,
        );
        if let Some(busy) = pool.writer_busy_micros {
            let name = "barista_db_writer_busy_seconds_total";
            let _ = writeln!(
                out,
                "# HELP {name} Time SQLite's single writer spent running and committing batches; its rate is the writer's utilization.\n# TYPE {name} counter\n{name} {}",
                busy as f64 / 1e6
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets_with_route_templates() {
        let m = Metrics::new(true, &["/v1/shops/{shop}/menu", "unmatched"]);
        m.observe_request(0, 0, 200, 300);
        m.observe_request(0, 0, 200, 2_000);
        m.observe_request(0, 0, 304, 100);
        m.observe_request(1, 1, 404, 20_000_000);
        let mut out = String::new();
        m.render(&mut out, &Default::default());
        let labels = r#"http_request_method="GET",http_route="/v1/shops/{shop}/menu",http_response_status_code="200""#;
        assert!(
            out.contains(&format!(
                "http_server_request_duration_seconds_bucket{{{labels},le=\"0.0005\"}} 1"
            )),
            "{out}"
        );
        assert!(out.contains(&format!(
            "http_server_request_duration_seconds_bucket{{{labels},le=\"0.0025\"}} 2"
        )));
        assert!(out.contains(&format!(
            "http_server_request_duration_seconds_count{{{labels}}} 2"
        )));
        assert!(
            out.contains(r#"http_route="unmatched",http_response_status_code="404",le="+Inf"} 1"#)
        );
        assert!(
            out.contains(r#"http_route="unmatched",http_response_status_code="404",le="10"} 0"#)
        );
    }

    #[test]
    fn slots_are_claimed_once_per_method_and_status() {
        let m = Metrics::new(true, &["/r"]);
        for _ in 0..3 {
            m.observe_request(0, 1, 201, 10);
        }
        let claimed = m.routes[0]
            .slots
            .iter()
            .filter(|s| s.key.load(Relaxed) != 0)
            .count();
        assert_eq!(claimed, 1);
    }
}
