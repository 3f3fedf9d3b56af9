//! The flags of `barista load`, `sweep` and `doctor`, first stage: each value
//! typed by its parser (a duration, a load profile, an SLO), then handed to the
//! lab (`barista_lab::commands`), which plans, runs and reports.

use barista_lab::commands::{DoctorOptions, LoadOptions, Scenario, SweepOptions, TargetOptions};
use barista_lab::duration::parse_duration;
use barista_lab::http::Url;
use barista_lab::profile::ProfileSpec;
use barista_lab::slo::Slo;
use barista_lab::telemetry::Source;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

pub const LOAD_HELP: &str = "\
LOAD PROFILES (for --rate, and --connections in the closed model):
  100                  constant for the whole --duration
  100..1000            a linear ramp over the whole --duration
  100,200,400          steps, sharing --duration equally
  10s:100,20s:100..500 explicit stage lengths; stages without one share what is left

MODELS:
  -R, --rate R         open model: requests are due on a schedule whatever the server does;
                       latency counts from the intended send time (coordinated omission
                       corrected, as wrk2), and the uncorrected figure is shown beside it.
  -c, --connections C  closed model (default, 50): each connection sends back to back.
  -n N                 either model: stop after N requests (and at --duration, if given).

EXAMPLES:
  barista load http://127.0.0.1:8080/v1/shops/demo/menu -R 2000 -d 30s
  barista load http://127.0.0.1:8080/v1/shops/demo/menu -n 10000 -c 10 --json - | jq .latency_ms.p99
  barista load http://127.0.0.1:8080/v1/shops/demo/orders -m POST -n 100 -c 4 \\
    -H 'Content-Type: application/json' --body-file order.json
  barista load http://127.0.0.1:8080 --scenario rush --shop demo --rate 100..2000 --slo 'p99<50ms,errors<1%'
  barista load http://127.0.0.1:8080 --scenario mix.toml --connections 10,50,100 --json out.json --html out.html";

/// A lab command's long help after its flags: `more`, then the exit statuses.
pub fn help(more: &str) -> String {
    let exit = barista_lab::commands::EXIT_STATUS_HELP;
    if more.is_empty() {
        exit.to_owned()
    } else {
        format!("{more}\n\n{exit}")
    }
}

/// A duration above zero.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err("must be more than zero".into()),
        d => Ok(d),
    }
}

/// A duration, zero included.
pub fn any_duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// A duration of at least a second (one load step).
fn step_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d < Duration::from_secs(1) => Err("must be at least 1s".into()),
        d => Ok(d),
    }
}

fn metrics_source(text: &str) -> Result<Source, barista_lab::error::UrlError> {
    Url::parse(text).map(Source::Metrics)
}

/// An HTTP method: letters, upper-cased (`get` is `GET`).
fn http_method(text: &str) -> Result<String, String> {
    let method = text.to_ascii_uppercase();
    if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(method)
    } else {
        Err(format!("{text:?} is not an HTTP method (GET, POST, ...)"))
    }
}

