//! Barista's transactions on SQLite, with their SQL. Each function runs inside
//! a transaction its caller opened (the writer's batch, or a plain read).

use super::now_micros;
use crate::pricing::{self, Priced};
use crate::{
    Event, IdempotentRequest, ItemWrite, NewShop, OrderChange, OrderPage, Placed, Result,
    ShopRecord, StoreError,
};
use barista_domain::{
    Currency, ItemFields, ItemId, ItemPatch, Menu, MenuItem, NewOrder, Order, OrderId, Slug,
    Status, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable {what} in the database"))
}

pub(super) fn has_shops(c: &Connection) -> Result<bool> {
    Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM shops)", [], |r| r.get(0))?)
}

pub(super) fn create_shop(c: &Connection, shop: &NewShop) -> Result<ShopRecord> {
    let now = now_micros();
    let inserted = c
        .prepare_cached(
            "INSERT INTO shops (slug, name, currency, staff_key_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (slug) DO NOTHING",
        )?
        .execute(params![
            shop.slug.as_str(),
            shop.name,
            shop.currency.as_str(),
            shop.staff_key_hash,
            now
        ])?;
    if inserted == 0 {
        return Err(StoreError::SlugTaken);
    }
    Ok(ShopRecord {
        id: c.last_insert_rowid(),
        slug: shop.slug.clone(),
        name: shop.name.clone(),
        currency: shop.currency,
        created_at: Timestamp(now),
        staff_key_hash: shop.staff_key_hash.clone(),
    })
}

pub(super) fn shop(c: &Connection, slug: &Slug) -> Result<Option<ShopRecord>> {
    let row = c
        .prepare_cached(
            "SELECT id, name, currency, created_at, staff_key_hash FROM shops WHERE slug = ?1",
        )?
        .query_row([slug.as_str()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })
        .optional()?;
    row.map(|(id, name, currency, created_at, staff_key_hash)| {
        Ok(ShopRecord {
            id,
            slug: slug.clone(),
            name,
            currency: Currency::parse(&currency).map_err(|_| corrupt("currency"))?,
            created_at: Timestamp(created_at),
            staff_key_hash,
        })
    })
    .transpose()
}

pub(super) fn menu_version(c: &Connection, shop_id: i64) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT menu_version FROM shops WHERE id = ?1")?
            .query_row([shop_id], |r| r.get(0))?,
    )
}

fn item_from_row(r: &Row<'_>) -> Result<MenuItem> {
    let id: String = r.get(0)?;
    Ok(MenuItem {
        id: ItemId::parse(&id).map_err(|_| corrupt("item id"))?,
        name: r.get(1)?,
        description: r.get(2)?,
        category: r.get(3)?,
        price_cents: r.get(4)?,
        available: r.get(5)?,
        stock: r.get(6)?,
    })
}

const ITEM_COLUMNS: &str = "item_id, name, description, category, price_cents, available, stock";

pub(super) fn menu(c: &Connection, shop: &ShopRecord) -> Result<Menu> {
    // Read the version and the items in one snapshot.
    c.execute_batch("BEGIN")?;
    let result = (|| {
        let version = menu_version(c, shop.id)?;
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM menu_items WHERE shop_id = ?1 ORDER BY category, item_id"
        ))?;
        let mut rows = stmt.query([shop.id])?;
        let mut items = vec![];
        while let Some(r) = rows.next()? {
            items.push(item_from_row(r)?);
        }
        Ok(Menu {
            shop: shop.slug.clone(),
            currency: shop.currency,
            version,
            items,
        })
    })();
    c.execute_batch("COMMIT")?;
    result
}

fn item(c: &Connection, shop_id: i64, id: &ItemId) -> Result<Option<MenuItem>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ITEM_COLUMNS} FROM menu_items WHERE shop_id = ?1 AND item_id = ?2"
    ))?;
    let mut rows = stmt.query(params![shop_id, id.as_str()])?;
    rows.next()?.map(item_from_row).transpose()
}

fn bump_menu_version(c: &Connection, shop_id: i64) -> Result<i64> {
    Ok(c.prepare_cached(
        "UPDATE shops SET menu_version = menu_version + 1 WHERE id = ?1 RETURNING menu_version",
    )?
    .query_row([shop_id], |r| r.get(0))?)
}

fn save_item(c: &Connection, shop_id: i64, item: &MenuItem) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO menu_items (shop_id, item_id, name, description, category, price_cents, available, stock)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (shop_id, item_id) DO UPDATE SET name = excluded.name,
           description = excluded.description, category = excluded.category,
           price_cents = excluded.price_cents, available = excluded.available, stock = excluded.stock",
    )?
    .execute(params![
        shop_id,
        item.id.as_str(),
        item.name,
        item.description,
        item.category,
        item.price_cents,
        item.available,
        item.stock
    ])?;
    Ok(())
}

