//! `saas`: the seed's SaaS at size. `--shops N` tenants (created through the
//! admin API), `--customers M` virtual users per shop, and a barista per shop.
//!
//! A customer reads the menu (conditionally, with the ETag it last got),
//! thinks, and now and then orders (an `Idempotency-Key`, resent with the
//! same key after a connection error); then it follows its order's event
//! stream until the order is collected, timing "ready" as it sees it there,
//! and thinks again. While it follows a stream it holds no other connection,
//! so a customer never holds more than one file descriptor. A barista per
//! shop works as the board page does: it follows the shop's event stream and
//! claims the oldest order when one is placed (not on a timer), marks it ready
//! after `--barista-pace`, and hands it over after another; a refused (503)
//! "ready" or "collected" is pressed again after another pace.
//!
//! Traffic per shop may be skewed as real tenants are (`--skew S`): shop `i`
//! (from 1) orders in proportion to `1 / i^S`, the average kept, so a few
//! shops are busy and a long tail is quiet.

mod barista;
mod customer;
mod report;
mod setup;
mod shared;

pub use report::{KindReport, SaasReport, ShopReport};

use crate::error::SetupError;
use crate::http::Url;
use crate::stats::percentile_ms;
use crate::tls::Tls;
use report::kind_report;
use shared::Shared;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct SaasPlan {
    pub base: Url,
    pub shops: usize,
    pub customers: usize,
    /// Shops are `{prefix}-001`, `{prefix}-002`, ...
    pub prefix: String,
    pub admin_token: Option<String>,
    pub duration: Duration,
    /// A customer's mean pause between visits (exponential, capped at 4x).
    pub think: Duration,
    /// The share of visits that order, on average over the shops.
    pub order_share: f64,
    /// Zipf exponent of each shop's share of the orders (0: even).
    pub skew: f64,
    /// A barista's pause between claiming and "ready", and "ready" and "collected".
    pub barista_pace: Duration,
    pub timeout: Duration,
    pub progress: bool,
}

/// The kinds of request, as the report names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Menu,
    Menu304,
    Order,
    StreamOpen,
    Claim,
    Ready,
    Collect,
    /// The barista's board: the shop's event stream, timed to its response head.
    Board,
}

impl Kind {
    pub(super) const ALL: [Kind; 8] = [
        Kind::Menu,
        Kind::Menu304,
        Kind::Order,
        Kind::StreamOpen,
        Kind::Claim,
        Kind::Ready,
        Kind::Collect,
        Kind::Board,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Menu => "menu",
            Kind::Menu304 => "menu_304",
            Kind::Order => "order",
            Kind::StreamOpen => "stream_open",
            Kind::Claim => "claim",
            Kind::Ready => "ready",
            Kind::Collect => "collect",
            Kind::Board => "board",
        }
    }
}

/// How long customers wait for the boards to open before they start anyway.
pub(super) const OPENING: Duration = Duration::from_secs(10);

pub(super) fn slug(prefix: &str, i: usize) -> String {
    format!("{prefix}-{:03}", i + 1)
}

/// Each shop's share of the orders: `1 / i^skew`, scaled so the mean is 1.
pub fn shop_weights(shops: usize, skew: f64) -> Vec<f64> {
    let raw: Vec<f64> = (1..=shops).map(|i| (i as f64).powf(-skew)).collect();
    let mean = raw.iter().sum::<f64>() / shops.max(1) as f64;
    raw.iter().map(|w| w / mean).collect()
}

