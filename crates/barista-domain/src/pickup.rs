//! When an order will be ready: the queue at the coffee machine, by Little's law.
//!
//! The shop's *pace* is how long it takes, lately, to make one order: for
//! each recent ready move, the time since the later of the previous ready
//! move and the order's own claim (so neither a quiet spell before the claim
//! nor orders claimed together count as making time), and the median of those
//! (so one slow order does not set the pace). Little's law, L = λW, then gives an order's wait from the
//! orders ahead of it: with `n` ahead, W = (n + 1) / λ = (n + 1) × pace,
//! counted from when the front order's turn began (the last ready move, or
//! the front order's placing if the queue was empty then).

use crate::ids::OrderId;
use crate::time::Timestamp;
use serde::Serialize;

/// The pace of a shop with too little history: two minutes an order.
pub const DEFAULT_PACE_MICROS: i64 = 120_000_000;
/// Ready moves a pace is measured over (the newest ones).
pub const PACE_WINDOW: usize = 20;
/// Fewest making times to call the pace measured; fewer (but one) are used
/// anyway, as better than the default, and reported as not measured.
const PACE_MIN_GAPS: usize = 3;

/// What the estimate is made from: the shop's waiting orders and its recent ready moves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    /// Orders `placed` or `brewing`, oldest first, by (placed at, id).
    pub waiting: Vec<(Timestamp, OrderId)>,
    /// When recent orders became ready, and when each was claimed (moved to
    /// `brewing`) if it was, newest first (at most [`PACE_WINDOW`] + 1).
    pub ready: Vec<(Timestamp, Option<Timestamp>)>,
}

/// An order's pickup estimate, as its customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pickup {
    /// When the order should be ready.
    pub ready_at: Timestamp,
    /// Orders ahead of it in the queue.
    pub ahead: usize,
    /// Seconds an order takes at the shop's pace.
    pub pace_seconds: i64,
    /// Whether the pace was measured (`false`: the default, too little history).
    pub measured: bool,
}

impl Queue {
    /// Microseconds an order takes, and whether that was measured (from at
    /// least three making times; with one or two, their median, not trusted
    /// yet; with none, [`DEFAULT_PACE_MICROS`]).
    pub fn pace(&self) -> (i64, bool) {
        let mut gaps: Vec<i64> = self
            .ready
            .windows(2)
            .take(PACE_WINDOW)
            .map(|w| {
                let (done, claimed) = w[0];
                let began = claimed.map_or(w[1].0, |c| c.max(w[1].0));
                done.micros() - began.micros()
            })
            .filter(|g| *g > 0)
            .collect();
        if gaps.is_empty() {
            return (DEFAULT_PACE_MICROS, false);
        }
        gaps.sort_unstable();
        (
            gaps[gaps.len() / 2].max(1_000_000),
            gaps.len() >= PACE_MIN_GAPS,
        )
    }

    /// The estimate at `now` for a waiting order `id`, placed at `placed_at`:
    /// the orders placed before it that still wait are ahead of it (whether
    /// or not it is in `waiting` yet: a snapshot a moment older serves).
    ///
    /// `also` are orders known to wait that the snapshot is too old to hold
    /// (placed on this replica since it was read), sorted like `waiting`.
    pub fn estimate(
        &self,
        also: &[(Timestamp, OrderId)],
        id: &OrderId,
        placed_at: Timestamp,
        now: Timestamp,
    ) -> Pickup {
        let mine = (placed_at, *id);
        let at = self.waiting.partition_point(|w| *w < mine) + also.partition_point(|w| *w < mine);
        let (pace, measured) = self.pace();
        let front = [self.waiting.first(), also.first()]
            .into_iter()
            .flatten()
            .map(|w| w.0)
            .min()
            .unwrap_or(placed_at)
            .min(placed_at);
        // The front order's turn began at the last ready move, or when it was
        // placed if the machine was idle then.
        let turn = self.ready.first().map_or(front, |r| r.0.max(front));
        let ready_at = turn.micros() + (at as i64 + 1) * pace;
        Pickup {
            ready_at: Timestamp(ready_at.max(now.micros())),
            ahead: at,
            pace_seconds: pace / 1_000_000,
            measured,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn ids(n: usize) -> Vec<OrderId> {
        let mut ids: Vec<OrderId> = (0..n).map(|_| OrderId::generate()).collect();
        ids.sort_by_key(|i| i.to_string());
        ids
    }

    #[test]
    fn orders_ahead_times_the_measured_pace() {
        let ids = ids(3);
        let queue = Queue {
            waiting: (0..3)
                .map(|i| (Timestamp(1000 * S + i * S), ids[i as usize]))
                .collect(),
            // Ready every 60 s, the last at 1010 s; one quiet spell of an hour.
            ready: [1010, 950, 890, 830, 770, -2830]
                .map(|s| (Timestamp(s * S), None))
                .to_vec(),
        };
        assert_eq!(
            queue.pace(),
            (60 * S, true),
            "the quiet hour is not the pace"
        );
        // Claimed 20 s before each was ready, after idle gaps: the making time is 20 s.
        let idle = Queue {
            waiting: vec![],
            ready: [1000, 900, 800, 700, 600]
                .map(|s| (Timestamp(s * S), Some(Timestamp((s - 20) * S))))
                .to_vec(),
        };
        assert_eq!(idle.pace(), (20 * S, true));
        let third = queue.estimate(&[], &ids[2], Timestamp(1002 * S), Timestamp(1020 * S));
        assert_eq!((third.ahead, third.pace_seconds), (2, 60));
        assert_eq!(third.ready_at, Timestamp((1010 + 3 * 60) * S));
        assert!(third.measured);
        // Not in the snapshot yet: placed after all three, so all are ahead.
        let at = Timestamp(1030 * S);
        let new = queue.estimate(&[], &OrderId::generate(), at, at);
        assert_eq!(new.ahead, 3);
        // Two placed on this replica since the snapshot, before this one: five ahead.
        let since = [
            (Timestamp(1010 * S), OrderId::generate()),
            (Timestamp(1011 * S), OrderId::generate()),
        ];
        assert_eq!(
            queue.estimate(&since, &OrderId::generate(), at, at).ahead,
            5
        );
    }

    #[test]
    fn an_idle_shop_starts_the_clock_at_the_order_and_never_promises_the_past() {
        let ids = ids(1);
        let queue = Queue {
            waiting: vec![(Timestamp(5000 * S), ids[0])],
            ready: vec![(Timestamp(100 * S), None)],
        };
        let p = queue.estimate(&[], &ids[0], Timestamp(5000 * S), Timestamp(5001 * S));
        assert!(!p.measured);
        assert_eq!(p.ready_at, Timestamp(5000 * S + DEFAULT_PACE_MICROS));
        let late = queue.estimate(&[], &ids[0], Timestamp(5000 * S), Timestamp(9000 * S));
        assert_eq!(
            late.ready_at,
            Timestamp(9000 * S),
            "overdue: any moment now"
        );
    }
}
