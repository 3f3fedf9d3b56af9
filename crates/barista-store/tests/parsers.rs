//! Property tests of the event position a client sends back as `Last-Event-ID`.

use barista_store::EventPos;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_a_position_or_refused(text in "[0-9.]{0,40}|.{0,40}") {
        // `pos` or `tx.pos`, at most 18 digits each, nothing else.
        let parts: Vec<&str> = text.split('.').collect();
        let valid = parts.len() <= 2
            && parts.iter().all(|p| !p.is_empty() && p.len() <= 18 && p.bytes().all(|b| b.is_ascii_digit()));
        match text.parse::<EventPos>() {
            Ok(pos) => {
                prop_assert!(valid, "{} accepted", text);
                prop_assert!(pos.tx >= 0 && pos.pos >= 0);
            }
            Err(()) => prop_assert!(!valid, "{} refused", text),
        }
    }

    #[test]
    fn a_position_the_server_sends_parses_back_to_itself(tx in 0..=999_999_999_999_999_999i64, pos in 0..=999_999_999_999_999_999i64) {
        let sent = EventPos { tx, pos };
        prop_assert_eq!(sent.to_string().parse::<EventPos>(), Ok(sent));
        let first = EventPos { tx: 0, pos };
        prop_assert_eq!(first.to_string().parse::<EventPos>(), Ok(first));
    }
}
