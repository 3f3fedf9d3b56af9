//! Browser sessions for staff (`crate::session`): sign in with the staff key,
//! read the session (its CSRF token, after a page reload), sign out.

use crate::access::ShopAccess;
use crate::auth::is_staff_key;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::respond::{created, json_response, to_json};
use crate::session;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use barista_domain::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCreate {
    pub staff_key: String,
}

#[derive(Serialize)]
struct Session {
    /// Send as `X-CSRF-Token` with every write; `null` when the request used a staff key.
    csrf_token: Option<String>,
    expires_at: Option<Timestamp>,
}

fn at(seconds: u64) -> Timestamp {
    Timestamp(i64::try_from(seconds).unwrap_or(i64::MAX / 1_000_000) * 1_000_000)
}

/// `POST /v1/shops/{shop}/session`: the staff key for a session cookie.
pub async fn create_session(
    shop: ShopAccess,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SessionCreate>,
) -> Result<Response, ApiError> {
    if !is_staff_key(&body.staff_key, &shop) {
        return Err(ApiError::unauthorized());
    }
    let issued = session::issue(&shop)?;
    let body = to_json(&Session {
        csrf_token: Some(issued.csrf),
        expires_at: Some(at(issued.expires)),
    })?;
    let mut response = created(&format!("/v1/shops/{}/session", shop.slug), body);
    let cookie = session::set_cookie(&headers, &shop, &issued.cookie, session::TTL.as_secs());
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("a header value"),
    );
    Ok(response)
}

/// `GET /v1/shops/{shop}/session`: the session this request carries.
pub async fn get_session(shop: ShopAccess, headers: HeaderMap) -> Result<Response, ApiError> {
    let valid = session::cookie(&headers).and_then(|value| session::check(value, &shop));
    let bearer = headers.contains_key(header::AUTHORIZATION);
    let body = match valid {
        Some(valid) if !bearer => Session {
            csrf_token: Some(valid.csrf),
            expires_at: Some(at(valid.expires)),
        },
        _ => Session {
            csrf_token: None,
            expires_at: None,
        },
    };
    let mut response = json_response(StatusCode::OK, to_json(&body)?);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("a header value"),
    );
    Ok(response)
}

/// `DELETE /v1/shops/{shop}/session`: sign out (the browser drops the cookie).
pub async fn delete_session(shop: ShopAccess, headers: HeaderMap) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let cookie = session::set_cookie(&headers, &shop, "", 0);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}
