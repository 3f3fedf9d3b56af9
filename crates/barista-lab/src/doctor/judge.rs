//! Judging: a pure function from the measured levels (and what the database
//! said) to a [`Judgement`]. No I/O, no clock: every rule is unit-tested on
//! synthetic levels, noisy ones included.
//!
//! The order of the questions is the on-call engineer's:
//!
//! 1. Did the generator run out of CPU first? Then nothing was learnt.
//! 2. Is one request slow alone, with the CPU idle? *Performance*: where
//!    does its time go (the network to the database, one statement and the
//!    index it lacks, the process itself)?
//! 3. Does throughput fall as load grows, and again in every re-measurement?
//!    *Coherency*.
//! 4. Does latency grow with load (the SLO breaks from some level on and
//!    stays broken, or p99 grows well past the baseline over the last two
//!    levels), or does throughput stop growing with the CPU idle, or do the
//!    requests spend most of their time queued for a pool connection? Then the
//!    busiest replica's CPU, *against its own allowance*, decides between
//!    *capacity* (a replica is full) and *contention* (requests queue for
//!    something else: a lock, the pool, SQLite's writer, the database).
//! 5. Otherwise *healthy*.
//!
//! Noise: a level that breaks the SLO while a later one passes it is noise,
//! not the point where the service broke; "grows" and "stalls" need the
//! last two levels to agree; a fall is believed only when the peak and the
//! last level, measured again in turns for [`FALL_ROUNDS`] rounds, show it in
//! every round (the sweep does it); CPU at the decisive point is the mean over it and
//! the levels after it.

use super::measure::{Level, ReplicaLoad, RouteTime};
use super::verdict::{Cause, Judgement, MoreReplicas, Verdict};
use crate::database::plan::IndexAdvice;
use crate::database::{StatementTime, TableScans};
use crate::usl::Usl;
use serde::Serialize;

/// Share of its allowance above which a replica's CPU counts as saturated.
pub const CPU_BUSY: f64 = 0.7;
/// Share below which the CPU counts as mostly idle.
pub const CPU_IDLE: f64 = 0.5;
/// Throughput this far below the peak, at the last level, is a fall.
pub const FALL: f64 = 0.85;
/// Rounds in which the peak and the last level are measured again, in turns,
/// before a fall is believed: each must see it.
pub const FALL_ROUNDS: usize = 3;
/// A writer busy this much of the time is the queue every write joins.
pub const WRITER_BUSY: f64 = 0.8;
/// Share of the database's active sessions in one kind of lock wait past which
/// that lock is named as what requests queue on. Not a majority: a service
/// with admission control keeps only a few sessions in the database, and one
/// of two waiting on a row is a queue.
pub const DB_LOCKED: f64 = 0.3;
/// A statement taking this share of the database's time dominates it.
pub const DOMINANT: f64 = 0.5;

/// What the database said over the whole diagnosis (`--database`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DatabaseFindings {
    /// The statements that took the most execution time, with their shares.
    pub statements: Vec<StatementTime>,
    /// The database's own execution time per statement, over every statement.
    pub server_ms_per_call: Option<f64>,
    /// The index the top statement lacks, when it dominates and one is.
    pub advice: Option<IndexAdvice>,
    /// Why its plan could not be read, when it could not.
    pub plan_note: Option<String>,
    /// How the tables were read during the diagnosis, the most rows first.
    pub scans: Vec<TableScans>,
}

impl DatabaseFindings {
    /// The statement that took most of the database's time, if one did, with
    /// a mean past a millisecond (a cheap statement called often is not slow).
    pub fn dominant(&self) -> Option<&StatementTime> {
        self.statements
            .first()
            .filter(|s| s.share >= DOMINANT && s.total_ms / s.calls.max(1.0) >= 1.0)
    }
}

/// Everything the judge reads.
#[derive(Debug, Clone, Copy)]
pub struct Observations<'a> {
    pub levels: &'a [Level],
    /// The SLO's latency limit in ms (its first percentile clause).
    pub latency_limit_ms: Option<f64>,
    pub usl: Option<&'a Usl>,
    /// A fall at the last level was seen again in every round of re-measurement.
    pub fall_confirmed: bool,
    /// Each replica over the whole diagnosis (a fleet).
    pub replicas: &'a [ReplicaLoad],
    pub generator_allowance: f64,
    /// The CPU the server may use, in cores (every replica's together).
    pub allowance: Option<f64>,
    pub target_rate: Option<f64>,
    pub database: Option<&'a DatabaseFindings>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The level with the most throughput: its index and its throughput.
