//! Sizes and choices, opening hours and the pause, end to end over HTTP: what
//! the server prices, refuses and records, on either backend.

use crate::common::*;
use serde_json::{Value, json};

async fn send(
    app: &App,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send_checked().await
}

/// A café with a sized, milk-and-extras flat white: milk exactly one, extras up to three.
async fn cafe(app: &App, slug: &str) -> String {
    let key = app.create_shop(slug).await;
    let milk = json!({"name": "Milk", "min": 1, "max": 1, "modifiers": [
        {"id": "whole", "name": "Whole"},
        {"id": "oat", "name": "Oat", "price_delta_cents": 50},
        {"id": "soy", "name": "Soy", "price_delta_cents": 40}]});
    let extras = json!({"name": "Extras", "max": 3, "modifiers": [
        {"id": "extra-shot", "name": "Extra shot", "price_delta_cents": 60},
        {"id": "vanilla", "name": "Vanilla syrup", "price_delta_cents": 45}]});
    for (id, group) in [("milk", milk), ("extras", extras)] {
        let path = format!("/v1/shops/{slug}/menu/modifier-groups/{id}");
        let res = send(app, "PUT", &path, &key, Some(group)).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let item = json!({"name": "Flat white", "category": "coffee", "stock": 20,
        "variations": [{"id": "small", "name": "Small", "price_cents": 320},
                       {"id": "large", "name": "Large", "price_cents": 420}],
        "modifier_groups": ["milk", "extras"]});
    let res = app.put_item(slug, &key, "flat-white", item).await;
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    assert_eq!(made["price_cents"], 320, "the first size's price");
    assert!(
        app.put_item(
            slug,
            &key,
            "tea",
            json!({"name": "Tea", "category": "tea", "price_cents": 250})
        )
        .await
        .status()
        .is_success()
    );
    key
}

#[tokio::test]
async fn a_large_oat_flat_white_with_an_extra_shot_is_priced_checked_and_kept_as_ordered() {
    let app = spawn_app().await;
    let key = cafe(&app, "choices").await;
    let menu: Value = app
        .get("/v1/shops/choices/menu", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(menu["modifier_groups"].as_array().unwrap().len(), 2);
    assert_eq!(menu["ordering"]["open"], true);
    let tea = menu["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "tea")
        .unwrap();
    assert!(
        tea.get("variations").is_none(),
        "a plain item looks as it did: {tea}"
    );

    let res = app
        .order(
            "choices",
            json!([{"item_id": "flat-white", "quantity": 2, "variation_id": "large",
                    "modifiers": ["oat", "extra-shot"]},
                   {"item_id": "flat-white", "quantity": 1, "modifiers": ["whole"]},
                   {"item_id": "tea", "quantity": 1}]),
        )
        .await;
    assert_eq!(res.status(), 201);
    let order: Value = res.json().await.unwrap();
    let big = &order["lines"][0];
    assert_eq!(big["unit_price_cents"], 420 + 50 + 60);
    assert_eq!(big["line_total_cents"], 2 * 530);
    assert_eq!(big["variation"]["name"], "Large");
    assert_eq!(big["modifiers"][0]["name"], "Oat");
    assert_eq!(big["modifiers"][1]["group"], "extras");
    assert_eq!(order["lines"][1]["variation"]["id"], "small");
    assert!(order["lines"][2].get("variation").is_none());
    assert_eq!(order["total_cents"], 1060 + 320 + 250);
    assert_eq!(
        app.stock("choices", "flat-white").await,
        17,
        "stock per item"
    );

    // A later price change never rewrites the order.
    let item = json!({"name": "Flat white", "category": "coffee",
        "variations": [{"id": "small", "name": "Small", "price_cents": 999}],
        "modifier_groups": ["milk"]});
    assert_eq!(
        app.put_item("choices", &key, "flat-white", item)
            .await
            .status(),
        200
    );
    let again: Value = app
        .get(
            &format!("/v1/shops/choices/orders/{}", order["id"].as_str().unwrap()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["lines"], order["lines"]);
}

#[tokio::test]
async fn a_selection_that_breaks_the_rules_is_refused_by_line_and_group_and_changes_nothing() {
    let app = spawn_app().await;
    let key = cafe(&app, "refusals").await;
    let cases = [
        (
            json!([{"item_id": "flat-white", "quantity": 1}]),
            422,
            "lines[0].modifiers",
            "`milk`",
        ),
        (
            json!([{"item_id": "flat-white", "quantity": 1, "modifiers": ["oat", "soy"]}]),
            422,
            "lines[0].modifiers",
            "exactly 1",
        ),
        (
            json!([{"item_id": "tea", "quantity": 1},
                   {"item_id": "flat-white", "quantity": 1, "modifiers": ["oat", "vanilla", "vanilla", "vanilla", "extra-shot"]}]),
            422,
            "lines[1].modifiers",
            "`extras`",
        ),
        (
            json!([{"item_id": "flat-white", "quantity": 1, "variation_id": "venti", "modifiers": ["oat"]}]),
            422,
            "lines[0].variation_id",
            "small, large",
        ),
        (
            json!([{"item_id": "tea", "quantity": 1, "modifiers": ["oat"]}]),
            422,
            "lines[0].modifiers[0]",
            "not offered",
        ),
        (
            json!([{"item_id": "tea", "quantity": 1, "variation_id": "large"}]),
            422,
            "lines[0].variation_id",
            "no sizes",
        ),
    ];
    for (lines, status, field, says) in cases {
        let body = assert_problem(
            app.order("refusals", lines.clone()).await,
            status,
            "validation_failed",
        )
        .await;
        let errors = body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["message"].as_str().unwrap().contains(says)),
            "{lines} -> {body}"
        );
    }
    // The 86: oat milk off for every drink at once, then back.
    let res = send(
        &app,
        "PATCH",
        "/v1/shops/refusals/menu/modifiers/oat",
        &key,
        Some(json!({"available": false})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body = assert_problem(
        app.order(
            "refusals",
            json!([{"item_id": "flat-white", "quantity": 1, "modifiers": ["oat"]}]),
        )
        .await,
        409,
        "item_unavailable",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "lines[0].modifiers[0]");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("(Milk)")
    );
    let res = send(
        &app,
        "PATCH",
        "/v1/shops/refusals/menu/modifiers/nope",
        &key,
        Some(json!({"available": false})),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    assert_eq!(
        app.stock("refusals", "flat-white").await,
        20,
        "nothing was taken"
    );
    let orders: Value = app
        .get("/v1/shops/refusals/orders", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        orders["orders"].as_array().unwrap().len(),
        0,
        "no order was made"
    );

    // Menu edits are checked against the menu too (409 menu_conflict): an
    // unknown group, a modifier id another group has, a group items offer.
    let res = app
        .put_item("refusals", &key, "mocha", json!({"name": "Mocha", "category": "coffee", "price_cents": 400, "modifier_groups": ["syrups"]}))
        .await;
    assert_eq!(
        assert_problem(res, 409, "menu_conflict").await["errors"][0]["field"],
        "modifier_groups[0]"
    );
    let clash = json!({"name": "Cold milk", "max": 1, "modifiers": [{"id": "oat", "name": "Oat"}]});
    let res = send(
        &app,
        "PUT",
        "/v1/shops/refusals/menu/modifier-groups/cold-milk",
        &key,
        Some(clash),
    )
    .await;
    let body = assert_problem(res, 409, "menu_conflict").await;
    assert_eq!(body["errors"][0]["field"], "modifiers[0].id");
    let res = send(
        &app,
        "DELETE",
        "/v1/shops/refusals/menu/modifier-groups/milk",
        &key,
        None,
    )
    .await;
    let body = assert_problem(res, 409, "menu_conflict").await;
    assert!(
        body["detail"].as_str().unwrap().contains("flat-white"),
        "{body}"
    );
    let res = app
        .put_item(
            "refusals",
            &key,
            "flat-white",
            json!({"name": "Flat white", "category": "coffee", "price_cents": 1,
            "variations": [{"id": "small", "name": "Small", "price_cents": 320}]}),
        )
        .await;
    assert_eq!(
        assert_problem(res, 422, "validation_failed").await["errors"][0]["field"],
        "price_cents"
    );
}

#[tokio::test]
async fn outside_the_hours_and_while_paused_orders_are_refused_with_when_the_shop_opens() {
    let app = spawn_app().await;
    let key = cafe(&app, "hours").await;
    let line = json!([{"item_id": "tea", "quantity": 1}]);
    // Closed every day but a date far ahead: refused, and told when it opens.
    let hours = json!({"time_zone": "Pacific/Auckland", "weekly": {},
        "exceptions": [{"date": "2099-01-01", "hours": [{"opens": "08:00", "closes": "12:00"}]}]});
    let res = send(&app, "PUT", "/v1/shops/hours/hours", &key, Some(hours)).await;
    assert_eq!(res.status(), 200);
    let schedule: Value = res.json().await.unwrap();
    assert_eq!(schedule["ordering"]["open"], false);
    assert_eq!(schedule["hours"]["time_zone"], "Pacific/Auckland");
    let body = assert_problem(app.order("hours", line.clone()).await, 409, "shop_closed").await;
    assert_eq!(body["ordering"]["reason"], "closed");
    let menu: Value = app
        .get("/v1/shops/hours/menu", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(menu["ordering"]["open"], false, "the menu says so at once");

    // Nothing in the next two weeks: no time to give. Then open all day, every day.
    let now_here: Value = app
        .get("/v1/shops/hours/hours", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        now_here["ordering"].get("opens_at").is_none(),
        "no opening within two weeks"
    );
    let res = send(
        &app,
        "PUT",
        "/v1/shops/hours/hours",
        &key,
        Some(json!({"time_zone": "UTC"})),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["ordering"]["open"], true);
    assert_eq!(app.order("hours", line.clone()).await.status(), 201);

    // A pause for 15 minutes: refused until it ends, then resumed by hand.
    let res = send(
        &app,
        "PUT",
        "/v1/shops/hours/pause",
        &key,
        Some(json!({"minutes": 15})),
    )
    .await;
    let paused: Value = res.json().await.unwrap();
    assert_eq!(paused["ordering"]["reason"], "paused");
    assert_eq!(
        paused["ordering"]["opens_at"],
        paused["ordering"]["paused_until"]
    );
    let res = app.order("hours", line.clone()).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    let body = assert_problem(res, 409, "shop_closed").await;
    assert!(
        body["detail"].as_str().unwrap().contains("paused"),
        "{body}"
    );
    let menu: Value = app
        .get("/v1/shops/hours/menu", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(menu["ordering"]["reason"], "paused");
    let res = send(&app, "DELETE", "/v1/shops/hours/pause", &key, None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["ordering"]["open"], true);
    assert_eq!(app.order("hours", line.clone()).await.status(), 201);
    // Until resumed: no time to give.
    send(&app, "PUT", "/v1/shops/hours/pause", &key, Some(json!({}))).await;
    let res = app.order("hours", line.clone()).await;
    assert!(res.headers().get("retry-after").is_none());
    assert_problem(res, 409, "shop_closed").await;

    // Bad hours and pauses are refused field by field, and change nothing.
    let bad = json!({"time_zone": "Atlantis/Lost", "weekly": {"mon": [{"opens": "18:00", "closes": "07:00"}]}});
    let body = assert_problem(
        send(&app, "PUT", "/v1/shops/hours/hours", &key, Some(bad)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    let res = send(
        &app,
        "PUT",
        "/v1/shops/hours/pause",
        &key,
        Some(json!({"minutes": 0})),
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
    let still: Value = app
        .get("/v1/shops/hours/hours", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["hours"]["time_zone"], "UTC");
    assert_eq!(still["ordering"]["reason"], "paused");
}
