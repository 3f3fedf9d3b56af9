//! Starting the real `barista serve` as a child process, for the binary's tests.
#![allow(dead_code)] // each test file uses a part

pub mod careful;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_barista");

/// A running child server; killed when dropped.
pub struct Served {
    pub child: Child,
    /// The API's base URL, e.g. `http://127.0.0.1:40123`.
    pub base: String,
    /// The metrics URL, when the server has a metrics listener.
    pub metrics: Option<String>,
    /// Lines printed after the address lines (the demo shop's banner).
    pub lines: Vec<String>,
    /// Every line printed after those, as it comes.
    pub rest: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Stops the server with SIGTERM, checks it exits cleanly, and returns
    /// everything it printed after its address line.
    pub fn stop(&mut self) -> Vec<String> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "a SIGTERM stop is a clean exit: {exit:?}");
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let rest = self.rest.lock().unwrap();
        self.lines.iter().chain(rest.iter()).cloned().collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_in(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|w| w.trim_end_matches(',').to_owned())
}

/// Runs `command` (a `barista serve ...`), reads its address line and the
/// `following` lines after it (the metrics line, the demo banner; the line naming
/// the API reference is not counted); the rest is
/// drained. Ask only for lines the server prints, or this waits for them.
pub fn serve(mut command: Command, following: usize) -> Served {
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = out.next().expect("an address line").unwrap();
    let base = url_in(&first).expect("an address");
    let mut lines = vec![];
    let mut metrics = None;
    let mut read = 0;
    while read < following {
        let Some(Ok(line)) = out.next() else { break };
        if line.starts_with("API reference on") {
            continue;
        }
        read += 1;
        if metrics.is_none() && line.starts_with("metrics on") {
            metrics = url_in(&line);
        } else {
            lines.push(line);
        }
    }
    let rest = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = rest.clone();
    let reader = std::thread::spawn(move || {
        for line in out.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Served {
        child,
        base,
        metrics,
        lines,
        rest,
        reader: Some(reader),
    }
}

/// `barista serve` on free ports over a SQLite file, with extra flags.
pub fn serve_command(program: Command, db: &std::path::Path, extra: &[&str]) -> Command {
    serve_url_command(program, &format!("sqlite://{}", db.display()), extra)
}

/// `barista serve` on free ports over a database URL, with extra flags.
pub fn serve_url_command(program: Command, url: &str, extra: &[&str]) -> Command {
    let mut c = program;
    c.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--database",
        url,
    ])
    .args(extra);
    c
}

/// `program`, pinned to one CPU when the machine has two or more and
/// `taskset` exists (a server on one, the generator on the other).
pub fn pinned(cpu: usize, program: &str) -> Command {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taskset = Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if cores >= 2 && taskset {
        let mut c = Command::new("taskset");
        c.args(["-c", &cpu.to_string(), program]);
        c
    } else {
        Command::new(program)
    }
}

/// A fresh database with pg_stat_statements installed (scripts/with-postgres
/// preloads it), so the doctor can quote the statement that took the time;
/// its URL and a client of it.
pub async fn database_with_statements(admin: &str, name: &str) -> (String, tokio_postgres::Client) {
    let url = fresh_database(admin, name).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    (url, client)
}

