//! The server's side of a diagnosis: CPU and memory from its `/metrics`
//! (Prometheus text) or from `/proc/<pid>`, and, when the target is a Barista,
//! per-route latency and database pool wait. A fleet is read replica by
//! replica (each `--metrics` or `--pid`, or the targets a Prometheus knows),
//! summed for the verdict and kept apart to find a replica that differs.

use crate::error::{SetupError, TelemetryError};
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
    /// Seconds runnable but waiting for a CPU (`--pid`, or a Barista's metrics).
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
    /// Per route template that goes to the database: where its time went.
    pub phases: BTreeMap<String, Phases>,
    /// Per kind of database call: time on the connection and round trips.
    pub calls: BTreeMap<String, Calls>,
    /// A trivial statement's round trip: (sum of seconds, count).
    pub ping: Option<(f64, f64)>,
    /// Times the database's primary changed under the replicas (PostgreSQL).
    pub failovers: Option<f64>,
    /// Database connections the pool keeps at most (summed over replicas).
    pub pool_size: Option<f64>,
    /// When it was taken, in seconds of the Unix clock.
    pub wall_s: f64,
    /// Each replica's own reading, in the fleet's order (empty for one).
    pub replicas: Vec<Sample>,
}

/// Cumulative seconds per part of the requests of one route
/// (`barista_request_phase_seconds`), and their round trips.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    pub requests: f64,
    pub admission_wait: f64,
    pub pool_wait: f64,
    pub database: f64,
    pub process: f64,
    pub round_trips: f64,
}

impl Phases {
    fn add(&mut self, o: &Phases) {
        self.requests += o.requests;
        self.admission_wait += o.admission_wait;
        self.pool_wait += o.pool_wait;
        self.database += o.database;
        self.process += o.process;
        self.round_trips += o.round_trips;
    }

    /// What happened between `before` and `self`.
    pub fn since(&self, before: &Phases) -> Phases {
        Phases {
            requests: self.requests - before.requests,
            admission_wait: self.admission_wait - before.admission_wait,
            pool_wait: self.pool_wait - before.pool_wait,
            database: self.database - before.database,
            process: self.process - before.process,
            round_trips: self.round_trips - before.round_trips,
        }
    }
}

/// Cumulative figures of one kind of database call (`barista_db_statement_seconds`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Calls {
    pub count: f64,
    pub seconds: f64,
    pub round_trips: f64,
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
        let mut phases: BTreeMap<String, Phases> = BTreeMap::new();
        for (route, p) in each.iter().flat_map(|s| &s.phases) {
            phases.entry(route.clone()).or_default().add(p);
        }
        let mut calls: BTreeMap<String, Calls> = BTreeMap::new();
        for (kind, c) in each.iter().flat_map(|s| &s.calls) {
            let entry = calls.entry(kind.clone()).or_default();
            entry.count += c.count;
            entry.seconds += c.seconds;
            entry.round_trips += c.round_trips;
        }
        let pings: Vec<(f64, f64)> = each.iter().filter_map(|s| s.ping).collect();
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
            phases,
            calls,
            ping: (!pings.is_empty())
                .then(|| pings.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1))),
            pool_size: all(|s| s.pool_size),
            failovers: each.iter().filter_map(|s| s.failovers).reduce(|a, b| a + b),
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
    pub async fn sample(&self) -> Result<Sample, TelemetryError> {
        let mut each = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            let sample = source.sample().await;
            each.push(match (sample, self.sources.len()) {
                (Ok(s), _) => s,
                (Err(e), 1) => return Err(e),
                (Err(e), _) => {
                    return Err(TelemetryError::Replica {
                        name: source.name(),
                        source: Box::new(e),
                    });
                }
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
pub async fn discover(prometheus: &Url, selector: &str) -> Result<Vec<Source>, TelemetryError> {
    let wanted: Vec<(&str, &str)> = selector
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                .ok_or_else(|| TelemetryError::Selector(m.to_owned()))
        })
        .collect::<Result<_, _>>()?;
    let base = prometheus.path.trim_end_matches('/');
    let url = prometheus.with_path(&format!("{base}/api/v1/targets?state=active"));
    let body = get(&url, "Prometheus").await?;
    let answer: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| TelemetryError::NotJson(e.to_string()))?;
    let targets = answer["data"]["activeTargets"]
        .as_array()
        .ok_or(TelemetryError::NoTargets)?;
    let mut sources = vec![];
    for t in targets {
        let labels = &t["labels"];
        if wanted.iter().all(|(k, v)| labels[*k].as_str() == Some(*v))
            && let Some(scrape) = t["scrapeUrl"].as_str()
        {
            sources.push(Source::Metrics(
                Url::parse(scrape).map_err(|e| TelemetryError::Scrape(scrape.to_owned(), e))?,
            ));
        }
    }
    if sources.is_empty() {
        return Err(TelemetryError::NoMatch {
            authority: prometheus.authority.clone(),
            selector: selector.to_owned(),
        });
    }
    Ok(sources)
}

