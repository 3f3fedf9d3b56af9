//! `ApiError`: every error Barista sends, as RFC 9457 problem details.
//!
//! Handlers and extractors return `ApiError`; store errors convert into it.
//! Server-side failures are logged here, once, with their cause, and the
//! client gets a generic message: never an internal detail.

use crate::problem::Code;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use barista_domain::{FieldError, Invalid};
use barista_store::StoreError;
use serde::Serialize;

/// The wire form, fields in RFC 9457's order.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    ordering: Option<&'a barista_domain::Ordering>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds, for 429 and 503 (and a closed shop that says when it opens).
    pub retry_after: Option<u32>,
    /// For `shop_closed`: whether and when the shop takes orders again.
    pub ordering: Option<Box<barista_domain::Ordering>>,
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: vec![],
            retry_after: None,
            ordering: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(Code::NotFound, detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            Code::Unauthorized,
            "a valid `Authorization: Bearer` credential is required",
        )
    }

    pub fn suspended() -> Self {
        Self::new(
            Code::ShopSuspended,
            "this shop is suspended by the operator; nothing of it was deleted",
        )
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(Code::MalformedJson, detail)
    }

    pub fn invalid(invalid: Invalid) -> Self {
        let mut e = Self::new(Code::ValidationFailed, invalid.to_string());
        e.errors = invalid.0;
        e
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(Invalid::one(field, message))
    }

    /// A 503 (`Overloaded` or `Unavailable`), with `Retry-After`.
    pub fn unavailable(code: Code, detail: impl Into<String>) -> Self {
        let mut e = Self::new(code, detail);
        e.retry_after = Some(1);
        e
    }

    /// Converts a store error, naming the resource when it is `NotFound`.
    pub fn missing(what: String) -> impl FnOnce(StoreError) -> ApiError {
        move |e| match e {
            StoreError::NotFound => ApiError::not_found(what),
            other => other.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The generic 500: the cause is logged by whoever calls this, never sent.
    pub fn internal() -> Self {
        Self::new(Code::Internal, "an internal error occurred")
    }
}

impl From<getrandom::Error> for ApiError {
    fn from(e: getrandom::Error) -> Self {
        tracing::error!(error = %e, "no randomness");
        Self::internal()
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::invalid(invalid)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("no such resource"),
            StoreError::SlugTaken => Self::new(Code::SlugTaken, "a shop with this slug exists"),
            StoreError::Suspended => Self::suspended(),
            StoreError::OutOfStock { item } => Self::new(
                Code::OutOfStock,
                format!("not enough `{item}` left; nothing was taken"),
            ),
            StoreError::ItemUnavailable(lines) => {
                let mut e = Self::new(Code::ItemUnavailable, lines.to_string());
                e.errors = lines.0;
                e
            }
            StoreError::MenuConflict(why) => {
                let mut e = Self::new(Code::MenuConflict, why.to_string());
                e.errors = why.0;
                e
            }
            StoreError::Closed(ordering) => {
                let mut e = Self::new(Code::ShopClosed, ordering.refusal());
                e.retry_after = ordering.opens_at.map(|t| {
                    let secs = (t.micros() - barista_domain::Timestamp::now().micros()) / 1_000_000;
                    secs.clamp(1, i64::from(u32::MAX)) as u32
                });
                e.ordering = Some(ordering);
                e
            }
            StoreError::InvalidTransition(t) => Self::new(Code::InvalidTransition, t.to_string()),
            StoreError::Invalid(invalid) => Self::invalid(invalid),
            StoreError::IdempotencyKeyReused => Self::new(
                Code::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request body",
            ),
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::unavailable(
                    Code::Unavailable,
                    "the database is unavailable; retry shortly",
                )
            }
            StoreError::Config(cause) | StoreError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Self::internal()
            }
        }
    }
}

impl ApiError {
    /// The problem's JSON.
    pub(crate) fn problem_json(&self) -> String {
        let body = Problem {
            kind: self.code.type_uri(),
            title: self.code.entry().title,
            status: self.status().as_u16(),
            detail: &self.detail,
            code: self.code.as_str(),
            errors: &self.errors,
            ordering: self.ordering.as_deref(),
        };
        serde_json::to_string(&body).unwrap_or_default()
    }

    /// The problem as a response with any body type.
    pub(crate) fn response<B: From<String>>(&self) -> axum::http::Response<B> {
        let mut response = axum::http::Response::new(B::from(self.problem_json()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<barista_http::Refusal> for ApiError {
    /// What the connection refused, as a problem.
    fn from(refusal: barista_http::Refusal) -> Self {
        use barista_http::Refusal;
        let code = match refusal {
            Refusal::HeadTooLarge => Code::HeadersTooLarge,
            Refusal::Malformed(_) => Code::MalformedRequest,
            Refusal::UnsupportedCoding | Refusal::UnsupportedMethod => Code::NotImplemented,
            Refusal::BodyTooLarge(_) => Code::PayloadTooLarge,
            Refusal::BodyTimeout(_) => Code::RequestTimeout,
        };
        Self::new(code, refusal.detail())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.response()
    }
}
