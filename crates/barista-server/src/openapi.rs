//! The OpenAPI 3.1 document, built from the route table (`routes::ROUTES`), the
//! domain's limits and text patterns, and the problem catalogue, so it covers
//! every route and quotes the bounds the server enforces.
//!
//! It carries what a client or a fuzzer needs to reach every operation: an
//! example for every parameter and body (the demo shop `demo` and its items),
//! and links (the shop `POST /v1/shops` creates feeds the shop routes, the
//! order `POST .../orders` places feeds the order routes). The HTTP suite
//! checks every response it receives against this document, and the test
//! command runs schemathesis against it, so it cannot drift from what the
//! server sends.

use crate::problem::CATALOGUE;
use crate::routes::{Auth, ROUTES, RouteSpec};
use barista_domain::limits::*;
use barista_domain::text_pattern;
use serde_json::{Map, Value, json};

const SLUG: &str = "^[a-z0-9-]{3,40}$";
const ITEM: &str = "^[a-z0-9-]{1,40}$";
/// Printable ASCII, without the leading or trailing space HTTP would strip.
const IDEMPOTENCY_KEY: &str = "^[\\x21-\\x7E]([\\x20-\\x7E]{0,253}[\\x21-\\x7E])?$";
/// An event's `id:`: a number, or two joined by a dot (a shop's stream on PostgreSQL).
/// A shop stream's event id: a position, `commit` or `commit.seq`.
const SHOP_EVENT_ID: &str = "^[0-9]{1,18}(\\.[0-9]{1,18})?$";
/// An order stream's event id: the order's version.
const ORDER_EVENT_ID: &str = "^[0-9]{1,18}$";
const DEMO_SHOP: &str = crate::demo::DEMO_SLUG;
/// The demo item the examples order: unlimited, so an example order succeeds.
const DEMO_ITEM: &str = "espresso";
/// The item the menu-writing examples create, change and remove, so they never
/// take away what the order examples need.
const EXAMPLE_ITEM: &str = "seasonal-special";

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The `content` of a body or response named `name` in the route table.
fn content(name: &str) -> Value {
    match name {
        "EventStream" => json!({"text/event-stream": {"schema": schema_ref("OrderEvent")}}),
        "OrderEventStream" => json!({"text/event-stream": {"schema":
            {"oneOf": [schema_ref("OrderEvent"), schema_ref("PickupEvent")]}}}),
        "Html" => json!({"text/html": {"schema": {"type": "string"}}}),
        "Asset" => json!({"text/css": {"schema": {"type": "string"}},
            "text/javascript": {"schema": {"type": "string"}},
            "image/svg+xml": {"schema": {"type": "string"}}}),
        "OpenApi" => json!({"application/json": {"schema": {"type": "object"}}}),
        "Report" => json!({"application/json": {"schema": schema_ref("Report")},
            "text/csv": {"schema": {"type": "string"}}}),
        _ => json!({"application/json": {"schema": schema_ref(name)}}),
    }
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "required": true, "schema": schema})
}

/// Response headers every answer carries, and those of some statuses.
fn response_headers(spec: &RouteSpec, status: u16) -> Value {
    let mut headers = Map::new();
    headers.insert(
        "x-request-id".into(),
        header(
            "the request's id: the client's own when it sent a sane one, else a fresh one; logs carry it",
            json!({"type": "string", "minLength": 1, "maxLength": 128}),
        ),
    );
    if status == 201 {
        headers.insert(
            "Location".into(),
            header(
                "the path of what was created",
                json!({"type": "string", "pattern": "^/v1/shops/"}),
            ),
        );
    }
    if spec.operation_id == "placeOrder" && status == 201 {
        headers.insert("Idempotent-Replayed".into(), json!({
            "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
            "schema": {"type": "string", "enum": ["true"]}}));
    }
    let validated = matches!(spec.operation_id, "getMenu" | "getShop" | "openapi");
    if validated && (status == 200 || status == 304) {
        let (what, pattern) = if spec.operation_id == "getMenu" {
            (
                "a strong tag of this menu version",
                "^\"[0-9]+-[0-9a-f]{16}\"$",
            )
        } else {
            ("a strong tag of this body (a digest)", "^\"[0-9a-f]{16}\"$")
        };
        headers.insert(
            "ETag".into(),
            header(what, json!({"type": "string", "pattern": pattern})),
        );
        headers.insert(
            "Cache-Control".into(),
            header(
                "how long a cache may keep it before it revalidates with If-None-Match",
                json!({"type": "string", "enum": ["public, max-age=1"]}),
            ),
        );
    }
    if status == 429 || status == 503 {
        headers.insert(
            "Retry-After".into(),
            header(
                "seconds to wait before retrying",
                json!({"type": "string", "pattern": "^[0-9]+$"}),
            ),
        );
    }
    Value::Object(headers)
}

