//! `POST /api/query`: which features of some layers intersect (or lie within) a
//! GeoJSON geometry, with counts, lengths and areas per layer.
//!
//! ```json
//! {"geometry": {"type": "Polygon", "coordinates": [...]}, "layers": ["roads", "parks"],
//!  "op": "intersects", "crs": "EPSG:4547", "limit": 100, "include_features": true}
//! ```
//!
//! Measures (what planners ask: "how much road / park is in this area?"): when the
//! query geometry is polygonal, `length_m` and `area_m2` measure **the part of each
//! matching feature inside the query geometry** (the planar intersection in
//! lon/lat, then geodesic length/area on the WGS84 ellipsoid — what PostGIS gives
//! for `ST_Length/ST_Area(ST_Intersection(geom, q)::geography)`); for a point or
//! line query geometry they measure the whole matching features. Coordinates of
//! the body are easting/longitude first in `crs` (default CRS84), like all GeoJSON.
//!
//! Bounds: the body is at most the configured maximum (413 beyond), the geometry
//! at most [`MAX_VERTICES`] vertices (413), at most [`MAX_LAYERS`] layers and
//! [`MAX_FEATURES`] features listed per layer.

use std::fmt::Write;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use citygrid_geo::tms::Bbox;
use citygrid_tiles::index::FeatureRef;
use geo::{BooleanOps, BoundingRect, Geometry, Intersects, MultiLineString, MultiPolygon, Relate};
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::geojson::{read_geometry, write_feature, GeoJsonError};
use crate::layers::LoadedLayer;
use crate::state::AppState;
use citygrid_geo::crs::Crs;
use citygrid_geo::measure::ground_measures;

/// The most vertices of a query geometry.
pub const MAX_VERTICES: usize = 100_000;
/// The most layers in one query.
pub const MAX_LAYERS: usize = 32;
/// The most features listed per layer (`limit`).
pub const MAX_FEATURES: usize = 10_000;
/// Features listed per layer when `limit` is not given.
pub const DEFAULT_FEATURES: usize = 100;

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

/// The spatial relation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Features that intersect the geometry.
    Intersects,
    /// Features entirely within the geometry.
    Within,
}

/// A checked request.
struct Request {
    geometry: Geometry<f64>,
    layers: Vec<String>,
    op: Op,
    crs: Crs,
    limit: usize,
    include_features: bool,
}

fn parse(body: &[u8]) -> ApiResult<Request> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("the body must be a JSON object"))?;
    for k in obj.keys() {
        if ![
            "geometry",
            "layers",
            "op",
            "crs",
            "limit",
            "include_features",
        ]
        .contains(&k.as_str())
        {
            return Err(bad(format!(
                "unknown field {:?}: use geometry, layers, op, crs, limit, include_features",
                k.chars().take(60).collect::<String>()
            )));
        }
    }
    let crs = match obj.get("crs") {
        None | Some(Value::Null) => Crs::Crs84,
        Some(Value::String(s)) => Crs::parse(s).map_err(|e| bad(format!("crs: {e}")))?,
        Some(_) => return Err(bad("crs must be a string such as \"EPSG:4547\"")),
    };
    let mut geometry = match obj.get("geometry") {
        Some(g) => read_geometry(g, MAX_VERTICES).map_err(|e| match e {
            GeoJsonError::TooLarge(_) => ApiError::TooLarge(e.to_string()),
            e => bad(e.to_string()),
        })?,
        None => return Err(bad("geometry is required (GeoJSON)")),
    };
    crs.geometry_to_lonlat(&mut geometry)
        .map_err(|e| bad(format!("geometry: {e}")))?;
    match geometry.bounding_rect() {
        Some(r)
            if r.min().y >= -90.0
                && r.max().y <= 90.0
                && r.min().x >= -180.0
                && r.max().x <= 180.0
                && [r.min().x, r.min().y, r.max().x, r.max().y]
                    .iter()
                    .all(|v| v.is_finite()) => {}
        Some(_) => {
            return Err(bad(
                "geometry: coordinates outside ±180° longitude / ±90° latitude (is the crs right?)",
            ))
        }
        None => return Err(bad("geometry is empty")),
    }
    let layers: Vec<String> = match obj.get("layers") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_LAYERS => a
            .iter()
            .map(|l| {
                l.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("layers must be strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(bad(format!(
                "layers must be a list of 1 to {MAX_LAYERS} layer ids"
            )))
        }
    };
    let op = match obj.get("op").and_then(Value::as_str) {
        None if obj.get("op").is_none() => Op::Intersects,
        Some("intersects") => Op::Intersects,
        Some("within") => Op::Within,
        _ => return Err(bad("op must be \"intersects\" or \"within\"")),
    };
    let limit = match obj.get("limit") {
        None | Some(Value::Null) => DEFAULT_FEATURES,
        Some(v) => match v.as_u64() {
            Some(n) => (n as usize).min(MAX_FEATURES),
            None => return Err(bad("limit must be a non-negative integer")),
        },
    };
    let include_features = match obj.get("include_features") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("include_features must be true or false")),
    };
    Ok(Request {
        geometry,
        layers,
        op,
        crs,
        limit,
        include_features,
    })
}

