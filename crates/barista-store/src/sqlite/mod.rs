//! The embedded SQLite backend: one file, WAL mode, `synchronous=FULL`.
//!
//! Reads run on a small pool of connections in blocking threads (WAL lets them
//! run beside the writer); writes go to the group-committing [`Writer`].

mod schema;
mod transactions;
mod writer;

use crate::{
    Event, EventFeed, IdempotentRequest, ItemWrite, NewShop, OpenOptions, OrderChange, OrderPage,
    Placed, PoolStats, Result, ShopRecord, Store, StoreError,
};
use async_trait::async_trait;
use barista_domain::{ItemFields, ItemId, ItemPatch, Menu, NewOrder, Order, OrderId, Slug, Status};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use writer::{Stats, Writer};

/// Idle read connections kept for reuse; more are opened under load and closed after.
const IDLE_READERS: usize = 8;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: OpenOptions,
    /// A `std` mutex: it guards a pop or a push, never a query or an `.await`.
    readers: Mutex<Vec<Connection>>,
    writer: Writer,
    feed: EventFeed,
    stats: Arc<Stats>,
}

fn connect(path: &Path, options: &OpenOptions) -> rusqlite::Result<Connection> {
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

impl SqliteStore {
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
                    feed: EventFeed::default(),
                    stats,
                }),
            })
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
    }

    /// Runs `f` on a read connection in a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let asked = Instant::now();
        tokio::task::spawn_blocking(move || {
            inner.stats.waited(asked);
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => {
                    let conn = connect(&inner.path, &inner.options)?;
                    conn.execute_batch("PRAGMA query_only = ON")?;
                    conn
                }
            };
            inner.stats.in_use.fetch_add(1, Relaxed);
            let result = f(&conn);
            inner.stats.in_use.fetch_sub(1, Relaxed);
            let mut idle = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.writer.write(f).await
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[async_trait]
impl Store for SqliteStore {
    async fn has_shops(&self) -> Result<bool> {
        self.read(transactions::has_shops).await
    }

    async fn create_shop(&self, shop: NewShop) -> Result<ShopRecord> {
        self.write(move |c| transactions::create_shop(c, &shop))
            .await
    }

    async fn shop(&self, slug: &Slug) -> Result<Option<ShopRecord>> {
        let slug = slug.clone();
        self.read(move |c| transactions::shop(c, &slug)).await
    }

    async fn menu(&self, shop: &ShopRecord) -> Result<Menu> {
        let shop = shop.clone();
        self.read(move |c| transactions::menu(c, &shop)).await
    }

    async fn menu_version(&self, shop: &ShopRecord) -> Result<i64> {
        let id = shop.id;
        self.read(move |c| transactions::menu_version(c, id)).await
    }

    async fn put_item(
        &self,
        shop: &ShopRecord,
        id: ItemId,
        fields: ItemFields,
    ) -> Result<ItemWrite> {
        let shop_id = shop.id;
        self.write(move |c| transactions::put_item(c, shop_id, id, fields))
            .await
    }

    async fn patch_item(
        &self,
        shop: &ShopRecord,
        id: ItemId,
        patch: ItemPatch,
    ) -> Result<ItemWrite> {
        let shop_id = shop.id;
        self.write(move |c| transactions::patch_item(c, shop_id, id, patch))
            .await
    }

    async fn delete_item(&self, shop: &ShopRecord, id: ItemId) -> Result<i64> {
        let shop_id = shop.id;
        self.write(move |c| transactions::delete_item(c, shop_id, &id))
            .await
    }

    async fn place_order(
        &self,
        shop: &ShopRecord,
        order: NewOrder,
        key: Option<IdempotentRequest>,
    ) -> Result<Placed> {
        let shop = shop.clone();
        let (placed, seq) = self
            .write(move |c| transactions::place_order(c, &shop, &order, key.as_ref()))
            .await?;
        if let Some((shop_id, seq)) = seq {
            self.inner.feed.publish(shop_id, seq);
        }
        Ok(placed)
    }

    async fn order(&self, shop: &ShopRecord, id: OrderId) -> Result<Option<Order>> {
        let shop = shop.clone();
        self.read(move |c| transactions::order(c, &shop, id)).await
    }

    async fn list_orders(
        &self,
        shop: &ShopRecord,
        page: OrderPage,
    ) -> Result<(Vec<Order>, Option<OrderId>)> {
        let shop = shop.clone();
        self.read(move |c| transactions::list_orders(c, &shop, &page))
            .await
    }

    async fn claim_next(&self, shop: &ShopRecord) -> Result<Option<OrderChange>> {
        let owned = shop.clone();
        let claimed = self
            .write(move |c| transactions::claim_next(c, &owned))
            .await?;
        Ok(claimed.map(|(change, seq)| {
            self.inner.feed.publish(shop.id, seq);
            change
        }))
    }

    async fn set_status(&self, shop: &ShopRecord, id: OrderId, to: Status) -> Result<OrderChange> {
        let owned = shop.clone();
        let (change, seq) = self
            .write(move |c| transactions::set_status(c, &owned, id, to))
            .await?;
        self.inner.feed.publish(shop.id, seq);
        Ok(change)
    }

    async fn events_after(
        &self,
        shop: &ShopRecord,
        after: i64,
        order: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let shop_id = shop.id;
        self.read(move |c| transactions::events_after(c, shop_id, after, order, limit))
            .await
    }

    async fn last_event_seq(&self, shop: &ShopRecord) -> Result<i64> {
        let shop_id = shop.id;
        self.read(move |c| transactions::last_event_seq(c, shop_id))
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    fn feed(&self) -> &EventFeed {
        &self.inner.feed
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
            committed_writes: s.committed_writes.load(Relaxed),
        }
    }
}