pub(super) fn put_item(
    c: &Connection,
    shop_id: i64,
    id: ItemId,
    f: ItemFields,
) -> Result<ItemWrite> {
    let created = item(c, shop_id, &id)?.is_none();
    let item = MenuItem {
        id,
        name: f.name,
        description: f.description,
        category: f.category,
        price_cents: f.price_cents,
        available: f.available,
        stock: f.stock,
    };
    save_item(c, shop_id, &item)?;
    let menu_version = bump_menu_version(c, shop_id)?;
    Ok(ItemWrite {
        item,
        created,
        menu_version,
    })
}

pub(super) fn patch_item(
    c: &Connection,
    shop_id: i64,
    id: ItemId,
    patch: ItemPatch,
) -> Result<ItemWrite> {
    let current = item(c, shop_id, &id)?.ok_or(StoreError::NotFound)?;
    let item = patch.apply(current);
    save_item(c, shop_id, &item)?;
    let menu_version = bump_menu_version(c, shop_id)?;
    Ok(ItemWrite {
        item,
        created: false,
        menu_version,
    })
}

pub(super) fn delete_item(c: &Connection, shop_id: i64, id: &ItemId) -> Result<i64> {
    let deleted = c
        .prepare_cached("DELETE FROM menu_items WHERE shop_id = ?1 AND item_id = ?2")?
        .execute(params![shop_id, id.as_str()])?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    bump_menu_version(c, shop_id)
}

fn append_event(
    c: &Connection,
    shop_id: i64,
    order_id: OrderId,
    data: &str,
    now: i64,
) -> Result<i64> {
    let seq: i64 = c
        .prepare_cached(
            "UPDATE shops SET event_seq = event_seq + 1 WHERE id = ?1 RETURNING event_seq",
        )?
        .query_row([shop_id], |r| r.get(0))?;
    c.prepare_cached(
        "INSERT INTO events (shop_id, seq, order_id, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![shop_id, seq, order_id.to_string(), data, now])?;
    Ok(seq)
}

fn to_json(order: &Order) -> Result<String> {
    serde_json::to_string(order).map_err(|e| StoreError::Internal(e.to_string()))
}

/// The new order and, when it took stock, the menu version; plus the event to announce.
pub(super) fn place_order(
    c: &Connection,
    shop: &ShopRecord,
    new: &NewOrder,
    key: Option<&IdempotentRequest>,
) -> Result<(Placed, Option<(i64, i64)>)> {
    if let Some(key) = key {
        let seen: Option<(Vec<u8>, String, String)> = c
            .prepare_cached(
                "SELECT fingerprint, response, order_id FROM idempotency_keys WHERE shop_id = ?1 AND key = ?2",
            )?
            .query_row(params![shop.id, key.key.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        if let Some((fingerprint, json, order_id)) = seen {
            return if fingerprint == key.fingerprint {
                let order_id = OrderId::parse(&order_id).map_err(|_| corrupt("order id"))?;
                Ok((Placed::Replayed { order_id, json }, None))
            } else {
                Err(StoreError::IdempotencyKeyReused)
            };
        }
    }

    let found = new
        .lines
        .iter()
        .map(|line| item(c, shop.id, &line.item_id))
        .collect::<Result<Vec<_>>>()?;
    let Priced { lines, stocked } = pricing::price(new, found)?;

    // Take stock in item order, all or nothing: a failure rolls back the savepoint.
    let mut take = c.prepare_cached(
        "UPDATE menu_items SET stock = stock - ?3 WHERE shop_id = ?1 AND item_id = ?2 AND stock >= ?3",
    )?;
    for (item_id, quantity) in &stocked {
        if take.execute(params![shop.id, item_id.as_str(), quantity])? == 0 {
            return Err(StoreError::OutOfStock {
                item: item_id.clone(),
            });
        }
    }
    let menu_version = if stocked.is_empty() {
        None
    } else {
        Some(bump_menu_version(c, shop.id)?)
    };

    let now = now_micros();
    let order = pricing::placed_order(shop, new, lines, now);
    let lines_json =
        serde_json::to_string(&order.lines).map_err(|e| StoreError::Internal(e.to_string()))?;
    c.prepare_cached(
        "INSERT INTO orders (shop_id, id, status, customer_name, note, lines, total_cents, currency, version, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        shop.id,
        order.id.to_string(),
        order.status.as_str(),
        order.customer_name,
        order.note,
        lines_json,
        order.total_cents,
        order.currency.as_str(),
        order.version,
        now
    ])?;
    let json = to_json(&order)?;
    let seq = append_event(c, shop.id, order.id, &json, now)?;
    if let Some(key) = key {
        c.prepare_cached(
            "INSERT INTO idempotency_keys (shop_id, key, fingerprint, order_id, response, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![shop.id, key.key.as_str(), key.fingerprint, order.id.to_string(), json, now])?;
    }
    Ok((
        Placed::Created {
            order,
            json,
            menu_version,
        },
        Some((shop.id, seq)),
    ))
}

const ORDER_COLUMNS: &str = "id, status, customer_name, note, lines, total_cents, currency, version, created_at, updated_at";

fn order_from_row(shop: &ShopRecord, r: &Row<'_>) -> Result<Order> {
    let id: String = r.get(0)?;
    let status: String = r.get(1)?;
    let lines: String = r.get(4)?;
    let currency: String = r.get(6)?;
    Ok(Order {
        id: OrderId::parse(&id).map_err(|_| corrupt("order id"))?,
        shop: shop.slug.clone(),
        status: Status::parse(&status).ok_or_else(|| corrupt("order status"))?,
        customer_name: r.get(2)?,
        note: r.get(3)?,
        lines: serde_json::from_str(&lines).map_err(|_| corrupt("order lines"))?,
        total_cents: r.get(5)?,
        currency: Currency::parse(&currency).map_err(|_| corrupt("currency"))?,
        version: r.get(7)?,
        created_at: Timestamp(r.get(8)?),
        updated_at: Timestamp(r.get(9)?),
    })
}

pub(super) fn order(c: &Connection, shop: &ShopRecord, id: OrderId) -> Result<Option<Order>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE shop_id = ?1 AND id = ?2"
    ))?;
    let mut rows = stmt.query(params![shop.id, id.to_string()])?;
    rows.next()?.map(|r| order_from_row(shop, r)).transpose()
}

