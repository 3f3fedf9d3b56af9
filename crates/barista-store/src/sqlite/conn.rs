//! Running the statements of `sql.rs` on SQLite: parameters and rows converted
//! once here, statements prepared once per connection (`prepare_cached`).

use crate::StoreError;
use crate::conn::{Conn, TxResult};
use crate::sql;
use crate::value::{Param, Row, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql, params_from_iter};
use std::sync::Mutex;

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Param::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Param::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Param::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(v))),
        })
    }
}

fn value(v: ValueRef<'_>) -> Result<Value, StoreError> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Text(t) => Value::Text(
            std::str::from_utf8(t)
                .map_err(|_| StoreError::Internal("text that is not UTF-8 in the database".into()))?
                .to_owned(),
        ),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        ValueRef::Real(_) => {
            return Err(StoreError::Internal("a real number in the database".into()));
        }
    })
}

/// A SQLite connection as a [`Conn`]. Behind a `std` mutex only because
/// `Conn` must be `Sync`; one thread uses it at a time, so it is never contended.
pub(super) struct SqliteConn<'a>(pub(super) &'a Mutex<Connection>);

impl SqliteConn<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Conn for SqliteConn<'_> {
    async fn execute(&self, sql: &'static str, params: &[Param<'_>]) -> TxResult<u64> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(sql::for_sqlite(sql))?;
        Ok(statement.execute(params_from_iter(params))? as u64)
    }

    async fn query(&self, sql: &'static str, params: &[Param<'_>]) -> TxResult<Vec<Row>> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(sql::for_sqlite(sql))?;
        let columns = statement.column_count();
        let mut rows = statement.query(params_from_iter(params))?;
        let mut out = vec![];
        while let Some(row) = rows.next()? {
            let values = (0..columns)
                .map(|i| value(row.get_ref(i)?))
                .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }
}
