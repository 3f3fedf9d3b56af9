//! Line charts as inline SVG: round axes, series, reference lines. No
//! scripts, no network: a report opens anywhere.

use super::escape;
use std::fmt::Write;

pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
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
