//! The order status machine: `placed -> brewing -> ready -> collected`, and
//! `placed | brewing | ready -> cancelled`. `collected` and `cancelled` are final.
//! Every move bumps the order's version; cancelling gives its stock back.

use crate::order::{Order, StockMove};
use crate::time::Timestamp;
use serde::{Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Placed,
    Brewing,
    Ready,
    Collected,
    Cancelled,
}

/// A move the machine does not allow: becomes 409 `invalid_transition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: Status,
    pub to: Status,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an order that is {} cannot become {}",
            self.from, self.to
        )
    }
}

impl std::error::Error for InvalidTransition {}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Placed,
        Status::Brewing,
        Status::Ready,
        Status::Collected,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Placed => "placed",
            Status::Brewing => "brewing",
            Status::Ready => "ready",
            Status::Collected => "collected",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Collected | Status::Cancelled)
    }

    /// The status after moving to `to`, if the machine allows it.
    pub fn transition(self, to: Status) -> Result<Status, InvalidTransition> {
        use Status::*;
        let allowed = matches!(
            (self, to),
            (Placed, Brewing)
                | (Brewing, Ready)
                | (Ready, Collected)
                | (Placed | Brewing | Ready, Cancelled)
        );
        if allowed {
            Ok(to)
        } else {
            Err(InvalidTransition { from: self, to })
        }
    }
}

/// An order after a status move, and what the move gives back to stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub order: Order,
    /// For a cancel: every line, by item id; the store gives back only stocked items.
    pub stock_back: Vec<StockMove>,
}

impl Order {
    /// The order moved to `to` at `now`: its version grows by one, `updated_at`
    /// never goes backwards, and a cancel gives every line back.
    pub fn moved(mut self, to: Status, now: Timestamp) -> Result<Moved, InvalidTransition> {
        self.status = self.status.transition(to)?;
        self.version += 1;
        self.updated_at = now.max(self.updated_at);
        let mut stock_back = vec![];
        if to == Status::Cancelled {
            for line in &self.lines {
                if let Ok(item) = crate::ItemId::parse(&line.item_id) {
                    stock_back.push(StockMove {
                        item,
                        quantity: line.quantity,
                    });
                }
            }
            stock_back.sort();
        }
        Ok(Moved {
            order: self,
            stock_back,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        assert_eq!(Placed.transition(Brewing), Ok(Brewing));
        assert_eq!(Brewing.transition(Ready), Ok(Ready));
        assert_eq!(Ready.transition(Collected), Ok(Collected));
    }

    #[test]
    fn any_open_order_can_be_cancelled() {
        for from in [Placed, Brewing, Ready] {
            assert_eq!(from.transition(Cancelled), Ok(Cancelled));
        }
    }

    #[test]
    fn exactly_the_documented_moves_are_allowed() {
        let mut allowed = vec![];
        for from in Status::ALL {
            for to in Status::ALL {
                if from.transition(to).is_ok() {
                    allowed.push((from, to));
                }
            }
        }
        assert_eq!(
            allowed,
            [
                (Placed, Brewing),
                (Placed, Cancelled),
                (Brewing, Ready),
                (Brewing, Cancelled),
                (Ready, Collected),
                (Ready, Cancelled),
            ]
        );
    }

    #[test]
    fn final_states_go_nowhere() {
        for to in Status::ALL {
            assert!(Collected.transition(to).is_err());
            assert!(Cancelled.transition(to).is_err());
        }
        assert!(Collected.is_final() && Cancelled.is_final() && !Ready.is_final());
    }

    #[test]
    fn a_move_bumps_the_version_and_a_cancel_gives_the_lines_back() {
        use crate::{Currency, OrderId, OrderLine, Slug};
        let line = |id: &str, quantity| OrderLine {
            item_id: id.into(),
            name: id.into(),
            quantity,
            unit_price_cents: 1,
            line_total_cents: quantity,
            variation: None,
            modifiers: vec![],
        };
        let order = Order {
            id: OrderId::generate(),
            shop: Slug::parse("abc").unwrap(),
            status: Placed,
            customer_name: "A".into(),
            note: String::new(),
            lines: vec![line("tea", 2), line("bun", 1)],
            total_cents: 3,
            currency: Currency::parse("EUR").unwrap(),
            version: 1,
            created_at: Timestamp(10),
            updated_at: Timestamp(10),
        };
        let brewing = order.clone().moved(Brewing, Timestamp(5)).unwrap();
        assert_eq!(brewing.order.version, 2);
        assert_eq!(
            brewing.order.updated_at,
            Timestamp(10),
            "time never goes back"
        );
        assert!(brewing.stock_back.is_empty());
        let cancelled = order.clone().moved(Cancelled, Timestamp(20)).unwrap();
        let back: Vec<_> = cancelled
            .stock_back
            .iter()
            .map(|m| (m.item.as_str(), m.quantity))
            .collect();
        assert_eq!(back, [("bun", 1), ("tea", 2)]);
        assert!(order.moved(Collected, Timestamp(20)).is_err());
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("Placed"), None);
    }
}
