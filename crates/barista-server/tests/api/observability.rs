//! Metrics, request ids and CPU profiles, read the way Prometheus and an
//! operator would: over HTTP, from the operations listener.

use crate::common::*;
use serde_json::json;

async fn scrape(app: &App) -> String {
    let res = app
        .client
        .get(format!("{}/metrics", app.ops))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    res.text().await.unwrap()
}

/// The value of the series whose line starts with `series ` (exact labels).
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no series {series}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_are_served_only_on_the_operations_listener() {
    let app = spawn_app().await;
    assert_problem(app.get("/metrics", None).await, 404, "not_found").await;
    let text = scrape(&app).await;
    for family in [
        "http_server_request_duration_seconds",
        "http_server_active_requests",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
        "process_start_time_seconds",
        "barista_db_pool_connections",
        "barista_db_pool_wait_seconds_total",
        "barista_menu_cache_hits_total",
        "barista_menu_cache_misses_total",
        "barista_sse_streams",
        "barista_orders_total",
        "barista_build_info",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} is missing"
        );
    }
    assert!(text.contains(r#"barista_build_info{version=""#));
}

#[tokio::test]
async fn request_durations_are_labelled_by_route_template_never_by_shop() {
    let app = spawn_app().await;
    app.shop_with_menu("secret-shop-name").await;
    for _ in 0..3 {
        app.get("/v1/shops/secret-shop-name/menu", None).await;
    }
    app.get("/v1/shops/secret-shop-name/nope", None).await;
    let order: serde_json::Value = app
        .order(
            "secret-shop-name",
            json!([{"item_id": "bun", "quantity": 1}]),
        )
        .await
        .json()
        .await
        .unwrap();
    app.get(
        &format!(
            "/v1/shops/secret-shop-name/orders/{}",
            order["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    let text = scrape(&app).await;
    assert!(
        !text.contains("secret-shop-name"),
        "no label carries a shop"
    );
    assert!(
        !text.contains(order["id"].as_str().unwrap()),
        "no label carries an order id"
    );
    let menu = r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/v1/shops/{shop}/menu",http_response_status_code="200"}"#;
    assert!(value(&text, menu) >= 3.0);
    let by_id = r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/v1/shops/{shop}/orders/{id}",http_response_status_code="200"}"#;
    assert_eq!(value(&text, by_id), 1.0);
    let unmatched = r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="unmatched",http_response_status_code="404"}"#;
    assert_eq!(value(&text, unmatched), 1.0);
    let inf = r#"http_server_request_duration_seconds_bucket{http_request_method="GET",http_route="/v1/shops/{shop}/menu",http_response_status_code="200",le="+Inf"}"#;
    assert_eq!(
        value(&text, inf),
        value(&text, menu),
        "+Inf holds every observation"
    );
    assert!(
        text.contains(r#"le="0.0005""#) && text.contains(r#"le="10""#),
        "buckets span 0.5 ms to 10 s"
    );
    assert!(value(&text, "barista_menu_cache_hits_total") >= 1.0);
    assert!(value(&text, "barista_menu_cache_misses_total") >= 1.0);
}

#[tokio::test]
async fn orders_are_counted_by_outcome() {
    let app = spawn_app().await;
    app.shop_with_menu("counted").await;
    let keyed = |key: &'static str, qty: i64| {
        app.client
            .post(app.url("/v1/shops/counted/orders"))
            .header("idempotency-key", key)
            .json(&json!({"customer_name": "A", "lines": [{"item_id": "bun", "quantity": qty}]}))
            .send_checked()
    };
    assert_eq!(keyed("k1", 1).await.status(), 201);
    assert_eq!(keyed("k1", 1).await.status(), 201);
    assert_eq!(keyed("k2", 9).await.status(), 409);
    assert_eq!(keyed("k3", 0).await.status(), 422);
    let text = scrape(&app).await;
    for (outcome, n) in [
        ("created", 1.0),
        ("replayed", 1.0),
        ("out_of_stock", 1.0),
        ("rejected", 1.0),
    ] {
        assert_eq!(
            value(
                &text,
                &format!("barista_orders_total{{outcome=\"{outcome}\"}}")
            ),
            n,
            "{outcome}"
        );
    }
    assert!(value(&text, "barista_db_commits_total") >= 1.0);
}

#[tokio::test]
async fn open_event_streams_are_counted() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("streams").await;
    let stream = app.get("/v1/shops/streams/events", Some(&key)).await;
    assert_eq!(stream.status(), 200);
    assert_eq!(value(&scrape(&app).await, "barista_sse_streams"), 1.0);
    drop(stream);
    let mut closed = false;
    for _ in 0..200 {
        if value(&scrape(&app).await, "barista_sse_streams") == 0.0 {
            closed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(closed, "a closed stream is no longer counted");
}

#[tokio::test]
async fn request_ids_are_kept_when_sent_and_made_when_not() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send_checked()
        .await;
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    let a = app.get("/healthz", None).await.headers()["x-request-id"].clone();
    let b = app.get("/nope", None).await.headers()["x-request-id"].clone();
    assert_eq!(a.len(), 16);
    assert_ne!(a, b, "every request gets its own id, errors included");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_profile_is_a_flamegraph_and_one_runs_at_a_time() {
    let app = spawn_app().await;
    app.shop_with_menu("profiled").await;
    let url = format!("{}/debug/pprof/profile?seconds=1", app.ops);
    // Keep the server busy for as long as it is sampled (until both profile
    // requests are answered, however slow the machine), so the flamegraph
    // has frames.
    let sampled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let (client, menu) = (app.client.clone(), app.url("/v1/shops/profiled/menu"));
        let sampled = sampled.clone();
        tokio::spawn(async move {
            while !sampled.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = client.get(&menu).send().await;
            }
        })
    };
    // Two at once: whichever arrives second finds the first sampling.
    let (a, b) = tokio::join!(app.client.get(&url).send(), app.client.get(&url).send());
    sampled.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.await.unwrap();
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "one profile runs, the other is refused"
    );
    let profile = if a.status() == 200 { a } else { b };
    assert_eq!(profile.headers()["content-type"], "image/svg+xml");
    let svg = profile.text().await.unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("barista"),
        "a flamegraph with Barista's frames"
    );
    let bad = app
        .client
        .get(format!("{}/debug/pprof/profile?seconds=600", app.ops))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422, "the length is bounded");
}

