//! `barista doctor --database`: what the database's sessions wait on, named in
//! the verdict. On a server with a planted hot row, and on Barista itself over
//! PostgreSQL during a flash sale (every order takes the same stocked item: a
//! hot row no design removes), the doctor names the row lock and its table.
//! Runs under scripts/with-postgres (scripts/test).

mod common;

use common::{BIN, database_with_statements, serve_url, shop_with_buns};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const PROBLEM: &str = env!("CARGO_BIN_EXE_barista-problem-server");

/// `barista doctor ARGS --json`: its diagnosis.
fn doctor(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("d.json");
    let out = Command::new(BIN)
        .arg("doctor")
        .args(args)
        .args([
            "--no-progress",
            "--budget",
            "12s",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    // 0, or 3 when the SLO fails already at one connection.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// Asserts pg_stat_statements put `statement` first, and the evidence quotes it.
fn quotes_the_statement(d: &Value, statement: &str) {
    let top = d["statements"][0]["query"].as_str().unwrap_or_default();
    assert!(top.contains(statement), "{:#}", d["statements"]);
    let evidence = d["evidence"].to_string();
    assert!(
        evidence.contains("pg_stat_statements:") && evidence.contains(statement),
        "{evidence}"
    );
}

/// Asserts the diagnosis names a row lock on `table`; prints what it said.
fn names_the_row_lock(d: &Value, table: &str) {
    let evidence = d["evidence"].to_string();
    println!("{}: {evidence}", d["verdict"]);
    assert!(
        evidence.contains("requests wait on a row lock in PostgreSQL")
            && evidence.contains(&format!("on table {table}")),
        "{d:#}"
    );
    let levels = d["levels"].as_array().unwrap();
    assert!(
        levels
            .iter()
            .any(|l| l["database_wait"]["kind"] == "a row lock"),
        "the levels carry what the sessions waited on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_names_the_row_lock_of_a_planted_hot_row_and_of_a_flash_sale() {
    let test = "the_doctor_names_the_row_lock_of_a_planted_hot_row_and_of_a_flash_sale";
    let Some(admin) = barista_testkit::postgres_url(test) else {
        return;
    };

    // The planted hot row: every request updates row 1 and holds it 2 ms.
    let (url, _db) = database_with_statements(&admin, "hotrow").await;
    let mut planted = Command::new(PROBLEM)
        .args(["--problem", "hot-row", "--database", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(planted.stdout.take().unwrap()).lines();
    let address = lines.next().expect("an address line").unwrap();
    let base = address.split_whitespace().last().unwrap().to_owned();
    let pid = planted.id().to_string();
    let d = doctor(&[
        &format!("{base}/"),
        "--pid",
        &pid,
        "--database",
        &url,
        "--max-connections",
        "32",
    ]);
    let _ = planted.kill();
    let _ = planted.wait();
    assert!(
        matches!(d["verdict"].as_str(), Some("contention" | "coherency")),
        "{d:#}"
    );
    names_the_row_lock(&d, "barista_hot_row");
    quotes_the_statement(&d, "UPDATE barista_hot_row");
    let steps = d["next_steps"].to_string();
    assert!(steps.contains("A hot row"), "{steps}");

    // Barista over PostgreSQL, a flash sale: every order takes the same bun.
    let (url, _db) = database_with_statements(&admin, "flash").await;
    let barista = serve_url(
        &url,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--no-demo",
            "--admin-token",
            "doctor-admin",
        ],
    );
    let client = reqwest::Client::new();
    shop_with_buns(&client, &barista.base, "doctor-admin", "flash", 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("sale.toml");
    std::fs::write(
        &scenario,
        r#"[[request]]
name = "order"
method = "POST"
path = "/v1/shops/flash/orders"
headers = { "Content-Type" = "application/json" }
body = '{"customer_name": "Sale", "lines": [{"item_id": "bun", "quantity": 1}]}'
"#,
    )
    .unwrap();
    let metrics = barista.metrics.clone().expect("a metrics listener");
    let d = doctor(&[
        &barista.base,
        "--scenario",
        scenario.to_str().unwrap(),
        "--metrics",
        &metrics,
        "--database",
        &url,
        "--max-connections",
        "64",
    ]);
    names_the_row_lock(&d, "menu_items");
    quotes_the_statement(&d, "menu_items");
}
