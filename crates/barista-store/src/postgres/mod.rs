//! The PostgreSQL backend, for scale-out: any number of stateless replicas
//! share one database.
//!
//! - Connections come from a deadpool pool (`--db-pool-size`); a request that
//!   waits longer than `--db-pool-timeout` for one gets 503 `unavailable`, as
//!   does one that meets a server shutting down, restarting or out of
//!   connections. Each connection has a `statement_timeout`, prepares every
//!   statement once, and speaks TLS as the URL's `sslmode` asks (`tls.rs`).
//! - Writes commit with `synchronous_commit` as the server has it (on by
//!   default: durable before the answer); deadlocks and serialization failures
//!   are retried.
//! - Other replicas hear of a commit through `NOTIFY`, sent *after* the commit
//!   by one task per replica that coalesces what it has to say (PostgreSQL
//!   serializes the commits of transactions that notify, so a write
//!   transaction never notifies). They only wake up: readers re-read the
//!   tables, and re-read everything after the listener reconnects.

mod conn;
#[cfg(test)]
mod plans;
mod schema;
mod tls;

use crate::conn::{TxError, TxResult};
use crate::db::{Backend, finish};
use crate::timing::{self, Timings};
use crate::transactions::{Changes, MenuChange, Tx};
use crate::{EventPos, Feed, OpenOptions, PoolStats, Result, StoreError};
use conn::PgConn;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long opening a connection to one host may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long data sent may go unacknowledged before the connection is
/// dropped: a dead database machine is noticed in this time.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts of a transaction that keeps hitting deadlocks or serialization failures.
const ATTEMPTS: usize = 8;
/// The channel replicas tell each other about commits on.
const CHANNEL: &str = "barista";
/// The longest `NOTIFY` payload PostgreSQL takes is 8000 bytes.
const PAYLOAD_MAX: usize = 7900;
/// The notifier sends at most one round of notes this often: each `NOTIFY`
/// wakes every listening replica's backend, and what a replica commits in
/// this time goes out together. Other replicas hear of a change this much later.
const NOTIFY_EVERY: Duration = Duration::from_millis(50);

pub struct Postgres {
    pool: Pool,
    feed: Arc<Feed>,
    /// What this replica committed, for the notifier to tell the others.
    notes: mpsc::UnboundedSender<(i64, Changes)>,
    waits: AtomicU64,
    wait_micros: AtomicU64,
    commits: AtomicU64,
    timings: Arc<Timings>,
    /// How long a COMMIT may wait (for a synchronous standby among others):
    /// twice the statement timeout.
    commit_timeout: Duration,
    /// Commits whose wait for a synchronous standby was cancelled, as the
    /// pool's connections heard the server warn.
    sync_cancels: Arc<AtomicU64>,
}

