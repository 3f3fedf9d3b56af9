//! The one implementation of [`Store`]: it runs each transaction of
//! `transactions.rs` on a [`Backend`] and announces what a committed write
//! changed on the [`Feed`], so no caller has to remember to.

use crate::conn::{TxError, TxResult};
use crate::tenants;
use crate::timing::{self, Statement, Timings};
use crate::transactions::{self as tx, Changes, ItemWrite, Tx, Written};
use crate::{
    Event, EventPos, Feed, GroupWrite, OrderPage, Placed, PoolStats, Result, Store, StoreError,
};
use async_trait::async_trait;
use barista_domain::{
    Hours, IdempotentRequest, ItemFields, ItemId, ItemPatch, Menu, MenuItem, ModifierGroup,
    NewOrder, NewShop, Order, OrderId, Pause, Shop, Slug, Status,
};
use std::future::Future;
use std::sync::Arc;

/// What a database must do for Barista: run a transaction's reads on a
/// connection, and its writes in a transaction committed durably before the
/// future resolves (retrying deadlocks and serialization failures itself).
pub(crate) trait Backend: Send + Sync + 'static {
    /// Where this backend's calls record their time.
    fn timings(&self) -> &Timings;
    fn read<T: Tx>(&self, tx: T) -> impl Future<Output = Result<T::Output>> + Send;
    fn write<T: Tx>(&self, tx: T) -> impl Future<Output = Result<T::Output>> + Send;
    fn feed(&self) -> &Feed;
    fn pool_stats(&self) -> PoolStats;
    /// After a write committed: tell this process's readers, and (where there
    /// are other replicas) the others.
    fn committed(&self, shop_id: i64, changes: &Changes) {
        self.feed().announce(shop_id, changes);
    }
    /// Runs a write and announces it once committed. A backend that can
    /// announce from where the commit happens overrides this, so the announce
    /// does not depend on the caller's future being polled to its end (a
    /// client that disconnects drops it).
    fn write_announced<T: Send + 'static, W: Tx<Output = Written<T>>>(
        &self,
        tx: W,
    ) -> impl Future<Output = Result<T>> + Send {
        async move {
            let written = self.write(tx).await?;
            self.committed(written.shop_id, &written.changes);
            Ok(written.value)
        }
    }
}

/// A transaction's outcome as the store answers it: a conflict that was not
/// retried away is a database that cannot serve now.
pub(crate) fn finish<T>(result: TxResult<T>) -> Result<T> {
    result.map_err(|e| match e {
        TxError::Store(e) | TxError::Lost(e) => e,
        TxError::Retry => {
            StoreError::Unavailable("the database kept detecting conflicts; retry".into())
        }
    })
}

pub(crate) struct Db<B>(pub(crate) B, Arc<tx::GroupsCache>);

impl<B: Backend> Db<B> {
    pub(crate) fn new(backend: B) -> Self {
        Self(backend, Arc::default())
    }

    /// A write, announced once committed, timed as its kind.
    async fn write<T: Send + 'static, W: Tx<Output = Written<T>>>(&self, tx: W) -> Result<T> {
        timing::call(self.0.timings(), W::KIND, self.0.write_announced(tx)).await
    }

    /// A read, timed as its kind.
    async fn read<T: Tx>(&self, tx: T) -> Result<T::Output> {
        timing::call(self.0.timings(), T::KIND, self.0.read(tx)).await
    }
}

#[async_trait]
impl<B: Backend> Store for Db<B> {
    async fn has_shops(&self) -> Result<bool> {
        self.read(tx::HasShops).await
    }

    async fn create_shop(&self, new: NewShop, staff_key_hash: Vec<u8>) -> Result<Shop> {
        self.write(tx::CreateShop {
            new,
            staff_key_hash,
        })
        .await
    }

    async fn shop(&self, slug: &Slug) -> Result<Option<Shop>> {
        self.read(tx::FindShop(slug.clone())).await
    }

    async fn menu(&self, shop: &Shop) -> Result<Menu> {
        self.read(tx::ReadMenu(shop.clone())).await
    }

    async fn menu_version(&self, shop: &Shop) -> Result<i64> {
        self.read(tx::MenuVersion(shop.id)).await
    }

    async fn menu_versions(&self, shop_ids: &[i64]) -> Result<Vec<(i64, i64)>> {
        if shop_ids.is_empty() {
            return Ok(vec![]);
        }
        self.read(tx::MenuVersions(shop_ids.to_vec())).await
    }

    async fn put_item(&self, shop: &Shop, id: ItemId, fields: ItemFields) -> Result<ItemWrite> {
        let shop_id = shop.id;
        self.write(tx::PutItem {
            shop_id,
            id,
            fields,
        })
        .await
    }

    async fn patch_item(&self, shop: &Shop, id: ItemId, patch: ItemPatch) -> Result<MenuItem> {
        let shop_id = shop.id;
        self.write(tx::PatchItem { shop_id, id, patch }).await
    }

    async fn delete_item(&self, shop: &Shop, id: ItemId) -> Result<()> {
        let shop_id = shop.id;
        self.write(tx::DeleteItem { shop_id, id }).await
    }

    async fn put_modifier_group(&self, shop: &Shop, group: ModifierGroup) -> Result<GroupWrite> {
        let shop_id = shop.id;
        self.write(tx::PutModifierGroup { shop_id, group }).await
    }

    async fn delete_modifier_group(&self, shop: &Shop, id: ItemId) -> Result<()> {
        let shop_id = shop.id;
        self.write(tx::DeleteModifierGroup { shop_id, id }).await
    }

