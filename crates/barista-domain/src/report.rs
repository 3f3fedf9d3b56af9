//! The day's takings: what a shop sold over one local day or a range of days,
//! as its owner reads it (Square's sales summary is the anchor).
//!
//! The store reads the orders placed in the range (an index range of
//! `orders_by_age`, whatever the shop's size) and folds each into a
//! [`ReportBuilder`] as it reads it; everything is counted here: orders and
//! revenue by status, by item and by local hour, the cancellations, and the
//! median time from placed to ready.

use crate::order::OrderLine;
use crate::status::Status;
use crate::time::Timestamp;
use crate::validation::{FieldError, Invalid};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;
use std::collections::BTreeMap;

/// The longest range one report covers, in days.
pub const REPORT_DAYS_MAX: i64 = 31;

/// Local days `from` to `to` (both included) in the shop's zone, as the
/// instants the store reads between.
#[derive(Debug, Clone)]
pub struct ReportRange {
    pub from: Date,
    pub to: Date,
    tz: TimeZone,
    time_zone: String,
    /// µs since the epoch: `from`'s first instant, and the first after `to`.
    pub start: Timestamp,
    pub end: Timestamp,
}

fn start_of(date: Date, tz: &TimeZone) -> Option<i64> {
    Some(
        date.to_zoned(tz.clone())
            .ok()?
            .start_of_day()
            .ok()?
            .timestamp()
            .as_microsecond(),
    )
}

impl ReportRange {
    /// `from` and `to` as `YYYY-MM-DD` (`to` defaults to `from`; `from` to
    /// today in the shop's zone), at most [`REPORT_DAYS_MAX`] days.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        time_zone: &str,
        now: Timestamp,
    ) -> Result<ReportRange, Invalid> {
        let tz = TimeZone::get(time_zone)
            .map_err(|_| Invalid::one("time_zone", "the shop's time zone is unknown"))?;
        let today = jiff::Timestamp::from_microsecond(now.micros())
            .map_err(|_| Invalid::one("from", "the clock is out of range"))?
            .to_zoned(tz.clone())
            .date();
        let mut errors = vec![];
        let mut day = |field: &str, text: Option<&str>| match text {
            None => None,
            Some(t) => match t.parse::<Date>() {
                Ok(d) if t.len() == 10 => Some(d),
                _ => {
                    errors.push(FieldError::new(field, "must be a date, YYYY-MM-DD"));
                    None
                }
            },
        };
        let from_given = day("from", from);
        let to_given = day("to", to);
        let from = from_given.unwrap_or(today);
        let to = to_given.unwrap_or(from);
        if errors.is_empty() {
            let days = (to - from).get_days() as i64 + 1;
            if days < 1 {
                errors.push(FieldError::new("to", "must not be before `from`"));
            } else if days > REPORT_DAYS_MAX {
                errors.push(FieldError::new(
                    "to",
                    format!("a report covers at most {REPORT_DAYS_MAX} days"),
                ));
            }
        }
        let bounds = to
            .tomorrow()
            .ok()
            .and_then(|next| Some((start_of(from, &tz)?, start_of(next, &tz)?)));
        match bounds {
            Some((start, end)) if errors.is_empty() => Ok(ReportRange {
                from,
                to,
                tz,
                time_zone: time_zone.to_owned(),
                start: Timestamp(start),
                end: Timestamp(end),
            }),
            None if errors.is_empty() => Err(Invalid::one("to", "is out of range")),
            _ => Err(Invalid(errors)),
        }
    }

    /// The local hour of the day `at` falls in.
    fn hour(&self, at: Timestamp) -> i8 {
        jiff::Timestamp::from_microsecond(at.micros())
            .map(|t| t.to_zoned(self.tz.clone()).hour())
            .unwrap_or(0)
    }
}

