//! A barista per shop, working as the board page does: it follows the shop's
//! event stream and claims the oldest order when one is placed, marks it
//! ready after the pace and hands it over after another; a refused (503)
//! "ready" or "collected" is pressed again after another pace.

use super::customer::status_of;
use super::shared::Shared;
use super::{Kind, slug};
use crate::http::{Conn, Failure, Keep, request_bytes};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a barista's board has shown: orders placed (counted), and when it
/// opened (anything placed before then is on the queue unseen).
#[derive(Default)]
struct BoardSeen {
    placed: AtomicU64,
    opened: AtomicU64,
    changed: tokio::sync::Notify,
}

pub(super) async fn barista(shared: Arc<Shared>, shop: usize, key: String) {
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
        let claimed = shared
            .send(&mut conn, Kind::Claim, shop, &claim, keep)
            .await;
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
        for (kind, status) in [(Kind::Ready, "ready"), (Kind::Collect, "collected")] {
            let body = serde_json::json!({ "status": status }).to_string();
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
                    shared.record(Kind::Board, opened.elapsed());
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
            Ok(Ok(status)) => shared.error(Kind::Board, Some(shop), format!("http_{status}")),
            Ok(Err(f)) => shared.error(Kind::Board, Some(shop), f.name().to_owned()),
            Err(_) => return, // the run ended
        }
        if !shared.pause(Duration::from_secs(1)).await {
            return;
        }
    }
}
