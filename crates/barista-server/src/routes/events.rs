//! Server-Sent Events. Streams read the events tables after a cursor and are
//! only *woken* by the store's feed, so a reconnect with `Last-Event-ID`
//! resumes exactly, and a missed wake-up delays an event but never loses it.
//!
//! A shop's stream is ordered by the store's event positions (`id:` is the
//! position, `pos` or `tx.pos`); one order's stream by the order's versions
//! (`id:` is the version, which says nothing about other orders).

use crate::access::ShopAccess;
use crate::error::ApiError;
use crate::extract::PathOf;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use barista_domain::{Order, OrderId, Shop};
use barista_store::{Event, EventPos};
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
/// How soon to read again when an event is known to be committed but an older
/// transaction still runs, so it is not yet readable (see `sql.rs`).
const BEHIND: Duration = Duration::from_millis(20);
/// A stream reads again at least this often, whatever it heard.
const RECHECK: Duration = Duration::from_secs(5);

/// `Last-Event-ID`, parsed as `parse` reads this stream's ids.
fn last_event_id<T>(
    headers: &HeaderMap,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| parse(v.trim()))
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid_field("Last-Event-ID", "must be an event id this server sent")
        })
}

fn sse_event(id: String, order: &Order) -> SseEvent {
    SseEvent::default()
        .id(id)
        .event("order")
        .data(serde_json::to_string(order).unwrap_or_default())
}

/// Where a stream is: after an event of the shop, or after a version of one order.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    Shop(EventPos),
    Order(OrderId, i64),
}

impl Cursor {
    fn id(&self, event: &Event) -> String {
        match self {
            Cursor::Shop(_) => event.pos.to_string(),
            Cursor::Order(..) => event.order.version.to_string(),
        }
    }

    fn passed(&mut self, event: &Event) {
        match self {
            Cursor::Shop(pos) => *pos = event.pos,
            Cursor::Order(_, version) => *version = event.order.version,
        }
    }

    /// Whether the shop has committed an event this stream has not read yet.
    fn behind(&self, latest: EventPos) -> bool {
        matches!(self, Cursor::Shop(pos) if latest > *pos)
    }
}

/// One stream's position in the shop's events.
struct Follow {
    state: AppState,
    shop: Arc<Shop>,
    cursor: Cursor,
    pending: VecDeque<Event>,
    wake: watch::Receiver<EventPos>,
    draining: watch::Receiver<bool>,
    /// Counts this stream as open until it is dropped.
    _open: crate::observe::StreamGuard,
}

impl Follow {
    async fn read(&self) -> barista_store::Result<Vec<Event>> {
        let store = &self.state.store;
        match self.cursor {
            Cursor::Shop(after) => store.events_after(&self.shop, after, PAGE).await,
            Cursor::Order(order, after) => {
                store
                    .order_events_after(&self.shop, order, after, PAGE)
                    .await
            }
        }
    }

    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Follow)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                let id = self.cursor.id(&event);
                self.cursor.passed(&event);
                return Some((Ok(sse_event(id, &event.order)), self));
            }
            if *self.draining.borrow() {
                return None;
            }
            let pause = match self.read().await {
                Ok(events) if !events.is_empty() => {
                    self.pending.extend(events);
                    continue;
                }
                Ok(_) if self.cursor.behind(*self.wake.borrow()) => BEHIND,
                Ok(_) => RECHECK,
                Err(e) => {
                    tracing::warn!(error = %e, "an event stream could not read; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                woken = self.wake.changed() => if woken.is_err() { return None },
                _ = self.draining.changed() => return None,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

fn follow(
    state: AppState,
    shop: Arc<Shop>,
    cursor: Cursor,
    wake: watch::Receiver<EventPos>,
    first: Option<SseEvent>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let draining = state.draining.clone();
    let open = crate::observe::StreamGuard::new(state.metrics.clone());
    let follow = Follow {
        _open: open,
        state,
        shop,
        cursor,
        pending: VecDeque::new(),
        wake,
        draining,
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
    let resume = last_event_id(&headers, |v| {
        (v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<i64>().ok())
            .flatten()
    })?;
    // Subscribe before reading, so nothing committed after the read is missed.
    let wake = state.store.feed().subscribe(shop.id);
    let order = state
        .store
        .order(&shop, order_id)
        .await?
        .ok_or_else(not_found)?;
    let (after, first) = match resume {
        Some(version) => (version, None),
        // The current state first; a change after the read is sent again rather than missed.
        None => (
            order.version,
            Some(sse_event(order.version.to_string(), &order)),
        ),
    };
    Ok(follow(
        state,
        shop,
        Cursor::Order(order_id, after),
        wake,
        first,
    ))
}

pub async fn shop_events(
    State(state): State<AppState>,
    ShopAccess(shop): ShopAccess,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let resume = last_event_id(&headers, |v| v.parse::<EventPos>().ok())?;
    let wake = state.store.feed().subscribe(shop.id);
    let after = match resume {
        Some(after) => after,
        None => state.store.last_event(&shop).await?,
    };
    Ok(follow(state, shop, Cursor::Shop(after), wake, None))
}
