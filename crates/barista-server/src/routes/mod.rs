//! The route table. Each entry is both a route of the router and an operation
//! of the OpenAPI document, so the document covers every route by construction.

mod admin;
mod events;
mod health;
mod hours;
mod menu;
mod orders;
mod pages;
mod reference;
mod report;
mod session;
mod shops;

pub use pages::served_assets;

use crate::error::ApiError;
use crate::observe::admission::Class;
pub use crate::observe::routes::Auth;
use crate::observe::routes::RouteTemplates;
use crate::state::{AppState, Role};
use axum::Router;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

/// One operation: how it is served and how it is documented.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub auth: Auth,
    /// The group the reference lists it under.
    pub tag: &'static str,
    /// How it is admitted under load (`observe::admission`).
    pub admission: Class,
    /// Schema name of the JSON request body, if any.
    pub body: Option<&'static str>,
    /// Success responses: (status, description, schema name).
    pub success: &'static [(u16, &'static str, Option<&'static str>)],
    /// Error statuses this operation may answer with (as problem details).
    pub errors: &'static [u16],
    pub handler: fn() -> MethodRouter<AppState>,
}

pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        method: Method::POST,
        path: "/v1/shops",
        operation_id: "createShop",
        summary: "Create a shop; its staff key is returned once",
        auth: Auth::Admin,
        tag: "shops",
        admission: Class::Database,
        body: Some("ShopCreate"),
        success: &[(201, "created", Some("ShopCreated"))],
        errors: &[400, 401, 404, 409, 413, 415, 422],
        handler: || post(shops::create_shop),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}",
        operation_id: "getShop",
        summary: "Read a shop (strong ETag; 304 on If-None-Match)",
        auth: Auth::Anyone,
        tag: "shops",
        admission: Class::Cheap,
        body: None,
        success: &[(200, "the shop", Some("Shop")), (304, "not modified", None)],
        errors: &[404, 429],
        handler: || get(shops::get_shop),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}/menu",
        operation_id: "getMenu",
        summary: "Read the menu (strong ETag; 304 on If-None-Match)",
        auth: Auth::Anyone,
        tag: "menu",
        admission: Class::Cheap,
        body: None,
        success: &[(200, "the menu", Some("Menu")), (304, "not modified", None)],
        errors: &[404, 429],
        handler: || get(menu::get_menu),
    },
    RouteSpec {
        method: Method::PUT,
        path: "/v1/shops/{shop}/menu/items/{item}",
        operation_id: "putMenuItem",
        summary: "Create or replace a menu item",
        auth: Auth::Staff,
        tag: "menu",
        admission: Class::Database,
        body: Some("MenuItemWrite"),
        success: &[
            (201, "created", Some("MenuItem")),
            (200, "replaced", Some("MenuItem")),
        ],
        errors: &[400, 401, 403, 404, 409, 413, 415, 422, 429],
        handler: || put(menu::put_item),
    },
    RouteSpec {
        method: Method::PATCH,
        path: "/v1/shops/{shop}/menu/items/{item}",
        operation_id: "patchMenuItem",
        summary: "Change some fields of a menu item",
        auth: Auth::Staff,
        tag: "menu",
        admission: Class::Database,
        body: Some("MenuItemPatch"),
        success: &[(200, "changed", Some("MenuItem"))],
        errors: &[400, 401, 403, 404, 409, 413, 415, 422, 429],
        handler: || patch(menu::patch_item),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/v1/shops/{shop}/menu/items/{item}",
        operation_id: "deleteMenuItem",
        summary: "Remove a menu item",
        auth: Auth::Staff,
        tag: "menu",
        admission: Class::Database,
        body: None,
        success: &[(204, "removed", None)],
        errors: &[401, 403, 404, 429],
        handler: || delete(menu::delete_item),
    },
    RouteSpec {
        method: Method::PUT,
        path: "/v1/shops/{shop}/menu/modifier-groups/{group}",
        operation_id: "putModifierGroup",
        summary: "Create or replace a modifier group (Milk: exactly one of whole, oat, soy)",
        auth: Auth::Staff,
        tag: "menu",
        admission: Class::Database,
        body: Some("ModifierGroupWrite"),
        success: &[
            (201, "created", Some("ModifierGroup")),
            (200, "replaced", Some("ModifierGroup")),
        ],
        errors: &[400, 401, 403, 404, 409, 413, 415, 422, 429],
        handler: || put(menu::put_modifier_group),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/v1/shops/{shop}/menu/modifier-groups/{group}",
        operation_id: "deleteModifierGroup",
        summary: "Remove a modifier group no item offers",
        auth: Auth::Staff,
        tag: "menu",
        admission: Class::Database,
        body: None,
        success: &[(204, "removed", None)],
        errors: &[401, 403, 404, 409, 429],
        handler: || delete(menu::delete_modifier_group),
    },
    RouteSpec {
        method: Method::PATCH,
        path: "/v1/shops/{shop}/menu/modifiers/{modifier}",
        operation_id: "patchModifier",
        summary: "Mark a modifier available or not, for every item at once (the 86)",
        auth: Auth::Staff,
        tag: "menu",
        admission: Class::Database,
        body: Some("ModifierPatch"),
        success: &[(200, "its group, changed", Some("ModifierGroup"))],
        errors: &[400, 401, 403, 404, 413, 415, 429],
        handler: || patch(menu::patch_modifier),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}/hours",
        operation_id: "getHours",
        summary: "Read the opening hours, and whether the shop takes orders now",
        auth: Auth::Anyone,
        tag: "shops",
        admission: Class::Database,
        body: None,
        success: &[(200, "the hours and the state now", Some("Schedule"))],
        errors: &[404, 429],
        handler: || get(hours::get_hours),
    },
    RouteSpec {
        method: Method::PUT,
        path: "/v1/shops/{shop}/hours",
        operation_id: "putHours",
        summary: "Set the opening hours, in the shop's time zone, with dated exceptions",
        auth: Auth::Staff,
        tag: "shops",
        admission: Class::Database,
        body: Some("Hours"),
        success: &[(200, "the hours and the state now", Some("Schedule"))],
        errors: &[400, 401, 403, 404, 413, 415, 422, 429],
        handler: || put(hours::put_hours),
    },
    RouteSpec {
        method: Method::PUT,
        path: "/v1/shops/{shop}/pause",
        operation_id: "pauseOrdering",
        summary: "Pause ordering for some minutes, or until resumed",
        auth: Auth::Staff,
        tag: "shops",
        admission: Class::Database,
        body: Some("PauseWrite"),
        success: &[(200, "paused", Some("Schedule"))],
        errors: &[400, 401, 403, 404, 413, 415, 422, 429],
        handler: || put(hours::pause),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/v1/shops/{shop}/pause",
        operation_id: "resumeOrdering",
        summary: "Resume ordering",
        auth: Auth::Staff,
        tag: "shops",
        admission: Class::Database,
        body: None,
        success: &[(200, "resumed", Some("Schedule"))],
        errors: &[401, 403, 404, 429],
        handler: || delete(hours::resume),
    },
    RouteSpec {
        method: Method::POST,
        path: "/v1/shops/{shop}/orders",
        operation_id: "placeOrder",
        summary: "Place an order (honours Idempotency-Key)",
        auth: Auth::Anyone,
        tag: "orders",
        admission: Class::Database,
        body: Some("OrderCreate"),
        success: &[(
            201,
            "placed (or replayed, with Idempotent-Replayed: true)",
            Some("Order"),
        )],
        errors: &[400, 404, 409, 413, 415, 422, 429],
        handler: || post(orders::place_order),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}/orders",
        operation_id: "listOrders",
        summary: "List orders, oldest first",
        auth: Auth::Staff,
        tag: "orders",
        admission: Class::Database,
        body: None,
        success: &[(200, "a page of orders", Some("OrderList"))],
        errors: &[401, 404, 422, 429],
        handler: || get(orders::list_orders),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}/orders/{id}",
        operation_id: "getOrder",
        summary: "Read an order",
        auth: Auth::Anyone,
        tag: "orders",
        admission: Class::Database,
        body: None,
        success: &[(200, "the order", Some("Order"))],
        errors: &[404, 429],
        handler: || get(orders::get_order),
    },
    RouteSpec {
        method: Method::POST,
        path: "/v1/shops/{shop}/queue/claim",
        operation_id: "claimOrder",
        summary: "Move the oldest placed order to brewing",
        auth: Auth::Staff,
        tag: "queue",
        admission: Class::Database,
        body: None,
        success: &[
            (200, "the claimed order", Some("Order")),
            (204, "no order is waiting", None),
        ],
        errors: &[401, 403, 404, 429],
        handler: || post(orders::claim_order),
    },
    RouteSpec {
        method: Method::POST,
        path: "/v1/shops/{shop}/orders/{id}/status",
        operation_id: "setOrderStatus",
        summary: "Move an order to ready, collected or cancelled",
        auth: Auth::Staff,
        tag: "queue",
        admission: Class::Database,
        body: Some("StatusChange"),
        success: &[(200, "the changed order", Some("Order"))],
        errors: &[400, 401, 403, 404, 409, 413, 415, 422, 429],
        handler: || post(orders::set_status),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}/orders/{id}/events",
        operation_id: "orderEvents",
        summary: "Server-Sent Events of one order (current state first)",
        auth: Auth::Anyone,
        tag: "events",
        admission: Class::Database,
        body: None,
        success: &[
            (
                200,
                "an event stream: the order's changes, and its pickup estimate while it waits; it ends after the order's final status",
                Some("OrderEventStream"),
            ),
            (
                204,
                "the order's final status is at or before `Last-Event-ID`: nothing more will come, do not reconnect",
                None,
            ),
        ],
        errors: &[404, 422, 429],
        handler: || get(events::order_events),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}/events",
        operation_id: "shopEvents",
        summary: "Server-Sent Events of all the shop's orders",
        auth: Auth::Staff,
        tag: "events",
        admission: Class::Database,
        body: None,
        success: &[(200, "an event stream", Some("EventStream"))],
        errors: &[401, 404, 422, 429],
        handler: || get(events::shop_events),
    },
    RouteSpec {
        method: Method::POST,
        path: "/v1/shops/{shop}/session",
        operation_id: "createSession",
        summary: "Sign in a browser: the staff key for a session cookie and its CSRF token",
        auth: Auth::Anyone,
        tag: "sessions",
        admission: Class::Cheap,
        body: Some("SessionCreate"),
        success: &[(201, "signed in (Set-Cookie)", Some("Session"))],
        errors: &[400, 401, 404, 413, 415, 422, 429],
        handler: || post(session::create_session),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}/session",
        operation_id: "getSession",
        summary: "The session this browser holds: its CSRF token and expiry",
        auth: Auth::Staff,
        tag: "sessions",
        admission: Class::Cheap,
        body: None,
        success: &[(
            200,
            "the session (null fields for a staff key)",
            Some("Session"),
        )],
        errors: &[401, 404, 429],
        handler: || get(session::get_session),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/v1/shops/{shop}/session",
        operation_id: "deleteSession",
        summary: "Sign out: the browser drops the session cookie",
        auth: Auth::Staff,
        tag: "sessions",
        admission: Class::Cheap,
        body: None,
        success: &[(204, "signed out (Set-Cookie clears it)", None)],
        errors: &[401, 403, 404, 429],
        handler: || delete(session::delete_session),
    },
    RouteSpec {
        method: Method::GET,
        path: "/s/{shop}",
        operation_id: "customerPage",
        summary: "The customer's page: the menu, a cart, the order and its live status",
        auth: Auth::Anyone,
        tag: "pages",
        admission: Class::Cheap,
        body: None,
        success: &[(200, "the page", Some("Html")), (304, "not modified", None)],
        errors: &[404, 429],
        handler: || get(pages::customer_page),
    },
    RouteSpec {
        method: Method::GET,
        path: "/s/{shop}/board",
        operation_id: "boardPage",
        summary: "The barista's live board and menu management (staff sign in on it)",
        auth: Auth::Anyone,
        tag: "pages",
        admission: Class::Cheap,
        body: None,
        success: &[(200, "the page", Some("Html")), (304, "not modified", None)],
        errors: &[404, 429],
        handler: || get(pages::board_page),
    },
    RouteSpec {
        method: Method::GET,
        path: "/admin",
        operation_id: "adminPage",
        summary: "The operator's page: every shop, renamed, suspended, exported, given a new key or deleted (the admin token signs in on it)",
        auth: Auth::Anyone,
        tag: "pages",
        admission: Class::Cheap,
        body: None,
        success: &[(200, "the page", Some("Html")), (304, "not modified", None)],
        errors: &[429],
        handler: || get(pages::admin_page),
    },
    RouteSpec {
        method: Method::GET,
        path: "/assets/{file}",
        operation_id: "asset",
        summary: "The pages' scripts and style, part of the binary",
        auth: Auth::Anyone,
        tag: "pages",
        admission: Class::Cheap,
        body: None,
        success: &[
            (200, "the asset", Some("Asset")),
            (304, "not modified", None),
        ],
        errors: &[404],
        handler: || get(pages::asset),
    },
    RouteSpec {
        method: Method::GET,
        path: "/favicon.ico",
        operation_id: "favicon",
        summary: "The pages' icon (SVG), where browsers and bookmarks look for it",
        auth: Auth::Anyone,
        tag: "pages",
        admission: Class::Cheap,
        body: None,
        success: &[
            (200, "the icon", Some("Asset")),
            (304, "not modified", None),
        ],
        errors: &[],
        handler: || get(pages::favicon),
    },
    RouteSpec {
        method: Method::POST,
        path: "/v1/shops/{shop}/staff-key",
        operation_id: "replaceStaffKey",
        summary: "Replace the staff key: the new one is shown once; the old key and its sessions stop working at once",
        auth: Auth::Staff,
        tag: "staff",
        admission: Class::Database,
        body: None,
        success: &[(200, "the new key", Some("StaffKey"))],
        errors: &[401, 403, 404, 429],
        handler: || post(shops::replace_staff_key),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/shops/{shop}/report",
        operation_id: "getReport",
        summary: "The day's takings (or a range's, up to 31 days): by status, item and hour; JSON or CSV",
        auth: Auth::Staff,
        tag: "staff",
        admission: Class::Database,
        body: None,
        success: &[(200, "the report", Some("Report"))],
        errors: &[401, 403, 404, 422, 429],
        handler: || get(report::get_report),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/admin/shops",
        operation_id: "listShops",
        summary: "List every shop, by slug, a page at a time",
        auth: Auth::Admin,
        tag: "admin",
        admission: Class::Database,
        body: None,
        success: &[(200, "a page of shops", Some("ShopList"))],
        errors: &[401, 404, 422],
        handler: || get(admin::list_shops),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/admin/shops/{shop}",
        operation_id: "getShopAdmin",
        summary: "Read a shop as its operator sees it, suspended or not",
        auth: Auth::Admin,
        tag: "admin",
        admission: Class::Database,
        body: None,
        success: &[(200, "the shop", Some("AdminShop"))],
        errors: &[401, 404],
        handler: || get(admin::get_shop),
    },
    RouteSpec {
        method: Method::PATCH,
        path: "/v1/admin/shops/{shop}",
        operation_id: "patchShop",
        summary: "Rename a shop, or suspend or resume it (nothing is deleted)",
        auth: Auth::Admin,
        tag: "admin",
        admission: Class::Database,
        body: Some("ShopPatch"),
        success: &[(200, "the shop after the change", Some("AdminShop"))],
        errors: &[400, 401, 404, 413, 415, 422],
        handler: || patch(admin::patch_shop),
    },
    RouteSpec {
        method: Method::DELETE,
        path: "/v1/admin/shops/{shop}",
        operation_id: "deleteShop",
        summary: "Delete a shop and everything it owns",
        auth: Auth::Admin,
        tag: "admin",
        admission: Class::Database,
        body: None,
        success: &[(204, "deleted", None)],
        errors: &[401, 404],
        handler: || delete(admin::delete_shop),
    },
    RouteSpec {
        method: Method::GET,
        path: "/v1/admin/shops/{shop}/export",
        operation_id: "exportShop",
        summary: "Export all of a shop's data as one file (`barista shops import` reads it)",
        auth: Auth::Admin,
        tag: "admin",
        admission: Class::Database,
        body: None,
        success: &[(200, "the export", Some("ShopExport"))],
        errors: &[401, 404],
        handler: || get(admin::export_shop),
    },
    RouteSpec {
        method: Method::POST,
        path: "/v1/admin/shops/{shop}/staff-key",
        operation_id: "adminReplaceStaffKey",
        summary: "Replace a shop's staff key for its owner (a lost key): shown once; the old key and its sessions stop working",
        auth: Auth::Admin,
        tag: "admin",
        admission: Class::Database,
        body: None,
        success: &[(200, "the new key", Some("StaffKey"))],
        errors: &[401, 404],
        handler: || post(shops::replace_staff_key),
    },
    RouteSpec {
        method: Method::GET,
        path: "/healthz",
        operation_id: "healthz",
        summary: "Liveness: the process answers (never touches the database)",
        auth: Auth::Anyone,
        tag: "operations",
        admission: Class::Exempt,
        body: None,
        success: &[(200, "alive", Some("Health"))],
        errors: &[],
        handler: || get(health::healthz),
    },
    RouteSpec {
        method: Method::GET,
        path: "/readyz",
        operation_id: "readyz",
        summary: "Readiness: the database answers and the server is not draining",
        auth: Auth::Anyone,
        tag: "operations",
        admission: Class::Exempt,
        body: None,
        success: &[(200, "ready", Some("Health"))],
        errors: &[503],
        handler: || get(health::readyz),
    },
    RouteSpec {
        method: Method::GET,
        path: "/openapi.json",
        operation_id: "openapi",
        summary: "This OpenAPI document",
        auth: Auth::Anyone,
        tag: "operations",
        admission: Class::Cheap,
        body: None,
        success: &[
            (200, "the OpenAPI 3.1 document", Some("OpenApi")),
            (304, "not modified", None),
        ],
        errors: &[],
        handler: || get(health::openapi),
    },
    RouteSpec {
        method: Method::GET,
        path: "/docs",
        operation_id: "reference",
        summary: "This API reference, as a page to read (rendered from the OpenAPI document)",
        auth: Auth::Anyone,
        tag: "documentation",
        admission: Class::Cheap,
        body: None,
        success: &[(200, "the reference", Some("Html"))],
        errors: &[],
        handler: || get(reference::reference),
    },
    RouteSpec {
        method: Method::GET,
        path: "/problems/{code}",
        operation_id: "problem",
        summary: "What a problem code means and what to do (the `type` of every error points here)",
        auth: Auth::Anyone,
        tag: "documentation",
        admission: Class::Cheap,
        body: None,
        success: &[(200, "the catalogue entry", Some("Html"))],
        errors: &[404],
        handler: || get(reference::problem),
    },
];

