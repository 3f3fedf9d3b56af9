//! Every verdict and every cause, judged and explained on synthetic levels,
//! noisy ones included: a level that breaks the SLO once, a CPU reading that
//! dips, a fall not seen again must not flip a verdict.

use super::explain::{Context, explain};
use super::judge::{DatabaseFindings, Observations, judge};
use super::measure::{Level, ReplicaLoad, RouteTime, WriterLoad};
use super::verdict::{Cause, Judgement, MoreReplicas, Verdict};
use crate::database::plan::IndexAdvice;
use crate::database::{StatementTime, Waiting};
use crate::usl::Usl;

const SLO_MS: f64 = 100.0;

/// A level: `p99` against an SLO of p99 < 100 ms, `cpu` of the allowance.
fn level(connections: usize, rps: f64, p99: f64, cpu: f64) -> Level {
    let mean = p99 / 2.0;
    Level {
        connections,
        concurrency: rps * mean / 1000.0,
        throughput_rps: rps,
        p50_ms: mean,
        p99_ms: p99,
        mean_ms: mean,
        requests: (rps * 5.0) as u64,
        slo_passed: p99 < SLO_MS,
        server_cpu_share: Some(cpu),
        generator_cpu_share: 0.2,
        ..Level::default()
    }
}

fn route(mean: f64, pool: f64, db: f64, trips: f64, rps: f64) -> RouteTime {
    RouteTime {
        route: "/v1/shops/{shop}/orders".into(),
        requests_per_s: rps,
        mean_ms: mean,
        admission_wait_ms: 0.0,
        pool_wait_ms: pool,
        database_ms: db,
        process_ms: (mean - pool - db).max(0.0),
        round_trips: trips,
    }
}

/// Connections 1, 2, 3, 4, 6, 8, 12, 16 with the figures `f` gives for each.
fn sweep(f: impl Fn(usize, usize) -> Level) -> Vec<Level> {
    [1, 2, 3, 4, 6, 8, 12, 16]
        .iter()
        .enumerate()
        .map(|(i, n)| f(i, *n))
        .collect()
}

struct Case {
    levels: Vec<Level>,
    replicas: Vec<ReplicaLoad>,
    database: Option<DatabaseFindings>,
    fall_confirmed: bool,
    usl: Option<Usl>,
    target_rate: Option<f64>,
}

impl Case {
    fn new(levels: Vec<Level>) -> Case {
        Case {
            levels,
            replicas: vec![],
            database: None,
            fall_confirmed: false,
            usl: None,
            target_rate: None,
        }
    }

    fn judge(&self) -> Judgement {
        judge(&Observations {
            levels: &self.levels,
            latency_limit_ms: Some(SLO_MS),
            usl: self.usl.as_ref(),
            fall_confirmed: self.fall_confirmed,
            replicas: &self.replicas,
            generator_allowance: 1.0,
            allowance: Some(1.0),
            target_rate: self.target_rate,
            database: self.database.as_ref(),
        })
    }

    /// The judgement and its words, all in one string to search.
    fn said(&self) -> (Judgement, String) {
        let j = self.judge();
        let said = explain(
            &j,
            &Context {
                levels: &self.levels,
                slo: "p99<100ms",
                allowance: Some(1.0),
                fleet: self.replicas.len().max(1),
                usl: self.usl.as_ref(),
                target_rate: self.target_rate,
                database: self.database.as_ref(),
            },
        );
        let text = format!(
            "{}\n{}\nmore replicas? {}",
            said.evidence.join("\n"),
            said.next_steps.join("\n"),
            said.more_replicas
        );
        (j, text)
    }
}

fn healthy_sweep() -> Vec<Level> {
    sweep(|i, n| level(n, 1000.0 * (i + 1) as f64, 2.0, 0.05 * (i + 1) as f64))
}

#[test]
fn a_service_that_keeps_up_is_healthy_and_needs_no_replica() {
    let (j, said) = Case::new(healthy_sweep()).said();
    assert_eq!(j.verdict.name(), "healthy");
    assert!(matches!(j.more_replicas, MoreReplicas::NotNeeded { .. }));
    assert!(said.contains("No change needed"), "{said}");
    assert!(said.contains("more replicas? not at this load"), "{said}");
}

