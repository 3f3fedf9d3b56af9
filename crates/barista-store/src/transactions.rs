//! Barista's transactions, written once for every backend.
//!
//! Each is a value that knows how to run itself on a [`Conn`]: which statements
//! of `sql.rs`, in which order, and which rule of the domain decides between
//! them (pricing, status moves and idempotency are the domain's; this module
//! only reads and writes rows around them). A backend runs reads on a
//! connection and writes inside a transaction it commits durably, retrying
//! conflicts; then [`crate::db::Db`] announces what a write changed.
//!
//! Locks are taken in one order in every write: the idempotency key, then the
//! shop row, then items by id, then the order.

use crate::conn::{Conn, TxError, TxResult};
use crate::sql;
use crate::timing::Statement;
use crate::value::{ItemOptions, Param, Row, params};
use crate::{Event, EventPos, OrderPage, Placed, Purged, StoreError};
use barista_domain::{
    Hours, IdempotentRequest, ItemFields, ItemId, ItemPatch, Menu, MenuItem, ModifierGroup,
    NewOrder, NewShop, Order, OrderId, Ordering, Pause, PriceRefused, Shop, Slug, Status,
    StockMove, Timestamp,
};
use futures_util::future::{try_join_all, try_join3};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A unit of work a backend can run.
pub(crate) trait Tx: Send + Sync + 'static {
    type Output: Send + 'static;
    /// What the call is, for its timings.
    const KIND: Statement;
    /// Reads that must agree with each other run in one snapshot.
    const SNAPSHOT: bool = false;
    fn run<C: Conn>(&self, c: &C) -> impl Future<Output = TxResult<Self::Output>> + Send;
}

/// How a write changed a shop's menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuChange {
    /// An edit: the menu is at this version (or later) now.
    To(i64),
    /// Stock moved: the version grew, by an amount only a new read tells.
    Stock,
    /// The shop's own row changed (its key, name or standing) and is at this
    /// version; `i64::MAX` when the shop is gone. Whatever a replica holds of
    /// the shop (the shop itself, its menu, its streams) is dropped.
    Shop(i64),
}

/// What a committed write changed, for [`crate::Feed`] to announce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Where the write's event stands in the shop's stream, when it appended one.
    pub(crate) event: Option<EventPos>,
    pub(crate) menu: Option<MenuChange>,
}

/// A write's result and what it changed in which shop.
#[derive(Debug, Clone)]
pub(crate) struct Written<T> {
    pub(crate) value: T,
    pub(crate) shop_id: i64,
    pub(crate) changes: Changes,
}

impl<T> Written<T> {
    fn new(value: T, shop_id: i64) -> Self {
        Self {
            value,
            shop_id,
            changes: Changes::default(),
        }
    }
}

fn rows_into<T>(rows: Vec<Row>, f: impl Fn(&Row) -> Result<T, StoreError>) -> TxResult<Vec<T>> {
    rows.iter().map(|r| f(r).map_err(TxError::from)).collect()
}

pub(crate) struct HasShops;

impl Tx for HasShops {
    type Output = bool;
    const KIND: Statement = Statement::HasShops;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<bool> {
        Ok(c.query_one(sql::HAS_SHOPS, params![]).await?.flag(0)?)
    }
}

pub(crate) struct Ping;

impl Tx for Ping {
    type Output = ();
    const KIND: Statement = Statement::Ping;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<()> {
        c.query_one(sql::PING, params![]).await.map(drop)
    }
}

pub(crate) struct CreateShop {
    pub(crate) new: NewShop,
    pub(crate) staff_key_hash: Vec<u8>,
}

impl Tx for CreateShop {
    type Output = Written<Shop>;
    const KIND: Statement = Statement::CreateShop;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<Shop>> {
        let now = Timestamp::now();
        let new = &self.new;
        let id = c
            .query_opt(
                sql::INSERT_SHOP,
                params![
                    new.slug.as_str(),
                    &new.name,
                    new.currency.as_str(),
                    self.staff_key_hash.as_slice(),
                    now.micros()
                ],
            )
            .await?
            .ok_or(StoreError::SlugTaken)?
            .int(0)?;
        let shop = Shop {
            id,
            slug: new.slug.clone(),
            name: new.name.clone(),
            currency: new.currency,
            created_at: now,
            staff_key_hash: self.staff_key_hash.clone(),
            suspended: false,
            // `menu_version` starts at 1, and a new shop has no items.
            version: 1,
        };
        Ok(Written::new(shop, id))
    }
}

