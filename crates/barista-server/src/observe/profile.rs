//! CPU profiles on demand: `GET /debug/pprof/profile?seconds=N` samples the
//! whole process for N seconds (1 to 60, default 10) at 99 Hz and answers a
//! flamegraph (SVG). One at a time: a second request meanwhile gets 409.

use crate::error::ApiError;
use axum::extract::Query;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

static RUNNING: AtomicBool = AtomicBool::new(false);
const MAX_SECONDS: u64 = 60;

/// Clears the running flag however the profile ends.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::SeqCst);
    }
}

fn sample(seconds: u64) -> Result<Vec<u8>, String> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(99)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| e.to_string())?;
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    let report = guard.report().build().map_err(|e| e.to_string())?;
    if report.data.is_empty() {
        // Samples are taken on CPU time: an idle process gives none.
        return Ok(format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40"><text x="10" y="25">no CPU samples in {seconds} s: the process was idle</text></svg>"#
        )
        .into_bytes());
    }
    let mut svg = Vec::new();
    report.flamegraph(&mut svg).map_err(|e| e.to_string())?;
    Ok(svg)
}

pub async fn cpu_profile(
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let seconds = match query.get("seconds") {
        None => 10,
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (1..=MAX_SECONDS).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid_field(
                    "seconds",
                    format!("must be 1 to {MAX_SECONDS}"),
                ));
            }
        },
    };
    if RUNNING.swap(true, Ordering::SeqCst) {
        return Err(ApiError::new(
            crate::problem::Code::ProfileInProgress,
            "a profile is being taken; try again when it ends",
        ));
    }
    let running = Running;
    let svg = tokio::task::spawn_blocking(move || {
        let _running = running;
        sample(seconds)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map_err(|cause| {
        tracing::error!(%cause, "CPU profile failed");
        ApiError::new(
            crate::problem::Code::Internal,
            "the profile could not be taken",
        )
    })?;
    let mut response = svg.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    Ok(response)
}
