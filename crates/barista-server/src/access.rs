//! Who may call what, enforced from the route table.
//!
//! The table (`routes::ROUTES`) declares each operation's [`Auth`] once; the
//! observe layer matches each request to its route once and carries it. A
//! handler of a shop's routes gets its shop only through [`ShopAccess`], which
//! looks the shop up, checks the credential the table asks for that route, and
//! only then charges the shop's request budget, so an anonymous client cannot
//! spend a shop's staff budget. Handlers take their shop only from here
//! (the shop cache's lookup is the state's, for this module alone to call).
//! A suspended shop answers 403 `shop_suspended` to all but the admin routes.
//! [`AdminAccess`] guards the admin routes the same way.

use crate::auth::{require_admin, require_staff};
use crate::error::ApiError;
use crate::observe::routes::{Auth, MatchedRoute};
use crate::rate_limit::{Budget, QuotaSlot};
use crate::state::AppState;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use barista_domain::Shop;
use std::sync::Arc;

/// The shop a route names, with the route's access rule passed.
pub struct ShopAccess(pub Arc<Shop>);

impl std::ops::Deref for ShopAccess {
    type Target = Shop;
    fn deref(&self) -> &Shop {
        &self.0
    }
}

/// What the table says about the route this request matched (the observe
/// layer found it, once, for every request).
fn route_auth(parts: &Parts) -> Auth {
    // A route missing from the table would be a bug; refuse rather than open it.
    parts
        .extensions
        .get::<MatchedRoute>()
        .and_then(|m| m.operation)
        .map_or(Auth::Admin, |(_, auth)| auth)
}

impl FromRequestParts<AppState> for ShopAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such resource"))?;
        let slug = params
            .iter()
            .find_map(|(name, value)| (name == "shop").then_some(value))
            .unwrap_or("");
        let auth = route_auth(parts);
        // The operator's token first: without it, whether a shop exists is
        // not told (401, not 404).
        if auth == Auth::Admin {
            require_admin(&parts.headers, state.config.admin_token.as_ref())?;
        }
        // Staff and admin routes read the shop afresh: a replaced key or a
        // suspension holds at once on every replica, whatever their caches hold.
        let shop = state
            .shops
            .find(state.store.as_ref(), slug, auth != Auth::Anyone)
            .await?;
        if shop.suspended && auth != Auth::Admin {
            return Err(ApiError::suspended());
        }
        let budget = match auth {
            Auth::Anyone => Budget::Customer,
            Auth::Staff => {
                require_staff(&parts.method, &parts.headers, &shop)?;
                Budget::Staff
            }
            Auth::Admin => Budget::Staff,
        };
        // Charged once authenticated, to the budget of who is asking.
        state.charge(shop.id, budget, parts.extensions.get::<QuotaSlot>())?;
        Ok(ShopAccess(shop))
    }
}

/// The admin's token checked (admin routes do not exist without one: 404).
pub struct AdminAccess;

impl FromRequestParts<AppState> for AdminAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        require_admin(&parts.headers, state.config.admin_token.as_ref())?;
        Ok(AdminAccess)
    }
}
