//! Barista's metrics, kept in atomics and rendered in the Prometheus text format.
//!
//! Hand-rolled rather than a metrics crate: the hot path is one slot lookup and
//! three relaxed atomic adds per request, and the label set is fixed by design
//! (method, route template, status; never a shop, an order, or anything a
//! client chooses), so a general-purpose registry would buy nothing.

use barista_store::timing::{Histogram, Statement, Timings};
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

struct Slot {
    /// 0 while free; else `method << 16 | status`.
    key: AtomicU32,
    latency: Histogram,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            key: AtomicU32::new(0),
            latency: Histogram::new(&BUCKETS),
        }
    }
}

/// The request histograms of one route template.
pub struct RouteMetrics {
    template: &'static str,
    slots: [Slot; SLOTS],
    phases: Phases,
}

/// Where the requests of a route that goes to the database spent their time;
/// the four parts add up to the request's duration.
#[derive(Default)]
struct Phases {
    /// Waiting to be admitted (`observe::admission`).
    admission_wait: Histogram,
    /// Waiting for a database connection, or SQLite's writer.
    pool_wait: Histogram,
    /// On a database connection: round trips, and the database's work.
    database: Histogram,
    /// The rest: in the process itself (parsing, rules, serializing, queues).
    process: Histogram,
    round_trips: AtomicU64,
}

/// The parts of a request's time, as [`Metrics::observe_phases`] takes them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseTimes {
    pub admission_wait_micros: u64,
    pub pool_wait_micros: u64,
    pub database_micros: u64,
    pub round_trips: u64,
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
    /// Kept up to date by the connection loop (`barista_http::serve`).
    pub open_connections: std::sync::Arc<AtomicI64>,
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
    /// The door's lanes, once the server makes them.
    lanes: std::sync::OnceLock<std::sync::Arc<barista_http::Lanes>>,
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
                    phases: Phases::default(),
                })
                .collect(),
            active_requests: Gauge::new(),
            open_connections: Default::default(),
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
            lanes: std::sync::OnceLock::new(),
        }
    }

    /// Shows the door's lanes in the metrics.
    pub fn set_lanes(&self, lanes: std::sync::Arc<barista_http::Lanes>) {
        let _ = self.lanes.set(lanes);
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

    /// Splits a request of `route` that took `micros` into its parts: what it
    /// waited for, what the database took, and the rest (the process).
    pub fn observe_phases(&self, route: usize, micros: u64, parts: PhaseTimes) {
        let Some(r) = self.routes.get(route) else {
            return;
        };
        let p = &r.phases;
        let waited = parts.admission_wait_micros + parts.pool_wait_micros;
        // Calls made at once by one request overlap: the rest is never below 0.
        let process = micros.saturating_sub(waited + parts.database_micros);
        p.admission_wait.observe_micros(parts.admission_wait_micros);
        p.pool_wait.observe_micros(parts.pool_wait_micros);
        p.database.observe_micros(parts.database_micros);
        p.process.observe_micros(process);
        p.round_trips.fetch_add(parts.round_trips, Relaxed);
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
                render_histogram(out, name, &labels, &slot.latency);
            }
        }
        self.render_phases(out);
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
            self.open_connections.load(Relaxed),
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
        if let Some(lanes) = self.lanes.get() {
            let _ = writeln!(
                out,
                "# HELP barista_executor_delay_seconds How long a ready task waits for its turn (smoothed): past the target, the cheap lane closes.\n# TYPE barista_executor_delay_seconds gauge\nbarista_executor_delay_seconds {:.6}\n# HELP barista_cheap_lane_open Whether menu and shop reads pass the door at once (1) or wait for CPU the orders leave (0).\n# TYPE barista_cheap_lane_open gauge\nbarista_cheap_lane_open {}\n# HELP barista_cheap_lane_waiting Cheap requests waiting at the door now.\n# TYPE barista_cheap_lane_waiting gauge\nbarista_cheap_lane_waiting {}",
                lanes.delay().as_secs_f64(),
                u8::from(lanes.is_open()),
                lanes.waiting()
            );
            counter(
                out,
                "barista_cheap_lane_closed_total",
                "Times the cheap lane closed because the replica was out of CPU.",
                lanes.closed_total(),
            );
            counter(
                out,
                "barista_cheap_lane_waited_total",
                "Cheap requests that waited at the door for their turn.",
                lanes.waited_total(),
            );
            counter(
                out,
                "barista_cheap_lane_refusals_total",
                "Cheap requests answered 503 overloaded after waiting the longest wait.",
                lanes.refused_total(),
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

impl Metrics {
    fn render_phases(&self, out: &mut String) {
        let name = "barista_request_phase_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Where requests of the routes that go to the database spent their time: admission_wait, pool_wait (a connection, or SQLite's writer), database (on the connection), process (the rest).\n# TYPE {name} histogram"
        );
        let used = || self.routes.iter().filter(|r| r.phases.process.count() > 0);
        for r in used() {
            let p = &r.phases;
            for (phase, h) in [
                ("admission_wait", &p.admission_wait),
                ("pool_wait", &p.pool_wait),
                ("database", &p.database),
                ("process", &p.process),
            ] {
                let labels = format!("http_route=\"{}\",phase=\"{phase}\"", r.template);
                render_histogram(out, name, &labels, h);
            }
        }
        let trips = "barista_request_db_round_trips_total";
        let _ = writeln!(
            out,
            "# HELP {trips} Database round trips made by requests, by route (statements sent together are one).\n# TYPE {trips} counter"
        );
        for r in used() {
            let _ = writeln!(
                out,
                "{trips}{{http_route=\"{}\"}} {}",
                r.template,
                r.phases.round_trips.load(Relaxed)
            );
        }
    }
}

/// The store's timings: time and round trips per kind of call, and the ping.
pub fn render_timings(out: &mut String, timings: &Timings) {
    let name = "barista_db_statement_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time on a database connection per call, by kind of call (the store's transactions), its wait for the connection not included.\n# TYPE {name} histogram"
    );
    let used = || {
        Statement::ALL
            .iter()
            .map(|k| (k.name(), timings.statement(*k)))
            .filter(|(_, t)| t.time.count() > 0)
    };
    for (kind, t) in used() {
        render_histogram(out, name, &format!("statement=\"{kind}\""), &t.time);
    }
    let trips = "barista_db_round_trips_total";
    let _ = writeln!(
        out,
        "# HELP {trips} Database round trips, by kind of call (statements sent together are one; SQLite makes none).\n# TYPE {trips} counter"
    );
    for (kind, t) in used() {
        let _ = writeln!(
            out,
            "{trips}{{statement=\"{kind}\"}} {}",
            t.round_trips.load(Relaxed)
        );
    }
    let name = "barista_db_ping_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Round trip of a trivial statement on an idle connection, every second: the network to the database as this replica sees it (PostgreSQL only).\n# TYPE {name} histogram"
    );
    if timings.ping.count() > 0 {
        render_histogram(out, name, "", &timings.ping);
    }
    if let Some(server) = timings.primary() {
        let name = "barista_db_primary_info";
        let _ = writeln!(
            out,
            "# HELP {name} The database server this replica writes to, as it names itself (PostgreSQL only).\n# TYPE {name} gauge\n{name}{{server=\"{}\"}} 1",
            server.replace(['\\', '"', '\n'], "_")
        );
    }
    let name = "barista_db_failovers_total";
    let _ = writeln!(
        out,
        "# HELP {name} Times the primary this replica writes to changed: a failover or a switchover (PostgreSQL only).\n# TYPE {name} counter\n{name} {}",
        timings.failovers()
    );
    let name = "barista_db_connections_dropped_total";
    let _ = writeln!(
        out,
        "# HELP {name} Pool connections dropped because their server went away, shut down or stopped being the primary (PostgreSQL only).\n# TYPE {name} counter\n{name} {}",
        timings.connections_dropped()
    );
}

