//! Flags, first stage: what the user typed. Every flag of `serve`, `migrate`
//! and `probe` also reads an environment variable, `BARISTA_` + the flag name
//! in upper case: what differs between environments. The lab's commands
//! (`load`, `sweep`, `doctor`) read none: a run is what its command line says.

use barista_server::Role;
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(
    name = "barista",
    version,
    about = "A multi-tenant coffee-shop ordering backend, and the lab that measures it."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the shop's HTTP API.
    Serve(ServeArgs),
    /// Apply the database schema and exit.
    Migrate(MigrateArgs),
    /// Send load to HTTP targets and report latency that tells the truth.
    #[command(after_long_help = crate::lab::help(crate::lab::LOAD_HELP))]
    Load(crate::lab::LoadArgs),
    /// Step the offered rate up until the SLO breaks; report the capacity and the knee.
    #[command(after_long_help = crate::lab::help(""))]
    Sweep(crate::lab::SweepArgs),
    /// Diagnose a service: is it slow (performance) or does it not scale (capacity,
    /// contention, coherency)? Measures, fits the Universal Scalability Law, and says what to do.
    #[command(after_long_help = crate::lab::help(barista_lab::doctor::HELP))]
    Doctor(crate::lab::DoctorArgs),
    /// Ask a local server whether it is ready (GET /readyz); exit 0 if it answers 2xx.
    /// The health check of the container image, which has no shell or curl.
    Probe(crate::probe::ProbeArgs),
    /// Copy the embedded database into a new file while servers keep serving
    /// (SQLite; for PostgreSQL use its own tools: see the README).
    Backup(crate::backup::BackupArgs),
    /// Check a backup and put it in place of the embedded database (stop the
    /// servers using it first).
    Restore(crate::backup::RestoreArgs),
    /// The operator's console: list, create, rename, suspend, resume, export,
    /// import and delete shops, and replace a lost staff key.
    Shops(crate::shops::ShopsArgs),
}

/// Global, so that `barista shops import FILE --database URL` reads as well as
/// `barista shops --database URL import FILE`.
#[derive(Args)]
pub struct DatabaseArgs {
    /// Where everything is kept: sqlite://FILE (embedded, the default) or
    /// postgres://USER:PASSWORD@HOST:PORT/DB (scale-out; `?sslmode=verify-full` and
    /// `&sslrootcert=FILE` as libpq reads them).
    #[arg(
        long,
        global = true,
        env = "BARISTA_DATABASE",
        default_value = "sqlite://barista.db"
    )]
    pub database: String,

    /// PostgreSQL: connections this replica keeps open (every replica's count adds up
    /// against the server's max_connections).
    #[arg(
        long,
        global = true,
        env = "BARISTA_DB_POOL_SIZE",
        default_value_t = 16
    )]
    pub db_pool_size: usize,

    /// PostgreSQL: how long a request waits for a free connection before 503 `unavailable`.
    #[arg(long, global = true, env = "BARISTA_DB_POOL_TIMEOUT", default_value = "2s", value_parser = crate::lab::positive_duration)]
    pub db_pool_timeout: std::time::Duration,

    /// PostgreSQL: the longest any statement may run before it is cancelled (503 `unavailable`).
    #[arg(long, global = true, env = "BARISTA_DB_STATEMENT_TIMEOUT", default_value = "5s", value_parser = crate::lab::positive_duration)]
    pub db_statement_timeout: std::time::Duration,
}

impl DatabaseArgs {
    pub fn options(&self) -> barista_store::OpenOptions {
        barista_store::OpenOptions {
            pool_size: self.db_pool_size,
            pool_timeout: self.db_pool_timeout,
            statement_timeout: self.db_statement_timeout,
            ..Default::default()
        }
    }
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Address for the public API; port 0 picks a free port.
    #[arg(long, env = "BARISTA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address for /metrics and /debug/pprof/profile, kept apart from the public API.
    /// `off` disables it.
    #[arg(long, env = "BARISTA_METRICS_LISTEN", default_value = "127.0.0.1:9464", value_parser = metrics_listen)]
    pub metrics_listen: Listen,

    /// Log format: `json` (one object per line) or `text`. Level by RUST_LOG (default info;
    /// each request is one line at info from `barista::request`).
    #[arg(long, env = "BARISTA_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Record no metrics on the request path (to measure what they cost; /metrics then shows process metrics only).
    #[arg(long, env = "BARISTA_NO_METRICS")]
    pub no_metrics: bool,

    /// Token that enables the admin routes (creating shops). Without one they answer 404.
    #[arg(long, env = "BARISTA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Which part of the API to serve: `all`, `menu` (shop and menu reads, for scaling reads
    /// alone) or `orders` (everything else). Other routes answer 404 saying where to go.
    #[arg(long, env = "BARISTA_ROLE", default_value = "all", value_parser = role())]
    pub role: Role,

    /// Do not create the `demo` shop in an empty database.
    #[arg(long, env = "BARISTA_NO_DEMO")]
    pub no_demo: bool,

    /// Requests handled at once; past it, a fast 503 `overloaded` with Retry-After. 0: no limit.
    #[arg(long, env = "BARISTA_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,

