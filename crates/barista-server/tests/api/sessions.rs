//! Staff sessions for browsers and the pages: the staff key exchanged for a
//! cookie, cookie writes guarded by the CSRF token, sign-out, and the pages
//! served with a strict Content-Security-Policy.

use crate::common::{SendChecked, assert_problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `name=value` of a `Set-Cookie` answer, and its attributes.
fn cookie_of(res: &reqwest::Response) -> (String, String) {
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (pair, attributes) = set.split_once(';').unwrap();
    (pair.to_owned(), attributes.to_owned())
}

#[tokio::test]
async fn a_staff_key_becomes_a_session_whose_writes_need_the_csrf_token() {
    let app = spawn_app().await;
    let key = app.shop_with_menu("sess").await;
    app.create_shop("other").await;
    let c = &app.client;

    // A wrong key is refused and sets nothing.
    let wrong = c
        .post(app.url("/v1/shops/sess/session"))
        .json(&json!({"staff_key": "bsk_nope"}))
        .send_checked()
        .await;
    assert!(wrong.headers().get("set-cookie").is_none());
    assert_problem(wrong, 401, "unauthorized").await;

    let res = c
        .post(app.url("/v1/shops/sess/session"))
        .json(&json!({"staff_key": key}))
        .send_checked()
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (cookie, attributes) = cookie_of(&res);
    assert!(cookie.starts_with("barista_staff="));
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/v1/shops/sess/",
        "Max-Age=43200",
    ] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    assert!(!attributes.contains("Secure"), "no TLS here");
    let session: Value = res.json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();

    // The cookie reads what staff read, the shop's stream included.
    let orders = c
        .get(app.url("/v1/shops/sess/orders"))
        .header("cookie", &cookie)
        .send_checked()
        .await;
    assert_eq!(orders.status(), StatusCode::OK);
    let again: Value = c
        .get(app.url("/v1/shops/sess/session"))
        .header("cookie", &cookie)
        .send_checked()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["csrf_token"],
        csrf.as_str(),
        "a reloaded page gets its token back"
    );

    // A write with the cookie alone (what another site can make a browser send)
    // is refused and changes nothing; with the token it goes through.
    app.order("sess", json!([{"item_id": "flat-white", "quantity": 1}]))
        .await;
    let forged = c
        .post(app.url("/v1/shops/sess/queue/claim"))
        .header("cookie", &cookie)
        .send_checked()
        .await;
    assert_problem(forged, 403, "csrf_failed").await;
    let wrong_token = c
        .patch(app.url("/v1/shops/sess/menu/items/bun"))
        .header("cookie", &cookie)
        .header("x-csrf-token", "0".repeat(64))
        .json(&json!({"stock": 0}))
        .send_checked()
        .await;
    assert_problem(wrong_token, 403, "csrf_failed").await;
    assert_eq!(app.stock("sess", "bun").await, 5, "nothing changed");
    let placed: Value = app
        .get("/v1/shops/sess/orders?status=placed", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        placed["orders"].as_array().unwrap().len(),
        1,
        "still placed"
    );
    let claimed = c
        .post(app.url("/v1/shops/sess/queue/claim"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send_checked()
        .await;
    assert_eq!(claimed.status(), StatusCode::OK);

    // The cookie is the shop's only: another shop refuses it.
    let elsewhere = c
        .get(app.url("/v1/shops/other/orders"))
        .header("cookie", &cookie)
        .send_checked()
        .await;
    assert_problem(elsewhere, 401, "unauthorized").await;
    // A tampered cookie is nobody's.
    let tampered = cookie.replace("barista_staff=", "barista_staff=9");
    let res = c
        .get(app.url("/v1/shops/sess/orders"))
        .header("cookie", tampered)
        .send_checked()
        .await;
    assert_problem(res, 401, "unauthorized").await;

    // Signing out needs the token too, and clears the cookie.
    let out = c
        .delete(app.url("/v1/shops/sess/session"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send_checked()
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let (cleared, attributes) = cookie_of(&out);
    assert_eq!(cleared, "barista_staff=");
    assert!(attributes.contains("Max-Age=0"));

    // Behind a TLS proxy the cookie is Secure.
    let tls = c
        .post(app.url("/v1/shops/sess/session"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"staff_key": key}))
        .send_checked()
        .await;
    assert!(cookie_of(&tls).1.contains("Secure"));

    // A staff key needs no token, and its session answer says so.
    let bearer: Value = app
        .get("/v1/shops/sess/session", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bearer["csrf_token"], Value::Null);
}

#[tokio::test]
async fn the_pages_and_their_assets_are_served_with_a_strict_policy() {
    let app = spawn_app().await;
    app.shop_with_menu("pages").await;
    for path in ["/s/pages", "/s/pages/board", "/admin"] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let headers = res.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        let body = res.text().await.unwrap();
        assert!(body.contains("/assets/common.js"));
    }
    assert_problem(app.get("/s/nowhere", None).await, 404, "not_found").await;
    assert_problem(
        app.get("/assets/customer.html", None).await,
        404,
        "not_found",
    )
    .await;

    let res = app.get("/assets/board.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url("/assets/board.js"))
        .header("if-none-match", &etag)
        .send_checked()
        .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // The icon, where browsers look for it and where the pages name it.
    for path in ["/favicon.ico", "/assets/favicon.svg"] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["content-type"], "image/svg+xml", "{path}");
        assert!(res.text().await.unwrap().starts_with("<svg"), "{path}");
    }
}
