//! Menu items: what a shop sells, at what price, and how many are left.

use crate::ids::{Currency, ItemId, Slug};
use crate::limits::{CATEGORY_MAX, DESCRIPTION_MAX, NAME_MAX, PRICE_MAX, STOCK_MAX};
use crate::options::{ModifierGroup, Variation, VariationBody, parse_group_ids, parse_variations};
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
    /// Its sizes, the first the default; none is one implicit size at `price_cents`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variations: Vec<Variation>,
    /// The ids of the shop's modifier groups it offers, in the order shown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modifier_groups: Vec<ItemId>,
}

impl MenuItem {
    /// Whether it has sizes or choices beyond a plain item.
    pub fn has_options(&self) -> bool {
        !self.variations.is_empty() || !self.modifier_groups.is_empty()
    }
}

/// A shop's whole menu, items ordered by category then id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Menu {
    pub shop: Slug,
    pub currency: Currency,
    pub version: i64,
    /// Whether the shop takes orders now, and when that changes.
    pub ordering: crate::schedule::Ordering,
    pub items: Vec<MenuItem>,
    /// The shop's modifier groups, by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modifier_groups: Vec<ModifierGroup>,
}

/// The body of `PUT .../menu/items/{item}` as sent; [`ItemFields::parse`] makes it `ItemFields`.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    /// Required without variations; with them, the first one's price (or left out).
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub price_cents: Option<i64>,
    #[serde(default = "yes")]
    pub available: bool,
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub stock: Stock,
    #[serde(default)]
    pub variations: Vec<VariationBody>,
    #[serde(default)]
    pub modifier_groups: Vec<String>,
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
    pub variations: Vec<Variation>,
    pub modifier_groups: Vec<ItemId>,
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
    #[serde(default, deserialize_with = "present")]
    pub variations: Option<Vec<VariationBody>>,
    #[serde(default, deserialize_with = "present")]
    pub modifier_groups: Option<Vec<String>>,
}

/// A field that, when present, must hold a value: `null` is refused, not taken as absent.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A change to some fields of an item, parsed: only [`ItemPatch::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPatch {
    body: ItemPatchBody,
    variations: Option<Vec<Variation>>,
    modifier_groups: Option<Vec<ItemId>>,
}

/// With sizes, an item's `price_cents` is its first size's price: what a
/// client that knows nothing of sizes sees and orders.
fn check_price_follows_sizes(
    errors: &mut Vec<FieldError>,
    price: Option<i64>,
    variations: &[Variation],
) -> i64 {
    match (variations.first(), price) {
        (Some(first), Some(p)) if p != first.price_cents => {
            errors.push(FieldError::new(
                "price_cents",
                format!(
                    "with variations, is the first one's price ({}): leave it out or send that",
                    first.price_cents
                ),
            ));
            p
        }
        (Some(first), _) => first.price_cents,
        (None, Some(p)) => p,
        (None, None) => {
            errors.push(FieldError::new(
                "price_cents",
                "is required for an item without variations",
            ));
            0
        }
    }
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
        if let Some(price) = body.price_cents {
            check_price(&mut errors, price);
        }
        check_stock(&mut errors, body.stock);
        let variations = parse_variations(&mut errors, body.variations);
        let modifier_groups = parse_group_ids(&mut errors, body.modifier_groups);
        let price_cents = check_price_follows_sizes(&mut errors, body.price_cents, &variations);
        if !errors.is_empty() {
            return Err(Invalid(errors));
        }
        Ok(Self {
            name: body.name,
            description: body.description,
            category: body.category,
            price_cents,
            available: body.available,
            stock: body.stock,
            variations,
            modifier_groups,
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
            variations: self.variations,
            modifier_groups: self.modifier_groups,
        }
    }
}

impl ItemPatch {
    /// Checks every field given, reporting all failures at once.
    pub fn parse(mut body: ItemPatchBody) -> Result<Self, Invalid> {
        let mut errors = vec![];
        let variations = body
            .variations
            .take()
            .map(|v| parse_variations(&mut errors, v));
        let modifier_groups = body
            .modifier_groups
            .take()
            .map(|g| parse_group_ids(&mut errors, g));
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
            Ok(Self {
                body,
                variations,
                modifier_groups,
            })
        } else {
            Err(Invalid(errors))
        }
    }

    /// The groups this patch names, when it names any (the store checks they exist).
    pub fn modifier_groups(&self) -> Option<&[ItemId]> {
        self.modifier_groups.as_deref()
    }

    /// The item after this patch; `id` is unchanged. Refused when it leaves a
    /// price that is not the first size's.
    pub fn apply(&self, mut item: MenuItem) -> Result<MenuItem, Invalid> {
        let b = self.body.clone();
        if let Some(v) = &self.variations {
            item.variations = v.clone();
        }
        if let Some(g) = &self.modifier_groups {
            item.modifier_groups = g.clone();
        }
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
        let mut errors = vec![];
        let given = b
            .price_cents
            .or(item.variations.is_empty().then_some(item.price_cents));
        item.price_cents = check_price_follows_sizes(&mut errors, given, &item.variations);
        if errors.is_empty() {
            Ok(item)
        } else {
            Err(Invalid(errors))
        }
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
            variations: vec![],
            modifier_groups: vec![],
        };
        let after = ItemPatch::parse(patch(r#"{"price_cents":320,"stock":null}"#))
            .unwrap()
            .apply(item.clone())
            .unwrap();
        assert_eq!(after.price_cents, 320);
        assert_eq!(after.stock, None);
        assert_eq!(after.name, item.name);
        assert!(ItemPatch::parse(patch(r#"{"price_cents":-1}"#)).is_err());
    }
}
