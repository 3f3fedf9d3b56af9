//! Load profiles: constant, ramps and steps, for rate (open model) or
//! connections (closed model). One syntax for both:
//!
//! ```text
//! 100                 constant for the whole --duration
//! 100..1000           a linear ramp over the whole --duration
//! 100,200,400         steps, sharing --duration equally
//! 10s:100,20s:100..500,30s:500
//!                     explicit stage lengths (stages without one share what is left)
//! ```

use crate::duration::parse_duration;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub from: f64,
    pub to: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub stages: Vec<Stage>,
}

/// A profile as typed, checked but not yet laid over a duration: stages of
/// `(length if given, from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSpec {
    text: String,
    stages: Vec<(Option<Duration>, f64, f64)>,
}

impl ProfileSpec {
    /// Parses the profile syntax (a command-line value parser).
    pub fn parse(text: &str) -> Result<ProfileSpec, String> {
        let mut stages = vec![];
        for part in text.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(format!("empty stage in {text:?}"));
            }
            let (duration, values) = match part.split_once(':') {
                Some((d, v)) => (Some(parse_duration(d)?), v),
                None => (None, part),
            };
            let number = |s: &str| -> Result<f64, String> {
                let v: f64 = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("{s:?} is not a number in stage {part:?}"))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(format!("{s:?} must be zero or more in stage {part:?}"));
                }
                Ok(v)
            };
            let (from, to) = match values.split_once("..") {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let v = number(values)?;
                    (v, v)
                }
            };
            stages.push((duration, from, to));
        }
        Ok(ProfileSpec {
            text: text.to_owned(),
            stages,
        })
    }

    /// The profile as typed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The largest value any stage reaches.
    pub fn peak(&self) -> f64 {
        self.stages.iter().map(|s| s.1.max(s.2)).fold(0.0, f64::max)
    }

    /// Whether every stage holds one whole number (a connection pool size).
    pub fn whole_constant(&self) -> Option<usize> {
        let (_, from, to) = *self.stages.first()?;
        let same = self.stages.iter().all(|s| s.1 == from && s.2 == from);
        (same && from == to && from.fract() == 0.0 && from >= 1.0).then_some(from as usize)
    }

    /// Whether the profile means the same over any duration: one constant
    /// value, or stages that all give their own length.
    pub fn fits_any_duration(&self) -> bool {
        let constant = matches!(self.stages.as_slice(), [(None, from, to)] if from == to);
        constant || self.stages.iter().all(|s| s.0.is_some())
    }

    /// The profile laid over `total`: stages without a length share what the others leave.
    pub fn over(&self, total: Duration) -> Result<Profile, String> {
        let text = &self.text;
        let fixed: Duration = self.stages.iter().filter_map(|p| p.0).sum();
        let open = self.stages.iter().filter(|p| p.0.is_none()).count() as u32;
        if open > 0 && fixed >= total {
            return Err(format!(
                "stages of {text:?} leave no time of the {}s duration for the stages without a length",
                total.as_secs_f64()
            ));
        }
        let share = if open > 0 {
            (total - fixed) / open
        } else {
            Duration::ZERO
        };
        let stages: Vec<Stage> = self
            .stages
            .iter()
            .map(|&(d, from, to)| Stage {
                duration: d.unwrap_or(share),
                from,
                to,
            })
            .collect();
        if stages.iter().all(|s| s.duration.is_zero()) {
            return Err("the load profile has no length: give --duration".into());
        }
        Ok(Profile { stages })
    }
}

impl Profile {
    /// Parses the profile syntax; `total` is what stages without a length share.
    pub fn parse(text: &str, total: Duration) -> Result<Profile, String> {
        ProfileSpec::parse(text)?.over(total)
    }

    pub fn constant(value: f64, duration: Duration) -> Profile {
        Profile {
            stages: vec![Stage {
                duration,
                from: value,
                to: value,
            }],
        }
    }

    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The largest value any stage reaches.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.from.max(s.to))
            .fold(0.0, f64::max)
    }

    /// The value at `t` into the run (`None` past the end).
    pub fn value_at(&self, t: Duration) -> Option<f64> {
        let mut start = Duration::ZERO;
        for s in &self.stages {
            if t < start + s.duration {
                let x = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                return Some(s.from + (s.to - s.from) * x);
            }
            start += s.duration;
        }
        None
    }

    /// When the `n`-th request (from 0) is due, reading the profile as a rate per
    /// second; `None` once the run is over. This is the open model's schedule.
    pub fn due(&self, n: u64) -> Option<Duration> {
        // Request n is due when the cumulative count reaches n (so the first is at 0).
        let mut remaining = n as f64;
        let mut start = 0.0;
        for s in &self.stages {
            let len = s.duration.as_secs_f64();
            let count = (s.from + s.to) / 2.0 * len;
            if remaining < count {
                // Solve from*t + (to-from)/(2 len) * t^2 = remaining for t in [0, len].
                let a = (s.to - s.from) / (2.0 * len);
                let b = s.from;
                let t = if a.abs() < 1e-12 {
                    remaining / b
                } else {
                    (-b + (b * b + 4.0 * a * remaining).sqrt()) / (2.0 * a)
                };
                return Some(Duration::from_secs_f64(start + t.clamp(0.0, len)));
            }
            remaining -= count;
            start += len;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: Duration = Duration::from_secs(10);

    #[test]
    fn a_constant_rate_spaces_requests_evenly() {
        let p = Profile::parse("100", TEN).unwrap();
        assert_eq!(p.due(0), Some(Duration::ZERO));
        assert_eq!(p.due(100), Some(Duration::from_secs(1)));
        assert_eq!(p.due(999).unwrap().as_millis(), 9990);
        assert_eq!(p.due(1000), None, "exactly rate x duration requests");
    }

    #[test]
    fn a_ramp_sends_the_area_under_the_line() {
        let p = Profile::parse("0..200", TEN).unwrap();
        // 0 to 200/s over 10 s: 1000 requests; half of them in the last ~2.93 s.
        assert!(p.due(999).is_some() && p.due(1000).is_none());
        let half = p.due(500).unwrap().as_secs_f64();
        assert!((half - 10.0 * 0.5f64.sqrt()).abs() < 0.01, "{half}");
        assert_eq!(p.value_at(Duration::from_secs(5)), Some(100.0));
    }

    #[test]
    fn steps_share_the_duration_and_explicit_lengths_are_kept() {
        let p = Profile::parse("100,200", TEN).unwrap();
        assert_eq!(
            p.stages[1],
            Stage {
                duration: Duration::from_secs(5),
                from: 200.0,
                to: 200.0
            }
        );
        let q = Profile::parse("2s:10,20..40", TEN).unwrap();
        assert_eq!(q.stages[0].duration, Duration::from_secs(2));
        assert_eq!(q.stages[1].duration, Duration::from_secs(8));
        assert_eq!(q.peak(), 40.0);
        assert_eq!(q.duration(), TEN);
    }

    #[test]
    fn bad_profiles_are_explained() {
        assert!(
            Profile::parse("fast", TEN)
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            Profile::parse("10,,20", TEN)
                .unwrap_err()
                .contains("empty stage")
        );
        assert!(Profile::parse("-5", TEN).is_err());
        assert!(
            Profile::parse("20s:5,10", TEN)
                .unwrap_err()
                .contains("leave no time")
        );
    }
}
