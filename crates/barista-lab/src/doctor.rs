//! `barista doctor`: is the service slow because of performance, or because it
//! does not scale?
//!
//! 1. Baseline: latency at one connection.
//! 2. Sweep: 1, 2, 3, 4, 6, 8, 12, 16, ... connections (closed model), until the
//!    SLO breaks or throughput stops growing (with at least six levels for the
//!    fit), or the time budget runs out.
//! 3. Telemetry at every level: the server's CPU against its allowance, memory,
//!    and, from a Barista, per-route latency and database pool wait. The
//!    generator's own CPU is watched too.
//! 4. Fit the Universal Scalability Law on the levels (N from Little's law).
//! 5. Verdict: healthy, performance, capacity, contention or coherency, with
//!    the figures behind it and what to do next; inconclusive when the
//!    generator ran out of CPU before the server was pushed. With a database
//!    to read (`crate::database`), the lock its sessions queue on is named.

use crate::engine::{Model, Plan, run};
use crate::profile::Profile;
use crate::report::LoadReport;
use crate::slo::{Metric, Slo};
use crate::telemetry::{Fleet, Sample};
use crate::usl::{self, Usl};
use crate::workload::Workload;
use barista_sys::Process;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The connection counts tried, in order.
pub const LEVELS: [usize; 16] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];
/// Share of its allowance above which the server's CPU counts as saturated.
const CPU_BUSY: f64 = 0.7;
/// Share below which the server's CPU counts as mostly idle.
const CPU_IDLE: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct DoctorPlan {
    pub slo: Slo,
    pub budget: Duration,
    pub target_rate: Option<f64>,
    /// The replicas' figures (one source each).
    pub telemetry: Fleet,
    pub timeout: Duration,
    pub max_connections: usize,
    pub progress: bool,
    /// Generator threads (default: one per core).
    pub threads: Option<usize>,
    /// PostgreSQL to sample while measuring (`--database`).
    pub database: Option<Arc<crate::database::Database>>,
}

#[derive(Debug, Clone, Serialize)]
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
    /// Cores the server used during the level.
    pub server_cpu_cores: f64,
    /// The same, as a share of its allowance.
    pub server_cpu_share: Option<f64>,
    /// CPU it wanted (used plus waiting to run), as a share of its allowance:
    /// above its use when other processes crowd it out (`--pid` only).
    pub server_cpu_demand: Option<f64>,
    pub server_rss_mb: f64,
    /// The generator's CPU, as a share of its own allowance.
    pub generator_cpu_share: f64,
    /// With `--database`: what the database's active sessions waited on most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_wait: Option<crate::database::Waiting>,
    /// SQLite's single writer during the level (a Barista over SQLite).
    pub sqlite_writer: Option<WriterLoad>,
}

