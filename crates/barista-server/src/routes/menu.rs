//! The menu: read by everyone from the cache, written by staff.

use crate::access::ShopAccess;
use crate::error::ApiError;
use crate::extract::{IfNoneMatch, JsonBody, PathOf};
use crate::menu_cache::CachedMenu;
use crate::respond::{cacheable, created, json_response, to_json};
use crate::secret::{hex, sha256};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use barista_domain::{
    ItemBody, ItemFields, ItemId, ItemPatch, ItemPatchBody, ModifierGroup, ModifierGroupBody,
    ModifierPatch, Shop,
};
use bytes::Bytes;
use std::sync::Arc;

/// The shop's menu from the cache, loading it on a miss.
async fn cached_menu(state: &AppState, shop: &Shop) -> Result<Arc<CachedMenu>, ApiError> {
    if let Some(menu) = state.menu_cache.get(shop.id) {
        state.metrics.menu_cache_hit();
        return Ok(menu);
    }
    state.metrics.menu_cache_miss();
    let menu = state.store.menu(shop).await?;
    let body = to_json(&menu)?;
    // Strong: the version says which menu, the digest guards against a reset database.
    let etag = format!("\"{}-{}\"", menu.version, &hex(&sha256(&body))[..16]);
    let etag = HeaderValue::from_str(&etag)
        .map_err(|_| ApiError::from(barista_store::StoreError::Internal("etag".into())))?;
    Ok(state.menu_cache.fill(
        shop.id,
        CachedMenu {
            version: menu.version,
            etag,
            body: Bytes::from(body),
            expires_at: menu.ordering.changes_at().map(|t| t.micros()),
        },
    ))
}

pub async fn get_menu(
    State(state): State<AppState>,
    shop: ShopAccess,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let menu = cached_menu(&state, &shop).await?;
    Ok(cacheable(
        menu.body.clone(),
        &menu.etag,
        if_none_match.as_ref(),
    ))
}

pub async fn put_item(
    State(state): State<AppState>,
    shop: ShopAccess,
    PathOf((_, item)): PathOf<(String, String)>,
    JsonBody(body): JsonBody<ItemBody>,
) -> Result<Response, ApiError> {
    let id = ItemId::parse(&item).map_err(|m| ApiError::invalid_field("item", m))?;
    let fields = ItemFields::parse(body)?;
    let written = state.store.put_item(&shop, id, fields).await?;
    let body = to_json(&written.item)?;
    Ok(if written.created {
        created(&format!("/v1/shops/{}/menu/items/{item}", shop.slug), body)
    } else {
        json_response(StatusCode::OK, body)
    })
}

fn existing_item(item: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(item).map_err(|_| ApiError::not_found(format!("no menu item `{item}`")))
}

pub async fn patch_item(
    State(state): State<AppState>,
    shop: ShopAccess,
    PathOf((_, item)): PathOf<(String, String)>,
    JsonBody(body): JsonBody<ItemPatchBody>,
) -> Result<Response, ApiError> {
    let id = existing_item(&item)?;
    let patch = ItemPatch::parse(body)?;
    let item = state
        .store
        .patch_item(&shop, id, patch)
        .await
        .map_err(ApiError::missing(format!("no menu item `{item}`")))?;
    Ok(json_response(StatusCode::OK, to_json(&item)?))
}

pub async fn delete_item(
    State(state): State<AppState>,
    shop: ShopAccess,
    PathOf((_, item)): PathOf<(String, String)>,
) -> Result<Response, ApiError> {
    let id = existing_item(&item)?;
    state
        .store
        .delete_item(&shop, id)
        .await
        .map_err(ApiError::missing(format!("no menu item `{item}`")))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn put_modifier_group(
    State(state): State<AppState>,
    shop: ShopAccess,
    PathOf((_, group)): PathOf<(String, String)>,
    JsonBody(body): JsonBody<ModifierGroupBody>,
) -> Result<Response, ApiError> {
    let id = ItemId::parse(&group).map_err(|m| ApiError::invalid_field("group", m))?;
    let group = ModifierGroup::parse(id, body)?;
    let written = state.store.put_modifier_group(&shop, group).await?;
    let body = to_json(&written.group)?;
    Ok(if written.created {
        created(
            &format!(
                "/v1/shops/{}/menu/modifier-groups/{}",
                shop.slug, written.group.id
            ),
            body,
        )
    } else {
        json_response(StatusCode::OK, body)
    })
}

pub async fn delete_modifier_group(
    State(state): State<AppState>,
    shop: ShopAccess,
    PathOf((_, group)): PathOf<(String, String)>,
) -> Result<Response, ApiError> {
    let missing = || format!("no modifier group `{group}`");
    let id = ItemId::parse(&group).map_err(|_| ApiError::not_found(missing()))?;
    state
        .store
        .delete_modifier_group(&shop, id)
        .await
        .map_err(ApiError::missing(missing()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The 86: a modifier off (or back on) for every item that offers its group.
pub async fn patch_modifier(
    State(state): State<AppState>,
    shop: ShopAccess,
    PathOf((_, modifier)): PathOf<(String, String)>,
    JsonBody(body): JsonBody<ModifierPatch>,
) -> Result<Response, ApiError> {
    let missing = || format!("no modifier `{modifier}` in any group");
    let id = ItemId::parse(&modifier).map_err(|_| ApiError::not_found(missing()))?;
    let group = state
        .store
        .set_modifier_available(&shop, id, body.available)
        .await
        .map_err(ApiError::missing(missing()))?;
    Ok(json_response(StatusCode::OK, to_json(&group)?))
}
