//! Shops: created by the admin, read by anyone.

use super::{json_response, to_json};
use crate::auth::{new_staff_key, require_admin, sha256};
use crate::error::ApiError;
use crate::extract::{JsonBody, PathOf};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use barista_domain::{Currency, FieldError, Invalid, Slug, check_text, limits::NAME_MAX};
use barista_store::NewShop;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct ShopCreated<'a> {
    shop: barista_store::PublicShop<'a>,
    staff_key: &'a str,
}

#[derive(Deserialize)]
pub struct ShopCreate {
    slug: String,
    name: String,
    currency: String,
}

fn validate(body: ShopCreate) -> Result<(Slug, String, Currency), Invalid> {
    let mut errors = vec![];
    let slug = Slug::parse(&body.slug).map_err(|m| errors.push(FieldError::new("slug", m)));
    check_text(&mut errors, "name", &body.name, 1, NAME_MAX);
    let currency =
        Currency::parse(&body.currency).map_err(|m| errors.push(FieldError::new("currency", m)));
    match (slug, currency) {
        (Ok(slug), Ok(currency)) if errors.is_empty() => Ok((slug, body.name, currency)),
        _ => Err(Invalid(errors)),
    }
}

pub async fn create_shop(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ShopCreate>,
) -> Result<Response, ApiError> {
    require_admin(&headers, state.config.admin_token.as_ref())?;
    let (slug, name, currency) = validate(body)?;
    let staff_key = new_staff_key()?;
    let shop = state
        .store
        .create_shop(NewShop {
            slug,
            name,
            currency,
            staff_key_hash: sha256(staff_key.as_bytes()),
        })
        .await?;
    let body = to_json(&ShopCreated {
        shop: shop.public(),
        staff_key: &staff_key,
    })?;
    Ok(super::created(&format!("/v1/shops/{}", shop.slug), body))
}

pub async fn get_shop(
    State(state): State<AppState>,
    PathOf(slug): PathOf<String>,
) -> Result<Response, ApiError> {
    let shop = state.shop(&slug).await?;
    Ok(json_response(StatusCode::OK, to_json(&shop.public())?))
}
