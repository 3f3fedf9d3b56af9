//! The observation and admission layer. For every request: its route template,
//! a request id (`x-request-id` kept when the client sends a sane one,
//! generated otherwise, and returned), admission control, the latency
//! histogram, and one log line (`barista::request`, at INFO) with id, method,
//! route, status, latency, shop and the client's address.
//!
//! One layer holding one shared `Arc`, wrapped once around the whole router:
//! a service stack is cloned for each connection and, inside the router, for
//! each request, so each `Arc` here is a reference count bounced between cores
//! (the profile of the menu path showed it).
//!
//! Admission control (`admission.rs` says what is refused and why): past
//! `max_in_flight` requests at once, or past the adaptive limit for requests
//! that go to the database, a fast 503 `overloaded` instead of queueing, so
//! admitted requests keep their latency. Health checks are exempt: an
//! overloaded replica is alive, and must not be restarted or taken out of
//! rotation for being busy.
//!
//! For the routes that go to the database, the request's time is split into
//! its parts (`barista_request_phase_seconds`): waiting for admission, waiting
//! for a database connection, on the connection, and the rest, the process
//! itself. The store adds its calls' figures to a task-local scope the layer
//! opens around the handler (`barista_store::timing`), so the handlers pass
//! nothing along.
//!
//! A request reaches the layer with its body read whole (`conn.rs` does it,
//! within the body timeout): a client that uploads slowly holds a connection,
//! never a slot that others need. A body the connection refused (408, 413, a
//! broken chunked body) is answered here, so it is logged and counted.

use super::admission::{Adaptive, Admitted, Class};
use super::metrics::{Metrics, PhaseTimes, method_index};
use super::routes::{MatchedRoute, RouteTemplates};
use crate::error::ApiError;
use crate::problem::Code;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use barista_http::{Peer, Refused};
use barista_store::timing::{self, RequestTiming};
use pin_project_lite::pin_project;
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::task::futures::TaskLocalFuture;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;
use tracing::instrument::Instrumented;

pub(crate) const REQUEST_ID: &str = "x-request-id";

/// What every request through the layer shares.
pub struct Shared {
    metrics: Arc<Metrics>,
    routes: Arc<RouteTemplates>,
    /// Requests admitted at once at most; 0 is no limit.
    max_in_flight: i64,
    /// The limit on requests that go to the database.
    database: Arc<Adaptive>,
}

#[derive(Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<Metrics>, routes: Arc<RouteTemplates>, max_in_flight: usize) -> Self {
        let database = Arc::new(Adaptive::new(if max_in_flight == 0 {
            usize::MAX >> 1
        } else {
            max_in_flight
        }));
        metrics.set_database_limit(database.clone());
        let max_in_flight = i64::try_from(max_in_flight).unwrap_or(i64::MAX);
        Self {
            shared: Arc::new(Shared {
                metrics,
                routes,
                max_in_flight,
                database,
            }),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

thread_local! {
    static NEXT_ID: Cell<u64> = Cell::new({
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        u64::from_le_bytes(seed)
    });
}

/// A fresh id: 16 hex digits, from a randomly seeded per-thread sequence
/// (the hex is written by hand: `format!` showed in the profile).
pub(crate) fn new_request_id() -> HeaderValue {
    let n = NEXT_ID.with(|c| {
        let n = c.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        c.set(n);
        n
    });
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 16];
    for (i, digit) in id.iter_mut().enumerate() {
        *digit = HEX[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("0"))
}

/// A client's id is kept if it is 1 to 128 visible ASCII characters.
fn client_request_id(value: &HeaderValue) -> bool {
    let b = value.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| (0x21..=0x7e).contains(c))
}

fn shop_of(path: &str) -> &str {
    path.strip_prefix("/v1/shops/")
        .and_then(|rest| rest.split('/').next())
        .filter(|s| s.len() <= 40)
        .unwrap_or("")
}

pin_project! {
    pub struct Observed<F> {
        // The handler, with its database calls counted (`barista_store::timing`).
        #[pin]
        inner: Option<TaskLocalFuture<RequestTiming, Instrumented<F>>>,
        // The answer when the request was shed instead of admitted.
        shed: Option<Response>,
        start: Instant,
        route: usize,
        method: Method,
        path: String,
        // The client's address, for the log line.
        peer: Option<std::net::SocketAddr>,
        request_id: HeaderValue,
        shared: Arc<Shared>,
        // Counted in flight (not exempt); released on drop.
        counted: bool,
        // A database slot, given back on drop.
        admitted: Option<Admitted>,
        // How long admission took (a route that goes to the database only).
        admission_wait_micros: Option<u64>,
        log: bool,
    }

    impl<F> PinnedDrop for Observed<F> {
        fn drop(this: Pin<&mut Self>) {
            if this.counted {
                this.shared.metrics.active_requests.add(-1);
            }
        }
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Observed<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut response, timing) = match this.inner.as_pin_mut() {
            Some(mut inner) => match std::task::ready!(inner.as_mut().poll(cx)) {
                Ok(response) => (response, inner.take_value()),
            },
            None => (this.shed.take().unwrap_or_default(), None),
        };
        let micros = this.start.elapsed().as_micros() as u64;
        let status = response.status().as_u16();
        let metrics = &this.shared.metrics;
        if metrics.enabled {
            metrics.observe_request(*this.route, method_index(this.method), status, micros);
            if let (Some(admission), Some(t)) = (*this.admission_wait_micros, timing) {
                let parts = PhaseTimes {
                    admission_wait_micros: admission,
                    pool_wait_micros: t.pool_wait_micros(),
                    database_micros: t.database_micros(),
                    round_trips: t.round_trips(),
                };
                metrics.observe_phases(*this.route, micros, parts);
            }
        }
        if *this.log {
            tracing::info!(
                target: "barista::request",
                request_id = %this.request_id.to_str().unwrap_or(""),
                method = %this.method,
                route = this.shared.routes.label(*this.route),
                status,
                latency_ms = micros as f64 / 1000.0,
                shop = shop_of(this.path),
                client = %this.peer.map_or(String::new(), |p| p.ip().to_string()),
                "request"
            );
        }
        response
            .headers_mut()
            .insert(REQUEST_ID, this.request_id.clone());
        Poll::Ready(Ok(response))
    }
}

