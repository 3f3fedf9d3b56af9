//! Measuring: one load level at a time (closed model, a fixed number of
//! connections), with the server's telemetry read before and after it. A
//! level is what the judge reads: throughput and latency from the generator,
//! CPU per replica against its own allowance, and, from a Barista's metrics,
//! where its requests' time went (waiting, database, process) and what one
//! database round trip cost.

use crate::engine::{Model, Plan, run};
use crate::profile::Profile;
use crate::report::LoadReport;
use crate::telemetry::{Phases, Sample};
use crate::workload::Workload;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

use super::{DoctorError, DoctorPlan};

/// The connection counts tried, in order.
pub const LEVELS: [usize; 16] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];

#[derive(Debug, Clone, Default, Serialize)]
pub struct Level {
    pub connections: usize,
    /// Little's law: throughput × mean latency.
    pub concurrency: f64,
    pub throughput_rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub requests: u64,
    pub errors: u64,
    pub slo_passed: bool,
    /// Cores the server used during the level (every replica's together).
    pub server_cpu_cores: f64,
    /// The same, as a share of the allowances together.
    pub server_cpu_share: Option<f64>,
    /// CPU it wanted (used plus waiting to run), as a share of its allowance:
    /// above its use when other processes crowd it out (`--pid` only).
    pub server_cpu_demand: Option<f64>,
    /// Each replica's CPU as a share of its own allowance (a fleet only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replica_cpu: Vec<f64>,
    /// Each replica's CPU wanted (used, and waited for), where it is known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replica_demand: Vec<f64>,
    pub server_rss_mb: f64,
    /// The generator's CPU, as a share of its own allowance.
    pub generator_cpu_share: f64,
    /// With `--database`: what the database's active sessions waited on most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_wait: Option<crate::database::Waiting>,
    /// SQLite's single writer during the level (a Barista over SQLite).
    pub sqlite_writer: Option<WriterLoad>,
    /// Where the time of each route that goes to the database went (a
    /// Barista's metrics), the route with the most time first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteTime>,
    /// A trivial statement's round trip to the database, as the replicas saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_ping_ms: Option<f64>,
    /// Database connections each replica's pool keeps at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<f64>,
    /// Changes of the database's primary the replicas saw during the level
    /// (a failover or a switchover).
    #[serde(skip_serializing_if = "is_zero")]
    pub failovers: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Level {
    /// The column names of [`Level::row`].
    pub fn header(slo: &crate::slo::Slo) -> String {
        format!(
            "{:>11} {:>10} {:>12} {:>9} {:>9} {:>11}  SLO {}",
            "connections", "in flight", "responses/s", "p50", "p99", "server CPU", slo.expr
        )
    }

    /// One line of the table the doctor prints as it measures.
    pub fn row(&self) -> String {
        format!(
            "{:>11} {:>10.1} {:>12.1} {:>9} {:>9} {:>11}  {}",
            self.connections,
            self.concurrency,
            self.throughput_rps,
            crate::duration::fmt_ms(self.p50_ms),
            crate::duration::fmt_ms(self.p99_ms),
            self.busiest_cpu()
                .map_or("?".into(), |s| format!("{:.0}%", 100.0 * s)),
            if self.slo_passed { "pass" } else { "FAIL" }
        )
    }

    /// The CPU of the replica nearest its allowance (the fleet's when each is
    /// unknown): a replica is full at its own allowance, whatever the others do.
    pub fn busiest_cpu(&self) -> Option<f64> {
        let busiest = self
            .replica_cpu
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        busiest.or(self.server_cpu_share)
    }

    /// The CPU wanted at the busiest replica: its use, or, with `--pid`, its
    /// use plus its wait for a CPU (other processes crowding it out).
    pub fn busiest_demand(&self) -> Option<f64> {
        if self.replica_cpu.is_empty() {
            self.server_cpu_demand.or(self.server_cpu_share)
        } else if self.replica_demand.len() == self.replica_cpu.len() {
            self.replica_demand.iter().copied().reduce(f64::max)
        } else {
            self.busiest_cpu()
        }
    }

    /// The route whose requests took the most time in all (the level's time
    /// went there), if the server reports where time goes.
    pub fn main_route(&self) -> Option<&RouteTime> {
        self.routes.first()
    }
}

/// How hard SQLite's one writer worked during a level (summed over replicas,
/// each with its own writer: the share is then of all their time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WriterLoad {
    /// Share of the level's time the writer spent on batches.
    pub busy_share: f64,
    pub commits_per_s: f64,
    pub writes_per_s: f64,
}

