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

use crate::http::{Conn, Endpoint, Failure, Keep, Reply, Url, request_bytes};
use crate::stats::{histogram, percentile_ms};
use crate::tls::Tls;
use crate::workload::Rng;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
const KINDS: [&str; 8] = [
    "menu",
    "menu_304",
    "order",
    "stream_open",
    "claim",
    "ready",
    "collect",
    "board",
];
const MENU: usize = 0;
const MENU_304: usize = 1;
const ORDER: usize = 2;
const STREAM: usize = 3;
const CLAIM: usize = 4;
const READY: usize = 5;
const COLLECT: usize = 6;
/// The barista's board: the shop's event stream, timed to its response head.
const BOARD: usize = 7;
/// How long customers wait for the boards to open before they start anyway.
const OPENING: Duration = Duration::from_secs(10);

struct Kind {
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

/// One shop's customers' view of their orders.
#[derive(Default)]
struct ShopTally {
    ready: Option<Histogram<u64>>,
    errors: u64,
}

struct Shared {
    plan: SaasPlan,
    endpoint: Endpoint,
    kinds: Vec<Mutex<Kind>>,
    shops: Vec<Mutex<ShopTally>>,
    order_to_ready: Mutex<Histogram<u64>>,
    placed: AtomicU64,
    ready_seen: AtomicU64,
    collected_seen: AtomicU64,
    open_streams: AtomicUsize,
    peak_streams: AtomicUsize,
    /// Boards opened for the first time, and a wake-up for each.
    boards_open: AtomicUsize,
    board_opened: tokio::sync::Notify,
    customers_came: std::sync::atomic::AtomicBool,
    start: Instant,
    end: Instant,
    run: u64,
}

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

fn micros(d: Duration) -> u64 {
    d.as_micros().clamp(1, 60_000_000) as u64
}

impl Shared {
    /// Nothing counted yet; the run ends `plan.duration` from now.
    fn new(plan: SaasPlan, endpoint: Endpoint) -> Shared {
        let start = Instant::now();
        Shared {
            endpoint,
            kinds: KINDS
                .iter()
                .map(|_| {
                    Mutex::new(Kind {
                        latency: histogram(),
                        errors: BTreeMap::new(),
                    })
                })
                .collect(),
            shops: (0..plan.shops).map(|_| Mutex::default()).collect(),
            order_to_ready: Mutex::new(histogram()),
            placed: AtomicU64::new(0),
            ready_seen: AtomicU64::new(0),
            collected_seen: AtomicU64::new(0),
            open_streams: AtomicUsize::new(0),
            peak_streams: AtomicUsize::new(0),
            boards_open: AtomicUsize::new(0),
            board_opened: tokio::sync::Notify::new(),
            customers_came: std::sync::atomic::AtomicBool::new(false),
            start,
            end: start + plan.duration,
            run: Rng::new(0).next_u64(),
            plan,
        }
    }

    fn record(&self, kind: usize, took: Duration) {
        let mut k = self.kinds[kind].lock().unwrap_or_else(|p| p.into_inner());
        let _ = k.latency.record(micros(took));
    }

    fn error(&self, kind: usize, shop: Option<usize>, what: String) {
        let mut k = self.kinds[kind].lock().unwrap_or_else(|p| p.into_inner());
        *k.errors.entry(what).or_default() += 1;
        if let Some(s) = shop {
            self.shops[s]
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .errors += 1;
        }
    }

