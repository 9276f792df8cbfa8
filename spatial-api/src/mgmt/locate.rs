//! Where a point is: its unit grid, community, street and admin division — from the
//! in-memory layers (point in polygon on the R-tree), with PostGIS as the fallback
//! when a layer is not loaded yet or has not caught up with a change.

use axum::extract::{Query, State};
use axum::Json;
use citygrid_geo::chinacrs;
use citygrid_geo::tms::Bbox;
use citygrid_grid_mgmt::codes::{GridCode, Place};
use citygrid_tiles::schema::PropRef;
use geo::{Intersects, Point};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::error::{ApiError, ApiResult};
use crate::layers::LayerStore;
use crate::state::AppState;

/// The layers a point is located in, most specific first.
pub const PLACE_LAYERS: [&str; 4] = ["unit_grids", "communities", "streets", "admin_divisions"];

/// The places found at a point (attribute objects of the features).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Located {
    /// The unit grid.
    pub grid: Option<Map<String, Value>>,
    /// The community.
    pub community: Option<Map<String, Value>>,
    /// The street.
    pub street: Option<Map<String, Value>>,
    /// The admin division.
    pub admin: Option<Map<String, Value>>,
}

fn text(m: &Option<Map<String, Value>>, key: &str) -> Option<String> {
    m.as_ref()?.get(key)?.as_str().map(str::to_owned)
}

impl Located {
    /// The grid code, when the point is in a grid.
    pub fn grid_code(&self) -> Option<GridCode> {
        text(&self.grid, "code")?.parse().ok()
    }

    /// The place as grid-mgmt sees it (from the grid, else from what was found).
    pub fn place(&self) -> Place {
        if let Some(g) = self.grid_code() {
            return Place::from_grid(g);
        }
        let mut p = Place::default();
        let community = text(&self.community, "code");
        let street =
            text(&self.street, "code").or_else(|| community.as_ref().map(|c| c[..9].to_string()));
        let admin =
            text(&self.admin, "code").or_else(|| street.as_ref().map(|s| s[..6].to_string()));
        p.admin = admin.and_then(|a| a.parse().ok());
        p.street = street.and_then(|s| s.get(6..9)?.parse().ok());
        p.community = community.and_then(|c| c.get(9..12)?.parse().ok());
        p
    }

    /// The name of the street (for the case's address).
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = [
            text(&self.admin, "name"),
            text(&self.street, "name"),
            text(&self.community, "name"),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

fn json_of(p: PropRef<'_>) -> Value {
    match p {
        PropRef::Null => Value::Null,
        PropRef::String(s) => Value::String(s.to_string()),
        PropRef::Int(i) => Value::from(i),
        PropRef::Double(d) => serde_json::Number::from_f64(d)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        PropRef::Bool(b) => Value::Bool(b),
    }
}

/// `None`: the layer is not in memory; `Some(None)`: nothing there.
fn from_memory(
    store: &LayerStore,
    layer: &str,
    lon: f64,
    lat: f64,
) -> Option<Option<Map<String, Value>>> {
    let loaded = store.get(layer)?;
    let index = loaded.index.read().ok()?;
    let point = Point::new(lon, lat);
    let bbox = Bbox::new(lon, lat, lon, lat);
    // The lowest fid among the features that hold the point (boundary included:
    // a point on a shared edge belongs to the first grid, as in PostGIS ST_Intersects
    // ordered by fid).
    let hit = index
        .query_bbox_lonlat(&bbox)
        .into_iter()
        .filter(|f| f.geom_lonlat().intersects(&point))
        .min_by_key(|f| f.id());
    let schema = index.schema();
    Some(hit.map(|f| {
        schema
            .fields
            .iter()
            .zip(f.props())
            .map(|(field, v)| (field.name.clone(), json_of(v)))
            .collect()
    }))
}

/// Locates a WGS84 point. `store` is the service's layer store (None: PostGIS only).
pub async fn locate(
    store: Option<&LayerStore>,
    pool: &PgPool,
    lon: f64,
    lat: f64,
) -> Result<Located, ApiError> {
    let mut found: Vec<Option<Map<String, Value>>> = Vec::with_capacity(4);
    for layer in PLACE_LAYERS {
        let hit = match store.and_then(|s| from_memory(s, layer, lon, lat)) {
            Some(Some(m)) => Some(m),
            _ => citygrid_store::places::feature_at(pool, layer, lon, lat).await?,
        };
        found.push(hit);
    }
    let mut it = found.into_iter();
    Ok(Located {
        grid: it.next().flatten(),
        community: it.next().flatten(),
        street: it.next().flatten(),
        admin: it.next().flatten(),
    })
}

/// Checks a lon/lat pair and converts it from `crs` to WGS84.
pub fn to_wgs84(lon: f64, lat: f64, crs: Option<&str>) -> Result<(f64, f64), ApiError> {
    if !lon.is_finite() || !lat.is_finite() || lon.abs() > 180.0 || lat.abs() > 90.0 {
        return Err(ApiError::BadRequest(format!(
            "lon must be within ±180 and lat within ±90 degrees, got ({lon}, {lat})"
        )));
    }
    match crs.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("epsg:4326") | Some("epsg:4490") | Some("wgs84")
        | Some("cgcs2000") => Ok((lon, lat)),
        Some("gcj02") | Some("gcj-02") => Ok(chinacrs::gcj02_to_wgs84(lon, lat)),
        Some("bd09") | Some("bd-09") => Ok(chinacrs::bd09_to_wgs84(lon, lat)),
        Some(other) => Err(ApiError::BadRequest(format!(
            "crs {other:?} is not supported here: use EPSG:4326, EPSG:4490, gcj02 or bd09"
        ))),
    }
}

/// Query of `GET /api/locate`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocateQuery {
    /// Longitude.
    lon: f64,
    /// Latitude.
    lat: f64,
    /// The CRS of lon/lat: `EPSG:4326` (default), `EPSG:4490`, `gcj02` or `bd09`.
    crs: Option<String>,
}

/// `GET /api/locate?lon=&lat=[&crs=]`.
pub async fn locate_handler(
    State(state): State<AppState>,
    q: Result<Query<LocateQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) =
        q.map_err(|e| ApiError::BadRequest(format!("lon and lat are required numbers: {e}")))?;
    let (lon, lat) = to_wgs84(q.lon, q.lat, q.crs.as_deref())?;
    let located = locate(Some(&state.layers), &state.pool, lon, lat).await?;
    Ok(Json(serde_json::json!({
        "lon": lon,
        "lat": lat,
        "grid": located.grid,
        "community": located.community,
        "street": located.street,
        "admin_division": located.admin,
    })))
}