/// One GET; the body of a 200.
async fn get(url: &Url, what: &'static str) -> Result<Vec<u8>, TelemetryError> {
    let unreachable = |source: SetupError| TelemetryError::Unreachable {
        what,
        authority: url.authority.clone(),
        source,
    };
    let endpoint = url
        .endpoint(&crate::tls::Tls::default())
        .await
        .map_err(unreachable)?;
    let mut conn = Conn::open(&endpoint)
        .await
        .map_err(|e| unreachable(e.into()))?;
    let reply = conn
        .send(
            &request_bytes("GET", url, &[], b""),
            Keep {
                etag: false,
                body: true,
            },
        )
        .await
        .map_err(|f| TelemetryError::Read {
            what,
            failure: f.name(),
        })?;
    if reply.status != 200 {
        return Err(TelemetryError::Status {
            what,
            status: reply.status,
            path: url.path.clone(),
        });
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
pub fn parse_metrics(text: &str) -> Result<Sample, TelemetryError> {
    let mut sample = Sample::default();
    let (mut cpu, mut rss) = (None, None);
    let (mut wait, mut waits) = (None, None);
    let (mut busy, mut commits, mut writes) = (None, None, None);
    let mut ping = (None, None);
    for (name, labels, value) in text.lines().filter_map(parse_line) {
        match name {
            "process_cpu_seconds_total" => cpu = Some(value),
            "process_resident_memory_bytes" => rss = Some(value),
            "barista_cpu_allowance_cores" => sample.allowance = Some(value),
            "barista_cpu_wait_seconds_total" => sample.cpu_wait_seconds = Some(value),
            "barista_db_pool_wait_seconds_total" => wait = Some(value),
            "barista_db_pool_waits_total" => waits = Some(value),
            "barista_db_writer_busy_seconds_total" => busy = Some(value),
            "barista_db_commits_total" => commits = Some(value),
            "barista_db_committed_writes_total" => writes = Some(value),
            "barista_db_pool_max_connections" => sample.pool_size = Some(value),
            "barista_db_failovers_total" => sample.failovers = Some(value),
            "barista_db_ping_seconds_sum" => ping.0 = Some(value),
            "barista_db_ping_seconds_count" => ping.1 = Some(value),
            "barista_request_phase_seconds_sum" | "barista_request_phase_seconds_count" => {
                if let (Some(route), Some(phase)) =
                    (label(labels, "http_route"), label(labels, "phase"))
                {
                    let p = sample.phases.entry(route.to_owned()).or_default();
                    match (name.ends_with("_count"), phase) {
                        (true, "process") => p.requests = value,
                        (true, _) => {}
                        (false, "admission_wait") => p.admission_wait = value,
                        (false, "pool_wait") => p.pool_wait = value,
                        (false, "database") => p.database = value,
                        (false, _) => p.process = value,
                    }
                }
            }
            "barista_request_db_round_trips_total" => {
                if let Some(route) = label(labels, "http_route") {
                    sample
                        .phases
                        .entry(route.to_owned())
                        .or_default()
                        .round_trips = value;
                }
            }
            "barista_db_statement_seconds_sum"
            | "barista_db_statement_seconds_count"
            | "barista_db_round_trips_total" => {
                if let Some(kind) = label(labels, "statement") {
                    let c = sample.calls.entry(kind.to_owned()).or_default();
                    match name {
                        "barista_db_statement_seconds_sum" => c.seconds = value,
                        "barista_db_statement_seconds_count" => c.count = value,
                        _ => c.round_trips = value,
                    }
                }
            }
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
    sample.cpu_seconds = cpu.ok_or(TelemetryError::NoCpuTime)?;
    sample.rss_bytes = rss.unwrap_or(0.0);
    sample.pool_wait = wait.zip(waits);
    sample.writer = busy.map(|b| (b, commits.unwrap_or(0.0), writes.unwrap_or(0.0)));
    sample.ping = ping.0.zip(ping.1);
    Ok(sample)
}

impl Source {
    pub async fn sample(&self) -> Result<Sample, TelemetryError> {
        match self {
            Source::Pid(pid) => {
                let p = Process::Pid(*pid);
                let cpu_seconds = p.cpu_seconds().ok_or(TelemetryError::Process(*pid))?;
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
    fn where_the_time_went_is_read() {
        let text = "process_cpu_seconds_total 1\nbarista_db_pool_max_connections 4\n\
barista_request_phase_seconds_bucket{http_route=\"/v1/shops/{shop}/orders\",phase=\"database\",le=\"0.1\"} 9\n\
barista_request_phase_seconds_sum{http_route=\"/v1/shops/{shop}/orders\",phase=\"database\"} 0.5\n\
barista_request_phase_seconds_count{http_route=\"/v1/shops/{shop}/orders\",phase=\"database\"} 10\n\
barista_request_phase_seconds_sum{http_route=\"/v1/shops/{shop}/orders\",phase=\"pool_wait\"} 0.25\n\
barista_request_phase_seconds_sum{http_route=\"/v1/shops/{shop}/orders\",phase=\"admission_wait\"} 0.001\n\
barista_request_phase_seconds_sum{http_route=\"/v1/shops/{shop}/orders\",phase=\"process\"} 0.125\n\
barista_request_phase_seconds_count{http_route=\"/v1/shops/{shop}/orders\",phase=\"process\"} 10\n\
barista_request_db_round_trips_total{http_route=\"/v1/shops/{shop}/orders\"} 40\n\
barista_db_statement_seconds_sum{statement=\"place_order\"} 0.4\n\
barista_db_statement_seconds_count{statement=\"place_order\"} 10\n\
barista_db_round_trips_total{statement=\"place_order\"} 40\n\
barista_db_ping_seconds_sum 0.02\nbarista_db_ping_seconds_count 2\n";
        let s = parse_metrics(text).unwrap();
        let p = s.phases["/v1/shops/{shop}/orders"];
        assert_eq!(
            p,
            Phases {
                requests: 10.0,
                admission_wait: 0.001,
                pool_wait: 0.25,
                database: 0.5,
                process: 0.125,
                round_trips: 40.0
            }
        );
        assert_eq!(
            s.calls["place_order"],
            Calls {
                count: 10.0,
                seconds: 0.4,
                round_trips: 40.0
            }
        );
        assert_eq!(s.ping, Some((0.02, 2.0)));
        assert_eq!(s.pool_size, Some(4.0));
    }

    #[test]
    fn metrics_without_cpu_time_are_refused() {
        assert!(
            parse_metrics("up 1\n")
                .unwrap_err()
                .to_string()
                .contains("process_cpu_seconds_total")
        );
    }
}