/// A path parameter, with an example that names something the demo shop has.
fn path_parameter(name: &str) -> Value {
    let (schema, example, description) = match name {
        "shop" => (
            json!({"type": "string", "pattern": SLUG}),
            json!(DEMO_SHOP),
            "the shop's slug",
        ),
        "item" => (
            json!({"type": "string", "pattern": ITEM}),
            json!(EXAMPLE_ITEM),
            "the menu item's id",
        ),
        "group" => (
            json!({"type": "string", "pattern": ITEM}),
            json!("syrups"),
            "the modifier group's id",
        ),
        "modifier" => (
            json!({"type": "string", "pattern": ITEM}),
            json!("oat"),
            "the modifier's id (unique in the shop)",
        ),
        "file" => (
            json!({"type": "string", "enum": crate::routes::served_assets()}),
            json!("customer.js"),
            "a script or style of the pages",
        ),
        "code" => (
            json!({"type": "string", "enum": CATALOGUE.iter().map(|e| e.code.as_str()).collect::<Vec<_>>()}),
            json!("out_of_stock"),
            "a problem code",
        ),
        _ => (
            json!({"type": "string", "format": "uuid"}),
            json!("01937d5c-2a44-7b7e-9c1d-3f2a5b6c7d8e"),
            "the order's id (from placing it)",
        ),
    };
    json!({"name": name, "in": "path", "required": true, "description": description,
        "schema": schema, "example": example})
}

