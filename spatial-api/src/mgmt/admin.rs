//! Reference data over HTTP: departments, categories, routing rules, time-limit (SLA)
//! rules and working calendars. Reads for signed-in users (categories also for the
//! public reporting page), writes for admins; every write drops the cached copy.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::Json;
use citygrid_grid_mgmt::calendar::{CalendarSpec, WorkingCalendar};
use citygrid_grid_mgmt::catalog::{Catalog, CategoryAttribute};
use citygrid_grid_mgmt::codes::{CategoryCode, CategoryKind};
use citygrid_grid_mgmt::routing::{AreaScope, CategoryScope};
use geozero::geojson::GeoJson;
use geozero::ToGeo;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sqlx::{Postgres, QueryBuilder};

use super::common::{bad, constraint_error, fetch_json, fetch_page, is_ident, parse_time, Page};
use super::reference::{parse_stage, parse_unit, scope_rank};
use crate::auth::{Access, Role};
use crate::error::{ApiError, ApiResult};
use crate::router::RouteTable;
use crate::state::AppState;

const ADMIN: &[Role] = &[Role::Admin];

/// The reference-data routes.
pub fn routes(t: RouteTable) -> RouteTable {
    let admin = Access::Roles(ADMIN);
    let read = Access::Authenticated;
    t.add(Method::GET, "/api/departments", read, get(list_departments))
        .add(
            Method::POST,
            "/api/departments",
            admin,
            post(create_department),
        )
        .add(
            Method::GET,
            "/api/departments/{code}",
            read,
            get(one_department),
        )
        .add(
            Method::PATCH,
            "/api/departments/{code}",
            admin,
            patch(patch_department),
        )
        .add(
            Method::GET,
            "/api/categories",
            Access::Public,
            get(list_categories),
        )
        .add(
            Method::POST,
            "/api/categories",
            admin,
            post(create_category),
        )
        .add(
            Method::GET,
            "/api/categories/{code}",
            Access::Public,
            get(one_category),
        )
        .add(
            Method::PATCH,
            "/api/categories/{code}",
            admin,
            patch(patch_category),
        )
        .add(Method::GET, "/api/routing-rules", read, get(list_rules))
        .add(Method::POST, "/api/routing-rules", admin, post(create_rule))
        .add(Method::GET, "/api/routing-rules/{id}", read, get(one_rule))
        .add(
            Method::PATCH,
            "/api/routing-rules/{id}",
            admin,
            patch(patch_rule),
        )
        .add(Method::GET, "/api/sla-rules", read, get(list_sla))
        .add(Method::POST, "/api/sla-rules", admin, post(create_sla))
        .add(Method::GET, "/api/sla-rules/{id}", read, get(one_sla))
        .add(
            Method::PATCH,
            "/api/sla-rules/{id}",
            admin,
            patch(patch_sla),
        )
        .add(Method::GET, "/api/calendar", read, get(list_calendars))
        .add(Method::POST, "/api/calendar", admin, post(create_calendar))
        .add(Method::GET, "/api/calendar/{code}", read, get(one_calendar))
        .add(
            Method::PATCH,
            "/api/calendar/{code}",
            admin,
            patch(patch_calendar),
        )
}

