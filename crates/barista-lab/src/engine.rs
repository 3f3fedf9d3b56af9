//! Running load.
//!
//! Open model: requests are due on a schedule (`Profile::due`), whatever the
//! server does. Any free connection takes the next due request; if none is
//! free it waits, and that wait counts: latency is measured from the intended
//! send time (coordinated omission corrected, as wrk2 does), and also from the
//! actual send time (uncorrected) so the two can be compared. A request still
//! unsent `--timeout` after its intended time is a timeout, and is not sent:
//! its client would have given up.
//!
//! Closed model: each active connection sends, waits for the answer, thinks,
//! and sends again. Latency is plain response time.

use crate::http::{Conn, Endpoint, Failure};
use crate::profile::Profile;
use crate::stats::{Shards, Tally, percentile_ms};
use crate::workload::{Request, Rng, Workload};
use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Sleep;

#[derive(Debug, Clone)]
pub enum Model {
    /// Requests per second over time, sent over a pool of connections.
    Open { rate: Profile, connections: usize },
    /// Connections over time, each back to back with an optional think time.
    Closed {
        connections: Profile,
        think: Duration,
    },
}

impl Model {
    pub fn duration(&self) -> Duration {
        match self {
            Model::Open { rate, .. } => rate.duration(),
            Model::Closed { connections, .. } => connections.duration(),
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Model::Open { .. })
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub model: Model,
    /// A request without an answer by then counts as a `timeout` error.
    pub timeout: Duration,
    /// Print a live line on stderr (only when it is a terminal).
    pub progress: bool,
    /// Generator threads; one per core when not given (as wrk's `-t`).
    pub threads: Option<usize>,
    /// Stop after this many requests (as oha's and hey's `-n`), or at the
    /// model's end, whichever comes first.
    pub requests: Option<u64>,
}

/// One second of the run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecondRow {
    /// Seconds since the start, at the end of this interval.
    pub t: f64,
    pub requests: u64,
    pub errors: u64,
    pub throughput_rps: f64,
    /// What the schedule asked for (open model), or active connections (closed).
    pub offered: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub struct Outcome {
    pub total: Tally,
    pub series: Vec<SecondRow>,
    pub elapsed: Duration,
    pub names: Vec<String>,
    pub open: bool,
    /// CPU seconds the generator itself used (user + system).
    pub generator_cpu_s: f64,
}

struct Ctx {
    workload: Arc<dyn Workload>,
    endpoints: Vec<Endpoint>,
    shards: Shards,
    timeout: Duration,
    start: Instant,
    /// Requests taken so far (a worker takes one before it sends).
    next: AtomicU64,
    /// Requests to send at most.
    limit: u64,
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// Sends `req` and records the outcome; latency counts from `intended`.
/// What one simulated client keeps between requests.
struct Client {
    id: usize,
    workload: Arc<dyn Workload>,
    /// One open connection per target address, made on first use.
    conns: Vec<Option<Conn>>,
    /// Enforces the request timeout; see `exchange`.
    timer: Pin<Box<Sleep>>,
    rng: Rng,
}

impl Client {
    fn new(ctx: &Ctx, id: usize) -> Client {
        Client {
            id,
            workload: ctx.workload.clone().per_connection(),
            conns: ctx.endpoints.iter().map(|_| None).collect(),
            timer: Box::pin(tokio::time::sleep(ctx.timeout)),
            rng: Rng::new(id as u64),
        }
    }