pub(crate) struct FindShop(pub(crate) Slug);

impl Tx for FindShop {
    type Output = Option<Shop>;
    const KIND: Statement = Statement::FindShop;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Option<Shop>> {
        let row = c
            .query_opt(sql::SHOP_BY_SLUG, params![self.0.as_str()])
            .await?;
        Ok(row.map(|r| r.shop()).transpose()?)
    }
}

pub(crate) struct MenuVersion(pub(crate) i64);

impl Tx for MenuVersion {
    type Output = i64;
    const KIND: Statement = Statement::MenuVersion;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<i64> {
        Ok(c.query_one(sql::MENU_VERSION, params![self.0])
            .await?
            .int(0)?)
    }
}

/// (shop id, menu version) of each of these shops that exists.
pub(crate) struct MenuVersions(pub(crate) Vec<i64>);

impl Tx for MenuVersions {
    type Output = Vec<(i64, i64)>;
    const KIND: Statement = Statement::MenuVersions;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Vec<(i64, i64)>> {
        let mut versions = Vec::with_capacity(self.0.len());
        for ids in self.0.chunks(sql::MENU_VERSIONS_BATCH) {
            let params: Vec<Param> = (0..sql::MENU_VERSIONS_BATCH)
                .map(|i| Param::from(ids.get(i).copied().unwrap_or(ids[0])))
                .collect();
            for row in c.query(&sql::MENU_VERSIONS, &params).await? {
                versions.push((row.int(0)?, row.int(1)?));
            }
        }
        Ok(versions)
    }
}

pub(crate) struct ReadMenu(pub(crate) Shop);

impl Tx for ReadMenu {
    type Output = Menu;
    const KIND: Statement = Statement::ReadMenu;
    /// The version and the items must describe the same menu.
    const SNAPSHOT: bool = true;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Menu> {
        let shop = &self.0;
        let version = MenuVersion(shop.id).run(c).await?;
        let rows = c.query(sql::MENU_ITEMS, params![shop.id]).await?;
        let items = rows_into(rows, Row::item)?;
        let modifier_groups = if items.iter().any(|i| !i.modifier_groups.is_empty()) {
            modifier_groups(c, shop.id).await?
        } else {
            vec![]
        };
        let (hours, pause) = schedule(c, shop.id).await?;
        Ok(Menu {
            shop: shop.slug.clone(),
            currency: shop.currency,
            version,
            ordering: Ordering::at(&hours, pause, Timestamp::now()),
            items,
            modifier_groups,
        })
    }
}

async fn modifier_groups<C: Conn>(c: &C, shop_id: i64) -> TxResult<Vec<ModifierGroup>> {
    let rows = c.query(sql::MODIFIER_GROUPS, params![shop_id]).await?;
    rows_into(rows, Row::modifier_group)
}

async fn schedule<C: Conn>(c: &C, shop_id: i64) -> TxResult<(Hours, Option<Pause>)> {
    let row = c
        .query_opt(sql::SCHEDULE, params![shop_id])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row.schedule()?)
}

/// Refuses an item that names a group the shop does not have.
async fn check_groups<C: Conn>(c: &C, shop_id: i64, named: &[ItemId]) -> TxResult<()> {
    if named.is_empty() {
        return Ok(());
    }
    let groups = modifier_groups(c, shop_id).await?;
    let missing: Vec<_> = named
        .iter()
        .enumerate()
        .filter(|(_, id)| !groups.iter().any(|g| &g.id == *id))
        .map(|(i, id)| {
            barista_domain::FieldError::new(
                format!("modifier_groups[{i}]"),
                format!("no modifier group `{id}`: create it first"),
            )
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::MenuConflict(barista_domain::Invalid(missing)).into())
    }
}

async fn item<C: Conn>(
    c: &C,
    sql: &'static str,
    shop_id: i64,
    id: &ItemId,
) -> TxResult<Option<MenuItem>> {
    let row = c.query_opt(sql, params![shop_id, id.as_str()]).await?;
    Ok(row.map(|r| r.item()).transpose()?)
}

