//! Recording: HDR histograms (microseconds, 1 µs to 60 s, 3 significant
//! digits) and counters. Connections record into a few shards for the current
//! second; once a second the collector merges the shards into the run's totals
//! and one row of the per-second series, then clears them. Memory is therefore
//! fixed by the number of shards and request names, whatever the duration.

use crate::http::Failure;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;

const MAX_MICROS: u64 = 60_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// What one span of time (a shard's second, or a whole run) recorded.
#[derive(Clone)]
pub struct Tally {
    /// Latency from the intended send time (the only latency in the closed model).
    pub corrected: Histogram<u64>,
    /// Latency from the actual send time (open model only).
    pub uncorrected: Histogram<u64>,
    /// `corrected`, of the expected responses only (2xx and 3xx), as k6's
    /// `expected_response`: refused requests are fast and would flatter it.
    pub expected: Histogram<u64>,
    /// `corrected`, of the other responses (4xx and 5xx: refusals and errors).
    pub refused: Histogram<u64>,
    /// `uncorrected` of each (open model only): how fast the server answered
    /// once it was asked, without the time a request waited to be sent.
    pub expected_uncorrected: Histogram<u64>,
    pub refused_uncorrected: Histogram<u64>,
    pub by_name: Vec<NameTally>,
    /// Responses by status code, indexed by the code (a flat array: this is
    /// touched on every response).
    pub status: Box<[u64; 600]>,
    pub failures: BTreeMap<Failure, u64>,
}

#[derive(Clone)]
pub struct NameTally {
    /// Every response, whatever its status.
    pub latency: Histogram<u64>,
    /// The expected responses (2xx and 3xx) alone: this name's goodput.
    pub expected: Histogram<u64>,
    /// Responses of 400 and up, plus requests without a response.
    pub errors: u64,
    /// Requests without a response.
    pub failures: u64,
}

impl NameTally {
    pub fn requests(&self) -> u64 {
        self.latency.len() + self.failures
    }
}

impl Tally {
    pub fn new(names: usize) -> Tally {
        Tally {
            corrected: histogram(),
            uncorrected: histogram(),
            expected: histogram(),
            refused: histogram(),
            expected_uncorrected: histogram(),
            refused_uncorrected: histogram(),
            by_name: (0..names)
                .map(|_| NameTally {
                    latency: histogram(),
                    expected: histogram(),
                    errors: 0,
                    failures: 0,
                })
                .collect(),
            status: Box::new([0; 600]),
            failures: BTreeMap::new(),
        }
    }

    /// A completed response: latencies in microseconds.
    pub fn response(
        &mut self,
        name: usize,
        status: u16,
        corrected_us: u64,
        uncorrected_us: Option<u64>,
    ) {
        self.corrected.saturating_record(corrected_us.max(1));
        if let Some(u) = uncorrected_us {
            self.uncorrected.saturating_record(u.max(1));
        }
        let (share, share_uncorrected) = if status < 400 {
            (&mut self.expected, &mut self.expected_uncorrected)
        } else {
            (&mut self.refused, &mut self.refused_uncorrected)
        };
        share.saturating_record(corrected_us.max(1));
        if let Some(u) = uncorrected_us {
            share_uncorrected.saturating_record(u.max(1));
        }
        self.status[usize::from(status).min(599)] += 1;
        let n = &mut self.by_name[name];
        n.latency.saturating_record(corrected_us.max(1));
        if status >= 400 {
            n.errors += 1;
        } else {
            n.expected.saturating_record(corrected_us.max(1));
        }
    }

    /// A request that got no response.
    pub fn failure(&mut self, name: usize, failure: Failure) {
        *self.failures.entry(failure).or_default() += 1;
        self.by_name[name].errors += 1;
        self.by_name[name].failures += 1;
    }

