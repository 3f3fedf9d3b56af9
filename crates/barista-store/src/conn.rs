//! What a backend provides: a connection (inside a transaction, for writes)
//! that runs the statements of `sql.rs`. Everything else (which statements, in
//! which order, and what the rows mean) is written once, in `transactions.rs`.

use crate::StoreError;
use crate::value::{Param, Row};
use std::future::Future;

/// Why a transaction did not finish: try it again (a deadlock or a
/// serialization failure), or a real answer.
#[derive(Debug)]
pub(crate) enum TxError {
    Retry,
    Store(StoreError),
    /// An answer that also means the connection is not worth keeping: the
    /// server went away, is shutting down, or is no longer the primary.
    Lost(StoreError),
}

pub(crate) type TxResult<T> = Result<T, TxError>;

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl From<barista_domain::InvalidTransition> for TxError {
    fn from(e: barista_domain::InvalidTransition) -> Self {
        TxError::Store(e.into())
    }
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        TxError::Store(e.into())
    }
}

/// A connection, within the transaction its backend opened. The futures are
/// `Send` so a transaction written once runs on PostgreSQL's async driver; on
/// SQLite they are ready at once (its writer thread runs them to completion).
pub(crate) trait Conn: Sync {
    /// Runs a statement; the number of rows it changed.
    fn execute(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = TxResult<u64>> + Send;

    /// Runs a query; every row of its answer.
    fn query(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = TxResult<Vec<Row>>> + Send;

    /// The first row of a query's answer, if any.
    fn query_opt(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = TxResult<Option<Row>>> + Send {
        async move { Ok(self.query(sql, params).await?.into_iter().next()) }
    }

    /// The one row a query must answer.
    fn query_one(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = TxResult<Row>> + Send {
        async move {
            self.query_opt(sql, params)
                .await?
                .ok_or_else(|| StoreError::Internal(format!("no row from {sql}")).into())
        }
    }
}
