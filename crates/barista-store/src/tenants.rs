//! The operator's and the owner's transactions over a whole shop: a new staff
//! key, a change of name or standing, the list of shops, the day's takings,
//! and a shop's data exported, imported and deleted.
//!
//! An export is every row the shop owns, table by table, column by column
//! (named, so a reader can see what is there), with the schema version it was
//! read at. An import checks every row with the same readers the server uses
//! before the transaction commits, so a damaged file changes nothing.

use crate::StoreError;
use crate::conn::{Conn, TxError, TxResult};
use crate::sql;
use crate::timing::Statement;
use crate::transactions::{Changes, MenuChange, Tx, Written};
use crate::value::{Param, Row, Value, params};
use barista_domain::hex::{decode as unhex, encode as hex};
use barista_domain::{
    Invalid, Report, ReportBuilder, ReportOrder, ReportRange, Shop, Slug, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::sync::LazyLock;

/// A shop read again after a write to its row, announced as a change of the
/// shop (every replica drops what it holds of it).
async fn changed_shop<C: Conn>(c: &C, shop_id: i64) -> TxResult<Written<Shop>> {
    let shop = c
        .query_opt(sql::SHOP_BY_ID, params![shop_id])
        .await?
        .ok_or(StoreError::NotFound)?
        .shop()?;
    let version = shop.version;
    Ok(Written {
        value: shop,
        shop_id,
        changes: Changes {
            event: None,
            menu: Some(MenuChange::Shop(version)),
        },
    })
}

pub(crate) struct ReplaceStaffKey {
    pub(crate) shop_id: i64,
    pub(crate) hash: Vec<u8>,
}

impl Tx for ReplaceStaffKey {
    type Output = Written<Shop>;
    const KIND: Statement = Statement::ChangeShop;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<Shop>> {
        let changed = c
            .execute(
                sql::SET_STAFF_KEY,
                params![self.shop_id, self.hash.as_slice()],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound.into());
        }
        changed_shop(c, self.shop_id).await
    }
}

/// A change of a shop's name or standing; `None` keeps what is there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopChange {
    pub name: Option<String>,
    pub suspended: Option<bool>,
}

pub(crate) struct ChangeShop {
    pub(crate) shop_id: i64,
    pub(crate) change: ShopChange,
}

impl Tx for ChangeShop {
    type Output = Written<Shop>;
    const KIND: Statement = Statement::ChangeShop;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<Shop>> {
        let ShopChange { name, suspended } = &self.change;
        let changed = c
            .execute(
                sql::UPDATE_SHOP,
                params![self.shop_id, name.as_ref(), *suspended],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound.into());
        }
        changed_shop(c, self.shop_id).await
    }
}

pub(crate) struct ListShops {
    pub(crate) after: String,
    pub(crate) limit: i64,
}

impl Tx for ListShops {
    type Output = Vec<Shop>;
    const KIND: Statement = Statement::ListShops;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Vec<Shop>> {
        let rows = c
            .query(sql::SHOPS_AFTER, params![&self.after, self.limit])
            .await?;
        rows.iter().map(|r| Ok(r.shop()?)).collect()
    }
}

pub(crate) struct ReadReport {
    pub(crate) shop_id: i64,
    pub(crate) currency: String,
    pub(crate) range: ReportRange,
}

impl Tx for ReadReport {
    type Output = Report;
    const KIND: Statement = Statement::ReadReport;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Report> {
        // A page of orders at a time, each parsed, counted and dropped: a
        // month of a busy shop (85,000 orders) is never held at once.
        const PAGE: i64 = 2000;
        let end = self.range.end.micros();
        let (mut after_at, mut after_id) = (self.range.start.micros(), String::new());
        let mut report = ReportBuilder::new(self.range.clone());
        loop {
            let rows = c
                .query(
                    sql::REPORT_ORDERS,
                    params![self.shop_id, after_at, after_id.as_str(), end, PAGE],
                )
                .await?;
            for r in &rows {
                report.add(&ReportOrder {
                    status: r.status(0)?,
                    total_cents: r.int(1)?,
                    lines: serde_json::from_str(r.text(2)?)
                        .map_err(|_| StoreError::Internal("unreadable order lines".into()))?,
                    created_at: Timestamp(r.int(3)?),
                    ready_at: r.opt_int(4)?.map(Timestamp),
                });
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => {
                    after_at = last.int(3)?;
                    after_id = last.text(5)?.to_owned();
                }
                _ => break,
            }
        }
        Ok(report.finish(&self.currency))
    }
}