impl Level {
    /// The column names of [`Level::row`].
    pub fn header(slo: &Slo) -> String {
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
            self.server_cpu_share
                .map_or("?".into(), |s| format!("{:.0}%", 100.0 * s)),
            if self.slo_passed { "pass" } else { "FAIL" }
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteLatency {
    pub route: String,
    pub mean_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub verdict: &'static str,
    pub evidence: Vec<String>,
    pub next_steps: Vec<String>,
    pub usl: Option<Usl>,
    /// Why there is no fit, when there is none.
    pub usl_note: Option<String>,
    pub slo: String,
    pub targets: Vec<String>,
    pub cpu_allowance_cores: Option<f64>,
    pub capacity_rps: Option<f64>,
    pub target_rate: Option<f64>,
    pub replicas_needed: Option<u64>,
    pub cores_needed: Option<f64>,
    pub slowest_route: Option<RouteLatency>,
    pub db_pool_wait_ms: Option<f64>,
    /// Each replica's share of the work, when the fleet has more than one.
    pub replicas: Vec<ReplicaLoad>,
    /// The replica whose load differs from the rest, if one does.
    pub differing_replica: Option<String>,
    /// The statements that took the most database time during the diagnosis
    /// (pg_stat_statements, where installed).
    pub statements: Vec<crate::database::StatementTime>,
    pub levels: Vec<Level>,
}

/// How hard SQLite's one writer worked during a level (summed over replicas,
/// each with its own writer: the share is then of all their time).
#[derive(Debug, Clone, Serialize)]
pub struct WriterLoad {
    /// Share of the level's time the writer spent on batches.
    pub busy_share: f64,
    pub commits_per_s: f64,
    pub writes_per_s: f64,
}

/// A writer busy this much of the time is the queue every write joins.
const WRITER_BUSY: f64 = 0.8;

/// One replica over the whole diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaLoad {
    pub name: String,
    /// CPU used, as a share of its allowance (cores where that is unknown).
    pub cpu_share: f64,
    /// Its share of the requests its metrics counted, when they count them.
    pub request_share: Option<f64>,
}

/// Each replica's load from the first sample to the last.
fn replica_loads(names: &[String], first: &Sample, last: &Sample) -> Vec<ReplicaLoad> {
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
                request_share: (total_requests >= 100.0)
                    .then(|| (b.requests() - a.requests()) / total_requests),
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The replica that differs most from the median of the others, if it
/// differs by more than noise: 20 points of CPU share and a factor of two,
/// or half again or less of an even share of the requests.
fn differing(loads: &[ReplicaLoad]) -> Option<(usize, String)> {
    if loads.len() < 2 {
        return None;
    }
    let others = |i: usize, f: &dyn Fn(&ReplicaLoad) -> Option<f64>| {
        median(
            loads
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, l)| f(l))
                .collect(),
        )
    };
    let even = 1.0 / loads.len() as f64;
    let mut worst: Option<(f64, usize, String)> = None;
    for (i, l) in loads.iter().enumerate() {
        let m = others(i, &|l| Some(l.cpu_share));
        let gap = (l.cpu_share - m).abs();
        let cpu_differs = gap >= 0.2 && (l.cpu_share >= 2.0 * m || l.cpu_share <= m / 2.0);
        let said_cpu = format!(
            "replica {} differs from the rest: it used {} of its CPU while the others used {} (median)",
            l.name,
            pct(l.cpu_share),
            pct(m)
        );
        let (requests_differ, said_requests) = match l.request_share {
            Some(share) => (
                share >= 1.5 * even || share <= even / 2.0,
                format!(
                    "; it served {} of the requests where an even share is {}",
                    pct(share),
                    pct(even)
                ),
            ),
            None => (false, String::new()),
        };
        if cpu_differs || requests_differ {
            let score = gap + l.request_share.map_or(0.0, |s| (s - even).abs());
            // Two replicas differ from each other alike: name the idler one,
            // the one a balancer left out.
            let beats = |w: &(f64, usize, String)| {
                score > w.0 + 1e-9 || (score > w.0 - 1e-9 && l.cpu_share < loads[w.1].cpu_share)
            };
            if worst.as_ref().is_none_or(beats) {
                worst = Some((score, i, format!("{said_cpu}{said_requests}")));
            }
        }
    }
    worst.map(|(_, i, said)| (i, said))
}

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{0}")]
    Telemetry(String),
    #[error(
        "every request failed at one connection ({0}); fix that first: there is nothing to diagnose"
    )]
    AllFailed(String),
}

fn ms(v: f64) -> String {
    crate::duration::fmt_ms(v)
}

/// A CPU allowance as set: 0.15 core is "0.15", not "0.1"; 2 cores is "2".
pub fn cores(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The largest level below `connections` (1 when there is none).
fn levels_below(levels: &[Level], connections: usize) -> usize {
    levels
        .iter()
        .map(|l| l.connections)
        .filter(|&c| c < connections)
        .max()
        .unwrap_or(1)
}

fn pct(v: f64) -> String {
    format!("{:.0}%", 100.0 * v)
}

/// The SLO's latency limit in ms (its first percentile clause), for "slow".
fn latency_limit(slo: &Slo) -> Option<f64> {
    slo.clauses
        .iter()
        .find(|c| matches!(c.metric, Metric::Latency(_)))
        .map(|c| c.limit)
}

async fn measure(
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
    let after = plan
        .telemetry
        .sample()
        .await
        .map_err(DoctorError::Telemetry)?;
    let report = LoadReport::new(&outcome, String::new(), vec![], Some(&plan.slo));
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let cores = (after.cpu_seconds - before.cpu_seconds).max(0.0) / secs;
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
    };
    Ok((level, after, report))
}

