//! Request extractors whose every failure is an [`ApiError`], so a malformed
//! request gets the same problem+json shape as any other error.

use crate::error::ApiError;
use crate::problem::Code;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderValue, header, request::Parts};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

/// Largest request body accepted (docs/api.md: 413 above 64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body: `application/json`, at most 64 KiB, of the expected shape.
pub struct JsonBody<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "the body must be `Content-Type: application/json`",
            ));
        }
        let too_large = || {
            ApiError::new(
                Code::PayloadTooLarge,
                format!("the body must be at most {BODY_LIMIT} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut stream = req.into_body().into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| ApiError::malformed("the body could not be read"))?;
            if body.len() + chunk.len() > BODY_LIMIT {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(JsonBody)
            .map_err(|e| ApiError::malformed(format!("the body is not the expected JSON: {e}")))
    }
}

/// Path parameters; a path that cannot be decoded names no resource (404).
pub struct PathOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| PathOf(v))
            .map_err(|_| ApiError::not_found("no such resource"))
    }
}

/// The `If-None-Match` header alone: the menu read needs no other header,
/// and copying the whole map costs measurably on this path.
pub struct IfNoneMatch(pub Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types_may_carry_parameters() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json(""));
    }
}
