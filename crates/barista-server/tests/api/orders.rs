use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn an_order_is_priced_from_the_menu_and_can_be_read_back() {
    let app = spawn_app().await;
    app.shop_with_menu("o-shop").await;
    let res = app
        .post_json(
            "/v1/shops/o-shop/orders",
            None,
            &json!({"customer_name": "Ana", "note": "oat milk",
                    "lines": [{"item_id": "flat-white", "quantity": 2, "unit_price_cents": 1}, {"item_id": "bun", "quantity": 1}]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/shops/o-shop/orders/{}", order["id"].as_str().unwrap())
    );
    assert_eq!(order["status"], "placed");
    assert_eq!(order["shop"], "o-shop");
    assert_eq!(order["note"], "oat milk");
    assert_eq!(order["version"], 1);
    assert_eq!(order["currency"], "EUR");
    assert_eq!(
        order["lines"][0],
        json!({"item_id": "flat-white", "name": "Flat white", "quantity": 2, "unit_price_cents": 380, "line_total_cents": 760})
    );
    assert_eq!(
        order["total_cents"],
        760 + 300,
        "a client cannot set prices"
    );
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.stock("o-shop", "bun").await, 4);

    let read: Value = app.get(&location, None).await.json().await.unwrap();
    assert_eq!(read, order);
}

#[tokio::test]
async fn items_off_the_menu_or_unavailable_are_409_naming_the_line() {
    let app = spawn_app().await;
    app.shop_with_menu("off-menu").await;
    let res = app
        .order(
            "off-menu",
            json!([{"item_id": "unicorn-latte", "quantity": 1}]),
        )
        .await;
    let body = assert_problem(res, 409, "item_unavailable").await;
    assert_eq!(body["errors"][0]["field"], "lines[0].item_id");
    let res = app
        .order(
            "off-menu",
            json!([{"item_id": "flat-white", "quantity": 1}, {"item_id": "cake", "quantity": 1}]),
        )
        .await;
    let body = assert_problem(res, 409, "item_unavailable").await;
    assert_eq!(body["errors"][0]["field"], "lines[1].item_id");
}

#[tokio::test]
async fn not_enough_stock_is_409_and_takes_nothing() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("stocky").await;
    app.put_item(
        "stocky",
        &key,
        "muffin",
        json!({"name": "Muffin", "category": "pastry", "price_cents": 300, "stock": 10}),
    )
    .await;
    let res = app
        .order(
            "stocky",
            json!([{"item_id": "muffin", "quantity": 2}, {"item_id": "bun", "quantity": 6}]),
        )
        .await;
    let body = assert_problem(res, 409, "out_of_stock").await;
    assert!(body["detail"].as_str().unwrap().contains("bun"));
    assert_eq!(
        app.stock("stocky", "muffin").await,
        10,
        "no line took stock"
    );
    assert_eq!(app.stock("stocky", "bun").await, 5);
    let list: Value = app
        .get("/v1/shops/stocky/orders", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["orders"].as_array().unwrap().is_empty(),
        "no order was recorded"
    );
}

#[tokio::test]
async fn every_order_limit_is_enforced() {
    let app = spawn_app().await;
    app.shop_with_menu("limits").await;
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({"item_id": format!("i{i}"), "quantity": 1}))
        .collect();
    for (body, field) in [
        (
            json!({"customer_name": "", "lines": [{"item_id": "bun", "quantity": 1}]}),
            "customer_name",
        ),
        (
            json!({"customer_name": "x".repeat(81), "lines": [{"item_id": "bun", "quantity": 1}]}),
            "customer_name",
        ),
        (
            json!({"customer_name": "A", "note": "n".repeat(281), "lines": [{"item_id": "bun", "quantity": 1}]}),
            "note",
        ),
        (json!({"customer_name": "A", "lines": []}), "lines"),
        (json!({"customer_name": "A", "lines": too_many}), "lines"),
        (
            json!({"customer_name": "A", "lines": [{"item_id": "bun", "quantity": 0}]}),
            "lines[0].quantity",
        ),
        (
            json!({"customer_name": "A", "lines": [{"item_id": "bun", "quantity": 100}]}),
            "lines[0].quantity",
        ),
        (
            json!({"customer_name": "A", "lines": [{"item_id": "bun", "quantity": 1}, {"item_id": "bun", "quantity": 1}]}),
            "lines[1].item_id",
        ),
    ] {
        let res = app.post_json("/v1/shops/limits/orders", None, &body).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let ok = app.post_json(
        "/v1/shops/limits/orders",
        None,
        &json!({"customer_name": "x".repeat(80), "note": "n".repeat(280), "lines": [{"item_id": "flat-white", "quantity": 99}]}),
    ).await;
    assert_eq!(ok.status(), 201, "the limits themselves are allowed");
    assert_eq!(app.stock("limits", "bun").await, 5);
}

async fn place_keyed(app: &App, key: &str, quantity: i64) -> reqwest::Response {
    app.client
        .post(app.url("/v1/shops/idem/orders"))
        .header("idempotency-key", key)
        .json(&json!({"customer_name": "Ana", "lines": [{"item_id": "bun", "quantity": quantity}]}))
        .send_checked()
        .await
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_replays_the_first_response() {
    let app = spawn_app().await;
    let staff = app.shop_with_menu("idem").await;
    let first = place_keyed(&app, "order-42", 2).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let mut first: Value = first.json().await.unwrap();
    // The estimate was of that moment; the replay is the order as placed.
    assert!(first.as_object_mut().unwrap().remove("pickup").is_some());

    let again = place_keyed(&app, "order-42", 2).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(
        app.stock("idem", "bun").await,
        3,
        "the replay took no stock"
    );
    let list: Value = app
        .get("/v1/shops/idem/orders", Some(&staff))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);

    let reused = place_keyed(&app, "order-42", 1).await;
    assert_problem(reused, 422, "idempotency_key_reused").await;
    let bad = place_keyed(&app, &"k".repeat(256), 1).await;
    assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(app.stock("idem", "bun").await, 3);
}