/// The type of a patchable column.
#[derive(Clone, Copy)]
enum Col {
    Text(&'static str),
    Bool(&'static str),
    Int(&'static str),
    Json(&'static str),
    Time(&'static str),
}

impl Col {
    fn name(self) -> &'static str {
        match self {
            Col::Text(n) | Col::Bool(n) | Col::Int(n) | Col::Json(n) | Col::Time(n) => n,
        }
    }
}

/// `UPDATE <table> SET <fields of body>, updated_at = now() WHERE <key_col> = key`,
/// then drops the cached reference data. 404 when no row has that key; constraint
/// violations are 4xx. `table` and `key_col` are constants of this module.
#[allow(clippy::too_many_arguments)]
async fn patch_row<'k, K>(
    state: &AppState,
    table: &'static str,
    key_col: &'static str,
    key: K,
    body: &Map<String, Value>,
    cols: &[Col],
    what: &str,
    not_found: String,
) -> ApiResult<()>
where
    K: 'k + sqlx::Encode<'k, Postgres> + sqlx::Type<Postgres> + Send,
{
    let mut qb = QueryBuilder::new(format!("UPDATE {table} SET "));
    push_sets(&mut qb, body, cols)?;
    qb.push(format!(", updated_at = now() WHERE {key_col} = "))
        .push_bind(key);
    let done = qb
        .build()
        .execute(&state.pool)
        .await
        .map_err(|e| constraint_error(e, what))?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound(not_found));
    }
    state.mgmt.reference.invalidate();
    Ok(())
}

/// Appends `col = $n` for every key of `body` (which must all be in `cols`).
fn push_sets(
    qb: &mut QueryBuilder<'_, Postgres>,
    body: &Map<String, Value>,
    cols: &[Col],
) -> Result<(), ApiError> {
    if body.is_empty() {
        return Err(bad("nothing to change: send at least one field"));
    }
    let mut first = true;
    for (key, value) in body {
        let col = cols
            .iter()
            .copied()
            .find(|c| c.name() == key)
            .ok_or_else(|| {
                bad(format!(
                    "field {key:?} cannot be changed; allowed: {}",
                    cols.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                ))
            })?;
        if !first {
            qb.push(", ");
        }
        first = false;
        qb.push(col.name()).push(" = ");
        let wrong = || bad(format!("field {key:?} has the wrong type"));
        match col {
            Col::Text(_) => match value {
                Value::Null => qb.push_bind(None::<String>),
                Value::String(s) if s.chars().count() <= 2000 => qb.push_bind(s.clone()),
                _ => return Err(wrong()),
            },
            Col::Bool(_) => qb.push_bind(value.as_bool().ok_or_else(wrong)?),
            Col::Int(_) => qb.push_bind(
                value
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(wrong)?,
            ),
            Col::Json(_) => qb.push_bind(value.clone()),
            Col::Time(_) => match value {
                Value::Null => qb.push_bind(None::<chrono::DateTime<chrono::FixedOffset>>),
                Value::String(s) => qb.push_bind(Some(parse_time(key, s)?)),
                _ => return Err(wrong()),
            },
        };
    }
    Ok(())
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(bad("the body must be a JSON object")),
    }
}

fn url_ok(v: Option<&Value>) -> Result<(), ApiError> {
    if let Some(Value::String(u)) = v {
        super::outbox::check_webhook_url(u).map_err(bad)?;
    }
    Ok(())
}

// ----------------------------------------------------------------------------- departments

const DEPARTMENT_JSON: &str = "jsonb_build_object('code', code, 'name', name, 'name_en', name_en, \
    'active', active, 'webhook_url', webhook_url, 'has_webhook_secret', webhook_secret IS NOT NULL, \
    'open311_endpoint', open311_endpoint, 'contact', contact)";

/// Query of list endpoints with an `active` filter and a text search.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefQuery {
    /// Only active (true) or inactive (false) rows.
    active: Option<bool>,
    /// Text search in codes and names.
    q: Option<String>,
    /// Categories: `component` (`P`) or `event` (`E`).
    kind: Option<String>,
    /// Categories: the major class code.
    major: Option<String>,
    /// Time limits: the scope.
    scope: Option<String>,
    /// Time limits: the workflow stage.
    stage: Option<String>,
    /// Categories and routing rules: a department code.
    department: Option<String>,
    /// Rows per page (default 100, at most 1000).
    limit: Option<i64>,
    /// Rows to skip.
    offset: Option<i64>,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

async fn list_departments(
    State(state): State<AppState>,
    q: QueryResult<RefQuery>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds()?;
    let mut qb = QueryBuilder::new(format!(
        "SELECT {DEPARTMENT_JSON} FROM departments WHERE true"
    ));
    if let Some(a) = q.active {
        qb.push(" AND active = ").push_bind(a);
    }
    if let Some(t) = q.q.filter(|s| !s.is_empty()) {
        qb.push(" AND (name ILIKE '%' || ")
            .push_bind(t.clone())
            .push(" || '%' OR code ILIKE '%' || ")
            .push_bind(t)
            .push(" || '%')");
    }
    let rows = fetch_page(&state.pool, qb, "code", limit, offset).await?;
    Ok(Json(json!({"departments": rows})))
}

async fn department_json(state: &AppState, code: &str) -> Result<Value, ApiError> {
    let sql = format!("SELECT {DEPARTMENT_JSON} FROM departments WHERE code = $1");
    fetch_json(&state.pool, &sql, code, || format!("no department {code}")).await
}