pub async fn diagnose(
    plan: &DoctorPlan,
    workload: Arc<dyn Workload>,
    mut on_level: impl FnMut(&Level),
) -> Result<Diagnosis, DoctorError> {
    let start = Instant::now();
    let step = (plan.budget / 12).clamp(Duration::from_secs(1), Duration::from_secs(5));
    let generator_allowance = Process::This.cpu_allowance();
    let first = plan
        .telemetry
        .sample()
        .await
        .map_err(DoctorError::Telemetry)?;
    let statements_before = match &plan.database {
        Some(db) => db.statements().await,
        None => None,
    };
    let mut before = first.clone();
    let mut levels: Vec<Level> = vec![];
    for &n in LEVELS.iter().filter(|n| **n <= plan.max_connections.max(1)) {
        if !levels.is_empty() && start.elapsed() + step > plan.budget {
            break;
        }
        let (level, after, report) =
            measure(plan, &workload, n, step, &before, generator_allowance).await?;
        if n == 1 && (level.requests == 0 || level.errors == level.requests) {
            let kinds: Vec<String> = report
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            return Err(DoctorError::AllFailed(kinds.join(", ")));
        }
        on_level(&level);
        before = after;
        levels.push(level);
        let best = levels.iter().map(|l| l.throughput_rps).fold(0.0, f64::max);
        let stalled = levels.len() >= 3
            && levels[levels.len() - 2..]
                .iter()
                .all(|l| l.throughput_rps < 1.03 * best)
            && levels[levels.len() - 3].throughput_rps >= 0.97 * best;
        let broken = levels.iter().any(|l| !l.slo_passed);
        if levels.len() >= usl::MIN_POINTS && (broken || stalled) {
            break;
        }
    }
    let last = levels.last().cloned().expect("at least one level ran");
    let server_busy = last.server_cpu_share.unwrap_or(0.0);
    // A throttled generator's share wobbles from one step to the next (a
    // quota period that ends while it waits on the network): read the last
    // two levels together rather than the last alone.
    let tail = &levels[levels.len().saturating_sub(2)..];
    let generator_share =
        tail.iter().map(|l| l.generator_cpu_share).sum::<f64>() / tail.len() as f64;
    if generator_share >= 0.85 && server_busy < 0.6 {
        // What the server did past this point was never asked of it: no verdict.
        let mut d = conclude(plan, &first, &before, levels, false);
        d.verdict = "inconclusive";
        d.evidence.insert(
            0,
            format!(
                "the load generator is the limit: it used {} of its {} core CPU allowance at up to {} connections while the server used {}",
                pct(generator_share),
                cores(generator_allowance),
                last.connections,
                pct(server_busy)
            ),
        );
        d.next_steps = vec![
            "Run the doctor from another machine, or give it more CPU (its allowance is its affinity and cgroup quota).".into(),
            format!(
                "Or ask for less: --max-connections {} (the generator kept up below it).",
                levels_below(&d.levels, last.connections)
            ),
        ];
        d.replicas_needed = None;
        d.cores_needed = None;
        return Ok(d);
    }
    // A fall seen once may be noise on a shared machine: measure the peak and
    // the last level again, and call it a fall only if it is seen again.
    let mut fall_confirmed = true;
    if let Some((peak_i, last_i)) = falls_at(&levels) {
        let (peak_level, after, _) = measure(
            plan,
            &workload,
            levels[peak_i].connections,
            step,
            &before,
            generator_allowance,
        )
        .await?;
        let (last_level, after, _) = measure(
            plan,
            &workload,
            levels[last_i].connections,
            step,
            &after,
            generator_allowance,
        )
        .await?;
        before = after;
        fall_confirmed = last_level.throughput_rps < FALL * peak_level.throughput_rps;
    }
    let mut d = conclude(plan, &first, &before, levels, fall_confirmed);
    if let (Some(db), Some(then)) = (&plan.database, statements_before)
        && let Some(now) = db.statements().await
    {
        d.statements = now.top_since(&then, 3);
        if let Some(top) = d.statements.first() {
            d.evidence.push(format!(
                "pg_stat_statements: {} of the database's execution time went to `{}` ({:.0} calls, {} each; waits for locks inside a statement count in its time)",
                pct(top.share),
                top.query.split_whitespace().collect::<Vec<_>>().join(" "),
                top.calls,
                ms(top.total_ms / top.calls.max(1.0))
            ));
        }
    }
    Ok(d)
}

