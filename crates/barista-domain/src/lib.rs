//! Barista's domain model: the types every other crate trusts once parsed.
//!
//! Everything a client sends is parsed here exactly once, at the edge, into a
//! validated type (`Slug`, `ItemId`, `NewOrder`, ...). Past that point the
//! server and the stores never re-check. Nothing in this crate does IO.
#![forbid(unsafe_code)]

mod ids;
mod menu;
mod order;
mod status;
mod time;
mod validation;
mod whole;

pub use ids::{Currency, IdempotencyKey, ItemId, OrderId, Slug};
pub use menu::{ItemFields, ItemPatch, Menu, MenuItem, Stock};
pub use order::{NewOrder, NewOrderBody, NewOrderLine, NewOrderLineBody, Order, OrderLine};
pub use status::{InvalidTransition, Status};
pub use time::Timestamp;
pub use validation::{FieldError, Invalid, check_text, text_pattern};

/// Limits from docs/api.md, in one place so the OpenAPI document can quote them.
pub mod limits {
    pub const NAME_MAX: usize = 100;
    pub const DESCRIPTION_MAX: usize = 500;
    pub const CATEGORY_MAX: usize = 40;
    pub const PRICE_MAX: i64 = 1_000_000;
    pub const STOCK_MAX: i64 = 1_000_000;
    pub const CUSTOMER_NAME_MAX: usize = 80;
    pub const NOTE_MAX: usize = 280;
    pub const LINES_MAX: usize = 50;
    pub const QUANTITY_MAX: i64 = 99;
    pub const LIST_LIMIT_MAX: i64 = 200;
    pub const LIST_LIMIT_DEFAULT: i64 = 50;
}