async fn one_department(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(department_json(&state, &code).await?))
}

/// Body of `POST /api/departments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewDepartment {
    code: String,
    name: String,
    name_en: Option<String>,
    active: Option<bool>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    open311_endpoint: Option<String>,
    contact: Option<String>,
}

async fn create_department(
    State(state): State<AppState>,
    Json(b): Json<NewDepartment>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !is_ident(&b.code) {
        return Err(bad(
            "department code must match [a-z0-9_]+ (at most 48 characters)",
        ));
    }
    if b.name.trim().is_empty() {
        return Err(bad("name is required"));
    }
    url_ok(b.webhook_url.clone().map(Value::String).as_ref())?;
    url_ok(b.open311_endpoint.clone().map(Value::String).as_ref())?;
    sqlx::query(
        "INSERT INTO departments (code, name, name_en, active, webhook_url, webhook_secret, open311_endpoint, contact) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&b.code)
    .bind(b.name.trim())
    .bind(&b.name_en)
    .bind(b.active.unwrap_or(true))
    .bind(&b.webhook_url)
    .bind(&b.webhook_secret)
    .bind(&b.open311_endpoint)
    .bind(&b.contact)
    .execute(&state.pool)
    .await
    .map_err(|e| constraint_error(e, &format!("department {}", b.code)))?;
    state.mgmt.reference.invalidate();
    Ok((
        StatusCode::CREATED,
        Json(department_json(&state, &b.code).await?),
    ))
}

async fn patch_department(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    url_ok(body.get("webhook_url"))?;
    url_ok(body.get("open311_endpoint"))?;
    patch_row(
        &state,
        "departments",
        "code",
        code.clone(),
        &body,
        &[
            Col::Text("name"),
            Col::Text("name_en"),
            Col::Bool("active"),
            Col::Text("webhook_url"),
            Col::Text("webhook_secret"),
            Col::Text("open311_endpoint"),
            Col::Text("contact"),
        ],
        "the department",
        format!("no department {code}"),
    )
    .await?;
    Ok(Json(department_json(&state, &code).await?))
}

// ----------------------------------------------------------------------------- categories

const CATEGORY_JSON: &str = "jsonb_build_object('code', c.code, 'kind', c.kind, 'major', left(c.code, 3), \
    'major_name_zh', m.name_zh, 'major_name_en', m.name_en, 'name_zh', c.name_zh, 'name_en', c.name_en, \
    'register_condition', c.register_condition, 'close_condition', c.close_condition, \
    'default_department', c.default_department, 'attributes', c.attributes, 'active', c.active, \
    'time_limits', (SELECT jsonb_object_agg(stage, jsonb_build_object('amount', amount, 'unit', unit, 'scope', scope)) \
       FROM (SELECT DISTINCT ON (stage) stage, amount, unit, scope FROM time_limit_rules \
             WHERE scope IN ('*', left(c.code, 1), left(c.code, 3), c.code) \
             ORDER BY stage, length(scope) DESC, scope <> '*' DESC) t))";

async fn list_categories(
    State(state): State<AppState>,
    q: QueryResult<RefQuery>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let (limit, offset) = Page {
        limit: q.limit.or(Some(1000)),
        offset: q.offset,
    }
    .bounds()?;
    let mut qb = QueryBuilder::new(format!(
        "SELECT {CATEGORY_JSON} FROM categories c LEFT JOIN major_classes m ON m.code = left(c.code, 3) WHERE true"
    ));
    if let Some(a) = q.active {
        qb.push(" AND c.active = ").push_bind(a);
    }
    if let Some(k) = q.kind.filter(|s| !s.is_empty()) {
        let kind: CategoryKind = k.parse().map_err(bad)?;
        qb.push(" AND c.kind = ").push_bind(kind.to_string());
    }
    if let Some(m) = q.major.filter(|s| !s.is_empty()) {
        let major: citygrid_grid_mgmt::codes::MajorClass = m.parse().map_err(bad)?;
        qb.push(" AND left(c.code, 3) = ")
            .push_bind(major.to_string());
    }
    if let Some(t) = q.q.filter(|s| !s.is_empty()) {
        qb.push(" AND (c.name_zh ILIKE '%' || ")
            .push_bind(t.clone())
            .push(" || '%' OR c.name_en ILIKE '%' || ")
            .push_bind(t)
            .push(" || '%')");
    }
    if let Some(d) = q.department.filter(|s| !s.is_empty()) {
        qb.push(" AND c.default_department = ").push_bind(d);
    }
    let rows = fetch_page(&state.pool, qb, "c.code", limit, offset).await?;
    let majors: Vec<(Value,)> =
        sqlx::query_as("SELECT to_jsonb(m) FROM major_classes m ORDER BY code")
            .fetch_all(&state.pool)
            .await?;
    Ok(Json(json!({
        "categories": rows,
        "major_classes": majors.into_iter().map(|(v,)| v).collect::<Vec<_>>(),
    })))
}

async fn category_json(state: &AppState, code: &str) -> Result<Value, ApiError> {
    let code: CategoryCode = code.parse().map_err(bad)?;
    let sql = format!(
        "SELECT {CATEGORY_JSON} FROM categories c LEFT JOIN major_classes m ON m.code = left(c.code, 3) WHERE c.code = $1"
    );
    fetch_json(&state.pool, &sql, code.to_string(), || {
        format!("no category {code}")
    })
    .await
}

async fn one_category(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(category_json(&state, &code).await?))
}

