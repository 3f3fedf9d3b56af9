//! Health, the OpenAPI document, and the answers for unknown routes and methods.

use crate::error::ApiError;
use crate::extract::IfNoneMatch;
use crate::problem::Code;
use crate::respond::{cacheable, json_response};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;

/// Liveness: answers as long as the process does; never touches the database.
pub async fn healthz() -> Response {
    json_response(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// Readiness: the database answers and the server is not shutting down.
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    if state.is_stopping() {
        return Err(ApiError::unavailable(
            Code::Unavailable,
            "the server is shutting down",
        ));
    }
    state.store.ping().await.map_err(|e| {
        // During a failover this says so: the old primary's connections
        // fail, and a new one waits for a server that takes writes.
        ApiError::unavailable(
            Code::Unavailable,
            format!("the database does not answer as a primary: {e}"),
        )
    })?;
    Ok(json_response(StatusCode::OK, r#"{"status":"ready"}"#))
}

pub async fn openapi(
    State(state): State<AppState>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Response {
    let (json, etag) = state.documents.openapi();
    cacheable(json.clone(), etag, if_none_match.as_ref())
}

pub async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

pub async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
