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
//!
//! When one statement takes most of the database's time, the doctor reads its
//! generic plan (`EXPLAIN` of the prepared statement with
//! `plan_cache_mode = force_generic_plan`, in a `READ ONLY` transaction that
//! is rolled back: nothing is executed, never `ANALYZE`), the sizes and
//! indexes of the tables it reads, and their scan counters
//! (`pg_stat_user_tables`), so the verdict can name the index it lacks
//! ([`plan`]). Planning a statement needs the privileges its execution
//! would (`SELECT` on the tables for a read: the role `pg_read_all_data`);
//! where they are missing the verdict says so and quotes the statement alone.

pub mod plan;

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
    /// pg_stat_statements' id of it, to read its whole text.
    #[serde(skip)]
    pub id: i64,
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
                    id: *id,
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
        Some(("LWLock", _)) => "an internal lock",
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
        // kind -> (sessions, the events of that kind, sessions per table)
        type ByKind = BTreeMap<&'static str, (u64, Vec<String>, BTreeMap<String, u64>)>;
        let mut by_kind = ByKind::new();
        for ((event, table), n) in self.waits.iter().filter(|((e, _), _)| e != "CPU") {
            let entry = by_kind.entry(kind(event)).or_default();
            entry.0 += n;
            if !entry.1.contains(event) {
                entry.1.push(event.clone());
            }
            if let Some(table) = table {
                *entry.2.entry(table.clone()).or_default() += n;
            }
        }
        // The kind most sessions waited in; its table, the one most of them
        // named (a waiter at the head of a row's queue names none).
        let (kind, (n, events, tables)) = by_kind.into_iter().max_by_key(|(_, (n, _, _))| *n)?;
        let table = tables
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(table, _)| table);
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
    /// Where it is, for a connection of its own to plan statements on.
    url: String,
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
            url: url.to_owned(),
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
                        id: row.get(0),
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

    /// The whole text of a statement pg_stat_statements tracks.
    pub async fn statement_text(&self, id: i64) -> Option<String> {
        let row = self
            .client
            .query_opt(
                "SELECT query FROM pg_stat_statements WHERE queryid = $1 LIMIT 1",
                &[&id],
            )
            .await
            .ok()??;
        row.get(0)
    }

    /// The generic plan of `query` (as pg_stat_statements normalizes it, with
    /// `$1`... for its values), as `EXPLAIN (FORMAT JSON)` gives it. Planned
    /// on a connection of its own, in a read-only transaction rolled back.
    pub async fn generic_plan(&self, query: &str) -> Result<serde_json::Value, String> {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to plan it: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let parameters = parameter_count(query);
        let arguments = if parameters == 0 {
            String::new()
        } else {
            format!("({})", vec!["NULL"; parameters].join(", "))
        };
        let explain = async {
            client
                .batch_execute(
                    "BEGIN READ ONLY; SET LOCAL statement_timeout = '10s'; \
                     SET LOCAL plan_cache_mode = force_generic_plan",
                )
                .await?;
            client
                .batch_execute(&format!("PREPARE barista_doctor_plan AS {query}"))
                .await?;
            client
                .simple_query(&format!(
                    "EXPLAIN (FORMAT JSON) EXECUTE barista_doctor_plan{arguments}"
                ))
                .await
        };
        let answer = explain.await;
        let _ = client.batch_execute("ROLLBACK").await;
        let messages = answer.map_err(|e| match e.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => e.to_string(),
        })?;
        let text = messages
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .ok_or("EXPLAIN answered no plan")?;
        serde_json::from_str(&text).map_err(|e| format!("the plan is not JSON: {e}"))
    }

    /// The tables the statistics know, with their sizes and indexes.
    pub async fn tables(&self) -> Result<Vec<plan::Table>, String> {
        let sizes = self
            .client
            .query(
                "SELECT c.relname::text, greatest(c.reltuples, s.n_live_tup)::float8
                   FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        let indexes = self
            .client
            .query(
                "SELECT t.relname::text, i.relname::text, array_agg(a.attname::text ORDER BY k.n)
                   FROM pg_index x
                   JOIN pg_class t ON t.oid = x.indrelid
                   JOIN pg_class i ON i.oid = x.indexrelid
                   CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                  WHERE t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
                  GROUP BY t.relname, i.relname",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(sizes
            .iter()
            .map(|row| {
                let name: String = row.get(0);
                plan::Table {
                    indexes: indexes
                        .iter()
                        .filter(|i| i.get::<_, String>(0) == name)
                        .map(|i| (i.get(1), i.get(2)))
                        .collect(),
                    rows: row.get(1),
                    name,
                }
            })
            .collect())
    }

    /// Each table's scan counters now (pg_stat_user_tables).
    pub async fn scans(&self) -> Option<Scans> {
        let rows = self
            .client
            .query(
                "SELECT relname::text, seq_scan::float8, seq_tup_read::float8,
                        coalesce(idx_scan, 0)::float8, coalesce(idx_tup_fetch, 0)::float8
                   FROM pg_stat_user_tables",
                &[],
            )
            .await
            .ok()?;
        Some(Scans(
            rows.iter()
                .map(|r| {
                    let counts = TableScans {
                        table: r.get(0),
                        sequential: r.get(1),
                        sequential_rows: r.get(2),
                        index: r.get(3),
                        index_rows: r.get(4),
                    };
                    (counts.table.clone(), counts)
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

/// The highest `$n` of a normalized statement: how many values it takes.
fn parameter_count(query: &str) -> usize {
    let bytes = query.as_bytes();
    let mut most = 0;
    for (i, _) in query.match_indices('$') {
        let digits: String = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|b| *b as char)
            .collect();
        if let Ok(n) = digits.parse::<usize>() {
            most = most.max(n);
        }
    }
    most
}

/// How one table was read, counted since the server started.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableScans {
    pub table: String,
    /// Sequential scans, and the rows they read.
    pub sequential: f64,
    pub sequential_rows: f64,
    /// Index scans, and the rows they fetched.
    pub index: f64,
    pub index_rows: f64,
}

/// Every table's scan counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct Scans(BTreeMap<String, TableScans>);

impl Scans {
    /// The tables read since `before`, the most rows read first.
    pub fn since(&self, before: &Scans) -> Vec<TableScans> {
        let mut read: Vec<TableScans> = self
            .0
            .values()
            .map(|now| {
                let then = before.0.get(&now.table);
                let less = |f: fn(&TableScans) -> f64| f(now) - then.map_or(0.0, f);
                TableScans {
                    table: now.table.clone(),
                    sequential: less(|t| t.sequential),
                    sequential_rows: less(|t| t.sequential_rows),
                    index: less(|t| t.index),
                    index_rows: less(|t| t.index_rows),
                }
            })
            .filter(|t| t.sequential + t.index > 0.0)
            .collect();
        read.sort_by(|a, b| {
            (b.sequential_rows + b.index_rows).total_cmp(&(a.sequential_rows + a.index_rows))
        });
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_takes_as_many_values_as_its_highest_parameter() {
        assert_eq!(parameter_count("SELECT 1"), 0);
        assert_eq!(
            parameter_count("SELECT * FROM orders WHERE shop_id = $1 AND status = $3 LIMIT $12"),
            12
        );
        assert_eq!(parameter_count("SELECT '$' || $2"), 2);
    }

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
    fn a_row_lock_s_table_is_the_one_most_waiters_name() {
        // Waiters at the head of a row's queue name no table; the rest do.
        let level = counts(
            10,
            60,
            &[
                ("Lock/transactionid", None, 30),
                ("Lock/tuple", Some("menu_items"), 20),
                ("IO/WALSync", None, 10),
            ],
        );
        let top = level.top().unwrap();
        assert_eq!(top.kind, "a row lock");
        assert_eq!(top.sessions, 5.0);
        assert_eq!(top.table.as_deref(), Some("menu_items"));
    }

    #[test]
    fn no_samples_say_nothing() {
        assert_eq!(Counts::default().top(), None);
        let busy = counts(5, 10, &[("CPU", None, 10)]);
        assert_eq!(busy.top(), None, "running is not waiting");
    }
}