#[tokio::test]
async fn staff_list_orders_oldest_first_with_a_cursor() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("lister").await;
    let mut ids = vec![];
    for _ in 0..5 {
        let order: Value = app
            .order("lister", json!([{"item_id": "flat-white", "quantity": 1}]))
            .await
            .json()
            .await
            .unwrap();
        ids.push(order["id"].as_str().unwrap().to_owned());
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/shops/lister/orders?limit=2&cursor={c}"),
            None => "/v1/shops/lister/orders?limit=2".into(),
        };
        let page: Value = app.get(&path, Some(&key)).await.json().await.unwrap();
        seen.extend(
            page["orders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let claimed: Value = app
        .post_json("/v1/shops/lister/queue/claim", Some(&key), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let brewing: Value = app
        .get("/v1/shops/lister/orders?status=brewing", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(brewing["orders"].as_array().unwrap().len(), 1);
    assert_eq!(brewing["orders"][0]["id"], claimed["id"]);
    assert_eq!(brewing["next_cursor"], Value::Null);

    for query in [
        "limit=0",
        "limit=201",
        "limit=ten",
        "status=lost",
        "cursor=nonsense",
    ] {
        let res = app
            .get(&format!("/v1/shops/lister/orders?{query}"), Some(&key))
            .await;
        assert_problem(res, 422, "validation_failed").await;
    }
    assert_problem(
        app.get("/v1/shops/lister/orders", None).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn the_barista_claims_the_oldest_order_and_walks_it_to_collected() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("queue").await;
    let empty = json!({});
    let claim = || app.post_json("/v1/shops/queue/queue/claim", Some(&key), &empty);
    assert_eq!(claim().await.status(), 204, "nothing waiting");
    let first: Value = app
        .order("queue", json!([{"item_id": "flat-white", "quantity": 1}]))
        .await
        .json()
        .await
        .unwrap();
    let _second: Value = app
        .order("queue", json!([{"item_id": "flat-white", "quantity": 1}]))
        .await
        .json()
        .await
        .unwrap();

    let res = claim().await;
    assert_eq!(res.status(), 200);
    let claimed: Value = res.json().await.unwrap();
    assert_eq!(claimed["id"], first["id"], "oldest first");
    assert_eq!(claimed["status"], "brewing");
    assert_eq!(claimed["version"], 2);

    let status_url = format!(
        "/v1/shops/queue/orders/{}/status",
        first["id"].as_str().unwrap()
    );
    let collected = app
        .post_json(&status_url, Some(&key), &json!({"status": "collected"}))
        .await;
    assert_problem(collected, 409, "invalid_transition").await;
    let ready: Value = app
        .post_json(&status_url, Some(&key), &json!({"status": "ready"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (ready["status"].as_str(), ready["version"].as_i64()),
        (Some("ready"), Some(3))
    );
    let done = app
        .post_json(&status_url, Some(&key), &json!({"status": "collected"}))
        .await;
    assert_eq!(done.status(), 200);
    let cancel = app
        .post_json(&status_url, Some(&key), &json!({"status": "cancelled"}))
        .await;
    assert_problem(cancel, 409, "invalid_transition").await;
    let brewing = app
        .post_json(&status_url, Some(&key), &json!({"status": "brewing"}))
        .await;
    assert_problem(brewing, 422, "validation_failed").await;
    let nobody = app
        .post_json(&status_url, None, &json!({"status": "ready"}))
        .await;
    assert_problem(nobody, 401, "unauthorized").await;
}

#[tokio::test]
async fn cancelling_gives_the_stock_back() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("cancels").await;
    let order: Value = app
        .order("cancels", json!([{"item_id": "bun", "quantity": 3}]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(app.stock("cancels", "bun").await, 2);
    let url = format!(
        "/v1/shops/cancels/orders/{}/status",
        order["id"].as_str().unwrap()
    );
    let cancelled: Value = app
        .post_json(&url, Some(&key), &json!({"status": "cancelled"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(app.stock("cancels", "bun").await, 5);
}

#[tokio::test]
async fn one_shop_cannot_see_anothers_orders() {
    let app = spawn_app().await;
    app.shop_with_menu("shop-a").await;
    let key_b = app.shop_with_menu("shop-b").await;
    let order: Value = app
        .order("shop-a", json!([{"item_id": "bun", "quantity": 1}]))
        .await
        .json()
        .await
        .unwrap();
    let id = order["id"].as_str().unwrap();
    assert_problem(
        app.get(&format!("/v1/shops/shop-b/orders/{id}"), None)
            .await,
        404,
        "not_found",
    )
    .await;
    let res = app
        .post_json(
            &format!("/v1/shops/shop-b/orders/{id}/status"),
            Some(&key_b),
            &json!({"status": "cancelled"}),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .post_json(
            &format!("/v1/shops/shop-a/orders/{id}/status"),
            Some(&key_b),
            &json!({"status": "cancelled"}),
        )
        .await;
    assert_problem(res, 401, "unauthorized").await;
    assert_eq!(
        app.get(&format!("/v1/shops/shop-a/orders/{id}"), None)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "placed"
    );
    assert_problem(
        app.get("/v1/shops/shop-a/orders/not-a-uuid", None).await,
        404,
        "not_found",
    )
    .await;
}