fn parameters(spec: &RouteSpec) -> Vec<Value> {
    let mut parameters: Vec<Value> = spec
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(path_parameter)
        .collect();
    match spec.operation_id {
        "listOrders" => {
            parameters.push(json!({"name": "status", "in": "query", "required": false,
                "description": "only orders in this status",
                "schema": {"type": "string", "enum": barista_domain::Status::ALL.map(|s| s.as_str())},
                "example": "placed"}));
            parameters.push(json!({"name": "limit", "in": "query", "required": false,
                "description": format!("page size, 1 to {LIST_LIMIT_MAX} (default {LIST_LIMIT_DEFAULT})"),
                "schema": {"type": "integer", "minimum": 1, "maximum": LIST_LIMIT_MAX}, "example": 20}));
            parameters.push(json!({"name": "cursor", "in": "query", "required": false,
                "description": "the `next_cursor` of the previous page, as it was given; empty is the first page",
                "schema": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]}}));
        }
        "getReport" => {
            for (name, description) in [
                ("from", "the first local day, YYYY-MM-DD (default: today in the shop's time zone)"),
                ("to", "the last local day, YYYY-MM-DD (default: `from`); at most 31 days in all"),
            ] {
                parameters.push(json!({"name": name, "in": "query", "required": false,
                    "description": description,
                    "schema": {"type": "string", "format": "date"}, "example": "2026-12-04"}));
            }
            parameters.push(json!({"name": "format", "in": "query", "required": false,
                "description": "csv for a spreadsheet (as does `Accept: text/csv`); json by default",
                "schema": {"type": "string", "enum": ["json", "csv"]}}));
        }
        "listShops" => {
            parameters.push(json!({"name": "limit", "in": "query", "required": false,
                "description": format!("page size, 1 to {LIST_LIMIT_MAX} (default {LIST_LIMIT_DEFAULT})"),
                "schema": {"type": "integer", "minimum": 1, "maximum": LIST_LIMIT_MAX}, "example": 50}));
            parameters.push(json!({"name": "after", "in": "query", "required": false,
                "description": "the `next_after` of the previous page; absent is the first page",
                "schema": {"type": "string"}}));
        }
        "placeOrder" => parameters.push(json!({"name": "Idempotency-Key", "in": "header",
            "required": false,
            "description": "makes a retry safe: the same key and body give the first answer again",
            "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY}, "example": "ana-7f3c2e"})),
        "getMenu" => parameters.push(json!({"name": "If-None-Match", "in": "header",
            "required": false, "description": "an ETag of the menu held; 304 when it is current",
            "schema": {"type": "string"}, "example": "\"1-0123456789abcdef\""})),
        "getShop" | "openapi" => parameters.push(json!({"name": "If-None-Match", "in": "header",
            "required": false, "description": "an ETag of the document held; 304 when it is current",
            "schema": {"type": "string"}, "example": "\"0123456789abcdef\""})),
        "orderEvents" | "shopEvents" => parameters.push(json!({"name": "Last-Event-ID",
            "in": "header", "required": false,
            "description": "resume after this event (the last `id:` received)",
            "schema": {"type": "string", "pattern":
                if spec.operation_id == "orderEvents" { ORDER_EVENT_ID } else { SHOP_EVENT_ID }},
            "example": "0"})),
        _ => {}
    }
    parameters
}

/// Links from an operation's success to the operations its answer feeds.
fn links(operation_id: &str) -> Option<Value> {
    let shop_from_created = "$response.body#/shop/slug";
    let to = |targets: &[&str], params: Value| -> Value {
        let mut links = Map::new();
        for target in targets {
            let mut params = params.clone();
            if target.ends_with("MenuItem") && params.get("item").is_none() {
                params["item"] = json!(EXAMPLE_ITEM);
            }
            links.insert(
                format!("{}{}", target[..1].to_uppercase(), &target[1..]),
                json!({"operationId": target, "parameters": params}),
            );
        }
        Value::Object(links)
    };
    let order = json!({"shop": "$request.path.shop", "id": "$response.body#/id"});
    Some(match operation_id {
        "createShop" => to(
            &[
                "getShop",
                "getMenu",
                "putMenuItem",
                "placeOrder",
                "listOrders",
                "claimOrder",
                "shopEvents",
            ],
            json!({"shop": shop_from_created}),
        ),
        "putMenuItem" | "patchMenuItem" => to(
            &["patchMenuItem", "deleteMenuItem"],
            json!({"shop": "$request.path.shop", "item": "$response.body#/id"}),
        ),
        "placeOrder" | "claimOrder" => to(&["getOrder", "setOrderStatus", "orderEvents"], order),
        _ => return None,
    })
}

fn operation(spec: &RouteSpec) -> Value {
    let mut responses = Map::new();
    for (status, description, body) in spec.success {
        let mut response = json!({"description": description,
            "headers": response_headers(spec, *status)});
        if let Some(body) = body {
            response["content"] = content(body);
        }
        if let Some(links) = links(spec.operation_id).filter(|_| body.is_some()) {
            response["links"] = links;
        }
        responses.insert(status.to_string(), response);
    }
    // Admission control can shed any request but a health check.
    let shed = (spec.tag != "operations" || spec.path == "/openapi.json").then_some(503);
    // A suspended shop answers 403 on every route of it but the operator's.
    let suspended =
        (spec.path.contains("{shop}") && spec.auth != Auth::Admin && !spec.errors.contains(&403))
            .then_some(403);
    let mut statuses: Vec<u16> = spec.errors.iter().copied().chain(suspended).collect();
    statuses.sort_unstable();
    for status in statuses.into_iter().chain(shed) {
        let status = &status;
        let codes: Vec<&str> = CATALOGUE
            .iter()
            .filter(|e| e.status.as_u16() == *status)
            .map(|e| e.code.as_str())
            .collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": format!("a problem (RFC 9457): {}", codes.join(", ")),
                "headers": response_headers(spec, *status),
                "content": {"application/problem+json": {"schema": schema_ref("Problem")}},
            }),
        );
    }
    let mut op = json!({
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": parameters(spec),
        "responses": responses,
    });
    match spec.auth {
        Auth::Anyone => {}
        Auth::Staff => op["security"] = json!([{"staffKey": []}]),
        Auth::Admin => op["security"] = json!([{"adminToken": []}]),
    }
    if let Some(body) = spec.body {
        let mut content = content(body);
        if let Some(example) = request_example(body) {
            content["application/json"]["example"] = example;
        }
        op["requestBody"] = json!({"required": true, "content": content});
    }
    op
}

