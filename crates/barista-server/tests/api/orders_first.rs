//! Orders first (`--cheap-lane-delay`): on a replica out of CPU, an order is
//! served ahead of menu reads that reached the door before it.
//!
//! The saturation is real, not simulated: a task that holds the server's one
//! executor thread 10 ms at a time makes every ready task wait, as a flood on
//! a capped replica does, and the door's own controller sees it and closes the
//! cheap lane. The test asserts an order of events, never a duration.

use crate::common::{config, spawn_app_with};
use barista_server::{CheapLane, Config};
use barista_store::OpenOptions;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

const MENUS: usize = 200;

#[tokio::test]
async fn under_a_saturated_replica_an_order_goes_ahead_of_waiting_menu_reads() {
    let app = spawn_app_with(
        Config {
            cheap_lane: Some(CheapLane {
                delay: Duration::from_millis(2),
                // Long enough that no menu read is refused: all are answered.
                max_wait: Duration::from_secs(120),
            }),
            ..config()
        },
        OpenOptions::default(),
    )
    .await;
    app.shop_with_menu("lanes").await;

    // The executor saturated: every ready task now waits about 10 ms a turn.
    let busy = Arc::new(AtomicBool::new(true));
    let burner = tokio::spawn({
        let busy = busy.clone();
        async move {
            while busy.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
                tokio::task::yield_now().await;
            }
        }
    });
    app.wait_gauge("barista_cheap_lane_open", |open| open == 0.0)
        .await;

    // A crowd of menu reads, each on its own connection, reaches the door.
    let answered = Arc::new(AtomicUsize::new(0));
    let mut menus = tokio::task::JoinSet::new();
    for _ in 0..MENUS {
        let (client, url, answered) = (
            reqwest::Client::new(),
            app.url("/v1/shops/lanes/menu"),
            answered.clone(),
        );
        menus.spawn(async move {
            let status = client.get(url).send().await.unwrap().status();
            answered.fetch_add(1, SeqCst);
            status
        });
    }
    app.wait_gauge("barista_cheap_lane_waiting", |w| w >= (MENUS / 2) as f64)
        .await;

    // Then an order: it does not queue behind the reads waiting at the door.
    let held = app.gauge("barista_cheap_lane_waiting").await as usize;
    let answered_before = answered.load(SeqCst);
    let order = app
        .order("lanes", json!([{"item_id": "flat-white", "quantity": 1}]))
        .await;
    let answered_meanwhile = answered.load(SeqCst) - answered_before;
    assert_eq!(order.status(), 201, "{}", order.text().await.unwrap());
    assert!(
        answered_meanwhile < held / 2,
        "{held} menu reads were waiting at the door when the order came, and {answered_meanwhile} were answered before it: it queued behind them"
    );

    // The CPU back, every menu read is served: held, not dropped.
    busy.store(false, SeqCst);
    burner.await.unwrap();
    while let Some(status) = menus.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert!(
        app.gauge("barista_cheap_lane_waited_total").await > 0.0,
        "menu reads waited at the door"
    );
}
