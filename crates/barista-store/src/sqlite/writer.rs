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
    /// Time the writer thread spent running and committing batches.
    pub(crate) busy_micros: AtomicU64,
}

impl Stats {
    /// Counts a wait that began at `since`; its length in microseconds.
    pub(crate) fn waited(&self, since: Instant) -> u64 {
        let micros = since.elapsed().as_micros() as u64;
        self.wait_micros.fetch_add(micros, Relaxed);
        self.waits.fetch_add(1, Relaxed);
        micros
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

    /// Runs `f` in the next group-committed transaction and resolves after
    /// the commit; `on_commit` runs on the writer thread once it is durable,
    /// whether or not anyone still waits for the answer.
    pub(crate) async fn write<T, F, C>(&self, f: F, on_commit: C) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Mutex<Connection>) -> Result<T> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        let (job, rx) = job(f, on_commit, self.stats.clone());
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        let (outcome, waited) = rx
            .await
            .map_err(|_| StoreError::Internal("a write job failed without an answer".into()))?;
        // The time in the queue is this write's wait for the writer.
        crate::timing::pool_waited(waited);
        outcome
    }
}

/// `f` as a job, and where its answer arrives.
/// The answer comes with the time the job waited in the queue, in microseconds.
fn job<T, F, C>(f: F, on_commit: C, stats: Arc<Stats>) -> (Job, oneshot::Receiver<(Result<T>, u64)>)
where
    T: Send + 'static,
    F: FnOnce(&Mutex<Connection>) -> Result<T> + Send + 'static,
    C: FnOnce(&T) + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let queued = Instant::now();
    let job: Job = Box::new(move |conn| {
        let waited = stats.waited(queued);
        let result = conn.map(f);
        let stands = matches!(result, Some(Ok(_)));
        let reply: Reply = Box::new(move |commit| {
            let outcome = commit.and_then(|()| {
                result.unwrap_or_else(|| Err(StoreError::Internal("write not run".into())))
            });
            if let Ok(value) = &outcome {
                on_commit(value);
            }
            let _ = tx.send((outcome, waited));
        });
        (stands, reply)
    });
    (job, rx)
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
        let began = Instant::now();
        commit_batch(&conn, batch, stats);
        stats
            .busy_micros
            .fetch_add(began.elapsed().as_micros() as u64, Relaxed);
    }
}

/// Whether SQLite ended the transaction itself: it rolls the whole
/// transaction back on some errors (a full disk, an I/O error), after which a
/// `SAVEPOINT` would open a new one that `RELEASE` commits at once.
fn rolled_back(conn: &Mutex<Connection>) -> bool {
    conn.lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_autocommit()
}

fn commit_batch(conn: &Mutex<Connection>, batch: Vec<Job>, stats: &Stats) {
    let execute = |sql: &str| {
        conn.lock()
            .unwrap_or_else(|p| p.into_inner())
            .execute_batch(sql)
    };
    let mut jobs = batch.into_iter().peekable();
    // Normally once; again for the jobs left when SQLite rolled a transaction back.
    while jobs.peek().is_some() {
        if let Err(e) = execute("BEGIN IMMEDIATE") {
            let err = StoreError::from(e);
            tracing::warn!(error = %err, jobs = jobs.len(), "could not start a write transaction");
            for job in jobs {
                let (_, reply) = job(None);
                reply(Err(err.clone()));
            }
            return;
        }
        let mut replies = Vec::with_capacity(jobs.len());
        let mut lost = false;
        for job in jobs.by_ref() {
            if let Err(e) = execute("SAVEPOINT job") {
                let (_, reply) = job(None);
                reply(Err(e.into()));
                if rolled_back(conn) {
                    lost = true;
                    break;
                }
                continue;
            }
            match catch_unwind(AssertUnwindSafe(|| job(Some(conn)))) {
                Ok((stands, reply)) => {
                    replies.push(reply);
                    if rolled_back(conn) {
                        lost = true;
                        break;
                    }
                    let end = if stands {
                        "RELEASE job"
                    } else {
                        "ROLLBACK TO job; RELEASE job"
                    };
                    let _ = execute(end);
                }
                Err(_) => {
                    // The job's sender was dropped in the unwind: its caller sees an internal error.
                    tracing::error!("a write job panicked; its changes were rolled back");
                    if rolled_back(conn) {
                        lost = true;
                        break;
                    }
                    let _ = execute("ROLLBACK TO job; RELEASE job");
                }
            }
        }
        if lost {
            // Everything this transaction did is gone: say so to each job in
            // it, and run the rest in a new transaction.
            tracing::warn!(
                jobs = replies.len(),
                "the database rolled a write transaction back"
            );
            let err = StoreError::Unavailable(
                "the database rolled the write back (full disk or I/O error); nothing was written"
                    .into(),
            );
            for reply in replies {
                reply(Err(err.clone()));
            }
            continue;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(conn: &Mutex<Connection>) -> Vec<i64> {
        let conn = conn.lock().unwrap();
        let mut stmt = conn.prepare("SELECT id FROM t ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// A batch whose transaction SQLite rolls back (here a full database, by a
    /// tiny `max_page_count`): every job answers as the database ended up, so
    /// no job is told "failed" while its row was committed, or the reverse.
    #[test]
    fn a_batch_rolled_back_by_a_full_database_answers_each_job_truthfully() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("full.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);",
        )
        .unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.query_row(
            &format!("PRAGMA max_page_count = {}", pages + 2),
            [],
            |_| Ok(()),
        )
        .unwrap();
        let conn = Mutex::new(conn);
        let stats = Arc::new(Stats::default());
        let insert = |id: i64, bytes: usize| {
            job(
                move |c: &Mutex<Connection>| {
                    c.lock()
                        .unwrap()
                        .execute(
                            "INSERT INTO t (id, body) VALUES (?1, zeroblob(?2))",
                            rusqlite::params![id, bytes as i64],
                        )
                        .map(|_| id)
                        .map_err(StoreError::from)
                },
                |_: &i64| {},
                stats.clone(),
            )
        };
        // Job 2 does not fit: SQLite rolls the whole transaction back, job 1 with it.
        let (j1, r1) = insert(1, 10);
        let (j2, r2) = insert(2, 100_000);
        let (j3, r3) = insert(3, 10);
        commit_batch(&conn, vec![j1, j2, j3], &stats);
        let answers: Vec<bool> = [r1, r2, r3]
            .into_iter()
            .map(|mut r| r.try_recv().expect("every job is answered").0.is_ok())
            .collect();
        let stored = rows(&conn);
        for (i, ok) in answers.iter().enumerate() {
            let id = i as i64 + 1;
            assert_eq!(
                *ok,
                stored.contains(&id),
                "job {id} answered ok={ok} but the table holds {stored:?}"
            );
        }
        assert_eq!(
            answers,
            [false, false, true],
            "job 3 runs in a new transaction"
        );
        assert!(rolled_back(&conn), "no transaction is left open");
    }
}