/// One order as a report reads it.
#[derive(Debug, Clone)]
pub struct ReportOrder {
    pub status: Status,
    pub total_cents: i64,
    pub lines: Vec<OrderLine>,
    pub created_at: Timestamp,
    /// When it was first marked ready, if it was.
    pub ready_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub orders: i64,
    pub total_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusTally {
    pub status: Status,
    pub orders: i64,
    pub total_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemTally {
    pub item_id: String,
    pub name: String,
    /// Orders with the item in at least one line.
    pub orders: i64,
    pub quantity: i64,
    pub revenue_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourTally {
    /// Local hour of the day, 0 to 23 (summed over every day of a range).
    pub hour: i8,
    pub orders: i64,
    pub revenue_cents: i64,
}

/// The takings of a range of local days.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub currency: String,
    /// Every order placed in the range, cancelled ones included.
    pub orders: i64,
    /// What the orders not cancelled came to.
    pub revenue_cents: i64,
    pub cancelled: Tally,
    pub by_status: Vec<StatusTally>,
    /// Not cancelled, most revenue first.
    pub by_item: Vec<ItemTally>,
    /// Not cancelled, by the local hour they were placed in.
    pub by_hour: Vec<HourTally>,
    /// Median seconds from placed to first marked ready, over the orders that were.
    pub median_ready_seconds: Option<f64>,
    /// How many orders that median is over.
    pub ready_orders: i64,
}

/// A report counted one order at a time, so the store can fold each row in as
/// it reads it and never hold a range's orders (a month of a busy shop's
/// 85,000) at once.
#[derive(Debug)]
pub struct ReportBuilder {
    range: ReportRange,
    orders: i64,
    revenue: i64,
    by_status: BTreeMap<&'static str, (Status, Tally)>,
    items: BTreeMap<String, ItemTally>,
    hours: BTreeMap<i8, HourTally>,
    waits: Vec<i64>,
}

impl ReportBuilder {
    pub fn new(range: ReportRange) -> ReportBuilder {
        ReportBuilder {
            range,
            orders: 0,
            revenue: 0,
            by_status: BTreeMap::new(),
            items: BTreeMap::new(),
            hours: BTreeMap::new(),
            waits: vec![],
        }
    }

    /// Counts one order of the range.
    pub fn add(&mut self, o: &ReportOrder) {
        self.orders += 1;
        let s = &mut self
            .by_status
            .entry(o.status.as_str())
            .or_insert((o.status, Tally::default()))
            .1;
        s.orders += 1;
        s.total_cents += o.total_cents;
        if let Some(ready) = o.ready_at {
            self.waits.push(ready.micros() - o.created_at.micros());
        }
        if o.status == Status::Cancelled {
            return;
        }
        self.revenue += o.total_cents;
        let hour = self.range.hour(o.created_at);
        let h = self.hours.entry(hour).or_insert(HourTally {
            hour,
            orders: 0,
            revenue_cents: 0,
        });
        h.orders += 1;
        h.revenue_cents += o.total_cents;
        let mut seen: Vec<&str> = vec![];
        for line in &o.lines {
            let item = match self.items.get_mut(&line.item_id) {
                Some(item) => item,
                None => self
                    .items
                    .entry(line.item_id.clone())
                    .or_insert_with(|| ItemTally {
                        item_id: line.item_id.clone(),
                        name: line.name.clone(),
                        orders: 0,
                        quantity: 0,
                        revenue_cents: 0,
                    }),
            };
            if !seen.contains(&line.item_id.as_str()) {
                seen.push(&line.item_id);
                item.orders += 1;
            }
            item.quantity += line.quantity;
            item.revenue_cents += line.line_total_cents;
        }
    }

    /// The report of every order added.
    pub fn finish(self, currency: &str) -> Report {
        let ReportBuilder {
            range,
            orders,
            revenue,
            by_status,
            items,
            hours,
            mut waits,
        } = self;
        let mut by_item: Vec<ItemTally> = items.into_values().collect();
        by_item.sort_by(|a, b| {
            (b.revenue_cents, b.quantity)
                .cmp(&(a.revenue_cents, a.quantity))
                .then_with(|| a.item_id.cmp(&b.item_id))
        });
        let ready_orders = waits.len() as i64;
        let cancelled = by_status
            .get(Status::Cancelled.as_str())
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        Report {
            from: range.from.to_string(),
            to: range.to.to_string(),
            time_zone: range.time_zone.clone(),
            currency: currency.to_owned(),
            orders,
            revenue_cents: revenue,
            cancelled,
            by_status: by_status
                .into_values()
                .map(|(status, t)| StatusTally {
                    status,
                    orders: t.orders,
                    total_cents: t.total_cents,
                })
                .collect(),
            by_item,
            by_hour: hours.into_values().collect(),
            median_ready_seconds: median(&mut waits).map(|m| m / 1e6),
            ready_orders,
        }
    }
}

impl Report {
    /// The report over `orders` (every order of the range), all at once.
    pub fn build(range: &ReportRange, currency: &str, orders: &[ReportOrder]) -> Report {
        let mut builder = ReportBuilder::new(range.clone());
        for order in orders {
            builder.add(order);
        }
        builder.finish(currency)
    }

    /// The report as one CSV table a spreadsheet opens: `section,key,name,
    /// orders,quantity,amount_cents`, a row per figure.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("section,key,name,orders,quantity,amount_cents\n");
        let mut row = |section: &str, key: &str, name: &str, orders: i64, qty: String, cents| {
            out.push_str(&format!(
                "{section},{},{},{orders},{qty},{cents}\n",
                csv_field(key),
                csv_field(name)
            ));
        };
        let range = format!("{} to {} ({})", self.from, self.to, self.time_zone);
        row(
            "total",
            &self.currency,
            &range,
            self.orders,
            String::new(),
            self.revenue_cents,
        );
        row(
            "cancelled",
            "cancelled",
            "",
            self.cancelled.orders,
            String::new(),
            self.cancelled.total_cents,
        );
        for s in &self.by_status {
            row(
                "status",
                s.status.as_str(),
                "",
                s.orders,
                String::new(),
                s.total_cents,
            );
        }
        for i in &self.by_item {
            row(
                "item",
                &i.item_id,
                &i.name,
                i.orders,
                i.quantity.to_string(),
                i.revenue_cents,
            );
        }
        for h in &self.by_hour {
            row(
                "hour",
                &format!("{:02}:00", h.hour),
                "",
                h.orders,
                String::new(),
                h.revenue_cents,
            );
        }
        let median = self
            .median_ready_seconds
            .map_or(String::new(), |m| format!("{m:.1}"));
        out.push_str(&format!(
            "median_ready_seconds,{median},,{},,\n",
            self.ready_orders
        ));
        out
    }
}

/// A CSV field, quoted when it must be (RFC 4180), and never read as a formula
/// by a spreadsheet (a leading `=`, `+`, `-` or `@` gets a `'`).
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(item: &str, quantity: i64, cents: i64) -> OrderLine {
        OrderLine {
            item_id: item.into(),
            name: item.to_uppercase(),
            quantity,
            unit_price_cents: cents,
            line_total_cents: quantity * cents,
            variation: None,
            modifiers: vec![],
        }
    }