/// `NAME: VALUE` on one line, as curl takes it.
fn http_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not `NAME: VALUE`"))?;
    let name = name.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) || value.contains(['\r', '\n']) {
        return Err(format!("{text:?} is not `NAME: VALUE` on one line"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

#[derive(Args)]
pub struct TargetArgs {
    /// URL(s) to load in turn (http:// or https://); with --scenario, the base URL its paths are relative to.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,

    /// `rush` (the built-in coffee-shop mix against a Barista base URL; `rush-reads` and
    /// `rush-orders` send its menu reads alone, or its orders and order reads alone), `saas`
    /// (many shops, their customers and baristas: see the SaaS flags), or a TOML scenario file.
    #[arg(long, value_parser = Scenario::parse)]
    pub scenario: Option<Scenario>,

    /// The shop the `rush` scenario orders from.
    #[arg(long, default_value = "demo")]
    pub shop: String,

    /// The HTTP method of the requests to the TARGET URLs (a scenario names its own).
    #[arg(short = 'm', long, default_value = "GET", value_parser = http_method)]
    pub method: String,

    /// A request header, `NAME: VALUE`; repeat for more (e.g. -H 'Content-Type: application/json').
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = http_header)]
    pub headers: Vec<(String, String)>,

    /// The request body.
    #[arg(short = 'b', long, conflicts_with = "body_file")]
    pub body: Option<String>,

    /// The request body, read from FILE.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,

    /// Give up on a request after this long (counted as a `timeout` error).
    #[arg(long, default_value = "30s", value_parser = positive_duration)]
    pub timeout: Duration,

    /// Write the full result as JSON to FILE (schema: crates/barista-lab/schema/); `-` writes
    /// it to standard output, and the tables then go to standard error.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// No live progress line on stderr.
    #[arg(long)]
    pub no_progress: bool,

    /// For https:// targets: accept any certificate (a self-signed test server).
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// For https:// targets: trust only the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,

    /// Generator threads, each with its own connections [default: one per core].
    #[arg(short = 't', long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

impl From<TargetArgs> for TargetOptions {
    fn from(a: TargetArgs) -> Self {
        TargetOptions {
            targets: a.targets,
            scenario: a.scenario,
            shop: a.shop,
            request: barista_lab::commands::RequestOptions {
                method: a.method,
                headers: a.headers,
                body: a.body.map(String::into_bytes),
                body_file: a.body_file,
            },
            timeout: a.timeout,
            json: a.json,
            html: a.html,
            progress: !a.no_progress,
            threads: a.threads.map(usize::from),
            tls: barista_lab::tls::TlsOptions {
                insecure: a.insecure,
                ca_file: a.cacert,
            },
        }
    }
}

#[derive(Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Open model: requests per second (a load profile: 500, 100..1000, 100,200,400).
    #[arg(short = 'R', long, value_parser = ProfileSpec::parse)]
    pub rate: Option<ProfileSpec>,

    /// Closed model: connections (a load profile); open model: the connection pool size.
    #[arg(long, short = 'c', value_parser = ProfileSpec::parse)]
    pub connections: Option<ProfileSpec>,

    /// How long to run (e.g. 30s, 2m) [default: 10s, or until -n requests are sent].
    #[arg(long, short = 'd', value_parser = positive_duration)]
    pub duration: Option<Duration>,

    /// Stop after N requests (or at --duration, whichever comes first).
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,

    /// Closed model: pause between a response and the connection's next request [default: 0s];
    /// --scenario saas: a customer's mean pause between visits [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    pub think: Option<Duration>,

    /// Pass/fail clauses, e.g. 'p99<50ms,errors<1%'; exit status 3 when any fails.
    #[arg(long, value_parser = Slo::parse)]
    pub slo: Option<Slo>,

    /// --scenario saas: tenants, created through the admin API as SHOP_PREFIX-001, -002, ...
    #[arg(long, default_value_t = 100, help_heading = "SaaS scenario")]
    pub shops: usize,

    /// --scenario saas: virtual customers per shop.
    #[arg(long, default_value_t = 100, help_heading = "SaaS scenario")]
    pub customers: usize,

    /// --scenario saas: the server's admin token, to create the shops.
    #[arg(long, value_name = "TOKEN", help_heading = "SaaS scenario")]
    pub admin_token: Option<String>,

    /// --scenario saas: the shops' names start with this [default: saas-XXXX, new each run].
    #[arg(long, help_heading = "SaaS scenario")]
    pub shop_prefix: Option<String>,

    /// --scenario saas: the share of visits that order, on average over the shops.
    #[arg(long, default_value_t = 0.1, help_heading = "SaaS scenario")]
    pub order_share: f64,

    /// --scenario saas: shop i (from 1) orders in proportion to 1/i^SKEW (0: every shop alike).
    #[arg(long, default_value_t = 0.0, help_heading = "SaaS scenario")]
    pub skew: f64,

    /// --scenario saas: a barista's pause from claim to ready, and from ready to collected.
    #[arg(long, default_value = "100ms", value_parser = parse_duration, help_heading = "SaaS scenario")]
    pub barista_pace: Duration,
}

impl From<LoadArgs> for LoadOptions {
    fn from(a: LoadArgs) -> Self {
        LoadOptions {
            target: a.target.into(),
            rate: a.rate,
            connections: a.connections,
            duration: a.duration,
            requests: a.requests,
            think: a.think,
            slo: a.slo,
            saas: barista_lab::commands::SaasOptions {
                shops: a.shops,
                customers: a.customers,
                shop_prefix: a.shop_prefix,
                admin_token: a.admin_token,
                order_share: a.order_share,
                skew: a.skew,
                barista_pace: a.barista_pace,
            },
        }
    }
}

#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// The SLO each step must meet.
    #[arg(long, default_value = "p99<100ms,errors<1%", value_parser = Slo::parse)]
    pub slo: Slo,

    /// The first step's rate (requests/s).
    #[arg(long, default_value_t = 50.0)]
    pub start: f64,

    /// Stop after the step at or below this rate.
    #[arg(long, default_value_t = 50_000.0)]
    pub max: f64,

    /// Each step's rate is the last one's times this.
    #[arg(long, default_value_t = 1.5)]
    pub factor: f64,

    /// How long each step runs.
    #[arg(long, default_value = "5s", value_parser = step_duration)]
    pub step: Duration,

    /// Connection pool for every step.
    #[arg(long, short = 'c', default_value_t = 50)]
    pub connections: usize,
}

