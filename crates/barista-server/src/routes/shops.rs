//! Shops: created by the admin, read by anyone.

use crate::access::{AdminAccess, ShopAccess};
use crate::error::ApiError;
use crate::extract::IfNoneMatch;
use crate::extract::JsonBody;
use crate::respond::{cacheable, created, digest_etag, json_response, to_json};
use crate::secret::{new_staff_key, sha256};
use crate::state::AppState;
use axum::extract::State;
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

#[derive(Serialize)]
struct StaffKey<'a> {
    staff_key: &'a str,
}

/// `POST .../staff-key` (staff, or the operator for a shop whose key is
/// lost): a new staff key, shown this once. The old key and every session
/// signed with it stop working at once on every replica: staff routes read
/// the shop afresh, and the shop's streams end (`state::Shops`).
pub async fn replace_staff_key(
    State(state): State<AppState>,
    shop: ShopAccess,
) -> Result<Response, ApiError> {
    let staff_key = new_staff_key()?;
    state
        .store
        .replace_staff_key(&shop, sha256(staff_key.as_bytes()))
        .await?;
    tracing::info!(shop = %shop.slug, "staff key replaced");
    let mut response = json_response(
        axum::http::StatusCode::OK,
        to_json(&StaffKey {
            staff_key: &staff_key,
        })?,
    );
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The shop, with a validator of its own (a digest of the body: the shop has
/// no version) and the menu's `Cache-Control`, so caches revalidate it.
pub async fn get_shop(
    shop: ShopAccess,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let body = to_json(&shop.public())?;
    let etag = digest_etag(&body);
    Ok(cacheable(body, &etag, if_none_match.as_ref()))
}