/// Where one route's requests spent their time during a level, per request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteTime {
    pub route: String,
    pub requests_per_s: f64,
    pub mean_ms: f64,
    pub admission_wait_ms: f64,
    pub pool_wait_ms: f64,
    pub database_ms: f64,
    pub process_ms: f64,
    /// Database round trips per request (0 on SQLite).
    pub round_trips: f64,
}

impl RouteTime {
    /// From the difference of two samples' figures over `secs`.
    pub fn of(route: &str, p: &Phases, secs: f64) -> Option<RouteTime> {
        let n = p.requests;
        (n >= 1.0).then(|| {
            let ms = |s: f64| 1000.0 * s.max(0.0) / n;
            RouteTime {
                route: route.to_owned(),
                requests_per_s: n / secs.max(1e-9),
                mean_ms: ms(p.admission_wait + p.pool_wait + p.database + p.process),
                admission_wait_ms: ms(p.admission_wait),
                pool_wait_ms: ms(p.pool_wait),
                database_ms: ms(p.database),
                process_ms: ms(p.process),
                round_trips: p.round_trips.max(0.0) / n,
            }
        })
    }

    /// Time per database round trip, as the replica saw it.
    pub fn trip_ms(&self) -> Option<f64> {
        (self.round_trips >= 0.5).then(|| self.database_ms / self.round_trips)
    }
}

/// Each route's time between two samples, the route with the most time first.
fn route_times(before: &Sample, after: &Sample, secs: f64) -> Vec<RouteTime> {
    let mut routes: Vec<RouteTime> = after
        .phases
        .iter()
        .filter_map(|(route, p)| {
            let p0 = before.phases.get(route).copied().unwrap_or_default();
            RouteTime::of(route, &p.since(&p0), secs)
        })
        .collect();
    routes
        .sort_by(|a, b| (b.mean_ms * b.requests_per_s).total_cmp(&(a.mean_ms * a.requests_per_s)));
    routes
}

