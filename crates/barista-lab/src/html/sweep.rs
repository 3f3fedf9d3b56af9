//! The report of a `barista sweep`.

use super::{Mark, Series, escape, line_chart, page, slo_mark};
use crate::sweep::SweepReport;
use std::fmt::Write;

pub fn sweep_html(s: &SweepReport) -> String {
    let mut body = format!(
        "<h1>Sweep report</h1><p>{} — SLO <code>{}</code></p>",
        escape(&s.targets.join(", ")),
        escape(&s.slo)
    );
    let _ = write!(
        body,
        "<p>Capacity at SLO: <b>{}</b>. Knee: <b>{}</b>.</p>",
        s.capacity_rps
            .map_or("none (the first step failed)".into(), |c| format!(
                "{c:.0} req/s"
            )),
        s.knee_rps
            .map_or("not found".into(), |k| format!("{k:.0} req/s"))
    );
    let pts = |f: fn(&crate::sweep::Step) -> f64| {
        s.steps
            .iter()
            .map(|st| (st.offered_rps, f(st)))
            .collect::<Vec<_>>()
    };
    body.push_str(&line_chart(
        "Throughput against offered load",
        "offered requests/s",
        "responses/s",
        &[
            Series {
                name: "throughput",
                color: "#2563eb",
                points: pts(|st| st.throughput_rps),
            },
            Series {
                name: "offered",
                color: "#9ca3af",
                points: pts(|st| st.offered_rps),
            },
        ],
        None,
        &s.knee_rps
            .map(|k| Mark::X(k, format!("knee {k:.0}/s")))
            .into_iter()
            .chain(
                s.capacity_rps
                    .map(|c| Mark::X(c, format!("capacity {c:.0}/s"))),
            )
            .collect::<Vec<_>>(),
    ));
    body.push_str(&line_chart(
        "Latency against offered load",
        "offered requests/s",
        "ms",
        &[
            Series {
                name: "p50",
                color: "#16a34a",
                points: pts(|st| st.p50_ms),
            },
            Series {
                name: "p99",
                color: "#dc2626",
                points: pts(|st| st.p99_ms),
            },
        ],
        None,
        &slo_mark(&s.slo),
    ));
    body.push_str("<table><tr><th>offered/s</th><th>responses/s</th><th>p50 ms</th><th>p99 ms</th><th>errors</th><th>SLO</th></tr>");
    for st in &s.steps {
        let _ = write!(
            body,
            "<tr><td>{:.0}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            st.offered_rps,
            st.throughput_rps,
            st.p50_ms,
            st.p99_ms,
            st.errors,
            if st.passed { "pass" } else { "fail" },
            if st.passed { "pass" } else { "fail" }
        );
    }
    body.push_str("</table>");
    page("Barista sweep report", &body)
}
