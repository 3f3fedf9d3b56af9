//! Running the statements of `sql.rs` on PostgreSQL: parameters and rows
//! converted once here. Deadlocks and serialization failures come back as
//! `Retry`, a lost connection as `Unavailable`.

use crate::StoreError;
use crate::conn::{Conn, TxError, TxResult};
use crate::timing::Wire;
use crate::value::{Param, Row, Value};
use bytes::BytesMut;
use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        fn checked<T: ToSql>(v: &T, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
            if !T::accepts(ty) {
                return Err(
                    format!("a {ty} parameter given a {}", std::any::type_name::<T>()).into(),
                );
            }
            v.to_sql(ty, out)
        }
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(v) => checked(v, ty, out),
            Param::Text(v) => checked(v, ty, out),
            Param::Bytes(v) => checked(v, ty, out),
            Param::Bool(v) => checked(v, ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Each variant checks its own type in `to_sql`.
        true
    }

    to_sql_checked!();
}

/// Answers that mean "not now" rather than "never": the server is shutting
/// down, restarting, out of connections, in recovery or read-only (a failover
/// in progress), or a statement ran past its timeout.
fn unavailable_now(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    matches!(class, "08" | "53" | "57" | "58")
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || *code == SqlState::QUERY_CANCELED
}

/// Of those, the ones after which the connection is dropped from the pool
/// rather than kept: a connection failure, a server shutting down or
/// restarting (`admin_shutdown`, `crash_shutdown`, `cannot_connect_now`), or
/// one that is not the primary any more (`read_only_sql_transaction`: a
/// demoted primary, or a standby). A new connection finds the primary
/// (`target_session_attrs=read-write`).
fn connection_lost(code: &SqlState) -> bool {
    let code_str = code.code();
    code_str.starts_with("08")
        || matches!(code_str, "57P01" | "57P02" | "57P03")
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
}

impl From<tokio_postgres::Error> for TxError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                TxError::Retry
            }
            Some(c) if connection_lost(c) => TxError::Lost(StoreError::Unavailable(e.to_string())),
            Some(c) if unavailable_now(c) => TxError::Store(StoreError::Unavailable(e.to_string())),
            Some(_) => TxError::Store(StoreError::Internal(e.to_string())),
            // No code: the connection itself failed.
            None => TxError::Lost(StoreError::Unavailable(e.to_string())),
        }
    }
}

fn value(row: &tokio_postgres::Row, i: usize) -> Result<Value, tokio_postgres::Error> {
    let ty = row.columns()[i].type_();
    Ok(if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into()))
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into()))
    } else if *ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Value::Null, Value::Bytes)
    } else {
        row.try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text)
    })
}

/// A pooled PostgreSQL client or transaction as a [`Conn`]. Statements are
/// prepared once per connection (`prepare_cached`), so each runs in one round
/// trip; statements issued together go out together (pipelined).
/// Its round trips are counted (`timing::Wire`).
pub(super) struct PgConn<'a, C> {
    client: &'a C,
    wire: Wire,
}

impl<'a, C> PgConn<'a, C> {
    pub(super) fn new(client: &'a C) -> Self {
        Self {
            client,
            wire: Wire::default(),
        }
    }
}

impl<C: GenericClient> Conn for PgConn<'_, C> {
    async fn execute(&self, sql: &'static str, params: &[Param<'_>]) -> TxResult<u64> {
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let changed = self
            .wire
            .trip(async {
                let statement = self.client.prepare_cached(sql).await?;
                self.client.execute(&statement, &params).await
            })
            .await?;
        Ok(changed)
    }

    async fn query(&self, sql: &'static str, params: &[Param<'_>]) -> TxResult<Vec<Row>> {
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self
            .wire
            .trip(async {
                let statement = self.client.prepare_cached(sql).await?;
                self.client.query(&statement, &params).await
            })
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let values = (0..row.len())
                .map(|i| value(row, i))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }
}
