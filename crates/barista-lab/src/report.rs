//! What a run says: a JSON document (the fields docs/cli.md lists, plus the per-second
//! series, per-name results and the latency spectrum; described by
//! `schema/load-result.schema.json`) and the table printed at the end.

use crate::duration::fmt_ms;
use crate::engine::{Outcome, SecondRow};
use crate::slo::{Measured, Slo, SloResult};
use crate::stats::{Tally, percentile_ms};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// Some of the responses: how many, how many per second, how fast.
#[derive(Debug, Clone, Serialize)]
pub struct Share {
    pub count: u64,
    pub rate_rps: f64,
    pub latency_ms: Latency,
    /// From the actual send time (open model only): the server's part.
    pub uncorrected_latency_ms: Option<Latency>,
}

impl Share {
    fn of(h: &Histogram<u64>, uncorrected: Option<&Histogram<u64>>, secs: f64) -> Share {
        Share {
            count: h.len(),
            rate_rps: h.len() as f64 / secs,
            latency_ms: Latency::of(h),
            uncorrected_latency_ms: uncorrected.map(Latency::of),
        }
    }
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        Latency {
            p50: percentile_ms(h, 50.0),
            p90: percentile_ms(h, 90.0),
            p99: percentile_ms(h, 99.0),
            p999: percentile_ms(h, 99.9),
            max: percentile_ms(h, 100.0),
            mean: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NameReport {
    pub requests: u64,
    pub errors: u64,
    pub throughput_rps: f64,
    pub latency_ms: Latency,
    /// The expected responses (2xx and 3xx) alone: this name's goodput and
    /// its latency (from the intended send time).
    pub expected: Share,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpectrumPoint {
    pub percentile: f64,
    pub latency_ms: f64,
    pub uncorrected_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub requests: u64,
    pub duration_s: f64,
    /// Responses (of any status) per second.
    pub throughput_rps: f64,
    pub latency_ms: Latency,
    pub uncorrected_latency_ms: Option<Latency>,
    /// Expected responses (2xx and 3xx), apart: the goodput and its latency.
    pub expected: Share,
    /// The other responses (4xx and 5xx): what was refused, and how fast.
    pub refused: Share,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub slo: Option<SloResult>,
    pub model: String,
    /// The load asked for: a rate profile (open) or a connections profile (closed).
    pub offered: String,
    pub targets: Vec<String>,
    pub generator_cpu_s: f64,
    pub series: Vec<SecondRow>,
    pub by_name: BTreeMap<String, NameReport>,
    pub spectrum: Vec<SpectrumPoint>,
}

/// The SLO's view of a tally.
struct View<'a>(&'a Tally);

impl Measured for View<'_> {
    fn latency_ms(&self, percentile: f64) -> f64 {
        percentile_ms(&self.0.corrected, percentile)
    }
    fn mean_ms(&self) -> f64 {
        if self.0.corrected.is_empty() {
            0.0
        } else {
            self.0.corrected.mean() / 1000.0
        }
    }
    fn error_percent(&self) -> f64 {
        let requests = self.0.requests();
        if requests == 0 {
            100.0
        } else {
            100.0 * self.0.errors() as f64 / requests as f64
        }
    }
}

const SPECTRUM: &[f64] = &[
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

impl LoadReport {
    pub fn new(
        outcome: &Outcome,
        offered: String,
        targets: Vec<String>,
        slo: Option<&Slo>,
    ) -> LoadReport {
        let t = &outcome.total;
        let secs = outcome.elapsed.as_secs_f64().max(1e-9);
        let by_name = outcome
            .names
            .iter()
            .zip(&t.by_name)
            .map(|(name, n)| {
                (
                    name.clone(),
                    NameReport {
                        requests: n.requests(),
                        errors: n.errors,
                        throughput_rps: n.latency.len() as f64 / secs,
                        latency_ms: Latency::of(&n.latency),
                        expected: Share::of(&n.expected, None, secs),
                    },
                )
            })
            .collect();
        let spectrum = SPECTRUM
            .iter()
            .map(|p| SpectrumPoint {
                percentile: *p,
                latency_ms: percentile_ms(&t.corrected, *p),
                uncorrected_ms: outcome.open.then(|| percentile_ms(&t.uncorrected, *p)),
            })
            .collect();
        LoadReport {
            requests: t.requests(),
            duration_s: secs,
            throughput_rps: t.responses() as f64 / secs,
            latency_ms: Latency::of(&t.corrected),
            uncorrected_latency_ms: outcome.open.then(|| Latency::of(&t.uncorrected)),
            expected: Share::of(
                &t.expected,
                outcome.open.then_some(&t.expected_uncorrected),
                secs,
            ),
            refused: Share::of(
                &t.refused,
                outcome.open.then_some(&t.refused_uncorrected),
                secs,
            ),
            status_codes: t.statuses().map(|(s, n)| (s.to_string(), n)).collect(),
            errors: t.error_kinds(),
            slo: slo.map(|s| s.check(&View(t))),
            model: if outcome.open { "open" } else { "closed" }.into(),
            offered,
            targets,
            generator_cpu_s: outcome.generator_cpu_s,
            series: outcome.series.clone(),
            by_name,
            spectrum,
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "target    {}", self.targets.join(", "));
        let _ = writeln!(out, "model     {}, {}", self.model, self.offered);
        let errors = self.error_count();
        let pct = if self.requests > 0 {
            100.0 * errors as f64 / self.requests as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "requests  {} in {:.1}s: {:.1} responses/s, {} errors ({pct:.2}%)",
            self.requests, self.duration_s, self.throughput_rps, errors
        );
        let _ = writeln!(
            out,
            "\nlatency        {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "p50", "p90", "p99", "p99.9", "max", "mean"
        );
        let mut line = |label: &str, l: &Latency| {
            let _ = writeln!(
                out,
                "{label:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                fmt_ms(l.p50),
                fmt_ms(l.p90),
                fmt_ms(l.p99),
                fmt_ms(l.p999),
                fmt_ms(l.max),
                fmt_ms(l.mean)
            );
        };
        line(
            if self.uncorrected_latency_ms.is_some() {
                "corrected"
            } else {
                "response time"
            },
            &self.latency_ms,
        );
        if let Some(u) = &self.uncorrected_latency_ms {
            line("uncorrected", u);
        }
        // As k6 does: the latency of what was served apart from what was refused.
        if self.refused.count > 0 {
            line("2xx/3xx", &self.expected.latency_ms);
            line("4xx/5xx", &self.refused.latency_ms);
            let _ = writeln!(
                out,
                "goodput        {:.1} expected responses/s ({} of {}), {:.1} refused/s",
                self.expected.rate_rps,
                self.expected.count,
                self.expected.count + self.refused.count,
                self.refused.rate_rps
            );
        }
        if self.by_name.len() > 1 {
            let _ = writeln!(
                out,
                "\n{:<24} {:>9} {:>7} {:>10} {:>9} {:>9}",
                "by name", "requests", "errors", "resp/s", "p50", "p99"
            );
            for (name, n) in &self.by_name {
                let _ = writeln!(
                    out,
                    "{name:<24} {:>9} {:>7} {:>10.1} {:>9} {:>9}",
                    n.requests,
                    n.errors,
                    n.throughput_rps,
                    fmt_ms(n.latency_ms.p50),
                    fmt_ms(n.latency_ms.p99)
                );
            }
        }
        let codes: Vec<String> = self
            .status_codes
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "\nstatus    {}",
            if codes.is_empty() {
                "none".into()
            } else {
                codes.join("  ")
            }
        );
        let kinds: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "errors    {}",
            if kinds.is_empty() {
                "none".into()
            } else {
                kinds.join("  ")
            }
        );
        if let Some(slo) = &self.slo {
            let _ = writeln!(
                out,
                "\nSLO {}  {}",
                slo.expr,
                if slo.passed { "PASSED" } else { "FAILED" }
            );
            for c in &slo.clauses {
                let _ = writeln!(
                    out,
                    "  {:<20} actual {:<10} {}",
                    c.clause,
                    c.actual,
                    if c.passed { "pass" } else { "FAIL" }
                );
            }
        }
        out
    }
}
