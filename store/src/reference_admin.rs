//! Editing the reference data (departments, categories, routing rules, time limits,
//! working calendars) with one generic, table-driven CRUD.
//!
//! Each table is described once by a [`Table`] constant ([`DEPARTMENTS`], [`CATEGORIES`],
//! [`ROUTING_RULES`], [`TIME_LIMITS`], [`CALENDARS`]): the table and its key, the `jsonb`
//! expression that shows a row, the `FROM` and order of reads, the list filters, and the
//! columns a create or a change may set with their types. The five functions [`list`],
//! [`get`], [`insert`], [`update`] and [`delete`] serve every table.
//!
//! SQL identifiers come only from these static descriptors; a caller names a column or a
//! filter, the name is looked up in the descriptor and the descriptor's own `&'static str`
//! goes into the statement (an unknown name is [`sqlx::Error::ColumnNotFound`]). Every
//! value is bound as a parameter.
//!
//! Every write to these tables sends `NOTIFY citygrid_mgmt, '<table>'` from the tables'
//! statement triggers (`migrations/0004_grid_mgmt.sql`), so every service instance reloads
//! its cached reference data; the caller also drops its own cache. Administrators' writes
//! reach the audit log through the service's router, not here.
//!
//! ```no_run
//! # async fn demo(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
//! use citygrid_store::reference_admin::{self as ra, Arg, Datum, Key, DEPARTMENTS};
//! ra::insert(pool, &DEPARTMENTS, &[
//!     ("code", Datum::Text(Some("water".into()))),
//!     ("name", Datum::Text(Some("Water".into()))),
//! ]).await?;
//! ra::update(pool, &DEPARTMENTS, Key::Text("water"), &[("active", Datum::Bool(false))]).await?;
//! let page = ra::list(pool, &DEPARTMENTS, &[("active", Arg::Bool(false))], 100, 0).await?;
//! let one = ra::get(pool, &DEPARTMENTS, Key::Text("water")).await?;
//! # let _ = (page, one); Ok(()) }
//! ```

use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use sqlx::{PgExecutor, Postgres, QueryBuilder};

/// How a column's value is bound (and how the service reads it from a JSON body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `text` (nullable): a string or `null`.
    Text,
    /// `boolean`.
    Bool,
    /// `integer`.
    Int,
    /// `jsonb`.
    Json,
    /// `timestamptz` (nullable).
    Time,
}

/// A column a create may set; a change too unless it is fixed at creation.
#[derive(Debug)]
pub struct Column {
    name: &'static str,
    ty: ColumnType,
    editable: bool,
}

impl Column {
    /// A column a create and a change may set.
    const fn new(name: &'static str, ty: ColumnType) -> Column {
        Column {
            name,
            ty,
            editable: true,
        }
    }

    /// A column only a create sets (the key, or what the key is made of).
    const fn fixed(name: &'static str, ty: ColumnType) -> Column {
        Column {
            name,
            ty,
            editable: false,
        }
    }

    /// The column's name (also the field name of the API's bodies).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The column's type.
    pub fn ty(&self) -> ColumnType {
        self.ty
    }
}

/// How a list filter tests its value.
#[derive(Debug)]
enum Test {
    /// `expr = value`.
    Equals(&'static str),
    /// Any of the columns contains the value (case-insensitive).
    Contains(&'static [&'static str]),
}

/// A list filter, named by the query parameter that gives its value.
#[derive(Debug)]
pub struct Filter {
    param: &'static str,
    test: Test,
}

impl Filter {
    const fn equals(param: &'static str, expr: &'static str) -> Filter {
        Filter {
            param,
            test: Test::Equals(expr),
        }
    }

    const fn contains(param: &'static str, columns: &'static [&'static str]) -> Filter {
        Filter {
            param,
            test: Test::Contains(columns),
        }
    }

    /// The query parameter of this filter.
    pub fn param(&self) -> &'static str {
        self.param
    }
}

/// One reference table: everything the generic CRUD needs to know about it.
#[derive(Debug)]
pub struct Table {
    /// The table written by `INSERT`, `UPDATE` and `DELETE`.
    name: &'static str,
    /// Its key column.
    key: &'static str,
    /// Whether the database generates the key (an `id bigint` identity): `INSERT`
    /// returns it.
    generated_key: bool,
    /// The `FROM` of reads (the table, maybe with an alias and joins).
    from: &'static str,
    /// The key as reads name it (with the alias of `from`).
    read_key: &'static str,
    /// One row as the API shows it: a `jsonb` expression over `from`.
    row_json: &'static str,
    /// The order of lists.
    order_by: &'static str,
    /// The filters of lists.
    filters: &'static [Filter],
    /// The columns a create may set; the editable ones a change may set too
    /// (`updated_at` is set by every change).
    columns: &'static [Column],
}