#[test]
fn one_level_that_breaks_the_slo_among_passing_ones_is_noise() {
    let mut levels = healthy_sweep();
    levels[3].p99_ms = 180.0;
    levels[3].slo_passed = false;
    assert_eq!(Case::new(levels).judge().verdict.name(), "healthy");
}

/// One replica, 5 ms each way to its database: an order is five round trips
/// of 10 ms, while PostgreSQL executes each statement in 0.3 ms.
fn far_database() -> Vec<Level> {
    sweep(|i, n| {
        let mut l = level(n, 16.0 * (i + 1) as f64, 130.0, 0.03);
        l.routes = vec![route(61.0, 0.0, 52.0, 5.0, 16.0)];
        l.db_ping_ms = Some(10.1);
        l
    })
}

#[test]
fn round_trips_that_are_slow_while_the_database_is_fast_are_the_network() {
    let (j, said) = Case::new(far_database()).said();
    assert_eq!(j.verdict.name(), "performance");
    let Cause::Network {
        trip_ms, ping_ms, ..
    } = j.cause
    else {
        panic!("{:?}", j.cause)
    };
    assert!((trip_ms - 10.4).abs() < 0.01 && ping_ms == Some(10.1));
    assert!(
        said.contains("85% of the 61.0ms a request to /v1/shops/{shop}/orders takes is 5.0 database round trips of 10.4ms each"),
        "{said}"
    );
    assert!(said.contains("network between the replica and the database"));
    assert!(said.contains("more replicas? no:"), "{said}");
}

#[test]
fn a_database_too_busy_to_answer_a_ping_is_not_the_network() {
    let mut case = Case::new(far_database());
    case.database = Some(DatabaseFindings {
        server_ms_per_call: Some(9.0),
        ..DatabaseFindings::default()
    });
    let j = case.judge();
    assert_eq!(j.verdict.name(), "performance");
    assert!(
        matches!(j.cause, Cause::SlowDatabase { .. }),
        "{:?}",
        j.cause
    );
}

#[test]
fn a_far_database_within_the_slo_is_healthy_and_still_named() {
    let mut levels = far_database();
    for l in &mut levels {
        l.p99_ms = 70.0;
        l.slo_passed = true;
    }
    let (j, said) = Case::new(levels).said();
    assert_eq!(j.verdict.name(), "healthy");
    assert!(matches!(j.cause, Cause::Network { .. }), "{:?}", j.cause);
    assert!(said.contains("No change needed at this load"), "{said}");
    assert!(
        said.contains("network between the replica and the database"),
        "{said}"
    );
}

#[test]
fn without_a_ping_the_database_s_own_execution_time_shows_the_network() {
    let mut levels = far_database();
    for l in &mut levels {
        l.db_ping_ms = None;
    }
    let mut case = Case::new(levels);
    case.database = Some(DatabaseFindings {
        server_ms_per_call: Some(0.3),
        ..DatabaseFindings::default()
    });
    let (j, said) = case.said();
    assert!(matches!(j.cause, Cause::Network { .. }), "{:?}", j.cause);
    assert!(
        said.contains("PostgreSQL executes a statement in 0.30ms"),
        "{said}"
    );
}

fn statement(share: f64, mean_ms: f64) -> StatementTime {
    StatementTime {
        id: 7,
        query: "SELECT shop_id, id FROM orders WHERE shop_id = $1 AND ($3::text IS NULL OR status = $3) ORDER BY created_at, id LIMIT $4".into(),
        calls: 100.0,
        total_ms: 100.0 * mean_ms,
        share,
    }
}

fn advice() -> IndexAdvice {
    IndexAdvice {
        table: "orders".into(),
        rows: 1_000_031.0,
        scan: "a sequential scan".into(),
        filtered_on: vec!["shop_id".into(), "status".into()],
        sorted_by: vec!["created_at".into(), "id".into()],
        columns: vec![
            "shop_id".into(),
            "status".into(),
            "created_at".into(),
            "id".into(),
        ],
    }
}

