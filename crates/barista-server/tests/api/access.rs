//! Access comes from the route table: every operation the OpenAPI document
//! marks as needing a credential refuses a request without one, and one with
//! another shop's key, whatever its handler does.

use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn every_operation_that_needs_a_credential_refuses_none_and_a_wrong_one() {
    let app = spawn_app().await;
    app.shop_with_menu("guarded").await;
    let other_key = app.create_shop("elsewhere").await;
    let placed: Value = app
        .order("guarded", json!([{"item_id": "flat-white", "quantity": 1}]))
        .await
        .json()
        .await
        .unwrap();
    let order = placed["id"].as_str().unwrap();
    let doc = barista_server::openapi_document();
    let mut checked = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            let url = path
                .replace("{shop}", "guarded")
                .replace("{item}", "bun")
                .replace("{group}", "milk")
                .replace("{modifier}", "oat")
                .replace("{id}", order);
            let body = &op["requestBody"]["content"]["application/json"]["example"];
            for key in [None, Some(other_key.as_str())] {
                let mut req = app
                    .client
                    .request(method.to_uppercase().parse().unwrap(), app.url(&url));
                if !body.is_null() {
                    req = req.json(body);
                }
                if let Some(key) = key {
                    req = req.bearer_auth(key);
                }
                let res = req.send_checked().await;
                assert_problem(res, 401, "unauthorized").await;
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 24, "every staff and admin operation was tried");
    // Nothing changed: the order is still placed, the menu as it was.
    let still: Value = app
        .get(&format!("/v1/shops/guarded/orders/{order}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "placed");
    assert_eq!(app.stock("guarded", "bun").await, 5);
    let shop: Value = app
        .get("/v1/admin/shops/guarded", Some(ADMIN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shop["suspended"], false, "not suspended, not deleted");
}
