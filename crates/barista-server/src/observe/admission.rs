//! Admission control: what a replica past its capacity refuses, and how early.
//!
//! Refusing costs work too: reading and parsing a request and writing a 503
//! costs about what answering a cached menu does. So requests are judged by
//! what they would cost:
//!
//! - cheap requests (the menu, the shop, the reference pages) are answered
//!   whatever the load, up to the hard cap of requests in flight: refusing one
//!   would cost as much as serving it. Past the CPU, they wait their turn on
//!   their connection, which holds the client back without spending anything;
//! - requests that go to the database (orders, the queue, order reads) pass an
//!   adaptive limit on how many run at once, in the manner of Netflix's
//!   concurrency-limits and Envoy's adaptive concurrency. It starts open (a
//!   burst the database absorbs, as SQLite's group commit does, is not refused
//!   for being a burst); when their latency has stayed past twice the lowest
//!   seen lately plus 10 ms for a second (a flash sale's burst is over by
//!   then), it falls to nine tenths of what is in flight, at most once a
//!   second, and while latency stays low it grows by a tenth a window, back
//!   towards open (so a limit that fell in a rush does not stay low after
//!   it, and `in flight / limit`, the orders autoscaler's database signal,
//!   falls with the load: `bench/autoscale`). Past the limit a request is refused at once (503
//!   `overloaded`, `Retry-After`), before any of its work.
//!
//!   The 10 ms and the once a second are what a shared CPU taught: over
//!   PostgreSQL on one core, a claim that takes 0.5 ms alone takes 5 ms in a
//!   crowd, and that crowding is not the database's limit (refusing database
//!   work does not make the menus and streams beside it cheaper). With a
//!   bare "twice the lowest" the limit fell a tenth every 50 completions,
//!   down to its floor of 4, and the saas bench's single replica refused
//!   57% of its claims while their p99 was 29 ms;
//! - health checks are never refused, and event streams are counted apart
//!   (they wait, they do not work).

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a request is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Health checks: never refused, not counted.
    Exempt,
    /// Answered from memory (or cheaply): only the hard cap applies.
    Cheap,
    /// Work in the database: the adaptive limit applies.
    Database,
}

/// The adaptive limit's floor.
const MIN_LIMIT: f64 = 4.0;
/// Latencies are judged over windows of this many completions...
const WINDOW: u32 = 50;
/// ...against the lowest window average of about this long ago or since.
const BASELINE_AGE: Duration = Duration::from_secs(10);
/// Latency counts as grown past this multiple of the baseline, plus `SLACK`.
const TOLERANCE: f64 = 2.0;
const SLACK_MICROS: f64 = 10_000.0;
/// Latency must stay grown this long before the limit falls.
const SUSTAINED: Duration = Duration::from_secs(1);

struct Window {
    count: u32,
    sum_micros: u64,
    /// The lowest window average lately, and when it was seen.
    baseline_micros: f64,
    baseline_at: Instant,
    /// The previous baseline, kept while a new one forms.
    older_micros: f64,
    /// Since when latency has been grown, if it is.
    slow_since: Option<Instant>,
}

/// The limit on database requests in flight, adapting to their latency.
pub struct Adaptive {
    in_flight: AtomicI64,
    /// The limit in 1/1000ths (fractional steps, atomically readable).
    limit_milli: AtomicI64,
    max: f64,
    /// A `std` mutex: held for a few arithmetic operations per completion.
    window: Mutex<Window>,
}

/// A database request admitted; the slot is given back when it is dropped.
pub struct Admitted {
    limiter: Arc<Adaptive>,
    started: Instant,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.limiter.in_flight.fetch_sub(1, Relaxed);
        self.limiter.completed(self.started.elapsed());
    }
}

impl Adaptive {
    /// `max`: the most the limit may reach (the hard cap on requests in flight).
    pub fn new(max: usize) -> Self {
        let max = (max as f64).max(MIN_LIMIT);
        Self {
            in_flight: AtomicI64::new(0),
            limit_milli: AtomicI64::new((max * 1000.0) as i64),
            max,
            window: Mutex::new(Window {
                count: 0,
                sum_micros: 0,
                baseline_micros: f64::INFINITY,
                baseline_at: Instant::now(),
                older_micros: f64::INFINITY,
                slow_since: None,
            }),
        }
    }