/// The staff list on a million orders with its indexes gone: 287 ms a request
/// at one connection, the CPU idle, nearly all of it one statement.
fn scanned_list() -> Case {
    let levels = sweep(|i, n| {
        let mut l = level(n, 3.5 * (i + 1).min(2) as f64, 300.0, 0.02);
        l.routes = vec![route(287.0, 0.0, 284.0, 1.0, 3.5)];
        l.db_ping_ms = Some(0.08);
        l
    });
    let mut case = Case::new(levels);
    case.database = Some(DatabaseFindings {
        statements: vec![statement(0.97, 283.0)],
        server_ms_per_call: Some(250.0),
        advice: Some(advice()),
        ..DatabaseFindings::default()
    });
    case
}

#[test]
fn a_statement_that_scans_a_large_table_names_the_index_it_lacks() {
    let (j, said) = scanned_list().said();
    assert_eq!(j.verdict.name(), "performance");
    assert!(
        matches!(j.cause, Cause::MissingIndex { .. }),
        "{:?}",
        j.cause
    );
    assert!(
        said.contains("its plan reads orders (1,000,031 rows) by a sequential scan, filtered on shop_id and status and sorted by created_at, id"),
        "{said}"
    );
    assert!(
        said.contains("CREATE INDEX CONCURRENTLY ON orders (shop_id, status, created_at, id)"),
        "{said}"
    );
    assert!(
        said.contains("more replicas? no: the time is in the database"),
        "{said}"
    );
}

#[test]
fn a_dominant_statement_without_a_plan_is_quoted_with_the_reason() {
    let mut case = scanned_list();
    let db = case.database.as_mut().unwrap();
    db.advice = None;
    db.plan_note = Some("permission denied for table orders".into());
    let (j, said) = case.said();
    assert!(
        matches!(j.cause, Cause::SlowStatement { .. }),
        "{:?}",
        j.cause
    );
    assert!(
        said.contains("permission denied for table orders"),
        "{said}"
    );
    assert!(said.contains("97% of the database's execution time went to `SELECT"));
}

#[test]
fn time_in_the_process_itself_is_named_as_such() {
    let levels = sweep(|i, n| {
        let mut l = level(n, 8.0 * (i + 1) as f64, 150.0, 0.3);
        l.routes = vec![route(120.0, 0.0, 1.0, 3.0, 8.0)];
        l
    });
    let (j, said) = Case::new(levels).said();
    assert_eq!(j.verdict.name(), "performance");
    assert!(matches!(j.cause, Cause::InProcess { .. }), "{:?}", j.cause);
    assert!(said.contains("in the process itself"), "{said}");
}

/// Latency grows as a replica's CPU runs out.
fn cpu_bound() -> Vec<Level> {
    sweep(|i, n| {
        let rps = 1000.0 * ((i + 1) as f64).min(4.0);
        let cpu = (0.25 * (i + 1) as f64).min(0.98);
        let p99 = if i < 4 { 3.0 } else { 40.0 * (i - 3) as f64 };
        level(n, rps, p99, cpu)
    })
}

#[test]
fn latency_that_grows_as_the_cpu_runs_out_is_capacity_and_replicas_help() {
    let mut case = Case::new(cpu_bound());
    case.target_rate = Some(20_000.0);
    let (j, said) = case.said();
    assert_eq!(j.verdict.name(), "capacity");
    assert!(matches!(j.cause, Cause::Cpu { .. }));
    let MoreReplicas::Yes {
        each_rps, needed, ..
    } = j.more_replicas
    else {
        panic!("{:?}", j.more_replicas)
    };
    assert_eq!(each_rps, Some(4000.0));
    assert_eq!(needed, Some(5));
    assert!(
        said.contains(
            "more replicas? yes: each replica like this one serves about 4000 requests/s"
        ),
        "{said}"
    );
}