/// How many rows of each table a shop owns.
pub(crate) struct ShopRows(pub(crate) i64);

impl Tx for ShopRows {
    type Output = Vec<(&'static str, i64)>;
    const KIND: Statement = Statement::ShopRows;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Vec<(&'static str, i64)>> {
        let row = c.query_one(sql::SHOP_ROWS, params![self.0]).await?;
        sql::SHOP_TABLES
            .iter()
            .enumerate()
            .map(|(i, t)| Ok((*t, row.int(i)?)))
            .collect()
    }
}

pub(crate) struct DeleteShop(pub(crate) i64);

impl Tx for DeleteShop {
    type Output = Written<()>;
    const KIND: Statement = Statement::DeleteShop;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<()>> {
        let mut gone = 0;
        for statement in sql::DELETE_SHOP {
            gone = c.execute(statement, params![self.0]).await?;
        }
        if gone == 0 {
            return Err(StoreError::NotFound.into());
        }
        Ok(Written {
            value: (),
            shop_id: self.0,
            changes: Changes {
                event: None,
                menu: Some(MenuChange::Shop(i64::MAX)),
            },
        })
    }
}

/// How a column is kept, and so how it is written in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    OptInt,
    Text,
    /// Hex digits in the export.
    Bytes,
    Bool,
}

/// One table of a shop's data: its columns in the order its reader takes them.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// Rows in this order, so an import writes them back in it (events by their place).
    order: &'static str,
}

use Kind::*;

/// The shop's own row, without its id (an import numbers it anew).
const SHOP: Table = Table {
    name: "shops",
    columns: &[
        ("slug", Text),
        ("name", Text),
        ("currency", Text),
        ("created_at", Int),
        ("staff_key_hash", Bytes),
        ("suspended", Bool),
        ("menu_version", Int),
        ("event_seq", Int),
        ("time_zone", Text),
        ("hours", Text),
        ("paused_until", OptInt),
    ],
    order: "id",
};

/// Every table a shop owns besides its row, parents first.
const TABLES: [Table; 5] = [
    Table {
        name: "menu_items",
        columns: &[
            ("item_id", Text),
            ("name", Text),
            ("description", Text),
            ("category", Text),
            ("price_cents", Int),
            ("available", Bool),
            ("stock", OptInt),
            ("options", Text),
            ("stock_version", Int),
        ],
        order: "item_id",
    },
    Table {
        name: "modifier_groups",
        columns: &[
            ("group_id", Text),
            ("name", Text),
            ("min_select", Int),
            ("max_select", Int),
            ("modifiers", Text),
        ],
        order: "group_id",
    },
    Table {
        name: "orders",
        columns: &[
            ("id", Text),
            ("status", Text),
            ("customer_name", Text),
            ("note", Text),
            ("lines", Text),
            ("total_cents", Int),
            ("currency", Text),
            ("version", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("ready_at", OptInt),
        ],
        order: "created_at, id",
    },
    Table {
        name: "order_events",
        columns: &[
            ("order_id", Text),
            ("status", Text),
            ("version", Int),
            ("at", Int),
        ],
        order: "pos",
    },
    Table {
        name: "idempotency_keys",
        columns: &[
            ("key", Text),
            ("fingerprint", Bytes),
            ("order_id", Text),
            ("created_at", Int),
        ],
        order: "created_at, key",
    },
];

/// (select, insert) of each of [`TABLES`]; the shop row's are [`SHOP_SQL`].
static TABLE_SQL: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    TABLES
        .iter()
        .map(|t| {
            let cols: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
            let values: Vec<String> = (2..=cols.len() + 1).map(|i| format!("${i}")).collect();
            (
                format!(
                    "SELECT {} FROM {} WHERE shop_id = $1 ORDER BY {}",
                    cols.join(", "),
                    t.name,
                    t.order
                ),
                format!(
                    "INSERT INTO {} (shop_id, {}) VALUES ($1, {})",
                    t.name,
                    cols.join(", "),
                    values.join(", ")
                ),
            )
        })
        .collect()
});