/// Body of `POST /api/categories`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewCategory {
    code: String,
    name_zh: String,
    name_en: Option<String>,
    register_condition: Option<String>,
    close_condition: Option<String>,
    default_department: Option<String>,
    attributes: Option<Vec<CategoryAttribute>>,
    active: Option<bool>,
    major_name_zh: Option<String>,
    major_name_en: Option<String>,
}

async fn create_category(
    State(state): State<AppState>,
    Json(b): Json<NewCategory>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let code: CategoryCode = b.code.trim().parse().map_err(bad)?;
    if b.name_zh.trim().is_empty() {
        return Err(bad("name_zh is required"));
    }
    let seed = Catalog::default_seed();
    let major = code.major_class();
    let (mzh, men) = match seed.major_name(major) {
        Some(m) => (m.name_zh.clone(), m.name_en.clone()),
        None => (major.to_string(), major.to_string()),
    };
    let mut tx = state.pool.begin().await?;
    sqlx::query("INSERT INTO major_classes (code, name_zh, name_en) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
        .bind(major.to_string())
        .bind(b.major_name_zh.unwrap_or(mzh))
        .bind(b.major_name_en.unwrap_or(men))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO categories (code, kind, name_zh, name_en, register_condition, close_condition, \
             default_department, attributes, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(code.to_string())
    .bind(code.kind.to_string())
    .bind(b.name_zh.trim())
    .bind(b.name_en.clone().unwrap_or_else(|| b.name_zh.clone()))
    .bind(b.register_condition.unwrap_or_default())
    .bind(b.close_condition.unwrap_or_default())
    .bind(&b.default_department)
    .bind(json!(b.attributes.unwrap_or_default()))
    .bind(b.active.unwrap_or(true))
    .execute(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, &format!("category {code}")))?;
    tx.commit().await?;
    state.mgmt.reference.invalidate();
    Ok((
        StatusCode::CREATED,
        Json(category_json(&state, &code.to_string()).await?),
    ))
}

async fn patch_category(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let code: CategoryCode = code.parse().map_err(bad)?;
    let body = object(body)?;
    if let Some(a) = body.get("attributes") {
        serde_json::from_value::<Vec<CategoryAttribute>>(a.clone())
            .map_err(|e| bad(format!("attributes: {e}")))?;
    }
    patch_row(
        &state,
        "categories",
        "code",
        code.to_string(),
        &body,
        &[
            Col::Text("name_zh"),
            Col::Text("name_en"),
            Col::Text("register_condition"),
            Col::Text("close_condition"),
            Col::Text("default_department"),
            Col::Json("attributes"),
            Col::Bool("active"),
        ],
        "the category",
        format!("no category {code}"),
    )
    .await?;
    Ok(Json(category_json(&state, &code.to_string()).await?))
}

// ----------------------------------------------------------------------------- routing rules

const RULE_JSON: &str = "jsonb_build_object('id', id, 'department', department, 'category', category, \
    'area', area, 'priority', priority, 'valid_from', valid_from, 'valid_to', valid_to, 'active', active, 'note', note)";

/// Checks a category scope and an area scope (a polygon area may be given as GeoJSON).
fn check_scopes(category: &Value, area: &Value) -> Result<Value, ApiError> {
    serde_json::from_value::<CategoryScope>(category.clone()).map_err(|e| {
        bad(format!(
            "category must be {{\"level\": \"kind\"|\"major\"|\"sub\", \"code\": ...}}: {e}"
        ))
    })?;
    let mut area = area.clone();
    if area.get("type").and_then(Value::as_str) == Some("polygon") {
        if let Some(g) = area
            .get("geometry")
            .filter(|g| g.get("coordinates").is_some())
        {
            let geom = GeoJson(&g.to_string())
                .to_geo()
                .map_err(|e| bad(format!("area.geometry is not GeoJSON: {e}")))?;
            let mp = match geom {
                geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p]),
                geo::Geometry::MultiPolygon(m) => m,
                _ => return Err(bad("area.geometry must be a Polygon or MultiPolygon")),
            };
            area = serde_json::to_value(AreaScope::Polygon { geometry: mp })
                .map_err(|e| ApiError::Internal(e.to_string()))?;
        }
    }
    serde_json::from_value::<AreaScope>(area.clone()).map_err(|e| {
        bad(format!(
            "area must be {{\"type\": \"grids\"|\"community\"|\"street\"|\"polygon\"|\"district\"|\"anywhere\", ...}}: {e}"
        ))
    })?;
    Ok(area)
}

