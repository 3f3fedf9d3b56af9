//! Server-Sent Events. A stream reads its backlog from the events table after
//! its cursor, then takes the shop's events from the hub's one reader per shop
//! (`hub.rs`), so a reconnect with `Last-Event-ID` resumes exactly and 10,000
//! streams cost one read per batch of events. An order's stream ends after
//! the order's final status; a reconnect past it is 204.
//!
//! A shop's stream is ordered by the store's event positions (`id:` is the
//! position, `pos` or `tx.pos`); one order's stream by the order's versions
//! (`id:` is the version, which says nothing about other orders).

use crate::access::ShopAccess;
use crate::error::ApiError;
use crate::extract::PathOf;
use crate::hub::{Full, PAGE, Published, SubscribeError, Subscription};
use crate::problem::Code;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use barista_domain::{Order, OrderId, Pickup, Shop, Status, Timestamp};
use barista_store::EventPos;
use futures_util::{StreamExt, stream};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// Comment lines keep idle streams (and the proxies in front of them) open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

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

fn sse_event(id: String, data: &str) -> SseEvent {
    SseEvent::default().id(id).event("order").data(data)
}

/// Shortest time between two pickup estimates on one stream.
const PICKUP_EVERY: Duration = Duration::from_secs(2);
/// A new estimate this much away from the last one sent is worth sending.
const PICKUP_MOVED_MICROS: i64 = 5_000_000;

/// An order's stream while the order waits: its pickup estimate, sent
/// (as `event: pickup`, with no `id:`, so a resume is unaffected) when the
/// stream opens and again as the shop's queue moves.
struct PickupWatch {
    order: OrderId,
    placed_at: Timestamp,
    /// Set when the shop had an event: a queue read after it is due.
    due: Option<std::time::Instant>,
    not_before: tokio::time::Instant,
    last: Option<Pickup>,
}

impl PickupWatch {
    fn new(order: &Order) -> Option<PickupWatch> {
        matches!(order.status, Status::Placed | Status::Brewing).then(|| PickupWatch {
            order: order.id,
            placed_at: order.created_at,
            due: Some(
                std::time::Instant::now()
                    .checked_sub(crate::pickup::FRESH)
                    .unwrap_or_else(std::time::Instant::now),
            ),
            not_before: tokio::time::Instant::now(),
            last: None,
        })
    }

    /// The estimate to send now, if one is due and it moved.
    async fn next(&mut self, state: &AppState, shop: &Shop) -> Option<SseEvent> {
        let read_after = self.due.take()?;
        self.not_before = tokio::time::Instant::now() + PICKUP_EVERY;
        let mine = (&self.order, self.placed_at);
        let pickup = match state
            .queues
            .get(&*state.store, shop, read_after, mine)
            .await
        {
            Ok(pickup) => pickup,
            Err(e) => {
                tracing::warn!(error = %e, "no pickup estimate: the queue could not be read");
                return None;
            }
        };
        let moved = self.last.as_ref().is_none_or(|last| {
            last.ahead != pickup.ahead
                || (last.ready_at.micros() - pickup.ready_at.micros()).abs() >= PICKUP_MOVED_MICROS
        });
        if !moved {
            return None;
        }
        let data = serde_json::to_string(&pickup).ok()?;
        self.last = Some(pickup);
        Some(SseEvent::default().event("pickup").data(data))
    }
}

/// Where a stream is: after an event of the shop, or after a version of one order.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    Shop(EventPos),
    Order(OrderId, i64),
}

impl Cursor {
    fn id(&self, event: &Published) -> String {
        match self {
            Cursor::Shop(_) => event.pos.to_string(),
            Cursor::Order(..) => event.version.to_string(),
        }
    }

    fn passed(&mut self, event: &Published) {
        match self {
            Cursor::Shop(pos) => *pos = event.pos,
            Cursor::Order(_, version) => *version = event.version,
        }
    }

    /// Whether `event` is one this stream has yet to send.
    fn wants(&self, event: &Published) -> bool {
        match *self {
            Cursor::Shop(pos) => event.pos > pos,
            Cursor::Order(id, version) => event.order == id && event.version > version,
        }
    }
}

/// One stream: its backlog read from the store, then the shop's fan-out.
struct Follow {
    state: AppState,
    shop: Arc<Shop>,
    cursor: Cursor,
    pending: VecDeque<Published>,
    sub: Subscription,
    /// Reading the store, until a read comes back short.
    catching_up: bool,
    /// An order's stream ends after its order's final status.
    done: bool,
    /// An order's stream while its order waits.
    pickup: Option<PickupWatch>,
    draining: watch::Receiver<bool>,
    /// When a comment goes out if nothing else has, so proxies and clients
    /// keep a quiet stream open.
    quiet_until: tokio::time::Instant,
    /// Counts this stream as open until it is dropped.
    _open: crate::observe::StreamGuard,
}

