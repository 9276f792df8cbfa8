//! Reference data over HTTP: departments, categories, routing rules, time-limit (SLA)
//! rules and working calendars. Reads for signed-in users (categories also for the
//! public reporting page), writes for admins; every write drops the cached copy.
//!
//! One generic CRUD serves the five. Each is a `Resource`: its table descriptor in
//! [`citygrid_store::reference_admin`] (columns, types, filters, SQL), its routes, its
//! messages and its validation. The four handlers `list`, `one`, `create` and
//! `change` do the HTTP part for all of them: extract, validate, call the store, drop
//! the cache, serialise. The tables' triggers send `NOTIFY citygrid_mgmt` to the other
//! instances; the router's audit layer records every admin write.

use std::fmt;
use std::future::Future;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::Json;
use citygrid_grid_mgmt::calendar::{CalendarSpec, WorkingCalendar};
use citygrid_grid_mgmt::catalog::{Catalog, CategoryAttribute};
use citygrid_grid_mgmt::codes::{CategoryCode, CategoryKind, MajorClass};
use citygrid_grid_mgmt::routing::{AreaScope, CategoryScope};
use citygrid_store::reference_admin::{
    self as store, Arg, Column, ColumnType, Datum, Key, Table, CALENDARS, CATEGORIES, DEPARTMENTS,
    ROUTING_RULES, TIME_LIMITS,
};
use geozero::geojson::GeoJson;
use geozero::ToGeo;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::common::{bad, constraint_error, is_ident, parse_time, Page};
use super::reference::{parse_stage, parse_unit, scope_rank};
use crate::auth::{Access, Role};
use crate::error::{ApiError, ApiResult};
use crate::router::RouteTable;
use crate::state::AppState;

const ADMIN: &[Role] = &[Role::Admin];

/// The reference-data routes.
pub fn routes(t: RouteTable) -> RouteTable {
    let t = crud::<Departments>(t);
    let t = crud::<Categories>(t);
    let t = crud::<RoutingRules>(t);
    let t = crud::<TimeLimits>(t);
    crud::<Calendars>(t)
}

/// The four routes of one resource: list and create at its path, read and change one.
fn crud<R: Resource>(t: RouteTable) -> RouteTable {
    let admin = Access::Roles(ADMIN);
    t.add(Method::GET, R::PATH, R::READ, get(list::<R>))
        .add(Method::POST, R::PATH, admin, post(create::<R>))
        .add(Method::GET, R::ONE, R::READ, get(one::<R>))
        .add(Method::PATCH, R::ONE, admin, patch(change::<R>))
}

// ----------------------------------------------------------------------------- the generic CRUD

/// The key of one row, from the path (`{code}` or `{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum RefKey {
    /// A code or a text id.
    Text(String),
    /// A numeric id.
    Id(i64),
}

impl RefKey {
    fn as_store(&self) -> Key<'_> {
        match self {
            RefKey::Text(s) => Key::Text(s),
            RefKey::Id(i) => Key::Id(*i),
        }
    }
}

impl fmt::Display for RefKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefKey::Text(s) => f.write_str(s),
            RefKey::Id(i) => write!(f, "{i}"),
        }
    }
}

impl From<String> for RefKey {
    fn from(s: String) -> Self {
        RefKey::Text(s)
    }
}

impl From<i64> for RefKey {
    fn from(i: i64) -> Self {
        RefKey::Id(i)
    }
}

