//! Idempotency keys: a retried order is answered, never placed twice.
//!
//! A key is scoped to its shop. The request it came with is remembered as a
//! fingerprint of the parsed order, so spacing and field order do not matter.
//! The same key with the same order replays the first answer; with another
//! order it is refused (422 `idempotency_key_reused`).

use crate::order::NewOrder;
use sha2::{Digest, Sha256};

/// An `Idempotency-Key` header value: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(value: &[u8]) -> Result<Self, String> {
        if value.is_empty() || value.len() > 255 {
            return Err("must be 1 to 255 characters long".into());
        }
        if !value.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err("may contain only printable ASCII characters".into());
        }
        Ok(Self(String::from_utf8_lossy(value).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key with the fingerprint of the order it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequest {
    pub key: IdempotencyKey,
    pub fingerprint: Vec<u8>,
}

/// The key was seen before with a different order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReused;

impl IdempotentRequest {
    pub fn new(key: IdempotencyKey, order: &NewOrder) -> Self {
        // The canonical form of the parsed order: the same order, the same bytes.
        let canonical = serde_json::to_vec(order).unwrap_or_default();
        Self {
            key,
            fingerprint: Sha256::digest(canonical).to_vec(),
        }
    }

    /// Whether a key stored with `fingerprint` may answer this request again.
    pub fn replays(&self, fingerprint: &[u8]) -> Result<(), KeyReused> {
        if self.fingerprint == fingerprint {
            Ok(())
        } else {
            Err(KeyReused)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::NewOrderBody;

    fn order(json: &str) -> NewOrder {
        NewOrder::parse(serde_json::from_str::<NewOrderBody>(json).unwrap()).unwrap()
    }

    #[test]
    fn idempotency_keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse(b"a key with spaces ~").is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 256]).is_err());
        assert!(IdempotencyKey::parse(b"").is_err());
        assert!(IdempotencyKey::parse(b"tab\there").is_err());
        assert!(IdempotencyKey::parse("café".as_bytes()).is_err());
    }

    #[test]
    fn the_same_order_replays_and_another_is_refused() {
        let key = IdempotencyKey::parse(b"k1").unwrap();
        let first = IdempotentRequest::new(
            key.clone(),
            &order(r#"{"customer_name":"Ana","lines":[{"item_id":"tea","quantity":1}]}"#),
        );
        let spaced = IdempotentRequest::new(
            key.clone(),
            &order(
                r#"{ "lines": [ {"quantity": 1.0, "item_id": "tea"} ], "customer_name": "Ana" }"#,
            ),
        );
        assert_eq!(spaced.replays(&first.fingerprint), Ok(()));
        let other = IdempotentRequest::new(
            key,
            &order(r#"{"customer_name":"Ana","lines":[{"item_id":"tea","quantity":2}]}"#),
        );
        assert_eq!(other.replays(&first.fingerprint), Err(KeyReused));
    }
}