/// Counts a menu edit on the shop row (the first lock every edit takes) and
/// answers the menu's version after it.
async fn count_menu_edit<C: Conn>(
    c: &C,
    shop_id: i64,
    removed_stock_changes: i64,
) -> TxResult<MenuChange> {
    c.execute(
        sql::COUNT_MENU_EDIT,
        params![shop_id, removed_stock_changes],
    )
    .await?;
    Ok(MenuChange::To(MenuVersion(shop_id).run(c).await?))
}

async fn save_item<C: Conn>(c: &C, shop_id: i64, item: &MenuItem) -> TxResult<()> {
    let options = ItemOptions::column(item)?;
    c.execute(
        sql::SAVE_ITEM,
        params![
            shop_id,
            item.id.as_str(),
            &item.name,
            &item.description,
            &item.category,
            item.price_cents,
            item.available,
            item.stock,
            &options
        ],
    )
    .await?;
    Ok(())
}

/// An item after a write, and whether the write created it.
#[derive(Debug, Clone)]
pub struct ItemWrite {
    pub item: MenuItem,
    pub created: bool,
}

pub(crate) struct PutItem {
    pub(crate) shop_id: i64,
    pub(crate) id: ItemId,
    pub(crate) fields: ItemFields,
}

impl Tx for PutItem {
    type Output = Written<ItemWrite>;
    const KIND: Statement = Statement::PutItem;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<ItemWrite>> {
        c.execute(sql::COUNT_MENU_EDIT, params![self.shop_id, 0_i64])
            .await?;
        check_groups(c, self.shop_id, &self.fields.modifier_groups).await?;
        let created = item(c, sql::ITEM_FOR_UPDATE, self.shop_id, &self.id)
            .await?
            .is_none();
        let item = self.fields.clone().into_item(self.id.clone());
        save_item(c, self.shop_id, &item).await?;
        let mut written = Written::new(ItemWrite { item, created }, self.shop_id);
        written.changes.menu = Some(MenuChange::To(MenuVersion(self.shop_id).run(c).await?));
        Ok(written)
    }
}

pub(crate) struct PatchItem {
    pub(crate) shop_id: i64,
    pub(crate) id: ItemId,
    pub(crate) patch: ItemPatch,
}

impl Tx for PatchItem {
    type Output = Written<MenuItem>;
    const KIND: Statement = Statement::PatchItem;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<MenuItem>> {
        c.execute(sql::COUNT_MENU_EDIT, params![self.shop_id, 0_i64])
            .await?;
        let current = item(c, sql::ITEM_FOR_UPDATE, self.shop_id, &self.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(named) = self.patch.modifier_groups() {
            check_groups(c, self.shop_id, named).await?;
        }
        let item = self.patch.apply(current).map_err(StoreError::Invalid)?;
        save_item(c, self.shop_id, &item).await?;
        let mut written = Written::new(item, self.shop_id);
        written.changes.menu = Some(MenuChange::To(MenuVersion(self.shop_id).run(c).await?));
        Ok(written)
    }
}

pub(crate) struct DeleteItem {
    pub(crate) shop_id: i64,
    pub(crate) id: ItemId,
}

impl Tx for DeleteItem {
    type Output = Written<()>;
    const KIND: Statement = Statement::DeleteItem;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<()>> {
        // The shop row first (the lock order of every edit), then the item.
        c.execute(sql::COUNT_MENU_EDIT, params![self.shop_id, -1_i64])
            .await?;
        let removed = c
            .query_opt(sql::DELETE_ITEM, params![self.shop_id, self.id.as_str()])
            .await?
            .ok_or(StoreError::NotFound)?
            .int(0)?;
        let mut written = Written::new((), self.shop_id);
        written.changes.menu = Some(count_menu_edit(c, self.shop_id, removed).await?);
        Ok(written)
    }
}

/// Appends the order's event: what changed, when. Its place in the stream comes back.
async fn append_event<C: Conn>(c: &C, shop_id: i64, order: &Order, id: &str) -> TxResult<EventPos> {
    let row = c
        .query_one(
            sql::INSERT_EVENT,
            params![
                shop_id,
                id,
                order.status.as_str(),
                order.version,
                order.updated_at.micros()
            ],
        )
        .await?;
    Ok(EventPos {
        tx: row.int(0)?,
        pos: row.int(1)?,
    })
}

/// Takes stock for every line, all or nothing: the first item that had too
/// few left, if one had (the caller's transaction then rolls back). The
/// statements go out together, in item order (the order every write locks items in).
async fn take_stock<C: Conn>(c: &C, shop_id: i64, moves: &[StockMove]) -> TxResult<Option<ItemId>> {
    let taken = try_join_all(moves.iter().map(|m| async move {
        c.execute(
            sql::TAKE_STOCK,
            params![shop_id, m.item.as_str(), m.quantity],
        )
        .await
    }))
    .await?;
    Ok(moves
        .iter()
        .zip(taken)
        .find(|(_, n)| *n == 0)
        .map(|(m, _)| m.item.clone()))
}

/// Gives stock back for every line of stocked items; how many items got some.
async fn give_back_stock<C: Conn>(c: &C, shop_id: i64, moves: &[StockMove]) -> TxResult<u64> {
    let mut given = 0;
    for m in moves {
        given += c
            .execute(
                sql::GIVE_BACK_STOCK,
                params![shop_id, m.item.as_str(), m.quantity],
            )
            .await?;
    }
    Ok(given)
}

pub(crate) struct PlaceOrder {
    pub(crate) shop: Shop,
    pub(crate) order: NewOrder,
    pub(crate) key: Option<IdempotentRequest>,
    pub(crate) groups: Arc<GroupsCache>,
}

/// Each shop's modifier groups as last read, under the shop row's count of
/// menu edits then: every change to a group counts an edit, so groups read
/// at the count an order's transaction sees on the row are the groups it
/// would read. An order that offers choices then reads only the shop row.
#[derive(Default)]
pub(crate) struct GroupsCache(Mutex<HashMap<i64, GroupsAt>>);

/// (the shop's count of menu edits, its groups then)
type GroupsAt = (i64, Arc<Vec<ModifierGroup>>);

impl GroupsCache {
    fn get(&self, shop_id: i64, edits: i64) -> Option<Arc<Vec<ModifierGroup>>> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&shop_id)
            .filter(|(at, _)| *at == edits)
            .map(|(_, g)| g.clone())
    }

    fn put(&self, shop_id: i64, edits: i64, groups: Arc<Vec<ModifierGroup>>) {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(shop_id, (edits, groups));
    }
}

