//! `barista doctor`: is the service slow because of performance, or because it
//! does not scale? And what should the engineer on call change?
//!
//! Three steps, each its own module:
//!
//! 1. Measuring ([`measure`]): a baseline at one connection, then 2, 3, 4, 6,
//!    8, 12, 16, ... connections (closed model) until the SLO breaks at two
//!    levels in a row or throughput stops growing (with at least six levels
//!    for the fit), or the time budget runs out; at every level, the server's
//!    CPU per replica against its own allowance, its memory, the generator's
//!    own CPU and, from a Barista, where its requests' time went (waiting for
//!    admission or a database connection, the database and its round trips,
//!    the process). With a database to read ([`crate::database`]): what its
//!    sessions wait on, the statement that took its time, that statement's
//!    plan and the index it lacks. The Universal Scalability Law is fitted on
//!    the levels (N from Little's law).
//! 2. Judging ([`judge`]): a pure function from those measurements to a
//!    [`Judgement`]: a [`Verdict`] with its figures, the [`Cause`] it names,
//!    and whether more replicas would help.
//! 3. Explaining ([`explain`]): the judgement in plain words, which the text,
//!    JSON and HTML reports render.

pub mod explain;
pub mod judge;
pub mod measure;
pub mod verdict;

pub use explain::cores;
pub use judge::DatabaseFindings;
pub use measure::{LEVELS, Level, ReplicaLoad, RouteTime, WriterLoad};
pub use verdict::{Cause, Judgement, MoreReplicas, Verdict};

use crate::slo::{Metric, Slo};
use crate::telemetry::{Fleet, Sample};
use crate::usl::{self, Usl};
use crate::workload::Workload;
use barista_sys::Process;
use explain::pct;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `barista doctor --help` says of its verdicts, its causes and the
/// database privileges it needs.
pub const HELP: &str = "\
VERDICTS (one; `verdict` in --json):
  healthy       the SLO held at every level and nothing stopped throughput growing
  performance   slow already at one connection, with the CPU mostly idle: one request
                is slow; more replicas add capacity, not speed
  capacity      latency grows as a replica's CPU runs out, each replica judged against
                its own allowance (affinity and cgroup quota): more replicas help
  contention    latency grows, or throughput stops growing, while the CPU idles:
                requests queue on something else (a lock, the pool, the database)
  coherency     throughput falls as load grows, and again in every re-measurement:
                more load removes work
  inconclusive  the load generator ran out of CPU first (exit status 4)

CAUSES (what the time went to; `cause.kind` in --json), each with its fix:
  network          requests spend their time in database round trips that are each slow
                   while a trivial statement's round trip (the replica's ping) is as slow,
                   or PostgreSQL executes the statements fast: move them closer, or make
                   fewer round trips
  missing_index    one statement takes most of the database's time, and its plan reads a
                   large table by a scan an index would avoid: the index, named (table,
                   columns) as CREATE INDEX CONCURRENTLY
  slow_statement   one statement takes most of the database's time; its plan names no index
  slow_database    the time is in the database; give --database to name the statement
  pool             requests wait for one of a replica's few database connections while the
                   database answers as fast as it did alone: raise --db-pool-size (to about
                   the requests that wanted a connection at once)
  database         the database got slower as load grew: it is the shared limit
  lock             most of the database's active sessions wait on one lock (its table named)
  writer           SQLite's one writer is busy nearly all the time
  in_process       the time is in the process itself: profile it
  cpu              each replica is full at its allowance
  starved_replica  one replica is full at its own allowance while the others idle, under an
                   even share of the requests: the bottleneck of a round-robin balancer
  unbalanced       the balancer sends a replica far less (or far more) than its share
  unknown          the figures point at nothing in particular

Every verdict answers \"will more replicas help?\" (`more_replicas` in --json: yes, no,
fix_replica_first, not_needed, unknown), with the figure behind it: each replica's capacity,
or the shared limit and the scalability fit's peak.

Where the time goes comes from a Barista's own metrics (--metrics): per route, the time
waiting for admission, waiting for a database connection, on the connection (in round
trips), and in the process; and the ping, a trivial statement's round trip.

DATABASE PRIVILEGES (--database; read only, nothing is written or executed):
  pg_read_all_stats   to see every user's sessions (pg_stat_activity) and statements
                      (pg_stat_statements, where the extension is installed)
  pg_read_all_data    to plan the statement that took the time: EXPLAIN (never ANALYZE) of
                      its generic plan, in a READ ONLY transaction that is rolled back; a
                      write is planned only with that write's own privilege
  e.g. CREATE ROLE doctor LOGIN PASSWORD '...' IN ROLE pg_read_all_stats, pg_read_all_data;";

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

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(transparent)]
    Telemetry(#[from] crate::error::TelemetryError),
    #[error(
        "every request failed at one connection ({0}); fix that first: there is nothing to diagnose"
    )]
    AllFailed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteLatency {
    pub route: String,
    pub mean_ms: f64,
}

