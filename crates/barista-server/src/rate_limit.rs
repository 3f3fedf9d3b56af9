//! A per-shop request budget (token bucket), so one busy tenant cannot starve
//! the others on a replica. The budget is per replica, and customers and
//! staff each have their own: anonymous traffic cannot hold a shop's baristas
//! at 429. A request is charged only once it is authenticated (`access.rs`).
//!
//! Answers carry the budget as the IETF draft "RateLimit header fields for
//! HTTP" describes: `RateLimit-Policy: "customer";q=100;w=1` (the quota per
//! window, in seconds) and `RateLimit: "customer";r=42;t=1` (what is left, and
//! the seconds until the bucket is full again).

use axum::http::{HeaderMap, HeaderValue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Whose budget a request is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    Customer,
    Staff,
}

impl Budget {
    fn name(self) -> &'static str {
        match self {
            Budget::Customer => "customer",
            Budget::Staff => "staff",
        }
    }
}

/// Where a request stands in its budget after being charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub budget: Budget,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u32,
}

impl Quota {
    /// Writes the `RateLimit-Policy` and `RateLimit` fields.
    pub fn write(&self, headers: &mut HeaderMap) {
        let name = self.budget.name();
        let policy = format!("\"{name}\";q={};w=1", self.limit);
        let state = format!("\"{name}\";r={};t={}", self.remaining, self.reset);
        if let (Ok(p), Ok(s)) = (
            HeaderValue::from_str(&policy),
            HeaderValue::from_str(&state),
        ) {
            headers.insert("ratelimit-policy", p);
            headers.insert("ratelimit", s);
        }
    }
}

/// Set by the charge, read when the response goes out (one per request).
pub type QuotaSlot = Arc<Mutex<Option<Quota>>>;

pub struct ShopRateLimit {
    per_second: f64,
    /// A `std` mutex: held for a few arithmetic operations only.
    buckets: Mutex<HashMap<(i64, Budget), (f64, Instant)>>,
}

impl ShopRateLimit {
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token of the shop's `budget`; `Err` (with `retry_after`
    /// seconds until one is free) when there is none.
    pub fn check(&self, shop_id: i64, budget: Budget) -> Result<Quota, (Quota, u32)> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets
            .entry((shop_id, budget))
            .or_insert((self.per_second, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        *last = now;
        let taken = *tokens >= 1.0;
        if taken {
            *tokens -= 1.0;
        }
        let quota = Quota {
            budget,
            limit: self.per_second as u32,
            remaining: tokens.floor() as u32,
            reset: ((self.per_second - *tokens) / self.per_second).ceil() as u32,
        };
        if taken {
            Ok(quota)
        } else {
            Err((
                quota,
                ((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u32,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_budget_is_refused_per_shop_and_per_budget() {
        let limit = ShopRateLimit::new(3);
        let remaining: Vec<u32> = (0..3)
            .map(|_| limit.check(1, Budget::Customer).unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let (quota, wait) = limit.check(1, Budget::Customer).unwrap_err();
        assert_eq!((quota.remaining, wait), (0, 1));
        assert!(
            limit.check(1, Budget::Staff).is_ok(),
            "staff have their own budget"
        );
        assert!(
            limit.check(2, Budget::Customer).is_ok(),
            "another shop has its own budget"
        );
    }

    #[test]
    fn the_headers_follow_the_draft() {
        let mut headers = HeaderMap::new();
        Quota {
            budget: Budget::Staff,
            limit: 100,
            remaining: 42,
            reset: 1,
        }
        .write(&mut headers);
        assert_eq!(headers["ratelimit-policy"], "\"staff\";q=100;w=1");
        assert_eq!(headers["ratelimit"], "\"staff\";r=42;t=1");
    }
}
