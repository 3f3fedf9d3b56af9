//! Where a database call's time goes, as this process sees it: waiting for a
//! connection (or SQLite's writer), then on the connection, in round trips.
//!
//! Two scopes carry the figures, both task-local so nothing is passed through
//! the transactions:
//!
//! - every store call runs in a [`Call`] scope (`db.rs`): the backend adds the
//!   time it waited for a connection and each round trip to it; when the call
//!   ends its figures go to the process-wide [`Timings`], by [`Statement`];
//! - a request may run in a [`RequestTiming`] scope (the server's observe
//!   layer opens one): the calls it makes add to it, so the server can split
//!   the request's time into waiting for a connection, the database, and
//!   the rest.
//!
//! Why task-local and not a parameter: a transaction is written once for both
//! backends over a `Conn` that knows nothing of requests, and a request's
//! calls may come from any handler; a `Cell` in the task's own scope costs no
//! allocation and no atomic, and a call outside any request (the hub's
//! reader, retention) is simply counted in [`Timings`] alone.
//!
//! A round trip is one send-and-wait on the connection: statements sent
//! together (an order's writes are pipelined) are one trip, so on PostgreSQL a
//! call's time divided by its trips is what one trip costs as this replica
//! sees it (network and server both), to set beside the server's own
//! execution time (`pg_stat_statements`) and the ping (a trivial statement's
//! round trip, measured every second on the listening connection).

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Instant;
use tokio::task::futures::TaskLocalFuture;

macro_rules! statements {
    ($($kind:ident => $name:literal,)*) => {
        /// The kinds of database call: the store's named transactions. A
        /// bounded set, so each is a metric label.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Statement {
            $($kind,)*
        }

        impl Statement {
            /// Every kind, in the order of their indexes.
            pub const ALL: &'static [Statement] = &[$(Statement::$kind,)*];

            /// The kind's label: the transaction's name in snake case.
            pub fn name(self) -> &'static str {
                match self {
                    $(Statement::$kind => $name,)*
                }
            }
        }
    };
}

statements! {
    HasShops => "has_shops",
    Ping => "ping",
    CreateShop => "create_shop",
    FindShop => "find_shop",
    MenuVersion => "menu_version",
    MenuVersions => "menu_versions",
    ReadMenu => "read_menu",
    PutItem => "put_item",
    PatchItem => "patch_item",
    DeleteItem => "delete_item",
    PlaceOrder => "place_order",
    ClaimNext => "claim_next",
    SetStatus => "set_status",
    ReadOrder => "read_order",
    ListOrders => "list_orders",
    EventsAfter => "events_after",
    OrderEventsAfter => "order_events_after",
    LastEvent => "last_event",
    EventsAfterAny => "events_after_any",
    LastEventAny => "last_event_any",
    ShopIds => "shop_ids",
    Purge => "purge",
    PutModifierGroup => "put_modifier_group",
    DeleteModifierGroup => "delete_modifier_group",
    SetModifierAvailable => "set_modifier_available",
    ReadSchedule => "read_schedule",
    ChangeSchedule => "change_schedule",
    ReadQueue => "read_queue",
    ChangeShop => "change_shop",
    ListShops => "list_shops",
    ReadReport => "read_report",
    ShopRows => "shop_rows",
    DeleteShop => "delete_shop",
    ExportShop => "export_shop",
    ImportShop => "import_shop",
}