    fn close_all(&mut self) {
        self.conns.iter_mut().for_each(|c| *c = None);
    }
}

async fn exchange(ctx: &Ctx, client: &mut Client, req: &Request, intended: Instant, open: bool) {
    let Client {
        id,
        workload,
        conns,
        timer,
        ..
    } = client;
    let id = *id;
    let mut retried = false;
    loop {
        let sent = Instant::now();
        let deadline = sent + ctx.timeout;
        let slot = &mut conns[req.addr];
        let result = {
            let send = Conn::send_on(slot, &ctx.endpoints[req.addr], &req.bytes, req.keep);
            tokio::pin!(send);
            // The connection's timer is touched only when it fires: if this request
            // is not yet past its own deadline, the timer moves there. Arming a
            // timer for every request costs a measurable share of the top rate.
            loop {
                tokio::select! {
                    biased;
                    reply = &mut send => break reply,
                    () = timer.as_mut() => {
                        if Instant::now() >= deadline {
                            break Err(Failure::Timeout);
                        }
                        timer.as_mut().reset(tokio::time::Instant::from_std(deadline));
                    }
                }
            }
        };
        let done = Instant::now();
        match result {
            Ok(reply) => {
                if !slot.as_ref().is_some_and(Conn::reusable) {
                    *slot = None;
                }
                workload.observe(req, &reply);
                let uncorrected = open.then(|| micros(done - sent));
                ctx.shards.with(id, |t| {
                    t.response(req.name, reply.status, micros(done - intended), uncorrected)
                });
                return;
            }
            Err(failure) => {
                *slot = None;
                if req.retry_on_connection_error && !retried && failure != Failure::Timeout {
                    retried = true;
                    continue;
                }
                ctx.shards.with(id, |t| t.failure(req.name, failure));
                if failure == Failure::Connect && !open {
                    // Do not spin on a target that refuses connections.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                return;
            }
        }
    }
}

/// Releases each scheduled request when it is due. A thread with OS sleeps
/// (tens of microseconds of slack) rather than tokio's timer (whole
/// milliseconds), so a request is never sent late by the generator's own
/// clock, and the corrected latency measures the server, not the timer.
fn pace(ctx: Arc<Ctx>, rate: Arc<Profile>, slots: Arc<Semaphore>, workers: usize) {
    let mut n = 0u64;
    while n < ctx.limit
        && let Some(due) = rate.due(n)
    {
        let at = ctx.start + due;
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        // Release every slot that is due by now in one go.
        let now = Instant::now() - ctx.start;
        let mut ready = 0;
        while rate.due(n).is_some_and(|d| d <= now) && ready < 100_000 {
            n += 1;
            ready += 1;
        }
        slots.add_permits(ready);
    }
    // One more slot per worker: each finds the schedule over and stops.
    slots.add_permits(workers);
}

async fn open_worker(ctx: Arc<Ctx>, id: usize, rate: Arc<Profile>, slots: Arc<Semaphore>) {
    let mut client = Client::new(&ctx, id);
    loop {
        // A slot is released when it is due; waiting here for it, or for this
        // connection to be free, is part of the latency.
        match slots.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        let n = ctx.next.fetch_add(1, Ordering::Relaxed);
        if n >= ctx.limit {
            break;
        }
        let Some(due) = rate.due(n) else { break };
        let req = client.workload.next(&mut client.rng);
        let intended = ctx.start + due;
        if intended.elapsed() >= ctx.timeout {
            // Its client would have given up before a connection was free to
            // send it: a timeout, sent to nobody. So a server far behind the
            // schedule is not sent a backlog for minutes after it ends.
            ctx.shards
                .with(id, |t| t.failure(req.name, Failure::Timeout));
            continue;
        }
        exchange(&ctx, &mut client, &req, intended, true).await;
    }
}

async fn closed_worker(ctx: Arc<Ctx>, id: usize, connections: Arc<Profile>, think: Duration) {
    let mut client = Client::new(&ctx, id);
    let end = ctx.start + connections.duration();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let active = connections
            .value_at(now - ctx.start)
            .map_or(0, |v| v.round() as usize);
        if id >= active {
            client.close_all();
            tokio::time::sleep((end - now).min(Duration::from_millis(20))).await;
            continue;
        }
        if ctx.next.fetch_add(1, Ordering::Relaxed) >= ctx.limit {
            break;
        }
        let req = client.workload.next(&mut client.rng);
        exchange(&ctx, &mut client, &req, Instant::now(), false).await;
        if !think.is_zero() {
            tokio::time::sleep(think).await;
        }
    }
}

/// CPU seconds this process has used (0 where `/proc` cannot say).
fn process_cpu_seconds() -> f64 {
    barista_sys::Process::This.cpu_seconds().unwrap_or(0.0)
}

fn row(interval: &Tally, t: f64, span: f64, offered: f64) -> SecondRow {
    SecondRow {
        t,
        requests: interval.requests(),
        errors: interval.errors(),
        throughput_rps: interval.responses() as f64 / span.max(1e-9),
        offered,
        p50_ms: percentile_ms(&interval.corrected, 50.0),
        p90_ms: percentile_ms(&interval.corrected, 90.0),
        p99_ms: percentile_ms(&interval.corrected, 99.0),
        max_ms: percentile_ms(&interval.corrected, 100.0),
    }
}

/// Generator threads: as many as asked, else one per core (like wrk), and
/// never more than there are workers.
fn generator_threads(asked: Option<usize>, workers: usize) -> usize {
    let cores = asked
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    cores.clamp(1, workers.max(1))
}

/// Runs the plan. Each generator thread has its own single-threaded runtime,
/// its own connections and its own recording shard, so requests never wait
/// on another thread; only the collector (here, once a second) reads across.
pub async fn run(plan: &Plan, workload: Arc<dyn Workload>) -> Outcome {
    let names = workload.names().to_vec();
    let endpoints = workload.endpoints().to_vec();
    let workers = match &plan.model {
        Model::Open { connections, .. } => (*connections).max(1),
        Model::Closed { connections, .. } => connections.peak().ceil().max(1.0) as usize,
    };
    let threads = generator_threads(plan.threads, workers);
    let cpu_before = process_cpu_seconds();
    let ctx = Arc::new(Ctx {
        workload,
        endpoints,
        shards: Shards::new(threads, names.len()),
        timeout: plan.timeout,
        start: Instant::now(),
        next: AtomicU64::new(0),
        limit: plan.requests.unwrap_or(u64::MAX),
    });
    let slots = Arc::new(Semaphore::new(0));
    let mut pacer = None;
    if let Model::Open { rate, .. } = &plan.model {
        let (ctx, rate, slots) = (ctx.clone(), Arc::new(rate.clone()), slots.clone());
        pacer = Some(std::thread::spawn(move || pace(ctx, rate, slots, workers)));
    }
    // Closes when every generator thread has dropped its sender.
    let (finished, mut done) = tokio::sync::mpsc::unbounded_channel::<()>();
    for thread in 0..threads {
        let (ctx, slots, model, finished) = (
            ctx.clone(),
            slots.clone(),
            plan.model.clone(),
            finished.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("load-{thread}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(_) => return,
                };
                runtime.block_on(async move {
                    let mut tasks = JoinSet::new();
                    // A worker's id picks its shard: `id % threads` is this thread.
                    for id in (thread..workers).step_by(threads) {
                        let ctx = ctx.clone();
                        match &model {
                            Model::Open { rate, .. } => {
                                tasks.spawn(open_worker(
                                    ctx,
                                    id,
                                    Arc::new(rate.clone()),
                                    slots.clone(),
                                ));
                            }
                            Model::Closed { connections, think } => {
                                tasks.spawn(closed_worker(
                                    ctx,
                                    id,
                                    Arc::new(connections.clone()),
                                    *think,
                                ));
                            }
                        }
                    }
                    while tasks.join_next().await.is_some() {}
                });
                // Dropping `finished` tells the collector this thread is done.
                drop(finished);
            });
        if let Err(e) = spawned {
            eprintln!("barista: cannot start a load thread: {e}");
        }
    }
    drop(finished);

