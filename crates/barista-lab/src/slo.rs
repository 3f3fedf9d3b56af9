//! Service-level objectives on a run: `p99<50ms,errors<1%,p50<=10ms`.
//! Latency clauses use the coordinated-omission-corrected figures.

use crate::duration::{fmt_ms, parse_duration};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency percentile (50, 90, 99, 99.9, 100 for max).
    Latency(f64),
    Mean,
    /// The share of requests that failed, in percent.
    Errors,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub text: String,
    pub metric: Metric,
    pub inclusive: bool,
    /// Milliseconds for latency, percent for errors.
    pub limit: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub expr: String,
    pub clauses: Vec<Clause>,
}

/// What a run measured, as the SLO sees it.
pub trait Measured {
    /// Latency at a percentile, in milliseconds.
    fn latency_ms(&self, percentile: f64) -> f64;
    fn mean_ms(&self) -> f64;
    /// Failed requests, in percent of all.
    fn error_percent(&self) -> f64;
}

#[derive(Debug, Clone, Serialize)]
pub struct ClauseResult {
    pub clause: String,
    pub actual: String,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SloResult {
    pub expr: String,
    pub passed: bool,
    pub clauses: Vec<ClauseResult>,
}

impl Slo {
    pub fn parse(expr: &str) -> Result<Slo, String> {
        let mut clauses = vec![];
        for text in expr.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, inclusive, value) = if let Some((n, v)) = text.split_once("<=") {
                (n, true, v)
            } else if let Some((n, v)) = text.split_once('<') {
                (n, false, v)
            } else {
                return Err(format!(
                    "SLO clause {text:?} needs < or <= (e.g. p99<50ms, errors<1%)"
                ));
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            let metric = match name.as_str() {
                "errors" | "error_rate" => Metric::Errors,
                "mean" | "avg" => Metric::Mean,
                "max" => Metric::Latency(100.0),
                p if p.starts_with('p') => {
                    let digits = &p[1..];
                    let pct = match digits {
                        "999" => 99.9,
                        "9999" => 99.99,
                        d => d
                            .parse::<f64>()
                            .map_err(|_| format!("unknown percentile {p:?} in {text:?}"))?,
                    };
                    if !(0.0..=100.0).contains(&pct) {
                        return Err(format!("percentile {p:?} is out of range in {text:?}"));
                    }
                    Metric::Latency(pct)
                }
                other => {
                    return Err(format!(
                        "unknown SLO metric {other:?} (use p50, p99, p999, max, mean or errors)"
                    ));
                }
            };
            let limit = match metric {
                Metric::Errors => value
                    .strip_suffix('%')
                    .ok_or_else(|| {
                        format!("the error limit in {text:?} needs a %, e.g. errors<1%")
                    })?
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{value:?} is not a percentage in {text:?}"))?,
                _ => parse_duration(value)?.as_secs_f64() * 1000.0,
            };
            clauses.push(Clause {
                text: text.to_owned(),
                metric,
                inclusive,
                limit,
            });
        }
        if clauses.is_empty() {
            return Err("the SLO is empty: give clauses like p99<50ms,errors<1%".into());
        }
        Ok(Slo {
            expr: expr.to_owned(),
            clauses,
        })
    }

    pub fn check(&self, run: &dyn Measured) -> SloResult {
        let clauses: Vec<ClauseResult> = self
            .clauses
            .iter()
            .map(|c| {
                let (actual, shown) = match c.metric {
                    Metric::Latency(p) => {
                        let v = run.latency_ms(p);
                        (v, fmt_ms(v))
                    }
                    Metric::Mean => {
                        let v = run.mean_ms();
                        (v, fmt_ms(v))
                    }
                    Metric::Errors => {
                        let v = run.error_percent();
                        (v, format!("{v:.2}%"))
                    }
                };
                let passed = if c.inclusive {
                    actual <= c.limit
                } else {
                    actual < c.limit
                };
                ClauseResult {
                    clause: c.text.clone(),
                    actual: shown,
                    passed,
                }
            })
            .collect();
        SloResult {
            expr: self.expr.clone(),
            passed: clauses.iter().all(|c| c.passed),
            clauses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl Measured for Fake {
        fn latency_ms(&self, p: f64) -> f64 {
            p // p50 is 50 ms, p99 is 99 ms
        }
        fn mean_ms(&self) -> f64 {
            40.0
        }
        fn error_percent(&self) -> f64 {
            0.5
        }
    }

    #[test]
    fn clauses_parse_with_units_and_percentiles() {
        let slo = Slo::parse("p99<50ms, p999<=1s, errors<1%, max<2s, mean<45ms").unwrap();
        assert_eq!(slo.clauses[0].metric, Metric::Latency(99.0));
        assert_eq!(slo.clauses[0].limit, 50.0);
        assert_eq!(slo.clauses[1].metric, Metric::Latency(99.9));
        assert!(slo.clauses[1].inclusive);
        assert_eq!(
            slo.clauses[2],
            Clause {
                text: "errors<1%".into(),
                metric: Metric::Errors,
                inclusive: false,
                limit: 1.0
            }
        );
        assert_eq!(slo.clauses[3].metric, Metric::Latency(100.0));
    }

    #[test]
    fn each_clause_passes_or_fails_on_its_own() {
        let result = Slo::parse("p50<60ms,p99<50ms,errors<1%")
            .unwrap()
            .check(&Fake);
        assert!(!result.passed);
        let passed: Vec<bool> = result.clauses.iter().map(|c| c.passed).collect();
        assert_eq!(passed, [true, false, true]);
    }

    #[test]
    fn bad_clauses_are_explained() {
        assert!(Slo::parse("p99>5ms").unwrap_err().contains("needs < or <="));
        assert!(Slo::parse("errors<1").unwrap_err().contains("needs a %"));
        assert!(
            Slo::parse("latency<1s")
                .unwrap_err()
                .contains("unknown SLO metric")
        );
        assert!(Slo::parse("p99<fast").is_err());
        assert!(Slo::parse("").is_err());
    }
}
