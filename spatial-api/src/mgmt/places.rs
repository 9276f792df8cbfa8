//! Unit grids and components over HTTP. Every write changes the layer table and sends
//! `NOTIFY citygrid_layers` in the same transaction; components get their grid from
//! the point (`ST_Contains`), and a changed grid re-assigns the components inside it.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::Json;
use citygrid_grid_mgmt::codes::{CategoryCode, CategoryKind, ComponentId, GridCode};
use citygrid_store::places::{self as store, ComponentFilter, GridFilter};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::common::{bad, constraint_error, lonlat_bbox, Page};
use crate::auth::{Access, Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::router::RouteTable;
use crate::state::AppState;

const ADMIN: &[Role] = &[Role::Admin];

/// The grid and component routes.
pub fn routes(t: RouteTable) -> RouteTable {
    let admin = Access::Roles(ADMIN);
    let read = Access::Authenticated;
    t.add(Method::GET, "/api/grids", read, get(list_grids))
        .add(Method::POST, "/api/grids", admin, post(create_grid))
        .add(Method::GET, "/api/grids/{code}", read, get(one_grid))
        .add(Method::PATCH, "/api/grids/{code}", admin, patch(patch_grid))
        .add(Method::GET, "/api/components", read, get(list_components))
        .add(
            Method::POST,
            "/api/components",
            admin,
            post(create_component),
        )
        .add(
            Method::GET,
            "/api/components/{id}",
            read,
            get(one_component),
        )
        .add(
            Method::PATCH,
            "/api/components/{id}",
            admin,
            patch(patch_component),
        )
}

/// Query of the list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlaceQuery {
    /// A community code.
    community: Option<String>,
    /// A street code.
    street: Option<String>,
    /// An admin division code.
    admin: Option<String>,
    /// Components: a unit grid code.
    grid: Option<String>,
    /// Components: a category code.
    category: Option<String>,
    /// Components: their state.
    state: Option<String>,
    /// Components: a department code.
    department: Option<String>,
    /// `w,s,e,n` in degrees.
    bbox: Option<String>,
    /// Grids: only those the signed-in user is responsible for (an inspector's
    /// own grids, which the inspector page keeps for offline work).
    mine: Option<bool>,
    /// Whether to include the geometries (GeoJSON).
    geometry: Option<bool>,
    /// Rows per page (default 100, at most 1000).
    limit: Option<i64>,
    /// Rows to skip.
    offset: Option<i64>,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn digits(field: &str, s: &str, n: usize) -> Result<String, ApiError> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(bad(format!("{field} must be {n} digits")))
    }
}

// ----------------------------------------------------------------------------- grids

/// The query of a list, checked, and its page.
fn list_query(q: QueryResult<PlaceQuery>) -> Result<(PlaceQuery, i64, i64), ApiError> {
    let Query(q) = q.map_err(bad)?;
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds()?;
    Ok((q, limit, offset))
}

/// A page of a list: `{<key>: rows, "limit": …, "offset": …}`.
fn page(key: &str, rows: Vec<Value>, limit: i64, offset: i64) -> Json<Value> {
    Json(json!({key: rows, "limit": limit, "offset": offset}))
}

/// A non-empty query value.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

async fn list_grids(
    State(state): State<AppState>,
    principal: Principal,
    q: QueryResult<PlaceQuery>,
) -> ApiResult<Json<Value>> {
    let (q, limit, offset) = list_query(q)?;
    let responsible = match (q.mine.unwrap_or(false), principal.user()) {
        (false, _) => None,
        (true, Some(user)) => Some(user.username.clone()),
        (true, None) => return Err(bad("mine=true needs a signed-in user")),
    };
    let filter = GridFilter {
        community: given(&q.community)
            .map(|c| digits("community", c, 12))
            .transpose()?,
        street: given(&q.street)
            .map(|s| digits("street", s, 9))
            .transpose()?,
        admin: given(&q.admin).map(|a| digits("admin", a, 6)).transpose()?,
        bbox: lonlat_bbox(q.bbox.as_deref())?,
        responsible,
        geometry: q.geometry.unwrap_or(false),
    };
    let rows = store::list_grids(&state.pool, &filter, limit, offset).await?;
    Ok(page("grids", rows, limit, offset))
}

async fn grid_json(state: &AppState, code: &str) -> Result<Value, ApiError> {
    let code: GridCode = code.parse().map_err(bad)?;
    store::grid(&state.pool, code.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no unit grid {code}")))
}

async fn one_grid(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(grid_json(&state, &code).await?))
}

/// Body of `POST /api/grids`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewGrid {
    code: String,
    geometry: Value,
    responsible: Option<String>,
}

