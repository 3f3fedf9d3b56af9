//! `barista load` and `barista sweep`: flags in, a validated plan, a run, and
//! the table, JSON and HTML out. Exit status 3 when the SLO fails, 2 for bad
//! flags, 1 when the target cannot be reached.

use anyhow::{Context, bail};
use barista_lab::doctor::{DoctorPlan, diagnose};
use barista_lab::duration::parse_duration;
use barista_lab::engine::{Model, Plan, run};
use barista_lab::http::{Conn, Url};
use barista_lab::profile::Profile;
use barista_lab::report::LoadReport;
use barista_lab::rush::Rush;
use barista_lab::slo::Slo;
use barista_lab::sweep::{SweepPlan, sweep as run_sweep};
use barista_lab::telemetry::Source;
use barista_lab::workload::{Fixed, Workload};
use barista_lab::{html, scenario};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Exit status when an SLO fails, so CI jobs can gate on it.
pub const SLO_FAILED: u8 = 3;
const USAGE: u8 = 2;

pub const LOAD_HELP: &str = "\
LOAD PROFILES (for --rate, and --connections in the closed model):
  100                  constant for the whole --duration
  100..1000            a linear ramp over the whole --duration
  100,200,400          steps, sharing --duration equally
  10s:100,20s:100..500 explicit stage lengths; stages without one share what is left

MODELS:
  --rate R             open model: requests are due on a schedule whatever the server does;
                       latency counts from the intended send time (coordinated omission
                       corrected, as wrk2), and the uncorrected figure is shown beside it.
  --connections C      closed model (default, 50): each connection sends back to back.

EXAMPLES:
  barista load http://127.0.0.1:8080/v1/shops/demo/menu --rate 2000 --duration 30s
  barista load http://127.0.0.1:8080 --scenario rush --shop demo --rate 100..2000 --slo 'p99<50ms,errors<1%'
  barista load http://127.0.0.1:8080 --scenario mix.toml --connections 10,50,100 --json out.json --html out.html";

#[derive(Args)]
pub struct TargetArgs {
    /// URL(s) to load in turn; with --scenario, the base URL its paths are relative to.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,

    /// `rush` (the built-in coffee-shop mix against a Barista base URL) or a TOML scenario file.
    #[arg(long, env = "BARISTA_SCENARIO")]
    pub scenario: Option<String>,

    /// The shop the `rush` scenario orders from.
    #[arg(long, env = "BARISTA_SHOP", default_value = "demo")]
    pub shop: String,

    /// Give up on a request after this long (counted as a `timeout` error).
    #[arg(long, env = "BARISTA_TIMEOUT", default_value = "30s")]
    pub timeout: String,

    /// Write the full result as JSON (schema: crates/barista-lab/schema/).
    #[arg(long, env = "BARISTA_JSON")]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report with charts.
    #[arg(long, env = "BARISTA_HTML")]
    pub html: Option<PathBuf>,

    /// No live progress line on stderr.
    #[arg(long, env = "BARISTA_NO_PROGRESS")]
    pub no_progress: bool,
}

#[derive(Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Open model: requests per second (a load profile: 500, 100..1000, 100,200,400).
    #[arg(long, env = "BARISTA_RATE")]
    pub rate: Option<String>,

    /// Closed model: connections (a load profile); open model: the connection pool size.
    #[arg(long, short = 'c', env = "BARISTA_CONNECTIONS")]
    pub connections: Option<String>,

    /// How long to run (e.g. 30s, 2m).
    #[arg(long, short = 'd', env = "BARISTA_DURATION", default_value = "10s")]
    pub duration: String,

    /// Closed model: pause between a response and the connection's next request.
    #[arg(long, env = "BARISTA_THINK", default_value = "0s")]
    pub think: String,

    /// Pass/fail clauses, e.g. 'p99<50ms,errors<1%'; exit status 3 when any fails.
    #[arg(long, env = "BARISTA_SLO")]
    pub slo: Option<String>,
}

#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// The SLO each step must meet.
    #[arg(long, env = "BARISTA_SLO", default_value = "p99<100ms,errors<1%")]
    pub slo: String,

    /// The first step's rate (requests/s).
    #[arg(long, env = "BARISTA_START", default_value_t = 50.0)]
    pub start: f64,

    /// Stop after the step at or below this rate.
    #[arg(long, env = "BARISTA_MAX", default_value_t = 50_000.0)]
    pub max: f64,

    /// Each step's rate is the last one's times this.
    #[arg(long, env = "BARISTA_FACTOR", default_value_t = 1.5)]
    pub factor: f64,

    /// How long each step runs.
    #[arg(long, env = "BARISTA_STEP", default_value = "5s")]
    pub step: String,

    /// Connection pool for every step.
    #[arg(long, short = 'c', env = "BARISTA_CONNECTIONS", default_value_t = 50)]
    pub connections: usize,
}

impl TargetArgs {
    /// `--timeout`, validated; a usage error otherwise.
    fn timeout(&self) -> Result<Duration, ExitCode> {
        match parse_duration(&self.timeout) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(usage("--timeout must be a duration above zero, e.g. 30s")),
        }
    }
}

