//! Barista's transactions on PostgreSQL, with their SQL. Writes run in READ
//! COMMITTED with explicit row locks taken in a fixed order (the shop row, then
//! items by id); deadlocks and serialization failures come back as `Retry`.

use crate::pricing::{self, Priced};
use crate::sqlite::now_micros;
use crate::{
    Event, IdempotentRequest, ItemWrite, NewShop, OrderChange, OrderPage, Placed, ShopRecord,
    StoreError,
};
use barista_domain::{
    Currency, Invalid, ItemFields, ItemId, ItemPatch, MenuItem, NewOrder, Order, OrderId, Slug,
    Status, Timestamp,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::{GenericClient, Row};

/// Why a transaction did not finish: run it again, or a real error.
pub(super) enum TxError {
    Retry,
    Store(StoreError),
}

pub(super) type TxResult<T> = std::result::Result<T, TxError>;

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl From<Invalid> for TxError {
    fn from(e: Invalid) -> Self {
        TxError::Store(e.into())
    }
}

impl From<tokio_postgres::Error> for TxError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                TxError::Retry
            }
            Some(_) => TxError::Store(StoreError::Internal(e.to_string())),
            None => TxError::Store(StoreError::Unavailable(e.to_string())),
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable {what} in the database"))
}

pub(super) async fn has_shops(c: &impl GenericClient) -> TxResult<bool> {
    Ok(c.query_one("SELECT EXISTS (SELECT 1 FROM shops)", &[])
        .await?
        .get(0))
}

pub(super) async fn create_shop(c: &impl GenericClient, shop: &NewShop) -> TxResult<ShopRecord> {
    let now = now_micros();
    let row = c
        .query_opt(
            "INSERT INTO shops (slug, name, currency, staff_key_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (slug) DO NOTHING RETURNING id",
            &[&shop.slug.as_str(), &shop.name, &shop.currency.as_str(), &shop.staff_key_hash, &now],
        )
        .await?
        .ok_or(StoreError::SlugTaken)?;
    Ok(ShopRecord {
        id: row.get(0),
        slug: shop.slug.clone(),
        name: shop.name.clone(),
        currency: shop.currency,
        created_at: Timestamp(now),
        staff_key_hash: shop.staff_key_hash.clone(),
    })
}

pub(super) async fn shop(c: &impl GenericClient, slug: &Slug) -> TxResult<Option<ShopRecord>> {
    let row = c
        .query_opt(
            "SELECT id, name, currency, created_at, staff_key_hash FROM shops WHERE slug = $1",
            &[&slug.as_str()],
        )
        .await?;
    row.map(|r| {
        Ok(ShopRecord {
            id: r.get(0),
            slug: slug.clone(),
            name: r.get(1),
            currency: Currency::parse(r.get(2)).map_err(|_| corrupt("currency"))?,
            created_at: Timestamp(r.get(3)),
            staff_key_hash: r.get(4),
        })
    })
    .transpose()
}

pub(super) async fn menu_version(c: &impl GenericClient, shop_id: i64) -> TxResult<i64> {
    Ok(
        c.query_one("SELECT menu_version FROM shops WHERE id = $1", &[&shop_id])
            .await?
            .get(0),
    )
}

const ITEM_COLUMNS: &str = "item_id, name, description, category, price_cents, available, stock";

fn item_from_row(r: &Row) -> TxResult<MenuItem> {
    Ok(MenuItem {
        id: ItemId::parse(r.get(0)).map_err(|_| corrupt("item id"))?,
        name: r.get(1),
        description: r.get(2),
        category: r.get(3),
        price_cents: r.get(4),
        available: r.get(5),
        stock: r.get(6),
    })
}

pub(super) async fn menu_items(c: &impl GenericClient, shop_id: i64) -> TxResult<Vec<MenuItem>> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM menu_items WHERE shop_id = $1 ORDER BY category, item_id"
    );
    c.query(&sql, &[&shop_id])
        .await?
        .iter()
        .map(item_from_row)
        .collect()
}

async fn item(
    c: &impl GenericClient,
    shop_id: i64,
    id: &ItemId,
    lock: bool,
) -> TxResult<Option<MenuItem>> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM menu_items WHERE shop_id = $1 AND item_id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    c.query_opt(&sql, &[&shop_id, &id.as_str()])
        .await?
        .as_ref()
        .map(item_from_row)
        .transpose()
}

