//! `ApiError`: every error Barista sends, as RFC 9457 problem details.
//!
//! Handlers and extractors return `ApiError`; store errors convert into it.
//! Server-side failures are logged here, once, with their cause, and the
//! client gets a generic message: never an internal detail.

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
}

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: vec![],
            retry_after: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid `Authorization: Bearer` credential is required",
        )
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", detail)
    }

    pub fn invalid(invalid: Invalid) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            invalid.to_string(),
        );
        e.errors = invalid.0;
        e
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(Invalid::one(field, message))
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
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

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
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
            StoreError::SlugTaken => Self::new(
                StatusCode::CONFLICT,
                "slug_taken",
                "a shop with this slug exists",
            ),
            StoreError::OutOfStock { item } => Self::new(
                StatusCode::CONFLICT,
                "out_of_stock",
                format!("not enough `{item}` left; nothing was taken"),
            ),
            StoreError::InvalidTransition(t) => {
                Self::new(StatusCode::CONFLICT, "invalid_transition", t.to_string())
            }
            StoreError::Invalid(invalid) => Self::invalid(invalid),
            StoreError::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            ),
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::unavailable("unavailable", "the database is unavailable; retry shortly")
            }
            StoreError::Config(cause) | StoreError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("/problems/{}", self.code),
            title: self.title(),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            errors: &self.errors,
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