impl Postgres {
    /// Connects, applies the schema, and starts telling and listening.
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Self> {
        let tls::Target { mut config, tls } = tls::target(url)?;
        // A database machine that died sends no reset: without these, a
        // connection to it (or one being opened) would wait for the kernel's
        // TCP timeouts, minutes, before the next host is tried. Set in the
        // URL (`connect_timeout`, `tcp_user_timeout`), the URL's win.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if !url.contains("tcp_user_timeout=") {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        config.options(format!(
            "-c statement_timeout={}",
            options.statement_timeout.as_millis()
        ));
        let (mut client, connection) = config
            .connect(tls.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        tokio::spawn(connection);
        schema::migrate(&mut client).await?;
        drop(client);
        let sync_cancels = Arc::new(AtomicU64::new(0));
        let manager = Manager::from_connect(
            config.clone(),
            Connector {
                tls: tls.clone(),
                sync_cancels: sync_cancels.clone(),
            },
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .wait_timeout(Some(options.pool_timeout))
            .create_timeout(Some(options.pool_timeout))
            .recycle_timeout(Some(options.pool_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Config(format!("cannot build the pool: {e}")))?;
        warm(&pool, options.pool_size.max(1)).await;
        let feed = Arc::new(Feed::default());
        let replica = replica_id();
        let (notes, queue) = mpsc::unbounded_channel();
        let timings = Arc::new(Timings::default());
        tokio::spawn(notify(config.clone(), tls.clone(), replica, queue));
        tokio::spawn(listen(config, tls, replica, feed.clone(), timings.clone()));
        Ok(Self {
            pool,
            feed,
            notes,
            waits: AtomicU64::new(0),
            wait_micros: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            timings,
            // Longer than a statement's: the standby's confirmation is a
            // round trip more, and a cut-short wait is the trap above.
            commit_timeout: options.statement_timeout * 2,
            sync_cancels,
        })
    }

    async fn client(&self) -> TxResult<deadpool_postgres::Object> {
        let asked = Instant::now();
        let client = self.pool.get().await;
        let waited = asked.elapsed().as_micros() as u64;
        self.wait_micros.fetch_add(waited, Relaxed);
        self.waits.fetch_add(1, Relaxed);
        timing::pool_waited(waited);
        client.map_err(|e| match e {
            PoolError::Backend(e) => TxError::from(e),
            PoolError::Timeout(_) => TxError::Store(StoreError::Unavailable(
                "no database connection was free in time".into(),
            )),
            other => TxError::Store(StoreError::Unavailable(other.to_string())),
        })
    }

    /// A connection that met a lost primary leaves the pool at once, rather
    /// than failing the next request too.
    fn kept<V>(&self, client: deadpool_postgres::Object, outcome: TxResult<V>) -> TxResult<V> {
        if matches!(outcome, Err(TxError::Lost(_))) {
            self.timings.connection_dropped();
            drop(deadpool_postgres::Object::take(client));
        }
        outcome
    }

    /// One attempt at a write: a transaction, committed.
    async fn attempt<T: Tx>(&self, tx: &T) -> TxResult<T::Output> {
        let mut client = self.client().await?;
        let outcome = self.commit_on(&mut client, tx).await;
        self.kept(client, outcome)
    }

    async fn commit_on<T: Tx>(
        &self,
        client: &mut deadpool_postgres::Object,
        tx: &T,
    ) -> TxResult<T::Output> {
        // BEGIN and COMMIT are a round trip each, beside the statements'.
        timing::round_trips(1);
        let transaction = client.transaction().await?;
        let value = tx.run(&PgConn::new(&transaction)).await?;
        // A COMMIT whose wait for a synchronous standby is cancelled (a
        // cancel request) commits locally and only warns: an order that a
        // failover may lose would be acknowledged. The warning reaches the
        // connection's task before the COMMIT's answer reaches us, so a
        // count that moved while we committed means this commit, or one
        // beside it, is not known to be on a standby: answered 503, and the
        // client's retry with its Idempotency-Key replays it. (The statement
        // timeout never cuts that wait short: PostgreSQL turns it off for the
        // commit itself.) A commit that takes too long is answered 503 too,
        // its outcome unknown, and its connection dropped.
        timing::round_trips(1);
        let cancels = self.sync_cancels.load(Relaxed);
        let committed = tokio::time::timeout(self.commit_timeout, transaction.commit()).await;
        let unconfirmed = match committed {
            Ok(committed) => {
                committed?;
                self.sync_cancels.load(Relaxed) != cancels
            }
            Err(_) => true,
        };
        if unconfirmed {
            return Err(TxError::Lost(StoreError::Unavailable(
                "the commit was not confirmed by a synchronous standby; \
                 retry with the same Idempotency-Key"
                    .into(),
            )));
        }
        self.commits.fetch_add(1, Relaxed);
        Ok(value)
    }

    async fn snapshot<T: Tx>(&self, tx: &T) -> TxResult<T::Output> {
        let mut client = self.client().await?;
        let outcome = Self::snapshot_on(&mut client, tx).await;
        self.kept(client, outcome)
    }

    async fn snapshot_on<T: Tx>(
        client: &mut deadpool_postgres::Object,
        tx: &T,
    ) -> TxResult<T::Output> {
        timing::round_trips(2);
        let transaction = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let value = tx.run(&PgConn::new(&transaction)).await?;
        transaction.commit().await?;
        Ok(value)
    }

    async fn plain<T: Tx>(&self, tx: &T) -> TxResult<T::Output> {
        let client = self.client().await?;
        let outcome = tx.run(&PgConn::new(&client)).await;
        self.kept(client, outcome)
    }
}

impl Backend for Postgres {
    async fn read<T: Tx>(&self, tx: T) -> Result<T::Output> {
        if T::SNAPSHOT {
            finish(self.snapshot(&tx).await)
        } else {
            finish(self.plain(&tx).await)
        }
    }

    /// Runs the transaction, again after a deadlock or a serialization
    /// failure, with a short, growing pause.
    async fn write<T: Tx>(&self, tx: T) -> Result<T::Output> {
        let mut attempt = 0;
        loop {
            match self.attempt(&tx).await {
                Err(TxError::Retry) if attempt + 1 < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(2 << attempt.min(6))).await;
                }
                outcome => return finish(outcome),
            }
        }
    }

    fn feed(&self) -> &Feed {
        &self.feed
    }

    fn timings(&self) -> &Timings {
        &self.timings
    }

    fn committed(&self, shop_id: i64, changes: &Changes) {
        self.feed.announce(shop_id, changes);
        let _ = self.notes.send((shop_id, changes.clone()));
    }

    fn pool_stats(&self) -> PoolStats {
        let status = self.pool.status();
        let commits = self.commits.load(Relaxed);
        PoolStats {
            idle: status.available as u64,
            in_use: status.size.saturating_sub(status.available) as u64,
            max: status.max_size as u64,
            wait_micros: self.wait_micros.load(Relaxed),
            waits: self.waits.load(Relaxed),
            commits,
            committed_writes: commits,
            writer_busy_micros: None,
        }
    }
}

