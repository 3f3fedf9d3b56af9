//! When a shop takes orders: weekly opening hours in its own IANA time zone,
//! dated exceptions (closed on 25 December, open late on a festival night),
//! and the staff's pause ("snooze"), which ends by itself or when resumed.

use crate::time::Timestamp;
use crate::validation::{FieldError, Invalid};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Days ahead searched for the next opening: a shop closed longer says none.
const HORIZON_DAYS: i64 = 15;
/// Most spans per day and dated exceptions per shop.
pub const SPANS_MAX: usize = 6;
pub const EXCEPTIONS_MAX: usize = 366;
/// Longest timed pause, in minutes.
pub const PAUSE_MINUTES_MAX: i64 = 24 * 60;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One stretch of a day the shop is open, in local time: `07:00` to `18:00`;
/// `closes` may be `24:00`. A night past midnight is two spans, one per day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSpan {
    pub opens: String,
    pub closes: String,
}

/// A date whose hours differ from its weekday's; no spans is closed all day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateHours {
    pub date: String,
    pub hours: Vec<OpenSpan>,
}

/// The body of `PUT /v1/shops/{shop}/hours`, and how it is stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursBody {
    pub time_zone: String,
    /// Spans per weekday (`mon` .. `sun`); a day left out is closed. Absent
    /// or `null`: open all day every day (but for the exceptions).
    #[serde(default)]
    pub weekly: Option<BTreeMap<String, Vec<OpenSpan>>>,
    #[serde(default)]
    pub exceptions: Vec<DateHours>,
}

impl Default for HoursBody {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            weekly: None,
            exceptions: vec![],
        }
    }
}

/// Minutes since local midnight, `opens` to `closes`.
type Minutes = (i32, i32);

/// Opening hours, parsed: only [`Hours::parse`] makes one.
#[derive(Debug, Clone)]
pub struct Hours {
    body: HoursBody,
    tz: TimeZone,
    weekly: Option<[Vec<Minutes>; 7]>,
    exceptions: BTreeMap<Date, Vec<Minutes>>,
}

fn minutes(text: &str, allow_24: bool) -> Option<i32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if allow_24 => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn spans(errors: &mut Vec<FieldError>, field: &str, spans: &[OpenSpan]) -> Vec<Minutes> {
    if spans.len() > SPANS_MAX {
        errors.push(FieldError::new(
            field,
            format!("may hold at most {SPANS_MAX} spans"),
        ));
    }
    let mut out: Vec<Minutes> = vec![];
    for (i, s) in spans.iter().enumerate() {
        match (minutes(&s.opens, false), minutes(&s.closes, true)) {
            (Some(o), Some(c)) if o < c => out.push((o, c)),
            (Some(_), Some(_)) => errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "closes must be after opens (a night past midnight is two spans, one per day)",
            )),
            _ => errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "opens and closes are HH:MM, 00:00 to 23:59 (closes may be 24:00)",
            )),
        }
    }
    out.sort();
    if out.windows(2).any(|w| w[1].0 < w[0].1) {
        errors.push(FieldError::new(field, "spans must not overlap"));
    }
    out
}

