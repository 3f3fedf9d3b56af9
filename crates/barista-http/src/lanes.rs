//! Two lanes at the door: when the process is out of CPU, the work that
//! matters goes first and the cheap work waits, without being read.
//!
//! A replica's requests are not equal. An order is the revenue and costs a
//! database write; a menu read is answered from memory and any cache can
//! serve it again. On a saturated executor every task waits its turn in one
//! FIFO queue, so a flood of menu reads makes the orders wait behind it, and
//! the orders' growing latency then made admission refuse them: the replica
//! kept its goodput by serving menus and refusing orders, backwards for a
//! café. Refusing the menus instead does not fix it: a refusal costs about
//! half what serving a cached menu does (the read, the write, the wake-ups
//! are the same), so a quarter of a core offered ten times its capacity cannot
//! even refuse the flood (`bench/overload`).
//!
//! What costs nothing is a request not read. So:
//!
//! - the app sorts each request head into a lane ([`Door::lane`]): `First`
//!   (orders, claims, status moves, order reads, event streams, health) or
//!   `Cheap` (the menu, the shop, pages, documents, unknown routes);
//! - while the executor keeps up, both lanes pass at once (an atomic load);
//! - when it falls behind, the cheap lane closes: a cheap request waits there,
//!   holding its connection and no CPU, and its connection reads nothing more
//!   meanwhile, so the flood queues in the kernel and the client, not in the
//!   executor. Orders never wait here. A controller lets waiting cheap
//!   requests through, oldest first, at the rate that keeps the executor's
//!   delay near its target: as many menus as the CPU left over allows;
//! - a cheap request that waited [`Lanes::max_wait`] without its turn is
//!   answered by the app's [`Door::busy`] (503 with `Retry-After`), written
//!   straight from the connection: the client learns the replica is busy
//!   instead of hanging, and each connection costs at most one such answer a
//!   `max_wait`.
//!
//! The signal is the executor's delay: how long a task that yields waits for
//! its next turn, sampled every millisecond. It is what every request waiting
//! on the CPU pays (the run queue, or a cgroup's throttled periods), it needs
//! no knowledge of the machine (cores, quota, other tenants), and it moves
//! within milliseconds. A lane, not a priority queue inside the executor:
//! tokio has no priorities, and the request's class is only known once its
//! head is read.

use bytes::Bytes;
use http::{Extensions, Method, Response, Uri};
use http_body_util::Full;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Which lane a request goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Never held back at the door.
    First,
    /// Held back while the executor is behind.
    Cheap,
}

/// What the app tells the door.
pub trait Door: Send + Sync + 'static {
    /// The lane of a request, from its head; what it found on the way (the
    /// matched route) may be left in `extensions` for the app.
    fn lane(&self, method: &Method, uri: &Uri, extensions: &mut Extensions) -> Lane;
    /// The answer to a cheap request that waited too long (503, `Retry-After`).
    fn busy(&self) -> Response<Full<Bytes>>;
}

/// How a cheap request fared at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The lane was open.
    Passed,
    /// It waited its turn.
    Waited,
    /// It waited `max_wait` without a turn: answer [`Door::busy`].
    Refused,
}

/// How often the controller samples the executor's delay.
const TICK: Duration = Duration::from_millis(1);
/// Consecutive calm ticks, with none waiting, before the lane opens again.
const CALM_TICKS: u32 = 100;

/// The two lanes and their controller.
pub struct Lanes {
    door: Arc<dyn Door>,
    /// Past this executor delay (smoothed), the cheap lane closes.
    target: Duration,
    max_wait: Duration,
    open: AtomicBool,
    gate: Semaphore,
    waiting: AtomicUsize,
    /// Cheap requests let through since the controller last looked.
    passed: AtomicU64,
    /// The smoothed executor delay, in microseconds.
    delay_micros: AtomicU64,
    waited_total: AtomicU64,
    refused_total: AtomicU64,
    closed_total: AtomicU64,
}