/// Share of the database's active sessions in one kind of lock wait past which
/// that lock is named as what requests queue on. Not a majority: a service
/// with admission control (Barista's adapts to the database) keeps only a few
/// sessions in the database, and one of two waiting on a row is a queue.
const DB_LOCKED: f64 = 0.3;

/// When the database's sessions mostly waited on one lock at `level`: the
/// evidence that names it, and what to do about it.
fn database_contention(level: &Level) -> Option<(String, Vec<String>)> {
    let wait = level.database_wait.as_ref()?;
    let locked = wait.kind.ends_with("lock") || wait.kind.contains("lock of");
    if !locked || wait.sessions < DB_LOCKED * wait.active || wait.sessions < 0.3 {
        return None;
    }
    let table = wait
        .table
        .as_ref()
        .map_or(String::new(), |t| format!(" on table {t}"));
    let said = format!(
        "requests wait on {} in PostgreSQL: {:.0} of {:.0} active sessions in {}{table} (average over the level at {} connections)",
        wait.kind,
        wait.sessions,
        wait.active,
        wait.events.join(" or "),
        level.connections
    );
    let on = wait
        .table
        .as_ref()
        .map_or("a table".to_owned(), |t| format!("`{t}`"));
    let steps = if wait.kind == "a row lock" {
        vec![
            format!("A hot row: concurrent transactions update the same row of {on} and take turns. More replicas or connections only lengthen the queue (and an autoscaler adding them makes it worse)."),
            "Shorten or remove the turn: update that row last, just before commit; split it (one row per replica or bucket, summed on read); or batch the updates into fewer transactions.".into(),
        ]
    } else {
        vec![
            format!(
                "Requests queue on {} ({}): find the statement that takes it in pg_stat_activity and shorten or avoid it.",
                wait.kind,
                wait.events.join(", ")
            ),
            "More replicas will not help while the database serializes the work.".into(),
        ]
    };
    Some((said, steps))
}

/// SQLite's writer in words, and, when it is busy nearly all the time, the
/// steps that follow: it is the one queue every write joins.
fn sqlite_writer(level: &Level) -> Option<(String, Vec<String>)> {
    let w = level.sqlite_writer.as_ref()?;
    let said = format!(
        "SQLite's single writer was busy {} of the time at {} connections, committing {:.0} writes/s in {:.0} transactions/s ({:.1} per group commit)",
        pct(w.busy_share),
        level.connections,
        w.writes_per_s,
        w.commits_per_s,
        w.writes_per_s / w.commits_per_s.max(1e-9)
    );
    let steps = if w.busy_share >= WRITER_BUSY {
        vec![
            "Writes queue on SQLite's one writer: fewer or smaller writes per request help; more CPU or replicas over the same file do not.".into(),
            "For more write throughput, run over PostgreSQL (--database postgres://...), which commits writers in parallel and lets replicas share the load.".into(),
        ]
    } else {
        vec![]
    };
    Some((said, steps))
}

/// Throughput this far below the peak, at the last level, is a fall.
const FALL: f64 = 0.85;

/// The level with the most throughput: its index and its throughput.
fn peak(levels: &[Level]) -> (usize, f64) {
    levels
        .iter()
        .enumerate()
        .map(|(i, l)| (i, l.throughput_rps))
        .fold(
            (0, 0.0),
            |best, (i, x)| if x > best.1 { (i, x) } else { best },
        )
}

/// The peak's and the last level's indexes, when the last fell below the peak.
fn falls_at(levels: &[Level]) -> Option<(usize, usize)> {
    let (peak_i, peak) = peak(levels);
    let last_i = levels.len().checked_sub(1)?;
    (peak_i < last_i && levels[last_i].throughput_rps < FALL * peak).then_some((peak_i, last_i))
}