/// Opens the pool's connections, and drives each one in a task that listens
/// to what the server says beside its answers: a warning that a commit's
/// wait for a synchronous standby was cancelled is counted.
struct Connector {
    tls: MakeRustlsConnect,
    sync_cancels: Arc<AtomicU64>,
}

/// Whether a notice is PostgreSQL's "canceling wait for synchronous
/// replication ... The transaction has already committed locally".
fn sync_wait_cancelled(notice: &tokio_postgres::error::DbError) -> bool {
    notice
        .message()
        .contains("wait for synchronous replication")
        || notice
            .detail()
            .is_some_and(|d| d.contains("committed locally"))
}

impl deadpool_postgres::Connect for Connector {
    fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = std::result::Result<
                        (tokio_postgres::Client, tokio::task::JoinHandle<()>),
                        tokio_postgres::Error,
                    >,
                > + Send
                + '_,
        >,
    > {
        let (tls, config, cancels) = (self.tls.clone(), config.clone(), self.sync_cancels.clone());
        Box::pin(async move {
            use futures_util::StreamExt;
            let (client, mut connection) = config.connect(tls).await?;
            let task = tokio::spawn(async move {
                let mut messages =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(message) = messages.next().await {
                    match message {
                        Ok(tokio_postgres::AsyncMessage::Notice(notice))
                            if sync_wait_cancelled(&notice) =>
                        {
                            cancels.fetch_add(1, Relaxed);
                            tracing::warn!(notice = %notice, "a commit's wait for a synchronous standby was cancelled");
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "a database connection failed");
                            break;
                        }
                    }
                }
            });
            Ok((client, task))
        })
    }
}

/// A random id for this replica, so it can skip its own notes.
fn replica_id() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// One note of a payload: `e:SHOP:TX:POS` (an event committed) or
/// `m:SHOP:VERSION` / `m:SHOP:stock` (a menu changed) / `s:SHOP:VERSION` (the
/// shop's own row changed, or it is gone).
fn notes_of(shop_id: i64, changes: &Changes) -> Vec<String> {
    let mut notes = vec![];
    if let Some(EventPos { tx, pos }) = changes.event {
        notes.push(format!("e:{shop_id}:{tx}:{pos}"));
    }
    match changes.menu {
        Some(MenuChange::To(version)) => notes.push(format!("m:{shop_id}:{version}")),
        Some(MenuChange::Stock) => notes.push(format!("m:{shop_id}:stock")),
        Some(MenuChange::Shop(version)) => notes.push(format!("s:{shop_id}:{version}")),
        None => {}
    }
    notes
}

/// Opens the pool's connections, and prepares on each what serving runs
/// most (`sql::SERVING`), before the replica says it is ready. Opened on
/// demand, they came during a new replica's first burst (an autoscaler's
/// replica joins under load): four replicas over one PostgreSQL made 64 TLS
/// handshakes and new backends at once, and their first requests waited up
/// to 1.4 s for them. A connection that fails now is opened later.
async fn warm(pool: &Pool, size: usize) {
    use futures_util::future::join_all;
    let began = Instant::now();
    let clients = join_all((0..size).map(|_| pool.get())).await;
    let ready: Vec<_> = clients.iter().filter_map(|c| c.as_ref().ok()).collect();
    join_all(ready.iter().map(|client| async move {
        for sql in crate::sql::SERVING {
            if let Err(e) = client.prepare_cached(sql).await {
                tracing::warn!(error = %e, "a statement could not be prepared ahead");
            }
        }
    }))
    .await;
    tracing::debug!(
        opened = ready.len(),
        took_ms = began.elapsed().as_millis() as u64,
        "database connections opened"
    );
}

