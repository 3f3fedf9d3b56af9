//! Property tests of the parsers a client reaches through the domain: ids,
//! keys, currencies, statuses and the request bodies. Whatever the input, a
//! parser answers `Ok` or `Err` (never panics); what it accepts obeys the
//! documented rules; and the values a client is given parse back to themselves.

use barista_domain::{
    Currency, IdempotencyKey, ItemBody, ItemFields, ItemId, ItemPatch, ItemPatchBody, NewOrder,
    NewOrderBody, NewShop, OrderId, ShopBody, Slug, Status,
};
use proptest::prelude::*;

/// JSON text that is often nearly a valid body: valid fields, wrong types,
/// huge and negative numbers, floats, nulls, missing and extra fields.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        prop_oneof!["[a-z0-9-]{0,45}", ".{0,300}", Just("espresso".to_string()),]
            .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("customer_name".to_string()),
                    Just("note".to_string()),
                    Just("lines".to_string()),
                    Just("item_id".to_string()),
                    Just("quantity".to_string()),
                    Just("name".to_string()),
                    Just("category".to_string()),
                    Just("price_cents".to_string()),
                    Just("stock".to_string()),
                    Just("available".to_string()),
                    Just("slug".to_string()),
                    Just("currency".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn an_order_id_parses_only_its_canonical_form(text in ".{0,40}", bytes in any::<[u8; 16]>()) {
        let _ = OrderId::parse(&text);
        let id = OrderId(uuid::Uuid::from_bytes(bytes));
        prop_assert_eq!(OrderId::parse(&id.to_string()), Ok(id));
        prop_assert!(OrderId::parse(&id.to_string().to_uppercase()).is_err() || id.to_string() == id.to_string().to_uppercase());
    }

    #[test]
    fn fresh_order_ids_are_version_4_and_distinct(_n in 0..8u8) {
        let (a, b) = (OrderId::generate(), OrderId::generate());
        prop_assert_eq!(a.0.get_version_num(), 4);
        prop_assert_ne!(a, b);
    }

    #[test]
    fn slugs_and_item_ids_accept_exactly_their_alphabet(text in "[a-z0-9-]{0,45}|.{0,45}") {
        let ok_chars = !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        match Slug::parse(&text) {
            Ok(slug) => {
                prop_assert!(ok_chars && (3..=40).contains(&text.len()));
                prop_assert_eq!(slug.as_str(), text.as_str());
            }
            Err(_) => prop_assert!(!(ok_chars && (3..=40).contains(&text.len()))),
        }
        match ItemId::parse(&text) {
            Ok(item) => {
                prop_assert!(ok_chars && (1..=40).contains(&text.len()));
                prop_assert_eq!(item.as_str(), text.as_str());
            }
            Err(_) => prop_assert!(!(ok_chars && (1..=40).contains(&text.len()))),
        }
    }

    #[test]
    fn idempotency_keys_are_1_to_255_printable_ascii(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let valid = (1..=255).contains(&bytes.len()) && bytes.iter().all(|b| (0x20..=0x7e).contains(b));
        match IdempotencyKey::parse(&bytes) {
            Ok(key) => { prop_assert!(valid); prop_assert_eq!(key.as_str().as_bytes(), bytes.as_slice()); }
            Err(_) => prop_assert!(!valid),
        }
    }

    #[test]
    fn any_order_body_is_parsed_or_refused_never_a_panic(value in json_value()) {
        if let Ok(body) = serde_json::from_value::<NewOrderBody>(value.clone())
            && let Ok(order) = NewOrder::parse(body)
        {
            prop_assert!(order.lines.iter().all(|l| l.quantity >= 1));
        }
        if let Ok(body) = serde_json::from_value::<ItemBody>(value.clone())
            && let Ok(fields) = ItemFields::parse(body)
        {
            prop_assert!(fields.price_cents >= 0);
            prop_assert!(!fields.name.trim().is_empty());
        }
        if let Ok(body) = serde_json::from_value::<ItemPatchBody>(value.clone()) {
            let _ = ItemPatch::parse(body);
        }
        if let Ok(body) = serde_json::from_value::<ShopBody>(value)
            && let Ok(shop) = NewShop::parse(body)
        {
            prop_assert!(Slug::parse(shop.slug.as_str()).is_ok());
        }
    }

    #[test]
    fn any_bytes_as_an_order_body_are_parsed_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(body) = serde_json::from_slice::<NewOrderBody>(&bytes) {
            let _ = NewOrder::parse(body);
        }
    }
}

// The rules below are checked on inputs made valid and invalid on purpose,
// against an oracle written from docs/api.md, and each test counts that both
// kinds ran: a property whose accepting branch never runs proves nothing.

use proptest::test_runner::{Config, TestRunner};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Counts of the inputs the oracle called valid and invalid.
#[derive(Default)]
struct Both {
    valid: AtomicUsize,
    invalid: AtomicUsize,
}

impl Both {
    fn saw(&self, valid: bool) {
        if valid { &self.valid } else { &self.invalid }.fetch_add(1, Relaxed);
    }

    fn assert_each_ran(&self, at_least: usize) {
        let (v, i) = (self.valid.load(Relaxed), self.invalid.load(Relaxed));
        assert!(v >= at_least && i >= at_least, "valid {v}, invalid {i}");
    }
}