/// The answer to a request head the connection refused (`barista_http`):
/// its problem, with a request id, as every answer has one.
pub(crate) fn refusal(
    refusal: barista_http::Refusal,
) -> axum::http::Response<http_body_util::Full<bytes::Bytes>> {
    let mut response = ApiError::from(refusal)
        .response::<String>()
        .map(|body| http_body_util::Full::new(bytes::Bytes::from(body)));
    response.headers_mut().insert(REQUEST_ID, new_request_id());
    response
}

/// A request turned away at admission.
struct Shed;

fn overloaded() -> Response {
    ApiError::unavailable(Code::Overloaded, "the server is at capacity; retry shortly")
        .into_response()
}

impl Shared {
    /// Admits a request of `class` (counting it in flight) or answers why not.
    fn admit(self: &Arc<Self>, class: Class) -> Result<Option<Admitted>, Shed> {
        if class == Class::Exempt {
            return Ok(None);
        }
        let in_flight = self.metrics.active_requests.add(1) + 1;
        let refuse = || {
            self.metrics.active_requests.add(-1);
            self.metrics.admission_rejections.inc();
            Shed
        };
        if self.max_in_flight > 0 && in_flight > self.max_in_flight {
            return Err(refuse());
        }
        if class == Class::Database {
            return match self.database.try_acquire() {
                Some(slot) => Ok(Some(slot)),
                None => Err(refuse()),
            };
        }
        Ok(None)
    }
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let shared = &self.shared;
        // Found at the door when the connection sorts requests into lanes.
        let matched = match req.extensions().get::<MatchedRoute>() {
            Some(matched) => *matched,
            None => shared.routes.matched(req.uri().path(), req.method()),
        };
        let route = matched.index;
        let request_id = match req.headers().get(REQUEST_ID) {
            Some(id) if client_request_id(id) => id.clone(),
            _ => new_request_id(),
        };
        // Unknown routes and methods cost only their 404 or 405.
        let class = matched.operation.map_or(Class::Cheap, |(class, _)| class);
        req.extensions_mut().insert(matched);
        let log = tracing::enabled!(target: "barista::request", tracing::Level::INFO);
        // Errors logged while handling the request carry its id, when logging is on.
        let span = if log {
            tracing::info_span!("request", request_id = %request_id.to_str().unwrap_or(""))
        } else {
            tracing::Span::none()
        };
        let method = req.method().clone();
        let path = if log {
            req.uri().path().to_owned()
        } else {
            String::new()
        };
        let mut observed = Observed {
            inner: None,
            shed: None,
            start,
            route,
            method,
            path,
            peer: log
                .then(|| req.extensions().get::<Peer>().map(|p| p.0))
                .flatten(),
            request_id,
            shared: self.shared.clone(),
            counted: false,
            admitted: None,
            admission_wait_micros: None,
            log,
        };
        if let Some(Refused(refusal)) = req.extensions_mut().remove::<Refused>() {
            observed.shed = Some(ApiError::from(refusal).into_response());
            return observed;
        }
        match shared.admit(class) {
            Ok(admitted) => {
                observed.counted = class != Class::Exempt;
                observed.admitted = admitted;
                if class == Class::Database {
                    observed.admission_wait_micros = Some(start.elapsed().as_micros() as u64);
                }
                observed.inner = Some(timing::in_request(self.inner.call(req).instrument(span)));
            }
            Err(Shed) => observed.shed = Some(overloaded()),
        }
        observed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_client_ids_are_kept_and_odd_ones_replaced() {
        assert!(client_request_id(&HeaderValue::from_static("abc-123")));
        assert!(!client_request_id(&HeaderValue::from_static("has space")));
        assert!(!client_request_id(
            &HeaderValue::from_str(&"x".repeat(129)).unwrap()
        ));
        let a = new_request_id();
        assert_eq!(a.len(), 16);
        assert_ne!(a, new_request_id());
    }

    #[test]
    fn the_shop_is_read_from_the_path() {
        assert_eq!(shop_of("/v1/shops/demo/menu"), "demo");
        assert_eq!(shop_of("/v1/shops"), "");
        assert_eq!(shop_of("/healthz"), "");
    }
}