fn conclude(
    plan: &DoctorPlan,
    first: &Sample,
    last_sample: &Sample,
    levels: Vec<Level>,
    fall_confirmed: bool,
) -> Diagnosis {
    let baseline = levels[0].clone();
    let limit = latency_limit(&plan.slo);
    let allowance = last_sample.allowance;
    let points: Vec<(f64, f64)> = levels
        .iter()
        .map(|l| (l.concurrency.max(1e-3), l.throughput_rps))
        .collect();
    let (usl, usl_note) = match usl::fit(&points) {
        Ok(fit) => (Some(fit), None),
        Err(why) => (None, Some(why)),
    };
    let (peak_i, peak) = peak(&levels);
    let last = levels.last().expect("levels");
    let falls = fall_confirmed && falls_at(&levels).is_some();
    let first_fail = levels.iter().find(|l| !l.slo_passed);
    // "Latency grows with load" even inside the SLO: p99 over three times the
    // baseline's, and past a quarter of the SLO's latency limit (1 ms without
    // one). A healthy server queues a little at 16 connections on a busy
    // machine (0.9 ms to 3 ms was seen); that is not a capacity problem while
    // it uses a sliver of the SLO.
    let floor = limit.map_or(1.0, |l| (l / 4.0).max(1.0));
    let latency_grew = last.p99_ms > (3.0 * baseline.p99_ms).max(floor);
    let capacity_rps = levels
        .iter()
        .take_while(|l| l.slo_passed)
        .map(|l| l.throughput_rps)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let allowance_text = allowance.map_or("an unknown number of".into(), cores);
    let mut evidence = vec![format!(
        "at 1 connection: p50 {}, p99 {}, {:.0} requests/s; the server used {} of its {} core CPU allowance",
        ms(baseline.p50_ms),
        ms(baseline.p99_ms),
        baseline.throughput_rps,
        baseline.server_cpu_share.map_or("?".into(), pct),
        allowance_text
    )];
    evidence.push(format!(
        "at {} connections: p99 {}, {:.0} requests/s, server CPU {}",
        last.connections,
        ms(last.p99_ms),
        last.throughput_rps,
        last.server_cpu_share.map_or("?".into(), pct)
    ));
    let mut next_steps = vec![];
    let baseline_slow = !baseline.slo_passed;
    let verdict = if baseline_slow && baseline.server_cpu_share.unwrap_or(0.0) < CPU_IDLE {
        evidence.push(format!(
            "the SLO ({}) fails already at one connection{}, while the CPU is mostly idle: the time goes to waiting, not computing",
            plan.slo.expr,
            limit.map_or(String::new(), |l| format!(" (p99 {} against {})", ms(baseline.p99_ms), ms(l)))
        ));
        next_steps.push(
            "Look at one slow request, not at scaling: adding replicas will not make it faster."
                .into(),
        );
        next_steps.push("Profile while sending single requests (GET /debug/pprof/profile?seconds=10 on a Barista's metrics listener) and look for the slow query, a missing index, or a slow downstream call.".into());
        "performance"
    } else if falls {
        evidence.push(format!(
            "throughput peaked at {:.0} requests/s with {} connections and fell to {:.0} at {} (and again when both were measured a second time): adding load removes work done",
            peak, levels[peak_i].connections, last.throughput_rps, last.connections
        ));
        if let Some(u) = &usl {
            evidence.push(format!(
                "the scalability fit gives coherency κ = {:.5} (crosstalk between concurrent requests), peak near N = {}",
                u.kappa,
                u.peak_concurrency.map_or("?".into(), |n| format!("{n:.0}"))
            ));
        }
        next_steps.push(format!(
            "Cap concurrency near the peak ({} in flight) with admission control so overload sheds instead of collapsing.",
            levels[peak_i].connections
        ));
        match database_contention(last) {
            Some((said, steps)) => {
                evidence.push(said);
                next_steps.extend(steps);
            }
            None => next_steps.push("Remove work that grows with concurrency: shared state every request touches or invalidates, retries that multiply under load, cache stampedes, lock convoys.".into()),
        }
        "coherency"
    } else if let Some(fail) = first_fail.or_else(|| latency_grew.then_some(last)) {
        // What the server wanted counts, not only what it got: a server crowded
        // out of its CPU by other processes is short of CPU all the same.
        let at_fail = fail
            .server_cpu_demand
            .or(fail.server_cpu_share)
            .unwrap_or(0.0);
        if at_fail >= CPU_BUSY {
            let used = fail.server_cpu_share.unwrap_or(0.0);
            evidence.push(format!(
                "latency grows with load as the CPU runs out: at {} connections the server wanted {} of its {} core allowance{}",
                fail.connections,
                pct(at_fail),
                allowance_text,
                if at_fail > used + 0.15 {
                    format!(" but got {}: other processes crowd it out", pct(used))
                } else {
                    String::new()
                }
            ));
            if let Some(c) = capacity_rps {
                let fleet = plan.telemetry.sources.len();
                evidence.push(if fleet > 1 {
                    format!(
                        "capacity at the SLO: about {c:.0} requests/s for the {fleet} replicas, {:.0} each",
                        c / fleet as f64
                    )
                } else {
                    format!("capacity at the SLO: about {c:.0} requests/s per replica of this size")
                });
            }
            next_steps.push("Scale out (more replicas) or up (more cores): the service does what it should, but each replica is full.".into());
            next_steps.push(
                "Or make each request cheaper: a CPU profile shows where the cycles go.".into(),
            );
            "capacity"
        } else {
            evidence.push(format!(
                "latency grows with load while the CPU stays well below its allowance ({} wanted at {} connections): requests wait for something other than CPU",
                pct(at_fail),
                fail.connections
            ));
            if let Some(u) = &usl {
                evidence.push(format!("the scalability fit gives contention σ = {:.3}: about {:.0}% of each request's work is serialized", u.sigma, 100.0 * u.sigma));
            }
            let writer_queue = sqlite_writer(fail).filter(|(_, steps)| !steps.is_empty());
            match database_contention(fail).or(writer_queue) {
                Some((said, steps)) => {
                    evidence.push(said);
                    next_steps.extend(steps);
                }
                None => {
                    next_steps.push("Find what requests queue on: a lock held across slow work, a connection pool too small, a single-threaded section, a rate-limited downstream.".into());
                    next_steps.push("More replicas help only if the contended resource is per replica; more cores will not help.".into());
                }
            }
            "contention"
        }
    } else {
        evidence.push(format!(
            "the SLO ({}) held at every level up to {} connections",
            plan.slo.expr, last.connections
        ));
        if let Some(share) = last.server_cpu_share.filter(|s| *s >= CPU_BUSY) {
            evidence.push(format!(
                "but the server's CPU is at {} of its allowance there: more load will soon be a capacity problem",
                pct(share)
            ));
        }
        next_steps.push("No change needed at this load. To find the limit, raise --budget or --max-connections.".into());
        "healthy"
    };

    // Whatever the verdict, a database whose sessions mostly wait on one lock is
    // evidence (the contention and coherency verdicts already said it).
    if !matches!(verdict, "contention" | "coherency")
        && let Some((said, _)) = database_contention(first_fail.unwrap_or(last))
    {
        evidence.push(said);
    }
    let slowest_route = last_sample
        .routes
        .iter()
        .filter_map(|(route, (sum, count))| {
            let (s0, c0) = first.routes.get(route).copied().unwrap_or((0.0, 0.0));
            let n = count - c0;
            (n >= 10.0).then(|| RouteLatency {
                route: route.clone(),
                mean_ms: 1000.0 * (sum - s0) / n,
            })
        })
        .max_by(|a, b| a.mean_ms.total_cmp(&b.mean_ms));
    if let Some(r) = &slowest_route {
        evidence.push(format!(
            "slowest route on the server: {} (mean {})",
            r.route,
            ms(r.mean_ms)
        ));
    }
    let db_pool_wait_ms = last_sample
        .pool_wait
        .zip(first.pool_wait)
        .and_then(|((w1, n1), (w0, n0))| (n1 > n0).then(|| 1000.0 * (w1 - w0) / (n1 - n0)));
    if let Some(w) = db_pool_wait_ms {
        evidence.push(format!(
            "database operations waited {} on average for a connection or the writer",
            ms(w)
        ));
    }
    if let Some((said, _)) = sqlite_writer(first_fail.unwrap_or(last))
        && !evidence.contains(&said)
    {
        evidence.push(said);
    }
    let names = plan.telemetry.names();
    let replicas = replica_loads(&names, first, last_sample);
    let differs = differing(&replicas);
    if let Some((i, said)) = &differs {
        evidence.push(said.clone());
        next_steps.push(format!(
            "Look at replica {} before scaling: the balancer may not spread the load evenly (sticky or hashed routing, a replica missing from it), or the replica is starved or throttled (its CPU quota, a noisy neighbour). The fleet's verdict counts every replica's allowance.",
            replicas[*i].name
        ));
    }
    let fleet = names.len().max(1) as f64;
    let (mut replicas_needed, mut cores_needed) = (None, None);
    // Contended or incoherent work is shared: replicas add to its load, not to
    // its capacity. When the fit has a peak below the target (κ > 0), no number
    // of replicas gets there, and each added past the peak lowers throughput.
    let shared_limit = matches!(verdict, "contention" | "coherency");
    let ceiling = usl
        .as_ref()
        .and_then(|u| Some((u.max_throughput()?, u.peak_concurrency?, u.kappa)));
    if let (Some(target), true, Some((most, at, kappa))) = (plan.target_rate, shared_limit, ceiling)
        && target > most
    {
        next_steps.push(format!(
            "No number of replicas reaches {target:.0} requests/s: the fit peaks at {most:.0} near {at:.0} in flight, and past that more load (more replicas, more connections) lowers throughput (κ = {kappa:.5}). An autoscaler that adds replicas here makes things worse: fix the contended resource first."
        ));
    } else if let (Some(target), Some(capacity)) =
        (plan.target_rate, capacity_rps.filter(|c| *c > 0.0))
    {
        // A fleet's capacity is its replicas'; each is sized as its share.
        let each = capacity / fleet;
        let needed = (target / each).ceil().max(1.0);
        replicas_needed = Some(needed as u64);
        cores_needed = allowance.map(|a| a * target / capacity);
        next_steps.push(format!(
            "For {target:.0} requests/s: about {needed:.0} replicas like {} (each about {each:.0} requests/s at the SLO){}.",
            if fleet > 1.0 { "these" } else { "this one" },
            cores_needed.map_or(String::new(), |c| format!(", or about {c:.1} cores in all"))
        ));
    }
    Diagnosis {
        verdict,
        evidence,
        next_steps,
        usl,
        usl_note,
        slo: plan.slo.expr.clone(),
        targets: vec![],
        cpu_allowance_cores: allowance,
        capacity_rps,
        target_rate: plan.target_rate,
        replicas_needed,
        cores_needed,
        slowest_route,
        db_pool_wait_ms,
        differing_replica: differs.map(|(i, _)| replicas[i].name.clone()),
        statements: vec![],
        replicas,
        levels,
    }
}

impl Diagnosis {
    pub fn summary(&self) -> String {
        let mut out = format!("verdict: {}\n\nevidence:\n", self.verdict.to_uppercase());
        for e in &self.evidence {
            out += &format!("  - {e}\n");
        }
        out += "\nnext steps:\n";
        for s in &self.next_steps {
            out += &format!("  - {s}\n");
        }
        match (&self.usl, &self.usl_note) {
            (Some(u), _) => {
                out += &format!(
                    "\nscalability fit (USL): σ = {:.4}, κ = {:.6}, λ = {:.1}/s, R² = {:.3}, peak concurrency {}\n",
                    u.sigma,
                    u.kappa,
                    u.lambda,
                    u.r_squared,
                    u.peak_concurrency
                        .map_or("none (throughput does not fall)".into(), |n| format!(
                            "{n:.1}"
                        ))
                )
            }
            (None, Some(why)) => out += &format!("\nno scalability fit: {why}\n"),
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowance_is_printed_as_it_was_set() {
        assert_eq!(cores(0.15), "0.15");
        assert_eq!(cores(0.2), "0.2");
        assert_eq!(cores(2.0), "2");
        assert_eq!(cores(1.25), "1.25");
    }
}