    fn over(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Sleeps `d`, or less if the run ends first; false when it has ended.
    async fn pause(&self, d: Duration) -> bool {
        let until = (Instant::now() + d).min(self.end);
        tokio::time::sleep_until(until.into()).await;
        !self.over()
    }

    /// One request on `conn` (opened if needed), timed and counted under `kind`.
    async fn send(
        &self,
        conn: &mut Option<Conn>,
        kind: usize,
        shop: usize,
        bytes: &[u8],
        keep: Keep,
    ) -> Result<Reply, Failure> {
        let began = Instant::now();
        let attempt = Conn::send_on(conn, &self.endpoint, bytes, keep);
        let result = match tokio::time::timeout(self.plan.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        };
        match &result {
            Ok(reply) => {
                self.record(kind, began.elapsed());
                if reply.status >= 400 {
                    self.error(kind, Some(shop), error_name(reply));
                }
            }
            Err(f) => {
                *conn = None;
                self.error(kind, Some(shop), f.name().to_owned());
            }
        }
        result
    }
}

fn slug(prefix: &str, i: usize) -> String {
    format!("{prefix}-{:03}", i + 1)
}

/// The demo shop's menu, smaller: what every tenant sells.
const ITEMS: [(&str, &str, &str, u32); 4] = [
    ("espresso", "Espresso", "coffee", 250),
    ("flat-white", "Flat white", "coffee", 380),
    ("tea", "Tea", "tea", 300),
    ("croissant", "Croissant", "pastry", 290),
];

/// One JSON request of the set-up, its whole answer.
async fn ask(
    conn: &mut Conn,
    base: &Url,
    method: &str,
    path: String,
    token: &str,
    body: String,
) -> Result<Reply, String> {
    let url = base.with_path(&path);
    let headers = [
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Authorization".to_owned(), format!("Bearer {token}")),
    ];
    let bytes = request_bytes(method, &url, &headers, body.as_bytes());
    let keep = Keep {
        etag: false,
        body: true,
    };
    conn.send(&bytes, keep)
        .await
        .map_err(|f| format!("{method} {path} failed ({})", f.name()))
}

/// Creates the shops that are missing, with their menus; their staff keys.
async fn tenants(plan: &SaasPlan, endpoint: &Endpoint) -> Result<Vec<String>, String> {
    let mut conn = Conn::open(endpoint).await?;
    let base = &plan.base;
    let mut keys = Vec::with_capacity(plan.shops);
    for i in 0..plan.shops {
        let slug = slug(&plan.prefix, i);
        let token = plan
            .admin_token
            .as_deref()
            .ok_or("the saas scenario creates its shops: give --admin-token (the server's)")?;
        let created = ask(
            &mut conn,
            base,
            "POST",
            "/v1/shops".into(),
            token,
            format!(
                r#"{{"slug":"{slug}","name":"Shop {}","currency":"EUR"}}"#,
                i + 1
            ),
        )
        .await?;
        let key = match created.status {
            201 => serde_json::from_slice::<serde_json::Value>(&created.body)
                .ok()
                .and_then(|v| v["staff_key"].as_str().map(str::to_owned))
                .ok_or("POST /v1/shops answered 201 without a staff key")?,
            409 => {
                return Err(format!(
                    "shop {slug} exists already and its staff key was shown only to the run that made it: use another --shop-prefix"
                ));
            }
            401 | 404 => {
                return Err(format!(
                    "POST /v1/shops answered {}: is --admin-token the server's?",
                    created.status
                ));
            }
            other => return Err(format!("POST /v1/shops answered {other}")),
        };
        for (id, name, category, price) in ITEMS {
            let put = ask(
                &mut conn,
                base,
                "PUT",
                format!("/v1/shops/{slug}/menu/items/{id}"),
                &key,
                format!(r#"{{"name":"{name}","category":"{category}","price_cents":{price}}}"#),
            )
            .await?;
            if put.status >= 300 {
                return Err(format!("PUT {slug}'s {id} answered {}", put.status));
            }
        }
        keys.push(key);
    }
    Ok(keys)
}

/// A customer's pause: exponential around the mean, at most four times it.
fn think(rng: &mut Rng, mean: Duration) -> Duration {
    let u = (rng.below(1_000_000) as f64 + 0.5) / 1_000_000.0;
    mean.mul_f64((-u.ln()).min(4.0))
}

async fn customer(shared: Arc<Shared>, shop: usize, id: usize, order_share: f64) {
    let plan = &shared.plan;
    let mut rng = Rng::new((shop * 100_003 + id) as u64);
    let slug = slug(&plan.prefix, shop);
    let menu_url = plan.base.with_path(&format!("/v1/shops/{slug}/menu"));
    let order_url = plan.base.with_path(&format!("/v1/shops/{slug}/orders"));
    let mut conn: Option<Conn> = None;
    let mut etag: Option<String> = None;
    // Customers arrive over the first think time, not all at once.
    let first = plan.think.mul_f64(rng.below(1000) as f64 / 1000.0);
    if !shared.pause(first).await {
        return;
    }
    let mut visits = 0u64;
    while !shared.over() {
        visits += 1;
        let headers: Vec<(String, String)> = etag
            .iter()
            .map(|e| ("If-None-Match".to_owned(), e.clone()))
            .collect();
        let read = request_bytes("GET", &menu_url, &headers, b"");
        let keep = Keep {
            etag: true,
            body: false,
        };
        let kind = if etag.is_some() { MENU_304 } else { MENU };
        if let Ok(reply) = shared.send(&mut conn, kind, shop, &read, keep).await
            && reply.status == 200
        {
            etag = reply.etag;
        }
        let ordering = rng.below(1_000_000) as f64 / 1_000_000.0 < order_share;
        if !shared.pause(think(&mut rng, plan.think)).await {
            return;
        }
        if ordering {
            let key = format!("saas-{:x}-{shop}-{id}-{visits}", shared.run);
            let (item, ..) = ITEMS[rng.below(ITEMS.len() as u64) as usize];
            let body = format!(
                r#"{{"customer_name":"Customer {id}","lines":[{{"item_id":"{item}","quantity":1}}]}}"#
            );
            let headers = [
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("Idempotency-Key".to_owned(), key),
            ];
            let bytes = request_bytes("POST", &order_url, &headers, body.as_bytes());
            let keep = Keep {
                etag: false,
                body: true,
            };
            let sent = Instant::now();
            let mut placed = shared.send(&mut conn, ORDER, shop, &bytes, keep).await;
            if matches!(
                placed,
                Err(Failure::Connect | Failure::Read | Failure::Write)
            ) {
                // Resent with the same key: at most one order is made.
                placed = shared.send(&mut conn, ORDER, shop, &bytes, keep).await;
            }
            let order = placed.ok().filter(|r| r.status == 201).and_then(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned))
            });
            if let Some(order) = order {
                shared.placed.fetch_add(1, Ordering::Relaxed);
                // One descriptor per customer: the menu's connection goes while
                // the stream is open.
                conn = None;
                follow(&shared, shop, &slug, &order, sent).await;
            }
            if !shared.pause(think(&mut rng, plan.think)).await {
                return;
            }
        }
    }
}

