//! `barista-problem-server`: a tiny HTTP/1.1 server with one known problem, to
//! test `barista doctor` and to show what each verdict looks like.
//!
//! ```text
//! barista-problem-server --problem none|slow|cpu|lock|crosstalk|fail [--listen 127.0.0.1:0] [--threads 2]
//! barista-problem-server --problem hot-row --database postgres://... [--listen ...]
//! ```
//! - `none`: answers at once (healthy);
//! - `slow`: every request waits 150 ms, CPU idle (performance);
//! - `cpu`: every request computes for 1 ms (capacity, once CPU runs out);
//! - `lock`: every request holds one global lock for 2 ms while waiting (contention);
//! - `crosstalk`: the lock is held longer the more requests are in flight (coherency);
//! - `fail`: every request answers 500 (nothing to diagnose);
//! - `hot-row`: every request updates one row of the table `barista_hot_row` in
//!   PostgreSQL and holds it 2 ms before committing, on a connection of its own
//!   (contention in the database: a row lock the doctor should name).
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Clone, Copy, PartialEq)]
enum Problem {
    None,
    Slow,
    Cpu,
    Lock,
    Crosstalk,
    Fail,
    HotRow,
}

struct Shared {
    problem: Problem,
    lock: Mutex<()>,
    in_flight: AtomicU64,
    /// `hot-row`: the database, and its idle connections.
    database: Option<String>,
    idle: Mutex<Vec<tokio_postgres::Client>>,
}

/// A connection of the pool (a new one when none is idle).
async fn client(shared: &Shared) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    if let Some(client) = shared.idle.lock().await.pop() {
        return Ok(client);
    }
    let url = shared.database.as_deref().unwrap_or_default();
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The hot row: every request takes its turn on row 1.
async fn hot_row(shared: &Shared) -> bool {
    let Ok(client) = client(shared).await else {
        return false;
    };
    let done = client
        .batch_execute(
            "BEGIN; UPDATE barista_hot_row SET n = n + 1 WHERE id = 1; SELECT pg_sleep(0.002); COMMIT",
        )
        .await
        .is_ok();
    if done {
        shared.idle.lock().await.push(client);
    }
    done
}

fn usage() -> ! {
    eprintln!(
        "usage: barista-problem-server --problem none|slow|cpu|lock|crosstalk|fail|hot-row [--database URL] [--listen ADDR] [--threads N]"
    );
    std::process::exit(2);
}

/// One request's work; false when it failed.
async fn work(shared: &Shared) -> bool {
    match shared.problem {
        Problem::None | Problem::Fail => {}
        Problem::HotRow => return hot_row(shared).await,
        Problem::Slow => tokio::time::sleep(Duration::from_millis(150)).await,
        Problem::Cpu => {
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(1) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        Problem::Lock => {
            let _held = shared.lock.lock().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Problem::Crosstalk => {
            let _held = shared.lock.lock().await;
            let others = shared.in_flight.load(Ordering::Relaxed);
            tokio::time::sleep(Duration::from_micros(1000 + 600 * others)).await;
        }
    }
    true
}

/// Any request: the problem's work, then `ok` (or a 500).
async fn answer(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
) -> (axum::http::StatusCode, &'static str) {
    shared.in_flight.fetch_add(1, Ordering::Relaxed);
    let done = work(&shared).await;
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    if shared.problem == Problem::Fail || !done {
        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "fail")
    } else {
        (axum::http::StatusCode::OK, "ok")
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut problem, mut listen, mut threads) = (None, "127.0.0.1:0".to_owned(), 2usize);
    let mut database = None;
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--problem" => {
                problem = Some(match value.as_str() {
                    "none" => Problem::None,
                    "slow" => Problem::Slow,
                    "cpu" => Problem::Cpu,
                    "lock" => Problem::Lock,
                    "crosstalk" => Problem::Crosstalk,
                    "fail" => Problem::Fail,
                    "hot-row" => Problem::HotRow,
                    _ => usage(),
                })
            }
            "--listen" => listen = value,
            "--threads" => threads = value.parse().unwrap_or_else(|_| usage()),
            "--database" => database = Some(value),
            _ => usage(),
        }
    }
    let problem = problem.unwrap_or_else(|| usage());
    if (problem == Problem::HotRow) != database.is_some() {
        usage();
    }
    let shared = Arc::new(Shared {
        problem,
        lock: Mutex::new(()),
        in_flight: AtomicU64::new(0),
        database,
        idle: Mutex::new(vec![]),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        eprintln!("barista-problem-server: cannot start the runtime");
        std::process::exit(1);
    };
    runtime.block_on(async move {
        if shared.problem == Problem::HotRow {
            let made = async {
                let c = client(&shared).await?;
                c.batch_execute(
                    "CREATE TABLE IF NOT EXISTS barista_hot_row (id int PRIMARY KEY, n bigint NOT NULL);
                     INSERT INTO barista_hot_row VALUES (1, 0) ON CONFLICT DO NOTHING",
                )
                .await?;
                shared.idle.lock().await.push(c);
                Ok::<(), tokio_postgres::Error>(())
            };
            if let Err(e) = made.await {
                eprintln!("barista-problem-server: the database: {e}");
                std::process::exit(1);
            }
        }
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("barista-problem-server: cannot listen on {listen}: {e}");
                std::process::exit(1);
            }
        };
        if let Ok(addr) = listener.local_addr() {
            println!("listening on http://{addr}");
        }
        // Barista's own HTTP/1.1 (`barista-http`), as the server speaks it.
        let app = axum::Router::new().fallback(answer).with_state(shared);
        let config = barista_http::Config::new(barista_http::Limits::default());
        let stop = barista_http::Stop::on(std::future::pending());
        let _ = barista_http::serve::<_, axum::body::Body, _>(listener, app, config, stop).await;
    });
}
