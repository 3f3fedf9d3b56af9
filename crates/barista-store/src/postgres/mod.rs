//! The PostgreSQL backend, for scale-out: any number of stateless replicas
//! share one database. Writes commit with `synchronous_commit` as the server
//! has it (on by default: durable before the answer). Event streams are woken
//! by `LISTEN/NOTIFY` (payload `shop:seq`, never rows); after the listener
//! reconnects, every stream is woken to re-read the events table.

mod pool;
mod schema;
mod transactions;

use crate::{
    Event, EventFeed, IdempotentRequest, ItemWrite, NewShop, OrderChange, OrderPage, Placed,
    PoolStats, Result, ShopRecord, Store, StoreError,
};
use async_trait::async_trait;
use barista_domain::{ItemFields, ItemId, ItemPatch, Menu, NewOrder, Order, OrderId, Slug, Status};
use pool::Pool;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use transactions::{TxError, TxResult};

/// Connections per replica; PostgreSQL's own limit is shared by all replicas.
const POOL_SIZE: usize = 16;
/// Attempts of a transaction that keeps hitting deadlocks or serialization failures.
const ATTEMPTS: usize = 8;

pub struct PostgresStore {
    pool: Arc<Pool>,
    feed: Arc<EventFeed>,
}

fn done<T>(r: TxResult<T>) -> Result<T> {
    r.map_err(|e| match e {
        TxError::Store(e) => e,
        TxError::Retry => {
            StoreError::Unavailable("the database kept detecting conflicts; retry".into())
        }
    })
}

/// Runs `$body` (using `$tx`) in a transaction, committing it, retrying
/// deadlocks and serialization failures with a short, growing pause.
macro_rules! transaction {
    ($self:ident, |$tx:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            let mut client = $self.pool.get().await?;
            let $tx = client.transaction().await.map_err(TxError::from);
            let outcome: TxResult<_> = match $tx {
                Err(e) => Err(e),
                Ok($tx) => match async { $body }.await {
                    Ok(value) => $tx.commit().await.map(|()| value).map_err(TxError::from),
                    Err(e) => Err(e),
                },
            };
            match outcome {
                Err(TxError::Retry) if attempt + 1 < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(2 << attempt.min(6))).await;
                }
                Ok(value) => {
                    $self.pool.commits.fetch_add(1, Relaxed);
                    break Ok(value);
                }
                other => break done(other),
            }
        }
    }};
}

impl PostgresStore {
    /// Connects, applies the schema, and starts listening for events.
    pub async fn open(url: &str) -> Result<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
        let mut client = pool::connect(&config).await?;
        schema::migrate(&mut client)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot apply the schema: {e}")))?;
        let feed = Arc::new(EventFeed::default());
        tokio::spawn(listen(config.clone(), feed.clone()));
        Ok(Self {
            pool: Arc::new(Pool::new(config, POOL_SIZE)),
            feed,
        })
    }
}

/// Keeps a LISTEN connection open and turns notifications into wake-ups.
async fn listen(config: tokio_postgres::Config, feed: Arc<EventFeed>) {
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

#[async_trait]
impl Store for PostgresStore {
    async fn has_shops(&self) -> Result<bool> {
        done(transactions::has_shops(&*self.pool.get().await?).await)
    }

    async fn create_shop(&self, shop: NewShop) -> Result<ShopRecord> {
        transaction!(self, |tx| transactions::create_shop(&tx, &shop).await)
    }

    async fn shop(&self, slug: &Slug) -> Result<Option<ShopRecord>> {
        done(transactions::shop(&*self.pool.get().await?, slug).await)
    }

    async fn menu(&self, shop: &ShopRecord) -> Result<Menu> {
        // One snapshot for the version and the items.
        let (version, items) = transaction!(self, |tx| {
            tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?;
            let version = transactions::menu_version(&tx, shop.id).await?;
            let items = transactions::menu_items(&tx, shop.id).await?;
            Ok((version, items))
        })?;
        Ok(Menu {
            shop: shop.slug.clone(),
            currency: shop.currency,
            version,
            items,
        })
    }

    async fn menu_version(&self, shop: &ShopRecord) -> Result<i64> {
        done(transactions::menu_version(&*self.pool.get().await?, shop.id).await)
    }

    async fn put_item(
        &self,
        shop: &ShopRecord,
        id: ItemId,
        fields: ItemFields,
    ) -> Result<ItemWrite> {
        transaction!(self, |tx| transactions::put_item(
            &tx, shop.id, &id, &fields
        )
        .await)
    }

    async fn patch_item(
        &self,
        shop: &ShopRecord,
        id: ItemId,
        patch: ItemPatch,
    ) -> Result<ItemWrite> {
        transaction!(self, |tx| transactions::patch_item(
            &tx, shop.id, &id, &patch
        )
        .await)
    }

    async fn delete_item(&self, shop: &ShopRecord, id: ItemId) -> Result<i64> {
        transaction!(self, |tx| transactions::delete_item(&tx, shop.id, &id)
            .await)
    }

    async fn place_order(
        &self,
        shop: &ShopRecord,
        order: NewOrder,
        key: Option<IdempotentRequest>,
    ) -> Result<Placed> {
        let (placed, seq) = transaction!(self, |tx| transactions::place_order(
            &tx,
            shop,
            &order,
            key.as_ref()
        )
        .await)?;
        if seq > 0 {
            self.feed.publish(shop.id, seq);
        }
        Ok(placed)
    }

    async fn order(&self, shop: &ShopRecord, id: OrderId) -> Result<Option<Order>> {
        done(transactions::order(&*self.pool.get().await?, shop, id, false).await)
    }

    async fn list_orders(
        &self,
        shop: &ShopRecord,
        page: OrderPage,
    ) -> Result<(Vec<Order>, Option<OrderId>)> {
        done(transactions::list_orders(&*self.pool.get().await?, shop, &page).await)
    }

    async fn claim_next(&self, shop: &ShopRecord) -> Result<Option<OrderChange>> {
        let claimed = transaction!(self, |tx| transactions::claim_next(&tx, shop).await)?;
        Ok(claimed.map(|(change, seq)| {
            self.feed.publish(shop.id, seq);
            change
        }))
    }

    async fn set_status(&self, shop: &ShopRecord, id: OrderId, to: Status) -> Result<OrderChange> {
        let (change, seq) =
            transaction!(self, |tx| transactions::set_status(&tx, shop, id, to).await)?;
        self.feed.publish(shop.id, seq);
        Ok(change)
    }

    async fn events_after(
        &self,
        shop: &ShopRecord,
        after: i64,
        order: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        done(
            transactions::events_after(&*self.pool.get().await?, shop.id, after, order, limit)
                .await,
        )
    }

    async fn last_event_seq(&self, shop: &ShopRecord) -> Result<i64> {
        done(transactions::last_event_seq(&*self.pool.get().await?, shop.id).await)
    }

    async fn ping(&self) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(())
    }

    fn feed(&self) -> &EventFeed {
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