async fn list_rules(
    State(state): State<AppState>,
    q: QueryResult<RefQuery>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds()?;
    let mut qb = QueryBuilder::new(format!("SELECT {RULE_JSON} FROM routing_rules WHERE true"));
    if let Some(a) = q.active {
        qb.push(" AND active = ").push_bind(a);
    }
    if let Some(d) = q.department.filter(|s| !s.is_empty()) {
        qb.push(" AND department = ").push_bind(d);
    }
    let rows = fetch_page(&state.pool, qb, "id", limit, offset).await?;
    Ok(Json(json!({"routing_rules": rows})))
}

async fn rule_json(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let sql = format!("SELECT {RULE_JSON} FROM routing_rules WHERE id = $1");
    fetch_json(&state.pool, &sql, id, || format!("no routing rule {id}")).await
}

async fn one_rule(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(rule_json(&state, &id).await?))
}

/// Body of `POST /api/routing-rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewRule {
    id: String,
    department: String,
    /// `{"level": "kind"|"major"|"sub", "code": …}`.
    #[schema(value_type = Object)]
    category: Value,
    /// `{"type": "grids"|"community"|"street"|…, …}` or `{"type": "polygon", "geometry": …}`.
    #[schema(value_type = Object)]
    area: Value,
    priority: Option<i32>,
    valid_from: Option<String>,
    valid_to: Option<String>,
    active: Option<bool>,
    note: Option<String>,
}

