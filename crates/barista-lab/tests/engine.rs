//! The load generator against test servers with known behaviour. They check
//! what the generator measures, never how fast this machine is: latency has a
//! floor the server sets (a 10 ms handler cannot measure under 10 ms) and no
//! ceiling but a safety net; counts are the schedule's, which the generator
//! keeps however late it runs; Little's law is an identity of the closed model.

use axum::Router;
use axum::routing::get;
use barista_lab::engine::{Model, Outcome, Plan, run};
use barista_lab::http::Url;
use barista_lab::profile::Profile;
use barista_lab::report::LoadReport;
use barista_lab::slo::Slo;
use barista_lab::stats::percentile_ms;
use barista_lab::workload::Fixed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::RwLock;

/// Serves `/slow` (10 ms), `/fast`, and `/frozen` (waits while the test holds the lock).
async fn test_server(freeze: Arc<RwLock<()>>) -> String {
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                "slow"
            }),
        )
        .route("/fast", get(|| async { "fast" }))
        .route(
            "/frozen",
            get(move || {
                let freeze = freeze.clone();
                async move {
                    let _open = freeze.read().await;
                    "thawed"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        barista_http::serve::<_, axum::body::Body, _>(
            listener,
            app,
            barista_http::Config::new(Default::default()),
            barista_http::Stop::on(std::future::pending()),
        )
        .await
        .unwrap()
    });
    base
}

async fn load(url: &str, model: Model) -> Outcome {
    let workload = Fixed::urls(&[Url::parse(url).unwrap()]).await.unwrap();
    let plan = Plan {
        model,
        timeout: Duration::from_secs(10),
        progress: false,
        threads: None,
        requests: None,
    };
    run(&plan, Arc::new(workload)).await
}

fn open(rate: f64, secs: u64, connections: usize) -> Model {
    Model::Open {
        rate: Profile::constant(rate, Duration::from_secs(secs)),
        connections,
    }
}

fn closed(connections: f64, secs: u64) -> Model {
    Model::Closed {
        connections: Profile::constant(connections, Duration::from_secs(secs)),
        think: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10ms_handler_measures_about_10ms_in_both_models() {
    let base = test_server(Arc::default()).await;
    let url = format!("{base}/slow");
    for outcome in [
        load(&url, open(100.0, 2, 10)).await,
        load(&url, closed(5.0, 2)).await,
    ] {
        let p50 = percentile_ms(&outcome.total.corrected, 50.0);
        // Histogram buckets round: 9.9 is the 10 ms floor, not a bug.
        assert!(
            (9.9..5_000.0).contains(&p50),
            "p50 {p50} ms (open: {})",
            outcome.open
        );
        assert_eq!(outcome.total.errors(), 0);
        assert!(outcome.total.requests() > 100);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_model_sees_a_1s_freeze_that_the_uncorrected_figure_hides() {
    let freeze: Arc<RwLock<()>> = Arc::default();
    let base = test_server(freeze.clone()).await;
    let url = format!("{base}/frozen");
    let freezer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _frozen = freeze.write().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let outcome = load(&url, open(400.0, 4, 10)).await;
    freezer.await.unwrap();
    let corrected = percentile_ms(&outcome.total.corrected, 99.0);
    let uncorrected = percentile_ms(&outcome.total.uncorrected, 99.0);
    assert!(corrected >= 500.0, "corrected p99 {corrected} ms");
    assert!(
        uncorrected < corrected / 2.0,
        "uncorrected p99 {uncorrected} ms vs corrected {corrected} ms"
    );
    assert_eq!(
        outcome.total.requests(),
        1600,
        "every scheduled request was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_throughput_agrees_with_littles_law() {
    let base = test_server(Arc::default()).await;
    let outcome = load(&format!("{base}/slow"), closed(8.0, 3)).await;
    let mean_s = outcome.total.corrected.mean() / 1e6;
    let throughput = outcome.total.responses() as f64 / outcome.elapsed.as_secs_f64();
    let little = 8.0 / mean_s;
    let ratio = throughput / little;
    // Eight connections always busy: X = N / R, up to the requests cut at the
    // run's two ends (at most 8 each, judged against how many completed).
    let responses = outcome.total.responses() as f64;
    let edge = 16.0 / responses;
    assert!(responses >= 100.0, "{responses} responses");
    assert!(
        (1.0 - 0.05 - edge..1.0 + 0.05 + edge).contains(&ratio),
        "throughput {throughput:.1}/s vs connections/mean {little:.1}/s"
    );
    assert!(
        outcome.total.uncorrected.is_empty(),
        "the closed model has no separate uncorrected figure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramps_follow_the_profile_and_a_dead_target_counts_connect_errors() {
    let base = test_server(Arc::default()).await;
    let ramp = Model::Open {
        rate: Profile::parse("100..300", Duration::from_secs(2)).unwrap(),
        connections: 10,
    };
    let outcome = load(&format!("{base}/fast"), ramp).await;
    assert_eq!(
        outcome.total.requests(),
        400,
        "the area under a 100..300/s ramp over 2 s"
    );
    assert!(outcome.series.len() >= 2);
    assert!(outcome.series[1].offered > outcome.series[0].offered);

    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let outcome = load(&dead_url, open(50.0, 1, 5)).await;
    assert_eq!(outcome.total.error_kinds().get("connect"), Some(&50));
}

fn assert_valid(report: &LoadReport) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/load-result.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let text = barista_lab::commands::result_json(report).unwrap();
    let instance: serde_json::Value = serde_json::from_str(&text).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{instance:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_validate_against_the_json_schema() {
    let base = test_server(Arc::default()).await;
    let workload = Arc::new(
        Fixed::urls(&[
            Url::parse(&format!("{base}/fast")).unwrap(),
            Url::parse(&format!("{base}/missing")).unwrap(),
        ])
        .await
        .unwrap(),
    );
    let slo = Slo::parse("p99<1s,errors<1%").unwrap();
    for model in [open(200.0, 1, 5), closed(2.0, 1)] {
        let plan = Plan {
            model,
            timeout: Duration::from_secs(5),
            progress: false,
            threads: None,
            requests: None,
        };
        let outcome = run(&plan, workload.clone()).await;
        let report = LoadReport::new(&outcome, "test".into(), vec![base.clone()], Some(&slo));
        assert_valid(&report);
        assert!(
            report.errors.get("http_4xx").is_some_and(|n| *n > 0),
            "404s are counted by class"
        );
        assert!(
            !report.slo.as_ref().unwrap().passed,
            "half the requests failed"
        );
        assert_eq!(report.by_name.len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_gives_timeouts_not_a_hang() {
    // Accepts connections and reads, but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let workload = Fixed::urls(&[Url::parse(&url).unwrap()]).await.unwrap();
    let plan = Plan {
        model: open(20.0, 1, 5),
        timeout: Duration::from_millis(300),
        progress: false,
        threads: None,
        requests: None,
    };
    let outcome = run(&plan, Arc::new(workload)).await;
    assert_eq!(
        outcome.total.error_kinds().get("timeout"),
        Some(&20),
        "every request timed out"
    );
    assert!(
        outcome.elapsed < Duration::from_secs(10),
        "the run ended on its own"
    );
}