/// A usage error: printed, exit status 2.
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("barista: {message}");
    ExitCode::from(USAGE)
}

/// Builds the workload the flags name, and checks the target answers.
async fn workload(t: &TargetArgs) -> anyhow::Result<Result<Arc<dyn Workload>, String>> {
    let urls: Result<Vec<Url>, String> = t.targets.iter().map(|u| Url::parse(u)).collect();
    let urls = match urls {
        Ok(urls) => urls,
        Err(e) => return Ok(Err(e)),
    };
    let workload: Arc<dyn Workload> = match t.scenario.as_deref() {
        Some("rush") => {
            if urls.len() != 1 {
                return Ok(Err(
                    "--scenario rush takes exactly one TARGET: the Barista base URL".into(),
                ));
            }
            Arc::new(
                Rush::new(&urls[0], &t.shop)
                    .await
                    .map_err(anyhow::Error::msg)?,
            )
        }
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the scenario {file}"))?;
            let entries = match scenario::parse(&text, urls.first()) {
                Ok(e) => e,
                Err(e) => return Ok(Err(format!("scenario {file}: {e}"))),
            };
            Arc::new(
                Fixed::new(entries, true)
                    .await
                    .map_err(anyhow::Error::msg)?,
            )
        }
        None => Arc::new(Fixed::urls(&urls).await.map_err(anyhow::Error::msg)?),
    };
    for addr in workload.addrs() {
        if Conn::connect(*addr).await.is_err() {
            bail!("cannot connect to {addr}: is the target running?");
        }
    }
    Ok(Ok(workload))
}

