//! What the doctor concludes, as data: a [`Verdict`] (which problem the
//! service has, with the figures that show it), the [`Cause`] it names (what
//! to change), and whether more replicas would help ([`MoreReplicas`]). The
//! judge (`judge.rs`) decides them from the measurements alone; `explain.rs`
//! turns them into words. JSON carries them as they are.

use super::measure::{RouteTime, WriterLoad};
use crate::database::Waiting;
use crate::database::plan::IndexAdvice;
use serde::Serialize;

/// Which problem the service has.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// The SLO held at every level and nothing stopped throughput growing.
    Healthy {
        up_to_connections: usize,
        /// The busiest replica's CPU at the last level, of its allowance.
        busiest_cpu: Option<f64>,
    },
    /// Slow already at one connection, with the CPU mostly idle.
    Performance {
        p99_ms: f64,
        limit_ms: Option<f64>,
        busiest_cpu: Option<f64>,
    },
    /// Latency grows as the CPU of a replica runs out.
    Capacity {
        at_connections: usize,
        /// The busiest replica's CPU wanted, and got, of its allowance.
        cpu_wanted: f64,
        cpu_got: f64,
    },
    /// Latency grows (or throughput stops growing) while the CPU is idle:
    /// requests queue for something else.
    Contention {
        at_connections: usize,
        busiest_cpu: f64,
        sigma: Option<f64>,
    },
    /// Throughput falls as load grows (seen again in every re-measurement).
    Coherency {
        peak_rps: f64,
        peak_connections: usize,
        last_rps: f64,
        last_connections: usize,
        kappa: Option<f64>,
        peak_concurrency: Option<f64>,
    },
    /// The load generator ran out of CPU first: the server was never pushed.
    Inconclusive {
        generator_share: f64,
        generator_allowance: f64,
        at_connections: usize,
        server_cpu: f64,
    },
}

impl Verdict {
    /// The verdict's one word.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Healthy { .. } => "healthy",
            Verdict::Performance { .. } => "performance",
            Verdict::Capacity { .. } => "capacity",
            Verdict::Contention { .. } => "contention",
            Verdict::Coherency { .. } => "coherency",
            Verdict::Inconclusive { .. } => "inconclusive",
        }
    }
}

/// What the time went to, named as precisely as the figures allow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// The figures point at nothing in particular.
    Unknown,
    /// The replicas' own CPU: each is full at its allowance.
    Cpu { allowance: Option<f64> },
    /// One replica full at its own allowance while the others idle, under an
    /// even share of the requests: a round-robin balancer's slowest member
    /// sets the fleet's latency.
    StarvedReplica {
        replica: String,
        cpu_share: f64,
        allowance: Option<f64>,
        others_cpu: f64,
        request_share: Option<f64>,
    },
    /// The balancer sends a replica far less (or far more) than its share.
    Unbalanced {
        replica: String,
        /// Its share of the requests, where its metrics count them.
        request_share: Option<f64>,
        even_share: f64,
        cpu_share: f64,
        others_cpu: f64,
    },
    /// Requests spend their time in round trips to the database, each slow
    /// while the database executes them fast: the network between them.
    Network {
        route: RouteTime,
        trip_ms: f64,
        /// A trivial statement's round trip, as the replica measured it.
        ping_ms: Option<f64>,
        /// The database's own execution time per statement
        /// (pg_stat_statements), where it was read.
        server_ms: Option<f64>,
    },
    /// One statement takes most of the database's time, reading a large
    /// table through a scan an index would avoid.
    MissingIndex {
        statement: String,
        share: f64,
        mean_ms: f64,
        advice: IndexAdvice,
        route: Option<RouteTime>,
    },
    /// One statement takes most of the database's time; no index is named
    /// (`plan_note` says why, when the plan could not be read).
    SlowStatement {
        statement: String,
        share: f64,
        mean_ms: f64,
        plan_note: Option<String>,
        route: Option<RouteTime>,
    },
    /// The time is in the database, in a few round trips that are each slow.
    SlowDatabase { route: RouteTime },
    /// Requests wait for one of a replica's few database connections while
    /// the database answers as fast as it did alone.
    Pool {
        route: RouteTime,
        pool_size: f64,
        suggested: u64,
        baseline_database_ms: f64,
    },
    /// The database got slower as load grew: it is the shared limit.
    Database {
        route: RouteTime,
        baseline_database_ms: f64,
        at_connections: usize,
        wait: Option<Waiting>,
    },
    /// The database's sessions queue on a lock.
    Lock {
        wait: Waiting,
        at_connections: usize,
    },
    /// SQLite's one writer is busy nearly all the time.
    Writer {
        load: WriterLoad,
        at_connections: usize,
    },
    /// The time is in the process itself, neither waiting nor in the database.
    InProcess { route: RouteTime },
}

/// Whether more replicas would help, and the figure behind the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum MoreReplicas {
    /// Yes: each replica adds about its capacity.
    Yes {
        each_rps: Option<f64>,
        needed: Option<u64>,
        target_rps: Option<f64>,
        cores: Option<f64>,
    },
    /// Not until one replica is fixed: the fleet waits on it.
    FixReplicaFirst { replica: String },
    /// No: the limit is shared (the database, a lock, the pool of each
    /// replica, the network), or the slowness is per request.
    No {
        /// The USL's peak, where the fit has one: (requests/s, in flight).
        peak: Option<(f64, f64)>,
    },
    /// Not at this load: the SLO held.
    NotNeeded { capacity_rps: Option<f64> },
    /// The measurements cannot tell.
    Unknown,
}

/// The judge's whole answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub cause: Cause,
    pub more_replicas: MoreReplicas,
    /// The level the verdict was read at (an index into the levels).
    pub decisive_level: usize,
    /// Throughput at the SLO: the best level that passed it.
    pub capacity_rps: Option<f64>,
    /// A replica that differs from the rest, named apart from the cause when
    /// the cause is something else (a replica the balancer left out of a
    /// healthy fleet).
    pub differing: Option<Cause>,
}
