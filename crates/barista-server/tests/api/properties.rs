//! Property tests through the running server: whatever a client sends as an
//! order body or as the headers and query the server parses (`Idempotency-Key`,
//! `Last-Event-ID`, `Authorization`, `If-None-Match`, `cursor`, `status`,
//! `limit`), the answer is a success or an RFC 9457 problem, never a 5xx, and
//! nothing changes but what a 201 says it made.

use crate::common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, TestRunner};
use serde_json::Value;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Bodies that are often nearly an order: JSON of the right shape with odd
/// values, JSON of other shapes, and bytes that are not JSON at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![Just("Ana".to_string()), ".{0,90}", Just(String::new())];
    let item = prop_oneof![
        Just("flat-white".to_string()),
        Just("bun".to_string()),
        Just("cake".to_string()),
        "[a-z0-9-]{0,45}",
        ".{0,10}"
    ];
    let quantity = prop_oneof![
        (-5i64..120).prop_map(|q| q.to_string()),
        Just("1.0".to_string()),
        Just("1.5".to_string()),
        Just("1e2".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("null".to_string()),
        Just("\"2\"".to_string()),
    ];
    let order = (
        name,
        ".{0,300}",
        prop::collection::vec((item, quantity), 0..4),
    )
        .prop_map(|(name, note, lines)| {
            let lines: Vec<String> = lines
                .into_iter()
                .map(|(i, q)| format!("{{\"item_id\": {}, \"quantity\": {q}}}", Value::from(i)))
                .collect();
            format!(
                "{{\"customer_name\": {}, \"note\": {}, \"lines\": [{}]}}",
                Value::from(name),
                Value::from(note),
                lines.join(",")
            )
            .into_bytes()
        });
    prop_oneof![
        4 => order,
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => "\\{.{0,60}".prop_map(String::into_bytes),
    ]
}

/// Header values as a client might send them (visible ASCII, often a near miss).
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,300}",
        "[0-9.]{0,40}",
        Just(String::new()),
        Just("0".to_string()),
        Just("Bearer ".to_string()),
        Just("\"1-0123456789abcdef\"".to_string()),
    ]
}

#[test]
fn any_order_body_is_an_order_or_a_problem_and_nothing_else_changes() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    let staff = rt.block_on(app.shop_with_menu("prop"));
    let created = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(RunConfig {
        cases: 200,
        failure_persistence: None,
        ..RunConfig::default()
    });
    runner
        .run(&body(), |bytes| {
            let (status, problem) = rt.block_on(async {
                let res = app
                    .client
                    .post(app.url("/v1/shops/prop/orders"))
                    .header("content-type", "application/json")
                    .body(bytes.clone())
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let is_problem = res
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v == "application/problem+json");
                (status, is_problem)
            });
            prop_assert!(
                status < 500,
                "{status} for {:?}",
                String::from_utf8_lossy(&bytes)
            );
            if status == 201 {
                created.set(created.get() + 1);
            } else {
                prop_assert!(problem, "{status} without a problem body");
                prop_assert!([400, 409, 413, 422].contains(&status), "{status}");
            }
            Ok(())
        })
        .unwrap();
    // Exactly the orders a 201 acknowledged exist.
    let listed = rt.block_on(async {
        let mut count = 0;
        let mut cursor = String::new();
        loop {
            let page: Value = app
                .get(
                    &format!("/v1/shops/prop/orders?limit=200&cursor={cursor}"),
                    Some(&staff),
                )
                .await
                .json()
                .await
                .unwrap();
            count += page["orders"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => break count,
            }
        }
    });
    assert_eq!(
        listed,
        created.get(),
        "every 201 made one order, nothing else made any"
    );
}

#[test]
fn any_header_or_query_a_client_sends_is_answered_without_a_5xx() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    let staff = rt.block_on(app.shop_with_menu("propq"));
    let order: Value = rt.block_on(async {
        app.order(
            "propq",
            serde_json::json!([{"item_id": "flat-white", "quantity": 1}]),
        )
        .await
        .json()
        .await
        .unwrap()
    });
    let order_path = format!("/v1/shops/propq/orders/{}", order["id"].as_str().unwrap());
    let mut runner = TestRunner::new(RunConfig {
        cases: 200,
        failure_persistence: None,
        ..RunConfig::default()
    });
    let case = (0..6usize, header_value(), any::<bool>());
    runner
        .run(&case, |(which, value, as_staff)| {
            let status = rt.block_on(async {
                let key = as_staff.then_some(staff.as_str());
                let client = &app.client;
                let with_key = |req: reqwest::RequestBuilder| match key {
                    Some(k) => req.bearer_auth(k),
                    None => req,
                };
                let req = match which {
                    0 => client
                        .post(app.url("/v1/shops/propq/orders"))
                        .header("idempotency-key", value.as_str())
                        .json(&serde_json::json!({"customer_name": "Ana", "lines": [{"item_id": "flat-white", "quantity": 1}]})),
                    1 => with_key(client.get(app.url(&format!("{order_path}/events"))))
                        .header("last-event-id", value.as_str()),
                    2 => client
                        .get(app.url("/v1/shops/propq/orders"))
                        .header("authorization", value.as_str()),
                    3 => client
                        .get(app.url("/v1/shops/propq/menu"))
                        .header("if-none-match", value.as_str()),
                    4 => with_key(client.get(app.url("/v1/shops/propq/orders")))
                        .query(&[("cursor", value.as_str()), ("status", value.as_str())]),
                    _ => with_key(client.get(app.url("/v1/shops/propq/orders")))
                        .query(&[("limit", value.as_str())]),
                };
                let Ok(req) = req.build() else {
                    return 0; // not a valid HTTP header value: never sent
                };
                let res = client.execute(req).await.unwrap();
                res.status().as_u16()
            });
            prop_assert!(status < 500, "case {which} with {value:?}: {status}");
            Ok(())
        })
        .unwrap();
}
