//! `barista serve` and `barista migrate`.

use crate::cli::{Listen, LogFormat, MigrateArgs, ServeArgs};
use anyhow::Context;
use barista_server::{Config, demo, secret::Secret};
use std::io::{IsTerminal, Write};

/// Logs to stderr, as text or JSON lines; the level comes from RUST_LOG.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == LogFormat::Json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    barista_store::open(&args.db.database, &args.db.options())
        .await
        .with_context(|| format!("cannot migrate {}", args.db.database))?;
    println!(
        "schema of {} is up to date (version {})",
        args.db.database,
        barista_store::SCHEMA_VERSION
    );
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let store = barista_store::open(&args.db.database, &args.db.options())
        .await
        .with_context(|| format!("cannot open the database {}", args.db.database))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let ops = match args.metrics_listen {
        Listen::Off => None,
        Listen::At(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} for metrics"))?,
        ),
    };
    let ops_addr = ops.as_ref().map(|l| l.local_addr()).transpose()?;

    let mut banner = format!(
        "barista {} serving on http://{addr} (database {}, role {})\nAPI reference on http://{addr}/docs\n",
        env!("CARGO_PKG_VERSION"),
        redact(&args.db.database),
        args.role.name()
    );
    if let Some(ops) = ops_addr {
        banner += &format!(
            "metrics on http://{ops}/metrics, CPU profiles on http://{ops}/debug/pprof/profile\n"
        );
    }
    if !args.no_demo && !store.has_shops().await? {
        match demo::seed(store.as_ref()).await {
            Ok(key) => {
                banner += &format!(
                    "created the demo shop `{}`; its staff key, shown only this once:\n  {key}\ntry: curl http://{addr}/v1/shops/{}/menu\n",
                    demo::DEMO_SLUG,
                    demo::DEMO_SLUG
                );
            }
            // Another replica starting at the same time created it first.
            Err(barista_store::StoreError::SlugTaken) => {}
            Err(e) => return Err(anyhow::Error::new(e).context("cannot create the demo shop")),
        }
    }
    say(&banner);

    let config = Config {
        admin_token: args.admin_token.filter(|t| !t.is_empty()).map(Secret::new),
        max_in_flight: args.max_in_flight,
        cheap_lane: args
            .cheap_lane_delay
            .map(|delay| barista_server::CheapLane {
                delay,
                max_wait: args.cheap_lane_max_wait,
            }),
        shop_rate_limit: args.shop_rate_limit,
        metrics: !args.no_metrics,
        role: args.role,
        limits: barista_server::Limits {
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
            body_timeout: args.body_timeout,
            drain_timeout: args.drain_timeout,
            shutdown_delay: args.shutdown_delay,
            ..barista_server::Limits::default()
        },
        streams: barista_server::hub::StreamLimits {
            total: args.max_streams,
            per_shop: args.max_streams_per_shop,
        },
        retention: barista_server::retention::Retention {
            idempotency_ttl: args.idempotency_ttl,
            events: args.event_retention,
            ..Default::default()
        },
    };
    let listeners = barista_server::Listeners { api: listener, ops };
    barista_server::run(config, store, listeners, shutdown_signal()).await?;
    say("barista stopped\n");
    Ok(())
}

/// A database URL without its password, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Prints to stdout, best effort: a server must not fail (or panic, as
/// `println!` does) because whoever read its stdout has gone away.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
