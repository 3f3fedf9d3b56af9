//! Backups of the embedded database, taken while servers keep writing to it.
//!
//! A backup is `VACUUM INTO`: one read transaction copies the database as of
//! its start into a new, compact file (no WAL beside it). In WAL mode a
//! reader never blocks the writer nor is blocked by it, so orders keep being
//! placed while it runs, and every order committed before it began is in the
//! copy. SQLite's online backup API was the other choice; it copies pages in
//! steps and starts over whenever another process writes to the source, so
//! under a steady stream of orders from a running server it may never finish.
//!
//! A restore checks the copy (`PRAGMA integrity_check`, and that it is a
//! Barista database no newer than this build) before it replaces anything,
//! then moves it into place in one rename, removing the old database's WAL
//! (which would otherwise be replayed onto the copy).

use crate::{Result, SCHEMA_VERSION, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a backup or a restore found in the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub orders: i64,
    pub bytes: u64,
    pub schema_version: i64,
    pub took: Duration,
}

/// Copies the database at `from` into the new file `to`, consistently, while
/// it is in use. `to` must not exist.
pub fn backup(from: &Path, to: &Path) -> Result<Copy> {
    let began = Instant::now();
    if !from.exists() {
        return Err(StoreError::Config(format!(
            "{}: no such database",
            from.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Config(format!(
            "{} exists: a backup is written to a new file",
            to.display()
        )));
    }
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| bad(from, e))?;
    source
        .busy_timeout(Duration::from_secs(30))
        .map_err(|e| bad(from, e))?;
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Config(format!("{}: the path is not UTF-8", to.display())))?;
    source
        .execute("VACUUM INTO ?1", [target])
        .map_err(|e| bad(from, e))?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::Config(format!("{}: {e}", to.display())))?;
    let mut copy = check(to)?;
    copy.took = began.elapsed();
    Ok(copy)
}

/// Checks the backup `from` and puts it in place of the database at `to`
/// (which no server may be using). An existing `to` is replaced only with
/// `replace`.
pub fn restore(from: &Path, to: &Path, replace: bool) -> Result<Copy> {
    let began = Instant::now();
    let mut copy = check(from)?;
    if to.exists() && !replace {
        return Err(StoreError::Config(format!(
            "{} exists: stop every server using it, then restore with --force to replace it",
            to.display()
        )));
    }
    let staging = sibling(to, ".restoring");
    std::fs::copy(from, &staging)
        .and_then(|_| std::fs::File::open(&staging)?.sync_all())
        .map_err(|e| StoreError::Config(format!("{}: {e}", staging.display())))?;
    for stale in [sibling(to, "-wal"), sibling(to, "-shm")] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Config(format!("{}: {e}", stale.display()))),
        }
    }
    std::fs::rename(&staging, to)
        .map_err(|e| StoreError::Config(format!("{}: {e}", to.display())))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself durable.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    copy.took = began.elapsed();
    Ok(copy)
}

/// Whether `path` is a whole Barista database this build can open.
pub fn check(path: &Path) -> Result<Copy> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| bad(path, e))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| bad(path, e))?;
    if integrity != "ok" {
        return Err(StoreError::Config(format!(
            "{}: the integrity check failed: {integrity}",
            path.display()
        )));
    }
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| bad(path, e))?;
    if schema_version == 0 || schema_version > SCHEMA_VERSION as i64 {
        return Err(StoreError::Config(format!(
            "{}: schema version {schema_version} is not a Barista database this build reads (1 to {SCHEMA_VERSION})",
            path.display()
        )));
    }
    let orders: i64 = conn
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .map_err(|e| bad(path, e))?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(Copy {
        orders,
        bytes,
        schema_version,
        took: Duration::ZERO,
    })
}

fn bad(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Config(format!("{}: {e}", path.display()))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_database_is_refused_and_nothing_is_replaced() {
        let dir = std::env::temp_dir().join(format!("barista-backup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.db");
        std::fs::write(&junk, b"not a database at all, just bytes").unwrap();
        let target = dir.join("live.db");
        std::fs::write(&target, b"the live one").unwrap();
        assert!(restore(&junk, &target, true).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"the live one");
        assert!(backup(&dir.join("missing.db"), &dir.join("out.db")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