#[test]
fn a_cpu_reading_that_dips_once_does_not_turn_capacity_into_contention() {
    let mut levels = cpu_bound();
    levels[6].server_cpu_share = Some(0.55);
    assert_eq!(Case::new(levels).judge().verdict.name(), "capacity");
}

/// One connection of a pool serves every order: throughput is flat from two
/// connections, p99 grows ninefold within the SLO, the CPU at 30%, and the
/// database answers as fast as alone.
fn starved_pool() -> Vec<Level> {
    sweep(|i, n| {
        let rps = if i == 0 { 500.0 } else { 900.0 };
        let wait = 1.1 * (n as f64 - 1.0);
        let mut l = level(n, rps, 2.0 + 1.1 * n as f64, 0.3);
        l.routes = vec![route(1.1 + wait + 0.1, wait, 1.1, 4.0, rps)];
        l.pool_size = Some(1.0);
        l
    })
}

#[test]
fn requests_queued_for_a_small_pool_are_told_to_raise_it() {
    let (j, said) = Case::new(starved_pool()).said();
    assert_eq!(j.verdict.name(), "contention", "{said}");
    let Cause::Pool {
        pool_size,
        suggested,
        ..
    } = j.cause
    else {
        panic!("{:?}", j.cause)
    };
    assert_eq!(pool_size, 1.0);
    assert!(suggested >= 8, "{suggested}");
    assert!(
        said.contains("Raise --db-pool-size from 1 to about"),
        "{said}"
    );
    assert!(said.contains("the database has spare capacity"), "{said}");
    assert!(said.contains("more replicas? no:"), "{said}");
    assert!(!said.contains("Scale out"), "never 'add replicas': {said}");
}

/// The same pool of one, measured on a noisy machine up to eight connections:
/// throughput still creeps up (701 to 823 requests/s) and p99 stays far within
/// the SLO, but 87% of an order's time is the wait for the connection.
#[test]
fn a_queue_for_the_pool_is_contention_even_when_throughput_creeps_up() {
    let levels: Vec<Level> = [
        (1, 701.0),
        (2, 760.0),
        (3, 780.0),
        (4, 790.0),
        (6, 805.0),
        (8, 823.0),
    ]
    .iter()
    .map(|&(n, rps)| {
        let wait = if n == 1 { 0.0 } else { 1.2 * (n as f64 - 1.0) };
        let mut l = level(n, rps, 2.0 + 1.5 * n as f64, 0.55);
        l.mean_ms = 1.4 + wait;
        l.routes = vec![route(1.4 + wait, wait, 1.1, 4.0, rps)];
        l.pool_size = Some(1.0);
        l
    })
    .collect();
    let (j, said) = Case::new(levels).said();
    assert_eq!(j.verdict.name(), "contention", "{said}");
    assert!(matches!(j.cause, Cause::Pool { .. }), "{:?}", j.cause);
    assert!(said.contains("more replicas? no:"), "{said}");
}

#[test]
fn a_database_that_slows_down_with_load_is_the_shared_limit() {
    let levels = sweep(|i, n| {
        let db = 1.0 * (1 << i.min(5)) as f64;
        let mut l = level(n, 500.0, 2.0 * db + 2.0, 0.2);
        l.slo_passed = i < 6;
        if i >= 6 {
            l.p99_ms = 150.0;
        }
        l.routes = vec![route(db + 0.5, 0.0, db, 4.0, 500.0)];
        l.pool_size = Some(16.0);
        l
    });
    let (j, said) = Case::new(levels).said();
    assert_eq!(j.verdict.name(), "contention");
    assert!(matches!(j.cause, Cause::Database { .. }), "{:?}", j.cause);
    assert!(said.contains("the database is the shared limit"), "{said}");
    assert!(
        said.contains("more replicas? no: the database is the shared limit"),
        "{said}"
    );
}

