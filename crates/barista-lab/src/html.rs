//! Self-contained HTML reports: inline SVG charts, no scripts, no network.

use crate::doctor::Diagnosis;
use crate::report::LoadReport;
use crate::sweep::SweepReport;
use std::fmt::Write;

pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" upper bound for an axis.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart. `x_ticks` replaces numeric x labels (e.g. percentiles on a nines scale).
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    x_ticks: Option<&[(f64, String)]>,
) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 300.0, 70.0, 20.0, 30.0, 50.0);
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let x_min = xs.clone().fold(f64::INFINITY, f64::min).min(0.0);
    let x_max = xs.fold(0.0, f64::max).max(x_min + 1e-9);
    let y_max = nice_max(ys.fold(0.0, f64::max));
    let px = |x: f64| left + (x - x_min) / (x_max - x_min) * (w - left - right);
    let py = |y: f64| top + (1.0 - y / y_max) * (h - top - bottom);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        escape(title)
    );
    let _ = write!(
        svg,
        r#"<text x="{left}" y="18" class="title">{}</text>"#,
        escape(title)
    );
    for i in 0..=4 {
        let y = y_max * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            w - right,
            py(y),
            py(y),
            left - 6.0,
            py(y) + 4.0,
            label(y)
        );
    }
    let default_ticks: Vec<(f64, String)> = (0..=5)
        .map(|i| {
            let x = x_min + (x_max - x_min) * f64::from(i) / 5.0;
            (x, label(x))
        })
        .collect();
    for (x, text) in x_ticks.unwrap_or(&default_ticks) {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            px(*x),
            h - bottom + 16.0,
            escape(text)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" class="axis">{}</text>"#,
        (left + w - right) / 2.0,
        h - 8.0,
        escape(x_label)
    );
    let _ = write!(
        svg,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle" class="axis">{}</text>"#,
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0,
        escape(y_label)
    );
    for (i, s) in series.iter().enumerate() {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        if !path.is_empty() {
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                s.color,
                path.join(" ")
            );
            // Markers only for measured series; a fitted curve of many points is a line.
            for p in path.iter().filter(|_| path.len() <= 30) {
                let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(
                    svg,
                    r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{}"/>"#,
                    s.color
                );
            }
        }
        let lx = left + 10.0 + 130.0 * i as f64;
        let _ = write!(
            svg,
            r#"<rect x="{lx}" y="{}" width="12" height="3" fill="{}"/><text x="{}" y="{}" class="tick">{}</text>"#,
            top - 4.0,
            s.color,
            lx + 16.0,
            top,
            escape(s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:820px}\
table{border-collapse:collapse;margin:1rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}\
th:first-child,td:first-child{text-align:left}.title{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#555}\
.axis{font-size:12px;fill:#333}.pass{color:#17803d}.fail{color:#b42318}svg{margin:1rem 0;display:block}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    )
}

/// Where a percentile sits on a "nines" axis: 90 -> 1, 99 -> 2, 99.9 -> 3.
fn nines(p: f64) -> f64 {
    -(1.0 - (p / 100.0).min(0.99999)).log10()
}

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
    ));
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

pub fn doctor_html(d: &Diagnosis) -> String {
    let mut body = format!(
        "<h1>Diagnosis: {}</h1><p>{} — SLO <code>{}</code></p>",
        escape(d.verdict),
        escape(&d.targets.join(", ")),
        escape(&d.slo)
    );
    body.push_str("<h2>Evidence</h2><ul>");
    for e in &d.evidence {
        let _ = write!(body, "<li>{}</li>", escape(e));
    }
    body.push_str("</ul><h2>Next steps</h2><ul>");
    for s in &d.next_steps {
        let _ = write!(body, "<li>{}</li>", escape(s));
    }
    body.push_str("</ul>");
    let measured: Vec<(f64, f64)> = d
        .levels
        .iter()
        .map(|l| (l.concurrency, l.throughput_rps))
        .collect();
    let mut series = vec![Series {
        name: "measured",
        color: "#2563eb",
        points: measured,
    }];
    if let Some(u) = &d.usl {
        let max_n = d.levels.iter().map(|l| l.concurrency).fold(1.0, f64::max) * 1.2;
        let fitted = (0..=60).map(|i| {
            let n = 0.5 + max_n * f64::from(i) / 60.0;
            (n, u.throughput(n))
        });
        series.push(Series {
            name: "USL fit",
            color: "#dc2626",
            points: fitted.collect(),
        });
        let _ = write!(
            body,
            "<p>USL fit: σ = {:.4} (contention), κ = {:.6} (coherency), λ = {:.1}/s, R² = {:.3}.</p>",
            u.sigma, u.kappa, u.lambda, u.r_squared
        );
    } else if let Some(note) = &d.usl_note {
        let _ = write!(body, "<p>No scalability fit: {}</p>", escape(note));
    }
    body.push_str(&line_chart(
        "Throughput against concurrency (Little's law)",
        "requests in flight",
        "responses/s",
        &series,
        None,
    ));
    let by_conn = |f: fn(&crate::doctor::Level) -> f64| {
        d.levels
            .iter()
            .map(|l| (l.connections as f64, f(l)))
            .collect::<Vec<_>>()
    };
    body.push_str(&line_chart(
        "Latency against connections",
        "connections",
        "ms",
        &[
            Series {
                name: "p50",
                color: "#16a34a",
                points: by_conn(|l| l.p50_ms),
            },
            Series {
                name: "p99",
                color: "#dc2626",
                points: by_conn(|l| l.p99_ms),
            },
        ],
        None,
    ));
    body.push_str(&line_chart(
        "CPU against connections (share of allowance)",
        "connections",
        "share",
        &[
            Series {
                name: "server",
                color: "#7c3aed",
                points: by_conn(|l| l.server_cpu_share.unwrap_or(0.0)),
            },
            Series {
                name: "generator",
                color: "#9ca3af",
                points: by_conn(|l| l.generator_cpu_share),
            },
        ],
        None,
    ));
    body.push_str("<table><tr><th>connections</th><th>in flight</th><th>responses/s</th><th>p50 ms</th><th>p99 ms</th><th>server CPU</th><th>SLO</th></tr>");
    for l in &d.levels {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            l.connections,
            l.concurrency,
            l.throughput_rps,
            l.p50_ms,
            l.p99_ms,
            l.server_cpu_share
                .map_or("?".into(), |s| format!("{:.0}%", 100.0 * s)),
            if l.slo_passed { "pass" } else { "fail" },
            if l.slo_passed { "pass" } else { "fail" }
        );
    }
    body.push_str("</table>");
    page("Barista diagnosis", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_inline_svg_with_escaped_text() {
        let svg = line_chart(
            "a <b>",
            "x",
            "y",
            &[Series {
                name: "s&t",
                color: "#000",
                points: vec![(0.0, 1.0), (1.0, 3.0)],
            }],
            None,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &lt;b&gt;") && svg.contains("s&amp;t"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(180.0), 200.0);
        assert_eq!(nice_max(0.0), 1.0);
    }
}
