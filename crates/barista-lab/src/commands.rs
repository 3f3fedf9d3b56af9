//! The lab's commands, from typed options to a finished run: the second stage
//! of ripgrep's split. The binary parses flags into [`LoadOptions`],
//! [`SweepOptions`] and [`DoctorOptions`] (every value already typed by its
//! parser); here they become a plan (checks that need several flags at once),
//! the run happens, and every table, JSON and HTML output is written. Each
//! command ends in an [`Exit`] with a documented status.

use crate::doctor::{DoctorPlan, diagnose};
use crate::engine::{Model, Plan, run};
use crate::error::SetupError;
use crate::html;
use crate::http::{Conn, Url};
use crate::profile::ProfileSpec;
use crate::report::LoadReport;
use crate::rush::{Rush, RushPart};
use crate::scenario;
use crate::slo::Slo;
use crate::sweep::{SweepPlan, sweep as run_sweep};
use crate::telemetry::{Fleet, Source};
use crate::workload::{Fixed, Workload};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How a command ended, and the process exit status that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Done; the SLO, if any, held. Status 0.
    Done,
    /// Could not do it: the target or a file was unreachable. Status 1.
    Failed(String),
    /// The options do not fit together. Status 2, as for flags that do not parse.
    Usage(String),
    /// The run finished but its SLO failed. Status 3.
    SloFailed,
    /// The doctor could not give a verdict: the generator was the limit. Status 4.
    Inconclusive,
}

/// The exit statuses of `load`, `sweep` and `doctor`, for their `--help`.
pub const EXIT_STATUS_HELP: &str = "\
EXIT STATUS (load, sweep and doctor alike):
  0  done, and the SLO held where there is one
  1  could not run: the target or a file unreachable, or every request failed
  2  the flags do not parse or do not fit together
  3  the SLO failed: load, any --slo clause; sweep, already at the first step
     (no rate met it); doctor, already at one connection (slow even alone)
  4  doctor only: no verdict, the load generator was the limit (inconclusive)";

impl Exit {
    pub fn status(&self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Failed(_) => 1,
            Exit::Usage(_) => 2,
            Exit::SloFailed => 3,
            Exit::Inconclusive => 4,
        }
    }

    /// What to tell the user on stderr, if anything.
    pub fn message(&self) -> Option<&str> {
        match self {
            Exit::Failed(m) | Exit::Usage(m) => Some(m),
            Exit::Done | Exit::SloFailed | Exit::Inconclusive => None,
        }
    }
}

type Step<T> = Result<T, Exit>;

fn usage(message: impl Into<String>) -> Exit {
    Exit::Usage(message.into())
}

/// A `--scenario`: a built-in one, or a file of weighted requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// The coffee-shop rush against one Barista shop (or one part of it).
    Rush(RushPart),
    /// Many shops, their customers and baristas (`crate::saas`).
    Saas,
    /// A TOML file of weighted requests (`crate::scenario`).
    File(PathBuf),
}

impl Scenario {
    /// `rush` (or `rush-reads`, `rush-orders`), `saas`, or the path of a
    /// scenario file.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        Ok(match text {
            "rush" => Scenario::Rush(RushPart::All),
            "rush-reads" => Scenario::Rush(RushPart::Reads),
            "rush-orders" => Scenario::Rush(RushPart::Orders),
            "saas" => Scenario::Saas,
            "" => return Err("names no scenario: rush, saas or a TOML file".into()),
            file => Scenario::File(file.into()),
        })
    }
}

/// What to load and where the results go, shared by every command.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// URLs to load in turn; with a scenario, the base URL its paths are relative to.
    pub targets: Vec<String>,
    /// The built-in `rush` or `saas`, or a TOML scenario file.
    pub scenario: Option<Scenario>,
    /// The shop the `rush` scenario orders from.
    pub shop: String,
    /// The request sent to each TARGET URL (without a scenario).
    pub request: RequestOptions,
    pub timeout: Duration,
    /// Where the JSON result goes; `-` is standard output.
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub progress: bool,
    /// Generator threads (default: one per core).
    pub threads: Option<usize>,
    /// How `https://` targets' certificates are checked.
    pub tls: crate::tls::TlsOptions,
}

