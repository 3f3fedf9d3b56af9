//! The server's side of a diagnosis: CPU and memory from its `/metrics`
//! (Prometheus text) or from `/proc/<pid>`, and, when the target is a Barista,
//! per-route latency and database pool wait.

use crate::http::{Conn, Keep, Url, request_bytes};
use barista_sys::Process;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub enum Source {
    Metrics(Url),
    Pid(u32),
}

/// One reading; counters are cumulative, so steps use differences.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub cpu_seconds: f64,
    /// Seconds runnable but waiting for a CPU (with `--pid` only).
    pub cpu_wait_seconds: Option<f64>,
    pub rss_bytes: f64,
    /// Cores the server may use, when known.
    pub allowance: Option<f64>,
    /// Per route template: (sum of seconds, count) of request durations.
    pub routes: BTreeMap<String, (f64, f64)>,
    /// Database pool: (seconds waited, waits).
    pub pool_wait: Option<(f64, f64)>,
}

/// A `name{labels} value` line's parts.
fn parse_line(line: &str) -> Option<(&str, &str, f64)> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    match series.split_once('{') {
        Some((name, labels)) => Some((name, labels.trim_end_matches('}'), value)),
        None => Some((series, "", value)),
    }
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
    let end = start + labels[start..].find('"')?;
    Some(&labels[start..end])
}

/// Reads the figures the doctor needs from a Prometheus text exposition.
pub fn parse_metrics(text: &str) -> Result<Sample, String> {
    let mut sample = Sample::default();
    let (mut cpu, mut rss) = (None, None);
    let (mut wait, mut waits) = (None, None);
    for (name, labels, value) in text.lines().filter_map(parse_line) {
        match name {
            "process_cpu_seconds_total" => cpu = Some(value),
            "process_resident_memory_bytes" => rss = Some(value),
            "barista_cpu_allowance_cores" => sample.allowance = Some(value),
            "barista_db_pool_wait_seconds_total" => wait = Some(value),
            "barista_db_pool_waits_total" => waits = Some(value),
            "http_server_request_duration_seconds_sum"
            | "http_server_request_duration_seconds_count" => {
                if let Some(route) = label(labels, "http_route") {
                    let entry = sample.routes.entry(route.to_owned()).or_default();
                    if name.ends_with("_sum") {
                        entry.0 += value;
                    } else {
                        entry.1 += value;
                    }
                }
            }
            _ => {}
        }
    }
    sample.cpu_seconds = cpu.ok_or("the metrics have no process_cpu_seconds_total")?;
    sample.rss_bytes = rss.unwrap_or(0.0);
    sample.pool_wait = wait.zip(waits);
    Ok(sample)
}

impl Source {
    pub async fn sample(&self) -> Result<Sample, String> {
        match self {
            Source::Pid(pid) => {
                let p = Process::Pid(*pid);
                let cpu_seconds = p
                    .cpu_seconds()
                    .ok_or_else(|| format!("cannot read /proc/{pid}: is the process running?"))?;
                Ok(Sample {
                    cpu_seconds,
                    cpu_wait_seconds: p.run_queue_wait_seconds(),
                    rss_bytes: p.resident_bytes().unwrap_or(0.0),
                    allowance: Some(p.cpu_allowance()),
                    ..Sample::default()
                })
            }
            Source::Metrics(url) => {
                let addr = url.resolve().await?;
                let mut conn = Conn::connect(addr)
                    .await
                    .map_err(|_| format!("cannot connect to the metrics at {}", url.authority))?;
                let reply = conn
                    .send(
                        &request_bytes("GET", url, &[], b""),
                        Keep {
                            etag: false,
                            body: true,
                        },
                    )
                    .await
                    .map_err(|f| format!("reading the metrics failed ({})", f.name()))?;
                if reply.status != 200 {
                    return Err(format!("the metrics URL answered {}", reply.status));
                }
                parse_metrics(&String::from_utf8_lossy(&reply.body))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barista_metrics_are_read() {
        let text = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\nprocess_resident_memory_bytes 2.5e7\n\
barista_cpu_allowance_cores 1.5\nbarista_db_pool_wait_seconds_total 0.25\nbarista_db_pool_waits_total 100\n\
http_server_request_duration_seconds_sum{http_request_method=\"GET\",http_route=\"/v1/shops/{shop}/menu\",http_response_status_code=\"200\"} 0.5\n\
http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/v1/shops/{shop}/menu\",http_response_status_code=\"200\"} 1000\n\
http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/v1/shops/{shop}/menu\",http_response_status_code=\"304\"} 500\n";
        let s = parse_metrics(text).unwrap();
        assert_eq!(
            (s.cpu_seconds, s.rss_bytes, s.allowance),
            (12.5, 2.5e7, Some(1.5))
        );
        assert_eq!(s.routes["/v1/shops/{shop}/menu"], (0.5, 1500.0));
        assert_eq!(s.pool_wait, Some((0.25, 100.0)));
    }

    #[test]
    fn metrics_without_cpu_time_are_refused() {
        assert!(
            parse_metrics("up 1\n")
                .unwrap_err()
                .contains("process_cpu_seconds_total")
        );
    }
}