/// A diagnosis as the reports show it: the judgement, in data and in words,
/// and the measurements behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub verdict: &'static str,
    /// The verdict with its figures.
    pub figures: Verdict,
    /// What the time went to.
    pub cause: Cause,
    /// Whether more replicas would help: the answer, and the figure behind it.
    pub more_replicas: MoreReplicas,
    /// The same in a sentence.
    pub more_replicas_said: String,
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
    /// The replica the verdict names (the bottleneck, or one the balancer
    /// treats differently), if one.
    pub differing_replica: Option<String>,
    /// The statements that took the most database time during the diagnosis
    /// (pg_stat_statements, where installed).
    pub statements: Vec<crate::database::StatementTime>,
    /// What the database said (`--database`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseFindings>,
    pub levels: Vec<Level>,
}

/// The SLO's latency limit in ms (its first percentile clause), for "slow".
fn latency_limit(slo: &Slo) -> Option<f64> {
    slo.clauses
        .iter()
        .find(|c| matches!(c.metric, Metric::Latency(_)))
        .map(|c| c.limit)
}

/// Whether the sweep has seen enough: six levels for the fit, and the SLO
/// broken at the last two (one broken level may be noise) or throughput no
/// longer growing.
fn seen_enough(levels: &[Level]) -> bool {
    let n = levels.len();
    n >= usl::MIN_POINTS
        && (judge::stalled(levels) || levels[n - 2..].iter().all(|l| !l.slo_passed))
}

/// What the database said over the diagnosis: its top statements and, when
/// one dominates, its plan and the index it lacks; how tables were read.
async fn database_findings(
    db: &crate::database::Database,
    statements_before: Option<crate::database::Statements>,
    scans_before: Option<crate::database::Scans>,
) -> DatabaseFindings {
    let mut findings = DatabaseFindings::default();
    if let (Some(then), Some(now)) = (statements_before, db.statements().await) {
        let all = now.top_since(&then, usize::MAX);
        let (calls, ms) = all
            .iter()
            .fold((0.0, 0.0), |(c, m), s| (c + s.calls, m + s.total_ms));
        findings.server_ms_per_call = (calls > 0.0).then(|| ms / calls);
        findings.statements = all.into_iter().take(3).collect();
    }
    if let (Some(then), Some(now)) = (scans_before, db.scans().await) {
        findings.scans = now.since(&then);
    }
    if let Some(top) = findings.dominant().cloned() {
        let text = db.statement_text(top.id).await.unwrap_or(top.query);
        match db.generic_plan(&text).await {
            Ok(plan) => match db.tables().await {
                Ok(tables) => findings.advice = crate::database::plan::advise(&plan, &tables),
                Err(e) => findings.plan_note = Some(format!("reading the tables failed: {e}")),
            },
            Err(e) => findings.plan_note = Some(e),
        }
    }
    findings
}

pub async fn diagnose(
    plan: &DoctorPlan,
    workload: Arc<dyn Workload>,
    mut on_level: impl FnMut(&Level),
) -> Result<Diagnosis, DoctorError> {
    let start = Instant::now();
    let step = (plan.budget / 12).clamp(Duration::from_secs(1), Duration::from_secs(5));
    let generator_allowance = Process::This.cpu_allowance();
    let first = plan.telemetry.sample().await?;
    let (statements_before, scans_before) = match &plan.database {
        Some(db) => (db.statements().await, db.scans().await),
        None => (None, None),
    };
    let mut before = first.clone();
    let mut levels: Vec<Level> = vec![];
    for &n in LEVELS.iter().filter(|n| **n <= plan.max_connections.max(1)) {
        if !levels.is_empty() && start.elapsed() + step > plan.budget {
            break;
        }
        let (level, after, report) =
            measure::level(plan, &workload, n, step, &before, generator_allowance).await?;
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
        if seen_enough(&levels) {
            break;
        }
    }
    // A fall seen once may be noise on a shared machine (a neighbour on the
    // host, a burst of another process): measure the peak and the last level
    // again, in turns, and call it a fall only if every round sees it. A
    // real crosstalk fall is large and repeats; a fluke peak does not.
    let mut fall_confirmed = false;
    let generator_bound = levels.last().is_some_and(|l| l.generator_cpu_share >= 0.85);
    if let Some((peak_i, last_i)) = judge::falls_at(&levels).filter(|_| !generator_bound) {
        fall_confirmed = true;
        for _ in 0..judge::FALL_ROUNDS {
            let (peak_level, after, _) = measure::level(
                plan,
                &workload,
                levels[peak_i].connections,
                step,
                &before,
                generator_allowance,
            )
            .await?;
            let (last_level, after, _) = measure::level(
                plan,
                &workload,
                levels[last_i].connections,
                step,
                &after,
                generator_allowance,
            )
            .await?;
            before = after;
            if last_level.throughput_rps >= judge::FALL * peak_level.throughput_rps {
                fall_confirmed = false;
                break;
            }
        }
    }
    let findings = match &plan.database {
        Some(db) => Some(database_findings(db, statements_before, scans_before).await),
        None => None,
    };
    Ok(conclude(
        plan,
        &first,
        &before,
        levels,
        fall_confirmed,
        generator_allowance,
        findings,
    ))
}

