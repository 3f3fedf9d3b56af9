//! Server-Sent Events. Streams read the `events` table after a cursor and are
//! only *woken* by the store's feed, so a reconnect with `Last-Event-ID`
//! resumes exactly, and a missed wake-up delays an event but never loses it.

use crate::access::ShopAccess;
use crate::error::ApiError;
use crate::extract::PathOf;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use barista_domain::OrderId;
use barista_domain::Shop;
use futures_util::{Stream, StreamExt, stream};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Events read from the table per query.
const PAGE: usize = 256;
/// Comment lines keep idle streams (and the proxies in front of them) open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid_field("Last-Event-ID", "must be an event id this server sent")
        })
}

fn sse_event(seq: i64, data: &str) -> SseEvent {
    SseEvent::default()
        .id(seq.to_string())
        .event("order")
        .data(data)
}

/// One stream's position in the shop's events.
struct Follow {
    state: AppState,
    shop: Arc<Shop>,
    order: Option<OrderId>,
    cursor: i64,
    pending: VecDeque<barista_store::Event>,
    wake: watch::Receiver<i64>,
    draining: watch::Receiver<bool>,
    retry_soon: bool,
    /// Counts this stream as open until it is dropped.
    _open: crate::observe::StreamGuard,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Follow)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.cursor = event.seq;
                return Some((Ok(sse_event(event.seq, &event.data)), self));
            }
            if *self.draining.borrow() {
                return None;
            }
            match self
                .state
                .store
                .events_after(&self.shop, self.cursor, self.order, PAGE)
                .await
            {
                Ok(events) if !events.is_empty() => {
                    self.pending.extend(events);
                    continue;
                }
                Ok(_) => self.retry_soon = false,
                Err(e) => {
                    tracing::warn!(error = %e, "an event stream could not read; retrying");
                    self.retry_soon = true;
                }
            }
            let retry = async {
                if self.retry_soon {
                    tokio::time::sleep(Duration::from_secs(1)).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                woken = self.wake.changed() => if woken.is_err() { return None },
                _ = self.draining.changed() => return None,
                () = retry => {}
            }
        }
    }
}

fn follow(
    state: AppState,
    shop: Arc<Shop>,
    order: Option<OrderId>,
    cursor: i64,
    wake: watch::Receiver<i64>,
    first: Option<SseEvent>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let draining = state.draining.clone();
    let open = crate::observe::StreamGuard::new(state.metrics.clone());
    let follow = Follow {
        _open: open,
        state,
        shop,
        order,
        cursor,
        pending: VecDeque::new(),
        wake,
        draining,
        retry_soon: false,
    };
    let events = stream::iter(first.map(Ok)).chain(stream::unfold(follow, Follow::next));
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

pub async fn order_events(
    State(state): State<AppState>,
    ShopAccess(shop): ShopAccess,
    PathOf((_, id)): PathOf<(String, String)>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let not_found = || ApiError::not_found(format!("no order `{id}`"));
    let order_id = OrderId::parse(&id).map_err(|_| not_found())?;
    let resume = last_event_id(&headers)?;
    // Subscribe before reading, so nothing committed after the read is missed.
    let wake = state.store.feed().subscribe(shop.id);
    let (cursor, first) = match resume {
        Some(after) => {
            state
                .store
                .order(&shop, order_id)
                .await?
                .ok_or_else(not_found)?;
            (after, None)
        }
        None => {
            // The cursor is read first: the order is at least that new, and a
            // change in between is sent again rather than missed.
            let cursor = state.store.last_event_seq(&shop).await?;
            let order = state
                .store
                .order(&shop, order_id)
                .await?
                .ok_or_else(not_found)?;
            let data = serde_json::to_string(&order).unwrap_or_default();
            (cursor, Some(sse_event(cursor, &data)))
        }
    };
    Ok(follow(state, shop, Some(order_id), cursor, wake, first))
}

pub async fn shop_events(
    State(state): State<AppState>,
    ShopAccess(shop): ShopAccess,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let resume = last_event_id(&headers)?;
    let wake = state.store.feed().subscribe(shop.id);
    let cursor = match resume {
        Some(after) => after,
        None => state.store.last_event_seq(&shop).await?,
    };
    Ok(follow(state, shop, None, cursor, wake, None))
}
