//! Whole numbers as JSON Schema means them: `81` and `81.0` are the same
//! `integer`, so a client whose JSON library writes every number as a float is
//! not refused. A fractional value (`1.5`) or one beyond `i64` is still a
//! malformed body.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

struct WholeVisitor;

/// Largest magnitude an `f64` holds exactly; past it `81.0`-style values are not whole numbers we trust.
const EXACT_F64: f64 = 9_007_199_254_740_992.0;

impl Visitor<'_> for WholeVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v.abs() <= EXACT_F64 {
            Ok(v as i64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

/// `#[serde(deserialize_with = "whole::number")]` for an `i64` field.
pub(crate) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(WholeVisitor)
}

struct OptionalWhole;

impl<'de> Visitor<'de> for OptionalWhole {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
        number(d).map(Some)
    }
}

/// For an `Option<i64>` field where `null` is `None`.
pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(OptionalWhole)
}

/// For an `Option<i64>` field where absence is `None` (with `#[serde(default)]`).
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    number(d).map(Some)
}

/// For an `Option<Option<i64>>` field that tells absent (`None`) from `null` (`Some(None)`).
pub(crate) fn present_optional<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<i64>>, D::Error> {
    optional(d).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::number")]
        n: i64,
        #[serde(default, deserialize_with = "super::optional")]
        o: Option<i64>,
    }

    fn n(json: &str) -> Result<i64, String> {
        serde_json::from_str::<Body>(json)
            .map(|b| b.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        assert_eq!(n(r#"{"n": 81}"#), Ok(81));
        assert_eq!(n(r#"{"n": 81.0}"#), Ok(81));
        assert_eq!(n(r#"{"n": -3.0}"#), Ok(-3));
        assert_eq!(n(r#"{"n": 1e3}"#), Ok(1000));
        assert!(n(r#"{"n": 1.5}"#).is_err());
        assert!(n(r#"{"n": 1e300}"#).is_err());
        assert!(n(r#"{"n": 99999999999999999999}"#).is_err());
        assert!(n(r#"{"n": "2"}"#).is_err());
        assert!(n(r#"{"n": null}"#).is_err());
    }

    #[test]
    fn optional_numbers_take_null() {
        let b: Body = serde_json::from_str(r#"{"n": 1, "o": null}"#).unwrap();
        assert_eq!(b.o, None);
        let b: Body = serde_json::from_str(r#"{"n": 1, "o": 5.0}"#).unwrap();
        assert_eq!(b.o, Some(5));
        let b: Body = serde_json::from_str(r#"{"n": 1}"#).unwrap();
        assert_eq!(b.o, None);
    }
}
