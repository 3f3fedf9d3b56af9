//! The operations listener: `/metrics` and `/debug/pprof/profile`, on their own
//! address so they are never exposed with the public API by accident.

use crate::observe::{process, profile};
use crate::respond::json_response;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::fmt::Write;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/debug/pprof/profile", get(profile::cpu_profile))
        .fallback(|| async {
            json_response(
                StatusCode::NOT_FOUND,
                r#"{"error":"try /metrics or /debug/pprof/profile"}"#,
            )
        })
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::with_capacity(32 * 1024);
    let _ = writeln!(
        out,
        "# HELP barista_build_info Barista's version and git revision.\n# TYPE barista_build_info gauge\nbarista_build_info{{version=\"{}\",revision=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        env!("BARISTA_GIT_REVISION")
    );
    process::render(&mut out);
    state.metrics.render(&mut out, &state.store.pool_stats());
    crate::observe::metrics::render_timings(&mut out, state.store.timings());
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
