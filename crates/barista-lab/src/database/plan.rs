//! Reading a statement's plan for the index it lacks, as pganalyze's and
//! Dexter's index advisors do: a scan of a large table that filters most of
//! what it reads, on columns no index leads with.
//!
//! The plan is PostgreSQL's `EXPLAIN (FORMAT JSON)` of the statement's generic
//! plan (the one a prepared statement runs once its parameters no longer
//! change it), never `ANALYZE`: nothing is executed. A scan node is suspect
//! when its table is large and it either reads the whole table (`Seq Scan`
//! with a `Filter`) or reads through an index whose condition leaves columns
//! of the filter out. The advice is the index a good engineer would write:
//! the columns the statement compares for equality (the tenant's `shop_id`
//! first, as every Barista key has it), then the columns it sorts by, so the
//! index serves the filter and the order (and a `LIMIT`) at once. An index
//! that already leads with those columns is no advice.

use serde::Serialize;
use serde_json::Value;

/// Tables smaller than this are read whole cheaply: no advice for them.
pub const LARGE_TABLE: f64 = 10_000.0;

/// What a table holds and which indexes it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    /// Rows, as the statistics know them.
    pub rows: f64,
    /// Each index: its name and its columns in order.
    pub indexes: Vec<(String, Vec<String>)>,
}

/// The index a statement lacks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexAdvice {
    pub table: String,
    /// Rows in the table.
    pub rows: f64,
    /// How the plan reads it: `a sequential scan`, or `an index scan of X`.
    pub scan: String,
    /// The columns the statement compares for equality.
    pub filtered_on: Vec<String>,
    /// The columns its rows are sorted by.
    pub sorted_by: Vec<String>,
    /// The index to add.
    pub columns: Vec<String>,
}

impl IndexAdvice {
    /// `CREATE INDEX CONCURRENTLY ...` for it (concurrently: no write lock).
    pub fn create_statement(&self) -> String {
        format!(
            "CREATE INDEX CONCURRENTLY ON {} ({})",
            self.table,
            self.columns.join(", ")
        )
    }
}

/// A column name without its table qualifier, quotes, cast or direction.
fn bare(column: &str) -> String {
    let c = column.trim().trim_start_matches('(').trim_end_matches(')');
    let c = c.split("::").next().unwrap_or(c);
    let c = c.split_whitespace().next().unwrap_or(c);
    let c = c.rsplit('.').next().unwrap_or(c);
    c.trim_matches(|ch| ch == '"' || ch == '(' || ch == ')')
        .to_owned()
}

fn is_identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A comparison's operand that is not a column: a parameter, a literal, a
/// value cast (`'x'::text`, `($3)::text`).
fn is_value(operand: &str) -> bool {
    let o = operand.trim().trim_start_matches('(');
    o.starts_with('$')
        || o.starts_with('\'')
        || o.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        || o.starts_with("NULL")
        || o.starts_with("true")
        || o.starts_with("false")
}

/// The operand ending just before byte `at` of `text` (backwards to a space
/// or an opening parenthesis that is not part of a cast).
fn operand_before(text: &str, at: usize) -> &str {
    let head = text[..at].trim_end();
    let start = head.rfind([' ', ',']).map_or(0, |i| i + 1);
    &head[start..]
}

fn operand_after(text: &str, at: usize) -> &str {
    let tail = text[at..].trim_start();
    let end = tail.find([' ', ',']).unwrap_or(tail.len());
    &tail[..end]
}

/// The columns a condition (`Filter`, `Index Cond`) compares with a value
/// for equality (`(status = $3)`, `($1 = shop_id)`, `((status)::text =
/// 'x'::text)`), in order, each once.
pub fn equality_columns(condition: &str) -> Vec<String> {
    let mut columns: Vec<String> = vec![];
    for (at, _) in condition.match_indices(" = ") {
        let left = operand_before(condition, at);
        let right = operand_after(condition, at + 3);
        let column = match (is_value(left), is_value(right)) {
            (false, true) => bare(left),
            (true, false) => bare(right),
            _ => continue,
        };
        if is_identifier(&column) && !columns.contains(&column) {
            columns.push(column);
        }
    }
    columns
}