async fn bump_menu_version(c: &impl GenericClient, shop_id: i64) -> TxResult<i64> {
    Ok(c.query_one(
        "UPDATE shops SET menu_version = menu_version + 1 WHERE id = $1 RETURNING menu_version",
        &[&shop_id],
    )
    .await?
    .get(0))
}

async fn save_item(c: &impl GenericClient, shop_id: i64, item: &MenuItem) -> TxResult<()> {
    c.execute(
        "INSERT INTO menu_items (shop_id, item_id, name, description, category, price_cents, available, stock)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (shop_id, item_id) DO UPDATE SET name = excluded.name, description = excluded.description,
           category = excluded.category, price_cents = excluded.price_cents, available = excluded.available,
           stock = excluded.stock",
        &[&shop_id, &item.id.as_str(), &item.name, &item.description, &item.category, &item.price_cents, &item.available, &item.stock],
    )
    .await?;
    Ok(())
}

pub(super) async fn put_item(
    c: &impl GenericClient,
    shop_id: i64,
    id: &ItemId,
    f: &ItemFields,
) -> TxResult<ItemWrite> {
    // The shop row first: every menu write takes locks in the same order.
    let menu_version = bump_menu_version(c, shop_id).await?;
    let created = item(c, shop_id, id, true).await?.is_none();
    let item = MenuItem {
        id: id.clone(),
        name: f.name.clone(),
        description: f.description.clone(),
        category: f.category.clone(),
        price_cents: f.price_cents,
        available: f.available,
        stock: f.stock,
    };
    save_item(c, shop_id, &item).await?;
    Ok(ItemWrite {
        item,
        created,
        menu_version,
    })
}

pub(super) async fn patch_item(
    c: &impl GenericClient,
    shop_id: i64,
    id: &ItemId,
    patch: &ItemPatch,
) -> TxResult<ItemWrite> {
    let menu_version = bump_menu_version(c, shop_id).await?;
    let current = item(c, shop_id, id, true)
        .await?
        .ok_or(StoreError::NotFound)?;
    let item = patch.clone().apply(current);
    save_item(c, shop_id, &item).await?;
    Ok(ItemWrite {
        item,
        created: false,
        menu_version,
    })
}

pub(super) async fn delete_item(
    c: &impl GenericClient,
    shop_id: i64,
    id: &ItemId,
) -> TxResult<i64> {
    let menu_version = bump_menu_version(c, shop_id).await?;
    let deleted = c
        .execute(
            "DELETE FROM menu_items WHERE shop_id = $1 AND item_id = $2",
            &[&shop_id, &id.as_str()],
        )
        .await?;
    if deleted == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(menu_version)
}

async fn append_event(
    c: &impl GenericClient,
    shop_id: i64,
    order_id: OrderId,
    data: &str,
    now: i64,
) -> TxResult<i64> {
    let seq: i64 = c
        .query_one(
            "UPDATE shops SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
            &[&shop_id],
        )
        .await?
        .get(0);
    c.execute(
        "INSERT INTO events (shop_id, seq, order_id, data, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&shop_id, &seq, &order_id.to_string(), &data, &now],
    )
    .await?;
    // Wakes the other replicas' event streams at commit; they re-read the table.
    c.execute(
        "SELECT pg_notify('barista_events', $1)",
        &[&format!("{shop_id}:{seq}")],
    )
    .await?;
    Ok(seq)
}

fn to_json(order: &Order) -> TxResult<String> {
    serde_json::to_string(order).map_err(|e| StoreError::Internal(e.to_string()).into())
}