impl Lanes {
    /// Lanes for `door`: the cheap one closes when the executor's delay passes
    /// `target`, and a cheap request waits at most `max_wait`.
    pub fn new(door: Arc<dyn Door>, target: Duration, max_wait: Duration) -> Lanes {
        Lanes {
            door,
            target,
            max_wait,
            open: AtomicBool::new(true),
            gate: Semaphore::new(0),
            waiting: AtomicUsize::new(0),
            passed: AtomicU64::new(0),
            delay_micros: AtomicU64::new(0),
            waited_total: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
            closed_total: AtomicU64::new(0),
        }
    }

    pub fn door(&self) -> &dyn Door {
        &*self.door
    }

    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Whether the cheap lane lets requests straight through now.
    pub fn is_open(&self) -> bool {
        self.open.load(Relaxed)
    }

    /// Cheap requests waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Relaxed)
    }

    /// The executor's delay, smoothed: how long a ready task waits for its turn.
    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_micros.load(Relaxed))
    }

    /// Cheap requests that waited for their turn, and got it.
    pub fn waited_total(&self) -> u64 {
        self.waited_total.load(Relaxed)
    }

    /// Cheap requests answered `busy` after waiting `max_wait`.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Relaxed)
    }

    /// Times the cheap lane closed.
    pub fn closed_total(&self) -> u64 {
        self.closed_total.load(Relaxed)
    }

    /// A cheap request asks to pass.
    pub async fn enter(&self) -> Entry {
        if self.open.load(Relaxed) {
            self.passed.fetch_add(1, Relaxed);
            return Entry::Passed;
        }
        self.waiting.fetch_add(1, Relaxed);
        let turn = tokio::time::timeout(self.max_wait, self.gate.acquire()).await;
        self.waiting.fetch_sub(1, Relaxed);
        match turn {
            Ok(Ok(permit)) => {
                permit.forget();
                self.passed.fetch_add(1, Relaxed);
                self.waited_total.fetch_add(1, Relaxed);
                Entry::Waited
            }
            _ => {
                self.refused_total.fetch_add(1, Relaxed);
                Entry::Refused
            }
        }
    }

    /// The controller: samples the executor's delay every tick and opens,
    /// closes and paces the cheap lane. Runs until dropped (the server aborts it).
    pub async fn control(self: Arc<Self>) {
        let mut control = Control::new(self.target);
        loop {
            tokio::time::sleep(TICK).await;
            let asked = Instant::now();
            tokio::task::yield_now().await;
            let delay = asked.elapsed();
            let passed = self.passed.swap(0, Relaxed);
            let waiting = self.waiting.load(Relaxed);
            let step = control.step(delay, passed, waiting, self.open.load(Relaxed));
            self.delay_micros
                .store(control.smoothed.as_micros() as u64, Relaxed);
            match step {
                Step::Open => {
                    self.open.store(true, Relaxed);
                    // Those still waiting go now (the lane is open to newcomers).
                    self.gate.add_permits(waiting);
                }
                Step::Close => {
                    self.open.store(false, Relaxed);
                    self.closed_total.fetch_add(1, Relaxed);
                }
                Step::Let(n) => {
                    let n = n.min(waiting.saturating_sub(self.gate.available_permits()));
                    self.gate.add_permits(n);
                }
                Step::Stay => {}
            }
        }
    }
}

/// What the controller does after a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Open,
    Close,
    /// Let this many waiting requests through.
    Let(usize),
    Stay,
}

/// The controller's arithmetic, apart from the clock (unit-tested).
struct Control {
    target: Duration,
    smoothed: Duration,
    /// Cheap requests let through a tick while the lane is closed.
    quota: f64,
    calm: u32,
}

impl Control {
    fn new(target: Duration) -> Control {
        Control {
            target,
            smoothed: Duration::ZERO,
            quota: 1.0,
            calm: 0,
        }
    }

