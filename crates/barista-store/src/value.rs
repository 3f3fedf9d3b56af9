//! Values between Barista and a database, the same for every backend:
//! [`Param`] for what a statement takes (borrowed, nothing copied) and
//! [`Row`] for what a query gives back. Each backend converts its own types
//! to and from these in one place (`sqlite/conn.rs`, `postgres/conn.rs`), and
//! turning rows into domain types happens here, once.

use crate::StoreError;
use barista_domain::{
    Currency, Hours, ItemId, MenuItem, ModifierGroup, Order, OrderId, Pause, Shop, Slug, Status,
    Timestamp, Variation,
};
use serde::{Deserialize, Serialize};

/// What `menu_items.options` holds: an item's sizes and the groups it offers,
/// as JSON; empty for a plain item (every item before schema version 5).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ItemOptions {
    #[serde(default)]
    pub(crate) variations: Vec<Variation>,
    #[serde(default)]
    pub(crate) modifier_groups: Vec<ItemId>,
}

impl ItemOptions {
    /// The column's text for `item`.
    pub(crate) fn column(item: &MenuItem) -> Result<String, StoreError> {
        if !item.has_options() {
            return Ok(String::new());
        }
        serde_json::to_string(&ItemOptions {
            variations: item.variations.clone(),
            modifier_groups: item.modifier_groups.clone(),
        })
        .map_err(|e| StoreError::Internal(e.to_string()))
    }
}

/// A statement parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Bool(bool),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Bytes(v)
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// Builds a parameter list: `params![shop.id, item.as_str()]`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::value::Param::from($value)),*]
    };
}
pub(crate) use params;

/// A column value as read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One row of a query's answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

fn unreadable(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable {what} in the database"))
}

impl Row {
    pub(crate) fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            _ => Err(unreadable("number")),
        }
    }

    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// SQLite keeps booleans as 0 and 1; backends read them as numbers.
    pub(crate) fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.int(i).map(|v| v != 0)
    }

    pub(crate) fn text(&self, i: usize) -> Result<&str, StoreError> {
        match self.0.get(i) {
            Some(Value::Text(v)) => Ok(v),
            _ => Err(unreadable("text")),
        }
    }

    pub(crate) fn string(&self, i: usize) -> Result<String, StoreError> {
        self.text(i).map(str::to_owned)
    }

    pub(crate) fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.0.get(i) {
            Some(Value::Bytes(v)) => Ok(v.clone()),
            _ => Err(unreadable("bytes")),
        }
    }

    pub(crate) fn parsed<T>(
        &self,
        i: usize,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        parse(self.text(i)?).ok_or_else(|| unreadable(what))
    }

    pub(crate) fn order_id(&self, i: usize) -> Result<OrderId, StoreError> {
        self.parsed(i, "order id", |t| OrderId::parse(t).ok())
    }

    /// `shop_columns!` of `sql.rs`.
    pub(crate) fn shop(&self) -> Result<Shop, StoreError> {
        Ok(Shop {
            id: self.int(0)?,
            slug: self.parsed(1, "slug", |t| Slug::parse(t).ok())?,
            name: self.string(2)?,
            currency: self.parsed(3, "currency", |t| Currency::parse(t).ok())?,
            created_at: Timestamp(self.int(4)?),
            staff_key_hash: self.bytes(5)?,
            suspended: self.flag(6)?,
            version: self.int(7)?,
        })
    }

    /// The item columns of `sql.rs`, in order.
    pub(crate) fn item(&self) -> Result<MenuItem, StoreError> {
        let options = self.options(7)?;
        Ok(MenuItem {
            id: self.parsed(0, "item id", |t| ItemId::parse(t).ok())?,
            name: self.string(1)?,
            description: self.string(2)?,
            category: self.string(3)?,
            price_cents: self.int(4)?,
            available: self.flag(5)?,
            stock: self.opt_int(6)?,
            variations: options.variations,
            modifier_groups: options.modifier_groups,
        })
    }

    /// An item's `options` column: its sizes and groups as JSON, or empty.
    fn options(&self, i: usize) -> Result<ItemOptions, StoreError> {
        match self.text(i)? {
            "" => Ok(ItemOptions::default()),
            text => serde_json::from_str(text).map_err(|_| unreadable("item options")),
        }
    }

    /// `group_id, name, min_select, max_select, modifiers` (sql::MODIFIER_GROUPS).
    pub(crate) fn modifier_group(&self) -> Result<ModifierGroup, StoreError> {
        Ok(ModifierGroup {
            id: self.parsed(0, "group id", |t| ItemId::parse(t).ok())?,
            name: self.string(1)?,
            min: self.int(2)?,
            max: self.int(3)?,
            modifiers: serde_json::from_str(self.text(4)?).map_err(|_| unreadable("modifiers"))?,
        })
    }

    pub(crate) fn status(&self, i: usize) -> Result<Status, StoreError> {
        self.parsed(i, "order status", Status::parse)
    }

    /// `time_zone, hours, paused_until` (sql::SCHEDULE): the zone is kept inside the hours too.
    pub(crate) fn schedule(&self) -> Result<(Hours, Option<Pause>), StoreError> {
        Ok((
            Hours::stored(self.text(1)?),
            Pause::stored(self.opt_int(2)?),
        ))
    }

    /// The order columns of `sql.rs`, in order.
    pub(crate) fn order(&self, shop: &Shop) -> Result<Order, StoreError> {
        self.order_at(0, &shop.slug)
    }

    /// The order columns of `sql.rs`, from column `at` on.
    pub(crate) fn order_at(&self, at: usize, shop: &Slug) -> Result<Order, StoreError> {
        Ok(Order {
            id: self.order_id(at)?,
            shop: shop.clone(),
            status: self.status(at + 1)?,
            customer_name: self.string(at + 2)?,
            note: self.string(at + 3)?,
            lines: serde_json::from_str(self.text(at + 4)?)
                .map_err(|_| unreadable("order lines"))?,
            total_cents: self.int(at + 5)?,
            currency: self.parsed(at + 6, "currency", |t| Currency::parse(t).ok())?,
            version: self.int(at + 7)?,
            created_at: Timestamp(self.int(at + 8)?),
            updated_at: Timestamp(self.int(at + 9)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_borrow_and_null_stands_for_none() {
        let name = String::from("tea");
        let list: &[Param] = params![1_i64, &name, None::<i64>, Some(5_i64), true];
        assert_eq!(
            list,
            [
                Param::Int(1),
                Param::Text("tea"),
                Param::Null,
                Param::Int(5),
                Param::Bool(true)
            ]
        );
    }

    #[test]
    fn unreadable_columns_are_internal_errors_not_panics() {
        let row = Row(vec![Value::Text("x".into()), Value::Null]);
        assert!(row.int(0).is_err());
        assert_eq!(row.opt_int(1).unwrap(), None);
        assert!(row.order_id(0).is_err());
        assert!(row.text(5).is_err());
    }
}