pub(super) async fn place_order(
    c: &impl GenericClient,
    shop: &ShopRecord,
    new: &NewOrder,
    key: Option<&IdempotentRequest>,
) -> TxResult<(Placed, i64)> {
    if let Some(key) = key {
        // Claim the key first: a concurrent request with the same key, on any
        // replica, waits here for this transaction and then sees the answer.
        let claimed = c
            .execute(
                "INSERT INTO idempotency_keys (shop_id, key, fingerprint, order_id, response, created_at)
                 VALUES ($1, $2, $3, '', '', $4) ON CONFLICT (shop_id, key) DO NOTHING",
                &[&shop.id, &key.key.as_str(), &key.fingerprint, &now_micros()],
            )
            .await?;
        if claimed == 0 {
            let seen = c
                .query_one(
                    "SELECT fingerprint, response, order_id FROM idempotency_keys WHERE shop_id = $1 AND key = $2",
                    &[&shop.id, &key.key.as_str()],
                )
                .await?;
            let fingerprint: Vec<u8> = seen.get(0);
            if fingerprint != key.fingerprint {
                return Err(StoreError::IdempotencyKeyReused.into());
            }
            let order_id = OrderId::parse(seen.get(2)).map_err(|_| corrupt("order id"))?;
            return Ok((
                Placed::Replayed {
                    order_id,
                    json: seen.get(1),
                },
                0,
            ));
        }
    }
    // Prices as committed now; no lock: the conditional stock update below is
    // what guards stock, and it locks only the stocked items, in id order.
    let mut found: Vec<Option<MenuItem>> = Vec::with_capacity(new.lines.len());
    for line in &new.lines {
        found.push(item(c, shop.id, &line.item_id, false).await?);
    }
    let Priced { lines, stocked } = pricing::price(new, found)?;
    for (item_id, quantity) in &stocked {
        let taken = c
            .execute(
                "UPDATE menu_items SET stock = stock - $3 WHERE shop_id = $1 AND item_id = $2 AND stock >= $3",
                &[&shop.id, &item_id.as_str(), quantity],
            )
            .await?;
        if taken == 0 {
            return Err(StoreError::OutOfStock {
                item: item_id.clone(),
            }
            .into());
        }
    }
    let menu_version = if stocked.is_empty() {
        None
    } else {
        Some(bump_menu_version(c, shop.id).await?)
    };
    let now = now_micros();
    let order = pricing::placed_order(shop, new, lines, now);
    let lines_json =
        serde_json::to_string(&order.lines).map_err(|e| StoreError::Internal(e.to_string()))?;
    c.execute(
        "INSERT INTO orders (shop_id, id, status, customer_name, note, lines, total_cents, currency, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        &[&shop.id, &order.id.to_string(), &order.status.as_str(), &order.customer_name, &order.note, &lines_json,
          &order.total_cents, &order.currency.as_str(), &order.version, &now],
    )
    .await?;
    let json = to_json(&order)?;
    let seq = append_event(c, shop.id, order.id, &json, now).await?;
    if let Some(key) = key {
        c.execute(
            "UPDATE idempotency_keys SET order_id = $3, response = $4 WHERE shop_id = $1 AND key = $2",
            &[&shop.id, &key.key.as_str(), &order.id.to_string(), &json],
        )
        .await?;
    }
    Ok((
        Placed::Created {
            order,
            json,
            menu_version,
        },
        seq,
    ))
}

const ORDER_COLUMNS: &str = "id, status, customer_name, note, lines, total_cents, currency, version, created_at, updated_at";

fn order_from_row(shop: &ShopRecord, r: &Row) -> TxResult<Order> {
    Ok(Order {
        id: OrderId::parse(r.get(0)).map_err(|_| corrupt("order id"))?,
        shop: shop.slug.clone(),
        status: Status::parse(r.get(1)).ok_or_else(|| corrupt("order status"))?,
        customer_name: r.get(2),
        note: r.get(3),
        lines: serde_json::from_str(r.get(4)).map_err(|_| corrupt("order lines"))?,
        total_cents: r.get(5),
        currency: Currency::parse(r.get(6)).map_err(|_| corrupt("currency"))?,
        version: r.get(7),
        created_at: Timestamp(r.get(8)),
        updated_at: Timestamp(r.get(9)),
    })
}

pub(super) async fn order(
    c: &impl GenericClient,
    shop: &ShopRecord,
    id: OrderId,
    lock: bool,
) -> TxResult<Option<Order>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE shop_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    c.query_opt(&sql, &[&shop.id, &id.to_string()])
        .await?
        .map(|r| order_from_row(shop, &r))
        .transpose()
}

