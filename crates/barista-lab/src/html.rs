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

/// A reference line across a chart, with its label.
pub enum Mark {
    /// A level of the y axis: the SLO's latency, the CPU allowance.
    Y(f64, String),
    /// A point of the x axis: the knee, the USL peak.
    X(f64, String),
}

/// Round ticks covering `[lo, hi]`: 1, 2 or 5 × 10^n apart, about `want` of
/// them, the first at or below `lo` and the last at or above `hi`.
fn ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let raw = (hi - lo) / want.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step + 1e-9).floor() as i64;
    let last = (hi / step - 1e-9).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick's text: the decimals its step needs, thousands grouped.
fn label(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let text = format!("{:.*}", decimals, v.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 && whole.len() > 4 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        "-"
    } else {
        ""
    };
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A line chart on round axes, with reference lines. `x_ticks` replaces the
/// numeric x axis (e.g. percentiles on a nines scale).
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    x_ticks: Option<&[(f64, String)]>,
    marks: &[Mark],
) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 300.0, 70.0, 20.0, 30.0, 50.0);
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let data_x_min = xs.clone().fold(f64::INFINITY, f64::min).min(0.0);
    let data_x_max = xs.fold(0.0, f64::max);
    let data_y_max = ys.fold(0.0, f64::max);
    // A reference line far above the data would flatten it: it is drawn when
    // it is within three times the data's height, else named in a note.
    let y_marks_max = marks
        .iter()
        .filter_map(|m| match m {
            Mark::Y(y, _) if *y <= 3.0 * data_y_max.max(1e-9) => Some(*y),
            _ => None,
        })
        .fold(data_y_max, f64::max);
    let y_ticks = ticks(0.0, y_marks_max, 5);
    let y_step = y_ticks.get(1).copied().unwrap_or(1.0) - y_ticks[0];
    let y_max = *y_ticks.last().expect("ticks");
    let own_x_ticks;
    let (x_min, x_max, x_text): (f64, f64, Vec<(f64, String)>) = match x_ticks {
        Some(given) => (
            data_x_min,
            data_x_max.max(data_x_min + 1e-9),
            given.to_vec(),
        ),
        None => {
            own_x_ticks = ticks(data_x_min, data_x_max, 6);
            let step = own_x_ticks.get(1).copied().unwrap_or(1.0) - own_x_ticks[0];
            let text = own_x_ticks.iter().map(|x| (*x, label(*x, step))).collect();
            (own_x_ticks[0], *own_x_ticks.last().expect("ticks"), text)
        }
    };
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
    for y in &y_ticks {
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            w - right,
            py(*y),
            py(*y),
            left - 6.0,
            py(*y) + 4.0,
            label(*y, y_step)
        );
    }
    for (x, text) in &x_text {
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
    // Labels of lines across the x axis go one under another, below the legend.
    let mut x_label_row = 0.0;
    for mark in marks {
        match mark {
            Mark::Y(y, text) if *y <= y_max => {
                let _ = write!(
                    svg,
                    r##"<line class="mark" x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#b42318" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" text-anchor="end" class="mark">{}</text>"##,
                    w - right,
                    py(*y),
                    py(*y),
                    w - right - 4.0,
                    py(*y) - 4.0,
                    escape(text)
                );
            }
            Mark::Y(_, text) => {
                let _ = write!(
                    svg,
                    r#"<text x="{}" y="{}" text-anchor="end" class="mark">{} (above this chart)</text>"#,
                    w - right - 4.0,
                    top + 12.0,
                    escape(text)
                );
            }
            Mark::X(x, text) if (x_min..=x_max).contains(x) => {
                let _ = write!(
                    svg,
                    r##"<line class="mark" x1="{:.1}" x2="{:.1}" y1="{top}" y2="{}" stroke="#b42318" stroke-dasharray="6 4"/><text x="{:.1}" y="{}" class="mark">{}</text>"##,
                    px(*x),
                    px(*x),
                    h - bottom,
                    px(*x) + 4.0,
                    top + 24.0 + 14.0 * x_label_row,
                    escape(text)
                );
                x_label_row += 1.0;
            }
            Mark::X(..) => {}
        }
    }
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
    // The USL's knee (where contention bends the line: N = 1/σ, the linear
    // rise meeting the ceiling λ/σ) and its peak (N* = √((1−σ)/κ)).
    let mut marks = vec![];
    if let Some(u) = &d.usl {
        if u.sigma > 0.0 {
            marks.push(Mark::X(
                1.0 / u.sigma,
                format!("knee N = 1/σ ≈ {:.0}", 1.0 / u.sigma),
            ));
        }
        if let Some(n) = u.peak_concurrency {
            marks.push(Mark::X(n, format!("USL peak N ≈ {n:.0}")));
        }
    }
    body.push_str(&line_chart(
        "Throughput against concurrency (Little's law)",
        "requests in flight",
        "responses/s",
        &series,
        None,
        &marks,
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
        &slo_mark(&d.slo),
    ));
    body.push_str(&line_chart(
        "CPU against connections (% of each one's allowance)",
        "connections",
        "% of CPU allowance",
        &[
            Series {
                name: "server",
                color: "#7c3aed",
                points: by_conn(|l| 100.0 * l.server_cpu_share.unwrap_or(0.0)),
            },
            Series {
                name: "generator",
                color: "#9ca3af",
                points: by_conn(|l| 100.0 * l.generator_cpu_share),
            },
        ],
        None,
        &[Mark::Y(100.0, "allowance".into())],
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
            &[Mark::Y(2.0, "SLO <2".into())],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("SLO &lt;2") && svg.contains("stroke-dasharray"));
        assert!(svg.contains("a &lt;b&gt;") && svg.contains("s&amp;t"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn ticks_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(ticks(0.0, 3.9, 5), [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ticks(0.0, 7.3, 5), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(0.0, 180.0, 5), [0.0, 50.0, 100.0, 150.0, 200.0]);
        let empty = ticks(0.0, 0.0, 5);
        assert_eq!(
            (empty.len(), empty[1], empty[5]),
            (6, 0.2, 1.0),
            "an empty chart"
        );
        assert_eq!(ticks(1.0, 64.0, 6).first(), Some(&0.0));
        assert_eq!(ticks(1.0, 64.0, 6).last(), Some(&80.0));
        for (lo, hi) in [
            (0.0, 1.2),
            (0.0, 2.4),
            (0.0, 3.9),
            (3.0, 21_895.0),
            (0.0, 0.013),
        ] {
            let t = ticks(lo, hi, 5);
            let step = t[1] - t[0];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6),
                "{lo}..{hi}: step {step}"
            );
            assert!(
                t[0] <= lo && *t.last().unwrap() >= hi && t.len() <= 11,
                "{t:?}"
            );
        }
    }

    #[test]
    fn tick_labels_carry_the_decimals_their_step_needs() {
        assert_eq!(label(2.0, 1.0), "2");
        assert_eq!(label(0.5, 0.5), "0.5");
        assert_eq!(label(1.0, 0.5), "1.0");
        assert_eq!(label(20_000.0, 5_000.0), "20,000");
        assert_eq!(label(1_500.0, 500.0), "1500");
        assert_eq!(label(0.004, 0.002), "0.004");
    }
}