fn conclude(
    plan: &DoctorPlan,
    first: &Sample,
    last_sample: &Sample,
    levels: Vec<Level>,
    fall_confirmed: bool,
    generator_allowance: f64,
    database: Option<DatabaseFindings>,
) -> Diagnosis {
    let points: Vec<(f64, f64)> = levels
        .iter()
        .map(|l| (l.concurrency.max(1e-3), l.throughput_rps))
        .collect();
    let (usl, usl_note) = match usl::fit(&points) {
        Ok(fit) => (Some(fit), None),
        Err(why) => (None, Some(why)),
    };
    let names = plan.telemetry.names();
    let replicas = measure::replica_loads(&names, first, last_sample);
    let allowance = last_sample.allowance;
    let observations = judge::Observations {
        levels: &levels,
        latency_limit_ms: latency_limit(&plan.slo),
        usl: usl.as_ref(),
        fall_confirmed,
        replicas: &replicas,
        generator_allowance,
        allowance,
        target_rate: plan.target_rate,
        database: database.as_ref(),
    };
    let judgement = judge::judge(&observations);
    let context = explain::Context {
        levels: &levels,
        slo: &plan.slo.expr,
        allowance,
        fleet: names.len().max(1),
        usl: usl.as_ref(),
        target_rate: plan.target_rate,
        database: database.as_ref(),
    };
    let mut said = explain::explain(&judgement, &context);
    let decisive = &levels[judgement.decisive_level];
    // Whatever the verdict, a lock most sessions wait on is evidence.
    if !matches!(judgement.cause, Cause::Lock { .. })
        && let Some(Cause::Lock {
            wait,
            at_connections,
        }) = judge::lock_at(decisive)
    {
        said.evidence
            .push(explain::lock_line(&wait, at_connections));
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
        said.evidence.push(format!(
            "slowest route on the server: {} (mean {})",
            r.route,
            crate::duration::fmt_ms(r.mean_ms)
        ));
    }
    let db_pool_wait_ms = last_sample
        .pool_wait
        .zip(first.pool_wait)
        .and_then(|((w1, n1), (w0, n0))| (n1 > n0).then(|| 1000.0 * (w1 - w0) / (n1 - n0)));
    if let Some(w) = db_pool_wait_ms {
        said.evidence.push(format!(
            "database operations waited {} on average for a connection or the writer",
            crate::duration::fmt_ms(w)
        ));
    }
    if let Some(w) = &decisive.sqlite_writer {
        said.evidence.push(format!(
            "SQLite's single writer was busy {} of the time at {} connections, committing {:.0} writes/s in {:.0} transactions/s ({:.1} per group commit)",
            pct(w.busy_share),
            decisive.connections,
            w.writes_per_s,
            w.commits_per_s,
            w.writes_per_s / w.commits_per_s.max(1e-9)
        ));
    }
    let quoted = matches!(
        judgement.cause,
        Cause::MissingIndex { .. } | Cause::SlowStatement { .. }
    );
    if let Some(top) = database.as_ref().and_then(|d| d.statements.first())
        && !quoted
    {
        said.evidence.push(format!(
            "pg_stat_statements: {} of the database's execution time went to `{}` ({:.0} calls, {} each; waits for locks inside a statement count in its time)",
            pct(top.share),
            top.query.split_whitespace().collect::<Vec<_>>().join(" "),
            top.calls,
            crate::duration::fmt_ms(top.total_ms / top.calls.max(1.0))
        ));
    }
    let (replicas_needed, cores_needed) = match &judgement.more_replicas {
        MoreReplicas::Yes { needed, cores, .. } => (*needed, *cores),
        _ => (None, None),
    };
    let differing_replica = [&judgement.cause]
        .into_iter()
        .chain(judgement.differing.as_ref())
        .find_map(|c| match c {
            Cause::StarvedReplica { replica, .. } | Cause::Unbalanced { replica, .. } => {
                Some(replica.clone())
            }
            _ => None,
        });
    Diagnosis {
        verdict: judgement.verdict.name(),
        figures: judgement.verdict.clone(),
        cause: judgement.cause.clone(),
        more_replicas: judgement.more_replicas.clone(),
        more_replicas_said: said.more_replicas,
        evidence: said.evidence,
        next_steps: said.next_steps,
        usl,
        usl_note,
        slo: plan.slo.expr.clone(),
        targets: vec![],
        cpu_allowance_cores: allowance,
        capacity_rps: judgement.capacity_rps,
        target_rate: plan.target_rate,
        replicas_needed,
        cores_needed,
        slowest_route,
        db_pool_wait_ms,
        replicas: if names.len() > 1 { replicas } else { vec![] },
        differing_replica,
        statements: database
            .as_ref()
            .map(|d| d.statements.clone())
            .unwrap_or_default(),
        database,
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
        out += &format!("\nmore replicas? {}\n", self.more_replicas_said);
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
mod tests;
