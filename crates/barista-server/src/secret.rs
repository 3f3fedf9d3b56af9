//! Secrets and how they are compared: the admin token and staff keys never
//! show in logs, and every comparison runs in constant time (RustCrypto's
//! `subtle`) so response timing says nothing about how close a guess was.
//! Staff keys are 256 random bits, shown once and stored only as SHA-256 (a
//! slow password hash buys nothing for keys this long).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
    a.ct_eq(b).into()
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

pub use barista_domain::hex::encode as hex;

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
    fn secrets_do_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(****)");
    }
}
