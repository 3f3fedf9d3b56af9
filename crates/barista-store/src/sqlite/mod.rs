//! The embedded SQLite backend: one file, WAL mode, `synchronous=FULL`.
//!
//! Reads run on a small pool of connections in blocking threads (WAL lets them
//! run beside the writer); writes go to the group-committing [`Writer`]. The
//! transactions themselves are the shared ones of `transactions.rs`: their
//! statements never wait on SQLite, so each runs to completion in one poll.

pub mod backup;
mod conn;
mod schema;
mod writer;

use crate::conn::TxResult;
use crate::db::{Backend, finish};
use crate::timing::{self, Timings};
use crate::transactions::{Tx, Written};
use crate::{Feed, OpenOptions, PoolStats, Result, StoreError};
use conn::SqliteConn;
use rusqlite::{Connection, OpenFlags};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use writer::{Stats, Writer};

/// Idle read connections kept for reuse; more are opened under load and closed after.
const IDLE_READERS: usize = 8;

pub struct Sqlite {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: OpenOptions,
    /// A `std` mutex: it guards a pop or a push, never a query or an `.await`.
    readers: Mutex<Vec<Connection>>,
    writer: Writer,
    feed: Feed,
    stats: Arc<Stats>,
    timings: Timings,
}

/// Opens a connection in WAL mode. Switching a new database to WAL, or
/// opening one whose WAL another process is recovering, can be refused as
/// busy without SQLite's busy handler being asked (several servers starting
/// together on one new file do it), so that is retried within the busy timeout.
fn connect(path: &Path, options: &OpenOptions) -> rusqlite::Result<Connection> {
    let deadline = std::time::Instant::now() + options.busy_timeout;
    loop {
        match try_connect(path, options) {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            connected => return connected,
        }
    }
}

fn try_connect(path: &Path, options: &OpenOptions) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(options.busy_timeout)?;
    // FULL: a commit is on disk, WAL included, before its caller hears of it.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}

/// Runs a transaction on SQLite: its statements are synchronous, so its future
/// is ready at the first poll.
fn run_now<T: Tx>(tx: &T, conn: &Mutex<Connection>) -> Result<T::Output> {
    let conn = SqliteConn(conn);
    let future = std::pin::pin!(tx.run(&conn));
    let mut context = Context::from_waker(Waker::noop());
    let outcome: TxResult<T::Output> = match future.poll(&mut context) {
        Poll::Ready(outcome) => outcome,
        Poll::Pending => Err(StoreError::Internal("a SQLite transaction waited".into()).into()),
    };
    finish(outcome)
}

impl Sqlite {
    /// Opens (creating if needed) the database file and applies the schema.
    pub async fn open(path: &Path, options: &OpenOptions) -> Result<Self> {
        let path = path.to_owned();
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = connect(&path, &options).map_err(|e| {
                StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
            })?;
            schema::migrate(&mut conn)?;
            let stats = Arc::new(Stats::default());
            let writer = Writer::start(conn, stats.clone())
                .map_err(|e| StoreError::Internal(format!("cannot start the writer: {e}")))?;
            Ok(Self {
                inner: Arc::new(Inner {
                    path,
                    options,
                    readers: Mutex::new(Vec::new()),
                    writer,
                    feed: Feed::default(),
                    stats,
                    timings: Timings::default(),
                }),
            })
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
    }
}

impl Inner {
    fn reader(&self) -> Result<Connection> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => {
                let conn = connect(&self.path, &self.options)?;
                conn.execute_batch("PRAGMA query_only = ON")?;
                Ok(conn)
            }
        }
    }

    fn read<T: Tx>(&self, tx: &T) -> Result<T::Output> {
        let conn = Mutex::new(self.reader()?);
        self.stats.in_use.fetch_add(1, Relaxed);
        let result = if T::SNAPSHOT {
            // One snapshot for every statement of the read.
            let begun = conn.lock().map(|c| c.execute_batch("BEGIN")).ok();
            let result = run_now(tx, &conn);
            if let Some(Ok(())) = begun {
                let _ = conn.lock().map(|c| c.execute_batch("COMMIT"));
            }
            result
        } else {
            run_now(tx, &conn)
        };
        self.stats.in_use.fetch_sub(1, Relaxed);
        let conn = conn.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

impl Backend for Sqlite {
    async fn read<T: Tx>(&self, tx: T) -> Result<T::Output> {
        let inner = self.inner.clone();
        let asked = Instant::now();
        let (result, waited) = tokio::task::spawn_blocking(move || {
            let waited = inner.stats.waited(asked);
            (inner.read(&tx), waited)
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?;
        timing::pool_waited(waited);
        result
    }

    async fn write<T: Tx>(&self, tx: T) -> Result<T::Output> {
        self.inner
            .writer
            .write(move |conn| run_now(&tx, conn), |_| {})
            .await
    }

    /// Announced by the writer thread right after the commit, so a caller
    /// that stops waiting (its client disconnected) cannot lose the wake-up.
    async fn write_announced<T: Send + 'static, W: Tx<Output = Written<T>>>(
        &self,
        tx: W,
    ) -> Result<T> {
        let inner = self.inner.clone();
        let written = self
            .inner
            .writer
            .write(
                move |conn| run_now(&tx, conn),
                move |written: &Written<T>| inner.feed.announce(written.shop_id, &written.changes),
            )
            .await?;
        Ok(written.value)
    }

    fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    fn timings(&self) -> &Timings {
        &self.inner.timings
    }

    fn pool_stats(&self) -> PoolStats {
        let s = &self.inner.stats;
        PoolStats {
            idle: self
                .inner
                .readers
                .lock()
                .map(|r| r.len() as u64)
                .unwrap_or(0),
            // The writer's connection is always open; readers in use beside it.
            in_use: s.in_use.load(Relaxed) + 1,
            max: IDLE_READERS as u64 + 1,
            wait_micros: s.wait_micros.load(Relaxed),
            waits: s.waits.load(Relaxed),
            commits: s.commits.load(Relaxed),
            writer_busy_micros: Some(s.busy_micros.load(Relaxed)),
            committed_writes: s.committed_writes.load(Relaxed),
        }
    }
}
