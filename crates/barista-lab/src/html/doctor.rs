//! The report of a `barista doctor`: the verdict, its evidence, the answer on
//! replicas, where the time went, and the curves behind them.

use super::{Mark, Series, escape, line_chart, page, slo_mark};
use crate::doctor::Diagnosis;
use crate::duration::fmt_ms;
use std::fmt::Write;

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
    let _ = write!(
        body,
        "</ul><h2>Will more replicas help?</h2><p>{}</p>",
        escape(&d.more_replicas_said)
    );
    if d.levels.iter().any(|l| !l.routes.is_empty()) {
        body.push_str("<h2>Where the time went</h2><table><tr><th>connections</th><th>route (the most time)</th><th>mean</th><th>database</th><th>round trips</th><th>pool wait</th><th>admission wait</th><th>process</th><th>ping</th></tr>");
        for l in &d.levels {
            if let Some(r) = l.main_route() {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    l.connections,
                    escape(&r.route),
                    fmt_ms(r.mean_ms),
                    fmt_ms(r.database_ms),
                    r.round_trips,
                    fmt_ms(r.pool_wait_ms),
                    fmt_ms(r.admission_wait_ms),
                    fmt_ms(r.process_ms),
                    l.db_ping_ms.map_or("".into(), fmt_ms)
                );
            }
        }
        body.push_str("</table>");
    }
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
