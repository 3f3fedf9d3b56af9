//! Credentials: the admin token and per-shop staff keys.
//!
//! Staff keys are 256 random bits, shown once and stored only as SHA-256
//! (a slow password hash buys nothing for keys this long). Comparisons run in
//! constant time so response timing says nothing about how close a guess was.

use crate::error::ApiError;
use crate::problem::Code;
use crate::session;
use axum::http::{HeaderMap, Method, header};
use barista_domain::Shop;
use sha2::{Digest, Sha256};

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// Compares two values of equal length in time that does not depend on where
/// they differ. Secrets are compared as SHA-256 digests ([`same_secret`]), so
/// their lengths never show either.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Whether a presented secret is the expected one: both are hashed first, so
/// the comparison takes the same time whatever their lengths and contents.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    constant_time_eq(&sha256(given), &sha256(expected))
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// A fresh staff key: `bsk_` and 64 hex digits.
pub fn new_staff_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("bsk_{}", hex(&bytes)))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(same_secret(b"token", b"token"));
        assert!(!same_secret(b"token", b"token-and-more"));
        assert!(!same_secret(b"", b"token"));
    }

    #[test]
    fn staff_keys_are_long_and_distinct() {
        let a = new_staff_key().unwrap();
        let b = new_staff_key().unwrap();
        assert_eq!(a.len(), 4 + 64);
        assert_ne!(a, b);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer tok".parse().unwrap());
        assert_eq!(bearer(&headers), Some("tok"));
        headers.insert(header::AUTHORIZATION, "Basic tok".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(****)");
    }
}