pub fn peak(levels: &[Level]) -> (usize, f64) {
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
pub fn falls_at(levels: &[Level]) -> Option<(usize, usize)> {
    let (peak_i, peak) = peak(levels);
    let last_i = levels.len().checked_sub(1)?;
    (peak_i < last_i && levels[last_i].throughput_rps < FALL * peak).then_some((peak_i, last_i))
}

/// Throughput stopped growing: the last two levels add nothing to the best
/// seen before them.
pub fn stalled(levels: &[Level]) -> bool {
    let n = levels.len();
    if n < 3 {
        return false;
    }
    let best_before = levels[..n - 2]
        .iter()
        .map(|l| l.throughput_rps)
        .fold(0.0, f64::max);
    levels[n - 2..]
        .iter()
        .all(|l| l.throughput_rps < 1.05 * best_before)
}

/// The first level from which the SLO fails at every level after it: where
/// the service broke (a failing level followed by a passing one was noise).
fn broke_at(levels: &[Level]) -> Option<usize> {
    let n = levels.len();
    let passing_after = levels.iter().rposition(|l| l.slo_passed);
    let from = passing_after.map_or(0, |i| i + 1);
    (from < n).then_some(from)
}

/// The levels from `i` on that did mostly useful work: a level where most
/// answers were errors (a server shedding what it cannot serve answers fast
/// and cheaply) says little of the CPU the work needs. When every one did,
/// the level before them.
fn useful_from(levels: &[Level], i: usize) -> Vec<&Level> {
    let useful = |l: &&Level| (l.errors as f64) < 0.2 * l.requests.max(1) as f64;
    let kept: Vec<&Level> = levels[i..].iter().filter(useful).collect();
    if kept.is_empty() {
        vec![&levels[i.saturating_sub(1)]]
    } else {
        kept
    }
}

/// The CPU the busiest replica wanted from level `i` on (the mean, so one
/// noisy reading does not decide), over the levels that did useful work.
fn demand_from(levels: &[Level], i: usize) -> f64 {
    let useful = useful_from(levels, i);
    mean(useful.iter().map(|l| l.busiest_demand().unwrap_or(0.0))).unwrap_or(0.0)
}

/// p99 over three times the baseline's and past a quarter of the SLO's
/// latency limit (1 ms without one), at both of the last two levels: a
/// healthy server queues a little on a busy machine; that is not a problem
/// while it uses a sliver of the SLO.
fn latency_grew(levels: &[Level], limit: Option<f64>) -> bool {
    let n = levels.len();
    if n < 3 {
        return false;
    }
    let floor = limit.map_or(1.0, |l| (l / 4.0).max(1.0));
    let base = levels[0].p99_ms;
    levels[n - 2..]
        .iter()
        .all(|l| l.p99_ms > (3.0 * base).max(floor))
}

/// Throughput stopped growing while the connections kept coming and the CPU
/// stayed idle: requests queue for something, even if the SLO still holds.
/// In a closed loop at a throughput plateau, the mean latency grows with the
/// connections (Little's law); it must have grown at least twice over the
/// baseline's, and by a millisecond, at both of the last two levels (p99
/// alone is too noisy to decide).
fn stalled_idle(levels: &[Level]) -> bool {
    let n = levels.len();
    let base = levels[0].mean_ms;
    stalled(levels)
        && levels[n - 2..]
            .iter()
            .all(|l| l.mean_ms > (2.0 * base).max(base + 1.0))
        && demand_from(levels, n - 2) < CPU_IDLE
}

/// Requests spend most of their time in a queue the replica reports (for a
/// pool connection, for admission) at both of the last two levels, at least
/// a millisecond of it, while the CPU is not busy: a queue measured directly, which
/// a throughput that still creeps up by noise (a pool of one served 701, then
/// 823 requests/s at eight connections, 87% of each order waiting for the
/// connection) must not hide.
fn queued_idle(levels: &[Level]) -> bool {
    let n = levels.len();
    n >= 3
        && levels[n - 2..].iter().all(|l| {
            l.main_route().is_some_and(|r| {
                let wait = r.pool_wait_ms + r.admission_wait_ms;
                wait >= 1.0 && wait >= 0.5 * r.mean_ms
            })
        })
        && demand_from(levels, n - 2) < CPU_BUSY
}

/// The same route at the baseline, for "grew" comparisons.
fn at_baseline<'a>(levels: &'a [Level], route: &RouteTime) -> Option<&'a RouteTime> {
    levels[0].routes.iter().find(|r| r.route == route.route)
}