    fn at(range: &ReportRange, minutes: i64) -> Timestamp {
        Timestamp(range.start.micros() + minutes * 60_000_000)
    }

    #[test]
    fn a_day_is_the_shops_local_day_even_across_a_clock_change() {
        let now = Timestamp(0);
        let r = ReportRange::parse(Some("2026-03-29"), None, "Europe/Lisbon", now).unwrap();
        // Lisbon springs forward on 29 March 2026: that day has 23 hours.
        assert_eq!(r.end.micros() - r.start.micros(), 23 * 3_600_000_000);
        let utc = ReportRange::parse(Some("2026-03-29"), Some("2026-03-30"), "UTC", now).unwrap();
        assert_eq!(utc.end.micros() - utc.start.micros(), 48 * 3_600_000_000);
    }

    #[test]
    fn bad_ranges_are_refused_with_the_field_named() {
        let now = Timestamp(0);
        let fields = |from, to| {
            ReportRange::parse(from, to, "UTC", now)
                .unwrap_err()
                .0
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(Some("2026-13-01"), None), ["from"]);
        assert_eq!(fields(Some("2026-1-01"), None), ["from"]);
        assert_eq!(fields(Some("2026-01-02"), Some("2026-01-01")), ["to"]);
        assert_eq!(fields(Some("2026-01-01"), Some("2026-03-01")), ["to"]);
        assert!(ReportRange::parse(Some("2026-01-01"), Some("2026-01-31"), "UTC", now).is_ok());
        assert!(ReportRange::parse(None, None, "UTC", now).is_ok(), "today");
    }

    #[test]
    fn the_takings_add_up_and_cancellations_are_apart() {
        let r = ReportRange::parse(Some("2026-12-04"), None, "UTC", Timestamp(0)).unwrap();
        let orders = vec![
            ReportOrder {
                status: Status::Collected,
                total_cents: 700,
                lines: vec![line("latte", 2, 300), line("cookie", 1, 100)],
                created_at: at(&r, 8 * 60),
                ready_at: Some(at(&r, 8 * 60 + 2)),
            },
            ReportOrder {
                status: Status::Ready,
                total_cents: 300,
                lines: vec![line("latte", 1, 300)],
                created_at: at(&r, 8 * 60 + 30),
                ready_at: Some(at(&r, 8 * 60 + 34)),
            },
            ReportOrder {
                status: Status::Cancelled,
                total_cents: 900,
                lines: vec![line("latte", 3, 300)],
                created_at: at(&r, 9 * 60),
                ready_at: None,
            },
            ReportOrder {
                status: Status::Placed,
                total_cents: 100,
                lines: vec![line("cookie", 1, 100)],
                created_at: at(&r, 14 * 60),
                ready_at: None,
            },
        ];
        let report = Report::build(&r, "EUR", &orders);
        assert_eq!(report.orders, 4);
        assert_eq!(report.revenue_cents, 1100);
        assert_eq!(
            report.cancelled,
            Tally {
                orders: 1,
                total_cents: 900
            }
        );
        assert_eq!(report.by_item[0].item_id, "latte");
        assert_eq!(
            (report.by_item[0].quantity, report.by_item[0].revenue_cents),
            (3, 900)
        );
        assert_eq!(report.by_item[1].orders, 2);
        let hours: Vec<_> = report.by_hour.iter().map(|h| (h.hour, h.orders)).collect();
        assert_eq!(hours, [(8, 2), (14, 1)]);
        assert_eq!(report.median_ready_seconds, Some(180.0));
        assert_eq!(report.by_status.iter().map(|s| s.orders).sum::<i64>(), 4);
        let csv = report.to_csv();
        assert!(csv.starts_with("section,key,name,orders,quantity,amount_cents\ntotal,EUR,"));
        assert!(csv.contains("\nitem,latte,LATTE,2,3,900\n"), "{csv}");
        assert!(csv.contains("\nmedian_ready_seconds,180.0,,2,,\n"), "{csv}");
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("Flat white, large"), "\"Flat white, large\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("plain"), "plain");
    }
}
