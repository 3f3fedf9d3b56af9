//! Explaining: a [`Judgement`] in plain words, with its figures. The
//! evidence says what was measured, the next steps what to change, and the
//! answer to "will more replicas help?" is always given. Text, JSON and HTML
//! all render what this module writes.

use super::judge::DatabaseFindings;
use super::measure::{Level, RouteTime};
use super::verdict::{Cause, Judgement, MoreReplicas, Verdict};
use crate::database::Waiting;
use crate::usl::Usl;

/// What the explanation needs beside the judgement.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub levels: &'a [Level],
    pub slo: &'a str,
    /// The server's CPU allowance in cores (every replica's together).
    pub allowance: Option<f64>,
    pub fleet: usize,
    pub usl: Option<&'a Usl>,
    pub target_rate: Option<f64>,
    pub database: Option<&'a DatabaseFindings>,
}

/// A judgement in words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Said {
    pub evidence: Vec<String>,
    pub next_steps: Vec<String>,
    /// The answer to "will more replicas help?", in a sentence.
    pub more_replicas: String,
}

fn ms(v: f64) -> String {
    crate::duration::fmt_ms(v)
}

pub(super) fn pct(v: f64) -> String {
    format!("{:.0}%", 100.0 * v)
}

/// A CPU allowance as set: 0.15 core is "0.15", not "0.1"; 2 cores is "2".
pub fn cores(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A count with thousands separated: 1,000,031.
fn count(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn one_line(statement: &str) -> String {
    statement.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "where a request to R spent its 61 ms at N connections: ..."
fn breakdown(route: &RouteTime, connections: usize) -> String {
    let mut parts = vec![format!(
        "{} in the database{}",
        ms(route.database_ms),
        if route.round_trips >= 0.5 {
            format!(" ({:.1} round trips)", route.round_trips)
        } else {
            String::new()
        }
    )];
    parts.push(format!(
        "{} waiting for a connection",
        ms(route.pool_wait_ms)
    ));
    if route.admission_wait_ms >= 0.01 {
        parts.push(format!(
            "{} waiting for admission",
            ms(route.admission_wait_ms)
        ));
    }
    parts.push(format!("{} in the process", ms(route.process_ms)));
    format!(
        "where a request to {} spent its {} at {} connection{}: {}",
        route.route,
        ms(route.mean_ms),
        connections,
        if connections == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

fn verdict_evidence(v: &Verdict, c: &Context, said: &mut Said) {
    match v {
        Verdict::Healthy {
            up_to_connections,
            busiest_cpu,
        } => {
            said.evidence.push(format!(
                "the SLO ({}) held at every level up to {up_to_connections} connections",
                c.slo
            ));
            if let Some(share) = busiest_cpu.filter(|s| *s >= super::judge::CPU_BUSY) {
                said.evidence.push(format!(
                    "but the server's CPU is at {} of its allowance there: more load will soon be a capacity problem",
                    pct(share)
                ));
            }
            said.next_steps.push("No change needed at this load. To find the limit, raise --budget or --max-connections.".into());
        }
        Verdict::Performance { p99_ms, limit_ms, .. } => said.evidence.push(format!(
            "the SLO ({}) fails already at one connection{}, while the CPU is mostly idle: the time goes to waiting, not computing",
            c.slo,
            limit_ms.map_or(String::new(), |l| format!(" (p99 {} against {})", ms(*p99_ms), ms(l)))
        )),
        Verdict::Capacity {
            at_connections,
            cpu_wanted,
            cpu_got,
        } => {
            // Past its allowance, the wait is its quota's; below it, others'.
            let crowded = *cpu_got < 0.85 && *cpu_wanted > cpu_got + 0.15;
            said.evidence.push(format!(
                "latency grows with load as the CPU runs out: at {at_connections} connections the busiest replica {}",
                if crowded {
                    format!(
                        "wanted {} of its allowance but got {}: other processes crowd it out",
                        pct(*cpu_wanted),
                        pct(*cpu_got)
                    )
                } else {
                    format!("used {} of its allowance", pct(*cpu_got))
                }
            ));
        }
        Verdict::Contention {
            at_connections,
            busiest_cpu,
            sigma,
        } => {
            said.evidence.push(format!(
                "latency grows with load while the CPU stays well below its allowance ({} wanted at {at_connections} connections): requests wait for something other than CPU",
                pct(*busiest_cpu)
            ));
            if let Some(s) = sigma {
                said.evidence.push(format!(
                    "the scalability fit gives contention σ = {s:.3}: about {:.0}% of each request's work is serialized",
                    100.0 * s
                ));
            }
        }
        Verdict::Coherency {
            peak_rps,
            peak_connections,
            last_rps,
            last_connections,
            kappa,
            peak_concurrency,
        } => {
            said.evidence.push(format!(
                "throughput peaked at {peak_rps:.0} requests/s with {peak_connections} connections and fell to {last_rps:.0} at {last_connections} (and again each time both were measured in turn, {} more times): adding load removes work done",
                super::judge::FALL_ROUNDS
            ));
            if let Some(k) = kappa {
                said.evidence.push(format!(
                    "the scalability fit gives coherency κ = {k:.5} (crosstalk between concurrent requests), peak near N = {}",
                    peak_concurrency.map_or("?".into(), |n| format!("{n:.0}"))
                ));
            }
            said.next_steps.push(format!(
                "Cap concurrency near the peak ({peak_connections} in flight) with admission control so overload sheds instead of collapsing."
            ));
        }
        Verdict::Inconclusive {
            generator_share,
            generator_allowance,
            at_connections,
            server_cpu,
        } => {
            said.evidence.insert(0, format!(
                "the load generator is the limit: it used {} of its {} core CPU allowance at up to {at_connections} connections while the server used {}",
                pct(*generator_share),
                cores(*generator_allowance),
                pct(*server_cpu)
            ));
            let below = c
                .levels
                .iter()
                .map(|l| l.connections)
                .filter(|&n| n < *at_connections)
                .max()
                .unwrap_or(1);
            said.next_steps = vec![
                "Run the doctor from another machine, or give it more CPU (its allowance is its affinity and cgroup quota).".into(),
                format!("Or ask for less: --max-connections {below} (the generator kept up below it)."),
            ];
        }
    }
}

/// What most of the database's sessions waited on, and where.
pub(super) fn lock_line(wait: &Waiting, at_connections: usize) -> String {
    let table = wait
        .table
        .as_ref()
        .map_or(String::new(), |t| format!(" on table {t}"));
    format!(
        "requests wait on {} in PostgreSQL: {:.0} of {:.0} active sessions in {}{table} (average over the level at {at_connections} connections)",
        wait.kind,
        wait.sessions,
        wait.active,
        wait.events.join(" or "),
    )
}

/// The share of a request's time in the database, and the statement that
/// took most of the database's.
fn statement_said(
    e: &mut Vec<String>,
    route: Option<&RouteTime>,
    statement: &str,
    share: f64,
    mean_ms: f64,
) {
    if let Some(r) = route {
        e.push(format!(
            "{} of the {} a request to {} takes is in the database",
            pct(r.database_ms / r.mean_ms.max(1e-9)),
            ms(r.mean_ms),
            r.route
        ));
    }
    e.push(format!(
        "{} of the database's execution time went to `{}` ({} a call)",
        pct(share),
        one_line(statement),
        ms(mean_ms)
    ));
}

/// The evidence and next steps of a cause.
fn cause_said(cause: &Cause, verdict: &Verdict, c: &Context, said: &mut Said) {
    let e = &mut said.evidence;
    let s = &mut said.next_steps;
    match cause {
        Cause::Unknown => match verdict {
            Verdict::Performance { .. } => {
                s.push("Look at one slow request, not at scaling: adding replicas will not make it faster.".into());
                s.push("Profile while sending single requests (GET /debug/pprof/profile?seconds=10 on a Barista's metrics listener) and look for the slow query, a missing index, or a slow downstream call.".into());
            }
            Verdict::Contention { .. } => {
                s.push("Find what requests queue on: a lock held across slow work, a connection pool too small, a single-threaded section, a rate-limited downstream.".into());
                s.push("More replicas help only if the contended resource is per replica; more cores will not help.".into());
            }
            Verdict::Coherency { .. } => s.push("Remove work that grows with concurrency: shared state every request touches or invalidates, retries that multiply under load, cache stampedes, lock convoys.".into()),
            _ => {}
        },
        Cause::Cpu { .. } => {
            s.push("Scale out (more replicas) or up (more cores): the service does what it should, but each replica is full.".into());
            s.push("Or make each request cheaper: a CPU profile shows where the cycles go.".into());
        }
        Cause::StarvedReplica {
            replica,
            cpu_share,
            allowance,
            others_cpu,
            request_share,
        } => {
            e.push(format!(
                "replica {replica} is the bottleneck: it used {} of its own {} CPU allowance while the others used {} (median){}: a balancer that spreads requests evenly waits on its slowest replica",
                pct(*cpu_share),
                allowance.map_or("(unknown)".into(), |a| format!("{} core", cores(a))),
                pct(*others_cpu),
                request_share.map_or(String::new(), |r| format!(
                    ", with {} of the requests (an even share is {})",
                    pct(r),
                    pct(1.0 / c.fleet.max(1) as f64)
                ))
            ));
            s.push(format!("Fix replica {replica} first: give it the CPU the others have (its CPU quota or limit, or a noisy neighbour on its machine), or have the balancer send it less (least_conn, or a lower weight) until then."));
            s.push("Adding replicas beside it still sends it its share: that share stays slow.".into());
        }
        Cause::Unbalanced {
            replica,
            request_share,
            even_share,
            cpu_share,
            others_cpu,
        } => {
            e.push(format!(
                "replica {replica} differs from the rest: it used {} of its CPU while the others used {} (median){}",
                pct(*cpu_share),
                pct(*others_cpu),
                request_share.map_or(String::new(), |r| format!(
                    "; it served {} of the requests where an even share is {}",
                    pct(r),
                    pct(*even_share)
                ))
            ));
            s.push(format!("Look at replica {replica} before scaling: the balancer may not spread the load evenly (sticky or hashed routing, a replica missing from it), or the replica is starved or throttled (its CPU quota, a noisy neighbour). The fleet's verdict counts every replica's allowance."));
        }
        Cause::Network {
            route,
            trip_ms,
            ping_ms,
            server_ms,
        } => {
            e.push(format!(
                "{} of the {} a request to {} takes is {:.1} database round trips of {} each{}{}: the time is in the network between the replica and the database{}",
                pct(route.database_ms / route.mean_ms.max(1e-9)),
                ms(route.mean_ms),
                route.route,
                route.round_trips,
                ms(*trip_ms),
                ping_ms.map_or(String::new(), |p| format!(
                    "; a trivial statement's round trip takes {} as the replica sees it",
                    ms(p)
                )),
                server_ms.map_or(String::new(), |v| format!(
                    ", while PostgreSQL executes a statement in {} (pg_stat_statements)",
                    ms(v)
                )),
                if server_ms.is_none() {
                    " (or a database host too busy to answer even that: --database URL tells them apart)"
                } else {
                    ""
                }
            ));
            s.push("Move the replicas and the database closer (the same zone or host network), or find what delays the path between them (a proxy, a tunnel, a congested or distant link): every round trip pays it.".into());
            s.push("Or make fewer round trips per request: statements sent together, fewer transactions.".into());
        }
        Cause::MissingIndex {
            statement,
            share,
            mean_ms,
            advice,
            route,
        } => {
            statement_said(e, route.as_ref(), statement, *share, *mean_ms);
            e.push(format!(
                "its plan reads {} ({} rows) by {}, filtered on {}{}",
                advice.table,
                count(advice.rows),
                advice.scan,
                if advice.filtered_on.is_empty() {
                    "nothing".into()
                } else {
                    advice.filtered_on.join(" and ")
                },
                if advice.sorted_by.is_empty() {
                    String::new()
                } else {
                    format!(" and sorted by {}", advice.sorted_by.join(", "))
                }
            ));
            s.push(format!(
                "Add an index on {} ({}): `{}` (CONCURRENTLY: writes go on while it builds).",
                advice.table,
                advice.columns.join(", "),
                advice.create_statement()
            ));
        }
        Cause::SlowStatement {
            statement,
            share,
            mean_ms,
            plan_note,
            route,
        } => {
            statement_said(e, route.as_ref(), statement, *share, *mean_ms);
            if let Some(note) = plan_note {
                e.push(format!("its plan could not be read: {note}"));
            }
            s.push("Look at that statement's plan (EXPLAIN on a copy with production-like data): a missing index, a sort of many rows, or rows it reads and throws away.".into());
        }
        Cause::SlowDatabase { route } => {
            e.push(format!(
                "{} of the {} a request to {} takes is in the database{}",
                pct(route.database_ms / route.mean_ms.max(1e-9)),
                ms(route.mean_ms),
                route.route,
                route.trip_ms().map_or(String::new(), |t| format!(
                    ": {:.1} round trips of {} each",
                    route.round_trips,
                    ms(t)
                ))
            ));
            s.push("Find the slow statement: run the doctor with --database URL (pg_stat_statements names it, and its plan the index it lacks).".into());
        }
        Cause::Pool {
            route,
            pool_size,
            suggested,
            baseline_database_ms,
        } => {
            e.push(format!(
                "requests to {} wait {} for one of {} database connection{} per replica ({} of their {}), while a call on a connection takes {} (alone: {}): the database has spare capacity, the pool has none",
                route.route,
                ms(route.pool_wait_ms),
                pool_size,
                if *pool_size == 1.0 { "" } else { "s" },
                pct(route.pool_wait_ms / route.mean_ms.max(1e-9)),
                ms(route.mean_ms),
                ms(route.database_ms),
                ms(*baseline_database_ms)
            ));
            s.push(format!(
                "Raise --db-pool-size from {pool_size} to about {suggested} (the requests that wanted a connection at once), keeping every replica's pool together under the database's max_connections."
            ));
        }
        Cause::Database {
            route,
            baseline_database_ms,
            at_connections,
            wait,
        } => {
            e.push(format!(
                "a request to {} spends {} in the database at {at_connections} connections where it spent {} alone: the database is the shared limit{}",
                route.route,
                ms(route.database_ms),
                ms(*baseline_database_ms),
                wait.as_ref().map_or(String::new(), |w| format!(
                    " (its active sessions wait most on {}: {})",
                    w.kind,
                    w.events.join(", ")
                ))
            ));
            s.push("Find what the database runs out of (CPU, disk, locks): run the doctor with --database URL, or look at pg_stat_activity and the database host's CPU and disk.".into());
        }
        Cause::Lock {
            wait,
            at_connections,
        } => {
            e.push(lock_line(wait, *at_connections));
            let on = wait
                .table
                .as_ref()
                .map_or("a table".to_owned(), |t| format!("`{t}`"));
            if wait.kind == "a row lock" {
                s.push(format!("A hot row: concurrent transactions update the same row of {on} and take turns. More replicas or connections only lengthen the queue (and an autoscaler adding them makes it worse)."));
                s.push("Shorten or remove the turn: update that row last, just before commit; split it (one row per replica or bucket, summed on read); or batch the updates into fewer transactions.".into());
            } else {
                s.push(format!(
                    "Requests queue on {} ({}): find the statement that takes it in pg_stat_activity and shorten or avoid it.",
                    wait.kind,
                    wait.events.join(", ")
                ));
                s.push("More replicas will not help while the database serializes the work.".into());
            }
        }
        Cause::Writer { .. } => {
            s.push("Writes queue on SQLite's one writer: fewer or smaller writes per request help; more CPU or replicas over the same file do not.".into());
            s.push("For more write throughput, run over PostgreSQL (--database postgres://...), which commits writers in parallel and lets replicas share the load.".into());
        }
        Cause::InProcess { route } => {
            e.push(format!(
                "{} of the {} a request to {} takes is in the process itself: not waiting, not in the database",
                pct(route.process_ms / route.mean_ms.max(1e-9)),
                ms(route.mean_ms),
                route.route
            ));
            s.push("Profile it while sending single requests: GET /debug/pprof/profile?seconds=10 on a Barista's metrics listener shows where the time goes.".into());
        }
    }
}

/// "Will more replicas help?" in a sentence, with its figure.
fn more_replicas(j: &Judgement, c: &Context) -> String {
    let peak = |p: &Option<(f64, f64)>| {
        p.map_or(String::new(), |(x, n)| {
            format!("; the scalability fit peaks at {x:.0} requests/s near {n:.0} in flight, and past that more load lowers throughput")
        })
    };
    match &j.more_replicas {
        MoreReplicas::Yes {
            each_rps,
            needed,
            target_rps,
            cores: all_cores,
        } => format!(
            "yes: each replica like {} serves about {} requests/s at the SLO{}",
            if c.fleet > 1 { "these" } else { "this one" },
            each_rps.map_or("?".into(), |e| format!("{e:.0}")),
            match (needed, target_rps) {
                (Some(n), Some(t)) => format!(
                    "; for {t:.0} requests/s, about {n} replicas{}",
                    all_cores.map_or(String::new(), |x| format!(" (about {x:.1} cores in all)"))
                ),
                _ => String::new(),
            }
        ),
        MoreReplicas::FixReplicaFirst { replica } => format!(
            "not yet: the fleet waits on replica {replica}, and a new replica beside it leaves its share of the requests as slow; fix it first, then each replica adds its capacity"
        ),
        MoreReplicas::No { peak: p } => {
            let why = match &j.cause {
                Cause::Network { .. } => {
                    "every request pays the round trips to the database, whichever replica serves it"
                }
                Cause::MissingIndex { .. }
                | Cause::SlowStatement { .. }
                | Cause::SlowDatabase { .. } => {
                    "the time is in the database, which every replica shares"
                }
                Cause::Pool { .. } => {
                    "the pool is the limit and the database has room: raise the pool first (more replicas would add pools, and CPU nobody needs)"
                }
                Cause::Database { .. } | Cause::Lock { .. } => {
                    "the database is the shared limit: more replicas add load to it"
                }
                Cause::Writer { .. } => {
                    "SQLite's one writer is the limit, and replicas cannot share it"
                }
                _ => match j.verdict {
                    Verdict::Performance { .. } => {
                        "one request is slow alone: replicas add capacity, not speed"
                    }
                    Verdict::Coherency { .. } => {
                        "throughput falls as load grows: more replicas add load"
                    }
                    _ => "the limit is not the replicas' CPU",
                },
            };
            format!("no: {why}{}", peak(p))
        }
        MoreReplicas::NotNeeded { capacity_rps } => format!(
            "not at this load: the SLO held{}",
            capacity_rps.map_or(String::new(), |x| format!(
                " up to {x:.0} requests/s, the most measured"
            ))
        ),
        MoreReplicas::Unknown => "unknown: the server was never pushed to its limit".into(),
    }
}

/// A failover during the run: the levels it fell in measured the outage, not
/// the service. Said first, so it is not mistaken for the cause.
fn failover_said(levels: &[Level], said: &mut Said) {
    let hit: Vec<&Level> = levels.iter().filter(|l| l.failovers > 0.0).collect();
    if hit.is_empty() {
        return;
    }
    let at: Vec<String> = hit.iter().map(|l| l.connections.to_string()).collect();
    said.evidence.insert(
        0,
        format!(
            "the database failed over during the diagnosis: the replicas saw its primary change {} time(s), at {} connection(s) (barista_db_failovers_total); the errors and latency of those levels are the failover's",
            count(hit.iter().map(|l| l.failovers).sum()),
            at.join(", ")
        ),
    );
    said.next_steps.insert(
        0,
        "Diagnose again once the database is stable: find why its primary changed (its machine, Patroni's or the operator's log), and check that a synchronous standby is back.".into(),
    );
}

/// The judgement in words.
pub fn explain(j: &Judgement, c: &Context) -> Said {
    let mut said = Said::default();
    let levels = c.levels;
    if let (Some(baseline), Some(last)) = (levels.first(), levels.last()) {
        let allowance = c.allowance.map_or("an unknown number of".into(), cores);
        said.evidence.push(format!(
            "at 1 connection: p50 {}, p99 {}, {:.0} requests/s; {}",
            ms(baseline.p50_ms),
            ms(baseline.p99_ms),
            baseline.throughput_rps,
            if c.fleet > 1 {
                format!(
                    "the busiest replica used {} of its own CPU allowance (the {} replicas' together: {allowance} cores)",
                    baseline.busiest_cpu().map_or("?".into(), pct),
                    c.fleet
                )
            } else {
                format!(
                    "the server used {} of its {allowance} core CPU allowance",
                    baseline.busiest_cpu().map_or("?".into(), pct)
                )
            }
        ));
        said.evidence.push(format!(
            "at {} connections: p99 {}, {:.0} requests/s, server CPU {}",
            last.connections,
            ms(last.p99_ms),
            last.throughput_rps,
            last.busiest_cpu().map_or("?".into(), pct)
        ));
    }
    verdict_evidence(&j.verdict, c, &mut said);
    failover_said(levels, &mut said);
    if let (Verdict::Capacity { .. }, Some(capacity)) = (&j.verdict, j.capacity_rps) {
        said.evidence.push(if c.fleet > 1 {
            format!(
                "capacity at the SLO: about {capacity:.0} requests/s for the {} replicas, {:.0} each",
                c.fleet,
                capacity / c.fleet as f64
            )
        } else {
            format!("capacity at the SLO: about {capacity:.0} requests/s per replica of this size")
        });
    }
    cause_said(&j.cause, &j.verdict, c, &mut said);
    if let Some(differs) = &j.differing
        && *differs != j.cause
    {
        cause_said(differs, &j.verdict, c, &mut said);
    }
    if let Some(level) = levels.get(j.decisive_level)
        && let Some(route) = level.main_route()
    {
        said.evidence.push(breakdown(route, level.connections));
    }
    if let Some(scan) = c
        .database
        .and_then(|d| d.scans.first())
        .filter(|t| t.sequential >= 1.0 && t.sequential_rows >= 10_000.0)
    {
        said.evidence.push(format!(
            "pg_stat_user_tables: {} was read by {} sequential scans during the diagnosis, {} rows in all",
            scan.table,
            count(scan.sequential),
            count(scan.sequential_rows)
        ));
    }
    if let (Some(target), Some(u)) = (c.target_rate, c.usl)
        && matches!(
            j.verdict,
            Verdict::Contention { .. } | Verdict::Coherency { .. }
        )
        && let (Some(most), Some(at)) = (u.max_throughput(), u.peak_concurrency)
        && target > most
    {
        said.next_steps.push(format!(
            "No number of replicas reaches {target:.0} requests/s: the fit peaks at {most:.0} near {at:.0} in flight, and past that more load (more replicas, more connections) lowers throughput (κ = {:.5}). An autoscaler that adds replicas here makes things worse: fix the contended resource first.",
            u.kappa
        ));
    }
    said.more_replicas = more_replicas(j, c);
    said
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

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(1_000_031.0), "1,000,031");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(12_345.4), "12,345");
    }
}