fn polygonal(g: &Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p.clone()])),
        Geometry::MultiPolygon(m) => Some(m.clone()),
        Geometry::Rect(r) => Some(MultiPolygon(vec![r.to_polygon()])),
        _ => None,
    }
}

/// The measures of `f` counted for the query: of its part inside `clip` when
/// the query is polygonal, else of the whole feature.
fn measure(f: FeatureRef<'_>, clip: Option<&MultiPolygon<f64>>, op: Op) -> (f64, f64) {
    let Some(clip) = clip else {
        return ground_measures(&f.geom_lonlat());
    };
    if op == Op::Within {
        return ground_measures(&f.geom_lonlat());
    }
    let g = &*f.geom_lonlat();
    let result = std::panic::catch_unwind(|| match g {
        Geometry::Polygon(_)
        | Geometry::MultiPolygon(_)
        | Geometry::Rect(_)
        | Geometry::Triangle(_) => {
            let mp = match g {
                Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
                Geometry::MultiPolygon(m) => m.clone(),
                Geometry::Rect(r) => MultiPolygon(vec![r.to_polygon()]),
                Geometry::Triangle(t) => MultiPolygon(vec![t.to_polygon()]),
                _ => MultiPolygon(vec![]),
            };
            ground_measures(&Geometry::MultiPolygon(mp.intersection(clip)))
        }
        Geometry::LineString(l) => ground_measures(&Geometry::MultiLineString(
            clip.clip(&MultiLineString(vec![l.clone()]), false),
        )),
        Geometry::MultiLineString(m) => {
            ground_measures(&Geometry::MultiLineString(clip.clip(m, false)))
        }
        Geometry::Line(l) => ground_measures(&Geometry::MultiLineString(clip.clip(
            &MultiLineString(vec![geo::LineString::from(vec![l.start, l.end])]),
            false,
        ))),
        Geometry::GeometryCollection(_) | Geometry::Point(_) | Geometry::MultiPoint(_) => {
            ground_measures(g)
        }
    });
    result.unwrap_or_else(|_| {
        tracing::warn!(
            feature = f.id(),
            "overlay failed; counting the whole feature"
        );
        ground_measures(g)
    })
}

struct LayerResult {
    count: usize,
    length_m: f64,
    area_m2: f64,
    features: String,
    listed: usize,
}

