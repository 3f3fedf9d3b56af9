//! Barista's HTTP/1.1 reader against three others, on a corpus of RFC 9112
//! edge cases, request-smuggling shapes (CL.TE, TE.CL, obfuscated
//! `Transfer-Encoding`, bad chunk sizes, bare LF, obs-fold, ...) and heads
//! mutated from valid requests (`http_conformance/corpus.py`):
//!
//! - Debian's nginx with the shipped config (deploy/nginx) in front of a
//!   recording back end: where both read a request, Barista reads the same
//!   boundary (method, target, body);
//! - h11 and httptools (llhttp), two parsers written apart from it
//!   (`http_conformance/references.py`): where Barista reads the bytes
//!   differently from both, it is the stricter one (it reads fewer requests,
//!   each as they read it).
//!
//! Barista's reading is `barista_http::read_requests`: the functions its
//! connection loop reads with. The summary is printed (`--nocapture`).

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, Uri};
use barista_http::Read;
use common::Nginx;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as a reader saw it: method, target (path and query), body.
type Message = (String, String, Vec<u8>);

fn here(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/http_conformance")
        .join(file)
}

/// The path and query of a target (an absolute-form target's too).
fn path_of(target: &str) -> String {
    target
        .parse::<Uri>()
        .ok()
        .and_then(|u| u.path_and_query().map(|p| p.as_str().to_owned()))
        .unwrap_or_else(|| target.to_owned())
}

fn messages(value: &Value) -> Vec<Message> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let hex = m[2].as_str().unwrap();
            let body = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (
                m[0].as_str().unwrap().to_owned(),
                path_of(m[1].as_str().unwrap()),
                body,
            )
        })
        .collect()
}

/// Whether `strict` read a prefix of what `other` read: fewer requests (or
/// as many), each the same.
fn no_more_than(strict: &[Message], other: &[Message]) -> bool {
    strict.len() <= other.len() && strict.iter().zip(other).all(|(a, b)| a == b)
}

type Recorded = Arc<Mutex<Vec<Message>>>;

async fn record(
    State(seen): State<Recorded>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> &'static str {
    let target = uri
        .path_and_query()
        .map_or(uri.path().to_owned(), |p| p.as_str().to_owned());
    seen.lock()
        .unwrap()
        .push((method.to_string(), target, body.to_vec()));
    "ok"
}

/// What nginx passed on of `payload`, sent on a connection of its own.
fn through_nginx(nginx: &str, payload: &[u8], seen: &Recorded) -> Vec<Message> {
    let address = nginx.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(payload);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = vec![];
    let _ = stream.read_to_end(&mut answer);
    // What nginx still passes on after closing: the back end goes quiet.
    let mut count = seen.lock().unwrap().len();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(15));
        let now = seen.lock().unwrap().len();
        if now == count {
            break;
        }
        count = now;
    }
    std::mem::take(&mut *seen.lock().unwrap())
}

#[derive(Default)]
struct Tally {
    cases: usize,
    same_as_h11: usize,
    same_as_llhttp: usize,
    stricter_than_both: usize,
    lenient: Vec<String>,
    against_nginx: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barista_reads_every_boundary_as_nginx_does_and_is_never_the_lenient_one() {
    let test = "barista_reads_every_boundary_as_nginx_does_and_is_never_the_lenient_one";
    let Some(python) = barista_testkit::require(
        test,
        "http-references",
        "BARISTA_TEST_HTTP_PYTHON",
        "a Python with h11 and httptools; scripts/test installs them into target/venv",
    ) else {
        return;
    };
    let corpus = Command::new(&python)
        .arg(here("corpus.py"))
        .output()
        .unwrap();
    assert!(corpus.status.success(), "{:?}", corpus);
    let cases: Vec<Value> = serde_json::from_slice(&corpus.stdout).unwrap();
    let mut references = Command::new(&python)
        .arg(here("references.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    references
        .stdin
        .take()
        .unwrap()
        .write_all(&corpus.stdout)
        .unwrap();
    let references = references.wait_with_output().unwrap();
    assert!(references.status.success());
    let readings: BTreeMap<String, Value> = serde_json::from_slice(&references.stdout).unwrap();

    // The recording back end, and nginx as shipped in front of it.
    let seen: Recorded = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(record)
        .with_state(seen.clone());
    tokio::spawn(barista_http::serve::<_, axum::body::Body, _>(
        listener,
        app,
        barista_http::Config::new(barista_http::Limits::default()),
        barista_http::Stop::on(std::future::pending()),
    ));
    // The client half-closes once it has sent its bytes; nginx then still
    // passes on what it read (by default it would drop a request whose
    // client went).
    let nginx = Nginx::start_with(&[backend.as_str()], false, "proxy_ignore_client_abort on;");

    let mut by_class: BTreeMap<String, Tally> = BTreeMap::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let hex = case["hex"].as_str().unwrap();
        let payload: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let (read, _) = barista_http::read_requests(&payload, 64 * 1024);
        let barista: Vec<Message> = read
            .into_iter()
            .map(
                |Read {
                     method,
                     target,
                     body,
                 }| (method, path_of(&target), body),
            )
            .collect();
        let h11 = messages(&readings[name]["h11"]["messages"]);
        let llhttp = messages(&readings[name]["llhttp"]["messages"]);
        let passed_on = {
            let seen = seen.clone();
            let nginx = nginx.url.clone();
            tokio::task::spawn_blocking(move || through_nginx(&nginx, &payload, &seen))
                .await
                .unwrap()
        };
        let tally = by_class
            .entry(case["class"].as_str().unwrap().to_owned())
            .or_default();
        tally.cases += 1;
        tally.same_as_h11 += usize::from(barista == h11);
        tally.same_as_llhttp += usize::from(barista == llhttp);
        if barista != h11 && barista != llhttp {
            if no_more_than(&barista, &h11) && no_more_than(&barista, &llhttp) {
                tally.stricter_than_both += 1;
            } else {
                tally.lenient.push(format!(
                    "{name}: barista {barista:?}, h11 {h11:?}, llhttp {llhttp:?}"
                ));
            }
        }
        // Where both read a request, the same one; nginx may refuse where
        // Barista reads on, and the other way round.
        if barista.iter().zip(&passed_on).any(|(a, b)| a != b) {
            tally.against_nginx.push(format!(
                "{name}: barista {barista:?}, nginx passed on {passed_on:?}"
            ));
        }
    }
    println!(
        "{:<14} {:>6} {:>8} {:>8} {:>10} {:>8} {:>8}",
        "class", "cases", "=h11", "=llhttp", "stricter", "lenient", "!=nginx"
    );
    let mut failures = vec![];
    for (class, t) in &by_class {
        println!(
            "{class:<14} {:>6} {:>8} {:>8} {:>10} {:>8} {:>8}",
            t.cases,
            t.same_as_h11,
            t.same_as_llhttp,
            t.stricter_than_both,
            t.lenient.len(),
            t.against_nginx.len()
        );
        failures.extend(t.lenient.iter().chain(&t.against_nginx).cloned());
    }
    println!("{} payloads", cases.len());
    assert!(cases.len() >= 2000, "the corpus is whole");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