fn write_outputs(
    t: &TargetArgs,
    json: &impl serde::Serialize,
    html: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if let Some(path) = &t.json {
        let text = serde_json::to_string_pretty(json)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &t.html {
        std::fs::write(path, html()).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

pub async fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    // Stage one: validate every flag before touching the network.
    let duration = match parse_duration(&args.duration) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => return Ok(usage("--duration must be more than zero")),
        Err(e) => return Ok(usage(format!("--duration: {e}"))),
    };
    let timeout = match args.target.timeout() {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let think = match parse_duration(&args.think) {
        Ok(d) => d,
        Err(e) => return Ok(usage(format!("--think: {e}"))),
    };
    let slo = match args.slo.as_deref().map(Slo::parse).transpose() {
        Ok(s) => s,
        Err(e) => return Ok(usage(format!("--slo: {e}"))),
    };
    let (model, offered) = match &args.rate {
        Some(rate) => {
            let profile = match Profile::parse(rate, duration) {
                Ok(p) => p,
                Err(e) => return Ok(usage(format!("--rate: {e}"))),
            };
            let connections = match args.connections.as_deref().map(str::parse::<usize>) {
                None => 50,
                Some(Ok(c)) if c > 0 => c,
                _ => {
                    return Ok(usage(
                        "with --rate, --connections is the pool size: a whole number above zero",
                    ));
                }
            };
            let offered = format!(
                "rate {rate} req/s over {connections} connections, {:.0}s",
                profile.duration().as_secs_f64()
            );
            (
                Model::Open {
                    rate: profile,
                    connections,
                },
                offered,
            )
        }
        None => {
            let text = args.connections.clone().unwrap_or_else(|| "50".into());
            let profile = match Profile::parse(&text, duration) {
                Ok(p) if p.peak() >= 1.0 => p,
                Ok(_) => return Ok(usage("--connections must reach at least 1")),
                Err(e) => return Ok(usage(format!("--connections: {e}"))),
            };
            let offered = format!(
                "{text} connections, think {:?}, {:.0}s",
                think,
                profile.duration().as_secs_f64()
            );
            (
                Model::Closed {
                    connections: profile,
                    think,
                },
                offered,
            )
        }
    };
    let workload = match workload(&args.target).await? {
        Ok(w) => w,
        Err(e) => return Ok(usage(e)),
    };

    // Stage two: run and report.
    let plan = Plan {
        model,
        timeout,
        progress: !args.target.no_progress,
    };
    let outcome = run(&plan, workload.clone()).await;
    let report = LoadReport::new(&outcome, offered, workload.describe(), slo.as_ref());
    print!("{}", report.table());
    write_outputs(&args.target, &report, || html::load_html(&report))?;
    if report.requests == 0 {
        bail!("no request was sent");
    }
    Ok(match &report.slo {
        Some(s) if !s.passed => ExitCode::from(SLO_FAILED),
        _ => ExitCode::SUCCESS,
    })
}

pub async fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let step = match parse_duration(&args.step) {
        Ok(d) if d >= Duration::from_secs(1) => d,
        _ => return Ok(usage("--step must be a duration of at least 1s")),
    };
    let timeout = match args.target.timeout() {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let slo = match Slo::parse(&args.slo) {
        Ok(s) => s,
        Err(e) => return Ok(usage(format!("--slo: {e}"))),
    };
    if !(args.start > 0.0 && args.max >= args.start && args.factor > 1.0 && args.connections > 0) {
        return Ok(usage(
            "need 0 < --start <= --max, --factor above 1, and --connections above 0",
        ));
    }
    let workload = match workload(&args.target).await? {
        Ok(w) => w,
        Err(e) => return Ok(usage(e)),
    };
    let plan = SweepPlan {
        start_rps: args.start,
        max_rps: args.max,
        factor: args.factor,
        step,
        connections: args.connections,
        timeout,
        slo,
        progress: !args.target.no_progress,
    };
    println!(
        "{:>10} {:>12} {:>9} {:>9} {:>8}  SLO {}",
        "offered/s", "responses/s", "p50", "p99", "errors", plan.slo.expr
    );
    let report = run_sweep(&plan, workload, |s| {
        println!(
            "{:>10.0} {:>12.1} {:>9} {:>9} {:>8}  {}",
            s.offered_rps,
            s.throughput_rps,
            barista_lab::duration::fmt_ms(s.p50_ms),
            barista_lab::duration::fmt_ms(s.p99_ms),
            s.errors,
            if s.passed { "pass" } else { "FAIL" }
        );
    })
    .await;
    println!("stopped: {}", report.stopped);
    match report.capacity_rps {
        Some(c) => println!("capacity at SLO: {c:.0} req/s"),
        None => println!("capacity at SLO: none (the first step already broke it; lower --start)"),
    }
    match report.knee_rps {
        Some(k) => println!("knee: {k:.0} req/s"),
        None => println!("knee: not found in the steps tried"),
    }
    write_outputs(&args.target, &report, || html::sweep_html(&report))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// The server's Prometheus metrics URL (a Barista's is http://127.0.0.1:9464/metrics), for its CPU and memory.
    #[arg(long, env = "BARISTA_METRICS", conflicts_with = "pid")]
    pub metrics: Option<String>,

    /// Or the server's process id on this machine, read from /proc.
    #[arg(long, env = "BARISTA_PID")]
    pub pid: Option<u32>,

    /// What "fast enough" means; the latency clause also decides "slow at low load".
    #[arg(long, env = "BARISTA_SLO", default_value = "p99<100ms,errors<1%")]
    pub slo: String,

    /// Time for the whole diagnosis.
    #[arg(long, env = "BARISTA_BUDGET", default_value = "60s")]
    pub budget: String,

    /// Requests per second you need: the doctor estimates the replicas and cores for it.
    #[arg(long, env = "BARISTA_TARGET_RATE")]
    pub target_rate: Option<f64>,

    /// The most connections the sweep goes up to.
    #[arg(long, env = "BARISTA_MAX_CONNECTIONS", default_value_t = 256)]
    pub max_connections: usize,
}

pub async fn doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let budget = match parse_duration(&args.budget) {
        Ok(d) if d >= Duration::from_secs(6) => d,
        _ => {
            return Ok(usage(
                "--budget must be a duration of at least 6s (six load levels of 1s)",
            ));
        }
    };
    let timeout = match args.target.timeout() {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let slo = match Slo::parse(&args.slo) {
        Ok(s) => s,
        Err(e) => return Ok(usage(format!("--slo: {e}"))),
    };
    let telemetry = match (&args.metrics, args.pid) {
        (Some(url), None) => match Url::parse(url) {
            Ok(u) => Source::Metrics(u),
            Err(e) => return Ok(usage(format!("--metrics: {e}"))),
        },
        (None, Some(pid)) => Source::Pid(pid),
        _ => {
            return Ok(usage(
                "the doctor needs the server's CPU: give --metrics URL (e.g. http://127.0.0.1:9464/metrics) or --pid PID",
            ));
        }
    };
    if args.target_rate.is_some_and(|r| r.is_nan() || r <= 0.0) || args.max_connections == 0 {
        return Ok(usage(
            "--target-rate and --max-connections must be above zero",
        ));
    }
    let workload = match workload(&args.target).await? {
        Ok(w) => w,
        Err(e) => return Ok(usage(e)),
    };
    let plan = DoctorPlan {
        slo,
        budget,
        target_rate: args.target_rate,
        telemetry,
        timeout,
        max_connections: args.max_connections,
        progress: !args.target.no_progress,
    };
    println!(
        "{:>11} {:>10} {:>12} {:>9} {:>9} {:>11}  SLO {}",
        "connections", "in flight", "responses/s", "p50", "p99", "server CPU", plan.slo.expr
    );
    let mut diagnosis = diagnose(&plan, workload.clone(), |l| {
        println!(
            "{:>11} {:>10.1} {:>12.1} {:>9} {:>9} {:>11}  {}",
            l.connections,
            l.concurrency,
            l.throughput_rps,
            barista_lab::duration::fmt_ms(l.p50_ms),
            barista_lab::duration::fmt_ms(l.p99_ms),
            l.server_cpu_share
                .map_or("?".into(), |s| format!("{:.0}%", 100.0 * s)),
            if l.slo_passed { "pass" } else { "FAIL" }
        );
    })
    .await
    .map_err(anyhow::Error::new)?;
    diagnosis.targets = workload.describe();
    println!("\n{}", diagnosis.summary());
    write_outputs(&args.target, &diagnosis, || html::doctor_html(&diagnosis))?;
    Ok(ExitCode::SUCCESS)
}
