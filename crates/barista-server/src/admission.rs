//! Admission control: past `max_in_flight` requests at once, answer a fast 503
//! `overloaded` instead of queueing, so admitted requests keep their latency.
//!
//! A hand-written tower service rather than `middleware::from_fn`: it sits on
//! every request, and this form costs one atomic permit and no allocation.
//! Health checks are exempt: an overloaded replica is alive, and must not be
//! restarted or taken out of rotation for being busy.

use crate::error::ApiError;
use crate::observe::Metrics;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_layer::Layer;
use tower_service::Service;

#[derive(Clone)]
pub struct AdmissionLayer {
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl AdmissionLayer {
    pub fn new(max_in_flight: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            metrics,
        }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;
    fn layer(&self, inner: S) -> Admission<S> {
        Admission {
            inner,
            permits: self.permits.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

pin_project! {
    /// The inner response future, holding its permit until the response is ready.
    pub struct Admitted<F> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedSemaphorePermit>,
        shed: Option<Response>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Admitted<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            None => Poll::Ready(Ok(this.shed.take().unwrap_or_default())),
        }
    }
}

impl<S> Service<Request> for Admission<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Admitted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let exempt = matches!(req.uri().path(), "/healthz" | "/readyz");
        let permit = if exempt {
            None
        } else {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.metrics.admission_rejections.inc();
                    let shed = ApiError::unavailable(
                        "overloaded",
                        "the server is at capacity; retry shortly",
                    );
                    return Admitted {
                        inner: None,
                        permit: None,
                        shed: Some(shed.into_response()),
                    };
                }
            }
        };
        Admitted {
            inner: Some(self.inner.call(req)),
            permit,
            shed: None,
        }
    }
}