/// A new, empty PostgreSQL database next to `admin`'s (dropped first if a
/// previous run left it); its URL.
pub async fn fresh_database(admin: &str, name: &str) -> String {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let name = format!("{name}{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        client.batch_execute(&sql).await.unwrap();
    }
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

/// `barista serve` on a free port over `url` (any database), with extra flags;
/// no metrics listener unless `extra` gives `--metrics-listen`. Waits for its
/// address line (and the metrics line).
pub fn serve_url(url: &str, extra: &[&str]) -> Served {
    let metrics = extra.contains(&"--metrics-listen");
    let mut c = Command::new(BIN);
    c.args(["serve", "--listen", "127.0.0.1:0", "--database", url]);
    if !metrics {
        c.args(["--metrics-listen", "off"]);
    }
    c.args(extra);
    serve(c, usize::from(metrics))
}

/// `n` servers started at the same moment, each by `start`.
pub fn start_together(n: usize, start: impl Fn() -> Served + Sync) -> Vec<Served> {
    std::thread::scope(|s| {
        let starting: Vec<_> = (0..n).map(|_| s.spawn(&start)).collect();
        starting.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Stops every server and returns the staff keys they printed.
pub fn printed_keys(servers: &mut [Served]) -> Vec<String> {
    servers
        .iter_mut()
        .flat_map(|s| s.stop())
        .filter_map(|l| l.trim().starts_with("bsk_").then(|| l.trim().to_owned()))
        .collect()
}

/// Every order of `shop`, read page by page as its staff; each order is
/// listed once (a duplicate fails here).
pub async fn every_order(
    c: &reqwest::Client,
    base: &str,
    shop: &str,
    key: &str,
) -> Vec<serde_json::Value> {
    let mut stored = vec![];
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = c
            .get(format!(
                "{base}/v1/shops/{shop}/orders?limit=200&cursor={cursor}"
            ))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stored.extend(page["orders"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let ids: std::collections::HashSet<&str> =
        stored.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), stored.len(), "no order is stored twice");
    stored
}

/// The stock left of the first item on `shop`'s menu.
pub async fn first_item_stock(c: &reqwest::Client, base: &str, shop: &str) -> i64 {
    let menu: serde_json::Value = json_of(c.get(format!("{base}/v1/shops/{shop}/menu"))).await;
    menu["items"][0]["stock"].as_i64().unwrap()
}

/// A shop made through the admin API with one item, `bun`, of `stock`; its staff key.
pub async fn shop_with_buns(
    c: &reqwest::Client,
    base: &str,
    admin: &str,
    slug: &str,
    stock: i64,
) -> String {
    let created: serde_json::Value = json_of(
        c.post(format!("{base}/v1/shops"))
            .bearer_auth(admin)
            .json(&serde_json::json!({"slug": slug, "name": "Test shop", "currency": "EUR"})),
    )
    .await;
    let key = created["staff_key"].as_str().unwrap().to_owned();
    let put = c
        .put(format!("{base}/v1/shops/{slug}/menu/items/bun"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "Bun", "category": "pastry", "price_cents": 300, "stock": stock}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    key
}

/// Sends `req` and reads its JSON answer.
pub async fn json_of(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// nginx with the shipped config (deploy/nginx) in front of `bases`, as one
/// process (`master_process off`, so stopping it leaves no worker behind), on
/// a free port; with `tag`, it adds the upstream it used as `X-Upstream`.
pub struct Nginx {
    child: Child,
    pub url: String,
    _work: tempfile::TempDir,
}

impl Nginx {
    pub fn start(bases: &[&str], tag: bool) -> Nginx {
        Nginx::start_with(bases, tag, "")
    }

    /// The same, with `directives` added to its proxied location.
    pub fn start_with(bases: &[&str], tag: bool, directives: &str) -> Nginx {
        let nginx_bin = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|b| Command::new(b).arg("-v").output().is_ok())
            .expect("nginx (Debian's package; scripts/test installs it)");
        let work = tempfile::tempdir().unwrap();
        let lb_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let template = include_str!("../../../../deploy/nginx/barista.conf");
        // The replicas in both upstreams (requests, and streams).
        let servers: Vec<String> = bases
            .iter()
            .map(|b| format!("server {} max_fails=0;", b.trim_start_matches("http://")))
            .collect();
        let cache = work.path().join("cache");
        let mut config = template
            .replace(
                "server 127.0.0.1:8081 max_fails=0;\n    server 127.0.0.1:8082 max_fails=0;",
                &servers.join("\n    "),
            )
            .replace("/var/cache/nginx/barista", cache.to_str().unwrap())
            .replace(
                "listen 127.0.0.1:8080",
                &format!("listen 127.0.0.1:{lb_port}"),
            )
            .replace(
                "worker_processes auto;",
                &format!(
                    "pid {}/nginx.pid;\nerror_log {}/error.log;",
                    work.path().display(),
                    work.path().display()
                ),
            );
        config = config.replacen(
            "proxy_pass http://barista;",
            &format!("proxy_pass http://barista;\n      {directives}"),
            1,
        );
        if tag {
            config = config.replace(
                "proxy_set_header Host $host;",
                "proxy_set_header Host $host;\n      add_header X-Upstream $upstream_addr;",
            );
        }
        let conf = work.path().join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(nginx_bin)
            .args([
                "-c",
                conf.to_str().unwrap(),
                "-g",
                "daemon off; master_process off;",
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{lb_port}");
        // Up once it accepts connections.
        let up = (0..200).any(|_| {
            if std::net::TcpStream::connect(("127.0.0.1", lb_port)).is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        });
        assert!(up, "nginx listens on {url}");
        Nginx {
            child,
            url,
            _work: work,
        }
    }
}

impl Nginx {
    /// What nginx logged (why it answered 502, say).
    #[allow(dead_code)]
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self._work.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