impl PlaceOrder {
    /// Claims the key first: a concurrent request with the same key, on any
    /// replica, waits for this transaction and then sees its answer. The order
    /// a key already names, when the request matches the one it came with.
    async fn claim_key<C: Conn>(
        &self,
        c: &C,
        key: &IdempotentRequest,
        id: &str,
    ) -> TxResult<Option<OrderId>> {
        let shop_id = self.shop.id;
        let claimed = c
            .execute(
                sql::CLAIM_KEY,
                params![
                    shop_id,
                    key.key.as_str(),
                    key.fingerprint.as_slice(),
                    id,
                    Timestamp::now().micros()
                ],
            )
            .await?;
        if claimed == 1 {
            return Ok(None);
        }
        let seen = c
            .query_one(sql::FIND_KEY, params![shop_id, key.key.as_str()])
            .await?;
        key.replays(&seen.bytes(0)?)
            .map_err(|_| StoreError::IdempotencyKeyReused)?;
        Ok(Some(seen.order_id(1)?))
    }
}

impl Tx for PlaceOrder {
    type Output = Written<Placed>;
    const KIND: Statement = Statement::PlaceOrder;
    /// Round trips, on PostgreSQL: the key (when given), the items' prices (read
    /// together, without locks), then every write at once. Only stocked items
    /// are locked, in id order, by the conditional update that guards stock.
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<Placed>> {
        let shop = &self.shop;
        let order_id = OrderId::generate();
        let id = order_id.to_string();
        if let Some(key) = &self.key
            && let Some(id) = self.claim_key(c, key, &id).await?
        {
            let row = c
                .query_one(sql::ORDER, params![shop.id, &id.to_string()])
                .await?;
            let first = row.order(shop)?.as_placed();
            return Ok(Written::new(Placed::Replayed(first), shop.id));
        }
        let (found, rules) = futures_util::future::try_join(
            try_join_all(
                self.order
                    .lines
                    .iter()
                    .map(|line| item(c, sql::ITEM, shop.id, &line.item_id)),
            ),
            c.query_opt(sql::SCHEDULE, params![shop.id]),
        )
        .await?;
        let rules = rules.ok_or(StoreError::NotFound)?;
        if rules.flag(4)? {
            return Err(StoreError::Suspended.into());
        }
        let (hours, pause) = rules.schedule()?;
        let ordering = Ordering::at(&hours, pause, Timestamp::now());
        if !ordering.open {
            return Err(StoreError::Closed(Box::new(ordering)).into());
        }
        let offers_choices = found
            .iter()
            .flatten()
            .any(|i| !i.modifier_groups.is_empty());
        let groups = if offers_choices {
            let edits = rules.int(3)?;
            match self.groups.get(shop.id, edits) {
                Some(groups) => groups,
                None => {
                    let groups = Arc::new(modifier_groups(c, shop.id).await?);
                    self.groups.put(shop.id, edits, groups.clone());
                    groups
                }
            }
        } else {
            Arc::default()
        };
        let priced = self.order.price(found, &groups).map_err(|e| match e {
            PriceRefused::Unavailable(why) => StoreError::ItemUnavailable(why),
            PriceRefused::Invalid(why) => StoreError::Invalid(why),
        })?;
        let stocked = !priced.stock.is_empty();
        let stock = priced.stock.clone();
        let order = priced.place(shop, &self.order, order_id, Timestamp::now());
        let lines =
            serde_json::to_string(&order.lines).map_err(|e| StoreError::Internal(e.to_string()))?;
        let insert_order = async {
            c.execute(
                sql::INSERT_ORDER,
                params![
                    shop.id,
                    &id,
                    order.status.as_str(),
                    &order.customer_name,
                    &order.note,
                    &lines,
                    order.total_cents,
                    order.currency.as_str(),
                    order.version,
                    order.created_at.micros(),
                    order.updated_at.micros()
                ],
            )
            .await
        };
        // Every write goes out at once: one round trip, whatever the order holds.
        let (short, _, event) = try_join3(
            take_stock(c, shop.id, &stock),
            insert_order,
            append_event(c, shop.id, &order, &id),
        )
        .await?;
        if let Some(item) = short {
            return Err(StoreError::OutOfStock { item }.into());
        }
        let mut written = Written::new(Placed::Created(order), shop.id);
        written.changes = Changes {
            event: Some(event),
            menu: stocked.then_some(MenuChange::Stock),
        };
        Ok(written)
    }
}