/// When the database's sessions mostly waited on one lock at `level`.
pub(super) fn lock_at(level: &Level) -> Option<Cause> {
    let wait = level.database_wait.as_ref()?;
    let locked = wait.kind.ends_with("lock");
    (locked && wait.sessions >= DB_LOCKED * wait.active && wait.sessions >= 0.3).then(|| {
        Cause::Lock {
            wait: wait.clone(),
            at_connections: level.connections,
        }
    })
}

fn writer_at(level: &Level) -> Option<Cause> {
    let w = level.sqlite_writer?;
    (w.busy_share >= WRITER_BUSY).then_some(Cause::Writer {
        load: w,
        at_connections: level.connections,
    })
}

/// The dominant statement as a cause: its index when one is named.
fn statement_cause(db: Option<&DatabaseFindings>, route: Option<&RouteTime>) -> Option<Cause> {
    let db = db?;
    let top = db.dominant()?;
    let mean_ms = top.total_ms / top.calls.max(1.0);
    Some(match &db.advice {
        Some(advice) => Cause::MissingIndex {
            statement: top.query.clone(),
            share: top.share,
            mean_ms,
            advice: advice.clone(),
            route: route.cloned(),
        },
        None => Cause::SlowStatement {
            statement: top.query.clone(),
            share: top.share,
            mean_ms,
            plan_note: db.plan_note.clone(),
            route: route.cloned(),
        },
    })
}

/// Why one request is slow alone.
fn slow_alone(level: &Level, db: Option<&DatabaseFindings>) -> Cause {
    let Some(route) = level.main_route() else {
        return statement_cause(db, None).unwrap_or(Cause::Unknown);
    };
    let share = |ms: f64| ms / route.mean_ms.max(1e-9);
    if share(route.database_ms) >= 0.5 {
        if let Some(trip) = route.trip_ms().filter(|t| *t >= 1.0) {
            let ping = level.db_ping_ms;
            let server = db.and_then(|d| d.server_ms_per_call);
            // A slow statement makes its trip slow too: then the time is the
            // database's, not the wire's.
            let statement_slow = db
                .and_then(DatabaseFindings::dominant)
                .is_some_and(|s| s.total_ms / s.calls.max(1.0) >= 0.5 * trip);
            // The database's own execution time decides where it is known (a
            // database too busy to run statements is slow to answer a ping too).
            let wire = match server {
                Some(s) => s <= 0.3 * trip,
                None => ping.is_some_and(|p| p >= 0.5 * trip),
            };
            if wire && !statement_slow {
                return Cause::Network {
                    route: route.clone(),
                    trip_ms: trip,
                    ping_ms: ping,
                    server_ms: server,
                };
            }
        }
        return statement_cause(db, Some(route)).unwrap_or(Cause::SlowDatabase {
            route: route.clone(),
        });
    }
    if share(route.pool_wait_ms) >= 0.5
        && level.sqlite_writer.is_none()
        && let Some(size) = level.pool_size
    {
        return Cause::Pool {
            route: route.clone(),
            pool_size: size,
            suggested: (size as u64 + 1).max(2),
            baseline_database_ms: route.database_ms,
        };
    }
    if share(route.process_ms) >= 0.5 {
        return Cause::InProcess {
            route: route.clone(),
        };
    }
    statement_cause(db, Some(route)).unwrap_or(Cause::Unknown)
}

/// What requests queue on at level `i`, with the CPU idle.
fn queued_on(levels: &[Level], i: usize, fleet: usize, db: Option<&DatabaseFindings>) -> Cause {
    let level = &levels[i];
    if let Some(lock) = lock_at(level).or_else(|| writer_at(level)) {
        return lock;
    }
    if let Some(route) = level.main_route() {
        let base_db = at_baseline(levels, route).map_or(route.database_ms, |b| b.database_ms);
        let db_grew = route.database_ms >= 3.0 * base_db && route.database_ms - base_db >= 1.0;
        let waits = route.pool_wait_ms >= 0.3 * route.mean_ms && route.pool_wait_ms >= 0.5;
        if waits
            && !db_grew
            && level.sqlite_writer.is_none()
            && let Some(size) = level.pool_size
        {
            // Little's law: requests that wanted a connection at once.
            let wanting: f64 = level
                .routes
                .iter()
                .map(|r| r.requests_per_s * (r.pool_wait_ms + r.database_ms) / 1000.0)
                .sum::<f64>()
                / fleet.max(1) as f64;
            return Cause::Pool {
                route: route.clone(),
                pool_size: size,
                suggested: (wanting.ceil() as u64).max(size as u64 + 1),
                baseline_database_ms: base_db,
            };
        }
        if db_grew && (route.database_ms + route.pool_wait_ms) >= 0.3 * route.mean_ms {
            return statement_cause(db, Some(route)).unwrap_or(Cause::Database {
                route: route.clone(),
                baseline_database_ms: base_db,
                at_connections: level.connections,
                wait: level.database_wait.clone(),
            });
        }
    }
    statement_cause(db, level.main_route()).unwrap_or(Cause::Unknown)
}