    pub fn limit(&self) -> f64 {
        self.limit_milli.load(Relaxed) as f64 / 1000.0
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Relaxed)
    }

    /// A slot, if one is free under the current limit.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Admitted> {
        let now = self.in_flight.fetch_add(1, Relaxed) + 1;
        if now as f64 > self.limit() {
            self.in_flight.fetch_sub(1, Relaxed);
            return None;
        }
        Some(Admitted {
            limiter: self.clone(),
            started: Instant::now(),
        })
    }

    fn completed(&self, took: Duration) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.count += 1;
        w.sum_micros += took.as_micros() as u64;
        if w.count < WINDOW {
            return;
        }
        let average = w.sum_micros as f64 / f64::from(w.count);
        w.count = 0;
        w.sum_micros = 0;
        // The baseline: the lowest window lately. Old lows expire, so a
        // database that got slower for good becomes the new normal.
        if w.baseline_at.elapsed() > BASELINE_AGE {
            w.baseline_micros = w.older_micros;
            w.older_micros = f64::INFINITY;
            w.baseline_at = Instant::now();
        }
        w.older_micros = w.older_micros.min(average);
        w.baseline_micros = w.baseline_micros.min(average);
        let limit = self.limit();
        let in_flight = self.in_flight() as f64;
        let slow = average > w.baseline_micros * TOLERANCE + SLACK_MICROS;
        if !slow {
            w.slow_since = None;
        }
        let next = if slow && w.slow_since.get_or_insert_with(Instant::now).elapsed() >= SUSTAINED {
            // Slower than it should be, for a while: fewer at once than run
            // now; the next cut waits for another while of it.
            w.slow_since = Some(Instant::now());
            limit.min(in_flight.max(MIN_LIMIT)) * 0.9
        } else if slow {
            limit
        } else {
            // Fast: there may be room for more, used or not. A limit that fell
            // in a rush grows back after it, so `in flight / limit` (the
            // autoscaler's database signal) falls with the load; the next
            // fall cuts to what is in flight, however far it grew.
            limit * 1.1 + 1.0
        };
        let next = next.clamp(MIN_LIMIT, self.max);
        self.limit_milli.store((next * 1000.0) as i64, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(limiter: &Adaptive, latency: Duration, windows: u32) {
        for _ in 0..windows * WINDOW {
            limiter.completed(latency);
        }
    }

    #[test]
    fn slots_are_refused_past_the_limit_and_given_back() {
        let limiter = Arc::new(Adaptive::new(8));
        let held: Vec<_> = (0..8).map(|_| limiter.try_acquire().unwrap()).collect();
        assert!(
            limiter.try_acquire().is_none(),
            "it starts at its maximum, 8"
        );
        drop(held);
        assert_eq!(limiter.in_flight(), 0);
        assert!(limiter.try_acquire().is_some());
    }

    #[test]
    fn the_limit_falls_when_latency_climbs_and_grows_back_when_it_falls() {
        let limiter = Arc::new(Adaptive::new(1024));
        run(&limiter, Duration::from_millis(2), 5);
        assert_eq!(limiter.limit(), 1024.0, "fast and idle: unchanged");
        // Slow with 40 in flight: a burst is let be, a second of it is not.
        let held: Vec<_> = (0..40).map(|_| limiter.try_acquire().unwrap()).collect();
        run(&limiter, Duration::from_millis(20), 10);
        assert_eq!(limiter.limit(), 1024.0, "a short burst changes nothing");
        std::thread::sleep(SUSTAINED);
        run(&limiter, Duration::from_millis(20), 10);
        let fallen = limiter.limit();
        assert!((MIN_LIMIT..40.0).contains(&fallen), "{fallen}");
        // Fast again while nearly full: it grows.
        run(&limiter, Duration::from_millis(2), 10);
        assert!(limiter.limit() > fallen, "{} <= {fallen}", limiter.limit());
        drop(held);
        // Fast and idle after the rush: back to open, so in flight / limit
        // falls with the load.
        run(&limiter, Duration::from_millis(2), 100);
        assert_eq!(limiter.limit(), 1024.0);
    }

    /// A crowd on a shared CPU: 0.5 ms alone, 6 ms among 40, for well over a
    /// second. Not the database's limit: nothing is refused. Truly slow (50
    /// ms): the limit falls a tenth, once a second, not to its floor at once.
    #[test]
    fn crowding_is_not_overload_and_a_fall_is_one_step_a_second() {
        let limiter = Arc::new(Adaptive::new(1024));
        run(&limiter, Duration::from_micros(500), 5);
        let held: Vec<_> = (0..40).map(|_| limiter.try_acquire().unwrap()).collect();
        run(&limiter, Duration::from_millis(6), 10);
        std::thread::sleep(SUSTAINED);
        run(&limiter, Duration::from_millis(6), 10);
        assert_eq!(limiter.limit(), 1024.0, "6 ms in a crowd is not overload");
        run(&limiter, Duration::from_millis(50), 10);
        std::thread::sleep(SUSTAINED);
        run(&limiter, Duration::from_millis(50), 40);
        assert_eq!(limiter.limit(), 36.0, "one step: 0.9 of the 40 in flight");
        drop(held);
    }
}
