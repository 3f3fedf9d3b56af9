//! Orders: what a customer asks for (`NewOrder`, validated) and what the shop
//! records (`Order`, priced from the menu at the moment of ordering).

use crate::ids::{Currency, ItemId, OrderId, Slug};
use crate::limits::{CUSTOMER_NAME_MAX, LINES_MAX, NOTE_MAX, QUANTITY_MAX};
use crate::status::Status;
use crate::time::Timestamp;
use crate::validation::{FieldError, Invalid, check_text};
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/shops/{shop}/orders` as sent; `validate` turns it into a `NewOrder`.
#[derive(Debug, Deserialize)]
pub struct NewOrderBody {
    pub customer_name: String,
    #[serde(default)]
    pub note: String,
    pub lines: Vec<NewOrderLineBody>,
}

#[derive(Debug, Deserialize)]
pub struct NewOrderLineBody {
    pub item_id: String,
    #[serde(deserialize_with = "crate::whole::number")]
    pub quantity: i64,
}

/// A validated order request. Serializes canonically, which is what an
/// idempotency key's request fingerprint is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewOrder {
    pub customer_name: String,
    pub note: String,
    pub lines: Vec<NewOrderLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewOrderLine {
    pub item_id: ItemId,
    pub quantity: i64,
}

impl NewOrder {
    /// Checks every limit of docs/api.md on a body that had the right shape,
    /// reporting all failures at once (422 `validation_failed`).
    pub fn validate(body: NewOrderBody) -> Result<NewOrder, Invalid> {
        let mut errors = vec![];
        check_text(
            &mut errors,
            "customer_name",
            &body.customer_name,
            1,
            CUSTOMER_NAME_MAX,
        );
        check_text(&mut errors, "note", &body.note, 0, NOTE_MAX);
        if body.lines.is_empty() || body.lines.len() > LINES_MAX {
            errors.push(FieldError::new(
                "lines",
                format!(
                    "must hold 1 to {LINES_MAX} lines (got {})",
                    body.lines.len()
                ),
            ));
        }
        let mut lines = Vec::with_capacity(body.lines.len());
        for (i, line) in body.lines.into_iter().enumerate() {
            match ItemId::parse(&line.item_id) {
                Ok(id) if lines.iter().any(|l: &NewOrderLine| l.item_id == id) => {
                    errors.push(FieldError::new(
                        format!("lines[{i}].item_id"),
                        "appears in more than one line",
                    ))
                }
                Ok(id) => lines.push(NewOrderLine {
                    item_id: id,
                    quantity: line.quantity,
                }),
                Err(why) => errors.push(FieldError::new(format!("lines[{i}].item_id"), why)),
            }
            if !(1..=QUANTITY_MAX).contains(&line.quantity) {
                errors.push(FieldError::new(
                    format!("lines[{i}].quantity"),
                    format!("must be 1 to {QUANTITY_MAX}"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(NewOrder {
                customer_name: body.customer_name,
                note: body.note,
                lines,
            })
        } else {
            Err(Invalid(errors))
        }
    }
}

/// One priced line of a recorded order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub item_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

/// An order as recorded and shown to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub id: OrderId,
    pub shop: Slug,
    pub status: Status,
    pub customer_name: String,
    pub note: String,
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    pub currency: Currency,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<NewOrder, Invalid> {
        NewOrder::validate(serde_json::from_str(json).unwrap())
    }

    fn fields(err: Invalid) -> Vec<String> {
        err.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_plain_order_is_accepted_with_an_empty_note() {
        let order =
            parse(r#"{"customer_name":"Ana","lines":[{"item_id":"flat-white","quantity":2}]}"#)
                .unwrap();
        assert_eq!(order.note, "");
        assert_eq!(order.lines[0].quantity, 2);
    }

    #[test]
    fn quantities_must_be_between_one_and_ninety_nine() {
        let err = parse(
            r#"{"customer_name":"Ana","lines":[{"item_id":"a","quantity":0},{"item_id":"b","quantity":100},{"item_id":"c","quantity":99}]}"#,
        )
        .unwrap_err();
        assert_eq!(fields(err), ["lines[0].quantity", "lines[1].quantity"]);
    }

    #[test]
    fn an_item_may_appear_only_once() {
        let err = parse(
            r#"{"customer_name":"Ana","lines":[{"item_id":"a","quantity":1},{"item_id":"a","quantity":1}]}"#,
        )
        .unwrap_err();
        assert_eq!(fields(err), ["lines[1].item_id"]);
    }

    #[test]
    fn line_count_name_and_note_are_bounded() {
        let err = parse(&format!(
            r#"{{"customer_name":"{}","note":"{}","lines":[]}}"#,
            "n".repeat(81),
            "x".repeat(281)
        ))
        .unwrap_err();
        assert_eq!(fields(err), ["customer_name", "note", "lines"]);
        let many: Vec<String> = (0..51)
            .map(|i| format!(r#"{{"item_id":"i{i}","quantity":1}}"#))
            .collect();
        let err = parse(&format!(
            r#"{{"customer_name":"A","lines":[{}]}}"#,
            many.join(",")
        ))
        .unwrap_err();
        assert_eq!(fields(err), ["lines"]);
    }

    #[test]
    fn bad_item_ids_are_named_by_position() {
        let err =
            parse(r#"{"customer_name":"Ana","lines":[{"item_id":"Flat White","quantity":1}]}"#)
                .unwrap_err();
        assert_eq!(fields(err), ["lines[0].item_id"]);
    }
}