/// Moves `order` to `to`: the domain decides the move and what goes back to
/// stock; this writes it, and the event.
async fn change_status<C: Conn>(
    c: &C,
    shop: &Shop,
    order: Order,
    to: Status,
) -> TxResult<Written<Order>> {
    let moved = order.moved(to, Timestamp::now())?;
    let order = moved.order;
    let id = order.id.to_string();
    c.execute(
        sql::UPDATE_ORDER_STATUS,
        params![
            shop.id,
            &id,
            order.status.as_str(),
            order.version,
            order.updated_at.micros()
        ],
    )
    .await?;
    let given = give_back_stock(c, shop.id, &moved.stock_back).await?;
    let event = append_event(c, shop.id, &order, &id).await?;
    let mut written = Written::new(order, shop.id);
    written.changes = Changes {
        event: Some(event),
        menu: (given > 0).then_some(MenuChange::Stock),
    };
    Ok(written)
}

pub(crate) struct ClaimNext(pub(crate) Shop);

impl Tx for ClaimNext {
    type Output = Option<Written<Order>>;
    const KIND: Statement = Statement::ClaimNext;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Option<Written<Order>>> {
        let shop = &self.0;
        let Some(row) = c.query_opt(sql::OLDEST_PLACED, params![shop.id]).await? else {
            return Ok(None);
        };
        let order = row.order(shop)?;
        change_status(c, shop, order, Status::Brewing)
            .await
            .map(Some)
    }
}

pub(crate) struct SetStatus {
    pub(crate) shop: Shop,
    pub(crate) id: OrderId,
    pub(crate) to: Status,
}