/// Creates the tenants, runs every customer and barista, and reports.
pub async fn run(plan: SaasPlan) -> Result<SaasReport, SetupError> {
    let endpoint = plan.base.endpoint(&Tls::default()).await?;
    let keys = setup::tenants(&plan, &endpoint).await?;
    let shared = Arc::new(Shared::new(plan.clone(), endpoint));
    let weights = shop_weights(plan.shops, plan.skew);
    let mut tasks = tokio::task::JoinSet::new();
    for (shop, key) in keys.into_iter().enumerate() {
        tasks.spawn(barista::barista(shared.clone(), shop, key));
    }
    // The shops open before their customers come: every board is up (or
    // has had OPENING to come up) before the first customer starts.
    let opening = tokio::time::sleep(OPENING);
    tokio::pin!(opening);
    while shared.boards_open.load(Ordering::Relaxed) < plan.shops {
        tokio::select! {
            () = shared.board_opened.notified() => {}
            () = &mut opening => break,
        }
    }
    shared.customers_came.store(true, Ordering::Relaxed);
    for (shop, weight) in weights.iter().enumerate() {
        let share = (plan.order_share * weight).min(1.0);
        for id in 0..plan.customers {
            tasks.spawn(customer::customer(shared.clone(), shop, id, share));
        }
    }
    let progress = plan.progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            joined = tasks.join_next() => if joined.is_none() { break },
            _ = tick.tick(), if progress => {
                eprint!(
                    "\r\x1b[2K{:>5.0}s  {} orders placed, {} ready seen, {} streams open",
                    shared.start.elapsed().as_secs_f64(),
                    shared.placed.load(Ordering::Relaxed),
                    shared.ready_seen.load(Ordering::Relaxed),
                    shared.open_streams.load(Ordering::Relaxed),
                );
            }
        }
    }
    if progress {
        eprintln!();
    }
    let elapsed = shared.start.elapsed().as_secs_f64();
    let mut by_kind = BTreeMap::new();
    let mut errors = 0;
    for (kind, tally) in Kind::ALL.iter().zip(&shared.kinds) {
        let k = tally.lock().unwrap_or_else(|p| p.into_inner());
        errors += k.errors.values().sum::<u64>();
        by_kind.insert(
            kind.name().to_owned(),
            kind_report(&k.latency, k.errors.clone()),
        );
    }
    let mut worst: Vec<ShopReport> = shared
        .shops
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            ShopReport {
                shop: slug(&plan.prefix, i),
                ready_orders: s.ready.as_ref().map_or(0, |h| h.len()),
                order_to_ready_p99_ms: s.ready.as_ref().map_or(0.0, |h| percentile_ms(h, 99.0)),
                errors: s.errors,
            }
        })
        .collect();
    worst.sort_by(|a, b| {
        (b.errors, b.order_to_ready_p99_ms)
            .partial_cmp(&(a.errors, a.order_to_ready_p99_ms))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    worst.truncate(5);
    let placed = shared.placed.load(Ordering::Relaxed);
    let ready = shared
        .order_to_ready
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    Ok(SaasReport {
        target: format!("{}://{}", plan.base.scheme(), plan.base.authority),
        shops: plan.shops,
        customers_per_shop: plan.customers,
        virtual_users: plan.shops * plan.customers,
        duration_s: elapsed,
        think_s: plan.think.as_secs_f64(),
        order_share: plan.order_share,
        skew: plan.skew,
        by_kind,
        errors,
        orders_placed: placed,
        orders_per_s: placed as f64 / elapsed.max(1e-9),
        orders_ready_seen: shared.ready_seen.load(Ordering::Relaxed),
        orders_collected_seen: shared.collected_seen.load(Ordering::Relaxed),
        order_to_ready_ms: kind_report(&ready, BTreeMap::new()),
        worst_shops: worst,
        peak_open_streams: shared.peak_streams.load(Ordering::Relaxed),
        generator_rss_mb: barista_sys::Process::This.resident_bytes().unwrap_or(0.0) / 1e6,
    })
}

#[cfg(test)]
mod tests {
    use super::customer::{status_of, think};
    use super::*;
    use crate::workload::Rng;
    use std::sync::Mutex;

    #[test]
    fn skewed_shops_keep_the_average_and_favour_the_first() {
        let even = shop_weights(4, 0.0);
        assert_eq!(even, [1.0; 4]);
        let skewed = shop_weights(100, 1.0);
        let mean = skewed.iter().sum::<f64>() / 100.0;
        assert!((mean - 1.0).abs() < 1e-9);
        assert!(skewed[0] > 10.0 * skewed[99] && skewed[0] > skewed[1]);
    }

    #[test]
    fn think_times_average_their_mean_and_stay_bounded() {
        let mut rng = Rng::new(3);
        let mean = Duration::from_secs(1);
        let n = 20_000;
        let total: f64 = (0..n).map(|_| think(&mut rng, mean).as_secs_f64()).sum();
        let avg = total / n as f64;
        assert!((0.9..1.05).contains(&avg), "{avg}");
        assert!((0..1000).all(|_| think(&mut rng, mean) <= mean * 4));
    }

    /// A shop whose replica refuses the first "ready" (503 `overloaded`, as
    /// a shedding replica does): its board shows one order, then claims give
    /// that order once; "collected" before "ready" is a 409. What it answered
    /// is kept in `said`, a line a request.
    fn shedding_shop(said: Arc<Mutex<Vec<String>>>) -> axum::Router {
        use axum::routing::{get, post};
        let answer = move |step: String| {
            let mut said = said.lock().unwrap();
            let before = said.iter().filter(|s| s.starts_with(&step)).count();
            let (status, body) = match (step.as_str(), before) {
                ("claim", 0) => (200, r#"{"id":"o1","status":"brewing"}"#),
                ("claim", _) => (204, ""),
                ("ready", 0) => (503, r#"{"code":"overloaded"}"#),
                ("ready", _) => (200, r#"{"id":"o1","status":"ready"}"#),
                ("collected", _) if said.contains(&"ready 200".to_owned()) => {
                    (200, r#"{"id":"o1","status":"collected"}"#)
                }
                _ => (409, r#"{"code":"invalid_transition"}"#),
            };
            said.push(format!("{step} {status}"));
            (axum::http::StatusCode::from_u16(status).unwrap(), body)
        };
        let claim = answer.clone();
        axum::Router::new()
            .route(
                "/v1/shops/{shop}/events",
                get(|| async {
                    (
                        [("content-type", "text/event-stream")],
                        "id: 1\nevent: order\ndata: {\"id\":\"o1\",\"status\":\"placed\"}\n\n",
                    )
                }),
            )
            .route(
                "/v1/shops/{shop}/queue/claim",
                post(move || async move { claim("claim".into()) }),
            )
            .route(
                "/v1/shops/{shop}/orders/{id}/status",
                post(move |body: String| async move { answer(status_of(&body).into()) }),
            )
    }

    #[tokio::test]
    async fn a_refused_ready_is_pressed_again_before_the_order_is_handed_over() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let said = Arc::new(Mutex::new(vec![]));
        let shop = shedding_shop(said.clone());
        tokio::spawn(async move {
            barista_http::serve::<_, axum::body::Body, _>(
                listener,
                shop,
                barista_http::Config::new(Default::default()),
                barista_http::Stop::on(std::future::pending()),
            )
            .await
            .unwrap()
        });
        let plan = SaasPlan {
            base: base.clone(),
            shops: 1,
            customers: 0,
            prefix: "t".into(),
            admin_token: None,
            duration: Duration::from_millis(800),
            think: Duration::from_millis(100),
            order_share: 0.0,
            skew: 0.0,
            barista_pace: Duration::from_millis(20),
            timeout: Duration::from_secs(2),
            progress: false,
        };
        let endpoint = base.endpoint(&Tls::default()).await.unwrap();
        let shared = Arc::new(Shared::new(plan, endpoint));
        barista::barista(shared.clone(), 0, "bsk_test".into()).await;
        let said = said.lock().unwrap().clone();
        assert_eq!(
            said[..4],
            ["claim 200", "ready 503", "ready 200", "collected 200"],
            "{said:?}"
        );
        let errors = |kind: Kind| shared.kinds[kind as usize].lock().unwrap().errors.clone();
        assert_eq!(
            errors(Kind::Ready).into_iter().collect::<Vec<_>>(),
            [("http_503_overloaded".to_owned(), 1)]
        );
        assert!(
            errors(Kind::Collect).is_empty(),
            "{:?}",
            errors(Kind::Collect)
        );
    }
}