/// Upper bounds of the latency histograms, in seconds: 0.1 ms to 10 s (a
/// database round trip on one machine takes well under a millisecond).
pub const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A fixed-bucket latency histogram in relaxed atomics: three adds per
/// observation, read whenever metrics are rendered. The server keeps its
/// request latencies in the same kind, with its own bounds.
pub struct Histogram {
    /// Upper bounds in seconds, rising.
    bounds: &'static [f64],
    /// Non-cumulative counts per bucket, plus one for +Inf.
    buckets: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&BUCKETS)
    }
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe_micros(&self, micros: u64) {
        let seconds = micros as f64 / 1e6;
        let i = self
            .bounds
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// The upper bounds, in seconds.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Cumulative counts per bound, then +Inf.
    pub fn cumulative(&self) -> Vec<u64> {
        let mut total = 0;
        self.buckets
            .iter()
            .map(|b| {
                total += b.load(Relaxed);
                total
            })
            .collect()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros.load(Relaxed) as f64 / 1e6
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}

/// One kind of call, over the process's life.
#[derive(Default)]
pub struct StatementTimes {
    /// Time on the connection per call (its wait for one not included).
    pub time: Histogram,
    /// Round trips, summed over the calls.
    pub round_trips: AtomicU64,
}

/// The process's database timings, by kind of call.
pub struct Timings {
    statements: Vec<StatementTimes>,
    /// A trivial statement's round trip on an idle connection, sampled every
    /// second (PostgreSQL only: SQLite has no network).
    pub ping: Histogram,
    /// The server this replica writes to (`host:port` as the server sees
    /// itself), once known (PostgreSQL only).
    primary: std::sync::Mutex<Option<String>>,
    /// Times that server changed under this replica: a failover or a switchover.
    failovers: AtomicU64,
    /// Pool connections dropped because their server went away or stopped
    /// being the primary.
    dropped: AtomicU64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            statements: Statement::ALL
                .iter()
                .map(|_| StatementTimes::default())
                .collect(),
            ping: Histogram::default(),
            primary: std::sync::Mutex::new(None),
            failovers: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }
}

impl Timings {
    /// The primary, as found by a new connection; a change is a failover.
    pub fn primary_is(&self, server: String) {
        let mut primary = self.primary.lock().unwrap_or_else(|p| p.into_inner());
        if primary.as_ref().is_some_and(|known| *known != server) {
            self.failovers.fetch_add(1, Relaxed);
            tracing::warn!(primary = %server, was = ?*primary, "the database's primary changed");
        }
        *primary = Some(server);
    }

    pub fn primary(&self) -> Option<String> {
        self.primary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn failovers(&self) -> u64 {
        self.failovers.load(Relaxed)
    }

    pub fn connection_dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    pub fn connections_dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    pub fn statement(&self, kind: Statement) -> &StatementTimes {
        &self.statements[kind as usize]
    }

    fn record(&self, kind: Statement, micros: u64, round_trips: u64) {
        let s = self.statement(kind);
        s.time.observe_micros(micros);
        if round_trips > 0 {
            s.round_trips.fetch_add(round_trips, Relaxed);
        }
    }
}

/// One store call's figures, filled in by the backend.
#[derive(Debug, Default)]
pub(crate) struct Call {
    pool_wait_micros: Cell<u64>,
    round_trips: Cell<u64>,
}

tokio::task_local! {
    static CALL: Call;
    static REQUEST: RequestTiming;
}

/// What one request's database calls cost, summed over its calls.
#[derive(Debug, Default)]
pub struct RequestTiming {
    database_micros: Cell<u64>,
    pool_wait_micros: Cell<u64>,
    round_trips: Cell<u64>,
}

impl RequestTiming {
    /// Time on database connections (round trips, and SQLite's statements).
    pub fn database_micros(&self) -> u64 {
        self.database_micros.get()
    }
    /// Time waiting for a connection (PostgreSQL) or the writer (SQLite).
    pub fn pool_wait_micros(&self) -> u64 {
        self.pool_wait_micros.get()
    }
    pub fn round_trips(&self) -> u64 {
        self.round_trips.get()
    }
}

/// Runs `f` (a request) with its database calls counted; the figures are
/// taken from the returned future (`TaskLocalFuture::take_value`).
pub fn in_request<F: Future>(f: F) -> TaskLocalFuture<RequestTiming, F> {
    REQUEST.scope(RequestTiming::default(), f)
}

/// The backend waited this long for a connection (or the writer).
pub(crate) fn pool_waited(micros: u64) {
    let _ = CALL.try_with(|c| c.pool_wait_micros.set(c.pool_wait_micros.get() + micros));
}

/// The backend made `n` round trips.
pub(crate) fn round_trips(n: u64) {
    let _ = CALL.try_with(|c| c.round_trips.set(c.round_trips.get() + n));
}

/// Runs one store call of `kind`: its time (less its wait for a connection)
/// and round trips go to `timings`, and to the request it serves, if any.
pub(crate) async fn call<T>(timings: &Timings, kind: Statement, f: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let mut scoped = std::pin::pin!(CALL.scope(Call::default(), f));
    let out = scoped.as_mut().await;
    let call = scoped.take_value().unwrap_or_default();
    let total = started.elapsed().as_micros() as u64;
    let waited = call.pool_wait_micros.get().min(total);
    let on_connection = total - waited;
    let trips = call.round_trips.get();
    timings.record(kind, on_connection, trips);
    let _ = REQUEST.try_with(|r| {
        r.database_micros
            .set(r.database_micros.get() + on_connection);
        r.pool_wait_micros.set(r.pool_wait_micros.get() + waited);
        r.round_trips.set(r.round_trips.get() + trips);
    });
    out
}

/// Counts round trips on one connection: statements in flight together are
/// one trip (they were pipelined), so a trip is a stretch of time with at
/// least one statement waiting for its answer.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    /// Atomic only because a connection is shared as `Sync`; one task uses it.
    in_flight: AtomicU32,
}