#[test]
fn a_row_lock_most_sessions_wait_on_is_named_with_its_table() {
    let levels = sweep(|i, n| {
        let mut l = level(n, 300.0, if i >= 5 { 200.0 } else { 5.0 }, 0.1);
        l.database_wait = Some(Waiting {
            events: vec!["Lock/transactionid".into(), "Lock/tuple".into()],
            table: Some("menu_items".into()),
            sessions: 0.8 * n as f64,
            active: n as f64,
            kind: "a row lock",
        });
        l
    });
    let (j, said) = Case::new(levels).said();
    assert_eq!(j.verdict.name(), "contention");
    assert!(matches!(j.cause, Cause::Lock { .. }));
    assert!(said.contains("on table menu_items"), "{said}");
    assert!(said.contains("A hot row"), "{said}");
}

#[test]
fn a_busy_sqlite_writer_is_the_queue_writes_join() {
    let levels = sweep(|i, n| {
        let mut l = level(n, 2000.0, if i >= 5 { 180.0 } else { 4.0 }, 0.4);
        l.sqlite_writer = Some(WriterLoad {
            busy_share: 0.95,
            commits_per_s: 400.0,
            writes_per_s: 2000.0,
        });
        l
    });
    let (j, said) = Case::new(levels).said();
    assert!(matches!(j.cause, Cause::Writer { .. }), "{:?}", j.cause);
    assert!(said.contains("SQLite's one writer"), "{said}");
}

fn replica(name: &str, cpu: f64, allowance: f64, share: f64) -> ReplicaLoad {
    ReplicaLoad {
        name: name.into(),
        cpu_share: cpu,
        allowance: Some(allowance),
        request_share: Some(share),
    }
}

/// Two replicas behind round-robin: `a` held to 0.05 core at 100% of it, `b`
/// idle, each given half the requests.
fn starved_replica() -> Case {
    let levels = sweep(|i, n| {
        let mut l = level(n, 40.0, if i >= 2 { 300.0 } else { 30.0 }, 0.1);
        l.replica_cpu = vec![1.0, 0.04];
        l
    });
    let mut case = Case::new(levels);
    case.replicas = vec![
        replica("10.0.0.11:9464", 1.0, 0.05, 0.5),
        replica("10.0.0.12:9464", 0.04, 1.0, 0.5),
    ];
    case
}

#[test]
fn a_replica_full_at_its_own_allowance_is_the_bottleneck_not_the_idle_one() {
    let (j, said) = starved_replica().said();
    assert_eq!(j.verdict.name(), "capacity", "{said}");
    let Cause::StarvedReplica { replica, .. } = &j.cause else {
        panic!("{:?}", j.cause)
    };
    assert_eq!(replica, "10.0.0.11:9464");
    assert!(matches!(
        j.more_replicas,
        MoreReplicas::FixReplicaFirst { .. }
    ));
    assert!(
        !said.contains("10.0.0.12"),
        "the healthy one is never named: {said}"
    );
    assert!(said.contains("Fix replica 10.0.0.11:9464 first"), "{said}");
}

#[test]
fn replicas_alike_are_never_named() {
    let mut case = starved_replica();
    case.replicas = vec![replica("a", 0.97, 1.0, 0.5), replica("b", 0.95, 1.0, 0.5)];
    for l in &mut case.levels {
        l.replica_cpu = vec![0.97, 0.95];
    }
    let j = case.judge();
    assert_eq!(j.verdict.name(), "capacity");
    assert!(matches!(j.cause, Cause::Cpu { .. }), "{:?}", j.cause);
    assert_eq!(j.differing, None);
    case.replicas = vec![replica("a", 0.1, 1.0, 0.5), replica("b", 0.1, 1.0, 0.5)];
    assert_eq!(super::judge::differing(&case.replicas), None);
}

#[test]
fn a_replica_the_balancer_leaves_out_is_named_as_the_balancer_s_doing() {
    let mut case = Case::new(healthy_sweep());
    case.replicas = vec![
        replica("a", 0.3, 1.0, 0.5),
        replica("b", 0.3, 1.0, 0.5),
        replica("c", 0.0, 1.0, 0.0),
    ];
    let (j, said) = case.said();
    assert_eq!(j.verdict.name(), "healthy");
    assert!(matches!(&j.differing, Some(Cause::Unbalanced { replica, .. }) if replica == "c"));
    assert!(said.contains("replica c differs from the rest"), "{said}");
    assert!(said.contains("balancer"), "{said}");
}

