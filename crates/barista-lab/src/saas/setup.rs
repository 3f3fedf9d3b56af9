//! The run's tenants: each shop created through the admin API, with a small
//! menu, its staff key kept for its barista.

use super::{SaasPlan, slug};
use crate::choices::{Group, Orderable};
use crate::error::SetupError;
use crate::http::{Conn, Endpoint, Keep, Reply, Url, request_bytes};
use serde_json::{Value, json};

/// The demo shop's menu, smaller: what every tenant sells. The milk coffees
/// come in two sizes with milk (exactly one) and extras (up to two).
pub(super) const ITEMS: [(&str, &str, &str, u32); 4] = [
    ("espresso", "Espresso", "coffee", 250),
    ("flat-white", "Flat white", "coffee", 380),
    ("tea", "Tea", "tea", 300),
    ("croissant", "Croissant", "pastry", 290),
];
const SIZED: &[&str] = &["flat-white"];
/// (group, name, min, max, modifiers)
const GROUPS: [(&str, &str, u64, u64, &[&str]); 2] = [
    ("milk", "Milk", 1, 1, &["whole", "oat", "soy"]),
    ("extras", "Extras", 0, 2, &["extra-shot", "vanilla"]),
];

/// What a tenant's customers can order, with the sizes and choices set up here.
pub(super) fn orderables() -> Vec<Orderable> {
    ITEMS
        .iter()
        .map(|&(id, ..)| {
            let sized = SIZED.contains(&id);
            Orderable {
                id: id.to_owned(),
                variations: if sized {
                    vec!["regular".into(), "large".into()]
                } else {
                    vec![]
                },
                groups: if sized {
                    GROUPS
                        .iter()
                        .map(|&(_, _, min, max, mods)| Group {
                            min,
                            max,
                            modifiers: mods.iter().map(|m| m.to_string()).collect(),
                        })
                        .collect()
                } else {
                    vec![]
                },
            }
        })
        .collect()
}

/// One JSON request of the set-up, its whole answer.
async fn ask(
    conn: &mut Conn,
    base: &Url,
    method: &str,
    path: String,
    token: &str,
    body: Value,
) -> Result<Reply, SetupError> {
    let url = base.with_path(&path);
    let headers = [
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Authorization".to_owned(), format!("Bearer {token}")),
    ];
    let bytes = request_bytes(method, &url, &headers, body.to_string().as_bytes());
    let keep = Keep {
        etag: false,
        body: true,
    };
    conn.send(&bytes, keep)
        .await
        .map_err(|f| SetupError::Request {
            what: format!("{method} {path}"),
            failure: f.name(),
        })
}

/// Creates the shops, with their menus; their staff keys.
pub(super) async fn tenants(
    plan: &SaasPlan,
    endpoint: &Endpoint,
) -> Result<Vec<String>, SetupError> {
    let answer = |said: String| SetupError::Answer(said);
    let mut conn = Conn::open(endpoint).await?;
    let base = &plan.base;
    let token = plan.admin_token.as_deref().ok_or_else(|| {
        answer("the saas scenario creates its shops: give --admin-token (the server's)".into())
    })?;
    let mut keys = Vec::with_capacity(plan.shops);
    for i in 0..plan.shops {
        let slug = slug(&plan.prefix, i);
        let shop = json!({"slug": slug, "name": format!("Shop {}", i + 1), "currency": "EUR"});
        let created = ask(&mut conn, base, "POST", "/v1/shops".into(), token, shop).await?;
        let key = match created.status {
            201 => serde_json::from_slice::<Value>(&created.body)
                .ok()
                .and_then(|v| v["staff_key"].as_str().map(str::to_owned))
                .ok_or_else(|| answer("POST /v1/shops answered 201 without a staff key".into()))?,
            409 => {
                return Err(answer(format!(
                    "shop {slug} exists already and its staff key was shown only to the run that made it: use another --shop-prefix"
                )));
            }
            401 | 404 => {
                return Err(answer(format!(
                    "POST /v1/shops answered {}: is --admin-token the server's?",
                    created.status
                )));
            }
            other => return Err(answer(format!("POST /v1/shops answered {other}"))),
        };
        for (id, name, mn, mx, mods) in GROUPS {
            let modifiers: Vec<Value> = mods
                .iter()
                .map(|m| json!({"id": m, "name": m, "price_delta_cents": 50}))
                .collect();
            let group = json!({"name": name, "min": mn, "max": mx, "modifiers": modifiers});
            let path = format!("/v1/shops/{slug}/menu/modifier-groups/{id}");
            let put = ask(&mut conn, base, "PUT", path, &key, group).await?;
            if put.status >= 300 {
                return Err(answer(format!(
                    "PUT {slug}'s group {id} answered {}",
                    put.status
                )));
            }
        }
        for (id, name, category, price) in ITEMS {
            let mut item = json!({"name": name, "category": category, "price_cents": price});
            if SIZED.contains(&id) {
                item["variations"] = json!([
                    {"id": "regular", "name": "Regular", "price_cents": price},
                    {"id": "large", "name": "Large", "price_cents": price + 60}]);
                item["modifier_groups"] = json!(GROUPS.map(|g| g.0));
            }
            let path = format!("/v1/shops/{slug}/menu/items/{id}");
            let put = ask(&mut conn, base, "PUT", path, &key, item).await?;
            if put.status >= 300 {
                return Err(answer(format!("PUT {slug}'s {id} answered {}", put.status)));
            }
        }
        keys.push(key);
    }
    Ok(keys)
}