/// The route templates of the table, each operation with its admission
/// class and access, for the observe layer to match requests against.
pub fn templates() -> RouteTemplates {
    RouteTemplates::new(
        ROUTES
            .iter()
            .map(|r| (r.path, r.method.clone(), r.admission, r.auth)),
    )
}

/// Whether a replica of `role` serves `spec`.
fn serves(role: Role, spec: &RouteSpec) -> bool {
    let menu_read = spec.method == Method::GET
        && matches!(spec.path, "/v1/shops/{shop}" | "/v1/shops/{shop}/menu");
    let everyone = matches!(spec.tag, "operations" | "documentation" | "pages");
    match role {
        Role::All => true,
        Role::Menu => menu_read || everyone,
        Role::Orders => !menu_read || everyone,
    }
}

pub fn router(state: AppState) -> Router {
    let role = state.config.role;
    let mut router = Router::new();
    for spec in ROUTES {
        let handler = if serves(role, spec) {
            (spec.handler)()
        } else {
            axum::routing::on(
                axum::routing::MethodFilter::try_from(spec.method.clone())
                    .unwrap_or(axum::routing::MethodFilter::GET),
                move || async move {
                    ApiError::not_found(format!(
                        "this replica serves the `{}` role; send {} {} to a replica with the `{}` role",
                        role.name(),
                        spec.method,
                        spec.path,
                        if role == Role::Menu { "orders" } else { "menu" }
                    ))
                },
            )
        };
        router = router.route(spec.path, handler);
    }
    let mut router = router
        .fallback(health::no_route)
        .method_not_allowed_fallback(health::wrong_method);
    if state.rate_limited() {
        router = router.layer(axum::middleware::from_fn(rate_limit_headers));
    }
    router.with_state(state)
}

