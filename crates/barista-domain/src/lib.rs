//! Barista's domain model: the types every other crate trusts once parsed, and
//! every rule of the business as functions over them.
//!
//! Everything a client sends is parsed here exactly once, at the edge, into a
//! type only its `parse` makes (`Slug`, `NewShop`, `ItemFields`, `NewOrder`, ...).
//! Past that point the server and the stores never re-check. The rules live
//! here too: pricing and placing an order (`order.rs`), each status move and
//! what it gives back (`status.rs`), idempotency (`idempotency.rs`), shops
//! (`shop.rs`). The stores only read and write rows. Nothing here does IO
//! beyond reading the clock and the system's randomness for new ids.
#![forbid(unsafe_code)]

pub mod hex;
mod idempotency;
mod ids;
mod menu;
mod options;
mod order;
mod pickup;
mod report;
mod schedule;
mod shop;
mod status;
mod time;
mod validation;
mod whole;

pub use idempotency::{IdempotencyKey, IdempotentRequest, KeyReused};
pub use ids::{Currency, ItemId, OrderId, Slug};
pub use menu::{ItemBody, ItemFields, ItemPatch, ItemPatchBody, Menu, MenuItem, Stock, present};
pub use options::{
    ChosenModifier, ChosenVariation, Modifier, ModifierBody, ModifierGroup, ModifierGroupBody,
    ModifierPatch, Variation, VariationBody,
};
pub use order::{
    NewOrder, NewOrderBody, NewOrderLine, NewOrderLineBody, Order, OrderLine, PriceRefused, Priced,
    StockMove,
};
pub use pickup::{DEFAULT_PACE_MICROS, PACE_WINDOW, Pickup, Queue};
pub use report::{
    HourTally, ItemTally, REPORT_DAYS_MAX, Report, ReportBuilder, ReportOrder, ReportRange,
    StatusTally, Tally,
};
pub use schedule::{
    Closed, DateHours, EXCEPTIONS_MAX, Hours, HoursBody, OpenSpan, Ordering, PAUSE_MINUTES_MAX,
    Pause, PauseBody, SPANS_MAX,
};
pub use shop::{NewShop, PublicShop, Shop, ShopBody};
pub use status::{InvalidTransition, Moved, Status};
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
    /// Sizes per item, and modifier groups an item may offer.
    pub const VARIATIONS_MAX: usize = 10;
    /// Modifiers per group.
    pub const MODIFIERS_MAX: usize = 20;
    /// Most choices a group may take, and a line may make in all.
    pub const SELECTIONS_MAX: i64 = 20;
}