/// Follows one order's stream until it is collected (or the run ends),
/// timing "ready" from when the order was sent.
async fn follow(shared: &Shared, shop: usize, slug: &str, order: &str, sent: Instant) {
    let url = shared
        .plan
        .base
        .with_path(&format!("/v1/shops/{slug}/orders/{order}/events"));
    let bytes = request_bytes(
        "GET",
        &url,
        &[("Accept".to_owned(), "text/event-stream".to_owned())],
        b"",
    );
    let opened = Instant::now();
    let now_open = shared.open_streams.fetch_add(1, Ordering::Relaxed) + 1;
    shared.peak_streams.fetch_max(now_open, Ordering::Relaxed);
    let mut seen_ready = false;
    let mut first = true;
    let read = async {
        let mut conn = Conn::connect(&shared.endpoint).await?;
        conn.events(
            &bytes,
            || {},
            |data| {
                if first {
                    first = false;
                    shared.record(STREAM, opened.elapsed());
                }
                let status = status_of(data);
                if !seen_ready && matches!(status, "ready" | "collected") {
                    seen_ready = true;
                    let took = sent.elapsed();
                    shared.ready_seen.fetch_add(1, Ordering::Relaxed);
                    let _ = shared
                        .order_to_ready
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(micros(took));
                    let mut s = shared.shops[shop].lock().unwrap_or_else(|p| p.into_inner());
                    let _ = s.ready.get_or_insert_with(histogram).record(micros(took));
                }
                if matches!(status, "collected" | "cancelled") {
                    shared.collected_seen.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                true
            },
        )
        .await
    };
    // The stream is followed to the end of the run at most.
    let left = shared.end.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, read).await {
        Ok(Ok(200)) => {}
        Ok(Ok(status)) => shared.error(STREAM, Some(shop), format!("http_{status}")),
        Ok(Err(f)) => shared.error(STREAM, Some(shop), f.name().to_owned()),
        Err(_) => {} // still brewing when the run ended: not an error
    }
    shared.open_streams.fetch_sub(1, Ordering::Relaxed);
}

