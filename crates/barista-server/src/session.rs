//! Staff sessions for browsers: the shop's staff key, exchanged once for a
//! cookie that an `EventSource` sends (it cannot send `Authorization`).
//!
//! The cookie is signed, not stored: `EXPIRY.NONCE.MAC`, the MAC an
//! HMAC-SHA256 keyed with the shop's stored staff-key hash. Every replica can
//! check it with what it already reads from the database, no session table and
//! no shared secret to configure; a new staff key ends every session of the
//! shop. It is `HttpOnly` (no script reads it), `SameSite=Strict`, limited to
//! the shop's API path, `Secure` when the request came over TLS (as a proxy in
//! front says with `X-Forwarded-Proto: https`), and lasts [`TTL`] (a shift).
//! Signing out clears it in the browser; a copy taken before then stays valid
//! until it expires (the price of keeping replicas stateless; a new staff key
//! revokes every copy).
//!
//! Writes authenticated by the cookie must also carry `X-CSRF-Token`, an HMAC of
//! the session's nonce that the page gets in the sign-in answer (or from
//! `GET .../session`): another site can make a browser send the cookie, but it
//! cannot read the token. Bearer-key requests need no token.

use crate::secret::{constant_time_eq, hex};
use axum::http::{HeaderMap, HeaderValue, header};
use barista_domain::Shop;
use barista_domain::hex::decode as unhex;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cookie's name.
pub const COOKIE: &str = "barista_staff";
/// The header a cookie-authenticated write carries.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const TTL: Duration = Duration::from_secs(12 * 3600);

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 (RFC 2104), keyed with `key`, over `message`.
fn signer(key: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length (a long one is hashed first).
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    signer(key, message).finalize().into_bytes().into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The MAC of a session: what its cookie signs.
fn mac(shop: &Shop, expires: u64, nonce: &str) -> HmacSha256 {
    let message = format!("session|{}|{expires}|{nonce}", shop.id);
    signer(&shop.staff_key_hash, message.as_bytes())
}

/// The CSRF token of the session with `nonce`.
fn csrf(shop: &Shop, nonce: &str) -> String {
    hex(&hmac(
        &shop.staff_key_hash,
        format!("csrf|{}|{nonce}", shop.id).as_bytes(),
    ))
}

/// A session just made: the cookie's value, its CSRF token, when it ends.
pub struct Issued {
    pub cookie: String,
    pub csrf: String,
    pub expires: u64,
}

pub fn issue(shop: &Shop) -> Result<Issued, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    let nonce = hex(&bytes);
    let expires = now() + TTL.as_secs();
    Ok(Issued {
        cookie: format!(
            "{expires}.{nonce}.{}",
            hex(&mac(shop, expires, &nonce).finalize().into_bytes())
        ),
        csrf: csrf(shop, &nonce),
        expires,
    })
}

/// A valid session of `shop`, read from its cookie.
pub struct Valid {
    pub csrf: String,
    pub expires: u64,
}

/// The session `value` (a cookie's) names, if it is `shop`'s, signed and unexpired.
pub fn check(value: &str, shop: &Shop) -> Option<Valid> {
    let mut parts = value.splitn(3, '.');
    let (expires, nonce, given) = (parts.next()?, parts.next()?, parts.next()?);
    let expires: u64 = expires.parse().ok()?;
    // Checked in constant time by the HMAC itself.
    let valid =
        unhex(given).is_some_and(|given| mac(shop, expires, nonce).verify_slice(&given).is_ok());
    (valid && expires > now()).then(|| Valid {
        csrf: csrf(shop, nonce),
        expires,
    })
}

/// The session cookie's value, if the request carries one.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        })
}

/// Whether the request's `X-CSRF-Token` is the session's.
pub fn csrf_matches(headers: &HeaderMap, session: &Valid) -> bool {
    headers
        .get(CSRF_HEADER)
        .is_some_and(|given| constant_time_eq(given.as_bytes(), session.csrf.as_bytes()))
}

/// The `Set-Cookie` that stores `value` for `shop`'s API (an empty value and
/// `Max-Age=0` clear it).
pub fn set_cookie(headers: &HeaderMap, shop: &Shop, value: &str, max_age: u64) -> HeaderValue {
    let tls = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if tls { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE}={value}; Path=/v1/shops/{}/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        shop.slug
    );
    HeaderValue::from_str(&text).expect("a cookie of hex digits, a slug and attributes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(hash: &[u8]) -> Shop {
        Shop {
            id: 7,
            slug: barista_domain::Slug::parse("blue-door").unwrap(),
            name: "Blue Door".into(),
            currency: barista_domain::Currency::parse("EUR").unwrap(),
            created_at: barista_domain::Timestamp(0),
            staff_key_hash: hash.to_vec(),
            suspended: false,
            version: 0,
        }
    }

    /// RFC 4231's test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_matches_rfc_4231() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, message, want) in cases {
            assert_eq!(hex(&hmac(key, message)), want);
        }
        assert_eq!(unhex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn a_session_is_valid_for_its_shop_only_and_not_once_changed() {
        let a = shop(b"key-hash-a");
        let issued = issue(&a).unwrap();
        let valid = check(&issued.cookie, &a).expect("valid for its shop");
        assert_eq!(valid.csrf, issued.csrf);
        assert!(
            check(&issued.cookie, &shop(b"key-hash-b")).is_none(),
            "a new key ends it"
        );
        let (expires, rest) = issued.cookie.split_once('.').unwrap();
        let later = format!("{}.{rest}", expires.parse::<u64>().unwrap() + 1);
        assert!(check(&later, &a).is_none(), "its expiry cannot be moved");
        assert!(check("", &a).is_none());
        assert!(check("1.2", &a).is_none());
        let past = format!("1.{}", rest.split_once('.').unwrap().0);
        assert!(check(&past, &a).is_none());
    }

    #[test]
    fn the_cookie_is_read_among_others_and_set_with_its_attributes() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; barista_staff=x.y.z; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers), Some("x.y.z"));
        let set = set_cookie(&headers, &shop(b"h"), "v", 60);
        assert_eq!(
            set,
            "barista_staff=v; Path=/v1/shops/blue-door/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(
            set_cookie(&headers, &shop(b"h"), "v", 60)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }
}
