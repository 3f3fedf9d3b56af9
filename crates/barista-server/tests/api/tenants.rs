//! Running a café and a SaaS: staff keys replaced, the day's takings, and the
//! operator's shops (listed, renamed, suspended, exported, deleted), each seen
//! by every replica.

use crate::common::*;
use crate::events::open;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// Signs in a browser with `key`; its cookie and CSRF token.
async fn sign_in(app: &App, shop: &str, key: &str) -> (String, String) {
    let res = app
        .post_json(
            &format!("/v1/shops/{shop}/session"),
            None,
            &json!({"staff_key": key}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

async fn orders_with_cookie(app: &App, shop: &str, cookie: &str) -> StatusCode {
    app.client
        .get(app.url(&format!("/v1/shops/{shop}/orders")))
        .header("cookie", cookie)
        .send_checked()
        .await
        .status()
}

async fn orders_with_key(app: &App, shop: &str, key: &str) -> StatusCode {
    app.get(&format!("/v1/shops/{shop}/orders"), Some(key))
        .await
        .status()
}

async fn new_key(app: &App, path: &str, token: &str) -> String {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .send_checked()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    body["staff_key"].as_str().unwrap().to_owned()
}

/// Polls `check` until it holds (a change another replica hears of within
/// about a second), for at most 10 s.
async fn eventually<F: AsyncFn() -> bool>(what: &str, check: F) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 10 s");
}

#[tokio::test]
async fn a_replaced_key_locks_out_the_old_key_and_its_sessions_on_two_replicas_at_once() {
    let a = spawn_app().await;
    let b = a.spawn_beside(config()).await;
    let old = a.shop_with_menu("rotate").await;
    let (cookie, _) = sign_in(&a, "rotate", &old).await;
    // Both replicas know the shop and accept the key and the session.
    for app in [&a, &b] {
        assert_eq!(orders_with_key(app, "rotate", &old).await, StatusCode::OK);
        assert_eq!(
            orders_with_cookie(app, "rotate", &cookie).await,
            StatusCode::OK
        );
        assert_eq!(app.get("/v1/shops/rotate/menu", None).await.status(), 200);
    }
    // A board on the other replica streams the shop's orders with the session.
    let mut stream = b
        .client
        .get(b.url("/v1/shops/rotate/events"))
        .header("cookie", &cookie)
        .send_checked()
        .await;
    assert_eq!(stream.status(), StatusCode::OK);

    let new = new_key(&a, "/v1/shops/rotate/staff-key", &old).await;
    assert_ne!(new, old);
    // At once, on both replicas: the old key and its session are refused,
    // the new key works, and customers are not affected.
    for app in [&a, &b] {
        let res = app.get("/v1/shops/rotate/orders", Some(&old)).await;
        assert_problem(res, 401, "unauthorized").await;
        assert_eq!(
            orders_with_cookie(app, "rotate", &cookie).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(orders_with_key(app, "rotate", &new).await, StatusCode::OK);
        assert_eq!(app.get("/v1/shops/rotate/menu", None).await.status(), 200);
    }
    // The open stream made with the old session ends (a board reconnecting
    // is asked to sign in again).
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.chunk().await.transpose() {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the old session's stream ends");
    let again = b
        .client
        .get(b.url("/v1/shops/rotate/events"))
        .header("cookie", &cookie)
        .send_checked()
        .await;
    assert_problem(again, 401, "unauthorized").await;
    // Signing in with the old key fails; with the new one it works.
    let res = a
        .post_json("/v1/shops/rotate/session", None, &json!({"staff_key": old}))
        .await;
    assert_problem(res, 401, "unauthorized").await;
    sign_in(&b, "rotate", &new).await;

    // The operator replaces a lost key; the owner's key stops working.
    let res = a
        .client
        .post(a.url("/v1/admin/shops/rotate/staff-key"))
        .bearer_auth(&new)
        .send_checked()
        .await;
    assert_problem(res, 401, "unauthorized").await;
    let from_admin = new_key(&b, "/v1/admin/shops/rotate/staff-key", ADMIN).await;
    for app in [&a, &b] {
        assert_eq!(
            orders_with_key(app, "rotate", &new).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            orders_with_key(app, "rotate", &from_admin).await,
            StatusCode::OK
        );
    }
    // A key is replaced by staff only: no key, no new key.
    let res = a
        .client
        .post(a.url("/v1/shops/rotate/staff-key"))
        .send_checked()
        .await;
    assert_problem(res, 401, "unauthorized").await;
}

/// Moves the oldest placed order to brewing, then to `to`.
async fn work(app: &App, shop: &str, key: &str, to: &[&str]) {
    let res = app
        .client
        .post(app.url(&format!("/v1/shops/{shop}/queue/claim")))
        .bearer_auth(key)
        .send_checked()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let order: Value = res.json().await.unwrap();
    for status in to {
        let res = app
            .client
            .post(app.url(&format!(
                "/v1/shops/{shop}/orders/{}/status",
                order["id"].as_str().unwrap()
            )))
            .bearer_auth(key)
            .json(&json!({"status": status}))
            .send_checked()
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{status}");
    }
}

#[tokio::test]
async fn the_days_takings_add_up_in_json_and_in_csv() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("takings").await;
    for lines in [
        json!([{"item_id": "flat-white", "quantity": 2}]),
        json!([{"item_id": "flat-white", "quantity": 1}, {"item_id": "bun", "quantity": 1}]),
        json!([{"item_id": "bun", "quantity": 3}]),
    ] {
        assert_eq!(app.order("takings", lines).await.status(), 201);
    }
    work(&app, "takings", &key, &["ready", "collected"]).await;
    work(&app, "takings", &key, &["ready"]).await;
    work(&app, "takings", &key, &["cancelled"]).await;

    let res = app.get("/v1/shops/takings/report", Some(&key)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["orders"], 3);
    assert_eq!(report["time_zone"], "UTC");
    assert_eq!(report["cancelled"]["orders"], 1);
    let (fw, bun) = (380, report_price(&app, "bun").await);
    assert_eq!(report["revenue_cents"], 3 * fw + bun);
    assert_eq!(report["ready_orders"], 2);
    assert!(report["median_ready_seconds"].as_f64().unwrap() >= 0.0);
    let items: Vec<(&str, i64)> = report["by_item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item_id"].as_str().unwrap(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [("flat-white", 3), ("bun", 1)],
        "cancelled buns left out"
    );
    let statuses: i64 = report["by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["orders"].as_i64().unwrap())
        .sum();
    assert_eq!(statuses, 3);

    // The same as CSV, for a spreadsheet.
    let res = app
        .client
        .get(app.url("/v1/shops/takings/report?format=csv"))
        .bearer_auth(&key)
        .send_checked()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"takings-")
    );
    let csv = res.text().await.unwrap();
    assert!(
        csv.starts_with("section,key,name,orders,quantity,amount_cents\n"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("\nitem,flat-white,Flat white,2,3,{}\n", 3 * fw)),
        "{csv}"
    );

    // Another day has nothing; bad ranges are refused with the field named.
    let res = app
        .get("/v1/shops/takings/report?from=2020-01-01", Some(&key))
        .await;
    let empty: Value = res.json().await.unwrap();
    assert_eq!(
        (empty["orders"].clone(), empty["by_item"].clone()),
        (json!(0), json!([]))
    );
    for (query, field) in [
        ("from=2026-02-30", "from"),
        ("from=2026-01-02&to=2026-01-01", "to"),
        ("from=2026-01-01&to=2026-03-01", "to"),
        ("format=xml", "format"),
    ] {
        let res = app
            .get(&format!("/v1/shops/takings/report?{query}"), Some(&key))
            .await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
    // Staff only.
    let res = app.get("/v1/shops/takings/report", None).await;
    assert_problem(res, 401, "unauthorized").await;
}

async fn report_price(app: &App, item: &str) -> i64 {
    app.menu_item("takings", item).await["price_cents"]
        .as_i64()
        .unwrap()
}

async fn patch_shop(app: &App, shop: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/v1/admin/shops/{shop}")))
        .bearer_auth(ADMIN)
        .json(&body)
        .send_checked()
        .await
}

#[tokio::test]
async fn an_operator_lists_renames_suspends_and_resumes_shops_on_every_replica() {
    let a = spawn_app().await;
    let b = a.spawn_beside(config()).await;
    let key = a.shop_with_menu("shop-b").await;
    a.create_shop("shop-a").await;
    a.create_shop("shop-c").await;

    // Listed by slug, a page at a time.
    let page: Value = a
        .get("/v1/admin/shops?limit=2", Some(ADMIN))
        .await
        .json()
        .await
        .unwrap();
    let slugs = |page: &Value| -> Vec<String> {
        page["shops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = slugs(&page);
    assert_eq!(first.len(), 2);
    let after = page["next_after"].as_str().unwrap();
    let rest: Value = a
        .get(
            &format!("/v1/admin/shops?limit=200&after={after}"),
            Some(ADMIN),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(rest.get("next_after").is_none());
    let mut all = first.clone();
    all.extend(slugs(&rest));
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    for slug in ["shop-a", "shop-b", "shop-c"] {
        assert!(all.iter().any(|s| s == slug), "{all:?}");
    }
    let res = a.get("/v1/admin/shops", Some(&key)).await;
    assert_problem(res, 401, "unauthorized").await;
    let res = a.get("/v1/admin/shops?limit=0", Some(ADMIN)).await;
    assert_problem(res, 422, "validation_failed").await;

    // Renamed: every replica's shop says so within a second.
    for app in [&a, &b] {
        assert_eq!(app.get("/v1/shops/shop-b", None).await.status(), 200);
    }
    let res = patch_shop(&a, "shop-b", json!({"name": "Blue Door"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = patch_shop(&a, "shop-b", json!({"name": " "})).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = patch_shop(&a, "shop-b", json!({})).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = patch_shop(&a, "shop-b", json!({"name": "X", "suspended": null})).await;
    assert_problem(res, 400, "malformed_json").await;
    // Without the token, whether a shop exists is not told.
    for shop in ["shop-b", "no-such-shop"] {
        let res = a.get(&format!("/v1/admin/shops/{shop}"), None).await;
        assert_problem(res, 401, "unauthorized").await;
    }
    for app in [&a, &b] {
        eventually("the new name", async || {
            let shop: Value = app
                .get("/v1/shops/shop-b", None)
                .await
                .json()
                .await
                .unwrap();
            shop["name"] == "Blue Door"
        })
        .await;
    }

    // Suspended: customers and staff get a clear problem on every replica;
    // the operator still reads it; nothing is deleted.
    assert_eq!(
        a.order("shop-b", json!([{"item_id": "flat-white", "quantity": 1}]))
            .await
            .status(),
        201
    );
    let res = patch_shop(&a, "shop-b", json!({"suspended": true})).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["suspended"], true);
    for app in [&a, &b] {
        // Orders and staff routes: at once.
        let res = app
            .order("shop-b", json!([{"item_id": "flat-white", "quantity": 1}]))
            .await;
        assert_problem(res, 403, "shop_suspended").await;
        let res = app.get("/v1/shops/shop-b/orders", Some(&key)).await;
        assert_problem(res, 403, "shop_suspended").await;
        // The cached menu: within a second.
        eventually("the menu refused", async || {
            app.get("/v1/shops/shop-b/menu", None).await.status() == StatusCode::FORBIDDEN
        })
        .await;
        let res = app.get("/v1/shops/shop-b/menu", None).await;
        assert_problem(res, 403, "shop_suspended").await;
        let shop: Value = app
            .get("/v1/admin/shops/shop-b", Some(ADMIN))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shop["suspended"], true);
    }
    let res = patch_shop(&b, "shop-b", json!({"suspended": false})).await;
    assert_eq!(res.status(), StatusCode::OK);
    for app in [&a, &b] {
        eventually("the menu back", async || {
            app.get("/v1/shops/shop-b/menu", None).await.status() == StatusCode::OK
        })
        .await;
        let list: Value = app
            .get("/v1/shops/shop-b/orders", Some(&key))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["orders"].as_array().unwrap().len(), 1, "kept");
    }
}

#[tokio::test]
async fn an_exported_shop_is_one_file_and_a_deleted_one_is_gone_from_every_replica() {
    let a = spawn_app().await;
    let b = a.spawn_beside(config()).await;
    let key = a.shop_with_menu("leaving").await;
    let keep = a.shop_with_menu("staying").await;
    assert_eq!(
        a.order("leaving", json!([{"item_id": "flat-white", "quantity": 1}]))
            .await
            .status(),
        201
    );
    let res = a.get("/v1/admin/shops/leaving/export", Some(ADMIN)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"leaving.barista.json\""
    );
    let export: Value = res.json().await.unwrap();
    assert_eq!(export["format"], "barista-shop-export");
    assert_eq!(export["shop"]["slug"], "leaving");
    assert_eq!(export["tables"]["orders"].as_array().unwrap().len(), 1);
    assert_eq!(export["tables"]["menu_items"].as_array().unwrap().len(), 3);

    // A board on the other replica has the shop's stream open.
    let mut stream = open(&b, "/v1/shops/leaving/events", Some(&key), None).await;
    for app in [&a, &b] {
        assert_eq!(app.get("/v1/shops/leaving/menu", None).await.status(), 200);
    }
    let res = a
        .client
        .delete(a.url("/v1/admin/shops/leaving"))
        .bearer_auth(ADMIN)
        .send_checked()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(stream.ends().await, "the deleted shop's stream ends");
    for app in [&a, &b] {
        eventually("the shop gone", async || {
            app.get("/v1/shops/leaving/menu", None).await.status() == StatusCode::NOT_FOUND
        })
        .await;
        let res = app.get("/v1/shops/leaving/orders", Some(&key)).await;
        assert_problem(res, 404, "not_found").await;
        // The other shop is untouched.
        assert_eq!(orders_with_key(app, "staying", &keep).await, StatusCode::OK);
    }
    let res = a
        .client
        .delete(a.url("/v1/admin/shops/leaving"))
        .bearer_auth(ADMIN)
        .send_checked()
        .await;
    assert_problem(res, 404, "not_found").await;
}
