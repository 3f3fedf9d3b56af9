//! `sweep`: open-model steps of rising rate until the SLO breaks or the
//! maximum is reached. The capacity at SLO is the highest passing step; the
//! knee is the last step before latency turns up sharply (p99 more than twice
//! its best so far) or throughput stops following the offered rate, for good:
//! a bend that a later step takes back (one noisy step on a shared machine,
//! then back to normal) is noise, not the knee.

use crate::duration::fmt_ms;
use crate::engine::{Model, Plan, run};
use crate::profile::Profile;
use crate::report::LoadReport;
use crate::slo::Slo;
use crate::workload::Workload;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub start_rps: f64,
    pub max_rps: f64,
    /// Each step's rate is the previous one's times this.
    pub factor: f64,
    pub step: Duration,
    pub connections: usize,
    pub timeout: Duration,
    pub slo: Slo,
    pub progress: bool,
    /// Generator threads (default: one per core).
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub offered_rps: f64,
    pub throughput_rps: f64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub targets: Vec<String>,
    pub slo: String,
    pub steps: Vec<Step>,
    pub capacity_rps: Option<f64>,
    pub knee_rps: Option<f64>,
    /// Why the sweep stopped.
    pub stopped: String,
}

impl Step {
    /// The column names of [`Step::row`].
    pub fn header(slo: &Slo) -> String {
        format!(
            "{:>10} {:>12} {:>9} {:>9} {:>8}  SLO {}",
            "offered/s", "responses/s", "p50", "p99", "errors", slo.expr
        )
    }

    /// One line of the table a sweep prints as it goes.
    pub fn row(&self) -> String {
        format!(
            "{:>10.0} {:>12.1} {:>9} {:>9} {:>8}  {}",
            self.offered_rps,
            self.throughput_rps,
            fmt_ms(self.p50_ms),
            fmt_ms(self.p99_ms),
            self.errors,
            if self.passed { "pass" } else { "FAIL" }
        )
    }
}

impl SweepReport {
    /// What the sweep found, after its rows.
    pub fn summary(&self) -> String {
        let capacity = match self.capacity_rps {
            Some(c) => format!("capacity at SLO: {c:.0} req/s"),
            None => "capacity at SLO: none (the first step already broke it; lower --start)".into(),
        };
        let knee = match self.knee_rps {
            Some(k) => format!("knee: {k:.0} req/s"),
            None => "knee: not found in the steps tried".into(),
        };
        format!(
            "stopped: {}
{capacity}
{knee}
",
            self.stopped
        )
    }
}

/// The rates a sweep tries, in order.
pub fn rates(start: f64, max: f64, factor: f64) -> Vec<f64> {
    let mut out = vec![];
    let mut r = start.max(1.0);
    while r <= max * 1.000_001 && out.len() < 100 {
        out.push(r.round());
        r *= factor.max(1.01);
    }
    out
}

pub fn knee(steps: &[Step]) -> Option<f64> {
    let mut best_p99 = f64::INFINITY;
    let bent: Vec<bool> = steps
        .iter()
        .map(|s| {
            let bent =
                s.p99_ms > 2.0 * best_p99.max(1.0) || s.throughput_rps < 0.95 * s.offered_rps;
            if !bent {
                best_p99 = best_p99.min(s.p99_ms);
            }
            bent
        })
        .collect();
    // The first bend that every later step confirms.
    let first = (0..steps.len()).find(|&i| bent[i..].iter().all(|b| *b))?;
    first.checked_sub(1).map(|i| steps[i].offered_rps)
}