fn request_example(body: &str) -> Option<Value> {
    Some(match body {
        "ShopCreate" => json!({"slug": "blue-door", "name": "Blue Door Coffee", "currency": "EUR"}),
        "MenuItemWrite" => json!({"name": "Pumpkin spice latte", "description": "while it lasts",
            "category": "coffee", "price_cents": 450, "available": true, "stock": 40}),
        "MenuItemPatch" => json!({"price_cents": 390}),
        "OrderCreate" => json!({"customer_name": "Ana", "note": "extra hot",
            "lines": [{"item_id": DEMO_ITEM, "quantity": 2},
                {"item_id": "flat-white", "quantity": 1, "variation_id": "large",
                    "modifiers": ["oat", "extra-shot"]}]}),
        "ModifierGroupWrite" => json!({"name": "Syrups", "min": 0, "max": 2, "modifiers": [
            {"id": "caramel", "name": "Caramel", "price_delta_cents": 45},
            {"id": "hazelnut", "name": "Hazelnut", "price_delta_cents": 45, "available": true}]}),
        "ModifierPatch" => json!({"available": false}),
        "Hours" => json!({"time_zone": "Europe/Lisbon",
            "weekly": {"mon": [{"opens": "07:00", "closes": "18:00"}],
                "sat": [{"opens": "08:00", "closes": "12:00"}, {"opens": "13:00", "closes": "24:00"}]},
            "exceptions": [{"date": "2026-12-25", "hours": []}]}),
        "PauseWrite" => json!({"minutes": 15}),
        "StatusChange" => json!({"status": "cancelled"}),
        "SessionCreate" => json!({"staff_key": "bsk_6b05aca4..."}),
        _ => return None,
    })
}

/// Free text the server accepts: a length in characters and, past zero, not blank.
fn text(min: usize, max: usize) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max, "pattern": text_pattern(min > 0)})
}