/// Every node of a plan, depth first, each with its ancestors (nearest last).
fn walk<'a>(
    node: &'a Value,
    ancestors: &mut Vec<&'a Value>,
    out: &mut Vec<(&'a Value, Vec<&'a Value>)>,
) {
    out.push((node, ancestors.clone()));
    if let Some(children) = node["Plans"].as_array() {
        ancestors.push(node);
        for child in children {
            walk(child, ancestors, out);
        }
        ancestors.pop();
    }
}

/// The sort keys above a scan, when its rows are sorted before anything
/// joins them to another table's.
fn sorted_by(ancestors: &[&Value]) -> Vec<String> {
    for node in ancestors.iter().rev() {
        match node["Node Type"].as_str() {
            Some("Sort" | "Incremental Sort") => {
                return node["Sort Key"]
                    .as_array()
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(bare)
                            .filter(|k| is_identifier(k))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            Some("Limit" | "Gather Merge" | "Gather" | "Result" | "Unique") => continue,
            _ => return vec![],
        }
    }
    vec![]
}

/// Whether an existing index leads with `columns` (equality columns in any
/// order, then the sort columns in order).
fn covered(indexes: &[(String, Vec<String>)], equal: &[String], sorted: &[String]) -> bool {
    indexes.iter().any(|(_, cols)| {
        cols.len() >= equal.len() + sorted.len()
            && equal.iter().all(|c| cols[..equal.len()].contains(c))
            && cols[equal.len()..equal.len() + sorted.len()] == *sorted
    })
}

/// The index the plan's worst scan of a large table lacks, if any.
pub fn advise(plan: &Value, tables: &[Table]) -> Option<IndexAdvice> {
    let root = plan.get(0).map_or(plan, |p| p.get("Plan").unwrap_or(p));
    let root = root.get("Plan").unwrap_or(root);
    let mut nodes = vec![];
    walk(root, &mut vec![], &mut nodes);
    let mut best: Option<IndexAdvice> = None;
    for (node, ancestors) in nodes {
        let kind = node["Node Type"].as_str().unwrap_or("");
        let Some(relation) = node["Relation Name"].as_str() else {
            continue;
        };
        let Some(table) = tables.iter().find(|t| t.name == relation) else {
            continue;
        };
        if table.rows < LARGE_TABLE {
            continue;
        }
        let filter = node["Filter"].as_str().unwrap_or("");
        let index_cond = node["Index Cond"]
            .as_str()
            .or(node["Recheck Cond"].as_str())
            .unwrap_or("");
        let used = equality_columns(index_cond);
        let mut equal = used.clone();
        for c in equality_columns(filter) {
            if !equal.contains(&c) {
                equal.push(c);
            }
        }
        let scan = match kind {
            "Seq Scan" | "Parallel Seq Scan" => "a sequential scan".to_owned(),
            "Index Scan" | "Index Only Scan" | "Bitmap Heap Scan" if equal.len() > used.len() => {
                format!(
                    "an index scan of {}",
                    node["Index Name"].as_str().unwrap_or("an index")
                )
            }
            _ => continue,
        };
        // The tenant first: every key of Barista's starts with the shop.
        if let Some(i) = equal.iter().position(|c| c == "shop_id") {
            let shop = equal.remove(i);
            equal.insert(0, shop);
        }
        let sorted: Vec<String> = sorted_by(&ancestors)
            .into_iter()
            .filter(|c| !equal.contains(c))
            .collect();
        if equal.is_empty() && sorted.is_empty() {
            continue;
        }
        if covered(&table.indexes, &equal, &sorted) {
            continue;
        }
        let columns: Vec<String> = equal.iter().chain(&sorted).cloned().collect();
        let advice = IndexAdvice {
            table: table.name.clone(),
            rows: table.rows,
            scan,
            filtered_on: equal,
            sorted_by: sorted,
            columns,
        };
        if best.as_ref().is_none_or(|b| advice.rows > b.rows) {
            best = Some(advice);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn orders(indexes: &[(&str, &[&str])]) -> Vec<Table> {
        vec![Table {
            name: "orders".into(),
            rows: 1_000_031.0,
            indexes: indexes
                .iter()
                .map(|(n, c)| ((*n).to_owned(), c.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }]
    }

    /// The staff list's plan once its indexes are dropped (PostgreSQL 15,
    /// generic plan): the primary key finds the shop, the rest is filtered
    /// and sorted.
    fn staff_list_plan(scan: Value) -> Value {
        json!([{"Plan": {
            "Node Type": "Limit",
            "Plans": [{
                "Node Type": "Sort",
                "Sort Key": ["orders.created_at", "orders.id"],
                "Plans": [scan]
            }]
        }}])
    }

    #[test]
    fn a_sequential_scan_filtered_on_the_shop_and_status_gets_its_index() {
        let plan = staff_list_plan(json!({
            "Node Type": "Seq Scan",
            "Relation Name": "orders",
            "Alias": "orders",
            "Filter": "((shop_id = $1) AND ((($3)::text IS NULL) OR (status = $3)))"
        }));
        let advice = advise(&plan, &orders(&[("orders_pkey", &["shop_id", "id"])])).unwrap();
        assert_eq!(advice.table, "orders");
        assert_eq!(advice.scan, "a sequential scan");
        assert_eq!(advice.filtered_on, ["shop_id", "status"]);
        assert_eq!(advice.sorted_by, ["created_at", "id"]);
        assert_eq!(advice.columns, ["shop_id", "status", "created_at", "id"]);
        assert_eq!(
            advice.create_statement(),
            "CREATE INDEX CONCURRENTLY ON orders (shop_id, status, created_at, id)"
        );
    }

    #[test]
    fn an_index_that_finds_only_the_shop_is_not_enough() {
        let plan = staff_list_plan(json!({
            "Node Type": "Index Scan",
            "Relation Name": "orders",
            "Index Name": "orders_pkey",
            "Index Cond": "(shop_id = $1)",
            "Filter": "((($3)::text IS NULL) OR (status = $3))"
        }));
        let advice = advise(&plan, &orders(&[("orders_pkey", &["shop_id", "id"])])).unwrap();
        assert_eq!(advice.scan, "an index scan of orders_pkey");
        assert_eq!(advice.columns, ["shop_id", "status", "created_at", "id"]);
    }

    #[test]
    fn an_existing_index_or_a_small_table_is_no_advice() {
        let plan = staff_list_plan(json!({
            "Node Type": "Seq Scan",
            "Relation Name": "orders",
            "Filter": "((shop_id = $1) AND (status = $3))"
        }));
        let served = orders(&[(
            "orders_by_status",
            &["shop_id", "status", "created_at", "id"],
        )]);
        assert_eq!(advise(&plan, &served), None);
        let mut small = orders(&[]);
        small[0].rows = 500.0;
        assert_eq!(advise(&plan, &small), None);
    }

    #[test]
    fn a_scan_of_an_unknown_table_or_with_no_filter_is_no_advice() {
        let plan = json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "events"}}]);
        assert_eq!(advise(&plan, &orders(&[])), None);
        let plan = json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders"}}]);
        assert_eq!(advise(&plan, &orders(&[])), None, "nothing to index on");
    }

    #[test]
    fn equality_is_read_in_every_spelling() {
        assert_eq!(
            equality_columns(
                "((o.shop_id = $1) AND ($2 = order_id) AND ((status)::text = 'placed'::text))"
            ),
            ["shop_id", "order_id", "status"]
        );
        assert_eq!(
            equality_columns("((a.shop_id = b.shop_id) AND (x > $1))"),
            Vec::<String>::new(),
            "a join and a range are not a value's equality"
        );
    }
}
