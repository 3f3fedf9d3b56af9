//! PostgreSQL's side of a diagnosis (`barista doctor --database URL`): what the
//! service's sessions wait on while the doctor loads it.
//!
//! Ten times a second, one read-only query of `pg_stat_activity` counts the
//! database's active client sessions by wait event, and for a lock wait, the
//! table the lock is on (a row-lock waiter holds or waits for a `tuple` lock on
//! the row's table). A level's figures are the averages over its samples: "58
//! of 64 sessions in Lock/transactionid on table shops". Seeing other users'
//! sessions needs the role `pg_read_all_stats` (or a superuser), else only the
//! doctor's own user's sessions are counted.
//!
//! Where the extension `pg_stat_statements` is installed in the database, the
//! doctor also reads it before and after the diagnosis: the statements that
//! took the most execution time in between (lock waits inside a statement
//! count in its time), so the verdict can quote the statement to change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Each session at one sample: its wait event (`CPU` when running), the table of
/// a tuple lock it holds or waits for, the tables it writes (row-level locks
/// on relations), and its statement.
const QUERY: &str = "SELECT a.wait_event_type, a.wait_event,
    (SELECT c.relname::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
      WHERE l.pid = a.pid AND l.locktype = 'tuple' LIMIT 1),
    ARRAY(SELECT c.relname::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
      WHERE l.pid = a.pid AND l.locktype = 'relation' AND c.relkind IN ('r', 'p')
        AND l.mode IN ('RowExclusiveLock', 'RowShareLock')),
    left(a.query, 4000)
  FROM pg_stat_activity a
  WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
    AND a.datname = current_database() AND a.state = 'active'";

/// The table a row-lock waiter waits on. A waiter queued for a row holds or
/// waits for a `tuple` lock naming it; one at the head of the queue waits on
/// the holder's transaction id, which names no table: then it is the table its
/// statement writes (`UPDATE t`, `DELETE FROM t`, `SELECT ... FOR UPDATE` of
/// `t`) among those it holds row locks on, or the only one it holds.
fn locked_table(tuple: Option<String>, writes: &[String], statement: &str) -> Option<String> {
    if tuple.is_some() {
        return tuple;
    }
    let text = statement.to_ascii_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let named = words.windows(2).find_map(|pair| {
        let table = pair[1]
            .rsplit('.')
            .next()
            .unwrap_or(pair[1])
            .trim_matches('"');
        (matches!(pair[0], "update" | "from" | "into") && writes.iter().any(|w| w == table))
            .then(|| table.to_owned())
    });
    named.or_else(|| (writes.len() == 1).then(|| writes[0].clone()))
}

const EVERY: Duration = Duration::from_millis(100);

/// Every statement of this database that pg_stat_statements tracks (one row
/// per statement whatever user ran it), but the doctor's own reads.
const STATEMENTS: &str = "SELECT s.queryid, min(left(s.query, 300)), sum(s.calls)::float8,
    sum(s.total_exec_time)::float8
  FROM pg_stat_statements s
  WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND s.queryid IS NOT NULL
    AND s.query NOT LIKE '%pg_stat_activity%' AND s.query NOT LIKE '%pg_stat_statements%'
  GROUP BY s.queryid";

/// One statement's cumulative figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatementTime {
    /// The normalized text (`$1` for constants), cut to 300 characters.
    pub query: String,
    pub calls: f64,
    /// Execution time in total, milliseconds.
    pub total_ms: f64,
    /// Its share of the execution time of every statement (in a difference).
    pub share: f64,
}

/// pg_stat_statements at one moment, by query id.
#[derive(Debug, Clone, Default)]
pub struct Statements(BTreeMap<i64, StatementTime>);

impl Statements {
    /// The statements that took the most time between `before` and `self`, at
    /// most `n`, with their shares of it.
    pub fn top_since(&self, before: &Statements, n: usize) -> Vec<StatementTime> {
        let mut grown: Vec<StatementTime> = self
            .0
            .iter()
            .map(|(id, s)| {
                let (calls, ms) = before
                    .0
                    .get(id)
                    .map_or((0.0, 0.0), |b| (b.calls, b.total_ms));
                StatementTime {
                    query: s.query.clone(),
                    calls: s.calls - calls,
                    total_ms: s.total_ms - ms,
                    share: 0.0,
                }
            })
            .filter(|s| s.calls > 0.0 && s.total_ms > 0.0)
            .collect();
        let total: f64 = grown.iter().map(|s| s.total_ms).sum();
        grown.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        grown.truncate(n);
        for s in &mut grown {
            s.share = s.total_ms / total.max(1e-9);
        }
        grown
    }
}