fn run_layer(layer: &LoadedLayer, req: &Request) -> Result<LayerResult, String> {
    let index = layer
        .index
        .read()
        .map_err(|_| "layer index lock poisoned".to_string())?;
    let r = req
        .geometry
        .bounding_rect()
        .ok_or_else(|| "empty geometry".to_string())?;
    let candidates =
        index.query_bbox_lonlat(&Bbox::new(r.min().x, r.min().y, r.max().x, r.max().y));
    let clip = polygonal(&req.geometry);
    let mut matched: Vec<FeatureRef<'_>> = candidates
        .into_iter()
        .filter(|f| match req.op {
            Op::Intersects => f.geom_lonlat().intersects(&req.geometry),
            Op::Within => {
                let g = f.geom_lonlat();
                g.intersects(&req.geometry) && g.relate(&req.geometry).is_within()
            }
        })
        .collect();
    matched.sort_unstable_by_key(|f| f.id());
    let (mut length_m, mut area_m2) = (0.0, 0.0);
    for f in &matched {
        let (l, a) = measure(*f, clip.as_ref(), req.op);
        length_m += l;
        area_m2 += a;
    }
    let mut features = String::new();
    let mut listed = 0;
    if req.include_features {
        for f in matched.iter().take(req.limit) {
            if listed > 0 {
                features.push(',');
            }
            write_feature(&mut features, index.schema(), *f, req.crs, false, "")
                .map_err(|e| e.to_string())?;
            listed += 1;
        }
    }
    Ok(LayerResult {
        count: matched.len(),
        length_m,
        area_m2,
        features,
        listed,
    })
}

/// `POST /api/query`.
pub async fn query(
    State(state): State<AppState>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<Response> {
    let req = parse(&body)?;
    let mut layers: Vec<Arc<LoadedLayer>> = Vec::with_capacity(req.layers.len());
    for id in &req.layers {
        let (_, layer) = crate::extract::collection(&state, &principal, id)?;
        layers.push(layer);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        use rayon::prelude::*;
        let results: Vec<Result<LayerResult, String>> =
            layers.par_iter().map(|l| run_layer(l, &req)).collect();
        let mut out = String::from(r#"{"layers":["#);
        for (i, (layer, result)) in layers.iter().zip(results).enumerate() {
            let r = match result {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                r#"{{"layer":"{}","count":{},"length_m":{},"area_m2":{}"#,
                layer.meta.id,
                r.count,
                (r.length_m * 1000.0).round() / 1000.0,
                (r.area_m2 * 1000.0).round() / 1000.0
            );
            if req.include_features {
                let _ = write!(
                    out,
                    r#","truncated":{},"features":[{}]"#,
                    r.listed < r.count,
                    r.features
                );
            }
            out.push('}');
        }
        let _ = write!(
            out,
            r#"],"op":"{}","measures":"the part of each feature inside the query geometry (geodesic, WGS84)"}}"#,
            match req.op {
                Op::Intersects => "intersects",
                Op::Within => "within",
            }
        );
        let _ = tx.send(Ok(out));
    });
    let body = rx.await?.map_err(bad)?;
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked() {
        let ok = br#"{"geometry":{"type":"Point","coordinates":[24.9,60.2]},"layers":["a"]}"#;
        assert!(parse(ok).is_ok());
        for bad in [
            &br#"{"geometry":{"type":"Point","coordinates":[24.9,95]},"layers":["a"]}"#[..],
            br#"{"geometry":{"type":"Point","coordinates":[24.9,60]},"layers":[]}"#,
            br#"{"geometry":{"type":"Point","coordinates":[24.9,60]},"layers":["a"],"op":"drop"}"#,
            br#"{"geometry":{"type":"Point","coordinates":[24.9,60]},"layers":["a"],"sql":"x"}"#,
            br#"not json"#,
        ] {
            assert!(matches!(parse(bad), Err(ApiError::BadRequest(_))));
        }
        let many: Vec<[f64; 2]> = (0..MAX_VERTICES + 1)
            .map(|i| [i as f64 * 1e-6, 0.0])
            .collect();
        let big = serde_json::json!({"geometry": {"type": "LineString", "coordinates": many}, "layers": ["a"]});
        let bytes = serde_json::to_vec(&big).unwrap();
        assert!(matches!(parse(&bytes), Err(ApiError::TooLarge(_))));
    }
}