async fn create_rule(
    State(state): State<AppState>,
    Json(b): Json<NewRule>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if b.id.is_empty()
        || b.id.len() > 64
        || !b
            .id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_.:-".contains(&c))
    {
        return Err(bad("id must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
    }
    let area = check_scopes(&b.category, &b.area)?;
    let from = b
        .valid_from
        .as_deref()
        .map(|s| parse_time("valid_from", s))
        .transpose()?;
    let to = b
        .valid_to
        .as_deref()
        .map(|s| parse_time("valid_to", s))
        .transpose()?;
    sqlx::query(
        "INSERT INTO routing_rules (id, department, category, area, priority, valid_from, valid_to, active, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&b.id)
    .bind(&b.department)
    .bind(&b.category)
    .bind(&area)
    .bind(b.priority.unwrap_or(0))
    .bind(from)
    .bind(to)
    .bind(b.active.unwrap_or(true))
    .bind(&b.note)
    .execute(&state.pool)
    .await
    .map_err(|e| constraint_error(e, &format!("routing rule {}", b.id)))?;
    state.mgmt.reference.invalidate();
    Ok((StatusCode::CREATED, Json(rule_json(&state, &b.id).await?)))
}

async fn patch_rule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let mut body = object(body)?;
    let current = rule_json(&state, &id).await?;
    if body.contains_key("category") || body.contains_key("area") {
        let category = body
            .get("category")
            .cloned()
            .unwrap_or_else(|| current["category"].clone());
        let area = body
            .get("area")
            .cloned()
            .unwrap_or_else(|| current["area"].clone());
        let area = check_scopes(&category, &area)?;
        if body.contains_key("area") {
            body.insert("area".into(), area);
        }
    }
    patch_row(
        &state,
        "routing_rules",
        "id",
        id.clone(),
        &body,
        &[
            Col::Text("department"),
            Col::Json("category"),
            Col::Json("area"),
            Col::Int("priority"),
            Col::Time("valid_from"),
            Col::Time("valid_to"),
            Col::Bool("active"),
            Col::Text("note"),
        ],
        "the routing rule",
        format!("no routing rule {id}"),
    )
    .await?;
    Ok(Json(rule_json(&state, &id).await?))
}

// ----------------------------------------------------------------------------- SLA rules

const SLA_JSON: &str =
    "jsonb_build_object('id', id, 'scope', scope, 'stage', stage, 'amount', amount, 'unit', unit)";

fn check_scope(scope: &str) -> Result<(), ApiError> {
    let probe: Option<CategoryCode> = match scope.len() {
        1 => format!("{scope}0101").parse().ok(),
        3 => format!("{scope}01").parse().ok(),
        5 => scope.parse().ok(),
        _ => None,
    };
    let ok = scope == "*" || probe.is_some_and(|c| scope_rank(scope, &c).is_some());
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "scope {scope:?} must be * (default), P or E (a kind), P01 (a major class) or P0101 (a category)"
        )))
    }
}

async fn list_sla(
    State(state): State<AppState>,
    q: QueryResult<RefQuery>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let (limit, offset) = Page {
        limit: q.limit.or(Some(1000)),
        offset: q.offset,
    }
    .bounds()?;
    let mut qb = QueryBuilder::new(format!(
        "SELECT {SLA_JSON} FROM time_limit_rules WHERE true"
    ));
    if let Some(s) = q.scope.filter(|s| !s.is_empty()) {
        qb.push(" AND scope = ").push_bind(s);
    }
    if let Some(s) = q.stage.filter(|s| !s.is_empty()) {
        qb.push(" AND stage = ").push_bind(s);
    }
    let rows = fetch_page(&state.pool, qb, "scope, stage", limit, offset).await?;
    Ok(Json(json!({"sla_rules": rows})))
}

async fn sla_json(state: &AppState, id: i64) -> Result<Value, ApiError> {
    let sql = format!("SELECT {SLA_JSON} FROM time_limit_rules WHERE id = $1");
    fetch_json(&state.pool, &sql, id, || format!("no SLA rule {id}")).await
}

async fn one_sla(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    Ok(Json(sla_json(&state, id).await?))
}

/// Body of `POST /api/sla-rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewSla {
    scope: String,
    stage: String,
    amount: i32,
    unit: String,
}

fn check_sla(stage: Option<&str>, amount: Option<i64>, unit: Option<&str>) -> Result<(), ApiError> {
    if let Some(s) = stage {
        parse_stage(s)
            .ok_or_else(|| bad("stage must be registration, dispatch, handling or checking"))?;
    }
    if let Some(a) = amount {
        if !(0..=100_000).contains(&a) {
            return Err(bad("amount must be between 0 and 100000"));
        }
    }
    if let Some(u) = unit {
        parse_unit(u).ok_or_else(|| {
            bad("unit must be urgent_hours, working_hours, working_days or natural_days")
        })?;
    }
    Ok(())
}

async fn create_sla(
    State(state): State<AppState>,
    Json(b): Json<NewSla>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_scope(&b.scope)?;
    check_sla(Some(&b.stage), Some(i64::from(b.amount)), Some(&b.unit))?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO time_limit_rules (scope, stage, amount, unit) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&b.scope)
    .bind(&b.stage)
    .bind(b.amount)
    .bind(&b.unit)
    .fetch_one(&state.pool)
    .await
    .map_err(|e| constraint_error(e, &format!("a time limit for {} / {}", b.scope, b.stage)))?;
    state.mgmt.reference.invalidate();
    Ok((StatusCode::CREATED, Json(sla_json(&state, id).await?)))
}