/// An error answer's name in the report: its status, and its problem's
/// `code` when the body was kept (`http_503_overloaded`).
fn error_name(reply: &Reply) -> String {
    let code = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned));
    match code {
        Some(code) => format!("http_{}_{code}", reply.status),
        None => format!("http_{}", reply.status),
    }
}

/// An order's status in an event's data (the order as JSON).
fn status_of(data: &str) -> &str {
    data.split("\"status\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
}

/// What a barista's board has shown: orders placed (counted), and when it
/// opened (anything placed before then is on the queue unseen).
#[derive(Default)]
struct BoardSeen {
    placed: AtomicU64,
    opened: AtomicU64,
    changed: tokio::sync::Notify,
}

async fn barista(shared: Arc<Shared>, shop: usize, key: String) {
    let plan = &shared.plan;
    let slug = slug(&plan.prefix, shop);
    let auth = [
        ("Authorization".to_owned(), format!("Bearer {key}")),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let seen = Arc::new(BoardSeen::default());
    let board = tokio::spawn(board(
        shared.clone(),
        shop,
        request_bytes(
            "GET",
            &plan.base.with_path(&format!("/v1/shops/{slug}/events")),
            &[
                auth[0].clone(),
                ("Accept".to_owned(), "text/event-stream".to_owned()),
            ],
            b"",
        ),
        seen.clone(),
    ));
    let claim = request_bytes(
        "POST",
        &plan
            .base
            .with_path(&format!("/v1/shops/{slug}/queue/claim")),
        &auth,
        b"",
    );
    let keep = Keep {
        etag: false,
        body: true,
    };
    let mut conn: Option<Conn> = None;
    // The placed orders the board showed when the last claim found none, the
    // claims since, the board openings seen, and whether to claim until none
    // is left (after the board opens: what was placed before was not shown;
    // nothing was if no customer has come yet).
    let (mut clear, mut since, mut openings, mut drain) = (0, 0, 0, false);
    while !shared.over() {
        let opened = seen.opened.load(Ordering::Relaxed);
        if opened > openings {
            openings = opened;
            drain = shared.customers_came.load(Ordering::Relaxed);
        }
        let shown = seen.placed.load(Ordering::Relaxed);
        if !drain && shown <= clear + since {
            // Nothing shown is left: wait for the board, as staff watch the page.
            tokio::select! {
                () = seen.changed.notified() => {}
                () = tokio::time::sleep_until(shared.end.into()) => break,
            }
            continue;
        }
        let claimed = shared.send(&mut conn, CLAIM, shop, &claim, keep).await;
        let id = match claimed {
            Ok(r) if r.status == 200 => serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned)),
            Ok(r) if r.status == 204 => {
                // Every order shown before this claim is taken.
                (clear, since, drain) = (shown, 0, false);
                continue;
            }
            // The claim failed: try again after a pause.
            _ => {
                if !shared.pause(plan.barista_pace).await {
                    break;
                }
                continue;
            }
        };
        since += 1;
        let Some(id) = id else { continue };
        let status_url = plan
            .base
            .with_path(&format!("/v1/shops/{slug}/orders/{id}/status"));
        for (kind, status) in [(READY, "ready"), (COLLECT, "collected")] {
            let body = format!(r#"{{"status":"{status}"}}"#);
            let bytes = request_bytes("POST", &status_url, &auth, body.as_bytes());
            // Refused (503, before any work) or never sent: the barista presses
            // the button again after a while, as on the board page, rather
            // than hand over an order that was never marked ready.
            loop {
                if !shared.pause(plan.barista_pace).await {
                    return board.abort();
                }
                match shared.send(&mut conn, kind, shop, &bytes, keep).await {
                    Ok(r) if r.status == 503 => {}
                    Err(Failure::Connect) => {}
                    _ => break,
                }
            }
        }
    }
    board.abort();
}

/// The barista's board: follows the shop's event stream (opened again if it
/// ends) and tells the barista of each order placed, and of each opening.
async fn board(shared: Arc<Shared>, shop: usize, request: Vec<u8>, seen: Arc<BoardSeen>) {
    while !shared.over() {
        let opened = Instant::now();
        let read = async {
            let mut conn = Conn::connect(&shared.endpoint).await?;
            conn.events(
                &request,
                || {
                    shared.record(BOARD, opened.elapsed());
                    if seen.opened.fetch_add(1, Ordering::Relaxed) == 0 {
                        shared.boards_open.fetch_add(1, Ordering::Relaxed);
                        shared.board_opened.notify_one();
                    }
                    seen.changed.notify_one();
                },
                |data| {
                    if status_of(data) == "placed" {
                        seen.placed.fetch_add(1, Ordering::Relaxed);
                        seen.changed.notify_one();
                    }
                    true
                },
            )
            .await
        };
        let left = shared.end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, read).await {
            Ok(Ok(200)) => {} // ended by the server (a replica draining): open it again
            Ok(Ok(status)) => shared.error(BOARD, Some(shop), format!("http_{status}")),
            Ok(Err(f)) => shared.error(BOARD, Some(shop), f.name().to_owned()),
            Err(_) => return, // the run ended
        }
        if !shared.pause(Duration::from_secs(1)).await {
            return;
        }
    }
}

