//! `spawn_app`: a running server on a fresh database, and helpers to drive it.

use barista_server::{Config, secret::Secret};
use barista_store::OpenOptions;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::oneshot;

pub const ADMIN: &str = "test-admin-token";

/// Sends a request and checks its answer against the OpenAPI document
/// (`contract.rs`): every test's every response is also a contract test.
pub trait SendChecked {
    async fn send_checked(self) -> Response;
}

impl SendChecked for RequestBuilder {
    async fn send_checked(self) -> Response {
        let (client, request) = self.build_split();
        crate::contract::send(&client, request.expect("a well-formed request")).await
    }
}

pub struct App {
    pub base: String,
    pub client: Client,
    pub db_path: std::path::PathBuf,
    /// The database's URL (SQLite or PostgreSQL).
    pub db_url: String,
    /// The operations listener (`/metrics`, `/debug/pprof/profile`).
    pub ops: String,
    stop: Option<oneshot::Sender<()>>,
    pub stopped: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn config() -> Config {
    Config {
        admin_token: Some(Secret::new(ADMIN)),
        ..Config::default()
    }
}

pub async fn spawn_app() -> App {
    spawn_app_with(config(), OpenOptions::default()).await
}

/// Whether this run uses PostgreSQL (`BARISTA_TEST_BACKEND=postgres`, with
/// `BARISTA_TEST_POSTGRES_URL` from scripts/with-postgres) instead of SQLite.
pub fn on_postgres() -> bool {
    std::env::var("BARISTA_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A fresh PostgreSQL database for one test; returns its URL.
async fn fresh_postgres_database() -> String {
    let admin = std::env::var("BARISTA_TEST_POSTGRES_URL")
        .expect("BARISTA_TEST_POSTGRES_URL (scripts/with-postgres)");
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let name = format!("t{:x}", uuid_like());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    format!("{base}/{name}")
}

fn uuid_like() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    t ^ (u128::from(std::process::id()) << 64) ^ u128::from(N.fetch_add(1, Ordering::Relaxed))
}

pub async fn spawn_app_with(config: Config, options: OpenOptions) -> App {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("barista.db");
    let url = if on_postgres() {
        fresh_postgres_database().await
    } else {
        format!("sqlite://{}", db_path.display())
    };
    spawn_on(config, options, url, db_path, dir).await
}

impl App {
    /// Another server over this one's database (a second replica), with `config`.
    pub async fn spawn_beside(&self, config: Config) -> App {
        spawn_on(
            config,
            OpenOptions::default(),
            self.db_url.clone(),
            self.db_path.clone(),
            tempfile::tempdir().unwrap(),
        )
        .await
    }
}

async fn spawn_on(
    config: Config,
    options: OpenOptions,
    url: String,
    db_path: std::path::PathBuf,
    dir: tempfile::TempDir,
) -> App {
    let store = barista_store::open(&url, &options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ops_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops = format!("http://{}", ops_listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let listeners = barista_server::Listeners {
        api: listener,
        ops: Some(ops_listener),
    };
    let server = tokio::spawn(barista_server::run(config, store, listeners, async {
        let _ = stopped.await;
    }));
    App {
        base,
        ops,
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        db_path,
        db_url: url,
        stop: Some(stop),
        stopped: Some(server),
        _dir: dir,
    }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Starts a graceful shutdown.
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn post_json(&self, path: &str, auth: Option<&str>, body: &Value) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(token) = auth {
            req = req.bearer_auth(token);
        }
        req.send_checked().await
    }

    /// Creates a shop with an empty menu; returns its staff key.
    pub async fn create_shop(&self, slug: &str) -> String {
        let res = self
            .post_json(
                "/v1/shops",
                Some(ADMIN),
                &json!({"slug": slug, "name": "Test Café", "currency": "EUR"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        body["staff_key"].as_str().unwrap().to_owned()
    }

    pub async fn put_item(&self, shop: &str, key: &str, id: &str, item: Value) -> Response {
        self.client
            .put(self.url(&format!("/v1/shops/{shop}/menu/items/{id}")))
            .bearer_auth(key)
            .json(&item)
            .send_checked()
            .await
    }

    /// A shop with a coffee (unlimited), a bun (stock 5) and an unavailable cake.
    pub async fn shop_with_menu(&self, slug: &str) -> String {
        let key = self.create_shop(slug).await;
        for (id, item) in [
            (
                "flat-white",
                json!({"name": "Flat white", "category": "coffee", "price_cents": 380}),
            ),
            (
                "bun",
                json!({"name": "Bun", "category": "pastry", "price_cents": 300, "stock": 5}),
            ),
            (
                "cake",
                json!({"name": "Cake", "category": "pastry", "price_cents": 450, "available": false}),
            ),
        ] {
            assert!(
                self.put_item(slug, &key, id, item)
                    .await
                    .status()
                    .is_success()
            );
        }
        key
    }

    /// A gauge's value from `/metrics`.
    pub async fn gauge(&self, name: &str) -> f64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.ops))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let prefix = format!("{name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no gauge {name}"))
    }

    /// Polls a gauge until `done` holds (bounded: 30 s); its last value.
    /// Reads the metric `name` until `done` holds for it, and returns it;
    /// fails the test when it does not within 30 s.
    pub async fn wait_gauge(&self, name: &str, done: impl Fn(f64) -> bool) -> f64 {
        let mut value = self.gauge(name).await;
        for _ in 0..600 {
            if done(value) {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            value = self.gauge(name).await;
        }
        panic!("{name} is still {value} after 30 s: what the test waits for never happened");
    }

    pub async fn order(&self, shop: &str, lines: Value) -> Response {
        self.post_json(
            &format!("/v1/shops/{shop}/orders"),
            None,
            &json!({"customer_name": "Ana", "lines": lines}),
        )
        .await
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = auth {
            req = req.bearer_auth(token);
        }
        req.send_checked().await
    }

    /// One item of the shop's menu, as the public reads it.
    pub async fn menu_item(&self, shop: &str, item: &str) -> Value {
        let menu: Value = self
            .get(&format!("/v1/shops/{shop}/menu"), None)
            .await
            .json()
            .await
            .unwrap();
        menu["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == item)
            .unwrap()
            .clone()
    }

    pub async fn stock(&self, shop: &str, item: &str) -> Value {
        self.menu_item(shop, item).await["stock"].clone()
    }
}

/// Asserts an RFC 9457 problem with the given status and code; returns its body.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status of {}", res.url());
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "content type of a {status}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("/problems/{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// Holds the write lock an order for a stocked item needs, until dropped: on
/// SQLite the database's, on PostgreSQL the item's row. An order placed
/// meanwhile stays in flight, waiting in the database.
pub struct WriteLock {
    _sqlite: Option<rusqlite::Connection>,
    _postgres: Option<tokio_postgres::Client>,
}

pub async fn hold_write_lock(app: &App, shop: &str, item: &str) -> WriteLock {
    if on_postgres() {
        let (client, connection) = tokio_postgres::connect(&app.db_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM menu_items WHERE item_id = '{item}' AND shop_id = (SELECT id FROM shops WHERE slug = '{shop}') FOR UPDATE"
            ))
            .await
            .unwrap();
        WriteLock {
            _sqlite: None,
            _postgres: Some(client),
        }
    } else {
        let lock = rusqlite::Connection::open(&app.db_path).unwrap();
        lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
        WriteLock {
            _sqlite: Some(lock),
            _postgres: None,
        }
    }
}
