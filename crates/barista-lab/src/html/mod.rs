//! Self-contained HTML reports: inline SVG charts ([`chart`]), no scripts,
//! no network; one file per report ([`load`], [`sweep`], [`doctor`]).

pub mod chart;
mod doctor;
mod load;
mod sweep;

pub use chart::{Mark, Series, line_chart};
pub use doctor::doctor_html;
pub use load::{load_html, saas_html};
pub use sweep::sweep_html;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:820px}\
table{border-collapse:collapse;margin:1rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}\
th:first-child,td:first-child{text-align:left}.title{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#555}\
.axis{font-size:12px;fill:#333}.mark{font-size:11px;fill:#b42318}.pass{color:#17803d}.fail{color:#b42318}svg{margin:1rem 0;display:block}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    )
}

/// The SLO's latency clause as a line on a latency chart (none without one).
fn slo_mark(expr: &str) -> Vec<Mark> {
    let Ok(slo) = crate::slo::Slo::parse(expr) else {
        return vec![];
    };
    slo.clauses
        .iter()
        .find(|c| matches!(c.metric, crate::slo::Metric::Latency(_)))
        .map(|c| Mark::Y(c.limit, format!("SLO {}", c.text)))
        .into_iter()
        .collect()
}

/// Where a percentile sits on a "nines" axis: 90 -> 1, 99 -> 2, 99.9 -> 3.
fn nines(p: f64) -> f64 {
    -(1.0 - (p / 100.0).min(0.99999)).log10()
}