pub(super) fn list_orders(
    c: &Connection,
    shop: &ShopRecord,
    page: &OrderPage,
) -> Result<(Vec<Order>, Option<OrderId>)> {
    let after = page.after.map(|id| id.to_string()).unwrap_or_default();
    let status = page.status.map(Status::as_str);
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE shop_id = ?1 AND id > ?2 AND (?3 IS NULL OR status = ?3)
         ORDER BY id LIMIT ?4"
    ))?;
    let mut rows = stmt.query(params![shop.id, after, status, page.limit as i64 + 1])?;
    let mut orders = Vec::with_capacity(page.limit);
    while let Some(r) = rows.next()? {
        orders.push(order_from_row(shop, r)?);
    }
    let next = if orders.len() > page.limit {
        orders.truncate(page.limit);
        orders.last().map(|o| o.id)
    } else {
        None
    };
    Ok((orders, next))
}

/// Moves an order to `to`, records its event, and gives stock back on cancel.
fn change_status(
    c: &Connection,
    shop: &ShopRecord,
    mut order: Order,
    to: Status,
) -> Result<(OrderChange, i64)> {
    order.status = order.status.transition(to)?;
    let now = now_micros().max(order.updated_at.micros());
    order.version += 1;
    order.updated_at = Timestamp(now);
    c.prepare_cached("UPDATE orders SET status = ?3, version = ?4, updated_at = ?5 WHERE shop_id = ?1 AND id = ?2")?
        .execute(params![shop.id, order.id.to_string(), order.status.as_str(), order.version, now])?;

    let mut menu_version = None;
    if to == Status::Cancelled {
        let mut give_back = c.prepare_cached(
            "UPDATE menu_items SET stock = stock + ?3 WHERE shop_id = ?1 AND item_id = ?2 AND stock IS NOT NULL",
        )?;
        let mut lines: Vec<_> = order.lines.iter().collect();
        lines.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        let mut returned = 0;
        for line in lines {
            returned += give_back.execute(params![shop.id, line.item_id, line.quantity])?;
        }
        if returned > 0 {
            menu_version = Some(bump_menu_version(c, shop.id)?);
        }
    }
    let seq = append_event(c, shop.id, order.id, &to_json(&order)?, now)?;
    Ok((
        OrderChange {
            order,
            menu_version,
        },
        seq,
    ))
}

pub(super) fn claim_next(c: &Connection, shop: &ShopRecord) -> Result<Option<(OrderChange, i64)>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE shop_id = ?1 AND status = 'placed' ORDER BY id LIMIT 1"
    ))?;
    let oldest = stmt
        .query([shop.id])?
        .next()?
        .map(|r| order_from_row(shop, r))
        .transpose()?;
    oldest
        .map(|o| change_status(c, shop, o, Status::Brewing))
        .transpose()
}

pub(super) fn set_status(
    c: &Connection,
    shop: &ShopRecord,
    id: OrderId,
    to: Status,
) -> Result<(OrderChange, i64)> {
    let current = order(c, shop, id)?.ok_or(StoreError::NotFound)?;
    change_status(c, shop, current, to)
}

pub(super) fn events_after(
    c: &Connection,
    shop_id: i64,
    after: i64,
    order: Option<OrderId>,
    limit: usize,
) -> Result<Vec<Event>> {
    let order = order.map(|id| id.to_string());
    let mut stmt = c.prepare_cached(
        "SELECT seq, order_id, data FROM events
         WHERE shop_id = ?1 AND seq > ?2 AND (?3 IS NULL OR order_id = ?3)
         ORDER BY seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![shop_id, after, order, limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (seq, order_id, data) = row?;
        Ok(Event {
            seq,
            order_id: OrderId::parse(&order_id).map_err(|_| corrupt("event order id"))?,
            data,
        })
    })
    .collect()
}

pub(super) fn last_event_seq(c: &Connection, shop_id: i64) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT event_seq FROM shops WHERE id = ?1")?
            .query_row([shop_id], |r| r.get(0))?,
    )
}
