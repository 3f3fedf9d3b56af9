//! The operator's routes: every shop listed, renamed, suspended and resumed,
//! exported as one file, deleted, and given a new staff key when its own is
//! lost. A change reaches every replica's caches and streams at once (the
//! store's feed, `state::Shops`).

use crate::access::{AdminAccess, ShopAccess};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::respond::{json_response, to_json};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use barista_domain::limits::{LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, NAME_MAX};
use barista_domain::{FieldError, Invalid, Shop, Timestamp, check_text};
use barista_store::ShopChange;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A shop as its operator sees it: what the public sees, and its standing.
#[derive(Serialize)]
pub struct AdminShop<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub currency: &'a str,
    pub created_at: Timestamp,
    pub suspended: bool,
}

impl<'a> From<&'a Shop> for AdminShop<'a> {
    fn from(shop: &'a Shop) -> Self {
        AdminShop {
            slug: shop.slug.as_str(),
            name: &shop.name,
            currency: shop.currency.as_str(),
            created_at: shop.created_at,
            suspended: shop.suspended,
        }
    }
}

#[derive(Serialize)]
struct ShopList<'a> {
    shops: Vec<AdminShop<'a>>,
    /// The slug to pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<&'a str>,
}

/// `GET /v1/admin/shops`: shops by slug, a page at a time.
pub async fn list_shops(
    _: AdminAccess,
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::invalid_field("query", "cannot be decoded"))?;
    if let Some(other) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "limit" | "after"))
    {
        return Err(ApiError::invalid_field(
            "query",
            format!("unknown parameter `{other}` (limit, after)"),
        ));
    }
    let limit = match query.get("limit") {
        None => LIST_LIMIT_DEFAULT,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=LIST_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field("limit", format!("must be 1 to {LIST_LIMIT_MAX}"))
            })?,
    };
    let after = query.get("after").map_or("", String::as_str);
    // One more than asked tells whether there is a next page.
    let mut shops = state.store.shops(after, limit + 1).await?;
    let more = shops.len() as i64 > limit;
    shops.truncate(limit as usize);
    let body = ShopList {
        next_after: more
            .then(|| shops.last().map(|s| s.slug.as_str()))
            .flatten(),
        shops: shops.iter().map(AdminShop::from).collect(),
    };
    Ok(json_response(StatusCode::OK, to_json(&body)?))
}

/// `GET /v1/admin/shops/{shop}`: one shop, suspended or not.
pub async fn get_shop(shop: ShopAccess) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        to_json(&AdminShop::from(&*shop.0))?,
    ))
}

/// The body of `PATCH /v1/admin/shops/{shop}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopPatch {
    /// Present means a value: `null` is refused, not read as absent.
    #[serde(default, deserialize_with = "barista_domain::present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "barista_domain::present")]
    pub suspended: Option<bool>,
}

impl ShopPatch {
    fn parse(self) -> Result<ShopChange, Invalid> {
        let mut errors: Vec<FieldError> = vec![];
        if let Some(name) = &self.name {
            check_text(&mut errors, "name", name, 1, NAME_MAX);
        }
        if self.name.is_none() && self.suspended.is_none() {
            errors.push(FieldError::new(
                "body",
                "name `name` or `suspended` to change",
            ));
        }
        if !errors.is_empty() {
            return Err(Invalid(errors));
        }
        Ok(ShopChange {
            name: self.name,
            suspended: self.suspended,
        })
    }
}

/// `PATCH /v1/admin/shops/{shop}`: a new name, or suspended or resumed.
pub async fn patch_shop(
    State(state): State<AppState>,
    shop: ShopAccess,
    JsonBody(body): JsonBody<ShopPatch>,
) -> Result<Response, ApiError> {
    let change = body.parse()?;
    let shop = state.store.change_shop(&shop, change).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&AdminShop::from(&shop))?,
    ))
}

/// `DELETE /v1/admin/shops/{shop}`: the shop and everything it owns.
pub async fn delete_shop(
    State(state): State<AppState>,
    shop: ShopAccess,
) -> Result<Response, ApiError> {
    state.store.delete_shop(&shop).await?;
    tracing::info!(shop = %shop.slug, "shop deleted by the operator");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/admin/shops/{shop}/export`: every row the shop owns, as one file
/// (`barista shops import` reads it back).
pub async fn export_shop(
    State(state): State<AppState>,
    shop: ShopAccess,
) -> Result<Response, ApiError> {
    let export = state.store.export_shop(&shop).await?;
    let mut response = json_response(StatusCode::OK, to_json(&export)?);
    let name = format!("attachment; filename=\"{}.barista.json\"", shop.slug);
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
