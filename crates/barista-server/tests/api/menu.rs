use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn the_menu_is_ordered_by_category_then_id_with_a_strong_etag() {
    let app = spawn_app().await;
    app.shop_with_menu("menu-shop").await;
    let res = app.get("/v1/shops/menu-shop/menu", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "public, max-age=1");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "strong ETag: {etag}"
    );
    let menu: Value = res.json().await.unwrap();
    assert_eq!(menu["shop"], "menu-shop");
    assert_eq!(menu["currency"], "EUR");
    assert!(menu["version"].as_i64().unwrap() >= 1);
    let ids: Vec<_> = menu["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["flat-white", "bun", "cake"]);
    assert_eq!(
        menu["items"][0],
        json!({"id": "flat-white", "name": "Flat white", "description": "", "category": "coffee",
               "price_cents": 380, "available": true, "stock": null})
    );
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_and_no_body() {
    let app = spawn_app().await;
    app.shop_with_menu("etag-shop").await;
    let first = app.get("/v1/shops/etag-shop/menu", None).await;
    let etag = first.headers()["etag"].clone();
    let res = app
        .client
        .get(app.url("/v1/shops/etag-shop/menu"))
        .header("if-none-match", etag.clone())
        .send_checked()
        .await;
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"], etag);
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_menu_change_is_served_on_the_very_next_request() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("fresh").await;
    let before = app.get("/v1/shops/fresh/menu", None).await;
    let etag = before.headers()["etag"].clone();
    let version = before.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();

    let res = app
        .put_item(
            "fresh",
            &key,
            "flat-white",
            json!({"name": "Flat white", "category": "coffee", "price_cents": 400}),
        )
        .await;
    assert_eq!(res.status(), 200, "replacing an item is 200");

    let after = app
        .client
        .get(app.url("/v1/shops/fresh/menu"))
        .header("if-none-match", etag.clone())
        .send_checked()
        .await;
    assert_eq!(after.status(), 200, "the old ETag no longer matches");
    assert_ne!(after.headers()["etag"], etag);
    let menu: Value = after.json().await.unwrap();
    assert!(menu["version"].as_i64().unwrap() > version);
    assert_eq!(menu["items"][0]["price_cents"], 400);
}

#[tokio::test]
async fn put_creates_then_replaces_an_item() {
    let app = spawn_app().await;
    let key = app.create_shop("put-shop").await;
    let item = json!({"name": "Tea", "category": "tea", "price_cents": 300, "description": "hot", "stock": 3});
    let res = app.put_item("put-shop", &key, "tea", item.clone()).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"id": "tea", "name": "Tea", "description": "hot", "category": "tea",
                            "price_cents": 300, "available": true, "stock": 3})
    );
    let res = app
        .put_item(
            "put-shop",
            &key,
            "tea",
            json!({"name": "Tea", "category": "tea", "price_cents": 310}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["description"], "", "PUT replaces the whole item");
    assert_eq!(body["stock"], Value::Null);
}

#[tokio::test]
async fn patch_changes_only_the_fields_given() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("patch-shop").await;
    let res = app
        .client
        .patch(app.url("/v1/shops/patch-shop/menu/items/bun"))
        .bearer_auth(&key)
        .json(&json!({"price_cents": 320, "stock": null}))
        .send_checked()
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["price_cents"], 320);
    assert_eq!(body["stock"], Value::Null, "null stock means unlimited");
    assert_eq!(body["name"], "Bun");
    assert_eq!(app.stock("patch-shop", "bun").await, Value::Null);

    let res = app
        .client
        .patch(app.url("/v1/shops/patch-shop/menu/items/nothing"))
        .bearer_auth(&key)
        .json(&json!({"price_cents": 1}))
        .send_checked()
        .await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn delete_removes_an_item_from_the_menu() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("del-shop").await;
    let url = app.url("/v1/shops/del-shop/menu/items/cake");
    let res = app
        .client
        .delete(&url)
        .bearer_auth(&key)
        .send_checked()
        .await;
    assert_eq!(res.status(), 204);
    let menu: Value = app
        .get("/v1/shops/del-shop/menu", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        menu["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != "cake")
    );
    let again = app
        .client
        .delete(&url)
        .bearer_auth(&key)
        .send_checked()
        .await;
    assert_problem(again, 404, "not_found").await;
}

#[tokio::test]
async fn menu_writes_need_this_shops_staff_key() {
    let app = spawn_app().await;
    let _key = app.shop_with_menu("mine").await;
    let other_key = app.create_shop("theirs").await;
    let item = json!({"name": "X", "category": "x", "price_cents": 1});
    assert_problem(
        app.put_item("mine", &other_key, "x", item.clone()).await,
        401,
        "unauthorized",
    )
    .await;
    let res = app
        .client
        .put(app.url("/v1/shops/mine/menu/items/x"))
        .json(&item)
        .send_checked()
        .await;
    assert_problem(res, 401, "unauthorized").await;
    let res = app
        .client
        .delete(app.url("/v1/shops/mine/menu/items/bun"))
        .bearer_auth(&other_key)
        .send_checked()
        .await;
    assert_problem(res, 401, "unauthorized").await;
    assert_eq!(app.stock("mine", "bun").await, 5, "nothing changed");
}

#[tokio::test]
async fn invalid_items_are_422_with_every_field_named() {
    let app = spawn_app().await;
    let key = app.create_shop("bad-items").await;
    let res = app
        .put_item(
            "bad-items",
            &key,
            "x",
            json!({"name": "", "category": "c", "price_cents": -5, "stock": 2000000}),
        )
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["name", "price_cents", "stock"]);
    let res = app
        .put_item(
            "bad-items",
            &key,
            "Bad_Id",
            json!({"name": "A", "category": "c", "price_cents": 1}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
}