impl TargetOptions {
    /// Whether the JSON result takes standard output (`--json -`).
    fn json_to_stdout(&self) -> bool {
        self.json.as_deref() == Some(std::path::Path::new("-"))
    }

    /// Prints what a person reads: on standard output, or on standard error
    /// when standard output carries the JSON.
    fn say(&self, text: &str) {
        if self.json_to_stdout() {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
}

/// The version of the JSON results' shape, written in each as `schema_version`.
/// It changes when a field is removed or changes meaning, not when one is added.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(serde::Serialize)]
struct Versioned<'a, T: serde::Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    result: &'a T,
}

/// A result as `--json` writes it: its fields, and `schema_version` first.
pub fn result_json(result: &impl serde::Serialize) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Versioned {
        schema_version: SCHEMA_VERSION,
        result,
    })
}

/// One request, from the flags `-m`, `-H`, `-b` and `--body-file`.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub body_file: Option<PathBuf>,
}

impl RequestOptions {
    /// Whether anything but a plain GET was asked for.
    fn given(&self) -> bool {
        self.method != "GET"
            || !self.headers.is_empty()
            || self.body.is_some()
            || self.body_file.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub target: TargetOptions,
    /// Open model: requests per second.
    pub rate: Option<ProfileSpec>,
    /// Closed model: connections; open model: the connection pool.
    pub connections: Option<ProfileSpec>,
    /// How long to run; with `requests` and no duration, until they are sent.
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub requests: Option<u64>,
    /// Closed model: the pause between requests (0 when not given); the saas
    /// scenario: a customer's mean pause between visits (10 s when not given).
    pub think: Option<Duration>,
    pub slo: Option<Slo>,
    /// The saas scenario's own settings.
    pub saas: SaasOptions,
}

/// `--scenario saas`: the tenants and their customers.
#[derive(Debug, Clone)]
pub struct SaasOptions {
    pub shops: usize,
    pub customers: usize,
    pub shop_prefix: Option<String>,
    pub admin_token: Option<String>,
    pub order_share: f64,
    pub skew: f64,
    pub barista_pace: Duration,
}

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub target: TargetOptions,
    pub slo: Slo,
    pub start: f64,
    pub max: f64,
    pub factor: f64,
    pub step: Duration,
    pub connections: usize,
}

#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub target: TargetOptions,
    /// One source per replica (`--metrics` or `--pid`, each repeatable).
    pub telemetry: Vec<Source>,
    /// Or a Prometheus that knows the replicas, and the labels that pick them.
    pub prometheus: Option<(Url, String)>,
    pub slo: Slo,
    pub budget: Duration,
    pub target_rate: Option<f64>,
    pub max_connections: usize,
    /// PostgreSQL to sample for what the service's sessions wait on.
    pub database: Option<String>,
}

/// Connections in the closed model (and the pool in the open one) when none are given.
const DEFAULT_CONNECTIONS: usize = 50;

/// A set-up that failed; TLS's failures with what to do about a certificate
/// the lab cannot check.
fn setup_failed(e: SetupError) -> Exit {
    if e.is_tls() {
        Exit::Failed(format!(
            "{e} (a self-signed or private certificate? --cacert FILE trusts its CA, -k/--insecure accepts any)"
        ))
    } else {
        Exit::Failed(e.to_string())
    }
}

