//! Unit grids and components over HTTP. Every write changes the layer table and sends
//! `NOTIFY citygrid_layers` in the same transaction; components get their grid from
//! the point (`ST_Contains`), and a changed grid re-assigns the components inside it.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use axum::Json;
use citygrid_grid_mgmt::codes::{CategoryCode, CategoryKind, ComponentId, GridCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sqlx::{Postgres, QueryBuilder};

use super::common::{bad, constraint_error, fetch_json, fetch_page, Page};
use crate::auth::{Access, Role};
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
    /// Whether to include the geometries (GeoJSON).
    geometry: Option<bool>,
    /// Rows per page (default 100, at most 1000).
    limit: Option<i64>,
    /// Rows to skip.
    offset: Option<i64>,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn push_bbox(qb: &mut QueryBuilder<'_, Postgres>, bbox: Option<&str>) -> Result<(), ApiError> {
    if let Some(b) = bbox.filter(|s| !s.is_empty()) {
        let v: Vec<f64> = b
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("bbox must be w,s,e,n in degrees"))?;
        if v.len() != 4 || v.iter().any(|x| !x.is_finite()) {
            return Err(bad("bbox must be w,s,e,n in degrees"));
        }
        qb.push(" AND t.geom && ST_MakeEnvelope(")
            .push_bind(v[0])
            .push(", ")
            .push_bind(v[1])
            .push(", ")
            .push_bind(v[2])
            .push(", ")
            .push_bind(v[3])
            .push(", 4326)");
    }
    Ok(())
}

fn digits(field: &str, s: &str, n: usize) -> Result<String, ApiError> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(bad(format!("{field} must be {n} digits")))
    }
}

fn row_json(geometry: bool) -> &'static str {
    if geometry {
        "(to_jsonb(t) - 'geom' - 'fid') || jsonb_build_object('geometry', ST_AsGeoJSON(t.geom, 7)::jsonb)"
    } else {
        "(to_jsonb(t) - 'geom' - 'fid')"
    }
}

