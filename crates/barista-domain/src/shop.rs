//! Shops, the tenants: what creating one takes, and a shop as stored and shown.

use crate::ids::{Currency, Slug};
use crate::limits::NAME_MAX;
use crate::time::Timestamp;
use crate::validation::{FieldError, Invalid, check_text};
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/shops` as sent; [`NewShop::parse`] makes it a `NewShop`.
#[derive(Debug, Deserialize)]
pub struct ShopBody {
    pub slug: String,
    pub name: String,
    pub currency: String,
}

/// A shop to create, parsed: a valid slug, name and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShop {
    pub slug: Slug,
    pub name: String,
    pub currency: Currency,
}

impl NewShop {
    /// Checks every field, reporting all failures at once (422 `validation_failed`).
    pub fn parse(body: ShopBody) -> Result<NewShop, Invalid> {
        let mut errors = vec![];
        let slug = Slug::parse(&body.slug).map_err(|m| errors.push(FieldError::new("slug", m)));
        check_text(&mut errors, "name", &body.name, 1, NAME_MAX);
        let currency = Currency::parse(&body.currency)
            .map_err(|m| errors.push(FieldError::new("currency", m)));
        match (slug, currency) {
            (Ok(slug), Ok(currency)) if errors.is_empty() => Ok(NewShop {
                slug,
                name: body.name,
                currency,
            }),
            _ => Err(Invalid(errors)),
        }
    }
}

/// A shop as stored, with what only the server may see (its id and key hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shop {
    /// The store's key for the shop; every table of a tenant's data starts with it.
    pub id: i64,
    pub slug: Slug,
    pub name: String,
    pub currency: Currency,
    pub created_at: Timestamp,
    /// SHA-256 of the staff key: the key itself is never stored.
    pub staff_key_hash: Vec<u8>,
    /// Suspended by the operator: only the admin routes reach it; nothing is deleted.
    pub suspended: bool,
    /// The shop's menu version when it was read: every change to the shop row
    /// (its key, name, standing, hours) or its menu raises it, so a cache
    /// holding an older one knows to read the shop again.
    pub version: i64,
}

/// A shop as clients see it.
#[derive(Debug, Serialize)]
pub struct PublicShop<'a> {
    pub slug: &'a Slug,
    pub name: &'a str,
    pub currency: Currency,
    pub created_at: Timestamp,
}

impl Shop {
    pub fn public(&self) -> PublicShop<'_> {
        PublicShop {
            slug: &self.slug,
            name: &self.name,
            currency: self.currency,
            created_at: self.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(slug: &str, name: &str, currency: &str) -> Result<NewShop, Vec<String>> {
        NewShop::parse(ShopBody {
            slug: slug.into(),
            name: name.into(),
            currency: currency.into(),
        })
        .map_err(|e| e.0.into_iter().map(|f| f.field).collect())
    }

    #[test]
    fn a_shop_needs_a_slug_a_name_and_a_currency() {
        let shop = parse("blue-door", "Blue Door", "EUR").unwrap();
        assert_eq!(shop.slug.as_str(), "blue-door");
        assert_eq!(
            parse("B", " ", "eur").unwrap_err(),
            ["slug", "name", "currency"]
        );
    }
}
