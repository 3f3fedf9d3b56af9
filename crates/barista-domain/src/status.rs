//! The order status machine: `placed -> brewing -> ready -> collected`, and
//! `placed | brewing | ready -> cancelled`. `collected` and `cancelled` are final.

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
    fn statuses_round_trip_through_their_names() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("Placed"), None);
    }
}
