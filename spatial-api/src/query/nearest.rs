//! `GET /api/nearest?layer=&lon=&lat=&k=&max_distance_m=[&crs=]`: the `k` nearest
//! features of a layer with their ground (WGS84 geodesic) distance in metres,
//! nearest first, from the layer's R-tree.
//!
//! `lon`/`lat` are the x/y (easting/northing) of the point in `crs` (default
//! CRS84; also EPSG:3857, EPSG:4513–4554, gcj02, bd09). Returned geometries are
//! in the same CRS, easting first (GeoJSON order).

use std::fmt::Write;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::geojson::{write_feature, write_str};
use crate::state::AppState;
use citygrid_geo::crs::Crs;
use citygrid_tiles::index::LayerIndex;

/// The most neighbours one request may ask for.
pub const MAX_K: usize = 100;
/// Neighbours returned when `k` is not given.
pub const DEFAULT_K: usize = 10;

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

fn number(params: &[(String, String)], name: &str) -> ApiResult<Option<f64>> {
    let mut found = None;
    for (k, v) in params {
        if k == name {
            if found.is_some() {
                return Err(bad(format!("{name} is given more than once")));
            }
            let n: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| bad(format!("{name} must be a finite number")))?;
            found = Some(n);
        }
    }
    Ok(found)
}

/// `GET /api/nearest`.
pub async fn nearest(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let mut layer_id = None;
    let mut crs = Crs::Crs84;
    for (k, v) in &params {
        match k.as_str() {
            "layer" => layer_id = Some(v.as_str()),
            "crs" => crs = Crs::parse(v).map_err(|e| bad(format!("crs: {e}")))?,
            "lon" | "lat" | "k" | "max_distance_m" | "key" => {}
            other => {
                return Err(bad(format!(
                    "unknown parameter {:?}: use layer, lon, lat, k, max_distance_m, crs",
                    other.chars().take(60).collect::<String>()
                )))
            }
        }
    }
    let id = layer_id.ok_or_else(|| bad("layer is required"))?;
    let (_, layer) = crate::extract::collection(&state, &principal, id)?;
    let x = number(&params, "lon")?.ok_or_else(|| bad("lon is required"))?;
    let y = number(&params, "lat")?.ok_or_else(|| bad("lat is required"))?;
    let k = match number(&params, "k")? {
        None => DEFAULT_K,
        Some(k) if k >= 1.0 && k <= MAX_K as f64 && k.fract() == 0.0 => k as usize,
        Some(_) => return Err(bad(format!("k must be an integer from 1 to {MAX_K}"))),
    };
    let max_m = match number(&params, "max_distance_m")? {
        None => f64::INFINITY,
        Some(d) if d >= 0.0 => d,
        Some(_) => return Err(bad("max_distance_m must not be negative")),
    };
    let (lon, lat) = crs.to_lonlat(x, y).map_err(|e| bad(format!("crs: {e}")))?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(bad(
            "the point is outside ±180° longitude / ±90° latitude (is the crs right?)",
        ));
    }
    let mut out = String::with_capacity(256 + k * 256);
    {
        let index = layer.index.read()?;
        write_nearest(&mut out, &index, id, lon, lat, k, max_m, crs)?;
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// Writes the answer of `/api/nearest` for a WGS84 point (already checked to be
/// within ±180°/±90°) into `out`: the `k` nearest features of `index` within
/// `max_m` ground metres, as JSON with geometries in `crs`.
#[allow(clippy::too_many_arguments)]
pub fn write_nearest(
    out: &mut String,
    index: &LayerIndex,
    id: &str,
    lon: f64,
    lat: f64,
    k: usize,
    max_m: f64,
    crs: Crs,
) -> ApiResult<()> {
    let found = index
        .nearest_lonlat(lon, lat, k, max_m)
        .map_err(|e| bad(e.to_string()))?;
    out.push_str(r#"{"layer":"#);
    write_str(out, id);
    let _ = write!(
        out,
        r#","lon":{lon},"lat":{lat},"k":{k},"count":{},"features":["#,
        found.len()
    );
    let mut extra = String::with_capacity(32);
    for (i, n) in found.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        extra.clear();
        extra.push_str(r#","distance_m":"#);
        let _ = write!(extra, "{}", (n.distance_m * 1000.0).round() / 1000.0);
        write_feature(out, index.schema(), n.feature, crs, false, &extra)
            .map_err(|e| bad(format!("crs: {e}")))?;
    }
    out.push_str("]}");
    Ok(())
}