/// A replica that differs from the others: full at its own allowance while
/// they idle (the bottleneck of a round-robin balancer), or given far less
/// (or far more) than an even share. Never one of several alike.
pub fn differing(replicas: &[ReplicaLoad]) -> Option<Cause> {
    if replicas.len() < 2 {
        return None;
    }
    let even = 1.0 / replicas.len() as f64;
    let others = |i: usize, f: fn(&ReplicaLoad) -> Option<f64>| {
        median(
            replicas
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, r)| f(r))
                .collect(),
        )
    };
    let full: Vec<usize> = (0..replicas.len())
        .filter(|&i| {
            let r = &replicas[i];
            let rest = others(i, |r| Some(r.cpu_share));
            r.cpu_share >= 0.85 && rest <= 0.6f64.min(r.cpu_share - 0.25)
        })
        .collect();
    if let [i] = full[..] {
        let r = &replicas[i];
        let others_cpu = others(i, |r| Some(r.cpu_share));
        return Some(match r.request_share.filter(|s| *s >= 1.5 * even) {
            Some(share) => Cause::Unbalanced {
                replica: r.name.clone(),
                request_share: Some(share),
                even_share: even,
                cpu_share: r.cpu_share,
                others_cpu,
            },
            None => Cause::StarvedReplica {
                replica: r.name.clone(),
                cpu_share: r.cpu_share,
                allowance: r.allowance,
                others_cpu,
                request_share: r.request_share,
            },
        });
    }
    // Left out: the fewest requests (or, uncounted, far less CPU than the rest).
    let left_out = |i: usize| {
        let r = &replicas[i];
        match r.request_share {
            Some(share) => share <= even / 2.0,
            None => {
                let rest = others(i, |r| Some(r.cpu_share));
                rest - r.cpu_share >= 0.2 && r.cpu_share <= rest / 2.0
            }
        }
    };
    let score = |i: usize| {
        let r = &replicas[i];
        r.request_share.unwrap_or(r.cpu_share)
    };
    let mut out: Vec<usize> = (0..replicas.len()).filter(|&i| left_out(i)).collect();
    out.sort_by(|a, b| score(*a).total_cmp(&score(*b)));
    let named = match out[..] {
        [] => None,
        [only] => Some(only),
        [first, second, ..] => (score(second) - score(first) > 0.02).then_some(first),
    };
    named.map(|i| {
        let r = &replicas[i];
        Cause::Unbalanced {
            replica: r.name.clone(),
            request_share: r.request_share,
            even_share: even,
            cpu_share: r.cpu_share,
            others_cpu: others(i, |r| Some(r.cpu_share)),
        }
    })
}

/// The USL's peak, where the fit has one: (requests/s, in flight).
fn usl_peak(usl: Option<&Usl>) -> Option<(f64, f64)> {
    let u = usl?;
    Some((u.max_throughput()?, u.peak_concurrency?))
}