async fn notify(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    layer: &str,
    fids: &[i64],
) -> Result<(), sqlx::Error> {
    for chunk in fids.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(format!("{layer}:{}", ids.join(",")))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Re-assigns the grid of the components whose grid changed (all, or those within
/// `grid`'s area) and announces them; returns how many moved.
pub async fn assign_components(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    grid: Option<&str>,
) -> Result<usize, sqlx::Error> {
    let fids: Vec<(i64,)> = sqlx::query_as(
        "WITH target AS ( \
           SELECT c.fid, (SELECT g.code FROM layers.unit_grids g \
                          WHERE ST_Intersects(g.geom, c.geom) ORDER BY g.fid LIMIT 1) AS code \
           FROM layers.components c \
           WHERE $1::text IS NULL OR c.grid_code = $1 \
              OR ST_Intersects(c.geom, (SELECT geom FROM layers.unit_grids WHERE code = $1))) \
         UPDATE layers.components c SET grid_code = target.code FROM target \
         WHERE c.fid = target.fid AND c.grid_code IS DISTINCT FROM target.code RETURNING c.fid",
    )
    .bind(grid)
    .fetch_all(&mut **tx)
    .await?;
    let fids: Vec<i64> = fids.into_iter().map(|(f,)| f).collect();
    notify(tx, "components", &fids).await?;
    Ok(fids.len())
}

/// Refreshes the catalogue entry (count, bounds, version) of a layer after a change.
pub async fn refresh_catalog(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    layer: &str,
    bump: bool,
) -> Result<(), sqlx::Error> {
    if !super::common::is_ident(layer) {
        return Ok(());
    }
    sqlx::query(&format!(
        "UPDATE layer_catalog SET feature_count = s.n, \
            bounds = CASE WHEN s.e IS NULL THEN NULL ELSE ARRAY[ST_XMin(s.e), ST_YMin(s.e), ST_XMax(s.e), ST_YMax(s.e)] END, \
            version = version + CASE WHEN $2 THEN 1 ELSE 0 END, updated_at = now() \
         FROM (SELECT count(*) AS n, ST_Extent(geom)::geometry AS e FROM layers.\"{layer}\") s WHERE id = $1"
    ))
    .bind(layer)
    .bind(bump)
    .execute(&mut **tx)
    .await?;
    if bump {
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(layer)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

// ----------------------------------------------------------------------------- grids

async fn list_grids(
    State(state): State<AppState>,
    q: QueryResult<PlaceQuery>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds()?;
    let mut qb = QueryBuilder::new(format!(
        "SELECT {} FROM layers.unit_grids t WHERE true",
        row_json(q.geometry.unwrap_or(false))
    ));
    if let Some(c) = q.community.as_deref().filter(|s| !s.is_empty()) {
        qb.push(" AND t.community_code = ")
            .push_bind(digits("community", c, 12)?);
    }
    if let Some(s) = q.street.as_deref().filter(|s| !s.is_empty()) {
        qb.push(" AND t.street_code = ")
            .push_bind(digits("street", s, 9)?);
    }
    if let Some(a) = q.admin.as_deref().filter(|s| !s.is_empty()) {
        qb.push(" AND t.admin_code = ")
            .push_bind(digits("admin", a, 6)?);
    }
    push_bbox(&mut qb, q.bbox.as_deref())?;
    let rows = fetch_page(&state.pool, qb, "t.code", limit, offset).await?;
    Ok(Json(
        json!({"grids": rows, "limit": limit, "offset": offset}),
    ))
}

async fn grid_json(state: &AppState, code: &str) -> Result<Value, ApiError> {
    let code: GridCode = code.parse().map_err(bad)?;
    let sql = format!(
        "SELECT {} || jsonb_build_object('components', (SELECT count(*) FROM layers.components c WHERE c.grid_code = t.code)) \
         FROM layers.unit_grids t WHERE code = $1",
        row_json(true)
    );
    fetch_json(&state.pool, &sql, code.as_str(), || {
        format!("no unit grid {code}")
    })
    .await
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
    let (fid,): (i64,) = sqlx::query_as(
        "WITH g AS (SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON($2), 4326)), 3)) AS geom) \
         INSERT INTO layers.unit_grids (fid, geom, code, community_code, street_code, admin_code, area_m2, responsible) \
         SELECT coalesce((SELECT max(fid) FROM layers.unit_grids), 0) + 1, g.geom, $1, $3, $4, $5, \
                ST_Area(g.geom::geography), $6 FROM g WHERE NOT ST_IsEmpty(g.geom) RETURNING fid",
    )
    .bind(code.as_str())
    .bind(&geom)
    .bind(code.community_key())
    .bind(code.street_key())
    .bind(code.admin().as_str())
    .bind(&b.responsible)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match e {
        sqlx::Error::RowNotFound => ApiError::Unprocessable("the geometry is empty".into()),
        sqlx::Error::Database(ref d) if d.code().as_deref() == Some("XX000") => {
            ApiError::Unprocessable(format!("the geometry is not valid GeoJSON: {}", d.message()))
        }
        other => constraint_error(other, &format!("unit grid {code}")),
    })?;
    notify(&mut tx, "unit_grids", &[fid]).await?;
    assign_components(&mut tx, Some(code.as_str())).await?;
    refresh_catalog(&mut tx, "unit_grids", false).await?;
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
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT fid FROM layers.unit_grids WHERE code = $1 FOR UPDATE")
            .bind(code.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let (fid,) = row.ok_or_else(|| ApiError::NotFound(format!("no unit grid {code}")))?;
    if let Some(r) = body.get("responsible") {
        sqlx::query("UPDATE layers.unit_grids SET responsible = $2 WHERE fid = $1")
            .bind(fid)
            .bind(r.as_str())
            .execute(&mut *tx)
            .await?;
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
        sqlx::query("UPDATE layers.unit_grids SET valid_to = $2 WHERE fid = $1")
            .bind(fid)
            .bind(d)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(g) = body.get("geometry") {
        let geom = geometry_text(g)?;
        // keep the old outline in the history
        sqlx::query(
            "INSERT INTO unit_grid_history (code, community_code, geom, area_m2, valid_from, valid_to, responsible) \
             SELECT code, community_code, geom, area_m2, valid_from, current_date, responsible FROM layers.unit_grids WHERE fid = $1",
        )
        .bind(fid)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE layers.unit_grids SET geom = g.geom, area_m2 = ST_Area(g.geom::geography), valid_from = current_date \
             FROM (SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON($2), 4326)), 3)) AS geom) g \
             WHERE fid = $1",
        )
        .bind(fid)
        .bind(&geom)
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, "the geometry"))?;
    }
    notify(&mut tx, "unit_grids", &[fid]).await?;
    assign_components(&mut tx, Some(code.as_str())).await?;
    if body.contains_key("geometry") {
        assign_components(&mut tx, None).await?;
        refresh_catalog(&mut tx, "unit_grids", false).await?;
    }
    tx.commit().await?;
    Ok(Json(grid_json(&state, code.as_str()).await?))
}

// ----------------------------------------------------------------------------- components