fn falling() -> Vec<Level> {
    sweep(|i, n| {
        let rps = if i < 4 {
            1000.0 * (i + 1) as f64
        } else {
            4000.0 / (i - 2) as f64
        };
        level(n, rps, 10.0 + 20.0 * i as f64, 0.5)
    })
}

#[test]
fn throughput_that_falls_twice_is_coherency_and_one_fall_is_not() {
    let mut case = Case::new(falling());
    case.fall_confirmed = true;
    case.usl = Some(Usl {
        sigma: 0.05,
        kappa: 0.01,
        lambda: 1000.0,
        peak_concurrency: Some(9.7),
        r_squared: 0.95,
    });
    let (j, said) = case.said();
    assert!(
        matches!(j.verdict, Verdict::Coherency { .. }),
        "{:?}",
        j.verdict
    );
    assert!(said.contains("more replicas? no:"), "{said}");
    assert!(said.contains("the scalability fit peaks at"), "{said}");
    case.fall_confirmed = false;
    assert_ne!(case.judge().verdict.name(), "coherency");
}

#[test]
fn a_generator_out_of_cpu_gives_no_verdict_on_the_server() {
    let mut levels = healthy_sweep();
    for l in &mut levels {
        l.generator_cpu_share = 0.95;
        l.server_cpu_share = Some(0.2);
    }
    let (j, said) = Case::new(levels).said();
    assert_eq!(j.verdict.name(), "inconclusive");
    assert!(said.contains("the load generator is the limit"), "{said}");
    assert_eq!(j.more_replicas, MoreReplicas::Unknown);
}

#[test]
fn every_verdict_answers_whether_more_replicas_help() {
    let mut cases = vec![
        Case::new(healthy_sweep()),
        Case::new(far_database()),
        scanned_list(),
        Case::new(cpu_bound()),
        Case::new(starved_pool()),
        starved_replica(),
    ];
    let mut coherent = Case::new(falling());
    coherent.fall_confirmed = true;
    cases.push(coherent);
    for case in cases {
        let (j, said) = case.said();
        let answer = said.split("more replicas? ").nth(1).unwrap();
        assert!(
            ["yes:", "no:", "not yet:", "not at this load"]
                .iter()
                .any(|a| answer.starts_with(a)),
            "{}: {answer}",
            j.verdict.name()
        );
    }
}

#[test]
fn levels_of_fast_refusals_do_not_make_a_lock_look_like_cpu() {
    // A row lock slows orders; past 8 connections the server sheds most of
    // them with fast 503s, which keep its CPU busy.
    let levels = sweep(|i, n| {
        let mut l = level(n, 300.0, if i >= 5 { 200.0 } else { 5.0 }, 0.1);
        if i >= 6 {
            l.throughput_rps = 9000.0;
            l.errors = l.requests * 9 / 10;
            l.server_cpu_share = Some(0.95);
        }
        l.database_wait = Some(Waiting {
            events: vec!["Lock/transactionid".into()],
            table: Some("menu_items".into()),
            sessions: 0.8 * n as f64,
            active: n as f64,
            kind: "a row lock",
        });
        l
    });
    let j = Case::new(levels).judge();
    assert_eq!(j.verdict.name(), "contention", "{:?}", j.verdict);
    assert!(matches!(j.cause, Cause::Lock { .. }), "{:?}", j.cause);
}

#[test]
fn a_failover_during_the_run_is_said_first() {
    let mut levels = healthy_sweep();
    levels[3].failovers = 1.0;
    levels[3].errors = 40;
    let (_, said) = Case::new(levels).said();
    assert!(said.contains("failed over"), "{said}");
    assert!(said.contains("barista_db_failovers_total"), "{said}");
    assert!(
        said.contains("Diagnose again once the database is stable"),
        "{said}"
    );
    let (_, calm) = Case::new(healthy_sweep()).said();
    assert!(!calm.contains("failed over"), "{calm}");
}