/// Builds the workload the options name, and checks the target answers.
async fn workload(t: &TargetOptions) -> Step<Arc<dyn Workload>> {
    let tls = crate::tls::Tls::new(t.tls.clone());
    let urls = t
        .targets
        .iter()
        .map(|u| Url::parse(u))
        .collect::<Result<Vec<Url>, _>>()
        .map_err(|e| usage(e.to_string()))?;
    if t.scenario.is_some() && t.request.given() {
        return Err(usage(
            "-m, -H, -b and --body-file describe the requests to the TARGET URLs; a scenario names its own",
        ));
    }
    let workload: Arc<dyn Workload> = match &t.scenario {
        Some(Scenario::Saas) => {
            return Err(usage("--scenario saas runs with `barista load` only"));
        }
        Some(Scenario::Rush(part)) => {
            let [base] = urls.as_slice() else {
                return Err(usage(
                    "--scenario rush takes exactly one TARGET: the Barista base URL",
                ));
            };
            Arc::new(
                Rush::new(base, &t.shop, *part, &tls)
                    .await
                    .map_err(setup_failed)?,
            )
        }
        Some(Scenario::File(file)) => {
            let file = file.display();
            let text = std::fs::read_to_string(file.to_string())
                .map_err(|e| Exit::Failed(format!("cannot read the scenario {file}: {e}")))?;
            let entries = scenario::parse(&text, urls.first())
                .map_err(|e| usage(format!("scenario {file}: {e}")))?;
            Arc::new(
                Fixed::new(entries, true, &tls)
                    .await
                    .map_err(setup_failed)?,
            )
        }
        None => {
            let r = &t.request;
            let body = match (&r.body, &r.body_file) {
                (Some(body), _) => body.clone(),
                (None, Some(file)) => std::fs::read(file).map_err(|e| {
                    Exit::Failed(format!("cannot read the body file {}: {e}", file.display()))
                })?,
                (None, None) => vec![],
            };
            Arc::new(
                Fixed::requests(&urls, &r.method, &r.headers, &body, &tls)
                    .await
                    .map_err(setup_failed)?,
            )
        }
    };
    for endpoint in workload.endpoints() {
        match Conn::open(endpoint).await.map_err(SetupError::from) {
            Err(e) if e.is_tls() => return Err(setup_failed(e)),
            Err(e) => return Err(Exit::Failed(format!("{e}: is the target running?"))),
            Ok(_) => {}
        }
    }
    Ok(workload)
}