async fn list_components(
    State(state): State<AppState>,
    q: QueryResult<PlaceQuery>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds()?;
    let mut qb = QueryBuilder::new(format!(
        "SELECT {} || jsonb_build_object('lon', ST_X(t.geom), 'lat', ST_Y(t.geom)) FROM layers.components t WHERE true",
        row_json(false)
    ));
    if let Some(c) = q.category.as_deref().filter(|s| !s.is_empty()) {
        let code: CategoryCode = c.parse().map_err(bad)?;
        qb.push(" AND t.category_code = ")
            .push_bind(code.to_string());
    }
    if let Some(g) = q.grid.as_deref().filter(|s| !s.is_empty()) {
        let code: GridCode = g.parse().map_err(bad)?;
        qb.push(" AND t.grid_code = ").push_bind(code.to_string());
    }
    if let Some(s) = q.state.as_deref().filter(|s| !s.is_empty()) {
        qb.push(" AND t.state = ").push_bind(s.to_string());
    }
    if let Some(d) = q.department.as_deref().filter(|s| !s.is_empty()) {
        qb.push(" AND t.maintaining_department = ")
            .push_bind(d.to_string());
    }
    push_bbox(&mut qb, q.bbox.as_deref())?;
    let rows = fetch_page(&state.pool, qb, "t.component_id", limit, offset).await?;
    Ok(Json(
        json!({"components": rows, "limit": limit, "offset": offset}),
    ))
}

async fn component_json(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let id: ComponentId = id.parse().map_err(bad)?;
    let sql = format!(
        "SELECT {} || jsonb_build_object('lon', ST_X(t.geom), 'lat', ST_Y(t.geom)) FROM layers.components t WHERE component_id = $1",
        row_json(false)
    );
    fetch_json(&state.pool, &sql, id.as_str(), || {
        format!("no component {id}")
    })
    .await
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
            let admin: Option<(String,)> = sqlx::query_as(
                "SELECT admin_code FROM layers.unit_grids WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) LIMIT 1",
            )
            .bind(lon)
            .bind(lat)
            .fetch_optional(&mut *tx)
            .await?;
            let (admin,) = admin.ok_or_else(|| {
                ApiError::Unprocessable(
                    "the point is outside every unit grid; give component_id explicitly".into(),
                )
            })?;
            let prefix = format!("{admin}{}", category.plain());
            let (serial,): (i64,) = sqlx::query_as(
                "SELECT coalesce(max(right(component_id, 6)::bigint), 0) + 1 FROM layers.components WHERE left(component_id, 10) = $1",
            )
            .bind(&prefix)
            .fetch_one(&mut *tx)
            .await?;
            if serial > 999_999 {
                return Err(ApiError::Conflict(format!(
                    "no free serial left for {prefix}"
                )));
            }
            format!("{prefix}{serial:06}")
        }
    };
    let (fid,): (i64,) = sqlx::query_as(
        "INSERT INTO layers.components (geom, component_id, category_code, name, state, supervising_department, \
             owning_department, maintaining_department, grid_code, survey_date, change_date, source, note) \
         VALUES (ST_SetSRID(ST_MakePoint($1, $2), 4326), $3, $4, $5, $6, $7, $8, $9, \
             (SELECT code FROM layers.unit_grids WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1), \
             coalesce($10, current_date), current_date, $11, $12) RETURNING fid",
    )
    .bind(lon)
    .bind(lat)
    .bind(&id)
    .bind(category.to_string())
    .bind(&b.name)
    .bind(&st)
    .bind(&b.supervising_department)
    .bind(&b.owning_department)
    .bind(&b.maintaining_department)
    .bind(b.survey_date)
    .bind(b.source.unwrap_or_else(|| "api".into()))
    .bind(&b.note)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, &format!("component {id}")))?;
    notify(&mut tx, "components", &[fid]).await?;
    refresh_catalog(&mut tx, "components", false).await?;
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
    let text_cols = [
        "name",
        "state",
        "supervising_department",
        "owning_department",
        "maintaining_department",
        "source",
        "note",
    ];
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new("UPDATE layers.components SET change_date = current_date");
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
            qb.push(format!(", {k} = ")).push_bind(s);
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
    if moved {
        let lon = body
            .get("lon")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("lon and lat must both be numbers"))?;
        let lat = body
            .get("lat")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("lon and lat must both be numbers"))?;
        let (lon, lat) = super::locate::to_wgs84(lon, lat, None)?;
        qb.push(", geom = ST_SetSRID(ST_MakePoint(")
            .push_bind(lon)
            .push(", ")
            .push_bind(lat)
            .push("), 4326)");
    }
    qb.push(" WHERE component_id = ")
        .push_bind(id.to_string())
        .push(" RETURNING fid");
    let mut tx = state.pool.begin().await?;
    let row: Option<(i64,)> = qb
        .build_query_as()
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, "the component"))?;
    let (fid,) = row.ok_or_else(|| ApiError::NotFound(format!("no component {id}")))?;
    if moved {
        sqlx::query(
            "UPDATE layers.components c SET grid_code = (SELECT g.code FROM layers.unit_grids g \
               WHERE ST_Intersects(g.geom, c.geom) ORDER BY g.fid LIMIT 1) WHERE fid = $1",
        )
        .bind(fid)
        .execute(&mut *tx)
        .await?;
    }
    notify(&mut tx, "components", &[fid]).await?;
    tx.commit().await?;
    Ok(Json(component_json(&state, id.as_str()).await?))
}