/// Payloads of `REPLICA|note|note...`, each short enough for `NOTIFY`, with
/// everything waiting coalesced: the latest event per shop, the menus that changed.
fn payloads(replica: u64, pending: Vec<(i64, Changes)>) -> Vec<String> {
    let mut events: HashMap<i64, EventPos> = HashMap::new();
    let mut menus: HashMap<i64, MenuChange> = HashMap::new();
    for (shop, changes) in pending {
        if let Some(pos) = changes.event {
            let latest = events.entry(shop).or_insert(pos);
            *latest = (*latest).max(pos);
        }
        if let Some(change) = changes.menu {
            let merged = match (menus.get(&shop), change) {
                (Some(MenuChange::To(a) | MenuChange::Shop(a)), MenuChange::Shop(b))
                | (Some(MenuChange::Shop(a)), MenuChange::To(b)) => MenuChange::Shop((*a).max(b)),
                (Some(MenuChange::Shop(a)), MenuChange::Stock) => MenuChange::Shop(*a),
                (Some(MenuChange::To(a)), MenuChange::To(b)) => MenuChange::To((*a).max(b)),
                (Some(MenuChange::Stock), _) | (_, MenuChange::Stock) => MenuChange::Stock,
                (None, change) => change,
            };
            menus.insert(shop, merged);
        }
    }
    let mut notes: Vec<String> = events
        .into_iter()
        .flat_map(|(shop, pos)| {
            notes_of(
                shop,
                &Changes {
                    event: Some(pos),
                    menu: None,
                },
            )
        })
        .collect();
    for (shop, change) in menus {
        notes.extend(notes_of(
            shop,
            &Changes {
                event: None,
                menu: Some(change),
            },
        ));
    }
    let mut payloads = vec![];
    let mut current = replica.to_string();
    for note in notes {
        if current.len() + 1 + note.len() > PAYLOAD_MAX {
            payloads.push(std::mem::replace(&mut current, replica.to_string()));
        }
        current.push('|');
        current.push_str(&note);
    }
    payloads.push(current);
    payloads
}

/// Tells the other replicas what this one committed, after the commit, in as
/// few `NOTIFY`s as the traffic allows.
async fn notify(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    replica: u64,
    mut queue: mpsc::UnboundedReceiver<(i64, Changes)>,
) {
    let mut client = None;
    while let Some(first) = queue.recv().await {
        let mut pending = vec![first];
        while let Ok(more) = queue.try_recv() {
            pending.push(more);
        }
        if client.is_none() {
            client = match config.connect(tls.clone()).await {
                Ok((c, connection)) => {
                    tokio::spawn(connection);
                    Some(c)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the notifier cannot connect; other replicas learn of changes by re-reading");
                    None
                }
            };
        }
        let Some(c) = &client else { continue };
        for payload in payloads(replica, pending) {
            if let Err(e) = c
                .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                .await
            {
                tracing::warn!(error = %e, "a notification was lost; reconnecting");
                client = None;
                break;
            }
        }
        tokio::time::sleep(NOTIFY_EVERY).await;
    }
}

/// Turns another replica's notes into wake-ups and menu changes here.
fn heard(feed: &Feed, replica: u64, payload: &str) {
    let mut parts = payload.split('|');
    if parts.next().and_then(|r| r.parse::<u64>().ok()) == Some(replica) {
        return;
    }
    for note in parts {
        let fields: Vec<&str> = note.split(':').collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<i64>().ok());
        match (fields.first(), number(1)) {
            // An event of shop `number(1)`; one reader reads every shop's.
            (Some(&"e"), Some(_)) => {
                if let (Some(tx), Some(pos)) = (number(2), number(3)) {
                    feed.publish(EventPos { tx, pos });
                }
            }
            (Some(&"m"), Some(shop)) => {
                let change = number(2).map_or(MenuChange::Stock, MenuChange::To);
                feed.menu_changed(shop, change);
            }
            (Some(&"s"), Some(shop)) => {
                if let Some(version) = number(2) {
                    feed.menu_changed(shop, MenuChange::Shop(version));
                }
            }
            _ => {}
        }
    }
}

