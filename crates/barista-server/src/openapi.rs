//! The OpenAPI 3.1 document, built from the route table (`routes::ROUTES`) and
//! the domain limits, so it covers every route and quotes the real bounds.

use crate::routes::{Auth, ROUTES};
use barista_domain::limits::*;
use serde_json::{Map, Value, json};

fn problem_ref() -> Value {
    json!({"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

fn schema_ref(name: &str) -> Value {
    if name == "EventStream" {
        return json!({"text/event-stream": {"schema": {"type": "string"}}});
    }
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}})
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let schema = match name {
                "shop" => json!({"type": "string", "pattern": "^[a-z0-9-]{3,40}$"}),
                "item" => json!({"type": "string", "pattern": "^[a-z0-9-]{1,40}$"}),
                _ => json!({"type": "string", "format": "uuid"}),
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

fn operation(spec: &crate::routes::RouteSpec) -> Value {
    let mut parameters = path_params(spec.path);
    for (name, description) in spec.query {
        parameters.push(json!({"name": name, "in": "query", "required": false,
            "description": description, "schema": {"type": "string"}}));
    }
    if spec.operation_id == "placeOrder" {
        parameters.push(
            json!({"name": "Idempotency-Key", "in": "header", "required": false,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255}}),
        );
    }
    if spec.operation_id.ends_with("Events") {
        parameters.push(
            json!({"name": "Last-Event-ID", "in": "header", "required": false,
            "schema": {"type": "string"}}),
        );
    }
    if spec.operation_id == "getMenu" {
        parameters.push(
            json!({"name": "If-None-Match", "in": "header", "required": false,
            "schema": {"type": "string"}}),
        );
    }
    let mut responses = Map::new();
    for (status, description, schema) in spec.success {
        let mut response = json!({"description": description});
        if let Some(schema) = schema {
            response["content"] = schema_ref(schema);
        }
        responses.insert(status.to_string(), response);
    }
    for status in spec.errors {
        let mut response = problem_ref();
        response["description"] = json!("problem details (RFC 9457)");
        responses.insert(status.to_string(), response);
    }
    let mut op = json!({
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "parameters": parameters,
        "responses": responses,
    });
    match spec.auth {
        Auth::Anyone => {}
        Auth::Staff => op["security"] = json!([{"staffKey": []}]),
        Auth::Admin => op["security"] = json!([{"adminToken": []}]),
    }
    if let Some(body) = spec.body {
        op["requestBody"] = json!({"required": true, "content": schema_ref(body)});
    }
    op
}

fn text(min: usize, max: usize) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max})
}

fn schemas() -> Value {
    let item_fields = json!({
        "name": text(1, NAME_MAX),
        "description": text(0, DESCRIPTION_MAX),
        "category": text(1, CATEGORY_MAX),
        "price_cents": {"type": "integer", "minimum": 0, "maximum": PRICE_MAX},
        "available": {"type": "boolean"},
        "stock": {"type": ["integer", "null"], "minimum": 0, "maximum": STOCK_MAX},
    });
    let mut item = item_fields.clone();
    item["id"] = json!({"type": "string", "pattern": "^[a-z0-9-]{1,40}$"});
    let status =
        json!({"type": "string", "enum": ["placed", "brewing", "ready", "collected", "cancelled"]});
    json!({
        "Shop": {"type": "object", "required": ["slug", "name", "currency", "created_at"], "properties": {
            "slug": {"type": "string"}, "name": {"type": "string"},
            "currency": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}},
        "ShopCreate": {"type": "object", "required": ["slug", "name", "currency"], "properties": {
            "slug": {"type": "string", "pattern": "^[a-z0-9-]{3,40}$"},
            "name": text(1, NAME_MAX),
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}}},
        "ShopCreated": {"type": "object", "required": ["shop", "staff_key"], "properties": {
            "shop": {"$ref": "#/components/schemas/Shop"}, "staff_key": {"type": "string"}}},
        "MenuItem": {"type": "object", "required": ["id", "name", "description", "category", "price_cents", "available", "stock"],
            "properties": item},
        "MenuItemWrite": {"type": "object", "required": ["name", "category", "price_cents"], "properties": item_fields.clone()},
        "MenuItemPatch": {"type": "object", "properties": item_fields},
        "Menu": {"type": "object", "required": ["shop", "currency", "version", "items"], "properties": {
            "shop": {"type": "string"}, "currency": {"type": "string"}, "version": {"type": "integer"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/MenuItem"}}}},
        "OrderCreate": {"type": "object", "required": ["customer_name", "lines"], "properties": {
            "customer_name": text(1, CUSTOMER_NAME_MAX),
            "note": text(0, NOTE_MAX),
            "lines": {"type": "array", "minItems": 1, "maxItems": LINES_MAX, "items": {
                "type": "object", "required": ["item_id", "quantity"], "properties": {
                    "item_id": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": QUANTITY_MAX}}}}}},
        "OrderLine": {"type": "object", "required": ["item_id", "name", "quantity", "unit_price_cents", "line_total_cents"],
            "properties": {"item_id": {"type": "string"}, "name": {"type": "string"}, "quantity": {"type": "integer"},
                "unit_price_cents": {"type": "integer"}, "line_total_cents": {"type": "integer"}}},
        "Order": {"type": "object", "required": ["id", "shop", "status", "customer_name", "note", "lines",
            "total_cents", "currency", "version", "created_at", "updated_at"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "shop": {"type": "string"}, "status": status,
            "customer_name": {"type": "string"}, "note": {"type": "string"},
            "lines": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLine"}},
            "total_cents": {"type": "integer"}, "currency": {"type": "string"}, "version": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
        "OrderList": {"type": "object", "required": ["orders", "next_cursor"], "properties": {
            "orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
            "next_cursor": {"type": ["string", "null"]}}},
        "StatusChange": {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": ["ready", "collected", "cancelled"]}}},
        "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "code"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "code": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {
                "field": {"type": "string"}, "message": {"type": "string"}}}}}},
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
            "description": "A multi-tenant coffee-shop ordering API. Errors are RFC 9457 problem details.",
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
