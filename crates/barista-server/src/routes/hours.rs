//! When a shop takes orders: its opening hours (anyone may read them, staff
//! set them) and the staff's pause.

use crate::access::ShopAccess;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::respond::{json_response, to_json};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use barista_domain::{Hours, HoursBody, Ordering, Pause, PauseBody, Timestamp};
use serde::Serialize;

/// The hours as set, and what they (and any pause) mean now.
#[derive(Serialize)]
struct Schedule<'a> {
    hours: &'a HoursBody,
    ordering: Ordering,
}

fn schedule((hours, pause): (Hours, Option<Pause>)) -> Result<Response, ApiError> {
    let body = to_json(&Schedule {
        hours: hours.body(),
        ordering: Ordering::at(&hours, pause, Timestamp::now()),
    })?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn get_hours(
    State(state): State<AppState>,
    shop: ShopAccess,
) -> Result<Response, ApiError> {
    schedule(state.store.schedule(&shop).await?)
}

pub async fn put_hours(
    State(state): State<AppState>,
    shop: ShopAccess,
    JsonBody(body): JsonBody<HoursBody>,
) -> Result<Response, ApiError> {
    let hours = Hours::parse(body)?;
    schedule(state.store.set_hours(&shop, hours).await?)
}

/// Pauses ordering for `minutes`, or until resumed: the rush the baristas cannot keep up with.
pub async fn pause(
    State(state): State<AppState>,
    shop: ShopAccess,
    JsonBody(body): JsonBody<PauseBody>,
) -> Result<Response, ApiError> {
    let pause = Pause::parse(body, Timestamp::now())?;
    schedule(state.store.set_pause(&shop, Some(pause)).await?)
}

pub async fn resume(State(state): State<AppState>, shop: ShopAccess) -> Result<Response, ApiError> {
    schedule(state.store.set_pause(&shop, None).await?)
}