    let progress = plan.progress && std::io::stderr().is_terminal();
    let offered_at = |t: Duration| match &plan.model {
        Model::Open { rate, .. } => rate.value_at(t).unwrap_or(0.0),
        Model::Closed { connections, .. } => connections.value_at(t).unwrap_or(0.0).round(),
    };
    let mut total = Tally::new(names.len());
    let mut interval = Tally::new(names.len());
    let mut series = vec![];
    let first_tick = tokio::time::Instant::from_std(ctx.start + Duration::from_secs(1));
    let mut ticks = tokio::time::interval_at(first_tick, Duration::from_secs(1));
    let mut last = Duration::ZERO;
    let mut running = true;
    while running {
        tokio::select! {
            _ = ticks.tick() => {}
            ended = done.recv() => match ended {
                Some(()) => continue,
                None => running = false,
            },
        }
        let now = ctx.start.elapsed();
        ctx.shards.drain_into(&mut interval);
        let span = (now - last).as_secs_f64();
        // The tail after the last whole second still counts in the totals, but a
        // sliver of a second makes a misleading point in the series.
        if span > 0.0 && (running || (span >= 0.5 && interval.requests() > 0)) {
            let r = row(
                &interval,
                now.as_secs_f64(),
                span,
                offered_at(last + (now - last) / 2),
            );
            if progress {
                let errors = total.errors() + interval.errors();
                eprint!(
                    "\r\x1b[2K{:>6.1}s {:>10.0} req/s  p50 {:>9}  p99 {:>9}  errors {}",
                    r.t,
                    r.throughput_rps,
                    crate::duration::fmt_ms(r.p50_ms),
                    crate::duration::fmt_ms(r.p99_ms),
                    errors
                );
                let _ = std::io::stderr().flush();
            }
            series.push(r);
        }
        total.add(&interval);
        interval.clear();
        last = now;
    }
    if progress {
        eprintln!();
    }
    if let Some(pacer) = pacer {
        let _ = pacer.join();
    }
    Outcome {
        total,
        series,
        elapsed: ctx.start.elapsed(),
        names,
        open: plan.model.is_open(),
        generator_cpu_s: process_cpu_seconds() - cpu_before,
    }
}
