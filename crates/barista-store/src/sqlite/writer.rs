//! The single SQLite writer and its group commit.
//!
//! SQLite allows one writer at a time, so Barista gives it exactly one: a
//! thread that owns the write connection. Requests queue jobs on a channel;
//! the thread takes every job waiting (up to `MAX_BATCH`), runs them in one
//! `BEGIN IMMEDIATE ... COMMIT` with a savepoint each, and answers them only
//! after the commit (and its fsync, `synchronous=FULL`) has succeeded. While
//! one batch is being fsynced the next one gathers, so the cost of durability
//! is shared by every order that arrives meanwhile, with no timer or delay.

use crate::{Result, StoreError};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;
use tokio::sync::oneshot;

/// Counters the writer and the readers share with metrics.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) in_use: AtomicU64,
    pub(crate) wait_micros: AtomicU64,
    pub(crate) waits: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) committed_writes: AtomicU64,
}

impl Stats {
    pub(crate) fn waited(&self, since: Instant) {
        self.wait_micros
            .fetch_add(since.elapsed().as_micros() as u64, Relaxed);
        self.waits.fetch_add(1, Relaxed);
    }
}

/// Most jobs in one transaction: bounds the latency one batch adds to its first job.
const MAX_BATCH: usize = 256;

/// Called once the batch's fate is known: `Ok` after a durable commit.
type Reply = Box<dyn FnOnce(Result<()>) + Send>;
/// Runs inside the batch's transaction (or, given `None`, not at all because the
/// transaction could not start); says whether its savepoint stands.
type Job = Box<dyn FnOnce(Option<&Mutex<Connection>>) -> (bool, Reply) + Send>;

#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    stats: Arc<Stats>,
}

impl Writer {
    /// Starts the writer thread; it ends when every `Writer` handle is dropped.
    pub(crate) fn start(conn: Connection, stats: Arc<Stats>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, queue, &thread_stats))?;
        Ok(Self { jobs, stats })
    }

    /// Runs `f` in the next group-committed transaction and resolves after the commit.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Mutex<Connection>) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let queued = Instant::now();
        let stats = self.stats.clone();
        let job: Job = Box::new(move |conn| {
            stats.waited(queued);
            let result = conn.map(f);
            let stands = matches!(result, Some(Ok(_)));
            let reply: Reply = Box::new(move |commit| {
                let outcome = commit.and_then(|()| {
                    result.unwrap_or_else(|| Err(StoreError::Internal("write not run".into())))
                });
                let _ = tx.send(outcome);
            });
            (stands, reply)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("a write job failed without an answer".into()))?
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>, stats: &Stats) {
    // A `std` mutex only because jobs see the connection as a `Sync` value;
    // this thread alone ever locks it.
    let conn = Mutex::new(conn);
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch, stats);
    }
}

fn commit_batch(conn: &Mutex<Connection>, batch: Vec<Job>, stats: &Stats) {
    let execute = |sql: &str| {
        conn.lock()
            .unwrap_or_else(|p| p.into_inner())
            .execute_batch(sql)
    };
    if let Err(e) = execute("BEGIN IMMEDIATE") {
        let err = StoreError::from(e);
        tracing::warn!(error = %err, jobs = batch.len(), "could not start a write transaction");
        for job in batch {
            let (_, reply) = job(None);
            reply(Err(err.clone()));
        }
        return;
    }
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = execute("SAVEPOINT job") {
            let (_, reply) = job(None);
            reply(Err(e.into()));
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| job(Some(conn)))) {
            Ok((stands, reply)) => {
                let end = if stands {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                let _ = execute(end);
                replies.push(reply);
            }
            Err(_) => {
                // The job's sender was dropped in the unwind: its caller sees an internal error.
                tracing::error!("a write job panicked; its changes were rolled back");
                let _ = execute("ROLLBACK TO job; RELEASE job");
            }
        }
    }
    let commit = execute("COMMIT").map_err(StoreError::from);
    if commit.is_err() {
        let _ = execute("ROLLBACK");
    } else {
        stats.commits.fetch_add(1, Relaxed);
        stats
            .committed_writes
            .fetch_add(replies.len() as u64, Relaxed);
    }
    for reply in replies {
        reply(commit.clone());
    }
}