static SHOP_SQL: LazyLock<(String, String)> = LazyLock::new(|| {
    let cols: Vec<&str> = SHOP.columns.iter().map(|(c, _)| *c).collect();
    let values: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    (
        format!("SELECT {} FROM shops WHERE id = $1", cols.join(", ")),
        format!(
            "INSERT INTO shops ({}) VALUES ({}) ON CONFLICT (slug) DO NOTHING RETURNING id",
            cols.join(", "),
            values.join(", ")
        ),
    )
});

/// What an export file says it is.
pub const EXPORT_FORMAT: &str = "barista-shop-export";

/// All of one shop's data, as one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopExport {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The schema version the rows were read at; an import takes only this build's.
    pub schema: usize,
    /// When it was read, µs since the epoch.
    pub exported_at: i64,
    /// The shop's row, by column.
    pub shop: Map<String, Json>,
    /// Every other table's rows, by table, each by column.
    pub tables: std::collections::BTreeMap<String, Vec<Map<String, Json>>>,
}

impl ShopExport {
    /// Rows in all (the shop's own included).
    pub fn rows(&self) -> usize {
        1 + self.tables.values().map(Vec::len).sum::<usize>()
    }

    /// The slug the export is of.
    pub fn slug(&self) -> Option<&str> {
        self.shop.get("slug")?.as_str()
    }
}

/// A row as the export writes it.
fn to_json(table: &Table, row: &Row) -> Result<Map<String, Json>, StoreError> {
    let mut out = Map::new();
    for (i, (name, kind)) in table.columns.iter().enumerate() {
        let value = match (kind, row.0.get(i)) {
            (_, Some(Value::Null)) => Json::Null,
            (Bool, _) => Json::Bool(row.flag(i)?),
            (Int | OptInt, _) => Json::from(row.int(i)?),
            (Text, _) => Json::from(row.text(i)?),
            (Bytes, _) => Json::from(hex(&row.bytes(i)?)),
        };
        out.insert((*name).to_owned(), value);
    }
    Ok(out)
}

/// A row of an export as read back: every column there and of its kind.
fn from_json(
    table: &Table,
    at: &str,
    object: &Map<String, Json>,
) -> Result<Vec<Value>, StoreError> {
    let bad = |column: &str, why: &str| {
        StoreError::Invalid(Invalid::one(format!("{at}.{column}"), why.to_owned()))
    };
    if let Some(extra) = object
        .keys()
        .find(|k| !table.columns.iter().any(|(c, _)| c == k))
    {
        return Err(bad(extra, "is not a column of this table"));
    }
    table
        .columns
        .iter()
        .map(|(column, kind)| {
            let value = object.get(*column).unwrap_or(&Json::Null);
            Ok(match (kind, value) {
                (OptInt, Json::Null) => Value::Null,
                (Int | OptInt, v) => Value::Int(
                    v.as_i64()
                        .ok_or_else(|| bad(column, "must be a whole number"))?,
                ),
                (Text, Json::String(s)) => Value::Text(s.clone()),
                (Bytes, Json::String(s)) => {
                    Value::Bytes(unhex(s).ok_or_else(|| bad(column, "must be hex digits"))?)
                }
                (Bool, Json::Bool(b)) => Value::Int(i64::from(*b)),
                (Text | Bytes, _) => return Err(bad(column, "must be a string")),
                (Bool, _) => return Err(bad(column, "must be true or false")),
            })
        })
        .collect()
}

/// Parameters for a row's values, `first` before them.
fn as_params<'a>(first: Option<i64>, table: &Table, values: &'a [Value]) -> Vec<Param<'a>> {
    first
        .map(Param::Int)
        .into_iter()
        .chain(
            table
                .columns
                .iter()
                .zip(values)
                .map(|((_, kind), v)| match (kind, v) {
                    (_, Value::Null) => Param::Null,
                    (Bool, Value::Int(b)) => Param::Bool(*b != 0),
                    (_, Value::Int(i)) => Param::Int(*i),
                    (_, Value::Text(t)) => Param::Text(t),
                    (_, Value::Bytes(b)) => Param::Bytes(b),
                }),
        )
        .collect()
}

