//! The default reference data of a new installation and the demo city: inserts that
//! leave existing rows as they are (`ON CONFLICT DO NOTHING`, each returns how many
//! rows it inserted), and the counts the demo seed decides by.

use serde_json::Value;
use sqlx::PgExecutor;

use crate::Result;

/// Inserts a department unless its code exists.
pub async fn insert_department(
    db: impl PgExecutor<'_>,
    code: &str,
    name: &str,
    name_en: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO departments (code, name, name_en) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING",
    )
    .bind(code)
    .bind(name)
    .bind(name_en)
    .execute(db)
    .await?
    .rows_affected())
}

/// Inserts a major class unless its code exists.
pub async fn insert_major_class(
    db: impl PgExecutor<'_>,
    code: &str,
    name_zh: &str,
    name_en: &str,
) -> Result<u64> {
    Ok(sqlx::query("INSERT INTO major_classes (code, name_zh, name_en) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
        .bind(code)
        .bind(name_zh)
        .bind(name_en)
        .execute(db)
        .await?
        .rows_affected())
}

/// A category row.
#[derive(Debug, Clone)]
pub struct NewCategory<'a> {
    /// Its code (`E0102`, `P0111`…).
    pub code: &'a str,
    /// Its kind (`E` or `P`).
    pub kind: &'a str,
    /// Chinese name.
    pub name_zh: &'a str,
    /// English name.
    pub name_en: &'a str,
    /// When a report of it may be registered.
    pub register_condition: &'a str,
    /// When a case of it may be closed.
    pub close_condition: &'a str,
    /// Its default department.
    pub default_department: Option<&'a str>,
    /// Its attributes (JSON).
    pub attributes: Value,
}

/// Inserts a category unless its code exists.
pub async fn insert_category(db: impl PgExecutor<'_>, c: NewCategory<'_>) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO categories (code, kind, name_zh, name_en, register_condition, close_condition, \
             default_department, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(c.code)
    .bind(c.kind)
    .bind(c.name_zh)
    .bind(c.name_en)
    .bind(c.register_condition)
    .bind(c.close_condition)
    .bind(c.default_department)
    .bind(c.attributes)
    .execute(db)
    .await?
    .rows_affected())
}

/// Inserts a time-limit rule (`scope`: a category code or `*`) unless the scope has
/// one for the stage.
pub async fn insert_time_limit(
    db: impl PgExecutor<'_>,
    scope: &str,
    stage: &str,
    amount: i32,
    unit: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO time_limit_rules (scope, stage, amount, unit) VALUES ($1, $2, $3, $4) ON CONFLICT (scope, stage) DO NOTHING",
    )
    .bind(scope)
    .bind(stage)
    .bind(amount)
    .bind(unit)
    .execute(db)
    .await?
    .rows_affected())
}

/// A routing rule row (`category` and `area` as JSON).
#[derive(Debug, Clone)]
pub struct NewRoutingRule<'a> {
    /// Its id.
    pub id: &'a str,
    /// The department it routes to.
    pub department: &'a str,
    /// Which categories (JSON).
    pub category: Value,
    /// Which area (JSON).
    pub area: Value,
    /// Priority.
    pub priority: i32,
}

/// Inserts a routing rule (noted as the category's default department) unless its id
/// exists.
pub async fn insert_routing_rule(db: impl PgExecutor<'_>, r: NewRoutingRule<'_>) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO routing_rules (id, department, category, area, priority, note) \
         VALUES ($1, $2, $3, $4, $5, 'default department of the category') ON CONFLICT (id) DO NOTHING",
    )
    .bind(r.id)
    .bind(r.department)
    .bind(r.category)
    .bind(r.area)
    .bind(r.priority)
    .execute(db)
    .await?
    .rows_affected())
}

/// Inserts the `default` working calendar (`spec` as JSON) unless there is one.
pub async fn insert_default_calendar(db: impl PgExecutor<'_>, spec: Value) -> Result<u64> {
    Ok(sqlx::query("INSERT INTO calendars (code, name, spec) VALUES ('default', '中国工作日历 China working calendar', $1) ON CONFLICT (code) DO NOTHING")
        .bind(spec)
        .execute(db)
        .await?
        .rows_affected())
}

// ----------------------------------------------------------------------------- demo

/// The bounds (`[w, s, e, n]`) of the imported OSM roads or buildings, if any.
pub async fn osm_bounds(db: impl PgExecutor<'_>) -> Result<Option<Vec<f64>>> {
    let bounds: Option<(Vec<f64>,)> = sqlx::query_as(
        "SELECT bounds FROM layer_catalog WHERE id IN ('osm_roads', 'osm_buildings') AND bounds IS NOT NULL \
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    Ok(bounds.map(|(b,)| b))
}

/// Whether an OSM import's components table (`layers.osm_components`) exists.
pub async fn has_osm_components(db: impl PgExecutor<'_>) -> Result<bool> {
    let (has,): (bool,) = sqlx::query_as("SELECT to_regclass('layers.osm_components') IS NOT NULL")
        .fetch_one(db)
        .await?;
    Ok(has)
}

/// How many components there are.
pub async fn count_components(db: impl PgExecutor<'_>) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM layers.components")
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// How many demo cases (attribute `demo`) there are.
pub async fn count_demo_cases(db: impl PgExecutor<'_>) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM cases WHERE attributes ? 'demo'")
        .fetch_one(db)
        .await?;
    Ok(n)
}