    /// Orders first: when the replica is out of CPU (a ready task waits longer than this for its
    /// turn), menu and shop reads wait at the door for the CPU that orders, claims and event
    /// streams leave; `off` (the default) never holds them. Try 1ms: see bench/overload and bench/roles.
    #[arg(long, env = "BARISTA_CHEAP_LANE_DELAY", default_value = "off", value_parser = duration_or_off)]
    pub cheap_lane_delay: DurationOrOff,

    /// The longest a menu or shop read waits at the door; then it gets 503 `overloaded`
    /// with Retry-After.
    #[arg(long, env = "BARISTA_CHEAP_LANE_MAX_WAIT", default_value = "1s", value_parser = crate::lab::positive_duration)]
    pub cheap_lane_max_wait: std::time::Duration,

    /// Requests per second allowed per shop on this replica; past it, 429 `rate_limited`.
    #[arg(long, env = "BARISTA_SHOP_RATE_LIMIT")]
    pub shop_rate_limit: Option<u32>,

    /// Connections open at once; past it, new ones wait to be accepted.
    #[arg(long, env = "BARISTA_MAX_CONNECTIONS", default_value_t = 16_000)]
    pub max_connections: usize,

    /// Once a request's first byte arrives, its headers must arrive within this.
    #[arg(long, env = "BARISTA_HEADER_TIMEOUT", default_value = "10s", value_parser = crate::lab::positive_duration)]
    pub header_timeout: std::time::Duration,

    /// A keep-alive connection with nothing to do is closed after this.
    #[arg(long, env = "BARISTA_IDLE_TIMEOUT", default_value = "60s", value_parser = crate::lab::positive_duration)]
    pub idle_timeout: std::time::Duration,

    /// A request's body must arrive within this (408 `request_timeout` otherwise).
    #[arg(long, env = "BARISTA_BODY_TIMEOUT", default_value = "10s", value_parser = crate::lab::positive_duration)]
    pub body_timeout: std::time::Duration,

    /// On SIGTERM, first answer `/readyz` with 503 for this long while serving as usual, so a
    /// balancer that polls readiness stops sending here before the listener closes (0: drain at once).
    #[arg(long, env = "BARISTA_SHUTDOWN_DELAY", default_value = "0s", value_parser = crate::lab::any_duration)]
    pub shutdown_delay: std::time::Duration,

    /// On SIGTERM, requests in flight get this long to finish before their connections are closed.
    #[arg(long, env = "BARISTA_DRAIN_TIMEOUT", default_value = "10s", value_parser = crate::lab::positive_duration)]
    pub drain_timeout: std::time::Duration,

    /// Event streams open at once on this replica; past it, 503 `too_many_streams`.
    #[arg(long, env = "BARISTA_MAX_STREAMS", default_value_t = 12_000)]
    pub max_streams: usize,

    /// Event streams open at once on one shop; past it, 503 `too_many_streams`.
    #[arg(long, env = "BARISTA_MAX_STREAMS_PER_SHOP", default_value_t = 10_000)]
    pub max_streams_per_shop: usize,

    /// How long an Idempotency-Key replays its order (at least 24h); expired keys are deleted.
    #[arg(long, env = "BARISTA_IDEMPOTENCY_TTL", default_value = "24h", value_parser = idempotency_ttl)]
    pub idempotency_ttl: std::time::Duration,

    /// How long events are kept to resume streams (Last-Event-ID); older ones are deleted.
    #[arg(long, env = "BARISTA_EVENT_RETENTION", default_value = "7d", value_parser = crate::lab::positive_duration)]
    pub event_retention: std::time::Duration,
}

/// A TTL of at least a day, so a client retrying through an outage never orders twice.
fn idempotency_ttl(text: &str) -> Result<std::time::Duration, String> {
    let ttl = crate::lab::positive_duration(text)?;
    if ttl < barista_server::retention::MIN_IDEMPOTENCY_TTL {
        return Err("must be at least 24h, so a retry within a day never orders twice".into());
    }
    Ok(ttl)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// An optional listener: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    Off,
    At(SocketAddr),
}

/// `off` (or empty) for none, else an address.
fn metrics_listen(text: &str) -> Result<Listen, String> {
    match text {
        "off" | "" => Ok(Listen::Off),
        at => at
            .parse()
            .map(Listen::At)
            .map_err(|_| format!("{at:?} is not an address (HOST:PORT) or `off`")),
    }
}

/// The roles a replica can take, by name.
fn role() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser;
    PossibleValuesParser::new(Role::ALL.map(Role::name))
        .map(|name: String| Role::parse(&name).unwrap_or(Role::All))
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// A duration, or `None` for `off`. (A name of its own: clap reads a field
/// spelt `Option<_>` as an optional argument, not as the parser's value.)
pub type DurationOrOff = Option<std::time::Duration>;

/// A positive duration, or `off`.
fn duration_or_off(text: &str) -> Result<Option<std::time::Duration>, String> {
    if text == "off" {
        return Ok(None);
    }
    crate::lab::positive_duration(text).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
