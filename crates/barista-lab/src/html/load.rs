//! The report of one `barista load` run (and of the saas scenario).

use super::{Series, escape, line_chart, nines, page, slo_mark};
use crate::report::LoadReport;
use std::fmt::Write;

pub fn load_html(r: &LoadReport) -> String {
    let mut body = format!(
        "<h1>Load report</h1><p>{} — {} model, {}</p>",
        escape(&r.targets.join(", ")),
        escape(&r.model),
        escape(&r.offered)
    );
    let _ = write!(
        body,
        "<p>{} requests in {:.1}s: {:.1} responses/s, {} errors.</p>",
        r.requests,
        r.duration_s,
        r.throughput_rps,
        r.error_count()
    );
    if let Some(slo) = &r.slo {
        let class = if slo.passed { "pass" } else { "fail" };
        let _ = write!(
            body,
            "<p class=\"{class}\">SLO <code>{}</code>: {}</p><ul>",
            escape(&slo.expr),
            if slo.passed { "passed" } else { "failed" }
        );
        for c in &slo.clauses {
            let _ = write!(
                body,
                "<li class=\"{}\">{} — actual {}</li>",
                if c.passed { "pass" } else { "fail" },
                escape(&c.clause),
                escape(&c.actual)
            );
        }
        body.push_str("</ul>");
    }
    body.push_str("<table><tr><th>latency (ms)</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>");
    let mut row = |name: &str, l: &crate::report::Latency| {
        let _ = write!(
            body,
            "<tr><td>{name}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            l.p50, l.p90, l.p99, l.p999, l.max
        );
    };
    row("corrected", &r.latency_ms);
    if let Some(u) = &r.uncorrected_latency_ms {
        row("uncorrected", u);
    }
    body.push_str("</table>");
    let t = |f: fn(&crate::engine::SecondRow) -> f64| {
        r.series.iter().map(|s| (s.t, f(s))).collect::<Vec<_>>()
    };
    let mut rate = vec![Series {
        name: "responses/s",
        color: "#2563eb",
        points: t(|s| s.throughput_rps),
    }];
    if r.model == "open" {
        rate.push(Series {
            name: "offered/s",
            color: "#9ca3af",
            points: t(|s| s.offered),
        });
    }
    body.push_str(&line_chart(
        "Throughput over time",
        "seconds",
        "requests/s",
        &rate,
        None,
        &[],
    ));
    let slo = r.slo.as_ref().map_or(vec![], |s| slo_mark(&s.expr));
    body.push_str(&line_chart(
        "Latency over time",
        "seconds",
        "ms",
        &[
            Series {
                name: "p50",
                color: "#16a34a",
                points: t(|s| s.p50_ms),
            },
            Series {
                name: "p90",
                color: "#ca8a04",
                points: t(|s| s.p90_ms),
            },
            Series {
                name: "p99",
                color: "#dc2626",
                points: t(|s| s.p99_ms),
            },
            Series {
                name: "max",
                color: "#7c3aed",
                points: t(|s| s.max_ms),
            },
        ],
        None,
        &slo,
    ));
    let spectrum: Vec<_> = r.spectrum.iter().filter(|p| p.percentile < 100.0).collect();
    let mut lines = vec![Series {
        name: "corrected",
        color: "#dc2626",
        points: spectrum
            .iter()
            .map(|p| (nines(p.percentile), p.latency_ms))
            .collect(),
    }];
    if r.uncorrected_latency_ms.is_some() {
        lines.push(Series {
            name: "uncorrected",
            color: "#2563eb",
            points: spectrum
                .iter()
                .map(|p| (nines(p.percentile), p.uncorrected_ms.unwrap_or(0.0)))
                .collect(),
        });
    }
    let ticks: Vec<(f64, String)> = [0.0, 90.0, 99.0, 99.9, 99.99, 99.999]
        .iter()
        .map(|p| (nines(*p), format!("{p}%")))
        .collect();
    body.push_str(&line_chart(
        "Latency by percentile",
        "percentile",
        "ms",
        &lines,
        Some(&ticks),
        &slo,
    ));
    if r.by_name.len() > 1 {
        body.push_str("<table><tr><th>request</th><th>requests</th><th>errors</th><th>p50 ms</th><th>p99 ms</th></tr>");
        for (name, n) in &r.by_name {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td></tr>",
                escape(name),
                n.requests,
                n.errors,
                n.latency_ms.p50,
                n.latency_ms.p99
            );
        }
        body.push_str("</table>");
    }
    page("Barista load report", &body)
}

pub fn saas_html(r: &crate::saas::SaasReport) -> String {
    page(
        "Barista SaaS report",
        &format!("<h1>SaaS report</h1><pre>{}</pre>", escape(&r.table())),
    )
}