async fn patch_sla(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    check_sla(
        None,
        body.get("amount").and_then(Value::as_i64),
        body.get("unit").and_then(Value::as_str),
    )?;
    patch_row(
        &state,
        "time_limit_rules",
        "id",
        id,
        &body,
        &[Col::Int("amount"), Col::Text("unit")],
        "the SLA rule",
        format!("no SLA rule {id}"),
    )
    .await?;
    Ok(Json(sla_json(&state, id).await?))
}

// ----------------------------------------------------------------------------- calendars

fn check_spec(spec: &Value) -> Result<(), ApiError> {
    let s: CalendarSpec = serde_json::from_value(spec.clone()).map_err(|e| {
        bad(format!(
            "spec must be {{\"utc_offset_minutes\", \"periods\": [{{\"start\": \"09:00:00\", \"end\": \"12:00:00\"}}], \
             \"working_weekdays\": [\"Mon\", …], \"holidays\": [\"2025-10-01\", …], \"makeup_workdays\": [...]}}: {e}"
        ))
    })?;
    if s.holidays.len() + s.makeup_workdays.len() > 5000 {
        return Err(bad("at most 5000 holidays and make-up days"));
    }
    WorkingCalendar::new(s).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    Ok(())
}

async fn list_calendars(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows: Vec<(Value,)> =
        sqlx::query_as("SELECT to_jsonb(c) FROM calendars c ORDER BY code LIMIT 1000")
            .fetch_all(&state.pool)
            .await?;
    let mut list: Vec<Value> = rows.into_iter().map(|(v,)| v).collect();
    if !list.iter().any(|c| c["code"] == "default") {
        list.insert(0, json!({"code": "default", "name": "built-in (China)", "spec": WorkingCalendar::china_default(), "builtin": true}));
    }
    Ok(Json(json!({"calendars": list})))
}

async fn calendar_json(state: &AppState, code: &str) -> Result<Value, ApiError> {
    let row: Option<(Value,)> =
        sqlx::query_as("SELECT to_jsonb(c) FROM calendars c WHERE code = $1")
            .bind(code)
            .fetch_optional(&state.pool)
            .await?;
    match row {
        Some((v,)) => Ok(v),
        None if code == "default" => Ok(
            json!({"code": "default", "name": "built-in (China)", "spec": WorkingCalendar::china_default(), "builtin": true}),
        ),
        None => Err(ApiError::NotFound(format!("no calendar {code}"))),
    }
}

async fn one_calendar(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(calendar_json(&state, &code).await?))
}

/// Body of `POST /api/calendar`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewCalendar {
    code: String,
    name: Option<String>,
    #[schema(value_type = citygrid_grid_mgmt::calendar::CalendarSpec)]
    spec: Value,
}

async fn create_calendar(
    State(state): State<AppState>,
    Json(b): Json<NewCalendar>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !is_ident(&b.code) {
        return Err(bad("calendar code must match [a-z0-9_]+"));
    }
    check_spec(&b.spec)?;
    sqlx::query("INSERT INTO calendars (code, name, spec) VALUES ($1, $2, $3)")
        .bind(&b.code)
        .bind(b.name.unwrap_or_default())
        .bind(&b.spec)
        .execute(&state.pool)
        .await
        .map_err(|e| constraint_error(e, &format!("calendar {}", b.code)))?;
    state.mgmt.reference.invalidate();
    Ok((
        StatusCode::CREATED,
        Json(calendar_json(&state, &b.code).await?),
    ))
}

async fn patch_calendar(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    if let Some(spec) = body.get("spec") {
        check_spec(spec)?;
    }
    if code == "default" {
        // the built-in default becomes a stored row on its first change
        sqlx::query("INSERT INTO calendars (code, name, spec) VALUES ('default', 'default', $1) ON CONFLICT (code) DO NOTHING")
            .bind(json!(WorkingCalendar::china_default()))
            .execute(&state.pool)
            .await?;
    }
    patch_row(
        &state,
        "calendars",
        "code",
        code.clone(),
        &body,
        &[Col::Text("name"), Col::Json("spec")],
        "the calendar",
        format!("no calendar {code} (create it with POST /api/calendar)"),
    )
    .await?;
    Ok(Json(calendar_json(&state, &code).await?))
}