/// Metric names used in PromQL expressions (recording rules, with a `:`, excluded).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = vec![];
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            let known = ["http_server_", "process_", "barista_"]
                .iter()
                .any(|p| word.starts_with(p));
            if known && !word.contains(':') {
                let base = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s))
                    .unwrap_or(&word);
                names.push(base.to_owned());
            }
            word.clear();
        }
    }
    names
}

#[tokio::test]
async fn the_dashboard_and_alert_rules_use_only_metrics_barista_exports() {
    let app = spawn_app().await;
    app.get("/healthz", None).await;
    let text = scrape(&app).await;
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../../deploy/grafana/barista.json")).unwrap();
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    let rules = include_str!("../../../../deploy/prometheus/rules.yml");
    exprs.extend(
        rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr:"))
            .map(str::to_owned),
    );
    // The orders autoscaler's query (KEDA's Prometheus trigger) scales on these too.
    let autoscaling = include_str!("../../../../deploy/kubernetes/base/autoscaling.yaml");
    let query = autoscaling
        .split_once("query: >-")
        .and_then(|(_, rest)| rest.split_once("threshold:"))
        .map(|(query, _)| query.to_owned())
        .expect("the ScaledObject's query");
    assert!(metric_names(&query).len() >= 2, "{query}");
    exprs.push(query);
    assert!(exprs.len() > 15);
    // SQLite's single writer has no counterpart on PostgreSQL.
    let sqlite_only = ["barista_db_writer_busy_seconds_total"];
    let mut checked = 0;
    for expr in &exprs {
        for name in metric_names(expr) {
            if crate::common::on_postgres() && sqlite_only.contains(&name.as_str()) {
                assert!(!text.contains(&name), "{name} is SQLite's alone");
                continue;
            }
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} (in {expr}) is not exported"
            );
            checked += 1;
        }
    }
    assert!(checked > 20);
}

/// Kills the Prometheus child however the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_barista_and_sees_the_request_rate_per_route() {
    let app = spawn_app().await;
    app.shop_with_menu("scraped").await;
    let dir = tempfile::tempdir().unwrap();
    let target = app.ops.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: barista\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prometheus = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the `prometheus` binary (Debian's package); scripts/test installs it");
    let _prometheus = Child(prometheus);

    let query = "sum by (http_route) (rate(http_server_request_duration_seconds_count{job=\"barista\"}[5s]))";
    let api = format!("http://127.0.0.1:{port}/api/v1/query");
    let mut seen = serde_json::Value::Null;
    // Bounded: traffic and polling for at most 60 s.
    for _ in 0..120 {
        for _ in 0..20 {
            app.get("/v1/shops/scraped/menu", None).await;
        }
        app.order("scraped", json!([{"item_id": "flat-white", "quantity": 1}]))
            .await;
        if let Ok(res) = app.client.get(&api).query(&[("query", query)]).send().await
            && let Ok(body) = res.json::<serde_json::Value>().await
        {
            let rate = |route: &str| {
                body["data"]["result"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["metric"]["http_route"] == route)
                    .and_then(|r| r["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()))
                    .unwrap_or(0.0)
            };
            if rate("/v1/shops/{shop}/menu") > 0.0 && rate("/v1/shops/{shop}/orders") > 0.0 {
                return;
            }
            seen = body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("Prometheus never reported a request rate per route: {seen}");
}
