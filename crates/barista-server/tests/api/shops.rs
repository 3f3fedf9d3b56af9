use crate::common::*;
use barista_server::Config;
use serde_json::{Value, json};

#[tokio::test]
async fn the_admin_creates_a_shop_and_gets_its_staff_key_once() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/v1/shops",
            Some(ADMIN),
            &json!({"slug": "blue-door", "name": "Blue Door Coffee", "currency": "EUR"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["location"], "/v1/shops/blue-door");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["shop"]["slug"], "blue-door");
    assert_eq!(body["shop"]["name"], "Blue Door Coffee");
    assert_eq!(body["shop"]["currency"], "EUR");
    assert!(body["staff_key"].as_str().unwrap().len() > 40);

    let shop: Value = app
        .get("/v1/shops/blue-door", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        shop, body["shop"],
        "anyone can read the shop, and never its key"
    );
}

#[tokio::test]
async fn a_taken_slug_is_409() {
    let app = spawn_app().await;
    app.create_shop("taken").await;
    let res = app
        .post_json(
            "/v1/shops",
            Some(ADMIN),
            &json!({"slug": "taken", "name": "Again", "currency": "USD"}),
        )
        .await;
    assert_problem(res, 409, "slug_taken").await;
}

#[tokio::test]
async fn invalid_shop_fields_are_each_reported() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/v1/shops",
            Some(ADMIN),
            &json!({"slug": "No", "name": "", "currency": "euro"}),
        )
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, [json!("slug"), json!("name"), json!("currency")]);
}

#[tokio::test]
async fn a_wrong_admin_token_is_401() {
    let app = spawn_app().await;
    let body = json!({"slug": "abc", "name": "A", "currency": "EUR"});
    assert_problem(
        app.post_json("/v1/shops", Some("guess"), &body).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.post_json("/v1/shops", None, &body).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn admin_routes_do_not_exist_without_an_admin_token() {
    let app = spawn_app_with(Config::default(), Default::default()).await;
    let res = app
        .post_json(
            "/v1/shops",
            Some(ADMIN),
            &json!({"slug": "abc", "name": "A", "currency": "EUR"}),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn an_unknown_shop_is_404() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/shops/nowhere", None).await, 404, "not_found").await;
    assert_problem(
        app.get("/v1/shops/NOT-A-SLUG/menu", None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn each_role_serves_its_part_and_points_the_rest_elsewhere() {
    use barista_server::Role;
    let orders = spawn_app_with(
        Config {
            role: Role::Orders,
            ..config()
        },
        Default::default(),
    )
    .await;
    orders.shop_with_menu("roles").await;
    assert_eq!(
        orders
            .order("roles", json!([{"item_id": "bun", "quantity": 1}]))
            .await
            .status(),
        201
    );
    let body = assert_problem(
        orders.get("/v1/shops/roles/menu", None).await,
        404,
        "not_found",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("`menu` role"),
        "{body}"
    );

    // A menu replica over the same database serves the menu the orders
    // replica's shop has, and the shop.
    let menu = orders
        .spawn_beside(Config {
            role: Role::Menu,
            ..config()
        })
        .await;
    let served = menu.get("/v1/shops/roles/menu", None).await;
    assert_eq!(served.status(), 200);
    let served: serde_json::Value = served.json().await.unwrap();
    assert!(
        served["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == "bun"),
        "{served}"
    );
    assert_eq!(menu.get("/v1/shops/roles", None).await.status(), 200);
    let refused = menu
        .post_json(
            "/v1/shops",
            Some(ADMIN),
            &json!({"slug": "abc", "name": "A", "currency": "EUR"}),
        )
        .await;
    let body = assert_problem(refused, 404, "not_found").await;
    assert!(
        body["detail"].as_str().unwrap().contains("`orders` role"),
        "{body}"
    );
    let body = assert_problem(menu.order("roles", json!([])).await, 404, "not_found").await;
    assert!(body["detail"].as_str().unwrap().contains("role"), "{body}");
    for app in [&orders, &menu] {
        assert_eq!(
            app.get("/healthz", None).await.status(),
            200,
            "health on every role"
        );
        assert_eq!(app.get("/openapi.json", None).await.status(), 200);
    }
}
