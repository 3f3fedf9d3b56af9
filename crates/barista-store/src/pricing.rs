//! Pricing an order from the menu, the same for every backend: each line is
//! priced from the item as stored now; items off the menu or unavailable are
//! reported by line; stocked items are listed, in id order, for the backend's
//! conditional stock update.

use crate::{ShopRecord, StoreError};
use barista_domain::{
    FieldError, Invalid, ItemId, MenuItem, NewOrder, Order, OrderId, OrderLine, Status, Timestamp,
};

/// Priced lines, and (item, quantity) to take from stock, sorted by item id.
pub(crate) struct Priced {
    pub(crate) lines: Vec<OrderLine>,
    pub(crate) stocked: Vec<(ItemId, i64)>,
}

/// `found[i]` is the menu item named by line `i`, if there is one.
pub(crate) fn price(new: &NewOrder, found: Vec<Option<MenuItem>>) -> Result<Priced, StoreError> {
    let mut lines = Vec::with_capacity(new.lines.len());
    let mut errors = vec![];
    let mut stocked = vec![];
    for (i, (line, item)) in new.lines.iter().zip(found).enumerate() {
        match item {
            None => errors.push(FieldError::new(
                format!("lines[{i}].item_id"),
                "is not on the menu",
            )),
            Some(item) if !item.available => errors.push(FieldError::new(
                format!("lines[{i}].item_id"),
                "is not available",
            )),
            Some(item) => {
                if item.stock.is_some() {
                    stocked.push((item.id.clone(), line.quantity));
                }
                lines.push(OrderLine {
                    item_id: item.id.to_string(),
                    name: item.name,
                    quantity: line.quantity,
                    unit_price_cents: item.price_cents,
                    line_total_cents: item.price_cents * line.quantity,
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(StoreError::ItemUnavailable(Invalid(errors)));
    }
    // A fixed order for the stock updates' row locks.
    stocked.sort();
    Ok(Priced { lines, stocked })
}

/// The new order, placed now.
pub(crate) fn placed_order(
    shop: &ShopRecord,
    new: &NewOrder,
    lines: Vec<OrderLine>,
    now: i64,
) -> Order {
    Order {
        id: OrderId(uuid::Uuid::now_v7()),
        shop: shop.slug.clone(),
        status: Status::Placed,
        customer_name: new.customer_name.clone(),
        note: new.note.clone(),
        total_cents: lines.iter().map(|l| l.line_total_cents).sum(),
        lines,
        currency: shop.currency,
        version: 1,
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
    }
}