#[test]
fn currencies_are_parsed_exactly_when_three_capital_letters() {
    let both = Both::default();
    let text = prop_oneof!["[A-Z]{3}", "[A-Za-z]{2,4}", ".{0,5}"];
    runner()
        .run(&text, |t| {
            let valid = t.len() == 3 && t.bytes().all(|b| b.is_ascii_uppercase());
            both.saw(valid);
            match Currency::parse(&t) {
                Ok(c) => {
                    prop_assert!(valid, "{t:?} accepted");
                    prop_assert_eq!(c.as_str(), t.as_str());
                }
                Err(_) => prop_assert!(!valid, "{t:?} refused"),
            }
            Ok(())
        })
        .unwrap();
    both.assert_each_ran(100);
}

#[test]
fn statuses_are_parsed_exactly_when_one_of_the_five() {
    let both = Both::default();
    let names: Vec<&'static str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let text = prop_oneof![
        prop::sample::select(names.clone()).prop_map(str::to_owned),
        "[a-z]{4,9}",
        ".{0,10}",
    ];
    runner()
        .run(&text, |t| {
            let valid = names.contains(&t.as_str());
            both.saw(valid);
            match Status::parse(&t) {
                Some(s) => {
                    prop_assert!(valid);
                    prop_assert_eq!(s.as_str(), t.as_str());
                }
                None => prop_assert!(!valid, "{t:?} refused"),
            }
            Ok(())
        })
        .unwrap();
    both.assert_each_ran(100);
}

/// An order body near the rules: names of every length and blank ones,
/// lines of good and bad ids (and repeated ones), quantities in range and
/// anywhere in `i64`.
fn order_body() -> impl Strategy<Value = (String, Vec<(String, i64)>)> {
    let name = prop_oneof![
        12 => "[A-Za-z][A-Za-z ]{0,30}",
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
        1 => "[a-z]{81,90}",
        1 => "[a-z]{1,5}\u{7}",
    ];
    let id = prop_oneof![
        30 => "[a-z0-9-]{4,12}",
        1 => "[a-z]{41,45}",
        1 => "[A-Z_ ]{1,5}",
    ];
    let quantity =
        prop_oneof![30 => 1i64..=99, 1 => any::<i64>(), 1 => -5i64..=0, 1 => 100i64..=200];
    let lines = prop_oneof![
        10 => prop::collection::vec((id.clone(), quantity.clone()), 1..4),
        1 => Just(vec![]),
        1 => prop::collection::vec((id, quantity), 51..53),
    ];
    (name, lines)
}

#[test]
fn an_order_body_is_accepted_exactly_when_it_keeps_every_rule() {
    let both = Both::default();
    runner()
        .run(&order_body(), |(name, lines)| {
            let chars = name.chars().count();
            let name_ok = (1..=80).contains(&chars)
                && !name.trim().is_empty()
                && !name.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
            let ids: Vec<&String> = lines.iter().map(|(id, _)| id).collect();
            let ids_ok = ids.iter().all(|id| {
                (1..=40).contains(&id.len())
                    && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
            let distinct = ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id));
            let quantities_ok = lines.iter().all(|(_, q)| (1..=99).contains(q));
            let valid = name_ok
                && (1..=50).contains(&lines.len())
                && ids_ok
                && distinct
                && quantities_ok;
            both.saw(valid);
            let body = serde_json::json!({
                "customer_name": name,
                "lines": lines.iter().map(|(id, q)| serde_json::json!({"item_id": id, "quantity": q})).collect::<Vec<_>>(),
            });
            let parsed = serde_json::from_value::<NewOrderBody>(body)
                .ok()
                .map(NewOrder::parse);
            match parsed {
                Some(Ok(order)) => {
                    prop_assert!(valid, "accepted: {name:?} {lines:?}");
                    prop_assert_eq!(order.lines.len(), lines.len());
                }
                _ => prop_assert!(!valid, "refused: {name:?} {lines:?}"),
            }
            Ok(())
        })
        .unwrap();
    both.assert_each_ran(100);
}

#[test]
fn an_item_is_accepted_exactly_when_its_price_and_stock_are_in_range() {
    let both = Both::default();
    let price = prop_oneof![4 => 0i64..=1_000_000, 1 => any::<i64>(), 1 => 1_000_001i64..=2_000_000, 1 => -100i64..0];
    let stock = prop_oneof![2 => Just(None), 4 => (0i64..=1_000_000).prop_map(Some), 1 => any::<i64>().prop_map(Some)];
    runner()
        .run(&(price, stock), |(price, stock)| {
            let valid = (0..=1_000_000).contains(&price)
                && stock.is_none_or(|s| (0..=1_000_000).contains(&s));
            both.saw(valid);
            let body = serde_json::json!({"name": "Bun", "category": "pastry", "price_cents": price, "stock": stock});
            let parsed = serde_json::from_value::<ItemBody>(body).ok().map(ItemFields::parse);
            match parsed {
                Some(Ok(fields)) => {
                    prop_assert!(valid, "accepted {price} {stock:?}");
                    prop_assert_eq!(fields.price_cents, price);
                }
                _ => prop_assert!(!valid, "refused {price} {stock:?}"),
            }
            Ok(())
        })
        .unwrap();
    both.assert_each_ran(100);
}
