//! The menu: read by everyone from the cache, written by staff.

use super::{created, json_response, to_json};
use crate::access::ShopAccess;
use crate::auth::{hex, sha256};
use crate::error::ApiError;
use crate::extract::{JsonBody, PathOf};
use crate::menu_cache::CachedMenu;
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use barista_domain::{ItemBody, ItemFields, ItemId, ItemPatch, ItemPatchBody, Shop};
use bytes::Bytes;
use std::sync::Arc;

const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=1");

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
        },
    ))
}

/// The `If-None-Match` header alone: the menu read needs no other header,
/// and copying the whole map costs measurably on this path.
pub struct IfNoneMatch(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, RFC 9110).
fn none_match(header: Option<&HeaderValue>, etag: &HeaderValue) -> bool {
    let (Some(value), Ok(etag)) = (header.and_then(|v| v.to_str().ok()), etag.to_str()) else {
        return false;
    };
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

pub async fn get_menu(
    State(state): State<AppState>,
    shop: ShopAccess,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let menu = cached_menu(&state, &shop).await?;
    let mut response = if none_match(if_none_match.as_ref(), &menu.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(StatusCode::OK, menu.body.clone())
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, menu.etag.clone());
    h.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    Ok(response)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = HeaderValue::from_static("\"7-ab\"");
        let given = |v: &'static str| Some(HeaderValue::from_static(v));
        assert!(!none_match(None, &etag));
        assert!(none_match(given("\"6-aa\", W/\"7-ab\"").as_ref(), &etag));
        assert!(none_match(given("*").as_ref(), &etag));
        assert!(!none_match(given("\"7-ac\"").as_ref(), &etag));
    }
}
