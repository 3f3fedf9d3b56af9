//! A small connection pool: up to `max` connections, reused, replaced when closed.

use crate::{Result, StoreError};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, Config, NoTls};

pub(crate) struct Pool {
    config: Config,
    /// A `std` mutex: guards a push or a pop, never an `.await`.
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    pub(crate) max: usize,
    pub(crate) in_use: AtomicU64,
    pub(crate) wait_micros: AtomicU64,
    pub(crate) waits: AtomicU64,
    pub(crate) commits: AtomicU64,
}

pub(crate) struct Pooled<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a pooled client")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a pooled client")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        self.pool.in_use.fetch_sub(1, Relaxed);
        if let Some(client) = self.client.take().filter(|c| !c.is_closed()) {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(client);
        }
    }
}

pub(crate) async fn connect(config: &Config) -> Result<Client> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

impl Pool {
    pub(crate) fn new(config: Config, max: usize) -> Pool {
        Pool {
            config,
            idle: Mutex::default(),
            permits: Semaphore::new(max),
            max,
            in_use: AtomicU64::new(0),
            wait_micros: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        }
    }

    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    pub(crate) async fn get(&self) -> Result<Pooled<'_>> {
        let asked = Instant::now();
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the connection pool is closed".into()))?;
        self.wait_micros
            .fetch_add(asked.elapsed().as_micros() as u64, Relaxed);
        self.waits.fetch_add(1, Relaxed);
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let client = match pooled.filter(|c| !c.is_closed()) {
            Some(client) => client,
            None => connect(&self.config).await?,
        };
        self.in_use.fetch_add(1, Relaxed);
        Ok(Pooled {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }
}