/// One level: `connections` for `step`, telemetry read after it (`before` is
/// the reading that ended the last level).
pub(super) async fn level(
    plan: &DoctorPlan,
    workload: &Arc<dyn Workload>,
    connections: usize,
    step: Duration,
    before: &Sample,
    generator_allowance: f64,
) -> Result<(Level, Sample, LoadReport), DoctorError> {
    let run_plan = Plan {
        model: Model::Closed {
            connections: Profile::constant(connections as f64, step),
            think: Duration::ZERO,
        },
        timeout: plan.timeout,
        progress: plan.progress,
        threads: plan.threads,
        requests: None,
    };
    let db_before = plan.database.as_ref().map(|d| d.snapshot());
    let outcome = run(&run_plan, workload.clone()).await;
    let database_wait = plan
        .database
        .as_ref()
        .zip(db_before)
        .and_then(|(d, before)| d.snapshot().since(&before).top());
    let after = plan.telemetry.sample().await?;
    let report = LoadReport::new(&outcome, String::new(), vec![], Some(&plan.slo));
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let cores = (after.cpu_seconds - before.cpu_seconds).max(0.0) / secs;
    // Each replica against its own allowance: (used, wanted when known).
    let each: Vec<(f64, Option<f64>)> = if after.replicas.len() > 1 {
        after
            .replicas
            .iter()
            .zip(&before.replicas)
            .map(|(now, then)| {
                let secs = (now.wall_s - then.wall_s).max(1e-9);
                let allowance = now.allowance.unwrap_or(1.0).max(1e-9);
                let used = (now.cpu_seconds - then.cpu_seconds).max(0.0) / secs / allowance;
                let waited = now
                    .cpu_wait_seconds
                    .zip(then.cpu_wait_seconds)
                    .map(|(w1, w0)| (w1 - w0).max(0.0) / secs / allowance);
                (used, waited.map(|w| used + w))
            })
            .collect()
    } else {
        vec![]
    };
    let replica_cpu = each.iter().map(|e| e.0).collect();
    let replica_demand = each.iter().filter_map(|e| e.1).collect();
    let db_ping_ms = after
        .ping
        .zip(before.ping)
        .and_then(|((s1, n1), (s0, n0))| (n1 > n0).then(|| 1000.0 * (s1 - s0) / (n1 - n0)));
    let level = Level {
        connections,
        concurrency: report.throughput_rps * report.latency_ms.mean / 1000.0,
        throughput_rps: report.throughput_rps,
        p50_ms: report.latency_ms.p50,
        p99_ms: report.latency_ms.p99,
        mean_ms: report.latency_ms.mean,
        requests: report.requests,
        errors: report.error_count(),
        slo_passed: report.slo.as_ref().is_some_and(|s| s.passed),
        server_cpu_cores: cores,
        server_cpu_share: after.allowance.map(|a| cores / a.max(1e-9)),
        server_cpu_demand: after
            .allowance
            .zip(after.cpu_wait_seconds.zip(before.cpu_wait_seconds))
            .map(|(a, (w1, w0))| (cores + (w1 - w0).max(0.0) / secs) / a.max(1e-9)),
        replica_cpu,
        replica_demand,
        server_rss_mb: after.rss_bytes / 1e6,
        generator_cpu_share: outcome.generator_cpu_s / secs / generator_allowance.max(1e-9),
        database_wait,
        sqlite_writer: after
            .writer
            .zip(before.writer)
            .map(|((b1, c1, w1), (b0, c0, w0))| WriterLoad {
                busy_share: (b1 - b0).max(0.0) / secs / after.replicas.len().max(1) as f64,
                commits_per_s: (c1 - c0).max(0.0) / secs,
                writes_per_s: (w1 - w0).max(0.0) / secs,
            }),
        routes: route_times(before, &after, secs),
        failovers: after
            .failovers
            .zip(before.failovers)
            .map_or(0.0, |(f1, f0)| (f1 - f0).max(0.0)),
        db_ping_ms,
        pool_size: after
            .pool_size
            .map(|p| p / after.replicas.len().max(1) as f64),
    };
    Ok((level, after, report))
}

/// One replica over the whole diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaLoad {
    pub name: String,
    /// CPU used, as a share of its allowance (cores where that is unknown).
    pub cpu_share: f64,
    /// Its allowance in cores, when known.
    pub allowance: Option<f64>,
    /// Its share of the requests its metrics counted, when they count them.
    pub request_share: Option<f64>,
}

/// Each replica's load from the first sample to the last.
pub(super) fn replica_loads(names: &[String], first: &Sample, last: &Sample) -> Vec<ReplicaLoad> {
    let total_requests = last.requests() - first.requests();
    names
        .iter()
        .zip(first.replicas.iter().zip(&last.replicas))
        .map(|(name, (a, b))| {
            let secs = (b.wall_s - a.wall_s).max(1e-9);
            let cores = (b.cpu_seconds - a.cpu_seconds).max(0.0) / secs;
            ReplicaLoad {
                name: name.clone(),
                cpu_share: cores / b.allowance.unwrap_or(1.0).max(1e-9),
                allowance: b.allowance,
                request_share: (total_requests >= 100.0)
                    .then(|| (b.requests() - a.requests()) / total_requests),
            }
        })
        .collect()
}
