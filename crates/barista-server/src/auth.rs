//! Credentials as requests present them: the admin token and a shop's staff
//! key as `Authorization: Bearer`, or a staff browser session
//! (`crate::session`). The secrets themselves and their comparison are
//! `crate::secret`'s.

use crate::error::ApiError;
use crate::problem::Code;
use crate::secret::{Secret, constant_time_eq, same_secret, sha256};
use crate::session;
use axum::http::{HeaderMap, Method, header};
use barista_domain::Shop;

/// The token of an `Authorization: Bearer ...` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `key` is this shop's staff key.
pub fn is_staff_key(key: &str, shop: &Shop) -> bool {
    constant_time_eq(&sha256(key.as_bytes()), &shop.staff_key_hash)
}

/// Passes only with this shop's own staff key, or a browser session of this
/// shop (`crate::session`); a write by session must carry its CSRF token.
pub fn require_staff(method: &Method, headers: &HeaderMap, shop: &Shop) -> Result<(), ApiError> {
    if let Some(key) = bearer(headers) {
        return if is_staff_key(key, shop) {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        };
    }
    let session = session::cookie(headers)
        .and_then(|value| session::check(value, shop))
        .ok_or_else(ApiError::unauthorized)?;
    if !method.is_safe() && !session::csrf_matches(headers, &session) {
        return Err(ApiError::new(
            Code::CsrfFailed,
            "a write with a session cookie must carry the session's `X-CSRF-Token`",
        ));
    }
    Ok(())
}

/// Admin routes do not exist (404) unless an admin token is configured.
pub fn require_admin(headers: &HeaderMap, token: Option<&Secret>) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::not_found("no such route"));
    };
    match bearer(headers) {
        Some(given) if same_secret(given.as_bytes(), token.expose().as_bytes()) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer tok".parse().unwrap());
        assert_eq!(bearer(&headers), Some("tok"));
        headers.insert(header::AUTHORIZATION, "Basic tok".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
