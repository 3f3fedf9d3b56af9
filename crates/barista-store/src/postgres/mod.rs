//! The PostgreSQL backend, for scale-out: any number of stateless replicas
//! share one database. Writes commit with `synchronous_commit` as the server
//! has it (on by default: durable before the answer). Event streams are woken
//! by `LISTEN/NOTIFY` (payload `shop:seq`, never rows); after the listener
//! reconnects, every stream is woken to re-read the events table.

mod conn;
mod pool;
mod schema;

use crate::conn::{TxError, TxResult};
use crate::db::{Backend, finish};
use crate::transactions::Tx;
use crate::{Feed, PoolStats, Result, StoreError};
use conn::PgConn;
use pool::Pool;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Connections per replica; PostgreSQL's own limit is shared by all replicas.
const POOL_SIZE: usize = 16;
/// Attempts of a transaction that keeps hitting deadlocks or serialization failures.
const ATTEMPTS: usize = 8;

pub struct Postgres {
    pool: Arc<Pool>,
    feed: Arc<Feed>,
}

impl Postgres {
    /// Connects, applies the schema, and starts listening for events.
    pub async fn open(url: &str) -> Result<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
        let mut client = pool::connect(&config).await?;
        schema::migrate(&mut client)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot apply the schema: {e}")))?;
        let feed = Arc::new(Feed::default());
        tokio::spawn(listen(config.clone(), feed.clone()));
        Ok(Self {
            pool: Arc::new(Pool::new(config, POOL_SIZE)),
            feed,
        })
    }

    /// One attempt at a write: a transaction, committed.
    async fn attempt<T: Tx>(&self, tx: &T) -> TxResult<T::Output> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let value = tx.run(&PgConn(&transaction)).await?;
        transaction.commit().await?;
        self.pool.commits.fetch_add(1, Relaxed);
        Ok(value)
    }

    async fn snapshot<T: Tx>(&self, tx: &T) -> TxResult<T::Output> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        transaction
            .batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let value = tx.run(&PgConn(&transaction)).await?;
        transaction.commit().await?;
        Ok(value)
    }
}

impl Backend for Postgres {
    async fn read<T: Tx>(&self, tx: T) -> Result<T::Output> {
        if T::SNAPSHOT {
            return finish(self.snapshot(&tx).await);
        }
        let client = self.pool.get().await?;
        finish(tx.run(&PgConn(&*client)).await)
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

    fn pool_stats(&self) -> PoolStats {
        let p = &self.pool;
        let commits = p.commits.load(Relaxed);
        PoolStats {
            idle: p.idle() as u64,
            in_use: p.in_use.load(Relaxed),
            max: p.max as u64,
            wait_micros: p.wait_micros.load(Relaxed),
            waits: p.waits.load(Relaxed),
            commits,
            committed_writes: commits,
        }
    }
}

/// Keeps a LISTEN connection open and turns notifications into wake-ups.
async fn listen(config: tokio_postgres::Config, feed: Arc<Feed>) {
    use futures_util::StreamExt;
    loop {
        if let Ok((client, mut connection)) = config.connect(tokio_postgres::NoTls).await {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            let listening = client.batch_execute("LISTEN barista_events");
            let mut listening = std::pin::pin!(listening);
            // Drive the connection while LISTEN is sent.
            let ok = loop {
                tokio::select! {
                    r = &mut listening => break r.is_ok(),
                    m = messages.next() => if m.is_none() { break false },
                }
            };
            if ok {
                // Anything committed while we were away is found by a re-read.
                feed.wake_all();
                while let Some(Ok(message)) = messages.next().await {
                    if let tokio_postgres::AsyncMessage::Notification(n) = message
                        && let Some((shop, seq)) = n.payload().split_once(':')
                        && let (Ok(shop), Ok(seq)) = (shop.parse(), seq.parse())
                    {
                        feed.publish(shop, seq);
                    }
                }
            }
        }
        tracing::warn!("the PostgreSQL event listener lost its connection; reconnecting");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
