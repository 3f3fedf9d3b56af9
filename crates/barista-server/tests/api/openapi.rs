//! The OpenAPI document, the reference pages, and the health endpoints.

use crate::common::*;
use serde_json::Value;

/// Every route of docs/api.md, as (method, path template).
const API_ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/shops"),
    ("get", "/v1/shops/{shop}"),
    ("get", "/v1/shops/{shop}/menu"),
    ("put", "/v1/shops/{shop}/menu/items/{item}"),
    ("patch", "/v1/shops/{shop}/menu/items/{item}"),
    ("delete", "/v1/shops/{shop}/menu/items/{item}"),
    ("put", "/v1/shops/{shop}/menu/modifier-groups/{group}"),
    ("delete", "/v1/shops/{shop}/menu/modifier-groups/{group}"),
    ("patch", "/v1/shops/{shop}/menu/modifiers/{modifier}"),
    ("get", "/v1/shops/{shop}/hours"),
    ("put", "/v1/shops/{shop}/hours"),
    ("put", "/v1/shops/{shop}/pause"),
    ("delete", "/v1/shops/{shop}/pause"),
    ("post", "/v1/shops/{shop}/orders"),
    ("get", "/v1/shops/{shop}/orders/{id}"),
    ("get", "/v1/shops/{shop}/orders"),
    ("post", "/v1/shops/{shop}/queue/claim"),
    ("post", "/v1/shops/{shop}/orders/{id}/status"),
    ("get", "/v1/shops/{shop}/orders/{id}/events"),
    ("get", "/v1/shops/{shop}/events"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/problems/{code}"),
    ("post", "/v1/shops/{shop}/session"),
    ("get", "/v1/shops/{shop}/session"),
    ("delete", "/v1/shops/{shop}/session"),
    ("get", "/s/{shop}"),
    ("get", "/s/{shop}/board"),
    ("get", "/admin"),
    ("get", "/assets/{file}"),
    ("get", "/favicon.ico"),
    ("post", "/v1/shops/{shop}/staff-key"),
    ("get", "/v1/shops/{shop}/report"),
    ("get", "/v1/admin/shops"),
    ("get", "/v1/admin/shops/{shop}"),
    ("patch", "/v1/admin/shops/{shop}"),
    ("delete", "/v1/admin/shops/{shop}"),
    ("get", "/v1/admin/shops/{shop}/export"),
    ("post", "/v1/admin/shops/{shop}/staff-key"),
];

/// Every `$ref` in `value` points at an existing component.
fn check_refs(doc: &Value, value: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .expect("a local schema ref");
                assert!(
                    doc["components"]["schemas"].get(name).is_some(),
                    "dangling $ref {r}"
                );
            }
            map.values().for_each(|v| check_refs(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_and_names_every_route() {
    let app = spawn_app().await;
    let res = app.get("/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    for (method, path) in API_ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is missing");
        assert!(
            op["operationId"].is_string()
                && op["responses"].as_object().is_some_and(|r| !r.is_empty())
        );
        let declared: Vec<_> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| format!("{{{}}}", p["name"].as_str().unwrap()))
            .collect();
        let in_path: Vec<_> = path
            .split('/')
            .filter(|s| s.starts_with('{'))
            .map(str::to_owned)
            .collect();
        assert_eq!(declared, in_path, "path parameters of {path}");
    }
    let count: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(count, API_ROUTES.len(), "no undocumented extra operations");
    check_refs(&doc, &doc);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn every_problem_type_resolves_to_its_catalogue_page() {
    let app = spawn_app().await;
    let problem = assert_problem(
        app.get("/v1/shops/nowhere/menu", None).await,
        404,
        "not_found",
    )
    .await;
    let page = app.get(problem["type"].as_str().unwrap(), None).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = page.text().await.unwrap();
    assert!(
        text.contains("Not found") && text.contains("What to do"),
        "{text}"
    );
    for entry in barista_server::problem::CATALOGUE {
        let res = app.get(&entry.code.type_uri(), None).await;
        assert_eq!(res.status(), 200, "{}", entry.code);
    }
    assert_problem(
        app.get("/problems/no_such_code", None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_reference_page_is_served_without_scripts_or_network() {
    let app = spawn_app().await;
    let res = app.get("/docs", None).await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = res.text().await.unwrap();
    for needle in [
        "placeOrder",
        "POST",
        "/v1/shops/{shop}/orders",
        "out_of_stock",
        "Idempotency-Key",
    ] {
        assert!(page.contains(needle), "the reference lacks {needle}");
    }
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"));
}