impl From<SweepArgs> for SweepOptions {
    fn from(a: SweepArgs) -> Self {
        SweepOptions {
            target: a.target.into(),
            slo: a.slo,
            start: a.start,
            max: a.max,
            factor: a.factor,
            step: a.step,
            connections: a.connections,
        }
    }
}

#[derive(Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// The server's Prometheus metrics URL (a Barista's is http://127.0.0.1:9464/metrics), for its
    /// CPU and memory; once per replica (the verdict weighs them all and names one that differs).
    #[arg(long, value_name = "URL", conflicts_with_all = ["pid", "prometheus"], value_parser = metrics_source)]
    pub metrics: Vec<Source>,

    /// Or the server's process id on this machine, read from /proc; once per replica.
    #[arg(long, conflicts_with = "prometheus")]
    pub pid: Vec<u32>,

    /// Or a Prometheus (http://HOST:9090) that scrapes the replicas: the doctor reads each of its
    /// active targets that --selector picks, directly and at each level.
    #[arg(long, value_name = "URL", value_parser = Url::parse)]
    pub prometheus: Option<Url>,

    /// The labels that pick the replicas among Prometheus's targets, `key=value,...`.
    #[arg(
        long,
        value_name = "LABELS",
        default_value = "job=barista",
        requires = "prometheus"
    )]
    pub selector: String,

    /// What "fast enough" means; the latency clause also decides "slow at low load".
    #[arg(long, default_value = "p99<100ms,errors<1%", value_parser = Slo::parse)]
    pub slo: Slo,

    /// Time for the whole diagnosis (at least 6s: six load levels of 1s).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub budget: Duration,

    /// Requests per second you need: the doctor estimates the replicas and cores for it.
    #[arg(long)]
    pub target_rate: Option<f64>,

    /// The most connections the sweep goes up to.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,

    /// PostgreSQL the service uses (postgres://USER@HOST/DB, read only; `sslmode=disable`
    /// or `prefer`): what its sessions wait on at each level (a lock and its table), the
    /// statement that took its time (pg_stat_statements) and that statement's plan (the
    /// index it lacks). Needs the roles pg_read_all_stats and pg_read_all_data (below).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

impl From<DoctorArgs> for DoctorOptions {
    fn from(a: DoctorArgs) -> Self {
        DoctorOptions {
            target: a.target.into(),
            telemetry: a
                .metrics
                .into_iter()
                .chain(a.pid.into_iter().map(Source::Pid))
                .collect(),
            prometheus: a.prometheus.map(|url| (url, a.selector)),
            slo: a.slo,
            budget: a.budget,
            target_rate: a.target_rate,
            max_connections: a.max_connections,
            database: a.database,
        }
    }
}
