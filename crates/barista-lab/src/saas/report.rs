//! The run's report: latency and errors per kind of request, orders, the
//! time from an order to its "ready" as customers saw it, the worst shops.

use crate::stats::percentile_ms;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShopReport {
    pub shop: String,
    pub ready_orders: u64,
    pub order_to_ready_p99_ms: f64,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SaasReport {
    pub target: String,
    pub shops: usize,
    pub customers_per_shop: usize,
    pub virtual_users: usize,
    pub duration_s: f64,
    pub think_s: f64,
    pub order_share: f64,
    pub skew: f64,
    pub by_kind: BTreeMap<String, KindReport>,
    pub errors: u64,
    pub orders_placed: u64,
    pub orders_per_s: f64,
    /// Orders whose "ready" a customer saw on its stream, and how long after
    /// it sent the order.
    pub orders_ready_seen: u64,
    pub orders_collected_seen: u64,
    pub order_to_ready_ms: KindReport,
    /// The five shops whose customers waited longest for "ready" (p99).
    pub worst_shops: Vec<ShopReport>,
    pub peak_open_streams: usize,
    /// The generator's resident memory at the end, and per thousand users.
    pub generator_rss_mb: f64,
}

pub(super) fn kind_report(h: &Histogram<u64>, errors: BTreeMap<String, u64>) -> KindReport {
    KindReport {
        requests: h.len()
            + errors
                .iter()
                .filter(|(k, _)| !k.starts_with("http_"))
                .map(|(_, n)| n)
                .sum::<u64>(),
        errors,
        p50_ms: percentile_ms(h, 50.0),
        p99_ms: percentile_ms(h, 99.0),
        max_ms: percentile_ms(h, 100.0),
    }
}

impl SaasReport {
    /// The table printed at the end.
    pub fn table(&self) -> String {
        let ms = crate::duration::fmt_ms;
        let mut out = format!(
            "target    saas {} — {} shops × {} customers ({} virtual users), think {:.1}s, {:.0}% of visits order, skew {}\n",
            self.target,
            self.shops,
            self.customers_per_shop,
            self.virtual_users,
            self.think_s,
            100.0 * self.order_share,
            self.skew
        );
        out += &format!(
            "run       {:.1}s, {} errors\n\n{:<12} {:>9} {:>7} {:>9} {:>9} {:>9}\n",
            self.duration_s, self.errors, "kind", "requests", "errors", "p50", "p99", "max"
        );
        for name in super::Kind::ALL.map(super::Kind::name) {
            let k = &self.by_kind[name];
            out += &format!(
                "{:<12} {:>9} {:>7} {:>9} {:>9} {:>9}\n",
                name,
                k.requests,
                k.errors.values().sum::<u64>(),
                ms(k.p50_ms),
                ms(k.p99_ms),
                ms(k.max_ms)
            );
        }
        let r = &self.order_to_ready_ms;
        out += &format!(
            "\norders    {} placed ({:.1}/s); {} seen ready on their streams, {} collected\norder to ready, as customers saw it: p50 {}, p99 {}, max {}\n",
            self.orders_placed,
            self.orders_per_s,
            self.orders_ready_seen,
            self.orders_collected_seen,
            ms(r.p50_ms),
            ms(r.p99_ms),
            ms(r.max_ms)
        );
        out += "worst shops (errors, then order-to-ready p99):";
        for s in &self.worst_shops {
            out += &format!(
                " {} {} ({} orders, {} errors);",
                s.shop,
                ms(s.order_to_ready_p99_ms),
                s.ready_orders,
                s.errors
            );
        }
        out += &format!(
            "\ngenerator {} streams open at most; {:.0} MB resident ({:.0} virtual users per GB)\n",
            self.peak_open_streams,
            self.generator_rss_mb,
            self.virtual_users as f64 / (self.generator_rss_mb / 1000.0).max(1e-9)
        );
        out
    }
}