/// Checks a row with the reader the server uses for that table.
fn check_row(table: &str, values: Vec<Value>, slug: &Slug, at: &str) -> Result<(), StoreError> {
    let row = Row(values);
    let ok = match table {
        "menu_items" => row.item().map(drop),
        "modifier_groups" => row.modifier_group().map(drop),
        "orders" => row.order_at(0, slug).map(drop),
        "order_events" => row.order_id(0).and_then(|_| row.status(1).map(drop)),
        _ => Ok(()),
    };
    ok.map_err(|e| StoreError::Invalid(Invalid::one(at.to_owned(), e.to_string())))
}

pub(crate) struct ExportShop(pub(crate) i64);

impl Tx for ExportShop {
    type Output = ShopExport;
    const KIND: Statement = Statement::ExportShop;
    /// Every table read in one snapshot, so the export is of one moment.
    const SNAPSHOT: bool = true;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<ShopExport> {
        let shop_row = c
            .query_opt(&SHOP_SQL.0, params![self.0])
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut tables = std::collections::BTreeMap::new();
        for (table, (select, _)) in TABLES.iter().zip(TABLE_SQL.iter()) {
            let rows = c.query(select, params![self.0]).await?;
            let rows = rows
                .iter()
                .map(|r| to_json(table, r))
                .collect::<Result<Vec<_>, _>>()?;
            tables.insert(table.name.to_owned(), rows);
        }
        Ok(ShopExport {
            format: EXPORT_FORMAT.to_owned(),
            schema: crate::SCHEMA_VERSION,
            exported_at: Timestamp::now().micros(),
            shop: to_json(&SHOP, &shop_row)?,
            tables,
        })
    }
}

pub(crate) struct ImportShop(pub(crate) ShopExport);

impl Tx for ImportShop {
    type Output = Written<Shop>;
    const KIND: Statement = Statement::ImportShop;
    async fn run<C: Conn>(&self, c: &C) -> TxResult<Written<Shop>> {
        let export = &self.0;
        let invalid = |field: &str, why: String| {
            TxError::from(StoreError::Invalid(Invalid::one(field.to_owned(), why)))
        };
        if export.format != EXPORT_FORMAT {
            return Err(invalid("format", format!("must be `{EXPORT_FORMAT}`")));
        }
        if export.schema != crate::SCHEMA_VERSION {
            return Err(invalid(
                "schema",
                format!(
                    "the export was read at schema {}, this barista writes {}: import it with the release that made it, then upgrade",
                    export.schema,
                    crate::SCHEMA_VERSION
                ),
            ));
        }
        if let Some(extra) = export
            .tables
            .keys()
            .find(|k| !TABLES.iter().any(|t| t.name == k.as_str()))
        {
            return Err(invalid(
                "tables",
                format!("`{extra}` is not a table of a shop"),
            ));
        }
        let shop_values = from_json(&SHOP, "shop", &export.shop)?;
        let slug = match &shop_values[0] {
            Value::Text(s) => Slug::parse(s).map_err(|m| invalid("shop.slug", m))?,
            _ => return Err(invalid("shop.slug", "must be a string".into())),
        };
        let id = c
            .query_opt(&SHOP_SQL.1, &as_params(None, &SHOP, &shop_values))
            .await?
            .ok_or(StoreError::SlugTaken)?
            .int(0)?;
        for (table, (_, insert)) in TABLES.iter().zip(TABLE_SQL.iter()) {
            let rows = export.tables.get(table.name).map_or(&[][..], Vec::as_slice);
            for (i, object) in rows.iter().enumerate() {
                let at = format!("tables.{}[{i}]", table.name);
                let values = from_json(table, &at, object)?;
                check_row(table.name, values.clone(), &slug, &at)?;
                c.execute(insert, &as_params(Some(id), table, &values))
                    .await?;
            }
        }
        let mut written = changed_shop(c, id).await?;
        // A shop new to every replica: nothing to drop, but its menu is new.
        written.changes.menu = Some(MenuChange::To(written.value.version));
        Ok(written)
    }
}
