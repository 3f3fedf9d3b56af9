//! Orders: what a customer asks for (`NewOrder`, parsed), how it is priced from
//! the menu at the moment of ordering (`NewOrder::price`), and what the shop
//! records (`Order`).

use crate::ids::{Currency, ItemId, OrderId, Slug};
use crate::limits::{CUSTOMER_NAME_MAX, LINES_MAX, NOTE_MAX, QUANTITY_MAX};
use crate::menu::MenuItem;
use crate::options::{
    CHOICES_PER_LINE_MAX, ChoiceProblems, ChosenModifier, ChosenVariation, ModifierGroup, choose,
};
use crate::shop::Shop;
use crate::status::Status;
use crate::time::Timestamp;
use crate::validation::{FieldError, Invalid, Parsed, check_text};
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/shops/{shop}/orders` as sent; [`NewOrder::parse`] makes it a `NewOrder`.
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
    /// The size; absent is the item's first (or only) one.
    #[serde(default)]
    pub variation_id: Option<String>,
    /// The modifiers chosen, by id; one chosen twice counts twice.
    #[serde(default)]
    pub modifiers: Vec<String>,
}

/// An order request, parsed: only [`NewOrder::parse`] makes one. Serializes
/// canonically, which is what an idempotency key's fingerprint is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewOrder {
    pub customer_name: String,
    pub note: String,
    pub lines: Vec<NewOrderLine>,
    #[serde(skip)]
    _parsed: Parsed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewOrderLine {
    pub item_id: ItemId,
    pub quantity: i64,
    /// Left out of the fingerprint when absent, so keys of plain orders match as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variation_id: Option<ItemId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modifiers: Vec<ItemId>,
}

impl NewOrderLine {
    /// Two lines are the same when they ask for the same thing, choices in any order.
    fn same_as(&self, other: &NewOrderLine) -> bool {
        let sorted = |l: &NewOrderLine| {
            let mut m = l.modifiers.clone();
            m.sort();
            m
        };
        self.item_id == other.item_id
            && self.variation_id == other.variation_id
            && sorted(self) == sorted(other)
    }
}

impl NewOrder {
    /// Checks every limit of docs/api.md on a body that had the right shape,
    /// reporting all failures at once (422 `validation_failed`).
    pub fn parse(body: NewOrderBody) -> Result<NewOrder, Invalid> {
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
        let mut lines: Vec<NewOrderLine> = Vec::with_capacity(body.lines.len());
        for (i, line) in body.lines.into_iter().enumerate() {
            if !(1..=QUANTITY_MAX).contains(&line.quantity) {
                errors.push(FieldError::new(
                    format!("lines[{i}].quantity"),
                    format!("must be 1 to {QUANTITY_MAX}"),
                ));
            }
            let before = errors.len();
            let item_id = ItemId::parse(&line.item_id)
                .map_err(|why| errors.push(FieldError::new(format!("lines[{i}].item_id"), why)))
                .ok();
            let variation_id = match line.variation_id.as_deref().map(ItemId::parse) {
                None => None,
                Some(Ok(v)) => Some(v),
                Some(Err(why)) => {
                    errors.push(FieldError::new(format!("lines[{i}].variation_id"), why));
                    None
                }
            };
            if line.modifiers.len() > CHOICES_PER_LINE_MAX {
                errors.push(FieldError::new(
                    format!("lines[{i}].modifiers"),
                    format!("may hold at most {CHOICES_PER_LINE_MAX} choices"),
                ));
            }
            let mut modifiers = Vec::with_capacity(line.modifiers.len());
            for (j, m) in line.modifiers.iter().enumerate() {
                match ItemId::parse(m) {
                    Ok(id) => modifiers.push(id),
                    Err(why) => {
                        errors.push(FieldError::new(format!("lines[{i}].modifiers[{j}]"), why))
                    }
                }
            }
            let Some(item_id) = item_id.filter(|_| errors.len() == before) else {
                continue;
            };
            let new = NewOrderLine {
                item_id,
                quantity: line.quantity,
                variation_id,
                modifiers,
            };
            if lines.iter().any(|l| l.same_as(&new)) {
                errors.push(FieldError::new(
                    format!("lines[{i}].item_id"),
                    "appears in more than one line with the same choices: raise the quantity",
                ));
            } else {
                lines.push(new);
            }
        }
        if errors.is_empty() {
            Ok(NewOrder {
                customer_name: body.customer_name,
                note: body.note,
                lines,
                _parsed: Parsed,
            })
        } else {
            Err(Invalid(errors))
        }
    }
}

/// Units of one item to take from stock (or give back), in the fixed order
/// (by item id) in which every write locks items.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StockMove {
    pub item: ItemId,
    pub quantity: i64,
}

/// Why an order could not be priced from the menu as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceRefused {
    /// Lines naming items or modifiers not on the menu now, or not available
    /// (409 `item_unavailable`): the menu could change to accept them.
    Unavailable(Invalid),
    /// Choices no menu state accepts as sent (422 `validation_failed`): a size
    /// the item does not have, a modifier it does not offer, a group's min or
    /// max broken.
    Invalid(Invalid),
}

/// An order priced from the menu, ready to be placed once its stock is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    lines: Vec<OrderLine>,
    /// What to take from stocked items, one move per item, sorted by item id;
    /// unlimited items are not listed.
    pub stock: Vec<StockMove>,
}

impl NewOrder {
    /// Whether any line chose a size or a modifier.
    pub fn has_choices(&self) -> bool {
        self.lines
            .iter()
            .any(|l| l.variation_id.is_some() || !l.modifiers.is_empty())
    }

    /// Prices each line from the item as the menu has it now (`found[i]` is
    /// the item line `i` names, if the menu has it) and the shop's modifier
    /// `groups`: the size's price plus each modifier's delta, times the
    /// quantity. A client never sets a price.
    pub fn price(
        &self,
        found: Vec<Option<MenuItem>>,
        groups: &[ModifierGroup],
    ) -> Result<Priced, PriceRefused> {
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut problems = ChoiceProblems::default();
        let mut stock: Vec<StockMove> = vec![];
        for (i, (line, item)) in self.lines.iter().zip(found).enumerate() {
            let field = || format!("lines[{i}].item_id");
            match item {
                None => problems
                    .unavailable
                    .push(FieldError::new(field(), "is not on the menu")),
                Some(item) if !item.available => problems
                    .unavailable
                    .push(FieldError::new(field(), "is not available")),
                Some(item) => {
                    let choices = choose(
                        i,
                        &item,
                        line.variation_id.as_ref(),
                        &line.modifiers,
                        groups,
                        &mut problems,
                    );
                    if item.stock.is_some() {
                        match stock.iter_mut().find(|m| m.item == item.id) {
                            Some(m) => m.quantity += line.quantity,
                            None => stock.push(StockMove {
                                item: item.id.clone(),
                                quantity: line.quantity,
                            }),
                        }
                    }
                    lines.push(OrderLine {
                        item_id: item.id.to_string(),
                        name: item.name,
                        quantity: line.quantity,
                        unit_price_cents: choices.unit_price_cents,
                        line_total_cents: choices.unit_price_cents * line.quantity,
                        variation: choices.variation,
                        modifiers: choices.modifiers,
                    });
                }
            }
        }
        if !problems.invalid.is_empty() {
            return Err(PriceRefused::Invalid(Invalid(problems.invalid)));
        }
        if !problems.unavailable.is_empty() {
            return Err(PriceRefused::Unavailable(Invalid(problems.unavailable)));
        }
        stock.sort();
        Ok(Priced { lines, stock })
    }
}

impl Priced {
    /// The order `id` as placed in `shop` at `now`: `placed`, version 1, priced lines.
    pub fn place(self, shop: &Shop, new: &NewOrder, id: OrderId, now: Timestamp) -> Order {
        Order {
            id,
            shop: shop.slug.clone(),
            status: Status::Placed,
            customer_name: new.customer_name.clone(),
            note: new.note.clone(),
            total_cents: self.lines.iter().map(|l| l.line_total_cents).sum(),
            lines: self.lines,
            currency: shop.currency,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

impl Order {
    /// The order as the answer that placed it showed it: `placed`, version 1.
    /// An idempotent replay answers this, whatever happened to the order since.
    pub fn as_placed(mut self) -> Order {
        self.status = Status::Placed;
        self.version = 1;
        self.updated_at = self.created_at;
        self
    }
}

/// One priced line of a recorded order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub item_id: String,
    pub name: String,
    pub quantity: i64,
    /// The size's price plus every modifier's delta, as they were when ordered.
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
    /// The size chosen; absent for an item without sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variation: Option<ChosenVariation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modifiers: Vec<ChosenModifier>,
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
        NewOrder::parse(serde_json::from_str(json).unwrap())
    }

    fn item(id: &str, price: i64, stock: Option<i64>, available: bool) -> Option<MenuItem> {
        Some(MenuItem {
            id: ItemId::parse(id).unwrap(),
            name: id.to_uppercase(),
            description: String::new(),
            category: "c".into(),
            price_cents: price,
            available,
            stock,
            variations: vec![],
            modifier_groups: vec![],
        })
    }

    #[test]
    fn lines_are_priced_from_the_menu_and_stock_is_taken_in_item_order() {
        let new = parse(
            r#"{"customer_name":"Ana","lines":[{"item_id":"tea","quantity":2},{"item_id":"bun","quantity":3},{"item_id":"cake","quantity":1}]}"#,
        )
        .unwrap();
        let priced = new
            .price(
                vec![
                    item("tea", 300, Some(5), true),
                    item("bun", 250, Some(9), true),
                    item("cake", 400, None, true),
                ],
                &[],
            )
            .unwrap();
        let stock: Vec<_> = priced
            .stock
            .iter()
            .map(|m| (m.item.as_str(), m.quantity))
            .collect();
        assert_eq!(stock, [("bun", 3), ("tea", 2)]);
        let shop = Shop {
            id: 1,
            slug: Slug::parse("abc").unwrap(),
            name: "A".into(),
            currency: Currency::parse("EUR").unwrap(),
            created_at: Timestamp(0),
            staff_key_hash: vec![],
            suspended: false,
            version: 0,
        };
        let order = priced.place(&shop, &new, OrderId::generate(), Timestamp(7));
        assert_eq!(order.total_cents, 600 + 750 + 400);
        assert_eq!(order.lines[1].line_total_cents, 750);
        assert_eq!(
            (order.status, order.version, order.updated_at),
            (Status::Placed, 1, Timestamp(7))
        );
    }

    #[test]
    fn items_off_the_menu_or_unavailable_are_named_by_line() {
        let new = parse(
            r#"{"customer_name":"Ana","lines":[{"item_id":"tea","quantity":1},{"item_id":"gone","quantity":1},{"item_id":"off","quantity":1}]}"#,
        )
        .unwrap();
        let PriceRefused::Unavailable(why) = new
            .price(
                vec![
                    item("tea", 1, None, true),
                    None,
                    item("off", 1, None, false),
                ],
                &[],
            )
            .unwrap_err()
        else {
            panic!("not unavailable")
        };
        assert_eq!(fields(why), ["lines[1].item_id", "lines[2].item_id"]);
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
    fn an_item_may_appear_only_once_per_choice() {
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
