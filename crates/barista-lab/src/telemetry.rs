//! The server's side of a diagnosis: CPU and memory from its `/metrics`
//! (Prometheus text) or from `/proc/<pid>`, and, when the target is a Barista,
//! per-route latency and database pool wait. A fleet is read replica by
//! replica (each `--metrics` or `--pid`, or the targets a Prometheus knows),
//! summed for the verdict and kept apart to find a replica that differs.

use crate::http::{Conn, Keep, Url, request_bytes};
use barista_sys::Process;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub enum Source {
    Metrics(Url),
    Pid(u32),
}

impl Source {
    /// How the verdict names this replica.
    pub fn name(&self) -> String {
        match self {
            Source::Metrics(url) => url.authority.clone(),
            Source::Pid(pid) => format!("pid {pid}"),
        }
    }
}

/// The replicas of a service, one source each.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub sources: Vec<Source>,
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
    /// SQLite's single writer: (seconds busy, commits, writes committed).
    pub writer: Option<(f64, f64, f64)>,
    /// When it was taken, in seconds of the Unix clock.
    pub wall_s: f64,
    /// Each replica's own reading, in the fleet's order (empty for one).
    pub replicas: Vec<Sample>,
}

fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Sample {
    /// The fleet's reading: counters and allowances summed, routes merged.
    fn sum(each: Vec<Sample>) -> Sample {
        let all = |f: fn(&Sample) -> Option<f64>| -> Option<f64> { each.iter().map(f).sum() };
        let mut routes: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (route, (sum, count)) in each.iter().flat_map(|s| &s.routes) {
            let entry = routes.entry(route.clone()).or_default();
            entry.0 += sum;
            entry.1 += count;
        }
        let pools: Vec<(f64, f64)> = each.iter().filter_map(|s| s.pool_wait).collect();
        let writers: Vec<(f64, f64, f64)> = each.iter().filter_map(|s| s.writer).collect();
        Sample {
            cpu_seconds: each.iter().map(|s| s.cpu_seconds).sum(),
            cpu_wait_seconds: all(|s| s.cpu_wait_seconds),
            rss_bytes: each.iter().map(|s| s.rss_bytes).sum(),
            allowance: all(|s| s.allowance),
            routes,
            pool_wait: (!pools.is_empty())
                .then(|| pools.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1))),
            // Replicas over SQLite each have their own database and writer.
            writer: (!writers.is_empty()).then(|| {
                writers
                    .iter()
                    .fold((0.0, 0.0, 0.0), |a, w| (a.0 + w.0, a.1 + w.1, a.2 + w.2))
            }),
            wall_s: each.iter().map(|s| s.wall_s).fold(0.0, f64::max),
            replicas: each,
        }
    }

    /// Requests the server's metrics counted (every route, every status).
    pub fn requests(&self) -> f64 {
        self.routes.values().map(|r| r.1).sum()
    }
}

impl Fleet {
    /// Reads every replica; an error names the one that failed.
    pub async fn sample(&self) -> Result<Sample, String> {
        let mut each = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            let sample = source.sample().await;
            each.push(match (sample, self.sources.len()) {
                (Ok(s), _) => s,
                (Err(e), 1) => return Err(e),
                (Err(e), _) => return Err(format!("replica {}: {e}", source.name())),
            });
        }
        match each.len() {
            1 => Ok(each.pop().expect("one")),
            _ => Ok(Sample::sum(each)),
        }
    }

    /// The replicas' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.sources.iter().map(Source::name).collect()
    }
}

/// The metrics endpoints of the active targets a Prometheus scrapes whose
/// labels match every `key=value` of `selector` (e.g. `job=barista`): the
/// doctor reads each replica itself, at the moment of each level, rather
/// than Prometheus's copy from the last scrape.
pub async fn discover(prometheus: &Url, selector: &str) -> Result<Vec<Source>, String> {
    let wanted: Vec<(&str, &str)> = selector
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                .ok_or_else(|| format!("--selector: {m:?} is not key=value"))
        })
        .collect::<Result<_, _>>()?;
    let base = prometheus.path.trim_end_matches('/');
    let url = prometheus.with_path(&format!("{base}/api/v1/targets?state=active"));
    let body = get(&url, "Prometheus").await?;
    let answer: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("Prometheus's targets are not JSON ({e})"))?;
    let targets = answer["data"]["activeTargets"]
        .as_array()
        .ok_or("Prometheus's answer has no data.activeTargets")?;
    let mut sources = vec![];
    for t in targets {
        let labels = &t["labels"];
        if wanted.iter().all(|(k, v)| labels[*k].as_str() == Some(*v))
            && let Some(scrape) = t["scrapeUrl"].as_str()
        {
            sources.push(Source::Metrics(Url::parse(scrape).map_err(|e| {
                format!("Prometheus scrapes {scrape}, which the doctor cannot read: {e}")
            })?));
        }
    }
    if sources.is_empty() {
        return Err(format!(
            "Prometheus at {} has no active target with labels {selector:?}",
            prometheus.authority
        ));
    }
    Ok(sources)
}

/// One GET; the body of a 200.
async fn get(url: &Url, what: &str) -> Result<Vec<u8>, String> {
    let endpoint = url.endpoint(&crate::tls::Tls::default()).await?;
    let mut conn = Conn::open(&endpoint)
        .await
        .map_err(|e| format!("{what} at {}: {e}", url.authority))?;
    let reply = conn
        .send(
            &request_bytes("GET", url, &[], b""),
            Keep {
                etag: false,
                body: true,
            },
        )
        .await
        .map_err(|f| format!("reading from {what} failed ({})", f.name()))?;
    if reply.status != 200 {
        return Err(format!("{what} answered {} to {}", reply.status, url.path));
    }
    Ok(reply.body)
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
    let (mut busy, mut commits, mut writes) = (None, None, None);
    for (name, labels, value) in text.lines().filter_map(parse_line) {
        match name {
            "process_cpu_seconds_total" => cpu = Some(value),
            "process_resident_memory_bytes" => rss = Some(value),
            "barista_cpu_allowance_cores" => sample.allowance = Some(value),
            "barista_db_pool_wait_seconds_total" => wait = Some(value),
            "barista_db_pool_waits_total" => waits = Some(value),
            "barista_db_writer_busy_seconds_total" => busy = Some(value),
            "barista_db_commits_total" => commits = Some(value),
            "barista_db_committed_writes_total" => writes = Some(value),
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
    sample.writer = busy.map(|b| (b, commits.unwrap_or(0.0), writes.unwrap_or(0.0)));
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
                    wall_s: wall_now(),
                    ..Sample::default()
                })
            }
            Source::Metrics(url) => {
                let body = get(url, "the metrics").await?;
                let mut sample = parse_metrics(&String::from_utf8_lossy(&body))?;
                sample.wall_s = wall_now();
                Ok(sample)
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
barista_db_writer_busy_seconds_total 3.5\nbarista_db_commits_total 40\nbarista_db_committed_writes_total 200\n\
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
        assert_eq!(s.writer, Some((3.5, 40.0, 200.0)));
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