/// How often the listening connection is pinged: a trivial statement's round
/// trip, the network to the database as this replica sees it.
const PING_EVERY: Duration = Duration::from_secs(1);
/// A ping unanswered this long means the connection is gone (a database
/// machine that died sends no reset): the listener reconnects.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause before the listener connects again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// The server a connection reached, as `host:port` (`local` over a Unix
/// socket), so a change of primary is seen.
async fn server_of(client: &tokio_postgres::Client) -> Option<String> {
    let rows = client
        .simple_query(
            "SELECT coalesce(host(inet_server_addr()), 'local') || ':' || \
             coalesce(inet_server_port()::text, current_setting('port'))",
        )
        .await
        .ok()?;
    rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    })
}

/// One ping's round trip, or `None` when it failed.
async fn ping(client: &tokio_postgres::Client) -> Option<Duration> {
    let began = Instant::now();
    client.simple_query("SELECT 1").await.ok()?;
    Some(began.elapsed())
}

/// Keeps a LISTEN connection open and turns notifications into wake-ups;
/// pings on it every second (`Timings::ping`).
async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    replica: u64,
    feed: Arc<Feed>,
    timings: Arc<Timings>,
) {
    use futures_util::StreamExt;
    use futures_util::future::{Fuse, FusedFuture, FutureExt};
    loop {
        if let Ok((client, mut connection)) = config.connect(tls.clone()).await {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            let listening = async {
                client.batch_execute("LISTEN barista").await.ok()?;
                Some(server_of(&client).await)
            };
            let mut listening = std::pin::pin!(listening);
            // Drive the connection while LISTEN is sent and the server named.
            let ok = loop {
                tokio::select! {
                    r = &mut listening => break r,
                    m = messages.next() => if m.is_none() { break None },
                }
            };
            if let Some(server) = ok {
                if let Some(server) = server {
                    timings.primary_is(server);
                }
                // Anything committed while we were away is found by a re-read.
                feed.wake_all();
                let mut tick = tokio::time::interval(PING_EVERY);
                let mut pinging = std::pin::pin!(Fuse::terminated());
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                                heard(&feed, replica, n.payload());
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                        _ = tick.tick(), if pinging.is_terminated() => {
                            pinging.set(tokio::time::timeout(PING_TIMEOUT, ping(&client)).fuse());
                        }
                        answer = &mut pinging => match answer {
                            Ok(Some(took)) => timings.ping.observe_micros(took.as_micros() as u64),
                            _ => break,
                        },
                    }
                }
            }
        }
        tracing::warn!("the PostgreSQL listener lost its connection; reconnecting");
        // Soon: in a failover, the new primary is found by this reconnect
        // (and by the pool's new connections) as soon as it takes writes.
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_coalesced_and_another_replica_hears_them() {
        let pos = |pos| EventPos { tx: 7, pos };
        let pending = vec![
            (
                1,
                Changes {
                    event: Some(pos(3)),
                    menu: Some(MenuChange::To(4)),
                },
            ),
            (
                1,
                Changes {
                    event: Some(pos(9)),
                    menu: Some(MenuChange::Stock),
                },
            ),
            (2, Changes::default()),
        ];
        let payloads = payloads(42, pending);
        assert_eq!(payloads.len(), 1);
        assert!(payloads[0].starts_with("42|"));
        assert!(payloads[0].contains("e:1:7:9") && !payloads[0].contains("e:1:7:3"));
        assert!(payloads[0].contains("m:1:stock"));

        let feed = Feed::default();
        let heard_menus = Arc::new(std::sync::Mutex::new(vec![]));
        let log = heard_menus.clone();
        feed.on_menu_change(move |shop, change| log.lock().unwrap().push((shop, change)));
        let events = feed.subscribe();
        heard(&feed, 42, &payloads[0]);
        assert_eq!(
            *events.borrow(),
            EventPos::default(),
            "its own notes are skipped"
        );
        heard(&feed, 43, &payloads[0]);
        assert_eq!(*events.borrow(), pos(9));
        assert_eq!(*heard_menus.lock().unwrap(), [(1, MenuChange::Stock)]);
    }

    #[test]
    fn long_payloads_are_split() {
        let pending = (0..2000)
            .map(|shop| {
                (
                    shop,
                    Changes {
                        event: Some(EventPos { tx: 1, pos: 1 }),
                        menu: None,
                    },
                )
            })
            .collect();
        let payloads = payloads(5, pending);
        assert!(payloads.len() > 1);
        assert!(
            payloads
                .iter()
                .all(|p| p.len() <= PAYLOAD_MAX && p.starts_with("5|"))
        );
    }
}
