//! Menu items: what a shop sells, at what price, and how many are left.

use crate::ids::{Currency, ItemId, Slug};
use crate::limits::{CATEGORY_MAX, DESCRIPTION_MAX, NAME_MAX, PRICE_MAX, STOCK_MAX};
use crate::validation::{FieldError, Invalid, check_text};
use serde::{Deserialize, Deserializer, Serialize};

/// Units left: `None` is unlimited.
pub type Stock = Option<i64>;

/// A menu item as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MenuItem {
    pub id: ItemId,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub available: bool,
    pub stock: Stock,
}

/// A shop's whole menu, items ordered by category then id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Menu {
    pub shop: Slug,
    pub currency: Currency,
    pub version: i64,
    pub items: Vec<MenuItem>,
}

/// The writable fields of an item, validated: the body of `PUT .../items/{item}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemFields {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    #[serde(deserialize_with = "crate::whole::number")]
    pub price_cents: i64,
    #[serde(default = "yes")]
    pub available: bool,
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub stock: Stock,
}

fn yes() -> bool {
    true
}

/// A field that, when present, must hold a value: `null` is refused, not taken as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Any subset of the writable fields: the body of `PATCH .../items/{item}`.
/// `stock` distinguishes "absent" (`None`) from "set to unlimited" (`Some(None)`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ItemPatch {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "crate::whole::present")]
    pub price_cents: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub available: Option<bool>,
    /// Present (even as `null`) is `Some`.
    #[serde(default, deserialize_with = "crate::whole::present_optional")]
    pub stock: Option<Stock>,
}

fn check_price(errors: &mut Vec<FieldError>, price: i64) {
    if !(0..=PRICE_MAX).contains(&price) {
        errors.push(FieldError::new(
            "price_cents",
            format!("must be 0 to {PRICE_MAX}"),
        ));
    }
}

fn check_stock(errors: &mut Vec<FieldError>, stock: Stock) {
    if let Some(n) = stock
        && !(0..=STOCK_MAX).contains(&n)
    {
        errors.push(FieldError::new(
            "stock",
            format!("must be null (unlimited) or 0 to {STOCK_MAX}"),
        ));
    }
}

impl ItemFields {
    /// Checks every limit of docs/api.md, reporting all failures at once.
    pub fn validate(self) -> Result<Self, Invalid> {
        let mut errors = vec![];
        check_text(&mut errors, "name", &self.name, 1, NAME_MAX);
        check_text(
            &mut errors,
            "description",
            &self.description,
            0,
            DESCRIPTION_MAX,
        );
        check_text(&mut errors, "category", &self.category, 1, CATEGORY_MAX);
        check_price(&mut errors, self.price_cents);
        check_stock(&mut errors, self.stock);
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(Invalid(errors))
        }
    }
}

impl ItemPatch {
    pub fn validate(self) -> Result<Self, Invalid> {
        let mut errors = vec![];
        if let Some(name) = &self.name {
            check_text(&mut errors, "name", name, 1, NAME_MAX);
        }
        if let Some(description) = &self.description {
            check_text(&mut errors, "description", description, 0, DESCRIPTION_MAX);
        }
        if let Some(category) = &self.category {
            check_text(&mut errors, "category", category, 1, CATEGORY_MAX);
        }
        if let Some(price) = self.price_cents {
            check_price(&mut errors, price);
        }
        if let Some(stock) = self.stock {
            check_stock(&mut errors, stock);
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(Invalid(errors))
        }
    }

    /// The item after this patch; `id` is unchanged.
    pub fn apply(self, mut item: MenuItem) -> MenuItem {
        if let Some(v) = self.name {
            item.name = v;
        }
        if let Some(v) = self.description {
            item.description = v;
        }
        if let Some(v) = self.category {
            item.category = v;
        }
        if let Some(v) = self.price_cents {
            item.price_cents = v;
        }
        if let Some(v) = self.available {
            item.available = v;
        }
        if let Some(v) = self.stock {
            item.stock = v;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Result<ItemFields, Invalid> {
        serde_json::from_str::<ItemFields>(json).unwrap().validate()
    }

    #[test]
    fn put_body_defaults_description_availability_and_stock() {
        let f = fields(r#"{"name":"Flat white","category":"coffee","price_cents":380}"#).unwrap();
        assert_eq!(f.description, "");
        assert!(f.available);
        assert_eq!(f.stock, None);
    }

    #[test]
    fn every_limit_is_reported_at_once() {
        let err = fields(&format!(
            r#"{{"name":"","category":"{}","price_cents":1000001,"stock":-1}}"#,
            "c".repeat(41)
        ))
        .unwrap_err();
        let names: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["name", "category", "price_cents", "stock"]);
    }

    #[test]
    fn patch_tells_null_stock_from_absent_stock() {
        let absent: ItemPatch = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(absent.stock, None);
        let unlimited: ItemPatch = serde_json::from_str(r#"{"stock":null}"#).unwrap();
        assert_eq!(unlimited.stock, Some(None));
        let five: ItemPatch = serde_json::from_str(r#"{"stock":5}"#).unwrap();
        assert_eq!(five.stock, Some(Some(5)));
        for field in [
            "name",
            "description",
            "category",
            "price_cents",
            "available",
        ] {
            let null = format!(r#"{{"{field}":null}}"#);
            assert!(serde_json::from_str::<ItemPatch>(&null).is_err(), "{field}");
        }
    }

    #[test]
    fn patch_applies_only_the_given_fields() {
        let item = MenuItem {
            id: ItemId::parse("tea").unwrap(),
            name: "Tea".into(),
            description: "hot".into(),
            category: "tea".into(),
            price_cents: 300,
            available: true,
            stock: Some(3),
        };
        let patch: ItemPatch = serde_json::from_str(r#"{"price_cents":320,"stock":null}"#).unwrap();
        let after = patch.validate().unwrap().apply(item.clone());
        assert_eq!(after.price_cents, 320);
        assert_eq!(after.stock, None);
        assert_eq!(after.name, item.name);
        assert!(
            serde_json::from_str::<ItemPatch>(r#"{"price_cents":-1}"#)
                .unwrap()
                .validate()
                .is_err()
        );
    }
}
