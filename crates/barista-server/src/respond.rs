//! The shapes of a handler's answers: JSON from serialized bytes, a 201
//! with its `Location`, a cacheable read with its validator.

use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// A JSON response from already-serialized bytes.
pub fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A 201 with the created resource's path in `Location` (built from validated ids).
pub fn created(location: &str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = json_response(StatusCode::CREATED, body);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// How long any cache (a browser, nginx's microcache) may keep a public read
/// before it revalidates it with `If-None-Match`: a change is seen within
/// about a second.
pub const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=1");

/// Whether an `If-None-Match` value matches `etag` (weak comparison, RFC 9110).
pub fn none_match(header: Option<&HeaderValue>, etag: &HeaderValue) -> bool {
    let (Some(value), Ok(etag)) = (header.and_then(|v| v.to_str().ok()), etag.to_str()) else {
        return false;
    };
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// A public JSON read with its strong validator: 304 with no body when the
/// client's `If-None-Match` holds `etag`, else 200 with `body`; both with
/// `ETag` and `Cache-Control` ([`CACHE_CONTROL`]).
pub fn cacheable(
    body: impl Into<axum::body::Body>,
    etag: &HeaderValue,
    if_none_match: Option<&HeaderValue>,
) -> Response {
    let mut response = if none_match(if_none_match, etag) {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        json_response(StatusCode::OK, body)
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    response
}

/// A strong tag of a body: the first 16 hex digits of its SHA-256, quoted.
pub fn digest_etag(body: &[u8]) -> HeaderValue {
    let hex = crate::secret::hex(&crate::secret::sha256(body));
    HeaderValue::from_str(&format!("\"{}\"", &hex[..16]))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

pub fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "serialization failed");
        ApiError::internal()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = HeaderValue::from_static("\"7-ab\"");
        let given = |v: &'static str| Some(HeaderValue::from_static(v));
        assert!(!none_match(None, &etag));
        assert!(none_match(given("\"6-aa\", W/\"7-ab\"").as_ref(), &etag));
        assert!(none_match(given("*").as_ref(), &etag));
        assert!(!none_match(given("\"7-ac\"").as_ref(), &etag));
    }
}