/// Cumulative counts; a level uses the difference of two.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub samples: u64,
    /// Active sessions, summed over the samples.
    pub active: u64,
    /// Sessions by (wait event, table), summed over the samples.
    pub waits: BTreeMap<(String, Option<String>), u64>,
}

/// What the sessions waited on most during a level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Waiting {
    /// `Lock/transactionid`, `IO/WALSync`, ...
    pub events: Vec<String>,
    /// The table of a lock wait.
    pub table: Option<String>,
    /// Sessions in it, on average.
    pub sessions: f64,
    /// Active sessions, on average.
    pub active: f64,
    /// `a row lock`, `a table lock`, `disk or WAL I/O`, ...
    pub kind: &'static str,
}

/// The kind of wait an event is, in words; row locks are one kind whatever
/// the event (`tuple` while queued for the row, `transactionid` at its head).
fn kind(event: &str) -> &'static str {
    match event.split_once('/') {
        Some(("Lock", "tuple" | "transactionid")) => "a row lock",
        Some(("Lock", "relation" | "extend")) => "a table lock",
        Some(("Lock", _)) => "a lock",
        Some(("LWLock", _)) => "an internal lock of PostgreSQL",
        Some(("IO", _)) => "disk or WAL I/O",
        Some(("Client", _)) => "the application (a transaction left open between statements)",
        Some(("IPC", _)) => "another PostgreSQL process",
        _ => "something else",
    }
}

impl Counts {
    /// What happened between `before` and `self`.
    pub fn since(&self, before: &Counts) -> Counts {
        let mut waits = self.waits.clone();
        for (key, n) in &before.waits {
            if let Some(v) = waits.get_mut(key) {
                *v = v.saturating_sub(*n);
            }
        }
        waits.retain(|_, n| *n > 0);
        Counts {
            samples: self.samples.saturating_sub(before.samples),
            active: self.active.saturating_sub(before.active),
            waits,
        }
    }

    /// The largest kind of wait (by sessions; running on a CPU is not a wait),
    /// with its table when it has one.
    pub fn top(&self) -> Option<Waiting> {
        if self.samples == 0 {
            return None;
        }
        // (kind, table) -> (sessions, the events of that kind)
        type ByKind = BTreeMap<(&'static str, Option<String>), (u64, Vec<String>)>;
        let mut by_kind = ByKind::new();
        for ((event, table), n) in self.waits.iter().filter(|((e, _), _)| e != "CPU") {
            let entry = by_kind.entry((kind(event), table.clone())).or_default();
            entry.0 += n;
            if !entry.1.contains(event) {
                entry.1.push(event.clone());
            }
        }
        let ((kind, table), (n, events)) = by_kind.into_iter().max_by_key(|(_, (n, _))| *n)?;
        let samples = self.samples as f64;
        Some(Waiting {
            events,
            table,
            sessions: n as f64 / samples,
            active: self.active as f64 / samples,
            kind,
        })
    }
}

/// A connection sampling the database in the background.
#[derive(Debug)]
pub struct Database {
    counts: Arc<Mutex<Counts>>,
    task: tokio::task::JoinHandle<()>,
    client: Arc<tokio_postgres::Client>,
    /// The prepared read of pg_stat_statements, where it can be read.
    statements: Option<tokio_postgres::Statement>,
}

impl Drop for Database {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Database {
    /// Connects (without TLS: `sslmode=disable` or `prefer`), checks the query
    /// runs, and starts sampling.
    pub async fn connect(url: &str) -> Result<Database, String> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to the database: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let statement = client
            .prepare(QUERY)
            .await
            .map_err(|e| format!("cannot read pg_stat_activity: {e}"))?;
        // Not installed here (or not preloaded): the verdict goes without it.
        let statements = client.prepare(STATEMENTS).await.ok();
        let client = Arc::new(client);
        let counts = Arc::new(Mutex::new(Counts::default()));
        let shared = counts.clone();
        let sampler = client.clone();
        let task = tokio::spawn(async move {
            let client = sampler;
            let mut tick = tokio::time::interval(EVERY);
            loop {
                tick.tick().await;
                let Ok(rows) = client.query(&statement, &[]).await else {
                    continue;
                };
                let mut counts = shared.lock().unwrap_or_else(|p| p.into_inner());
                counts.samples += 1;
                for row in rows {
                    counts.active += 1;
                    let kind: Option<String> = row.get(0);
                    let event: Option<String> = row.get(1);
                    let key = match (kind, event) {
                        (Some(kind), Some(event)) => format!("{kind}/{event}"),
                        _ => "CPU".to_owned(),
                    };
                    let table = key.starts_with("Lock/").then(|| {
                        let writes: Vec<String> = row.get(3);
                        let statement: Option<String> = row.get(4);
                        locked_table(row.get(2), &writes, statement.as_deref().unwrap_or(""))
                    });
                    let table = table.flatten();
                    *counts.waits.entry((key, table)).or_default() += 1;
                }
            }
        });
        Ok(Database {
            counts,
            task,
            client,
            statements,
        })
    }