impl Hours {
    /// Checks the zone (an IANA name such as `Europe/Lisbon`), every span and
    /// date, reporting all failures at once.
    pub fn parse(body: HoursBody) -> Result<Self, Invalid> {
        let mut errors = vec![];
        let tz = TimeZone::get(&body.time_zone)
            .map_err(|_| {
                errors.push(FieldError::new(
                    "time_zone",
                    "must be an IANA time zone name, such as Europe/Lisbon or UTC",
                ))
            })
            .ok();
        let weekly = body.weekly.as_ref().map(|week| {
            for day in week.keys() {
                if !DAYS.contains(&day.as_str()) {
                    errors.push(FieldError::new(
                        format!("weekly.{day}"),
                        "is not a day: use mon, tue, wed, thu, fri, sat or sun",
                    ));
                }
            }
            DAYS.map(|d| {
                week.get(d)
                    .map(|s| spans(&mut errors, &format!("weekly.{d}"), s))
                    .unwrap_or_default()
            })
        });
        if body.exceptions.len() > EXCEPTIONS_MAX {
            errors.push(FieldError::new(
                "exceptions",
                format!("may hold at most {EXCEPTIONS_MAX} dates"),
            ));
        }
        let mut exceptions = BTreeMap::new();
        for (i, e) in body.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            let s = spans(&mut errors, &format!("{field}.hours"), &e.hours);
            match e.date.parse::<Date>() {
                Ok(d) if e.date.len() == 10 => {
                    if exceptions.insert(d, s).is_some() {
                        errors.push(FieldError::new(
                            format!("{field}.date"),
                            "appears more than once",
                        ));
                    }
                }
                _ => errors.push(FieldError::new(
                    format!("{field}.date"),
                    "must be a date, YYYY-MM-DD",
                )),
            }
        }
        match tz {
            Some(tz) if errors.is_empty() => Ok(Self {
                body,
                tz,
                weekly,
                exceptions,
            }),
            _ => Err(Invalid(errors)),
        }
    }

    /// Hours as stored by this build: parsed again, and always open if unreadable.
    pub fn stored(text: &str) -> Self {
        serde_json::from_str(text)
            .ok()
            .and_then(|b| Self::parse(b).ok())
            .unwrap_or_else(Self::always)
    }

    /// Open all day every day, in UTC: a shop that set no hours.
    pub fn always() -> Self {
        Self::parse(HoursBody::default()).expect("UTC is a zone")
    }

    pub fn body(&self) -> &HoursBody {
        &self.body
    }

    pub fn time_zone(&self) -> &str {
        &self.body.time_zone
    }

    /// The spans of a local date: its exception, else its weekday's, else all day.
    fn day(&self, date: Date) -> Vec<Minutes> {
        if let Some(s) = self.exceptions.get(&date) {
            return s.clone();
        }
        match &self.weekly {
            Some(week) => week[date.weekday().to_monday_zero_offset() as usize].clone(),
            None => vec![(0, 24 * 60)],
        }
    }

    /// The instant local `minute` of `date` names (the later one in a DST gap).
    fn instant(&self, date: Date, minute: i32) -> Option<i64> {
        let (date, minute) = if minute == 24 * 60 {
            (date.tomorrow().ok()?, 0)
        } else {
            (date, minute)
        };
        let at = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
        Some(
            at.to_zoned(self.tz.clone())
                .ok()?
                .timestamp()
                .as_microsecond(),
        )
    }

    /// Open intervals (µs since the epoch), merged, from the day before `now` to the horizon.
    fn intervals(&self, now: Timestamp) -> Vec<(i64, i64)> {
        let Ok(ts) = jiff::Timestamp::from_microsecond(now.micros()) else {
            return vec![];
        };
        let Ok(mut date) = ts.to_zoned(self.tz.clone()).date().yesterday() else {
            return vec![];
        };
        let mut out: Vec<(i64, i64)> = vec![];
        for _ in 0..=HORIZON_DAYS {
            for (o, c) in self.day(date) {
                if let (Some(a), Some(b)) = (self.instant(date, o), self.instant(date, c))
                    && a < b
                {
                    match out.last_mut() {
                        Some(last) if a <= last.1 => last.1 = last.1.max(b),
                        _ => out.push((a, b)),
                    }
                }
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        out
    }

    /// Whether the hours have the shop open at `at`: `Ok(closes)` if so
    /// (`None` past the horizon), `Err(opens)` if not (`None`: not within it).
    fn open_at(&self, at: Timestamp) -> Result<Option<Timestamp>, Option<Timestamp>> {
        let intervals = self.intervals(at);
        let t = at.micros();
        if let Some(&(_, end)) = intervals.iter().find(|(a, b)| *a <= t && t < *b) {
            // Open to the end of what was searched: no closing in sight.
            let far = t + (HORIZON_DAYS - 2) * 86_400_000_000;
            return Ok((end < far).then_some(Timestamp(end)));
        }
        Err(intervals
            .iter()
            .find(|(a, _)| *a > t)
            .map(|(a, _)| Timestamp(*a)))
    }
}

/// A pause: until a time, or until staff resume ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    Until(Timestamp),
    UntilResumed,
}

