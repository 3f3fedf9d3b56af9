//! Orders: placed by customers, worked through by staff.

use crate::access::ShopAccess;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathOf};
use crate::observe::OrderOutcome;
use crate::respond::{json_response, to_json};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use barista_domain::{
    FieldError, IdempotencyKey, IdempotentRequest, Invalid, NewOrder, NewOrderBody, Order, OrderId,
    Pickup, Status,
    limits::{LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX},
};
use barista_store::{OrderPage, Placed};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

fn order_id(id: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(id).map_err(|_| ApiError::not_found(format!("no order `{id}`")))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            IdempotencyKey::parse(v.as_bytes())
                .map_err(|m| ApiError::invalid_field("Idempotency-Key", m))
        })
        .transpose()
}

fn created(shop: &str, order: &Order, pickup: Option<&Pickup>) -> Result<Response, ApiError> {
    Ok(crate::respond::created(
        &format!("/v1/shops/{shop}/orders/{}", order.id),
        order_json(order, pickup)?,
    ))
}

fn order_json(order: &Order, pickup: Option<&Pickup>) -> Result<Vec<u8>, ApiError> {
    crate::pickup::with_pickup(order, pickup).map_err(|e| {
        tracing::error!(error = %e, "serialization failed");
        ApiError::internal()
    })
}

/// The request parsed: the order, and its key with the order's fingerprint.
fn parse(
    headers: &HeaderMap,
    body: NewOrderBody,
) -> Result<(NewOrder, Option<IdempotentRequest>), ApiError> {
    let key = idempotency_key(headers)?;
    let order = NewOrder::parse(body)?;
    let key = key.map(|key| IdempotentRequest::new(key, &order));
    Ok((order, key))
}

pub async fn place_order(
    State(state): State<AppState>,
    shop: ShopAccess,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewOrderBody>,
) -> Result<Response, ApiError> {
    let (order, key) = parse(&headers, body).inspect_err(|_| {
        state.metrics.order(OrderOutcome::Rejected);
    })?;
    let placed = state.store.place_order(&shop, order, key).await;
    state.metrics.order(OrderOutcome::of(&placed));
    match placed? {
        Placed::Created(order) => {
            state.queues.placed(shop.id, &order);
            let pickup = state.queues.estimate(&*state.store, &shop, &order).await;
            created(shop.slug.as_str(), &order, pickup.as_ref())
        }
        // The first answer again, but for its estimate, which was of then.
        Placed::Replayed(order) => {
            let mut response = created(shop.slug.as_str(), &order, None)?;
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
    }
}

pub async fn get_order(
    State(state): State<AppState>,
    shop: ShopAccess,
    PathOf((_, id)): PathOf<(String, String)>,
) -> Result<Response, ApiError> {
    let order_id = order_id(&id)?;
    let order = state
        .store
        .order(&shop, order_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order `{id}`")))?;
    let pickup = state.queues.estimate(&*state.store, &shop, &order).await;
    Ok(json_response(
        StatusCode::OK,
        order_json(&order, pickup.as_ref())?,
    ))
}

fn page(query: &HashMap<String, String>) -> Result<OrderPage, Invalid> {
    let mut errors = vec![];
    let status = query.get("status").and_then(|s| {
        let parsed = Status::parse(s);
        if parsed.is_none() {
            errors.push(FieldError::new(
                "status",
                "must be placed, brewing, ready, collected or cancelled",
            ));
        }
        parsed
    });
    let limit = match query.get("limit") {
        None => LIST_LIMIT_DEFAULT,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=LIST_LIMIT_MAX).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be 1 to {LIST_LIMIT_MAX}"),
                ));
                LIST_LIMIT_DEFAULT
            }
        },
    };
    // An empty cursor is the first page, as a client that pastes `next_cursor` into a URL writes it.
    let after = query.get("cursor").filter(|s| !s.is_empty()).and_then(|s| {
        let parsed = OrderId::parse(s).ok();
        if parsed.is_none() {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor this server gave",
            ));
        }
        parsed
    });
    if errors.is_empty() {
        Ok(OrderPage {
            status,
            after,
            limit: limit as usize,
        })
    } else {
        Err(Invalid(errors))
    }
}

/// A page of orders; a struct, not `json!`, so each order keeps its field order.
#[derive(Serialize)]
struct OrderList<'a> {
    orders: &'a [barista_domain::Order],
    next_cursor: Option<OrderId>,
}

pub async fn list_orders(
    State(state): State<AppState>,
    shop: ShopAccess,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::invalid_field("query", "cannot be decoded"))?;
    let (orders, next) = state.store.list_orders(&shop, page(&query)?).await?;
    let body = OrderList {
        orders: &orders,
        next_cursor: next,
    };
    Ok(json_response(StatusCode::OK, to_json(&body)?))
}

pub async fn claim_order(
    State(state): State<AppState>,
    shop: ShopAccess,
) -> Result<Response, ApiError> {
    match state.store.claim_next(&shop).await? {
        Some(order) => Ok(json_response(StatusCode::OK, to_json(&order)?)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[derive(Deserialize)]
pub struct StatusChange {
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    shop: ShopAccess,
    PathOf((_, id)): PathOf<(String, String)>,
    JsonBody(body): JsonBody<StatusChange>,
) -> Result<Response, ApiError> {
    let order_id = order_id(&id)?;
    let to = match Status::parse(&body.status) {
        Some(s @ (Status::Ready | Status::Collected | Status::Cancelled)) => s,
        _ => {
            return Err(ApiError::invalid_field(
                "status",
                "must be ready, collected or cancelled (orders start brewing through the queue)",
            ));
        }
    };
    let order = state
        .store
        .set_status(&shop, order_id, to)
        .await
        .map_err(ApiError::missing(format!("no order `{id}`")))?;
    Ok(json_response(StatusCode::OK, to_json(&order)?))
}