impl Tx for SetStatus {
    type Output = Written<Order>;
    const KIND: Statement = Statement::SetStatus;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<Order>> {
        let shop = &self.shop;
        let row = c
            .query_opt(
                sql::ORDER_FOR_UPDATE,
                params![shop.id, &self.id.to_string()],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        change_status(c, shop, row.order(shop)?, self.to).await
    }
}

pub(crate) struct ReadOrder {
    pub(crate) shop: Shop,
    pub(crate) id: OrderId,
}

impl Tx for ReadOrder {
    type Output = Option<Order>;
    const KIND: Statement = Statement::ReadOrder;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Option<Order>> {
        let row = c
            .query_opt(sql::ORDER, params![self.shop.id, &self.id.to_string()])
            .await?;
        Ok(row.map(|r| r.order(&self.shop)).transpose()?)
    }
}

pub(crate) struct ListOrders {
    pub(crate) shop: Shop,
    pub(crate) page: OrderPage,
}

impl Tx for ListOrders {
    type Output = (Vec<Order>, Option<OrderId>);
    const KIND: Statement = Statement::ListOrders;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<(Vec<Order>, Option<OrderId>)> {
        let page = &self.page;
        let shop_id = self.shop.id;
        // The first page starts before every order; a cursor that names no
        // order of the shop (purged meanwhile) ends the list.
        let (at, id) = match page.after {
            None => (i64::MIN, String::new()),
            Some(after) => {
                let after = after.to_string();
                match c
                    .query_opt(sql::PAGE_CURSOR, params![shop_id, &after])
                    .await?
                {
                    Some(row) => (row.int(0)?, row.string(1)?),
                    None => return Ok((vec![], None)),
                }
            }
        };
        let limit = page.limit as i64 + 1;
        let rows = match page.status {
            None => {
                c.query(sql::ORDERS_PAGE, params![shop_id, at, &id, limit])
                    .await?
            }
            Some(status) => {
                c.query(
                    sql::ORDERS_PAGE_OF_STATUS,
                    params![shop_id, at, &id, limit, status.as_str()],
                )
                .await?
            }
        };
        let mut orders = rows_into(rows, |r| r.order(&self.shop))?;
        let next = if orders.len() > page.limit {
            orders.truncate(page.limit);
            orders.last().map(|o| o.id)
        } else {
            None
        };
        Ok((orders, next))
    }
}

/// An event row (`tx, pos, status, version, at`, then the order's columns):
/// the order as the event left it.
/// An event row of `sql.rs` (`EVENTS_AFTER` and the like) of the shop `shop`.
fn event_of(row: &Row, shop: &Slug) -> Result<Event, StoreError> {
    let mut order = row.order_at(5, shop)?;
    order.status = row.status(2)?;
    order.version = row.int(3)?;
    order.updated_at = Timestamp(row.int(4)?);
    Ok(Event {
        pos: EventPos {
            tx: row.int(0)?,
            pos: row.int(1)?,
        },
        order,
    })
}

pub(crate) struct EventsAfter {
    pub(crate) shop: Shop,
    pub(crate) after: EventPos,
    pub(crate) limit: usize,
}

impl Tx for EventsAfter {
    type Output = Vec<Event>;
    const KIND: Statement = Statement::EventsAfter;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Vec<Event>> {
        let rows = c
            .query(
                sql::EVENTS_AFTER,
                params![
                    self.shop.id,
                    self.after.tx,
                    self.after.pos,
                    self.limit as i64
                ],
            )
            .await?;
        rows_into(rows, |r| event_of(r, &self.shop.slug))
    }
}

pub(crate) struct OrderEventsAfter {
    pub(crate) shop: Shop,
    pub(crate) order: OrderId,
    pub(crate) after: i64,
    pub(crate) limit: usize,
}

impl Tx for OrderEventsAfter {
    type Output = Vec<Event>;
    const KIND: Statement = Statement::OrderEventsAfter;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Vec<Event>> {
        let order = self.order.to_string();
        let rows = c
            .query(
                sql::ORDER_EVENTS_AFTER,
                params![self.shop.id, &order, self.after, self.limit as i64],
            )
            .await?;
        rows_into(rows, |r| event_of(r, &self.shop.slug))
    }
}

pub(crate) struct LastEvent(pub(crate) i64);

impl Tx for LastEvent {
    type Output = EventPos;
    const KIND: Statement = Statement::LastEvent;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<EventPos> {
        let row = c.query_opt(sql::LAST_EVENT, params![self.0]).await?;
        Ok(match row {
            Some(r) => EventPos {
                tx: r.int(0)?,
                pos: r.int(1)?,
            },
            None => EventPos::default(),
        })
    }
}

pub(crate) struct EventsAfterAny {
    pub(crate) after: EventPos,
    pub(crate) limit: usize,
}

impl Tx for EventsAfterAny {
    type Output = Vec<(i64, Event)>;
    const KIND: Statement = Statement::EventsAfterAny;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Vec<(i64, Event)>> {
        let rows = c
            .query(
                sql::EVENTS_AFTER_ANY,
                params![self.after.tx, self.after.pos, self.limit as i64],
            )
            .await?;
        rows_into(rows, |r| {
            let slug = r.parsed(16, "shop slug", |t| Slug::parse(t).ok())?;
            Ok((r.int(15)?, event_of(r, &slug)?))
        })
    }
}

pub(crate) struct LastEventAny;

impl Tx for LastEventAny {
    type Output = EventPos;
    const KIND: Statement = Statement::LastEventAny;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<EventPos> {
        let row = c.query_opt(sql::LAST_EVENT_ANY, params![]).await?;
        Ok(match row {
            Some(r) => EventPos {
                tx: r.int(0)?,
                pos: r.int(1)?,
            },
            None => EventPos::default(),
        })
    }
}

pub(crate) struct ShopIds;

impl Tx for ShopIds {
    type Output = Vec<i64>;
    const KIND: Statement = Statement::ShopIds;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Vec<i64>> {
        let rows = c.query(sql::SHOP_IDS, params![]).await?;
        rows_into(rows, |r| r.int(0))
    }
}

/// One small batch of a shop's expired idempotency keys and old events.
pub(crate) struct Purge {
    pub(crate) shop_id: i64,
    pub(crate) keys_before: Timestamp,
    pub(crate) events_before: Timestamp,
    pub(crate) batch: usize,
}

impl Tx for Purge {
    type Output = Written<Purged>;
    const KIND: Statement = Statement::Purge;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<Purged>> {
        let batch = self.batch as i64;
        let keys = c
            .execute(
                sql::PURGE_KEYS,
                params![self.shop_id, self.keys_before.micros(), batch],
            )
            .await?;
        let before = self.events_before.micros();
        let oldest = c
            .query_opt(sql::OLDEST_EVENT_AT, params![self.shop_id])
            .await?;
        let events = match oldest {
            Some(row) if row.int(0)? < before => {
                c.execute(sql::PURGE_EVENTS, params![self.shop_id, before, batch])
                    .await?
            }
            _ => 0,
        };
        // Nothing to announce: no reader waits for a deletion.
        Ok(Written::new(Purged { keys, events }, self.shop_id))
    }
}

/// A modifier group, and whether the write created it.
#[derive(Debug, Clone)]
pub struct GroupWrite {
    pub group: ModifierGroup,
    pub created: bool,
}

pub(crate) struct PutModifierGroup {
    pub(crate) shop_id: i64,
    pub(crate) group: ModifierGroup,
}

impl Tx for PutModifierGroup {
    type Output = Written<GroupWrite>;
    const KIND: Statement = Statement::PutModifierGroup;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<GroupWrite>> {
        let g = &self.group;
        // The shop row first: two edits of one shop's groups run one at a time.
        let version = count_menu_edit(c, self.shop_id, 0).await?;
        let groups = modifier_groups(c, self.shop_id).await?;
        g.clashes(&groups).map_err(StoreError::MenuConflict)?;
        let modifiers =
            serde_json::to_string(&g.modifiers).map_err(|e| StoreError::Internal(e.to_string()))?;
        c.execute(
            sql::SAVE_MODIFIER_GROUP,
            params![
                self.shop_id,
                g.id.as_str(),
                &g.name,
                g.min,
                g.max,
                &modifiers
            ],
        )
        .await?;
        let created = !groups.iter().any(|o| o.id == g.id);
        let mut written = Written::new(
            GroupWrite {
                group: g.clone(),
                created,
            },
            self.shop_id,
        );
        written.changes.menu = Some(version);
        Ok(written)
    }
}

pub(crate) struct DeleteModifierGroup {
    pub(crate) shop_id: i64,
    pub(crate) id: ItemId,
}

impl Tx for DeleteModifierGroup {
    type Output = Written<()>;
    const KIND: Statement = Statement::DeleteModifierGroup;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<()>> {
        let version = count_menu_edit(c, self.shop_id, 0).await?;
        let rows = c
            .query(sql::ITEMS_WITH_OPTIONS, params![self.shop_id])
            .await?;
        let users: Vec<String> = rows_into(rows, Row::item)?
            .into_iter()
            .filter(|i| i.modifier_groups.contains(&self.id))
            .map(|i| i.id.to_string())
            .collect();
        if !users.is_empty() {
            return Err(StoreError::MenuConflict(barista_domain::Invalid::one(
                "group",
                format!(
                    "is offered by {}: take it off those items first",
                    users.join(", ")
                ),
            ))
            .into());
        }
        let n = c
            .execute(
                sql::DELETE_MODIFIER_GROUP,
                params![self.shop_id, self.id.as_str()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound.into());
        }
        let mut written = Written::new((), self.shop_id);
        written.changes.menu = Some(version);
        Ok(written)
    }
}

/// The 86: a modifier marked unavailable (or back) for every item at once.
pub(crate) struct SetModifierAvailable {
    pub(crate) shop_id: i64,
    pub(crate) id: ItemId,
    pub(crate) available: bool,
}

impl Tx for SetModifierAvailable {
    type Output = Written<ModifierGroup>;
    const KIND: Statement = Statement::SetModifierAvailable;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<ModifierGroup>> {
        let version = count_menu_edit(c, self.shop_id, 0).await?;
        let mut group = modifier_groups(c, self.shop_id)
            .await?
            .into_iter()
            .find(|g| g.modifiers.iter().any(|m| m.id == self.id))
            .ok_or(StoreError::NotFound)?;
        group.set_available(&self.id, self.available);
        let modifiers = serde_json::to_string(&group.modifiers)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        c.execute(
            sql::SAVE_MODIFIER_GROUP,
            params![
                self.shop_id,
                group.id.as_str(),
                &group.name,
                group.min,
                group.max,
                &modifiers
            ],
        )
        .await?;
        let mut written = Written::new(group, self.shop_id);
        written.changes.menu = Some(version);
        Ok(written)
    }
}

pub(crate) struct ReadSchedule(pub(crate) i64);

impl Tx for ReadSchedule {
    type Output = (Hours, Option<Pause>);
    const KIND: Statement = Statement::ReadSchedule;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<(Hours, Option<Pause>)> {
        schedule(c, self.0).await
    }
}

/// New opening hours, or a new pause (`None` resumes): either changes what
/// the menu says of ordering, so both count as a menu edit.
pub(crate) enum ScheduleChange {
    Hours(Box<Hours>),
    Pause(Option<Pause>),
}

pub(crate) struct ChangeSchedule {
    pub(crate) shop_id: i64,
    pub(crate) change: ScheduleChange,
}

impl Tx for ChangeSchedule {
    type Output = Written<(Hours, Option<Pause>)>;
    const KIND: Statement = Statement::ChangeSchedule;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<(Hours, Option<Pause>)>> {
        let id = self.shop_id;
        match &self.change {
            ScheduleChange::Hours(hours) => {
                let text = serde_json::to_string(hours.body())
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                c.execute(sql::SAVE_SCHEDULE, params![id, hours.time_zone(), &text])
                    .await?
            }
            ScheduleChange::Pause(pause) => {
                c.execute(sql::SAVE_PAUSE, params![id, pause.map(Pause::to_stored)])
                    .await?
            }
        };
        let mut written = Written::new(schedule(c, id).await?, id);
        written.changes.menu = Some(MenuChange::To(MenuVersion(id).run(c).await?));
        Ok(written)
    }
}

/// What a pickup estimate is made from (`barista_domain::Queue`).
pub(crate) struct ReadQueue(pub(crate) i64);

impl Tx for ReadQueue {
    type Output = barista_domain::Queue;
    const KIND: Statement = Statement::ReadQueue;
    /// The waiting orders and the ready moves must describe one moment.
    const SNAPSHOT: bool = true;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<barista_domain::Queue> {
        let window = barista_domain::PACE_WINDOW as i64 + 1;
        let (placed, brewing, ready) = try_join3(
            c.query(sql::WAITING, params![self.0, Status::Placed.as_str()]),
            c.query(sql::WAITING, params![self.0, Status::Brewing.as_str()]),
            c.query(sql::RECENT_READY, params![self.0, window]),
        )
        .await?;
        let row = |r: &Row| Ok((Timestamp(r.int(0)?), r.order_id(1)?));
        let mut waiting = rows_into(placed, row)?;
        waiting.extend(rows_into(brewing, row)?);
        waiting.sort_unstable();
        Ok(barista_domain::Queue {
            waiting,
            ready: rows_into(ready, |r| {
                Ok((Timestamp(r.int(0)?), r.opt_int(1)?.map(Timestamp)))
            })?,
        })
    }
}