impl Table {
    /// The table's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The columns a change ([`update`]) may set, in the order the API lists them.
    pub fn editable(&self) -> impl Iterator<Item = &'static Column> + Clone {
        self.columns.iter().filter(|c| c.editable)
    }

    /// The filters [`list`] applies.
    pub fn filters(&self) -> &'static [Filter] {
        self.filters
    }
}

use ColumnType::{Bool, Int, Json, Text, Time};

/// Departments (`departments`, key `code`). The webhook secret is never shown, only
/// whether there is one.
pub const DEPARTMENTS: Table = Table {
    name: "departments",
    key: "code",
    generated_key: false,
    from: "departments",
    read_key: "code",
    row_json: "jsonb_build_object('code', code, 'name', name, 'name_en', name_en, \
        'active', active, 'webhook_url', webhook_url, 'has_webhook_secret', webhook_secret IS NOT NULL, \
        'open311_endpoint', open311_endpoint, 'contact', contact)",
    order_by: "code",
    filters: &[
        Filter::equals("active", "active"),
        Filter::contains("q", &["name", "code"]),
    ],
    columns: &[
        Column::fixed("code", Text),
        Column::new("name", Text),
        Column::new("name_en", Text),
        Column::new("active", Bool),
        Column::new("webhook_url", Text),
        Column::new("webhook_secret", Text),
        Column::new("open311_endpoint", Text),
        Column::new("contact", Text),
    ],
};

/// Case categories (`categories`, key `code`), shown with their major class's names and
/// the time limit of each stage that applies to them.
pub const CATEGORIES: Table = Table {
    name: "categories",
    key: "code",
    generated_key: false,
    from: "categories c LEFT JOIN major_classes m ON m.code = left(c.code, 3)",
    read_key: "c.code",
    row_json: "jsonb_build_object('code', c.code, 'kind', c.kind, 'major', left(c.code, 3), \
        'major_name_zh', m.name_zh, 'major_name_en', m.name_en, 'name_zh', c.name_zh, 'name_en', c.name_en, \
        'register_condition', c.register_condition, 'close_condition', c.close_condition, \
        'default_department', c.default_department, 'attributes', c.attributes, 'active', c.active, \
        'time_limits', (SELECT jsonb_object_agg(stage, jsonb_build_object('amount', amount, 'unit', unit, 'scope', scope)) \
           FROM (SELECT DISTINCT ON (stage) stage, amount, unit, scope FROM time_limit_rules \
                 WHERE scope IN ('*', left(c.code, 1), left(c.code, 3), c.code) \
                 ORDER BY stage, length(scope) DESC, scope <> '*' DESC) t))",
    order_by: "c.code",
    filters: &[
        Filter::equals("active", "c.active"),
        Filter::equals("kind", "c.kind"),
        Filter::equals("major", "left(c.code, 3)"),
        Filter::contains("q", &["c.name_zh", "c.name_en"]),
        Filter::equals("department", "c.default_department"),
    ],
    columns: &[
        Column::fixed("code", Text),
        Column::fixed("kind", Text),
        Column::new("name_zh", Text),
        Column::new("name_en", Text),
        Column::new("register_condition", Text),
        Column::new("close_condition", Text),
        Column::new("default_department", Text),
        Column::new("attributes", Json),
        Column::new("active", Bool),
    ],
};

/// Routing rules (`routing_rules`, key `id`).
pub const ROUTING_RULES: Table = Table {
    name: "routing_rules",
    key: "id",
    generated_key: false,
    from: "routing_rules",
    read_key: "id",
    row_json: "jsonb_build_object('id', id, 'department', department, 'category', category, \
        'area', area, 'priority', priority, 'valid_from', valid_from, 'valid_to', valid_to, 'active', active, 'note', note)",
    order_by: "id",
    filters: &[
        Filter::equals("active", "active"),
        Filter::equals("department", "department"),
    ],
    columns: &[
        Column::fixed("id", Text),
        Column::new("department", Text),
        Column::new("category", Json),
        Column::new("area", Json),
        Column::new("priority", Int),
        Column::new("valid_from", Time),
        Column::new("valid_to", Time),
        Column::new("active", Bool),
        Column::new("note", Text),
    ],
};