    async fn set_modifier_available(
        &self,
        shop: &Shop,
        id: ItemId,
        available: bool,
    ) -> Result<ModifierGroup> {
        let shop_id = shop.id;
        self.write(tx::SetModifierAvailable {
            shop_id,
            id,
            available,
        })
        .await
    }

    async fn schedule(&self, shop: &Shop) -> Result<(Hours, Option<Pause>)> {
        self.read(tx::ReadSchedule(shop.id)).await
    }

    async fn queue(&self, shop: &Shop) -> Result<barista_domain::Queue> {
        self.read(tx::ReadQueue(shop.id)).await
    }

    async fn set_hours(&self, shop: &Shop, hours: Hours) -> Result<(Hours, Option<Pause>)> {
        let shop_id = shop.id;
        let change = tx::ScheduleChange::Hours(Box::new(hours));
        self.write(tx::ChangeSchedule { shop_id, change }).await
    }

    async fn set_pause(&self, shop: &Shop, pause: Option<Pause>) -> Result<(Hours, Option<Pause>)> {
        let shop_id = shop.id;
        let change = tx::ScheduleChange::Pause(pause);
        self.write(tx::ChangeSchedule { shop_id, change }).await
    }

    async fn place_order(
        &self,
        shop: &Shop,
        order: NewOrder,
        key: Option<IdempotentRequest>,
    ) -> Result<Placed> {
        let shop = shop.clone();
        let groups = self.1.clone();
        self.write(tx::PlaceOrder {
            shop,
            order,
            key,
            groups,
        })
        .await
    }

    async fn order(&self, shop: &Shop, id: OrderId) -> Result<Option<Order>> {
        let shop = shop.clone();
        self.read(tx::ReadOrder { shop, id }).await
    }

    async fn list_orders(
        &self,
        shop: &Shop,
        page: OrderPage,
    ) -> Result<(Vec<Order>, Option<OrderId>)> {
        let shop = shop.clone();
        self.read(tx::ListOrders { shop, page }).await
    }

    async fn claim_next(&self, shop: &Shop) -> Result<Option<Order>> {
        let claim = tx::ClaimNext(shop.clone());
        let claimed =
            timing::call(self.0.timings(), Statement::ClaimNext, self.0.write(claim)).await?;
        Ok(claimed.map(|written| {
            self.0.committed(written.shop_id, &written.changes);
            written.value
        }))
    }

    async fn set_status(&self, shop: &Shop, id: OrderId, to: Status) -> Result<Order> {
        let shop = shop.clone();
        self.write(tx::SetStatus { shop, id, to }).await
    }

    async fn events_after(&self, shop: &Shop, after: EventPos, limit: usize) -> Result<Vec<Event>> {
        let shop = shop.clone();
        self.read(tx::EventsAfter { shop, after, limit }).await
    }

    async fn order_events_after(
        &self,
        shop: &Shop,
        order: OrderId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let shop = shop.clone();
        self.0
            .read(tx::OrderEventsAfter {
                shop,
                order,
                after,
                limit,
            })
            .await
    }

    async fn events_after_any(&self, after: EventPos, limit: usize) -> Result<Vec<(i64, Event)>> {
        self.read(tx::EventsAfterAny { after, limit }).await
    }

    async fn last_event_any(&self) -> Result<EventPos> {
        self.read(tx::LastEventAny).await
    }

    async fn last_event(&self, shop: &Shop) -> Result<EventPos> {
        self.read(tx::LastEvent(shop.id)).await
    }

    async fn shop_ids(&self) -> Result<Vec<i64>> {
        self.read(tx::ShopIds).await
    }

    async fn purge(
        &self,
        shop_id: i64,
        keys_before: barista_domain::Timestamp,
        events_before: barista_domain::Timestamp,
        batch: usize,
    ) -> Result<crate::Purged> {
        self.write(tx::Purge {
            shop_id,
            keys_before,
            events_before,
            batch,
        })
        .await
    }

    async fn replace_staff_key(&self, shop: &Shop, hash: Vec<u8>) -> Result<Shop> {
        let shop_id = shop.id;
        self.write(tenants::ReplaceStaffKey { shop_id, hash }).await
    }

    async fn change_shop(&self, shop: &Shop, change: crate::ShopChange) -> Result<Shop> {
        let shop_id = shop.id;
        self.write(tenants::ChangeShop { shop_id, change }).await
    }

    async fn shops(&self, after: &str, limit: i64) -> Result<Vec<Shop>> {
        let after = after.to_owned();
        self.read(tenants::ListShops { after, limit }).await
    }

    async fn report(
        &self,
        shop: &Shop,
        range: &barista_domain::ReportRange,
    ) -> Result<barista_domain::Report> {
        self.read(tenants::ReadReport {
            shop_id: shop.id,
            currency: shop.currency.as_str().to_owned(),
            range: range.clone(),
        })
        .await
    }

    async fn shop_rows(&self, shop_id: i64) -> Result<Vec<(&'static str, i64)>> {
        self.read(tenants::ShopRows(shop_id)).await
    }

    async fn export_shop(&self, shop: &Shop) -> Result<crate::ShopExport> {
        self.read(tenants::ExportShop(shop.id)).await
    }

    async fn import_shop(&self, export: crate::ShopExport) -> Result<Shop> {
        self.write(tenants::ImportShop(export)).await
    }

    async fn delete_shop(&self, shop: &Shop) -> Result<()> {
        self.write(tenants::DeleteShop(shop.id)).await
    }

    async fn ping(&self) -> Result<()> {
        self.read(tx::Ping).await
    }

    fn feed(&self) -> &Feed {
        self.0.feed()
    }

    fn pool_stats(&self) -> PoolStats {
        self.0.pool_stats()
    }

    fn timings(&self) -> &Timings {
        self.0.timings()
    }
}
