//! Careful customers: each order sent with its own Idempotency-Key and resent
//! until it is acknowledged, as the contract asks, while a server, its
//! database or the database's primary fails under them.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the customers saw.
#[derive(Default)]
pub struct Seen {
    /// Idempotency-Key to the order id its 201 named.
    pub acked: HashMap<String, String>,
    /// When each acknowledgement arrived.
    pub at: Vec<Instant>,
    pub unavailable: usize,
    /// Answers that break the contract (a 5xx other than 503, a 503 without
    /// Retry-After, a 4xx to a valid order).
    pub wrong: Vec<String>,
}

/// Customers ordering `item` of `shop` at whatever `base` names now (a test
/// may point them at a restarted server), until `stop`.
pub struct Customers {
    pub seen: Arc<Mutex<Seen>>,
    pub stop: Arc<AtomicBool>,
    pub attempts: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Customers {
    pub fn start(n: usize, base: Arc<Mutex<String>>, shop: &str, item: &str) -> Customers {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(AtomicUsize::new(0));
        let tasks = (0..n)
            .map(|i| {
                let (seen, stop, base, attempts) =
                    (seen.clone(), stop.clone(), base.clone(), attempts.clone());
                let (shop, item) = (shop.to_owned(), item.to_owned());
                let c = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let idem = format!("c{i}-{n}");
                        let body = json!({"customer_name": idem, "lines": [{"item_id": item, "quantity": 1 + n % 3}]});
                        let give_up = Instant::now() + Duration::from_secs(120);
                        loop {
                            assert!(Instant::now() < give_up, "{idem} never acknowledged");
                            attempts.fetch_add(1, Ordering::Relaxed);
                            let url = format!("{}/v1/shops/{shop}/orders", base.lock().unwrap());
                            let sent = c
                                .post(url)
                                .header("idempotency-key", &idem)
                                .json(&body)
                                .send()
                                .await;
                            let Ok(res) = sent else {
                                // The server is down: try again shortly.
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            };
                            let status = res.status().as_u16();
                            let retry_after = res.headers().contains_key("retry-after");
                            let answer: Value = res.json().await.unwrap_or_default();
                            let done = {
                                let mut seen = seen.lock().unwrap();
                                match status {
                                    201 => {
                                        let id = answer["id"].as_str().unwrap().to_owned();
                                        seen.acked.insert(idem.clone(), id);
                                        seen.at.push(Instant::now());
                                        true
                                    }
                                    503 if retry_after => {
                                        seen.unavailable += 1;
                                        false
                                    }
                                    _ => {
                                        seen.wrong.push(format!("{status} {answer}"));
                                        false
                                    }
                                }
                            };
                            if done {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        Customers {
            seen,
            stop,
            attempts,
            tasks,
        }
    }

    pub fn acked(&self) -> usize {
        self.seen.lock().unwrap().acked.len()
    }

    /// Stops ordering once every order under way is acknowledged; what was seen.
    pub async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// Everything a long-lived response sends, collected as it comes.
pub fn collect(
    mut response: reqwest::Response,
) -> (Arc<Mutex<String>>, tokio::task::JoinHandle<()>) {
    let streamed = Arc::new(Mutex::new(String::new()));
    let kept = streamed.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(chunk)) = response.chunk().await {
            kept.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    (streamed, reader)
}

/// Until a safety-net deadline, `check` is polled; panics with `what` past it.
pub async fn eventually(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
