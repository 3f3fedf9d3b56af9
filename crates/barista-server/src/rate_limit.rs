//! A per-shop request budget (token bucket), so one busy tenant cannot starve
//! the others on a replica. The budget is per replica.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct ShopRateLimit {
    per_second: f64,
    /// A `std` mutex: held for a few arithmetic operations only.
    buckets: Mutex<HashMap<i64, (f64, Instant)>>,
}

impl ShopRateLimit {
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token; `Err(seconds)` says how long until one is free.
    pub fn check(&self, shop_id: i64) -> Result<(), u32> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(shop_id).or_insert((self.per_second, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_budget_is_refused_per_shop() {
        let limit = ShopRateLimit::new(3);
        assert!((0..3).all(|_| limit.check(1).is_ok()));
        assert_eq!(limit.check(1), Err(1));
        assert!(limit.check(2).is_ok(), "another shop has its own budget");
    }
}
