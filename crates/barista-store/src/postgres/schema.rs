//! Applying the migrations of `schema.rs` to PostgreSQL, one replica at a
//! time (an advisory lock), tracked in `barista_schema`.

use crate::StoreError;
use crate::schema::{MIGRATIONS, POSTGRES, newer_than_this_build};
use tokio_postgres::Client;

/// Brings the schema up to date, one replica at a time (an advisory lock). A
/// database newer than this build is refused.
pub(crate) async fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    let failed =
        |e: tokio_postgres::Error| StoreError::Unavailable(format!("cannot apply the schema: {e}"));
    apply(client).await.map_err(failed)?
}

async fn apply(client: &mut Client) -> Result<Result<usize, StoreError>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(7146501)", &[])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS barista_schema (version INT NOT NULL)")
        .await?;
    let current: i32 = tx
        .query_opt("SELECT version FROM barista_schema", &[])
        .await?
        .map(|r| r.get(0))
        .unwrap_or(0);
    if current.max(0) as usize > MIGRATIONS.len() {
        return Ok(Err(newer_than_this_build(current as usize)));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.batch_execute(&POSTGRES.spell(sql)).await?;
        tx.execute("DELETE FROM barista_schema", &[]).await?;
        tx.execute(
            "INSERT INTO barista_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(MIGRATIONS.len()))
}
