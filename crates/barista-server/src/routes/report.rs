//! The day's takings (`barista_domain::Report`): JSON, or CSV for a
//! spreadsheet (`?format=csv`, or `Accept: text/csv`).

use crate::access::ShopAccess;
use crate::error::ApiError;
use crate::respond::{json_response, to_json};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use barista_domain::{ReportRange, Timestamp};
use std::collections::HashMap;

/// Whether the client asked for CSV.
fn wants_csv(query: &HashMap<String, String>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match query.get("format").map(String::as_str) {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::invalid_field("format", "must be json or csv")),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))),
    }
}

/// `GET /v1/shops/{shop}/report?from=YYYY-MM-DD&to=YYYY-MM-DD`.
pub async fn get_report(
    State(state): State<AppState>,
    shop: ShopAccess,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::invalid_field("query", "cannot be decoded"))?;
    if let Some(other) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "from" | "to" | "format"))
    {
        return Err(ApiError::invalid_field(
            "query",
            format!("unknown parameter `{other}` (from, to, format)"),
        ));
    }
    let csv = wants_csv(&query, &headers)?;
    let (hours, _) = state.store.schedule(&shop).await?;
    let range = ReportRange::parse(
        query.get("from").map(String::as_str),
        query.get("to").map(String::as_str),
        hours.time_zone(),
        Timestamp::now(),
    )?;
    let report = state.store.report(&shop, &range).await?;
    let mut response = if csv {
        let mut r = Response::new(axum::body::Body::from(report.to_csv()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        let name = format!(
            "attachment; filename=\"{}-{}-{}.csv\"",
            shop.slug, report.from, report.to
        );
        if let Ok(value) = HeaderValue::from_str(&name) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, value);
        }
        r
    } else {
        json_response(StatusCode::OK, to_json(&report)?)
    };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