fn integer(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

/// An object the server sends: exactly these fields, all present.
fn sent(properties: Value) -> Value {
    sent_optional(properties, &[])
}

/// An object the server sends: exactly these fields, all present but `optional`.
fn sent_optional(properties: Value, optional: &[&str]) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| {
            p.keys()
                .filter(|k| !optional.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    json!({"type": "object", "required": required, "properties": properties,
        "additionalProperties": false})
}

fn schemas() -> Value {
    let item_fields = json!({
        "name": text(1, NAME_MAX),
        "description": text(0, DESCRIPTION_MAX),
        "category": text(1, CATEGORY_MAX),
        "price_cents": integer(0, PRICE_MAX),
        "available": {"type": "boolean"},
        "stock": {"type": ["integer", "null"], "minimum": 0, "maximum": STOCK_MAX,
            "description": "units left; null is unlimited"},
    });
    let id = json!({"type": "string", "pattern": ITEM});
    let mut item_fields = item_fields;
    item_fields["variations"] = json!({"type": "array", "maxItems": VARIATIONS_MAX,
        "description": "sizes, each with its own price; the first is the default, and `price_cents` is its price",
        "items": {"type": "object", "required": ["id", "name", "price_cents"], "properties": {
            "id": id, "name": text(1, NAME_MAX), "price_cents": integer(0, PRICE_MAX)}}});
    item_fields["modifier_groups"] = json!({"type": "array", "maxItems": VARIATIONS_MAX, "uniqueItems": true,
        "description": "ids of the shop's modifier groups the item offers, in the order shown",
        "items": id});
    let mut item = item_fields.clone();
    item["id"] = id.clone();
    let modifier = json!({"id": id, "name": text(1, NAME_MAX),
        "price_delta_cents": integer(0, PRICE_MAX), "available": {"type": "boolean"}});
    let group_fields = json!({"name": text(1, NAME_MAX), "min": integer(0, SELECTIONS_MAX),
        "max": integer(1, SELECTIONS_MAX),
        "modifiers": {"type": "array", "minItems": 1, "maxItems": MODIFIERS_MAX,
            "items": {"type": "object", "required": ["id", "name"], "properties": modifier.clone()}}});
    let mut group = group_fields.clone();
    group["id"] = id.clone();
    group["modifiers"] = json!({"type": "array", "minItems": 1, "items": sent(modifier)});
    let span = json!({"type": "object", "required": ["opens", "closes"], "additionalProperties": false,
        "properties": {"opens": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
            "closes": {"type": "string", "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"}}});
    let spans = json!({"type": "array", "maxItems": barista_domain::SPANS_MAX, "items": span});
    let days: Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| (d.to_string(), spans.clone()))
        .collect();
    let statuses = barista_domain::Status::ALL.map(|s| s.as_str());
    let timestamp = json!({"type": "string", "format": "date-time"});
    let currency = json!({"type": "string", "pattern": "^[A-Z]{3}$"});
    json!({
        "Shop": sent(json!({"slug": {"type": "string", "pattern": SLUG}, "name": {"type": "string"},
            "currency": currency, "created_at": timestamp})),
        "ShopCreate": {"type": "object", "required": ["slug", "name", "currency"], "properties": {
            "slug": {"type": "string", "pattern": SLUG},
            "name": text(1, NAME_MAX),
            "currency": currency}},
        "AdminShop": sent(json!({"slug": {"type": "string", "pattern": SLUG}, "name": {"type": "string"},
            "currency": currency, "created_at": timestamp, "suspended": {"type": "boolean"}})),
        "ShopList": sent_optional(json!({"shops": {"type": "array", "items": schema_ref("AdminShop")},
            "next_after": {"type": "string", "pattern": SLUG}}), &["next_after"]),
        "ShopPatch": {"type": "object", "additionalProperties": false, "minProperties": 1,
            "properties": {"name": text(1, NAME_MAX), "suspended": {"type": "boolean",
                "description": "true suspends the shop (its API answers 403 shop_suspended), false resumes it"}}},
        "ShopExport": {"type": "object", "required": ["format", "schema", "exported_at", "shop", "tables"],
            "additionalProperties": false, "properties": {
                "format": {"const": barista_store::EXPORT_FORMAT},
                "schema": {"type": "integer", "description": "the schema version the rows were read at"},
                "exported_at": {"type": "integer", "description": "µs since the epoch"},
                "shop": {"type": "object", "description": "the shop's row, by column"},
                "tables": {"type": "object", "description": "every other table's rows, by table, each by column",
                    "additionalProperties": {"type": "array", "items": {"type": "object"}}}}},
        "StaffKey": sent(json!({"staff_key": {"type": "string", "pattern": "^bsk_[0-9a-f]{64}$",
                "description": "shown this once; only its hash is kept"}})),
        "Report": sent_optional(json!({
            "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
            "time_zone": {"type": "string"}, "currency": currency,
            "orders": {"type": "integer", "minimum": 0},
            "revenue_cents": {"type": "integer", "description": "what the orders not cancelled came to"},
            "cancelled": sent(json!({"orders": {"type": "integer"}, "total_cents": {"type": "integer"}})),
            "by_status": {"type": "array", "items": sent(json!({"status": {"type": "string", "enum": statuses},
                "orders": {"type": "integer"}, "total_cents": {"type": "integer"}}))},
            "by_item": {"type": "array", "items": sent(json!({"item_id": {"type": "string"},
                "name": {"type": "string"}, "orders": {"type": "integer"}, "quantity": {"type": "integer"},
                "revenue_cents": {"type": "integer"}}))},
            "by_hour": {"type": "array", "items": sent(json!({"hour": integer(0, 23),
                "orders": {"type": "integer"}, "revenue_cents": {"type": "integer"}}))},
            "median_ready_seconds": {"type": ["number", "null"],
                "description": "median seconds from placed to first ready; null when none was ready"},
            "ready_orders": {"type": "integer", "minimum": 0}}), &[]),
        "ShopCreated": sent(json!({"shop": schema_ref("Shop"),
            "staff_key": {"type": "string", "pattern": "^bsk_[0-9a-f]{64}$",
                "description": "shown this once; only its hash is kept"}})),
        "MenuItem": sent_optional(item, &["variations", "modifier_groups"]),
        "MenuItemWrite": {"type": "object", "required": ["name", "category"],
            "description": "`price_cents` is required without `variations`",
            "properties": item_fields.clone()},
        "MenuItemPatch": {"type": "object", "properties": item_fields},
        "Menu": sent_optional(json!({"shop": {"type": "string", "pattern": SLUG}, "currency": currency,
            "version": {"type": "integer", "minimum": 1},
            "ordering": schema_ref("Ordering"),
            "items": {"type": "array", "items": schema_ref("MenuItem")},
            "modifier_groups": {"type": "array", "items": schema_ref("ModifierGroup")}}),
            &["modifier_groups"]),
        "ModifierGroup": sent(group),
        "ModifierGroupWrite": {"type": "object", "required": ["name", "max", "modifiers"],
            "properties": group_fields},
        "ModifierPatch": {"type": "object", "required": ["available"], "additionalProperties": false,
            "properties": {"available": {"type": "boolean"}}},
        "Ordering": sent_optional(json!({"open": {"type": "boolean"},
            "reason": {"type": "string", "enum": ["closed", "paused"]},
            "closes_at": timestamp, "opens_at": timestamp, "paused_until": timestamp,
            "time_zone": {"type": "string"}}),
            &["reason", "closes_at", "opens_at", "paused_until"]),
        "Hours": {"type": "object", "required": ["time_zone"], "additionalProperties": false,
            "properties": {
                "time_zone": {"type": "string", "description": "an IANA name, such as Europe/Lisbon"},
                "weekly": {"type": ["object", "null"], "additionalProperties": false, "properties": days,
                    "description": "spans per weekday; a day left out is closed; null or absent is open all day, every day"},
                "exceptions": {"type": "array", "maxItems": barista_domain::EXCEPTIONS_MAX, "items": {
                    "type": "object", "required": ["date", "hours"], "additionalProperties": false,
                    "properties": {"date": {"type": "string", "format": "date"}, "hours": spans}}}}},
        "Schedule": sent(json!({"hours": schema_ref("Hours"), "ordering": schema_ref("Ordering")})),
        "PauseWrite": {"type": "object", "additionalProperties": false, "properties": {
            "minutes": {"type": ["integer", "null"], "minimum": 1, "maximum": barista_domain::PAUSE_MINUTES_MAX,
                "description": "absent or null: until resumed"}}},
        "OrderCreate": {"type": "object", "required": ["customer_name", "lines"], "properties": {
            "customer_name": text(1, CUSTOMER_NAME_MAX),
            "note": text(0, NOTE_MAX),
            "lines": {"type": "array", "minItems": 1, "maxItems": LINES_MAX, "items": {
                "type": "object", "required": ["item_id", "quantity"], "properties": {
                    "item_id": {"type": "string", "pattern": ITEM},
                    "quantity": integer(1, QUANTITY_MAX),
                    "variation_id": {"type": ["string", "null"], "pattern": ITEM,
                        "description": "the size; absent is the item's first"},
                    "modifiers": {"type": "array", "maxItems": SELECTIONS_MAX, "items": id,
                        "description": "modifier ids; one chosen twice counts twice"}}}}}},
        "OrderLine": sent_optional(json!({"item_id": {"type": "string", "pattern": ITEM},
            "name": {"type": "string"}, "quantity": integer(1, QUANTITY_MAX),
            "unit_price_cents": {"type": "integer", "minimum": 0,
                "description": "the size's price plus every modifier's delta, when ordered"},
            "line_total_cents": {"type": "integer", "minimum": 0},
            "variation": sent(json!({"id": {"type": "string"}, "name": {"type": "string"},
                "price_cents": {"type": "integer", "minimum": 0}})),
            "modifiers": {"type": "array", "items": sent(json!({"group": {"type": "string"},
                "id": {"type": "string"}, "name": {"type": "string"},
                "price_delta_cents": {"type": "integer", "minimum": 0}}))}}),
            &["variation", "modifiers"]),
        "Order": sent_optional(json!({
            "id": {"type": "string", "format": "uuid"}, "shop": {"type": "string", "pattern": SLUG},
            "status": {"type": "string", "enum": statuses},
            "customer_name": {"type": "string"}, "note": {"type": "string"},
            "lines": {"type": "array", "minItems": 1, "items": schema_ref("OrderLine")},
            "total_cents": {"type": "integer", "minimum": 0}, "currency": currency,
            "version": {"type": "integer", "minimum": 1},
            "created_at": timestamp, "updated_at": timestamp,
            "pickup": schema_ref("Pickup")}), &["pickup"]),
        "Pickup": {"description": "when a waiting order should be ready: the orders ahead of it times the shop's pace (docs/api.md, Pickup estimates); on the order when placed or read while it waits, and as `pickup` events on its stream",
            "type": "object", "required": ["ready_at", "ahead", "pace_seconds", "measured"],
            "additionalProperties": false, "properties": {
            "ready_at": timestamp, "ahead": {"type": "integer", "minimum": 0},
            "pace_seconds": {"type": "integer", "minimum": 1},
            "measured": {"type": "boolean", "description": "false: too little history, a default pace"}}},
        "PickupEvent": {"type": "object", "required": ["event", "data"], "additionalProperties": false,
            "description": "an order's stream, while the order waits: its estimate, when the stream opens and as the queue moves; no `id`, so a resume is unaffected",
            "properties": {
            "id": {"type": "string", "pattern": SHOP_EVENT_ID,
                "description": "not sent: an event stream's last `id:` carries over, so a client sees the order's version it last had"},
            "event": {"type": "string", "enum": ["pickup"]},
            "data": {"type": "string", "contentMediaType": "application/json",
                "contentSchema": schema_ref("Pickup")}}},
        "OrderEvent": {"type": "object", "required": ["id", "event", "data"], "properties": {
            "id": {"type": "string", "pattern": SHOP_EVENT_ID,
                "description": "the shop's stream: the event's place (`pos` or `tx.pos`); an order's stream: the order's version"},
            "event": {"type": "string", "enum": ["order"]},
            "data": {"type": "string", "contentMediaType": "application/json",
                "contentSchema": schema_ref("Order")}}},
        "OrderList": sent(json!({
            "orders": {"type": "array", "items": schema_ref("Order")},
            "next_cursor": {"type": ["string", "null"], "format": "uuid"}})),
        "SessionCreate": {"type": "object", "required": ["staff_key"], "additionalProperties": false, "properties": {
            "staff_key": {"type": "string", "description": "the shop's staff key (`bsk_...`)"}}},
        "Session": sent(json!({
            "csrf_token": {"type": ["string", "null"],
                "description": "send as `X-CSRF-Token` with every write made with the session cookie"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"}})),
        "StatusChange": {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": ["ready", "collected", "cancelled"]}}},
        "Health": sent(json!({"status": {"type": "string", "enum": ["ok", "ready"]}})),
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "code"],
            "additionalProperties": false, "properties": {
            "type": {"type": "string", "pattern": "^/problems/[a-z_]+$",
                "description": "resolves to this problem's page in the catalogue"},
            "title": {"type": "string"}, "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string", "enum": CATALOGUE.iter().map(|e| e.code.as_str()).collect::<Vec<_>>()},
            "errors": {"type": "array", "minItems": 1, "items": sent(json!({
                "field": {"type": "string"}, "message": {"type": "string"}}))},
            "ordering": schema_ref("Ordering")}},
    })
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for spec in ROUTES {
        let entry = paths.entry(spec.path).or_insert_with(|| json!({}));
        entry[spec.method.as_str().to_ascii_lowercase()] = operation(spec);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Barista",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A multi-tenant coffee-shop ordering API. Errors are RFC 9457 problem details; \
                each `type` resolves to its entry in the problem catalogue (`/problems/{code}`). \
                A readable reference is served at `/docs`.",
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "staffKey": {"type": "http", "scheme": "bearer", "description": "the shop's staff key"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "the server's admin token"},
            },
        },
    })
}