impl Wire {
    /// Runs one statement's send-and-wait.
    pub(crate) async fn trip<T>(&self, f: impl Future<Output = T>) -> T {
        if self.in_flight.fetch_add(1, Relaxed) == 0 {
            round_trips(1);
        }
        let out = f.await;
        self.in_flight.fetch_sub(1, Relaxed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_counts_its_wait_apart_and_adds_to_its_request() {
        let timings = Timings::default();
        let mut request = std::pin::pin!(in_request(async {
            call(&timings, Statement::PlaceOrder, async {
                pool_waited(1_000);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                let wire = Wire::default();
                // Two statements sent together (both wait for their answers
                // at once), then one more: two trips.
                let answer = || wire.trip(tokio::task::yield_now());
                let ((), ()) = tokio::join!(answer(), answer());
                answer().await;
            })
            .await;
            call(&timings, Statement::ReadOrder, async {}).await;
        }));
        request.as_mut().await;
        let r = request.take_value().unwrap();
        assert_eq!(r.pool_wait_micros(), 1_000);
        assert_eq!(r.round_trips(), 2);
        assert!(r.database_micros() >= 3_000, "{r:?}");
        let placed = timings.statement(Statement::PlaceOrder);
        assert_eq!(placed.time.count(), 1);
        assert_eq!(placed.round_trips.load(Relaxed), 2);
        assert_eq!(timings.statement(Statement::ReadOrder).time.count(), 1);
    }

    #[tokio::test]
    async fn a_call_outside_a_request_is_counted_by_kind_alone() {
        let timings = Timings::default();
        call(&timings, Statement::Purge, async { pool_waited(10) }).await;
        assert_eq!(timings.statement(Statement::Purge).time.count(), 1);
    }

    #[test]
    fn every_kind_has_its_own_name_and_index() {
        for (i, kind) in Statement::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
        let mut names: Vec<_> = Statement::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Statement::ALL.len());
    }

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::default();
        h.observe_micros(50);
        h.observe_micros(3_000);
        h.observe_micros(20_000_000);
        let c = h.cumulative();
        assert_eq!(c[0], 1);
        assert_eq!(c[5], 2, "3 ms is under 5 ms");
        assert_eq!(c[BUCKETS.len()], 3);
        assert_eq!(h.count(), 3);
    }
}