    /// One tick: the delay just measured, the cheap requests let through
    /// since the last tick, those waiting, and whether the lane is open.
    fn step(&mut self, delay: Duration, passed: u64, waiting: usize, open: bool) -> Step {
        // A quarter of the new sample: one slow tick (a page fault, a timer
        // batch) does not close the lane; a run of them does within ~5 ticks.
        self.smoothed = (self.smoothed * 3 + delay) / 4;
        let behind = self.smoothed > self.target;
        if open {
            if behind {
                // Start at half of what was passing: the executor was behind at that rate.
                self.quota = (passed as f64 / 2.0).max(1.0);
                self.calm = 0;
                return Step::Close;
            }
            return Step::Stay;
        }
        if behind {
            self.quota = (self.quota * 0.8).max(1.0);
            self.calm = 0;
        } else {
            // Additive increase, a little faster the larger the quota.
            self.quota += 1.0 + self.quota / 16.0;
            if waiting == 0 && self.smoothed * 2 < self.target {
                self.calm += 1;
                if self.calm >= CALM_TICKS {
                    self.calm = 0;
                    return Step::Open;
                }
            } else {
                self.calm = 0;
            }
        }
        Step::Let(self.quota as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Duration = Duration::from_millis(5);

    #[test]
    fn one_slow_tick_does_not_close_the_lane_a_run_of_them_does() {
        let mut c = Control::new(TARGET);
        assert_eq!(c.step(Duration::from_millis(12), 100, 0, true), Step::Stay);
        for _ in 0..20 {
            c.step(Duration::from_micros(100), 100, 0, true);
        }
        let mut closed_after = None;
        for tick in 1..=10 {
            if c.step(Duration::from_millis(20), 100, 0, true) == Step::Close {
                closed_after = Some(tick);
                break;
            }
        }
        let ticks = closed_after.expect("a run of slow ticks closes the lane");
        assert!(ticks <= 5, "closed after {ticks} ticks");
        assert_eq!(c.quota, 50.0, "half of what was passing");
    }

    #[test]
    fn while_behind_fewer_pass_and_while_not_more_do() {
        let mut c = Control::new(TARGET);
        c.smoothed = Duration::from_millis(20);
        c.quota = 40.0;
        let mut last = usize::MAX;
        for _ in 0..5 {
            let Step::Let(n) = c.step(Duration::from_millis(20), 0, 500, false) else {
                panic!("a closed lane lets some through")
            };
            assert!(n < last && n >= 1, "{n} after {last}");
            last = n;
        }
        for _ in 0..20 {
            c.step(Duration::from_micros(50), 0, 500, false);
        }
        let Step::Let(n) = c.step(Duration::from_micros(50), 0, 500, false) else {
            panic!()
        };
        assert!(n > last, "recovers: {n} > {last}");
    }

    #[test]
    fn the_lane_opens_only_after_a_calm_spell_with_nobody_waiting() {
        let mut c = Control::new(TARGET);
        for _ in 0..(CALM_TICKS * 2) {
            assert!(matches!(
                c.step(Duration::from_micros(10), 0, 3, false),
                Step::Let(_)
            ));
        }
        let mut opened = false;
        for _ in 0..=CALM_TICKS {
            if c.step(Duration::from_micros(10), 0, 0, false) == Step::Open {
                opened = true;
                break;
            }
        }
        assert!(opened);
    }

    struct AllCheap;

    impl Door for AllCheap {
        fn lane(&self, _: &Method, _: &Uri, _: &mut Extensions) -> Lane {
            Lane::Cheap
        }
        fn busy(&self) -> Response<Full<Bytes>> {
            Response::new(Full::new(Bytes::new()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_lane_holds_a_request_until_its_turn_or_refuses_it_after_max_wait() {
        let lanes = Arc::new(Lanes::new(
            Arc::new(AllCheap),
            TARGET,
            Duration::from_millis(300),
        ));
        assert_eq!(lanes.enter().await, Entry::Passed);
        lanes.open.store(false, Relaxed);
        // Nobody lets it through: refused after max_wait.
        let start = Instant::now();
        assert_eq!(lanes.enter().await, Entry::Refused);
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        assert_eq!(lanes.refused_total(), 1);
        // A turn given: it passes.
        let waiter = tokio::spawn({
            let lanes = lanes.clone();
            async move { lanes.enter().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(lanes.waiting(), 1);
        lanes.gate.add_permits(1);
        assert_eq!(waiter.await.unwrap(), Entry::Waited);
        assert_eq!(lanes.waiting(), 0);
    }
}