fn kind_report(h: &Histogram<u64>, errors: BTreeMap<String, u64>) -> KindReport {
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

/// Each shop's share of the orders: `1 / i^skew`, scaled so the mean is 1.
pub fn shop_weights(shops: usize, skew: f64) -> Vec<f64> {
    let raw: Vec<f64> = (1..=shops).map(|i| (i as f64).powf(-skew)).collect();
    let mean = raw.iter().sum::<f64>() / shops.max(1) as f64;
    raw.iter().map(|w| w / mean).collect()
}

/// Creates the tenants, runs every customer and barista, and reports.
pub async fn run(plan: SaasPlan) -> Result<SaasReport, String> {
    let endpoint = plan.base.endpoint(&Tls::default()).await?;
    let keys = tenants(&plan, &endpoint).await?;
    let shared = Arc::new(Shared::new(plan.clone(), endpoint));
    let weights = shop_weights(plan.shops, plan.skew);
    let mut tasks = tokio::task::JoinSet::new();
    for (shop, key) in keys.into_iter().enumerate() {
        tasks.spawn(barista(shared.clone(), shop, key));
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
            tasks.spawn(customer(shared.clone(), shop, id, share));
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
    for (name, kind) in KINDS.iter().zip(&shared.kinds) {
        let k = kind.lock().unwrap_or_else(|p| p.into_inner());
        errors += k.errors.values().sum::<u64>();
        by_kind.insert(
            (*name).to_owned(),
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
        for name in KINDS {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        tokio::spawn(async move { axum::serve(listener, shop).await.unwrap() });
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
        barista(shared.clone(), 0, "bsk_test".into()).await;
        let said = said.lock().unwrap().clone();
        assert_eq!(
            said[..4],
            ["claim 200", "ready 503", "ready 200", "collected 200"],
            "{said:?}"
        );
        let errors = |kind: usize| shared.kinds[kind].lock().unwrap().errors.clone();
        assert_eq!(
            errors(READY).into_iter().collect::<Vec<_>>(),
            [("http_503_overloaded".to_owned(), 1)]
        );
        assert!(errors(COLLECT).is_empty(), "{:?}", errors(COLLECT));
    }
}