pub(super) async fn list_orders(
    c: &impl GenericClient,
    shop: &ShopRecord,
    page: &OrderPage,
) -> TxResult<(Vec<Order>, Option<OrderId>)> {
    let after = page.after.map(|id| id.to_string()).unwrap_or_default();
    let status = page.status.map(|s| s.as_str().to_owned());
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE shop_id = $1 AND id > $2 AND ($3::text IS NULL OR status = $3)
         ORDER BY id LIMIT $4"
    );
    let rows = c
        .query(&sql, &[&shop.id, &after, &status, &(page.limit as i64 + 1)])
        .await?;
    let mut orders = rows
        .iter()
        .map(|r| order_from_row(shop, r))
        .collect::<TxResult<Vec<_>>>()?;
    let next = if orders.len() > page.limit {
        orders.truncate(page.limit);
        orders.last().map(|o| o.id)
    } else {
        None
    };
    Ok((orders, next))
}

async fn change_status(
    c: &impl GenericClient,
    shop: &ShopRecord,
    mut order: Order,
    to: Status,
) -> TxResult<(OrderChange, i64)> {
    order.status = order.status.transition(to).map_err(StoreError::from)?;
    let now = now_micros().max(order.updated_at.micros());
    order.version += 1;
    order.updated_at = Timestamp(now);
    c.execute(
        "UPDATE orders SET status = $3, version = $4, updated_at = $5 WHERE shop_id = $1 AND id = $2",
        &[&shop.id, &order.id.to_string(), &order.status.as_str(), &order.version, &now],
    )
    .await?;
    let mut menu_version = None;
    if to == Status::Cancelled {
        let mut lines: Vec<_> = order.lines.iter().collect();
        lines.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        let mut returned = 0;
        for line in lines {
            returned += c
                .execute(
                    "UPDATE menu_items SET stock = stock + $3 WHERE shop_id = $1 AND item_id = $2 AND stock IS NOT NULL",
                    &[&shop.id, &line.item_id, &line.quantity],
                )
                .await?;
        }
        if returned > 0 {
            menu_version = Some(bump_menu_version(c, shop.id).await?);
        }
    }
    let seq = append_event(c, shop.id, order.id, &to_json(&order)?, now).await?;
    Ok((
        OrderChange {
            order,
            menu_version,
        },
        seq,
    ))
}

pub(super) async fn claim_next(
    c: &impl GenericClient,
    shop: &ShopRecord,
) -> TxResult<Option<(OrderChange, i64)>> {
    // SKIP LOCKED: baristas on other replicas claim other orders, never wait.
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE shop_id = $1 AND status = 'placed' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
    );
    let Some(row) = c.query_opt(&sql, &[&shop.id]).await? else {
        return Ok(None);
    };
    let order = order_from_row(shop, &row)?;
    change_status(c, shop, order, Status::Brewing)
        .await
        .map(Some)
}

pub(super) async fn set_status(
    c: &impl GenericClient,
    shop: &ShopRecord,
    id: OrderId,
    to: Status,
) -> TxResult<(OrderChange, i64)> {
    let current = order(c, shop, id, true)
        .await?
        .ok_or(StoreError::NotFound)?;
    change_status(c, shop, current, to).await
}

pub(super) async fn events_after(
    c: &impl GenericClient,
    shop_id: i64,
    after: i64,
    order: Option<OrderId>,
    limit: usize,
) -> TxResult<Vec<Event>> {
    let order = order.map(|id| id.to_string());
    let rows = c
        .query(
            "SELECT seq, order_id, data FROM events WHERE shop_id = $1 AND seq > $2 AND ($3::text IS NULL OR order_id = $3)
             ORDER BY seq LIMIT $4",
            &[&shop_id, &after, &order, &(limit as i64)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Event {
                seq: r.get(0),
                order_id: OrderId::parse(r.get(1)).map_err(|_| corrupt("event order id"))?,
                data: r.get(2),
            })
        })
        .collect()
}

pub(super) async fn last_event_seq(c: &impl GenericClient, shop_id: i64) -> TxResult<i64> {
    Ok(
        c.query_one("SELECT event_seq FROM shops WHERE id = $1", &[&shop_id])
            .await?
            .get(0),
    )
}