pub async fn sweep(
    plan: &SweepPlan,
    workload: Arc<dyn Workload>,
    mut on_step: impl FnMut(&Step),
) -> SweepReport {
    let targets = workload.describe();
    let mut steps = vec![];
    let mut stopped = format!(
        "reached --max {:.0} req/s with the SLO holding",
        plan.max_rps
    );
    for rate in rates(plan.start_rps, plan.max_rps, plan.factor) {
        let run_plan = Plan {
            model: Model::Open {
                rate: Profile::constant(rate, plan.step),
                connections: plan.connections,
            },
            timeout: plan.timeout,
            progress: plan.progress,
            threads: plan.threads,
            requests: None,
        };
        let outcome = run(&run_plan, workload.clone()).await;
        let report = LoadReport::new(&outcome, String::new(), vec![], Some(&plan.slo));
        let step = Step {
            offered_rps: rate,
            throughput_rps: report.throughput_rps,
            requests: report.requests,
            errors: report.error_count(),
            p50_ms: report.latency_ms.p50,
            p90_ms: report.latency_ms.p90,
            p99_ms: report.latency_ms.p99,
            max_ms: report.latency_ms.max,
            passed: report.slo.as_ref().is_some_and(|s| s.passed),
        };
        on_step(&step);
        let passed = step.passed;
        steps.push(step);
        if !passed {
            stopped = format!("the SLO broke at {rate:.0} req/s");
            break;
        }
    }
    let capacity_rps = steps
        .iter()
        .take_while(|s| s.passed)
        .last()
        .map(|s| s.offered_rps);
    SweepReport {
        targets,
        slo: plan.slo.expr.clone(),
        knee_rps: knee(&steps),
        steps,
        capacity_rps,
        stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(offered: f64, throughput: f64, p99: f64) -> Step {
        Step {
            offered_rps: offered,
            throughput_rps: throughput,
            requests: 0,
            errors: 0,
            p50_ms: 1.0,
            p90_ms: 1.0,
            p99_ms: p99,
            max_ms: p99,
            passed: true,
        }
    }

    #[test]
    fn rates_grow_geometrically_up_to_the_maximum() {
        assert_eq!(rates(100.0, 1000.0, 2.0), [100.0, 200.0, 400.0, 800.0]);
        assert_eq!(rates(10.0, 10.0, 1.5), [10.0]);
    }

    #[test]
    fn the_knee_is_the_last_step_before_latency_or_throughput_bends() {
        let steps = [
            step(100.0, 100.0, 2.0),
            step(200.0, 199.0, 2.5),
            step(400.0, 396.0, 9.0),
            step(800.0, 500.0, 300.0),
        ];
        assert_eq!(knee(&steps), Some(200.0));
        let flat = [step(100.0, 100.0, 2.0), step(200.0, 150.0, 2.0)];
        assert_eq!(
            knee(&flat),
            Some(100.0),
            "throughput falling behind is a knee too"
        );
        assert_eq!(
            knee(&[step(100.0, 100.0, 2.0)]),
            None,
            "never bent within the steps tried"
        );
    }

    /// A rush sweep on one core, as it was seen: p99 about 2 ms all the way to
    /// 21,895 requests/s but for one noisy step (13.9 ms at 2,883/s), then the
    /// real bend. The knee is the last step before the real bend.
    #[test]
    fn one_noisy_step_is_not_the_knee() {
        let offered = rates(50.0, 50_000.0, 1.5);
        let steps: Vec<Step> = offered
            .iter()
            .map(|&r| match r {
                r if r == 2_883.0 => step(r, r, 13.9),
                r if r <= 21_895.0 => step(r, r * 0.999, 1.6 + (r as u64 % 7) as f64 / 10.0),
                r => step(r, 24_000.0_f64.min(r), 180.0),
            })
            .collect();
        assert!(
            offered.contains(&2_883.0) && offered.contains(&21_895.0),
            "{offered:?}"
        );
        assert_eq!(knee(&steps), Some(21_895.0), "{offered:?}");
        // Noise at the top with no later step to take it back is a bend.
        let last = [
            step(100.0, 100.0, 2.0),
            step(200.0, 200.0, 2.1),
            step(400.0, 400.0, 9.0),
        ];
        assert_eq!(knee(&last), Some(200.0));
        // A noisy step, then more noise, then a sustained bend: the bend counts.
        let twice = [
            step(100.0, 100.0, 2.0),
            step(200.0, 200.0, 9.0),
            step(400.0, 400.0, 2.0),
            step(800.0, 800.0, 2.2),
            step(1600.0, 900.0, 300.0),
            step(3200.0, 900.0, 900.0),
        ];
        assert_eq!(knee(&twice), Some(800.0));
    }
}
