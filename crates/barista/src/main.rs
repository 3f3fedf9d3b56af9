//! The `barista` command: a thin layer of flags over the library crates.
#![forbid(unsafe_code)]

mod cli;
mod lab;
mod serve;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
        match cli.command {
            cli::Command::Serve(args) => serve::serve(args).await.map(|()| ExitCode::SUCCESS),
            cli::Command::Migrate(args) => serve::migrate(args).await.map(|()| ExitCode::SUCCESS),
            cli::Command::Load(args) => lab::load(args).await,
            cli::Command::Sweep(args) => lab::sweep(args).await,
            cli::Command::Doctor(args) => lab::doctor(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("barista: {e:#}");
            ExitCode::FAILURE
        }
    }
}