fn geometry_text(v: &Value) -> Result<String, ApiError> {
    match v.get("type").and_then(Value::as_str) {
        Some("Polygon") | Some("MultiPolygon") => Ok(v.to_string()),
        _ => Err(bad(
            "geometry must be a GeoJSON Polygon or MultiPolygon in lon/lat",
        )),
    }
}

async fn create_grid(
    State(state): State<AppState>,
    Json(b): Json<NewGrid>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let code: GridCode = b.code.parse().map_err(bad)?;
    let geom = geometry_text(&b.geometry)?;
    let mut tx = state.pool.begin().await?;
    let admin = code.admin();
    let new = store::NewGrid {
        code: code.as_str(),
        geojson: &geom,
        community_key: code.community_key(),
        street_key: code.street_key(),
        admin: admin.as_str(),
        responsible: b.responsible.as_deref(),
    };
    let fid = store::insert_grid(&mut *tx, &new)
        .await
        .map_err(|e| match e {
            sqlx::Error::RowNotFound => ApiError::Unprocessable("the geometry is empty".into()),
            sqlx::Error::Database(ref d) if d.code().as_deref() == Some("XX000") => {
                ApiError::Unprocessable(format!(
                    "the geometry is not valid GeoJSON: {}",
                    d.message()
                ))
            }
            other => constraint_error(other, &format!("unit grid {code}")),
        })?;
    store::notify_features(&mut tx, "unit_grids", &[fid]).await?;
    store::assign_components(&mut tx, Some(code.as_str())).await?;
    store::refresh_catalog(&mut tx, "unit_grids", false).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(grid_json(&state, code.as_str()).await?),
    ))
}

async fn patch_grid(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let code: GridCode = code.parse().map_err(bad)?;
    let Value::Object(body) = body else {
        return Err(bad("the body must be a JSON object"));
    };
    for k in body.keys() {
        if !["responsible", "geometry", "valid_to"].contains(&k.as_str()) {
            return Err(bad(format!(
                "field {k:?} cannot be changed; allowed: responsible, geometry, valid_to"
            )));
        }
    }
    let mut tx = state.pool.begin().await?;
    let fid = store::lock_grid(&mut *tx, code.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no unit grid {code}")))?;
    if let Some(r) = body.get("responsible") {
        store::set_grid_responsible(&mut *tx, fid, r.as_str()).await?;
    }
    if let Some(v) = body.get("valid_to") {
        let d = match v {
            Value::Null => None,
            Value::String(s) => Some(
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| bad("valid_to must be YYYY-MM-DD"))?,
            ),
            _ => return Err(bad("valid_to must be YYYY-MM-DD or null")),
        };
        store::set_grid_valid_to(&mut *tx, fid, d).await?;
    }
    if let Some(g) = body.get("geometry") {
        let geom = geometry_text(g)?;
        // keep the old outline in the history
        store::archive_grid(&mut *tx, fid).await?;
        store::set_grid_geometry(&mut *tx, fid, &geom)
            .await
            .map_err(|e| constraint_error(e, "the geometry"))?;
    }
    store::notify_features(&mut tx, "unit_grids", &[fid]).await?;
    store::assign_components(&mut tx, Some(code.as_str())).await?;
    if body.contains_key("geometry") {
        store::assign_components(&mut tx, None).await?;
        store::refresh_catalog(&mut tx, "unit_grids", false).await?;
    }
    tx.commit().await?;
    Ok(Json(grid_json(&state, code.as_str()).await?))
}

// ----------------------------------------------------------------------------- components

async fn list_components(
    State(state): State<AppState>,
    q: QueryResult<PlaceQuery>,
) -> ApiResult<Json<Value>> {
    let (q, limit, offset) = list_query(q)?;
    let filter = ComponentFilter {
        category: given(&q.category)
            .map(|c| c.parse::<CategoryCode>().map(|c| c.to_string()))
            .transpose()
            .map_err(bad)?,
        grid: given(&q.grid)
            .map(|g| g.parse::<GridCode>().map(|g| g.to_string()))
            .transpose()
            .map_err(bad)?,
        state: given(&q.state).map(str::to_string),
        department: given(&q.department).map(str::to_string),
        bbox: lonlat_bbox(q.bbox.as_deref())?,
    };
    let rows = store::list_components(&state.pool, &filter, limit, offset).await?;
    Ok(page("components", rows, limit, offset))
}

async fn component_json(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let id: ComponentId = id.parse().map_err(bad)?;
    store::component(&state.pool, id.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no component {id}")))
}

async fn one_component(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(component_json(&state, &id).await?))
}

