//! Who may call what, enforced from the route table.
//!
//! The table (`routes::ROUTES`) declares each operation's [`Auth`] once. A
//! handler of a shop's routes gets its shop only through [`ShopAccess`], which
//! looks the shop up, checks the credential the table asks for that route, and
//! only then charges the shop's request budget, so an anonymous client cannot
//! spend a shop's staff budget. The shop lookup itself is private to this
//! module: a handler cannot reach a shop's data without passing the check.
//! [`AdminAccess`] guards the admin routes the same way.

use crate::auth::{require_admin, require_staff};
use crate::error::ApiError;
use crate::rate_limit::{Budget, QuotaSlot};
use crate::routes::{Auth, auth_of};
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use barista_domain::{Shop, Slug};
use barista_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Shops already looked up. Shops never change once created, so a found shop
/// is kept for good. A `std` lock: held for a map lookup only.
#[derive(Default)]
pub struct Shops(RwLock<HashMap<String, Arc<Shop>>>);

impl Shops {
    async fn find(&self, store: &dyn Store, slug: &str) -> Result<Arc<Shop>, ApiError> {
        if let Some(shop) = self.0.read().unwrap_or_else(|p| p.into_inner()).get(slug) {
            return Ok(shop.clone());
        }
        let not_found = || ApiError::not_found(format!("no shop `{slug}`"));
        let parsed = Slug::parse(slug).map_err(|_| not_found())?;
        let shop = Arc::new(store.shop(&parsed).await?.ok_or_else(not_found)?);
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(slug.to_owned(), shop.clone());
        Ok(shop)
    }
}

/// The shop a route names, with the route's access rule passed.
pub struct ShopAccess(pub Arc<Shop>);

impl std::ops::Deref for ShopAccess {
    type Target = Shop;
    fn deref(&self) -> &Shop {
        &self.0
    }
}

/// What the table says about the route this request matched.
fn route_auth(parts: &Parts) -> Auth {
    let template = parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("");
    // A route missing from the table would be a bug; refuse rather than open it.
    auth_of(&parts.method, template).unwrap_or(Auth::Admin)
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
        let shop = state.shops.find(state.store.as_ref(), slug).await?;
        let budget = match route_auth(parts) {
            Auth::Anyone => Budget::Customer,
            Auth::Staff => {
                require_staff(&parts.method, &parts.headers, &shop)?;
                Budget::Staff
            }
            Auth::Admin => {
                require_admin(&parts.headers, state.config.admin_token.as_ref())?;
                Budget::Staff
            }
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