/// One histogram, its buckets made cumulative; `labels` may be empty.
fn render_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let cumulative = h.cumulative();
    let sep = if labels.is_empty() { "" } else { "," };
    for (bound, n) in h.bounds().iter().zip(&cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
        cumulative[h.bounds().len()]
    );
    let braced = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braced} {}", h.sum_seconds());
    let _ = writeln!(out, "{name}_count{braced} {}", h.count());
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
    fn a_request_s_parts_add_up_to_its_duration_and_only_used_routes_are_shown() {
        let m = Metrics::new(true, &["/v1/shops/{shop}/orders", "/v1/shops/{shop}/menu"]);
        let parts = PhaseTimes {
            admission_wait_micros: 100,
            pool_wait_micros: 2_000,
            database_micros: 5_000,
            round_trips: 4,
        };
        m.observe_phases(0, 10_000, parts);
        let mut out = String::new();
        m.render(&mut out, &Default::default());
        let line = |phase: &str, v: &str| {
            format!(
                "barista_request_phase_seconds_sum{{http_route=\"/v1/shops/{{shop}}/orders\",phase=\"{phase}\"}} {v}\n"
            )
        };
        for (phase, v) in [
            ("admission_wait", "0.0001"),
            ("pool_wait", "0.002"),
            ("database", "0.005"),
            ("process", "0.0029"),
        ] {
            assert!(out.contains(&line(phase, v)), "{phase}: {out}");
        }
        assert!(out.contains(
            "barista_request_db_round_trips_total{http_route=\"/v1/shops/{shop}/orders\"} 4\n"
        ));
        assert!(!out.contains("http_route=\"/v1/shops/{shop}/menu\",phase"));
        // Calls made at once overlap: the rest is never negative.
        m.observe_phases(0, 1_000, parts);
    }

    #[test]
    fn the_store_s_timings_are_shown_by_kind_of_call() {
        let timings = Timings::default();
        let mut out = String::new();
        render_timings(&mut out, &timings);
        assert!(out.contains("# TYPE barista_db_ping_seconds histogram"));
        assert!(!out.contains("statement=\""), "no call yet: {out}");
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