/// With rate limits on: the budget a request was charged to, on its answer.
async fn rate_limit_headers(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let slot = crate::rate_limit::QuotaSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let quota = *slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(quota) = quota {
        quota.write(response.headers_mut());
    }
    response
}

#[cfg(test)]
mod tests {
    use serde::de::{self, Deserialize, Deserializer, Visitor};
    use serde_json::Value;

    /// A deserializer that only records the field names a struct accepts.
    struct FieldNames<'a>(&'a mut Vec<&'static str>);

    impl<'de> Deserializer<'de> for FieldNames<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend(fields);
            Err(de::Error::custom("recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }

    fn fields_of<'de, T: Deserialize<'de>>() -> Vec<String> {
        let mut names = vec![];
        let _ = T::deserialize(FieldNames(&mut names));
        let mut names: Vec<String> = names.into_iter().map(str::to_owned).collect();
        names.sort();
        names
    }

    fn properties(schema: &Value) -> Vec<String> {
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    #[test]
    fn request_schemas_name_exactly_the_fields_the_handlers_read() {
        let doc = crate::openapi::document();
        let schema = |name: &str| doc["components"]["schemas"][name].clone();
        use barista_domain::{ItemBody, ItemPatchBody, NewOrderBody, NewOrderLineBody};
        assert_eq!(
            fields_of::<barista_domain::ShopBody>(),
            properties(&schema("ShopCreate"))
        );
        assert_eq!(
            fields_of::<ItemBody>(),
            properties(&schema("MenuItemWrite"))
        );
        assert_eq!(
            fields_of::<ItemPatchBody>(),
            properties(&schema("MenuItemPatch"))
        );
        assert_eq!(
            fields_of::<NewOrderBody>(),
            properties(&schema("OrderCreate"))
        );
        assert_eq!(
            fields_of::<NewOrderLineBody>(),
            properties(&schema("OrderCreate")["properties"]["lines"]["items"])
        );
        assert_eq!(
            fields_of::<super::orders::StatusChange>(),
            properties(&schema("StatusChange"))
        );
        assert_eq!(
            fields_of::<super::session::SessionCreate>(),
            properties(&schema("SessionCreate"))
        );
        assert_eq!(
            fields_of::<super::admin::ShopPatch>(),
            properties(&schema("ShopPatch"))
        );
    }

    #[test]
    fn text_schemas_accept_exactly_what_the_domain_accepts() {
        let doc = crate::openapi::document();
        let schemas = &doc["components"]["schemas"];
        for (schema, min) in [
            (&schemas["OrderCreate"]["properties"]["customer_name"], 1),
            (&schemas["OrderCreate"]["properties"]["note"], 0),
        ] {
            let validator = jsonschema::validator_for(schema).unwrap();
            for text in [
                "Ana",
                "",
                " ",
                " \t\n",
                "\u{3000}",
                "\u{feff}",
                "a\u{0}b",
                "x\u{85}",
                "tab\there",
                "line\nbreak",
                "\u{7f}",
                "café ☕",
                "\u{2028}",
                "\u{a0}x",
            ] {
                let mut errors = vec![];
                barista_domain::check_text(&mut errors, "t", text, min, 80);
                assert_eq!(
                    validator.is_valid(&Value::String(text.into())),
                    errors.is_empty(),
                    "{text:?} (min {min}): the schema and the domain disagree"
                );
            }
        }
    }
}