impl Pause {
    /// As stored: `paused_until`, where `i64::MAX` is until resumed.
    pub fn stored(paused_until: Option<i64>) -> Option<Pause> {
        match paused_until {
            None => None,
            Some(i64::MAX) => Some(Pause::UntilResumed),
            Some(t) => Some(Pause::Until(Timestamp(t))),
        }
    }

    pub fn to_stored(self) -> i64 {
        match self {
            Pause::Until(t) => t.micros(),
            Pause::UntilResumed => i64::MAX,
        }
    }

    /// The body of `PUT /v1/shops/{shop}/pause`: `minutes` from now (1 to a
    /// day), or none for until resumed.
    pub fn parse(body: PauseBody, now: Timestamp) -> Result<Pause, Invalid> {
        match body.minutes {
            None => Ok(Pause::UntilResumed),
            Some(m) if (1..=PAUSE_MINUTES_MAX).contains(&m) => {
                Ok(Pause::Until(Timestamp(now.micros() + m * 60_000_000)))
            }
            Some(_) => Err(Invalid::one(
                "minutes",
                format!("must be 1 to {PAUSE_MINUTES_MAX}, or left out to pause until resumed"),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub minutes: Option<i64>,
}

/// Why a shop takes no orders now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closed {
    /// Outside its opening hours.
    Closed,
    /// Staff paused ordering.
    Paused,
}

/// Whether a shop takes orders now, and when that changes: in the menu, and
/// in the problem that refuses an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ordering {
    pub open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Closed>,
    /// When an open shop closes (absent: not within the next two weeks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<Timestamp>,
    /// When a closed or paused shop takes orders again (absent: not known,
    /// for a pause until resumed or no opening within two weeks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<Timestamp>,
    /// When a timed pause ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<Timestamp>,
    pub time_zone: String,
}

impl Ordering {
    /// The shop's state at `now`, from its hours and pause.
    pub fn at(hours: &Hours, pause: Option<Pause>, now: Timestamp) -> Ordering {
        let mut state = Ordering {
            open: false,
            reason: None,
            closes_at: None,
            opens_at: None,
            paused_until: None,
            time_zone: hours.time_zone().to_owned(),
        };
        let pause = pause.filter(|p| match p {
            Pause::Until(t) => *t > now,
            Pause::UntilResumed => true,
        });
        match pause {
            Some(p) => {
                state.reason = Some(Closed::Paused);
                if let Pause::Until(end) = p {
                    state.paused_until = Some(end);
                    state.opens_at = match hours.open_at(end) {
                        Ok(_) => Some(end),
                        Err(next) => next,
                    };
                }
            }
            None => match hours.open_at(now) {
                Ok(closes) => {
                    state.open = true;
                    state.closes_at = closes;
                }
                Err(opens) => {
                    state.reason = Some(Closed::Closed);
                    state.opens_at = opens;
                }
            },
        }
        state
    }

    /// When this state next changes by itself, if it does.
    pub fn changes_at(&self) -> Option<Timestamp> {
        [self.closes_at, self.opens_at, self.paused_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// What a refused order is told.
    pub fn refusal(&self) -> String {
        let why = match self.reason {
            Some(Closed::Paused) => "the shop has paused ordering",
            _ => "the shop is closed",
        };
        match self.opens_at {
            Some(t) => format!("{why}; it takes orders again at {t}"),
            None if self.reason == Some(Closed::Paused) => {
                format!("{why} until the staff resume it")
            }
            None => format!("{why}; it has no opening hours in the next two weeks"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(json: &str) -> Hours {
        Hours::parse(serde_json::from_str(json).unwrap()).unwrap()
    }

    /// Micros of a UTC instant written as RFC 3339.
    fn at(text: &str) -> Timestamp {
        Timestamp(text.parse::<jiff::Timestamp>().unwrap().as_microsecond())
    }

    const LISBON: &str = r#"{"time_zone":"Europe/Lisbon",
        "weekly":{"mon":[{"opens":"07:00","closes":"18:00"}],"tue":[{"opens":"07:00","closes":"18:00"}],
                  "wed":[{"opens":"07:00","closes":"12:00"},{"opens":"13:00","closes":"18:00"}],
                  "sat":[{"opens":"09:00","closes":"24:00"}],"sun":[{"opens":"00:00","closes":"02:00"}]},
        "exceptions":[{"date":"2026-12-25","hours":[]},{"date":"2026-12-24","hours":[{"opens":"07:00","closes":"23:00"}]}]}"#;

    #[test]
    fn open_now_says_when_it_closes_and_closed_says_when_it_opens() {
        let h = hours(LISBON);
        // Monday 2026-12-07, 10:00 in Lisbon (UTC+0 in winter).
        let s = Ordering::at(&h, None, at("2026-12-07T10:00:00Z"));
        assert!(s.open);
        assert_eq!(s.closes_at, Some(at("2026-12-07T18:00:00Z")));
        // Wednesday's lunch break, then Thursday (closed) to Friday (closed) to Saturday.
        let s = Ordering::at(&h, None, at("2026-12-09T12:30:00Z"));
        assert_eq!(
            (s.open, s.opens_at),
            (false, Some(at("2026-12-09T13:00:00Z")))
        );
        let s = Ordering::at(&h, None, at("2026-12-10T08:00:00Z"));
        assert_eq!(s.opens_at, Some(at("2026-12-12T09:00:00Z")));
        // Saturday night runs on past midnight into Sunday's span: one stretch.
        let s = Ordering::at(&h, None, at("2026-12-12T23:30:00Z"));
        assert_eq!(s.closes_at, Some(at("2026-12-13T02:00:00Z")));
    }

    #[test]
    fn exceptions_override_the_weekday_in_the_shops_zone() {
        let h = hours(LISBON);
        // Friday 25 December: closed; Thursday 24th: open late though Thursdays are closed.
        assert!(!Ordering::at(&h, None, at("2026-12-25T10:00:00Z")).open);
        let s = Ordering::at(&h, None, at("2026-12-24T22:00:00Z"));
        assert_eq!(
            (s.open, s.closes_at),
            (true, Some(at("2026-12-24T23:00:00Z")))
        );
        // Summer time: 07:00 in Lisbon is 06:00 UTC.
        let s = Ordering::at(&h, None, at("2026-07-06T05:30:00Z"));
        assert_eq!(s.opens_at, Some(at("2026-07-06T06:00:00Z")));
    }

    #[test]
    fn a_pause_closes_an_open_shop_and_ends_by_itself() {
        let h = hours(LISBON);
        let now = at("2026-12-07T10:00:00Z");
        let until = Pause::parse(PauseBody { minutes: Some(30) }, now).unwrap();
        let s = Ordering::at(&h, Some(until), now);
        assert_eq!(s.reason, Some(Closed::Paused));
        assert_eq!(s.opens_at, Some(at("2026-12-07T10:30:00Z")));
        assert!(s.refusal().contains("paused"));
        assert!(Ordering::at(&h, Some(until), at("2026-12-07T10:30:00Z")).open);
        // A pause that ends after closing time: the next opening.
        let late = Pause::Until(at("2026-12-07T19:00:00Z"));
        let s = Ordering::at(&h, Some(late), at("2026-12-07T17:00:00Z"));
        assert_eq!(s.opens_at, Some(at("2026-12-08T07:00:00Z")));
        let s = Ordering::at(&h, Some(Pause::UntilResumed), now);
        assert_eq!((s.open, s.opens_at, s.changes_at()), (false, None, None));
        assert!(Pause::parse(PauseBody { minutes: Some(0) }, now).is_err());
    }

    #[test]
    fn a_shop_without_hours_is_always_open() {
        let s = Ordering::at(&Hours::always(), None, Timestamp::now());
        assert!(s.open && s.closes_at.is_none() && s.changes_at().is_none());
        assert!(Hours::stored("").body().weekly.is_none());
    }

    #[test]
    fn bad_hours_are_named_field_by_field() {
        let err = Hours::parse(
            serde_json::from_str(
                r#"{"time_zone":"Mars/Olympus","weekly":{"mon":[{"opens":"18:00","closes":"07:00"}],"fun":[]},
                    "exceptions":[{"date":"2026-13-01","hours":[{"opens":"7","closes":"25:00"}]}]}"#,
            )
            .unwrap(),
        )
        .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "time_zone",
                "weekly.fun",
                "weekly.mon[0]",
                "exceptions[0].hours[0]",
                "exceptions[0].date"
            ]
        );
    }
}