    /// pg_stat_statements now, when the database has it.
    pub async fn statements(&self) -> Option<Statements> {
        let rows = self
            .client
            .query(self.statements.as_ref()?, &[])
            .await
            .ok()?;
        Some(Statements(
            rows.iter()
                .map(|row| {
                    let time = StatementTime {
                        query: row.get::<_, Option<String>>(1).unwrap_or_default(),
                        calls: row.get(2),
                        total_ms: row.get(3),
                        share: 0.0,
                    };
                    (row.get(0), time)
                })
                .collect(),
        ))
    }

    /// The counts so far.
    pub fn snapshot(&self) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(samples: u64, active: u64, waits: &[(&str, Option<&str>, u64)]) -> Counts {
        Counts {
            samples,
            active,
            waits: waits
                .iter()
                .map(|(e, t, n)| (((*e).to_owned(), t.map(str::to_owned)), *n))
                .collect(),
        }
    }

    #[test]
    fn row_lock_waits_are_one_kind_and_name_their_table() {
        let before = counts(10, 50, &[("CPU", None, 50)]);
        let after = counts(
            20,
            690,
            &[
                ("CPU", None, 90),
                ("Lock/tuple", Some("shops"), 500),
                ("Lock/transactionid", Some("shops"), 80),
                ("IO/WALSync", None, 70),
            ],
        );
        let level = after.since(&before);
        assert_eq!(level.samples, 10);
        let top = level.top().unwrap();
        assert_eq!(top.kind, "a row lock");
        assert_eq!(top.table.as_deref(), Some("shops"));
        assert_eq!(top.sessions, 58.0);
        assert_eq!(top.active, 64.0);
        assert_eq!(top.events, ["Lock/transactionid", "Lock/tuple"]);
    }

    #[test]
    fn a_row_lock_waiter_is_placed_on_the_table_its_statement_writes() {
        let writes = [
            "idempotency_keys".to_owned(),
            "menu_items".to_owned(),
            "orders".to_owned(),
        ];
        let update = "UPDATE menu_items SET stock = stock - $3 WHERE shop_id = $1";
        assert_eq!(
            locked_table(None, &writes, update).as_deref(),
            Some("menu_items")
        );
        let batch = "BEGIN; UPDATE public.\"menu_items\" SET n = n + 1; COMMIT";
        assert_eq!(
            locked_table(None, &writes, batch).as_deref(),
            Some("menu_items")
        );
        let only = ["shops".to_owned()];
        assert_eq!(
            locked_table(None, &only, "SELECT 1").as_deref(),
            Some("shops")
        );
        assert_eq!(locked_table(None, &writes, "SELECT 1"), None, "ambiguous");
        assert_eq!(
            locked_table(Some("orders".into()), &writes, update).as_deref(),
            Some("orders"),
            "a tuple lock names it"
        );
    }

    #[test]
    fn no_samples_say_nothing() {
        assert_eq!(Counts::default().top(), None);
        let busy = counts(5, 10, &[("CPU", None, 10)]);
        assert_eq!(busy.top(), None, "running is not waiting");
    }
}
