//! Applying the migrations of `schema.rs` to SQLite, tracked by `PRAGMA user_version`.

use crate::StoreError;
use crate::schema::{MIGRATIONS, SQLITE, newer_than_this_build};
use rusqlite::Connection;

/// Brings the schema up to date; returns the version it is at. A database
/// newer than this build is refused.
pub(crate) fn migrate(conn: &mut Connection) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(newer_than_this_build(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(&SQLITE.spell(sql))?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(MIGRATIONS.len())
}