/// Time-limit (SLA) rules (`time_limit_rules`, generated key `id`).
pub const TIME_LIMITS: Table = Table {
    name: "time_limit_rules",
    key: "id",
    generated_key: true,
    from: "time_limit_rules",
    read_key: "id",
    row_json:
        "jsonb_build_object('id', id, 'scope', scope, 'stage', stage, 'amount', amount, 'unit', unit)",
    order_by: "scope, stage",
    filters: &[
        Filter::equals("scope", "scope"),
        Filter::equals("stage", "stage"),
    ],
    columns: &[
        Column::fixed("scope", Text),
        Column::fixed("stage", Text),
        Column::new("amount", Int),
        Column::new("unit", Text),
    ],
};

/// Working calendars (`calendars`, key `code`), shown as the whole row.
pub const CALENDARS: Table = Table {
    name: "calendars",
    key: "code",
    generated_key: false,
    from: "calendars c",
    read_key: "code",
    row_json: "to_jsonb(c)",
    order_by: "code",
    filters: &[],
    columns: &[
        Column::fixed("code", Text),
        Column::new("name", Text),
        Column::new("spec", Json),
    ],
};

/// A row's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// A text key (`code`, or a routing rule's `id`).
    Text(&'a str),
    /// A generated numeric key (`id`).
    Id(i64),
}

/// A value to store in a column, typed as the column is.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    /// `text`, or `NULL`.
    Text(Option<String>),
    /// `boolean`.
    Bool(bool),
    /// `integer`.
    Int(i32),
    /// `jsonb`.
    Json(Value),
    /// `timestamptz`, or `NULL`.
    Time(Option<DateTime<FixedOffset>>),
}

/// The value of a list filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A yes/no filter (`active`).
    Bool(bool),
    /// A text filter.
    Text(String),
}

fn push_datum(qb: &mut QueryBuilder<'_, Postgres>, value: Datum) {
    match value {
        Datum::Text(v) => qb.push_bind(v),
        Datum::Bool(v) => qb.push_bind(v),
        Datum::Int(v) => qb.push_bind(v),
        Datum::Json(v) => qb.push_bind(v),
        Datum::Time(v) => qb.push_bind(v),
    };
}

fn push_key(qb: &mut QueryBuilder<'_, Postgres>, key: Key<'_>) {
    match key {
        Key::Text(k) => qb.push_bind(k.to_string()),
        Key::Id(k) => qb.push_bind(k),
    };
}

fn push_arg(qb: &mut QueryBuilder<'_, Postgres>, arg: &Arg) {
    match arg {
        Arg::Bool(v) => qb.push_bind(*v),
        Arg::Text(v) => qb.push_bind(v.clone()),
    };
}

/// The column of `table` called `name` (that a change may set, if `editable`).
fn column(
    table: &'static Table,
    name: &str,
    editable: bool,
) -> Result<&'static Column, sqlx::Error> {
    table
        .columns
        .iter()
        .find(|c| c.name == name && (c.editable || !editable))
        .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_string()))
}

/// `SELECT <row> FROM <table> WHERE <filters> ORDER BY … LIMIT … OFFSET …`: the filters
/// of `table` that `args` gives a value for (other arguments are not this table's and
/// are left out).
fn list_query(
    table: &'static Table,
    args: &[(&str, Arg)],
    limit: i64,
    offset: i64,
) -> QueryBuilder<'static, Postgres> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {} FROM {} WHERE true",
        table.row_json, table.from
    ));
    for filter in table.filters {
        let Some((_, arg)) = args.iter().find(|(p, _)| *p == filter.param) else {
            continue;
        };
        match filter.test {
            Test::Equals(expr) => {
                qb.push(format!(" AND {expr} = "));
                push_arg(&mut qb, arg);
            }
            Test::Contains(columns) => {
                qb.push(" AND (");
                for (i, col) in columns.iter().enumerate() {
                    if i > 0 {
                        qb.push(" OR ");
                    }
                    qb.push(format!("{col} ILIKE '%' || "));
                    push_arg(&mut qb, arg);
                    qb.push(" || '%'");
                }
                qb.push(")");
            }
        }
    }
    qb.push(format!(" ORDER BY {} LIMIT ", table.order_by))
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    qb
}

/// A page of `table`'s rows as the API shows them, filtered by `args` (the filters of
/// the table that `args` names; others are ignored).
pub async fn list(
    exec: impl PgExecutor<'_>,
    table: &'static Table,
    args: &[(&str, Arg)],
    limit: i64,
    offset: i64,
) -> crate::Result<Vec<Value>> {
    let rows: Vec<(Value,)> = list_query(table, args, limit, offset)
        .build_query_as()
        .fetch_all(exec)
        .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

/// One row of `table` as the API shows it, if there is one with that key.
pub async fn get(
    exec: impl PgExecutor<'_>,
    table: &'static Table,
    key: Key<'_>,
) -> crate::Result<Option<Value>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {} FROM {} WHERE {} = ",
        table.row_json, table.from, table.read_key
    ));
    push_key(&mut qb, key);
    let row: Option<(Value,)> = qb.build_query_as().fetch_optional(exec).await?;
    Ok(row.map(|(v,)| v))
}