/// A list's filters (the store applies those of the table), limit and offset.
type ListArgs = (Vec<(&'static str, Arg)>, i64, i64);

/// One piece of reference data: what differs between the five; the rest is generic.
trait Resource: Send + Sync + 'static {
    /// The table in the store.
    const TABLE: &'static Table;
    /// The path of the list (`GET`) and of creating (`POST`).
    const PATH: &'static str;
    /// The path of one row (`GET`, `PATCH`).
    const ONE: &'static str;
    /// Who may read.
    const READ: Access;
    /// The field of the list response that holds the rows.
    const ITEMS: &'static str;
    /// Rows per page when the query names no `limit` (`None`: the usual 100).
    const DEFAULT_LIMIT: Option<i64> = None;
    /// What one row is called in messages (`no <noun> <key>`, `the <noun>`).
    const NOUN: &'static str;
    /// The key as the path gives it.
    type PathKey: DeserializeOwned + Into<RefKey> + Send + 'static;
    /// The body of `POST`.
    type New: DeserializeOwned + Send + 'static;

    /// The key of a path (400 when malformed).
    fn key(raw: Self::PathKey) -> ApiResult<RefKey> {
        Ok(raw.into())
    }

    /// The 404 message of a read.
    fn not_found(key: &RefKey) -> String {
        format!("no {} {key}", Self::NOUN)
    }

    /// The 404 message of a change.
    fn change_not_found(key: &RefKey) -> String {
        Self::not_found(key)
    }

    /// What a read shows for a key with no row (a built-in default), if anything.
    fn builtin(_key: &RefKey) -> Option<Value> {
        None
    }

    /// The filters and page of a list query.
    fn list_args(q: QueryResult<RefQuery>) -> ApiResult<ListArgs> {
        let Query(q) = q.map_err(bad)?;
        let (limit, offset) = Page {
            limit: q.limit.or(Self::DEFAULT_LIMIT),
            offset: q.offset,
        }
        .bounds()?;
        let mut args = q.args();
        Self::check_args(&mut args)?;
        Ok((args, limit, offset))
    }

    /// Checks (and normalises) filter values.
    fn check_args(_args: &mut [(&'static str, Arg)]) -> ApiResult<()> {
        Ok(())
    }

    /// The list response.
    fn list_body(
        _state: &AppState,
        rows: Vec<Value>,
    ) -> impl Future<Output = ApiResult<Value>> + Send {
        async move {
            let mut body = Map::new();
            body.insert(Self::ITEMS.to_string(), Value::Array(rows));
            Ok(Value::Object(body))
        }
    }

    /// Validates a new row and stores it; returns its key.
    fn create(state: &AppState, b: Self::New) -> impl Future<Output = ApiResult<RefKey>> + Send;

    /// Checks (and normalises) the fields of a change before they are stored.
    fn check_change(
        _state: &AppState,
        _key: &RefKey,
        _body: &mut Map<String, Value>,
    ) -> impl Future<Output = ApiResult<()>> + Send {
        async { Ok(()) }
    }
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

async fn list<R: Resource>(
    State(state): State<AppState>,
    q: QueryResult<RefQuery>,
) -> ApiResult<Json<Value>> {
    let (args, limit, offset) = R::list_args(q)?;
    let rows = store::list(&state.pool, R::TABLE, &args, limit, offset).await?;
    Ok(Json(R::list_body(&state, rows).await?))
}

/// One row as the API shows it (or the resource's built-in), else 404.
async fn read<R: Resource>(state: &AppState, key: &RefKey) -> ApiResult<Value> {
    match store::get(&state.pool, R::TABLE, key.as_store()).await? {
        Some(v) => Ok(v),
        None => R::builtin(key).ok_or_else(|| ApiError::NotFound(R::not_found(key))),
    }
}

async fn one<R: Resource>(
    State(state): State<AppState>,
    Path(key): Path<R::PathKey>,
) -> ApiResult<Json<Value>> {
    let key = R::key(key)?;
    Ok(Json(read::<R>(&state, &key).await?))
}

async fn create<R: Resource>(
    State(state): State<AppState>,
    Json(b): Json<R::New>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let key = R::create(&state, b).await?;
    state.mgmt.reference.invalidate();
    Ok((StatusCode::CREATED, Json(read::<R>(&state, &key).await?)))
}

/// `PATCH`: a JSON object of the fields to change; 404 when no row has that key,
/// constraint violations are 4xx.
async fn change<R: Resource>(
    State(state): State<AppState>,
    Path(key): Path<R::PathKey>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let key = R::key(key)?;
    let mut body = object(body)?;
    R::check_change(&state, &key, &mut body).await?;
    let sets = sets(&body, R::TABLE.editable())?;
    let changed = store::update(&state.pool, R::TABLE, key.as_store(), &sets)
        .await
        .map_err(|e| constraint_error(e, &format!("the {}", R::NOUN)))?;
    if changed == 0 {
        return Err(ApiError::NotFound(R::change_not_found(&key)));
    }
    state.mgmt.reference.invalidate();
    Ok(Json(read::<R>(&state, &key).await?))
}

/// Inserts a new row of `R`; a constraint violation is a 4xx about `what`.
async fn insert<R: Resource>(
    state: &AppState,
    what: &str,
    values: &[(&str, Datum)],
) -> ApiResult<Option<i64>> {
    store::insert(&state.pool, R::TABLE, values)
        .await
        .map_err(|e| constraint_error(e, what))
}

/// The typed values of every field of `body` (which must all be in `cols`).
fn sets(
    body: &Map<String, Value>,
    cols: impl Iterator<Item = &'static Column> + Clone,
) -> Result<Vec<(&'static str, Datum)>, ApiError> {
    if body.is_empty() {
        return Err(bad("nothing to change: send at least one field"));
    }
    let mut sets = Vec::with_capacity(body.len());
    for (key, value) in body {
        let col = cols.clone().find(|c| c.name() == key).ok_or_else(|| {
            bad(format!(
                "field {key:?} cannot be changed; allowed: {}",
                cols.clone()
                    .map(Column::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let wrong = || bad(format!("field {key:?} has the wrong type"));
        let datum = match col.ty() {
            ColumnType::Text => match value {
                Value::Null => Datum::Text(None),
                Value::String(s) if s.chars().count() <= 2000 => Datum::Text(Some(s.clone())),
                _ => return Err(wrong()),
            },
            ColumnType::Bool => Datum::Bool(value.as_bool().ok_or_else(wrong)?),
            ColumnType::Int => Datum::Int(
                value
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(wrong)?,
            ),
            ColumnType::Json => Datum::Json(value.clone()),
            ColumnType::Time => match value {
                Value::Null => Datum::Time(None),
                Value::String(s) => Datum::Time(Some(parse_time(key, s)?)),
                _ => return Err(wrong()),
            },
        };
        sets.push((col.name(), datum));
    }
    Ok(sets)
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(bad("the body must be a JSON object")),
    }
}

fn url_ok(v: Option<&str>) -> Result<(), ApiError> {
    if let Some(u) = v {
        super::outbox::check_webhook_url(u).map_err(bad)?;
    }
    Ok(())
}

fn text(s: impl Into<String>) -> Datum {
    Datum::Text(Some(s.into()))
}

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

impl RefQuery {
    /// The filters the query gives (empty texts are no filter); each resource's table
    /// applies those it has.
    fn args(self) -> Vec<(&'static str, Arg)> {
        let mut args = Vec::new();
        if let Some(a) = self.active {
            args.push(("active", Arg::Bool(a)));
        }
        for (name, v) in [
            ("q", self.q),
            ("kind", self.kind),
            ("major", self.major),
            ("scope", self.scope),
            ("stage", self.stage),
            ("department", self.department),
        ] {
            if let Some(v) = v.filter(|s| !s.is_empty()) {
                args.push((name, Arg::Text(v)));
            }
        }
        args
    }
}

// ----------------------------------------------------------------------------- departments

struct Departments;

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

impl Resource for Departments {
    const TABLE: &'static Table = &DEPARTMENTS;
    const PATH: &'static str = "/api/departments";
    const ONE: &'static str = "/api/departments/{code}";
    const READ: Access = Access::Authenticated;
    const ITEMS: &'static str = "departments";
    const NOUN: &'static str = "department";
    type PathKey = String;
    type New = NewDepartment;

    async fn create(state: &AppState, b: NewDepartment) -> ApiResult<RefKey> {
        if !is_ident(&b.code) {
            return Err(bad(
                "department code must match [a-z0-9_]+ (at most 48 characters)",
            ));
        }
        if b.name.trim().is_empty() {
            return Err(bad("name is required"));
        }
        url_ok(b.webhook_url.as_deref())?;
        url_ok(b.open311_endpoint.as_deref())?;
        insert::<Self>(
            state,
            &format!("department {}", b.code),
            &[
                ("code", text(&b.code)),
                ("name", text(b.name.trim())),
                ("name_en", Datum::Text(b.name_en)),
                ("active", Datum::Bool(b.active.unwrap_or(true))),
                ("webhook_url", Datum::Text(b.webhook_url)),
                ("webhook_secret", Datum::Text(b.webhook_secret)),
                ("open311_endpoint", Datum::Text(b.open311_endpoint)),
                ("contact", Datum::Text(b.contact)),
            ],
        )
        .await?;
        Ok(RefKey::Text(b.code))
    }

    async fn check_change(
        _state: &AppState,
        _key: &RefKey,
        body: &mut Map<String, Value>,
    ) -> ApiResult<()> {
        url_ok(body.get("webhook_url").and_then(Value::as_str))?;
        url_ok(body.get("open311_endpoint").and_then(Value::as_str))
    }
}

// ----------------------------------------------------------------------------- categories

struct Categories;

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

impl Resource for Categories {
    const TABLE: &'static Table = &CATEGORIES;
    const PATH: &'static str = "/api/categories";
    const ONE: &'static str = "/api/categories/{code}";
    const READ: Access = Access::Public;
    const ITEMS: &'static str = "categories";
    const DEFAULT_LIMIT: Option<i64> = Some(1000);
    const NOUN: &'static str = "category";
    type PathKey = String;
    type New = NewCategory;

    fn key(raw: String) -> ApiResult<RefKey> {
        let code: CategoryCode = raw.parse().map_err(bad)?;
        Ok(RefKey::Text(code.to_string()))
    }

    fn check_args(args: &mut [(&'static str, Arg)]) -> ApiResult<()> {
        // kind first, then major (the order of their messages)
        for (name, arg) in args.iter_mut() {
            if let ("kind", Arg::Text(k)) = (*name, &mut *arg) {
                let kind: CategoryKind = k.parse().map_err(bad)?;
                *k = kind.to_string();
            }
        }
        for (name, arg) in args.iter_mut() {
            if let ("major", Arg::Text(m)) = (*name, &mut *arg) {
                let major: MajorClass = m.parse().map_err(bad)?;
                *m = major.to_string();
            }
        }
        Ok(())
    }

    async fn list_body(state: &AppState, rows: Vec<Value>) -> ApiResult<Value> {
        let majors = store::major_classes(&state.pool).await?;
        Ok(json!({
            "categories": rows,
            "major_classes": majors,
        }))
    }

    async fn create(state: &AppState, b: NewCategory) -> ApiResult<RefKey> {
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
        store::ensure_major_class(
            &mut *tx,
            &major.to_string(),
            &b.major_name_zh.unwrap_or(mzh),
            &b.major_name_en.unwrap_or(men),
        )
        .await?;
        store::insert(
            &mut *tx,
            &CATEGORIES,
            &[
                ("code", text(code.to_string())),
                ("kind", text(code.kind.to_string())),
                ("name_zh", text(b.name_zh.trim())),
                (
                    "name_en",
                    text(b.name_en.unwrap_or_else(|| b.name_zh.clone())),
                ),
                (
                    "register_condition",
                    text(b.register_condition.unwrap_or_default()),
                ),
                (
                    "close_condition",
                    text(b.close_condition.unwrap_or_default()),
                ),
                ("default_department", Datum::Text(b.default_department)),
                (
                    "attributes",
                    Datum::Json(json!(b.attributes.unwrap_or_default())),
                ),
                ("active", Datum::Bool(b.active.unwrap_or(true))),
            ],
        )
        .await
        .map_err(|e| constraint_error(e, &format!("category {code}")))?;
        tx.commit().await?;
        Ok(RefKey::Text(code.to_string()))
    }

    async fn check_change(
        _state: &AppState,
        _key: &RefKey,
        body: &mut Map<String, Value>,
    ) -> ApiResult<()> {
        if let Some(a) = body.get("attributes") {
            serde_json::from_value::<Vec<CategoryAttribute>>(a.clone())
                .map_err(|e| bad(format!("attributes: {e}")))?;
        }
        Ok(())
    }
}

// ----------------------------------------------------------------------------- routing rules

struct RoutingRules;

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

impl Resource for RoutingRules {
    const TABLE: &'static Table = &ROUTING_RULES;
    const PATH: &'static str = "/api/routing-rules";
    const ONE: &'static str = "/api/routing-rules/{id}";
    const READ: Access = Access::Authenticated;
    const ITEMS: &'static str = "routing_rules";
    const NOUN: &'static str = "routing rule";
    type PathKey = String;
    type New = NewRule;

    async fn create(state: &AppState, b: NewRule) -> ApiResult<RefKey> {
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
        insert::<Self>(
            state,
            &format!("routing rule {}", b.id),
            &[
                ("id", text(&b.id)),
                ("department", text(b.department)),
                ("category", Datum::Json(b.category)),
                ("area", Datum::Json(area)),
                ("priority", Datum::Int(b.priority.unwrap_or(0))),
                ("valid_from", Datum::Time(from)),
                ("valid_to", Datum::Time(to)),
                ("active", Datum::Bool(b.active.unwrap_or(true))),
                ("note", Datum::Text(b.note)),
            ],
        )
        .await?;
        Ok(RefKey::Text(b.id))
    }

    /// Category and area are checked together, the missing one taken from the rule.
    async fn check_change(
        state: &AppState,
        key: &RefKey,
        body: &mut Map<String, Value>,
    ) -> ApiResult<()> {
        let current = read::<Self>(state, key).await?;
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
        Ok(())
    }
}

// ----------------------------------------------------------------------------- SLA rules

struct TimeLimits;

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

impl Resource for TimeLimits {
    const TABLE: &'static Table = &TIME_LIMITS;
    const PATH: &'static str = "/api/sla-rules";
    const ONE: &'static str = "/api/sla-rules/{id}";
    const READ: Access = Access::Authenticated;
    const ITEMS: &'static str = "sla_rules";
    const DEFAULT_LIMIT: Option<i64> = Some(1000);
    const NOUN: &'static str = "SLA rule";
    type PathKey = i64;
    type New = NewSla;

    async fn create(state: &AppState, b: NewSla) -> ApiResult<RefKey> {
        check_scope(&b.scope)?;
        check_sla(Some(&b.stage), Some(i64::from(b.amount)), Some(&b.unit))?;
        let what = format!("a time limit for {} / {}", b.scope, b.stage);
        let id = insert::<Self>(
            state,
            &what,
            &[
                ("scope", text(b.scope)),
                ("stage", text(b.stage)),
                ("amount", Datum::Int(b.amount)),
                ("unit", text(b.unit)),
            ],
        )
        .await?
        .ok_or_else(|| ApiError::Internal("no id for the new time limit".into()))?;
        Ok(RefKey::Id(id))
    }

    async fn check_change(
        _state: &AppState,
        _key: &RefKey,
        body: &mut Map<String, Value>,
    ) -> ApiResult<()> {
        check_sla(
            None,
            body.get("amount").and_then(Value::as_i64),
            body.get("unit").and_then(Value::as_str),
        )
    }
}

// ----------------------------------------------------------------------------- calendars

struct Calendars;

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

/// The built-in calendar, shown as `default` until it is stored.
fn builtin_calendar() -> Value {
    json!({"code": "default", "name": "built-in (China)", "spec": WorkingCalendar::china_default(), "builtin": true})
}

/// Whether the key is the built-in calendar's, `default`.
fn is_default(key: &RefKey) -> bool {
    matches!(key, RefKey::Text(code) if code == "default")
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

impl Resource for Calendars {
    const TABLE: &'static Table = &CALENDARS;
    const PATH: &'static str = "/api/calendar";
    const ONE: &'static str = "/api/calendar/{code}";
    const READ: Access = Access::Authenticated;
    const ITEMS: &'static str = "calendars";
    const NOUN: &'static str = "calendar";
    type PathKey = String;
    type New = NewCalendar;

    fn change_not_found(key: &RefKey) -> String {
        format!("no calendar {key} (create it with POST /api/calendar)")
    }

    fn builtin(key: &RefKey) -> Option<Value> {
        is_default(key).then(builtin_calendar)
    }

    /// Calendars are few: one page of up to 1000, whatever the query says.
    fn list_args(_q: QueryResult<RefQuery>) -> ApiResult<ListArgs> {
        Ok((Vec::new(), 1000, 0))
    }

    async fn list_body(_state: &AppState, mut rows: Vec<Value>) -> ApiResult<Value> {
        if !rows.iter().any(|c| c["code"] == "default") {
            rows.insert(0, builtin_calendar());
        }
        Ok(json!({"calendars": rows}))
    }

    async fn create(state: &AppState, b: NewCalendar) -> ApiResult<RefKey> {
        if !is_ident(&b.code) {
            return Err(bad("calendar code must match [a-z0-9_]+"));
        }
        check_spec(&b.spec)?;
        insert::<Self>(
            state,
            &format!("calendar {}", b.code),
            &[
                ("code", text(&b.code)),
                ("name", text(b.name.unwrap_or_default())),
                ("spec", Datum::Json(b.spec)),
            ],
        )
        .await?;
        Ok(RefKey::Text(b.code))
    }

    async fn check_change(
        state: &AppState,
        key: &RefKey,
        body: &mut Map<String, Value>,
    ) -> ApiResult<()> {
        if let Some(spec) = body.get("spec") {
            check_spec(spec)?;
        }
        if is_default(key) {
            // The built-in default becomes a stored row on its first change — only once
            // the change itself is known to be valid, so a refused change stores nothing.
            sets(body, Self::TABLE.editable())?;
            store::ensure_default_calendar(&state.pool, &json!(WorkingCalendar::china_default()))
                .await?;
        }
        Ok(())
    }
}