/// The judgement of a diagnosis.
pub fn judge(o: &Observations) -> Judgement {
    let levels = o.levels;
    assert!(
        !levels.is_empty(),
        "a diagnosis measures at least one level"
    );
    let n = levels.len();
    let last = &levels[n - 1];
    let baseline = &levels[0];
    let fleet = o.replicas.len().max(1);
    let capacity_rps = levels
        .iter()
        .take_while(|l| l.slo_passed)
        .map(|l| l.throughput_rps)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let differs = differing(o.replicas);
    let peak_fit = usl_peak(o.usl);
    let judged = |verdict, cause, more_replicas, decisive_level| Judgement {
        verdict,
        cause,
        more_replicas,
        decisive_level,
        capacity_rps,
        differing: differs.clone(),
    };

    // 1. The generator was the limit: what the server did past it was never asked.
    let generator_share = mean(
        levels[n.saturating_sub(2)..]
            .iter()
            .map(|l| l.generator_cpu_share),
    )
    .unwrap_or(0.0);
    let server_busy = last.busiest_cpu().unwrap_or(0.0);
    if generator_share >= 0.85 && server_busy < 0.6 {
        return judged(
            Verdict::Inconclusive {
                generator_share,
                generator_allowance: o.generator_allowance,
                at_connections: last.connections,
                server_cpu: server_busy,
            },
            Cause::Unknown,
            MoreReplicas::Unknown,
            n - 1,
        );
    }

    // 2. Slow alone, with the CPU idle.
    let baseline_cpu = baseline.busiest_demand().unwrap_or(0.0);
    if !baseline.slo_passed && baseline_cpu < CPU_IDLE {
        return judged(
            Verdict::Performance {
                p99_ms: baseline.p99_ms,
                limit_ms: o.latency_limit_ms,
                busiest_cpu: baseline.busiest_cpu(),
            },
            slow_alone(baseline, o.database),
            MoreReplicas::No { peak: None },
            0,
        );
    }

    // 3. Throughput falls as load grows (seen again in every re-measurement).
    if let Some((peak_i, last_i)) = falls_at(levels).filter(|_| o.fall_confirmed) {
        let cause = lock_at(last)
            .or_else(|| writer_at(last))
            .unwrap_or_else(|| queued_on(levels, last_i, fleet, o.database));
        return judged(
            Verdict::Coherency {
                peak_rps: levels[peak_i].throughput_rps,
                peak_connections: levels[peak_i].connections,
                last_rps: last.throughput_rps,
                last_connections: last.connections,
                kappa: o.usl.map(|u| u.kappa),
                peak_concurrency: o.usl.and_then(|u| u.peak_concurrency),
            },
            cause,
            MoreReplicas::No { peak: peak_fit },
            last_i,
        );
    }

    // 4. Latency grows with load, or throughput stops growing with the CPU idle.
    let decisive = broke_at(levels)
        .or_else(|| latency_grew(levels, o.latency_limit_ms).then_some(n - 2))
        .or_else(|| stalled_idle(levels).then_some(n - 2))
        .or_else(|| queued_idle(levels).then_some(n - 2));
    if let Some(i) = decisive {
        let wanted = demand_from(levels, i);
        let level = &levels[i];
        if wanted >= CPU_BUSY {
            let useful = useful_from(levels, i);
            let got = mean(useful.iter().map(|l| l.busiest_cpu().unwrap_or(0.0))).unwrap_or(0.0);
            let (cause, more) = match &differs {
                Some(starved @ Cause::StarvedReplica { replica, .. }) => (
                    starved.clone(),
                    MoreReplicas::FixReplicaFirst {
                        replica: replica.clone(),
                    },
                ),
                _ => {
                    let each = capacity_rps.map(|c| c / fleet as f64);
                    let needed = o
                        .target_rate
                        .zip(each.filter(|e| *e > 0.0))
                        .map(|(t, e)| (t / e).ceil().max(1.0) as u64);
                    (
                        Cause::Cpu {
                            allowance: o.allowance,
                        },
                        MoreReplicas::Yes {
                            each_rps: each,
                            needed,
                            target_rps: o.target_rate,
                            cores: o
                                .target_rate
                                .zip(o.allowance)
                                .zip(capacity_rps.filter(|c| *c > 0.0))
                                .map(|((t, a), c)| a * t / c),
                        },
                    )
                }
            };
            return judged(
                Verdict::Capacity {
                    at_connections: level.connections,
                    cpu_wanted: wanted,
                    cpu_got: got,
                },
                cause,
                more,
                i,
            );
        }
        return judged(
            Verdict::Contention {
                at_connections: level.connections,
                busiest_cpu: wanted,
                sigma: o.usl.map(|u| u.sigma),
            },
            queued_on(levels, i, fleet, o.database),
            MoreReplicas::No { peak: peak_fit },
            i,
        );
    }

    // 5. Healthy; but a request that spends its time on the network to the
    // database, or in a scan an index would avoid, is worth a word even
    // within the SLO.
    let noted = match slow_alone(baseline, o.database) {
        cause @ (Cause::Network { .. } | Cause::MissingIndex { .. })
            if baseline.main_route().is_some_and(|r| r.mean_ms >= 5.0) =>
        {
            cause
        }
        _ => Cause::Unknown,
    };
    let decisive = if noted == Cause::Unknown { n - 1 } else { 0 };
    judged(
        Verdict::Healthy {
            up_to_connections: last.connections,
            busiest_cpu: last.busiest_cpu(),
        },
        noted,
        MoreReplicas::NotNeeded { capacity_rps },
        decisive,
    )
}