fn insert_query(
    table: &'static Table,
    values: &[(&str, Datum)],
) -> Result<QueryBuilder<'static, Postgres>, sqlx::Error> {
    let mut names = Vec::with_capacity(values.len());
    for (name, _) in values {
        names.push(column(table, name, false)?.name);
    }
    let mut qb = QueryBuilder::new(format!(
        "INSERT INTO {} ({}) VALUES (",
        table.name,
        names.join(", ")
    ));
    for (i, (_, value)) in values.iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        push_datum(&mut qb, value.clone());
    }
    qb.push(")");
    if table.generated_key {
        qb.push(format!(" RETURNING {}", table.key));
    }
    Ok(qb)
}

/// Inserts one row of `table` with these column values; returns the generated key of a
/// table whose database makes it ([`TIME_LIMITS`]), else `None`.
pub async fn insert(
    exec: impl PgExecutor<'_>,
    table: &'static Table,
    values: &[(&str, Datum)],
) -> crate::Result<Option<i64>> {
    let mut qb = insert_query(table, values)?;
    if table.generated_key {
        let (id,): (i64,) = qb.build_query_as().fetch_one(exec).await?;
        Ok(Some(id))
    } else {
        qb.build().execute(exec).await?;
        Ok(None)
    }
}

fn update_query(
    table: &'static Table,
    key: Key<'_>,
    sets: &[(&str, Datum)],
) -> Result<QueryBuilder<'static, Postgres>, sqlx::Error> {
    let mut qb = QueryBuilder::new(format!("UPDATE {} SET ", table.name));
    for (name, value) in sets {
        let col = column(table, name, true)?;
        qb.push(col.name).push(" = ");
        push_datum(&mut qb, value.clone());
        qb.push(", ");
    }
    qb.push(format!("updated_at = now() WHERE {} = ", table.key));
    push_key(&mut qb, key);
    Ok(qb)
}

/// `UPDATE <table> SET <sets>, updated_at = now() WHERE <key> = key`; returns how many
/// rows changed (0: no row has that key).
pub async fn update(
    exec: impl PgExecutor<'_>,
    table: &'static Table,
    key: Key<'_>,
    sets: &[(&str, Datum)],
) -> crate::Result<u64> {
    let mut qb = update_query(table, key, sets)?;
    Ok(qb.build().execute(exec).await?.rows_affected())
}

/// Deletes the row of `table` with that key; returns how many rows went (0 or 1).
/// Rows other data refers to (a department with cases) are kept by their foreign keys:
/// the error is PostgreSQL's `23503`.
pub async fn delete(
    exec: impl PgExecutor<'_>,
    table: &'static Table,
    key: Key<'_>,
) -> crate::Result<u64> {
    let mut qb = QueryBuilder::new(format!("DELETE FROM {} WHERE {} = ", table.name, table.key));
    push_key(&mut qb, key);
    Ok(qb.build().execute(exec).await?.rows_affected())
}

