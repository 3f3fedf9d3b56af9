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
        if let Ok(slug) = Slug::parse(&text) {
            prop_assert!(ok_chars && (3..=40).contains(&text.len()));
            prop_assert_eq!(slug.as_str(), text.as_str());
        }
        if let Ok(item) = ItemId::parse(&text) {
            prop_assert!(ok_chars && (1..=40).contains(&text.len()));
            prop_assert_eq!(item.as_str(), text.as_str());
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
    fn currencies_and_statuses_round_trip(text in ".{0,5}") {
        if let Ok(c) = Currency::parse(&text) { prop_assert_eq!(c.as_str(), text.as_str()); }
        if let Some(s) = Status::parse(&text) { prop_assert_eq!(s.as_str(), text.as_str()); }
    }

    #[test]
    fn any_order_body_is_parsed_or_refused_never_a_panic(value in json_value()) {
        if let Ok(body) = serde_json::from_value::<NewOrderBody>(value.clone())
            && let Ok(order) = NewOrder::parse(body)
        {
            prop_assert!(!order.lines.is_empty());
            prop_assert!(order.lines.iter().all(|l| l.quantity >= 1));
            prop_assert!(!order.customer_name.trim().is_empty());
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
