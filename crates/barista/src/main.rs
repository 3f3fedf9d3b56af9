//! The `barista` command: a thin layer of flags over the library crates.
#![forbid(unsafe_code)]

mod backup;
mod cli;
mod lab;
mod probe;
mod serve;
mod shops;

use barista_lab::commands;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The container's health check: no runtime, nothing but one request.
    let cli = match cli.command {
        cli::Command::Probe(args) => return probe::probe(args),
        cli::Command::Backup(args) => return backup::backup(args),
        cli::Command::Restore(args) => return backup::restore(args),
        command => cli::Cli { command },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("barista: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let exit = match cli.command {
            cli::Command::Serve(args) => {
                return serve::serve(args).await.map(|()| ExitCode::SUCCESS);
            }
            cli::Command::Migrate(args) => {
                return serve::migrate(args).await.map(|()| ExitCode::SUCCESS);
            }
            cli::Command::Shops(args) => {
                return shops::shops(args).await.map(|()| ExitCode::SUCCESS);
            }
            cli::Command::Load(args) => commands::load(args.into()).await,
            cli::Command::Sweep(args) => commands::sweep(args.into()).await,
            cli::Command::Doctor(args) => commands::doctor(args.into()).await,
            cli::Command::Probe(_) | cli::Command::Backup(_) | cli::Command::Restore(_) => {
                unreachable!("answered before the runtime starts")
            }
        };
        if let Some(message) = exit.message() {
            eprintln!("barista: {message}");
        }
        Ok(ExitCode::from(exit.status()))
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("barista: {e:#}");
            ExitCode::FAILURE
        }
    }
}