/// Adds a major class (the first three characters of a category code) unless it exists.
pub async fn ensure_major_class(
    exec: impl PgExecutor<'_>,
    code: &str,
    name_zh: &str,
    name_en: &str,
) -> crate::Result<()> {
    sqlx::query(
        "INSERT INTO major_classes (code, name_zh, name_en) VALUES ($1, $2, $3) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(code)
    .bind(name_zh)
    .bind(name_en)
    .execute(exec)
    .await?;
    Ok(())
}

/// Every major class (`to_jsonb` of the row), by code.
pub async fn major_classes(exec: impl PgExecutor<'_>) -> crate::Result<Vec<Value>> {
    let rows: Vec<(Value,)> =
        sqlx::query_as("SELECT to_jsonb(m) FROM major_classes m ORDER BY code")
            .fetch_all(exec)
            .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

/// Stores the built-in calendar as the row `default` (named `default`, with this spec)
/// unless that row exists: the built-in becomes a stored row on its first change.
pub async fn ensure_default_calendar(exec: impl PgExecutor<'_>, spec: &Value) -> crate::Result<()> {
    sqlx::query(
        "INSERT INTO calendars (code, name, spec) VALUES ('default', 'default', $1) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(spec)
    .execute(exec)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [&Table; 5] = [
        &DEPARTMENTS,
        &CATEGORIES,
        &ROUTING_RULES,
        &TIME_LIMITS,
        &CALENDARS,
    ];

    #[test]
    fn lists_bind_every_filter_value() {
        let args = [
            ("active", Arg::Bool(true)),
            ("q", Arg::Text("wa'ter".into())),
            ("kind", Arg::Text("P".into())),
        ];
        let qb = list_query(&DEPARTMENTS, &args, 100, 0);
        assert_eq!(
            qb.sql().split(" FROM ").nth(1),
            Some(
                "departments WHERE true AND active = $1 AND (name ILIKE '%' || $2 || '%' \
                 OR code ILIKE '%' || $3 || '%') ORDER BY code LIMIT $4 OFFSET $5"
            ),
            "kind is not a filter of departments, and no value is in the text"
        );
        let qb = list_query(&CALENDARS, &args, 1000, 0);
        assert!(qb
            .sql()
            .ends_with("FROM calendars c WHERE true ORDER BY code LIMIT $1 OFFSET $2"));
    }

    #[test]
    fn updates_set_only_editable_columns() {
        let sets = [("active", Datum::Bool(false)), ("name", Datum::Text(None))];
        let qb = update_query(&DEPARTMENTS, Key::Text("x'; DROP"), &sets).unwrap();
        assert_eq!(
            qb.sql(),
            "UPDATE departments SET active = $1, name = $2, updated_at = now() WHERE code = $3"
        );
        let err = update_query(&DEPARTMENTS, Key::Text("x"), &[("code", Datum::Bool(true))])
            .err()
            .unwrap();
        assert!(matches!(err, sqlx::Error::ColumnNotFound(c) if c == "code"));
        let err = update_query(
            &TIME_LIMITS,
            Key::Id(1),
            &[("amount = 1; --", Datum::Int(1))],
        )
        .err()
        .unwrap();
        assert!(matches!(err, sqlx::Error::ColumnNotFound(_)));
    }

    #[test]
    fn inserts_return_only_generated_keys() {
        let qb = insert_query(
            &TIME_LIMITS,
            &[
                ("scope", Datum::Text(Some("*".into()))),
                ("amount", Datum::Int(2)),
            ],
        )
        .unwrap();
        assert_eq!(
            qb.sql(),
            "INSERT INTO time_limit_rules (scope, amount) VALUES ($1, $2) RETURNING id"
        );
        let qb = insert_query(&CALENDARS, &[("code", Datum::Text(Some("c".into())))]).unwrap();
        assert_eq!(qb.sql(), "INSERT INTO calendars (code) VALUES ($1)");
        assert!(insert_query(&CALENDARS, &[("updated_at", Datum::Time(None))]).is_err());
    }

    #[test]
    fn editable_columns_keep_their_order() {
        let names = |t: &'static Table| t.editable().map(Column::name).collect::<Vec<_>>();
        assert_eq!(
            names(&DEPARTMENTS),
            [
                "name",
                "name_en",
                "active",
                "webhook_url",
                "webhook_secret",
                "open311_endpoint",
                "contact"
            ]
        );
        assert_eq!(
            names(&CATEGORIES),
            [
                "name_zh",
                "name_en",
                "register_condition",
                "close_condition",
                "default_department",
                "attributes",
                "active"
            ]
        );
        assert_eq!(
            names(&ROUTING_RULES),
            [
                "department",
                "category",
                "area",
                "priority",
                "valid_from",
                "valid_to",
                "active",
                "note"
            ]
        );
        assert_eq!(names(&TIME_LIMITS), ["amount", "unit"]);
        assert_eq!(names(&CALENDARS), ["name", "spec"]);
    }

    #[test]
    fn descriptors_are_consistent() {
        for t in ALL {
            let ident = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            };
            assert!(ident(t.name) && ident(t.key), "{}", t.name);
            for c in t.columns {
                assert!(ident(c.name), "{}.{}", t.name, c.name);
                assert_eq!(
                    t.columns.iter().filter(|o| o.name == c.name).count(),
                    1,
                    "{}.{}",
                    t.name,
                    c.name
                );
                assert_ne!(c.name, "updated_at", "{}", t.name);
            }
            assert!(
                t.editable().all(|c| c.name != t.key),
                "{}: the key is fixed",
                t.name
            );
            assert_eq!(
                t.columns.iter().any(|c| c.name == t.key),
                !t.generated_key,
                "{}: a key is given or generated",
                t.name
            );
        }
    }
}