/// Body of `POST /api/components`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewComponent {
    component_id: Option<String>,
    category_code: String,
    lon: f64,
    lat: f64,
    name: Option<String>,
    state: Option<String>,
    supervising_department: Option<String>,
    owning_department: Option<String>,
    maintaining_department: Option<String>,
    survey_date: Option<chrono::NaiveDate>,
    source: Option<String>,
    note: Option<String>,
}

const STATES: [&str; 6] = [
    "intact",
    "damaged",
    "missing",
    "obstructed",
    "removed",
    "other",
];

async fn create_component(
    State(state): State<AppState>,
    Json(b): Json<NewComponent>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let category: CategoryCode = b.category_code.parse().map_err(bad)?;
    if category.kind != CategoryKind::Component {
        return Err(bad("category_code must be a component category (P…)"));
    }
    let (lon, lat) = super::locate::to_wgs84(b.lon, b.lat, None)?;
    let st = b.state.unwrap_or_else(|| "intact".into());
    if !STATES.contains(&st.as_str()) {
        return Err(bad(format!("state must be one of {}", STATES.join(", "))));
    }
    let mut tx = state.pool.begin().await?;
    let id = match b.component_id {
        Some(id) => {
            let id: ComponentId = id.parse().map_err(bad)?;
            if id.category() != category {
                return Err(bad(format!(
                    "component id {id} does not carry category {category}"
                )));
            }
            id.to_string()
        }
        None => {
            let admin = store::admin_code_at(&mut *tx, lon, lat)
                .await?
                .ok_or_else(|| {
                    ApiError::Unprocessable(
                        "the point is outside every unit grid; give component_id explicitly".into(),
                    )
                })?;
            let prefix = format!("{admin}{}", category.plain());
            let serial = store::next_component_serial(&mut *tx, &prefix).await?;
            if serial > 999_999 {
                return Err(ApiError::Conflict(format!(
                    "no free serial left for {prefix}"
                )));
            }
            format!("{prefix}{serial:06}")
        }
    };
    let new = store::NewComponent {
        lon,
        lat,
        component_id: id.clone(),
        category_code: category.to_string(),
        name: b.name,
        state: st,
        supervising_department: b.supervising_department,
        owning_department: b.owning_department,
        maintaining_department: b.maintaining_department,
        survey_date: b.survey_date,
        source: b.source.unwrap_or_else(|| "api".into()),
        note: b.note,
    };
    let fid = store::insert_component(&mut *tx, &new)
        .await
        .map_err(|e| constraint_error(e, &format!("component {id}")))?;
    store::notify_features(&mut tx, "components", &[fid]).await?;
    store::refresh_catalog(&mut tx, "components", false).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(component_json(&state, &id).await?),
    ))
}

async fn patch_component(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let id: ComponentId = id.parse().map_err(bad)?;
    let Value::Object(body) = body else {
        return Err(bad("the body must be a JSON object"));
    };
    let text_cols = store::COMPONENT_TEXT_COLUMNS;
    let mut texts = Vec::new();
    let mut moved = false;
    let mut rest = Map::new();
    for (k, v) in &body {
        if text_cols.contains(&k.as_str()) {
            if k == "state" && !v.as_str().is_some_and(|s| STATES.contains(&s)) {
                return Err(bad(format!("state must be one of {}", STATES.join(", "))));
            }
            let s = match v {
                Value::Null => None,
                Value::String(s) if s.chars().count() <= 2000 => Some(s.clone()),
                _ => return Err(bad(format!("{k} must be text"))),
            };
            texts.push((k.clone(), s));
        } else if k == "lon" || k == "lat" {
            moved = true;
        } else {
            rest.insert(k.clone(), v.clone());
        }
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "fields {:?} cannot be changed; allowed: {}, lon, lat",
            rest.keys().collect::<Vec<_>>(),
            text_cols.join(", ")
        )));
    }
    let mut point = None;
    if moved {
        let lon = body
            .get("lon")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("lon and lat must both be numbers"))?;
        let lat = body
            .get("lat")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("lon and lat must both be numbers"))?;
        point = Some(super::locate::to_wgs84(lon, lat, None)?);
    }
    let mut tx = state.pool.begin().await?;
    let fid = store::update_component(&mut *tx, &id.to_string(), &texts, point)
        .await
        .map_err(|e| constraint_error(e, "the component"))?
        .ok_or_else(|| ApiError::NotFound(format!("no component {id}")))?;
    if moved {
        store::regrid_component(&mut *tx, fid).await?;
    }
    store::notify_features(&mut tx, "components", &[fid]).await?;
    tx.commit().await?;
    Ok(Json(component_json(&state, id.as_str()).await?))
}
