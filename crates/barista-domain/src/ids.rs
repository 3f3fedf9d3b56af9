//! Identifiers parsed at the edge: shop slugs, item ids, order ids, currencies and
//! idempotency keys. Each `parse` says exactly what is wrong with a bad value.

use serde::{Serialize, Serializer};
use std::fmt;

fn is_slug_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn parse_slug_like(value: &str, min: usize, max: usize) -> Result<(), String> {
    if value.len() < min || value.len() > max {
        return Err(format!("must be {min} to {max} characters long"));
    }
    if !value.chars().all(is_slug_char) {
        return Err("may contain only a-z, 0-9 and -".into());
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses a client-supplied value; the error says why it was refused.
            pub fn parse(value: &str) -> Result<Self, String> {
                parse_slug_like(value, $min, $max)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        /// Read back from what this build stored: parsed like a client's value.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A shop's public name in URLs: 3 to 40 of `a-z`, `0-9`, `-`. The tenant key.
    Slug, 3, 40
);
string_id!(
    /// A menu item's id within its shop: 1 to 40 of `a-z`, `0-9`, `-`.
    ItemId, 1, 40
);

/// An order id: a UUIDv4, 122 random bits from the operating system's CSPRNG.
/// It is a customer's only credential for their order, so it says nothing
/// about when it was made or about any other order (a UUIDv7 would give away
/// all but about 32 bits to someone ordering in the same millisecond). Orders
/// are kept in time order by their `created_at`, not by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(pub uuid::Uuid);

impl OrderId {
    /// A fresh id for an order placed now.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        // Only the canonical hyphenated lower-case form, so one order has one URL.
        let id = uuid::Uuid::try_parse(value).map_err(|_| "is not a UUID".to_string())?;
        if id.hyphenated().to_string() != value {
            return Err("is not a UUID in canonical lower-case form".into());
        }
        Ok(Self(id))
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl Serialize for OrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An ISO 4217 code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(value: &str) -> Result<Self, String> {
        let bytes = value.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err("must be an ISO 4217 code: three upper-case letters".into());
        }
        Ok(Self([bytes[0], bytes[1], bytes[2]]))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_three_to_forty_lower_case_characters() {
        assert!(Slug::parse("blue-door").is_ok());
        assert!(Slug::parse("abc").is_ok());
        assert!(Slug::parse(&"a".repeat(40)).is_ok());
        assert!(Slug::parse("ab").is_err());
        assert!(Slug::parse(&"a".repeat(41)).is_err());
        assert!(Slug::parse("Blue-Door").is_err());
        assert!(Slug::parse("blue door").is_err());
        assert!(Slug::parse("blué").is_err());
    }

    #[test]
    fn item_ids_may_be_one_character() {
        assert!(ItemId::parse("x").is_ok());
        assert!(ItemId::parse("").is_err());
        assert!(ItemId::parse("flat_white").is_err());
    }

    #[test]
    fn order_ids_accept_only_canonical_uuids() {
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(OrderId::parse(id).unwrap().to_string(), id);
        assert!(OrderId::parse(&id.to_uppercase()).is_err());
        assert!(OrderId::parse("0190a1b2c3d47e5f8a9b0c1d2e3f4a5b").is_err());
        assert!(OrderId::parse("nope").is_err());
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("E1R").is_err());
    }
}