fn write_outputs(
    t: &TargetOptions,
    json: &impl serde::Serialize,
    html: impl FnOnce() -> String,
) -> Step<()> {
    let failed = |path: &PathBuf, e: std::io::Error| {
        Exit::Failed(format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = &t.json {
        let text = result_json(json)
            .map_err(|e| Exit::Failed(format!("cannot encode the result: {e}")))?;
        if t.json_to_stdout() {
            println!("{text}");
        } else {
            std::fs::write(path, text + "\n").map_err(|e| failed(path, e))?;
        }
    }
    if let Some(path) = &t.html {
        std::fs::write(path, html()).map_err(|e| failed(path, e))?;
    }
    Ok(())
}

/// How long `-n` runs when no `--duration` is given: until the requests are
/// sent, in practice.
const UNTIL_SENT: Duration = Duration::from_secs(366 * 24 * 3600);

impl LoadOptions {
    fn duration(&self) -> Duration {
        match (self.duration, self.requests) {
            (Some(d), _) => d,
            (None, Some(_)) => UNTIL_SENT,
            (None, None) => Duration::from_secs(10),
        }
    }

    /// How long the run lasts, as the header line says it.
    fn lasting(&self, profile_s: f64) -> String {
        match (self.duration, self.requests) {
            (None, Some(n)) => format!("{n} requests"),
            (Some(_), Some(n)) => format!("{n} requests or {profile_s:.0}s"),
            (_, None) => format!("{profile_s:.0}s"),
        }
    }

    /// The engine's model and a line saying what is offered.
    fn model(&self) -> Step<(Model, String)> {
        if self.requests == Some(0) {
            return Err(usage("-n/--requests must be above zero"));
        }
        match &self.rate {
            Some(rate) => {
                if self.duration.is_none() && self.requests.is_some() && !rate.fits_any_duration() {
                    return Err(usage(
                        "a --rate ramp or steps needs a --duration to spread over, also with -n",
                    ));
                }
                let profile = rate
                    .over(self.duration())
                    .map_err(|e| usage(format!("--rate: {e}")))?;
                let connections = match &self.connections {
                    None => DEFAULT_CONNECTIONS,
                    Some(c) => c.whole_constant().ok_or_else(|| {
                        usage("with --rate, --connections is the pool size: a whole number above zero")
                    })?,
                };
                let offered = format!(
                    "rate {} req/s over {connections} connections, {}",
                    rate.text(),
                    self.lasting(profile.duration().as_secs_f64())
                );
                Ok((
                    Model::Open {
                        rate: profile,
                        connections,
                    },
                    offered,
                ))
            }
            None => {
                let default =
                    ProfileSpec::parse(&DEFAULT_CONNECTIONS.to_string()).map_err(usage)?;
                let spec = self.connections.as_ref().unwrap_or(&default);
                if self.duration.is_none() && self.requests.is_some() && !spec.fits_any_duration() {
                    return Err(usage(
                        "a --connections ramp or steps needs a --duration to spread over, also with -n",
                    ));
                }
                let profile = spec
                    .over(self.duration())
                    .map_err(|e| usage(format!("--connections: {e}")))?;
                if profile.peak() < 1.0 {
                    return Err(usage("--connections must reach at least 1"));
                }
                let offered = format!(
                    "{} connections, think {:?}, {}",
                    spec.text(),
                    self.think.unwrap_or_default(),
                    self.lasting(profile.duration().as_secs_f64())
                );
                Ok((
                    Model::Closed {
                        connections: profile,
                        think: self.think.unwrap_or_default(),
                    },
                    offered,
                ))
            }
        }
    }
}

/// `--scenario saas`: its own driver (customers with think time and event
/// streams, a barista per shop), not the request engine.
async fn saas_run(o: LoadOptions) -> Step<Exit> {
    let t = &o.target;
    let [base] = t.targets.as_slice() else {
        return Err(usage(
            "--scenario saas takes exactly one TARGET: the Barista base URL",
        ));
    };
    if o.rate.is_some() || o.connections.is_some() || o.requests.is_some() || o.slo.is_some() {
        return Err(usage(
            "--scenario saas sets its load by --shops, --customers and --think (not --rate, --connections, -n or --slo; its report gives p99 per kind)",
        ));
    }
    if t.request.given() {
        return Err(usage(
            "-m, -H, -b and --body-file describe the requests to the TARGET URLs; a scenario names its own",
        ));
    }
    let s = &o.saas;
    if s.shops == 0 || s.customers == 0 || !(0.0..=1.0).contains(&s.order_share) || s.skew < 0.0 {
        return Err(usage(
            "--shops and --customers must be above zero, --order-share within 0..1, --skew 0 or more",
        ));
    }
    let base = Url::parse(base).map_err(|e| usage(e.to_string()))?;
    let plan = crate::saas::SaasPlan {
        base,
        shops: s.shops,
        customers: s.customers,
        prefix: s.shop_prefix.clone().unwrap_or_else(|| {
            format!(
                "saas-{:04x}",
                crate::workload::Rng::new(1).next_u64() & 0xffff
            )
        }),
        admin_token: s.admin_token.clone(),
        duration: o.duration(),
        think: o.think.unwrap_or(Duration::from_secs(10)),
        order_share: s.order_share,
        skew: s.skew,
        barista_pace: s.barista_pace,
        timeout: t.timeout,
        progress: t.progress,
    };
    let report = crate::saas::run(plan).await.map_err(setup_failed)?;
    t.say(&report.table());
    write_outputs(t, &report, || html::saas_html(&report))?;
    Ok(Exit::Done)
}

async fn load_run(o: LoadOptions) -> Step<Exit> {
    if o.target.scenario == Some(Scenario::Saas) {
        return saas_run(o).await;
    }
    let (model, offered) = o.model()?;
    let workload = workload(&o.target).await?;
    let plan = Plan {
        model,
        timeout: o.target.timeout,
        progress: o.target.progress,
        threads: o.target.threads,
        requests: o.requests,
    };
    let outcome = run(&plan, workload.clone()).await;
    let report = LoadReport::new(&outcome, offered, workload.describe(), o.slo.as_ref());
    o.target.say(&report.table());
    write_outputs(&o.target, &report, || html::load_html(&report))?;
    if report.requests == 0 {
        return Err(Exit::Failed("no request was sent".into()));
    }
    Ok(match &report.slo {
        Some(s) if !s.passed => Exit::SloFailed,
        _ => Exit::Done,
    })
}

/// `barista load`: one run, its table, and its outputs.
pub async fn load(o: LoadOptions) -> Exit {
    load_run(o).await.unwrap_or_else(|exit| exit)
}

async fn sweep_run(o: SweepOptions) -> Step<Exit> {
    if !(o.start > 0.0 && o.max >= o.start && o.factor > 1.0 && o.connections > 0) {
        return Err(usage(
            "need 0 < --start <= --max, --factor above 1, and --connections above 0",
        ));
    }
    let workload = workload(&o.target).await?;
    let plan = SweepPlan {
        start_rps: o.start,
        max_rps: o.max,
        factor: o.factor,
        step: o.step,
        connections: o.connections,
        timeout: o.target.timeout,
        slo: o.slo,
        progress: o.target.progress,
        threads: o.target.threads,
    };
    let t = &o.target;
    t.say(&format!("{}\n", crate::sweep::Step::header(&plan.slo)));
    let report = run_sweep(&plan, workload, |s| t.say(&format!("{}\n", s.row()))).await;
    t.say(&report.summary());
    write_outputs(t, &report, || html::sweep_html(&report))?;
    Ok(match report.steps.first() {
        Some(first) if !first.passed => Exit::SloFailed,
        _ => Exit::Done,
    })
}

/// `barista sweep`: steps of rising rate, a row each, then the capacity and the knee.
pub async fn sweep(o: SweepOptions) -> Exit {
    sweep_run(o).await.unwrap_or_else(|exit| exit)
}

async fn doctor_run(o: DoctorOptions) -> Step<Exit> {
    let sources = match &o.prometheus {
        Some((url, selector)) => crate::telemetry::discover(url, selector)
            .await
            .map_err(|e| Exit::Failed(e.to_string()))?,
        None => o.telemetry.clone(),
    };
    if sources.is_empty() {
        return Err(usage(
            "the doctor needs the server's CPU: give --metrics URL (e.g. http://127.0.0.1:9464/metrics) or --pid PID, once per replica, or --prometheus URL",
        ));
    }
    let telemetry = Fleet { sources };
    if o.budget < Duration::from_secs(6) {
        return Err(usage(
            "--budget must be at least 6s (six load levels of 1s)",
        ));
    }
    if o.target_rate.is_some_and(|r| r.is_nan() || r <= 0.0) || o.max_connections == 0 {
        return Err(usage(
            "--target-rate and --max-connections must be above zero",
        ));
    }
    let workload = workload(&o.target).await?;
    let database = match &o.database {
        Some(url) => Some(Arc::new(
            crate::database::Database::connect(url)
                .await
                .map_err(Exit::Failed)?,
        )),
        None => None,
    };
    let plan = DoctorPlan {
        slo: o.slo,
        budget: o.budget,
        target_rate: o.target_rate,
        telemetry,
        timeout: o.target.timeout,
        max_connections: o.max_connections,
        progress: o.target.progress,
        threads: o.target.threads,
        database,
    };
    let t = &o.target;
    t.say(&format!("{}\n", crate::doctor::Level::header(&plan.slo)));
    let mut diagnosis = diagnose(&plan, workload.clone(), |l| {
        t.say(&format!("{}\n", l.row()))
    })
    .await
    .map_err(|e| Exit::Failed(e.to_string()))?;
    diagnosis.targets = workload.describe();
    t.say(&format!("\n{}\n", diagnosis.summary()));
    write_outputs(t, &diagnosis, || html::doctor_html(&diagnosis))?;
    Ok(
        if matches!(
            diagnosis.figures,
            crate::doctor::Verdict::Inconclusive { .. }
        ) {
            Exit::Inconclusive
        } else if diagnosis.levels.first().is_some_and(|l| !l.slo_passed) {
            Exit::SloFailed
        } else {
            Exit::Done
        },
    )
}

/// `barista doctor`: the levels as they run, then the verdict.
pub async fn doctor(o: DoctorOptions) -> Exit {
    doctor_run(o).await.unwrap_or_else(|exit| exit)
}