impl Follow {
    async fn read(&self) -> barista_store::Result<Vec<barista_store::Event>> {
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
                if matches!(self.cursor, Cursor::Order(..)) && event.is_final {
                    self.done = true;
                }
                if !matches!(event.status, Status::Placed | Status::Brewing) {
                    self.pickup = None;
                }
                self.quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
                return Some((Ok(sse_event(id, &event.data)), self));
            }
            if self.done || *self.draining.borrow() {
                return None;
            }
            if let Some(watch) = &mut self.pickup
                && !self.catching_up
                && tokio::time::Instant::now() >= watch.not_before
                && let Some(event) = watch.next(&self.state, &self.shop).await
            {
                self.quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
                return Some((Ok(event), self));
            }
            let pickup_at = self
                .pickup
                .as_ref()
                .filter(|w| w.due.is_some())
                .map(|w| w.not_before);
            if self.catching_up {
                match self.read().await {
                    Ok(events) => {
                        self.catching_up = events.len() == PAGE;
                        self.pending.extend(events.into_iter().map(Published::from));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "an event stream could not read; retrying");
                        tokio::select! {
                            _ = self.draining.changed() => return None,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep_until(self.quiet_until) => {
                    self.quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
                    return Some((Ok(SseEvent::default().comment("")), self));
                }
                () = async {
                    match pickup_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
                batch = self.sub.batches.recv() => match batch {
                    Ok(batch) => {
                        let cursor = self.cursor;
                        self.pending.extend(batch.iter().filter(|e| cursor.wants(e)).cloned());
                        // The queue moved: an estimate read after this batch is due.
                        if let Some(watch) = &mut self.pickup
                            && watch.due.is_none()
                        {
                            watch.due = Some(std::time::Instant::now());
                        }
                    }
                    // Behind the fan-out: the store has everything, in order.
                    Err(RecvError::Lagged(_)) => self.catching_up = true,
                    // The shop's reader stopped (shutdown), or the shop changed
                    // hands (a new key, suspended, deleted): the client reconnects.
                    Err(RecvError::Closed) => return None,
                },
                _ = self.draining.changed() => return None,
            }
        }
    }
}

/// Where a stream starts: after `cursor`, with `first` sent first; with
/// `catching_up` it first reads the store after `cursor` (a `Last-Event-ID`
/// from long ago); `done` ends it at once (an order already final).
struct Start {
    cursor: Cursor,
    first: Option<SseEvent>,
    catching_up: bool,
    done: bool,
    pickup: Option<PickupWatch>,
}

/// A stream from `start`. `sub` was taken before its cursor was read, so a
/// change after the read comes through it.
fn follow(state: AppState, shop: Arc<Shop>, sub: Subscription, start: Start) -> Response {
    let Start {
        cursor,
        first,
        catching_up,
        done,
        pickup,
    } = start;
    let draining = state.draining.clone();
    let open = crate::observe::StreamGuard::new(state.metrics.clone());
    let follow = Follow {
        _open: open,
        state,
        shop,
        cursor,
        pending: VecDeque::new(),
        sub,
        catching_up,
        done,
        pickup,
        draining,
        quiet_until: tokio::time::Instant::now() + KEEP_ALIVE,
    };
    let events = stream::iter(first.map(Ok)).chain(stream::unfold(follow, Follow::next));
    Sse::new(events).into_response()
}

async fn subscribe(state: &AppState, shop: &Shop) -> Result<Subscription, ApiError> {
    state.hub.subscribe(shop).await.map_err(|e| match e {
        SubscribeError::Store(e) => e.into(),
        SubscribeError::Full(full) => ApiError::unavailable(
            Code::TooManyStreams,
            match full {
                Full::Server => "this replica holds as many event streams as it allows",
                Full::Shop => "this shop has as many event streams open as a replica allows",
            },
        ),
    })
}

pub async fn order_events(
    State(state): State<AppState>,
    ShopAccess(shop): ShopAccess,
    PathOf((_, id)): PathOf<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("no order `{id}`"));
    let order_id = OrderId::parse(&id).map_err(|_| not_found())?;
    let resume = last_event_id(&headers, |v| {
        (v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<i64>().ok())
            .flatten()
    })?;
    // Subscribed before the read: a change the read does not show comes
    // through the subscription (its event becomes readable only after it).
    let sub = subscribe(&state, &shop).await?;
    let order = state
        .store
        .order(&shop, order_id)
        .await?
        .ok_or_else(not_found)?;
    let final_seen = |version: i64| order.status.is_final() && version >= order.version;
    let stream = match resume {
        // Seen to its end: 204 tells an EventSource not to reconnect.
        Some(version) if final_seen(version) => return Ok(StatusCode::NO_CONTENT.into_response()),
        // Events after the client's version, from the store first.
        Some(version) => {
            let start = Start {
                cursor: Cursor::Order(order_id, version),
                first: None,
                catching_up: true,
                done: false,
                pickup: PickupWatch::new(&order),
            };
            follow(state, shop, sub, start)
        }
        // The current state first, then what the subscription brings.
        None => {
            let data = serde_json::to_string(&order).unwrap_or_default();
            let first = sse_event(order.version.to_string(), &data);
            let start = Start {
                cursor: Cursor::Order(order_id, order.version),
                first: Some(first),
                catching_up: false,
                done: order.status.is_final(),
                pickup: PickupWatch::new(&order),
            };
            follow(state, shop, sub, start)
        }
    };
    Ok(stream)
}

pub async fn shop_events(
    State(state): State<AppState>,
    ShopAccess(shop): ShopAccess,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resume = last_event_id(&headers, |v| v.parse::<EventPos>().ok())?;
    let sub = subscribe(&state, &shop).await?;
    let (after, catching_up) = match resume {
        Some(after) => (after, true),
        // From now: what becomes readable later comes through the subscription.
        None => (state.store.last_event(&shop).await?, false),
    };
    let start = Start {
        cursor: Cursor::Shop(after),
        first: None,
        catching_up,
        done: false,
        pickup: None,
    };
    Ok(follow(state, shop, sub, start))
}