    /// (status, count) for every status seen.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| (s as u16, *n))
    }

    pub fn responses(&self) -> u64 {
        self.corrected.len()
    }

    pub fn requests(&self) -> u64 {
        self.responses() + self.failures.values().sum::<u64>()
    }

    /// Failed requests: no response, or a 4xx/5xx answer.
    pub fn errors(&self) -> u64 {
        self.failures.values().sum::<u64>() + self.status[400..].iter().sum::<u64>()
    }

    /// Errors by kind: transport failures by name, answers by status class.
    pub fn error_kinds(&self) -> BTreeMap<String, u64> {
        let mut kinds: BTreeMap<String, u64> = self
            .failures
            .iter()
            .map(|(f, n)| (f.name().to_owned(), *n))
            .collect();
        for (status, n) in self.statuses().filter(|(s, _)| *s >= 400) {
            *kinds.entry(format!("http_{}xx", status / 100)).or_default() += n;
        }
        kinds
    }

    pub fn add(&mut self, other: &Tally) {
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
        let _ = self.expected.add(&other.expected);
        let _ = self.refused.add(&other.refused);
        let _ = self.expected_uncorrected.add(&other.expected_uncorrected);
        let _ = self.refused_uncorrected.add(&other.refused_uncorrected);
        for (mine, theirs) in self.by_name.iter_mut().zip(&other.by_name) {
            let _ = mine.latency.add(&theirs.latency);
            let _ = mine.expected.add(&theirs.expected);
            mine.errors += theirs.errors;
            mine.failures += theirs.failures;
        }
        for (mine, theirs) in self.status.iter_mut().zip(other.status.iter()) {
            *mine += theirs;
        }
        for (f, n) in &other.failures {
            *self.failures.entry(*f).or_default() += n;
        }
    }

    pub fn clear(&mut self) {
        self.corrected.reset();
        self.uncorrected.reset();
        self.expected.reset();
        self.refused.reset();
        self.expected_uncorrected.reset();
        self.refused_uncorrected.reset();
        for n in &mut self.by_name {
            n.latency.reset();
            n.expected.reset();
            n.errors = 0;
            n.failures = 0;
        }
        self.status.fill(0);
        self.failures.clear();
    }
}

/// Latency at a percentile in milliseconds (0 when nothing was recorded).
pub fn percentile_ms(h: &Histogram<u64>, p: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    let micros = if p >= 100.0 {
        h.max()
    } else {
        h.value_at_quantile(p / 100.0)
    };
    micros as f64 / 1000.0
}

/// The shards connections record into.
pub struct Shards {
    shards: Vec<Mutex<Tally>>,
}

impl Shards {
    pub fn new(count: usize, names: usize) -> Shards {
        Shards {
            shards: (0..count.max(1))
                .map(|_| Mutex::new(Tally::new(names)))
                .collect(),
        }
    }

    /// Runs `f` on the shard of connection `conn`.
    pub fn with<R>(&self, conn: usize, f: impl FnOnce(&mut Tally) -> R) -> R {
        let mut shard = self.shards[conn % self.shards.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&mut shard)
    }

    /// Moves everything recorded since the last drain into `into`.
    pub fn drain_into(&self, into: &mut Tally) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            into.add(&shard);
            shard.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_responses_errors_and_percentiles() {
        let mut t = Tally::new(2);
        for ms in 1..=100u64 {
            t.response(0, 200, ms * 1000, Some(500));
        }
        t.response(1, 503, 5000, None);
        t.failure(1, Failure::Timeout);
        assert_eq!(t.requests(), 102);
        assert_eq!(t.errors(), 2);
        assert_eq!(t.error_kinds().get("timeout"), Some(&1));
        assert_eq!(t.error_kinds().get("http_5xx"), Some(&1));
        let p50 = percentile_ms(&t.by_name[0].latency, 50.0);
        assert!((p50 - 50.0).abs() < 0.1, "{p50}");
        let max = percentile_ms(&t.by_name[0].latency, 100.0);
        assert!((max - 100.0).abs() < 0.1, "max within HDR precision: {max}");
        assert_eq!(t.by_name[1].errors, 2);
        assert_eq!(t.by_name[1].requests(), 2);
        // Served and refused apart: the 503 took 5 ms and is not in the served latency.
        assert_eq!((t.expected.len(), t.refused.len()), (100, 1));
        assert!((percentile_ms(&t.refused, 100.0) - 5.0).abs() < 0.01);
        assert!((percentile_ms(&t.expected, 100.0) - 100.0).abs() < 0.1);
    }

    #[test]
    fn draining_shards_moves_and_clears_their_counts() {
        let shards = Shards::new(4, 1);
        for conn in 0..8 {
            shards.with(conn, |t| t.response(0, 200, 1000, None));
        }
        let mut total = Tally::new(1);
        shards.drain_into(&mut total);
        assert_eq!(total.requests(), 8);
        shards.drain_into(&mut total);
        assert_eq!(total.requests(), 8, "a second drain adds nothing");
        assert_eq!((total.expected.len(), total.refused.len()), (8, 0));
    }
}
