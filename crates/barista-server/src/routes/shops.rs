//! Shops: created by the admin, read by anyone.

use super::{created, json_response, to_json};
use crate::access::{AdminAccess, ShopAccess};
use crate::auth::{new_staff_key, sha256};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use barista_domain::{NewShop, PublicShop, ShopBody};
use serde::Serialize;

#[derive(Serialize)]
struct ShopCreated<'a> {
    shop: PublicShop<'a>,
    staff_key: &'a str,
}

pub async fn create_shop(
    _: AdminAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ShopBody>,
) -> Result<Response, ApiError> {
    let new = NewShop::parse(body)?;
    let staff_key = new_staff_key()?;
    let shop = state
        .store
        .create_shop(new, sha256(staff_key.as_bytes()))
        .await?;
    let body = to_json(&ShopCreated {
        shop: shop.public(),
        staff_key: &staff_key,
    })?;
    Ok(created(&format!("/v1/shops/{}", shop.slug), body))
}

pub async fn get_shop(shop: ShopAccess) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, to_json(&shop.public())?))
}
