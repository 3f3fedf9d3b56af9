//! Menu items: what a shop sells, at what price, and how many are left.

use crate::ids::{Currency, ItemId, Slug};
use crate::limits::{CATEGORY_MAX, DESCRIPTION_MAX, NAME_MAX, PRICE_MAX, STOCK_MAX};
use crate::validation::{FieldError, Invalid, Parsed, check_text};
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

/// The body of `PUT .../menu/items/{item}` as sent; [`ItemFields::parse`] makes it `ItemFields`.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemBody {
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

/// Every writable field of an item, parsed: only [`ItemFields::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFields {
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub available: bool,
    pub stock: Stock,
    _parsed: Parsed,
}

/// The body of `PATCH .../menu/items/{item}` as sent: any subset of the writable
/// fields. A field that is present must hold a value (`null` is refused), except
/// `stock`, where `null` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ItemPatchBody {
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

/// A field that, when present, must hold a value: `null` is refused, not taken as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A change to some fields of an item, parsed: only [`ItemPatch::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPatch {
    body: ItemPatchBody,
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
    pub fn parse(body: ItemBody) -> Result<Self, Invalid> {
        let mut errors = vec![];
        check_text(&mut errors, "name", &body.name, 1, NAME_MAX);
        check_text(
            &mut errors,
            "description",
            &body.description,
            0,
            DESCRIPTION_MAX,
        );
        check_text(&mut errors, "category", &body.category, 1, CATEGORY_MAX);
        check_price(&mut errors, body.price_cents);
        check_stock(&mut errors, body.stock);
        if !errors.is_empty() {
            return Err(Invalid(errors));
        }
        Ok(Self {
            name: body.name,
            description: body.description,
            category: body.category,
            price_cents: body.price_cents,
            available: body.available,
            stock: body.stock,
            _parsed: Parsed,
        })
    }

    /// The item these fields make, under `id`.
    pub fn into_item(self, id: ItemId) -> MenuItem {
        MenuItem {
            id,
            name: self.name,
            description: self.description,
            category: self.category,
            price_cents: self.price_cents,
            available: self.available,
            stock: self.stock,
        }
    }
}

impl ItemPatch {
    /// Checks every field given, reporting all failures at once.
    pub fn parse(body: ItemPatchBody) -> Result<Self, Invalid> {
        let mut errors = vec![];
        if let Some(name) = &body.name {
            check_text(&mut errors, "name", name, 1, NAME_MAX);
        }
        if let Some(description) = &body.description {
            check_text(&mut errors, "description", description, 0, DESCRIPTION_MAX);
        }
        if let Some(category) = &body.category {
            check_text(&mut errors, "category", category, 1, CATEGORY_MAX);
        }
        if let Some(price) = body.price_cents {
            check_price(&mut errors, price);
        }
        if let Some(stock) = body.stock {
            check_stock(&mut errors, stock);
        }
        if errors.is_empty() {
            Ok(Self { body })
        } else {
            Err(Invalid(errors))
        }
    }

    /// The item after this patch; `id` is unchanged.
    pub fn apply(&self, mut item: MenuItem) -> MenuItem {
        let b = self.body.clone();
        if let Some(v) = b.name {
            item.name = v;
        }
        if let Some(v) = b.description {
            item.description = v;
        }
        if let Some(v) = b.category {
            item.category = v;
        }
        if let Some(v) = b.price_cents {
            item.price_cents = v;
        }
        if let Some(v) = b.available {
            item.available = v;
        }
        if let Some(v) = b.stock {
            item.stock = v;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Result<ItemFields, Invalid> {
        ItemFields::parse(serde_json::from_str::<ItemBody>(json).unwrap())
    }

    fn patch(json: &str) -> ItemPatchBody {
        serde_json::from_str(json).unwrap()
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
        assert_eq!(patch(r#"{"name":"x"}"#).stock, None);
        assert_eq!(patch(r#"{"stock":null}"#).stock, Some(None));
        assert_eq!(patch(r#"{"stock":5}"#).stock, Some(Some(5)));
        for field in [
            "name",
            "description",
            "category",
            "price_cents",
            "available",
        ] {
            let null = format!(r#"{{"{field}":null}}"#);
            assert!(
                serde_json::from_str::<ItemPatchBody>(&null).is_err(),
                "{field}"
            );
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
        let after = ItemPatch::parse(patch(r#"{"price_cents":320,"stock":null}"#))
            .unwrap()
            .apply(item.clone());
        assert_eq!(after.price_cents, 320);
        assert_eq!(after.stock, None);
        assert_eq!(after.name, item.name);
        assert!(ItemPatch::parse(patch(r#"{"price_cents":-1}"#)).is_err());
    }
}
