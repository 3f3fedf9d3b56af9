//! `barista backup` and `barista restore`: the embedded database's copies.

use barista_store::DatabaseUrl;
use barista_store::sqlite::backup::{self, Copy};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct BackupArgs {
    /// The database to copy (sqlite://FILE).
    #[arg(long, env = "BARISTA_DATABASE", default_value = "sqlite://barista.db")]
    pub database: String,
    /// The new file to write the copy to.
    pub file: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The database to replace (sqlite://FILE).
    #[arg(long, env = "BARISTA_DATABASE", default_value = "sqlite://barista.db")]
    pub database: String,
    /// Replace the database if it exists (stop every server using it first).
    #[arg(long)]
    pub force: bool,
    /// The backup to restore.
    pub file: PathBuf,
}

/// The file a `sqlite://` URL names, or why there is none.
fn sqlite_file(url: &str) -> Result<PathBuf, String> {
    match DatabaseUrl::parse(url).map_err(|e| e.to_string())? {
        DatabaseUrl::Sqlite(path) => Ok(path),
        DatabaseUrl::Postgres(_) => Err(
            "backup and restore are for the embedded SQLite database; back PostgreSQL up with \
             its own tools (pg_dump, or WAL archiving for a point in time: see the README's \
             \"High availability and backups\")"
                .into(),
        ),
    }
}

fn said(what: &str, path: &Path, copy: &Copy) {
    println!(
        "{what} {}: {} orders, {} bytes, schema version {}, integrity ok, in {:.2} s",
        path.display(),
        copy.orders,
        copy.bytes,
        copy.schema_version,
        copy.took.as_secs_f64()
    );
}

fn failed(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("barista: {message}");
    ExitCode::FAILURE
}

pub fn backup(args: BackupArgs) -> ExitCode {
    let from = match sqlite_file(&args.database) {
        Ok(from) => from,
        Err(e) => return failed(e),
    };
    match backup::backup(&from, &args.file) {
        Ok(copy) => {
            said("backed up to", &args.file, &copy);
            ExitCode::SUCCESS
        }
        Err(e) => failed(format!("backup failed: {e}")),
    }
}

pub fn restore(args: RestoreArgs) -> ExitCode {
    let to = match sqlite_file(&args.database) {
        Ok(to) => to,
        Err(e) => return failed(e),
    };
    match backup::restore(&args.file, &to, args.force) {
        Ok(copy) => {
            said("restored into", &to, &copy);
            ExitCode::SUCCESS
        }
        Err(e) => failed(format!("restore failed: {e}")),
    }
}
