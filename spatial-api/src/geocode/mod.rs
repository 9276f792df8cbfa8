//! Geocoding (issue 21): the in-memory address index ([`Geocoder`], on
//! `citygrid_geocode::GeocodeIndex`) and its routes, `GET /api/geocode?q=&limit=` and
//! `GET /api/reverse?lon=&lat=[&crs=][&max_distance=]`.
//!
//! The index holds the standard addresses (table `addresses`), the named lines of the
//! road layers (`<prefix>_roads` with a `name` column, or the layers of
//! `geocode_road_layers`) and the areas of grid management (unit grids, communities,
//! streets, administrative divisions). It is loaded when the service starts and kept
//! current by one listener: an address import announces its source on
//! `citygrid_addresses` (the source's rows are swapped in the index), a change of a
//! road layer or a grid-management layer on `citygrid_layers` (roads or areas
//! reloaded, after a short quiet period). Every part is bounded ([`MAX_ADDRESSES`],
//! [`MAX_ROADS`], [`MAX_AREAS`]); a query is bounded in length and in answers.

pub mod index;

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::Method;
use axum::routing::get;
use axum::Json;
use citygrid_geo::crs::Crs;
use citygrid_geocode::{
    AreaRef, Candidate, ForwardOptions, ForwardResult, MatchLevel, ParsedAddress, CONFIDENT_SCORE,
};
use serde::{Deserialize, Serialize};

use crate::auth::Access;
use crate::error::{ApiError, ApiResult};
use crate::router::RouteTable;
pub use index::{follow_changes, Geocoder};

/// The largest reverse search radius, metres.
pub const MAX_REVERSE_M: f64 = 5_000.0;
/// Reverse search radius when `max_distance` is not given, metres.
pub const DEFAULT_REVERSE_M: f64 = 250.0;
/// The most candidates of one answer.
pub const MAX_LIMIT: usize = 20;
/// Candidates returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 5;
/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The geocoding routes: public reads like `/api/search` (the map's layers).
pub fn routes(t: RouteTable) -> RouteTable {
    t.add(Method::GET, "/api/geocode", Access::Layers, get(geocode))
        .add(Method::GET, "/api/reverse", Access::Layers, get(reverse))
}

/// The query of `GET /api/geocode`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GeocodeQuery {
    /// The address: `湖北省武汉市江岸区沿江大道188号`, `沿江大道188号`, `Kaivokatu 2, Helsinki`
    /// (1–200 characters).
    pub q: Option<String>,
    /// The most candidates (1–20, default 5).
    pub limit: Option<String>,
}

/// An area holding a candidate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AreaOut {
    /// `unit_grid`, `community`, `street` or `division`.
    pub kind: String,
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
}

/// One candidate place.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CandidateOut {
    /// 0–1, higher is better; at or above `confident_score` the match is confident.
    pub score: f32,
    /// What matched: `house`, `interpolated`, `road`, `community` or `division`.
    pub level: String,
    /// The address as the index writes it.
    pub label: String,
    /// `[lon, lat]` (WGS 84).
    pub point: [f64; 2],
    /// The address row, when a house number matched.
    pub address_id: Option<i64>,
    /// The road, when a road matched.
    pub road_id: Option<i64>,
    /// GB/T 2260 county code.
    pub division_code: Option<String>,
    /// The unit grid, community, street and division at the point.
    pub areas: Vec<AreaOut>,
}

fn area_out(a: &AreaRef) -> AreaOut {
    AreaOut {
        kind: enum_name(&a.kind),
        code: a.code.clone(),
        name: a.name.clone(),
    }
}

/// The serde name of a unit enum (`unit_grid`, `house`…).
fn enum_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A candidate as the API writes it.
pub fn candidate_out(c: &Candidate) -> CandidateOut {
    CandidateOut {
        score: c.score,
        level: enum_name(&c.level),
        label: c.label.clone(),
        point: [c.lon, c.lat],
        address_id: c.address_id,
        road_id: c.road_id,
        division_code: c.division_code.clone(),
        areas: c.areas.iter().map(area_out).collect(),
    }
}

/// The answer of `GET /api/geocode`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeocodeAnswer {
    /// The query as given.
    pub q: String,
    /// How the query was read (division code, road, number, building, unit…).
    #[schema(value_type = Object)]
    pub parsed: ParsedAddress,
    /// Best first.
    pub candidates: Vec<CandidateOut>,
    /// The two best are equally good and far apart: ask which one.
    pub ambiguous: bool,
    /// The best candidate is confident (score ≥ `confident_score`) and not ambiguous.
    pub confident: bool,
    /// The score from which a candidate is confident.
    pub confident_score: f32,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Checks `q` (1–[`MAX_QUERY_CHARS`] characters after trimming).
pub fn check_query(q: Option<&str>) -> ApiResult<&str> {
    let q = q.map(str::trim).unwrap_or_default();
    if q.is_empty() {
        return Err(bad("q is required: the address to look for"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(bad(format!(
            "q is too long: at most {MAX_QUERY_CHARS} characters"
        )));
    }
    if q.chars().any(|c| c.is_control()) {
        return Err(bad("q must not contain control characters"));
    }
    // the query string's decoder replaces bytes that are not UTF-8 with U+FFFD
    if q.contains('\u{FFFD}') {
        return Err(bad("q must be UTF-8 text (percent-encode its UTF-8 bytes)"));
    }
    Ok(q)
}

/// Whether `r`'s best candidate is one confident place.
pub fn is_confident(r: &ForwardResult) -> bool {
    !r.ambiguous
        && r.candidates
            .first()
            .is_some_and(|c| c.score >= CONFIDENT_SCORE && c.level != MatchLevel::Division)
}

/// `GET /api/geocode`.
pub async fn geocode(
    State(geocoder): State<Arc<Geocoder>>,
    query: Result<Query<GeocodeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<GeocodeAnswer>> {
    let Query(query) = query.map_err(|e| bad(format!("bad query: {}", e.body_text())))?;
    let q = check_query(query.q.as_deref())?.to_string();
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(bad(format!(
                    "limit must be an integer from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    let result = geocoder.forward(&q, &ForwardOptions { limit, near: None })?;
    let confident = is_confident(&result);
    Ok(Json(GeocodeAnswer {
        q,
        candidates: result
            .candidates
            .iter()
            .take(limit)
            .map(candidate_out)
            .collect(),
        parsed: result.parsed,
        ambiguous: result.ambiguous,
        confident,
        confident_score: CONFIDENT_SCORE,
    }))
}

/// The query of `GET /api/reverse`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReverseQuery {
    /// Longitude, or easting in `crs`.
    pub lon: Option<String>,
    /// Latitude, or northing in `crs`.
    pub lat: Option<String>,
    /// The CRS of `lon`/`lat`: CRS84 (default), EPSG:4326, EPSG:4490, EPSG:3857,
    /// EPSG:4513–4554 (CGCS2000 Gauss-Krüger), gcj02, bd09.
    pub crs: Option<String>,
    /// Search radius in metres (0–5000, default 250).
    pub max_distance: Option<String>,
}

/// The nearest address.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NearAddress {
    /// The address.
    #[serde(flatten)]
    pub candidate: CandidateOut,
    /// Metres from the point.
    pub distance_m: f64,
}

/// The nearest road.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NearRoad {
    /// Its name.
    pub name: String,
    /// Its id.
    pub road_id: i64,
    /// Metres from the point.
    pub distance_m: f64,
}

/// The answer of `GET /api/reverse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReverseAnswer {
    /// The point asked about, `[lon, lat]` WGS 84.
    pub point: [f64; 2],
    /// The nearest address within the radius.
    pub address: Option<NearAddress>,
    /// The nearest named road within the radius.
    pub road: Option<NearRoad>,
    /// The unit grid, community, street and division holding the point.
    pub areas: Vec<AreaOut>,
    /// "沿江大道188号" (the address) or the road's name, for "near …"; `null` when
    /// nothing is within the radius.
    pub label: Option<String>,
}

fn number(v: Option<&str>, name: &str) -> ApiResult<Option<f64>> {
    match v {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| bad(format!("{name} must be a finite number"))),
    }
}

/// `GET /api/reverse`.
pub async fn reverse(
    State(geocoder): State<Arc<Geocoder>>,
    query: Result<Query<ReverseQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ReverseAnswer>> {
    let Query(query) = query.map_err(|e| bad(format!("bad query: {}", e.body_text())))?;
    let crs = match query.crs.as_deref() {
        None => Crs::Crs84,
        Some(c) => Crs::parse(c).map_err(|e| bad(format!("crs: {e}")))?,
    };
    let x = number(query.lon.as_deref(), "lon")?.ok_or_else(|| bad("lon is required"))?;
    let y = number(query.lat.as_deref(), "lat")?.ok_or_else(|| bad("lat is required"))?;
    let max_m = match number(query.max_distance.as_deref(), "max_distance")? {
        None => DEFAULT_REVERSE_M,
        Some(d) if (0.0..=MAX_REVERSE_M).contains(&d) => d,
        Some(_) => {
            return Err(bad(format!(
                "max_distance must be from 0 to {MAX_REVERSE_M} metres"
            )))
        }
    };
    let (lon, lat) = crs.to_lonlat(x, y).map_err(|e| bad(format!("crs: {e}")))?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(bad(
            "the point is outside ±180° longitude / ±90° latitude (is the crs right?)",
        ));
    }
    let hit = geocoder.reverse(lon, lat, max_m)?;
    let address = hit.address.map(|(c, d)| NearAddress {
        candidate: candidate_out(&c),
        distance_m: d,
    });
    let road = hit.road.map(|(name, road_id, distance_m)| NearRoad {
        name,
        road_id,
        distance_m,
    });
    let label = address
        .as_ref()
        .map(|a| a.candidate.label.clone())
        .or_else(|| road.as_ref().map(|r| r.name.clone()));
    Ok(Json(ReverseAnswer {
        point: [lon, lat],
        address,
        road,
        areas: hit.areas.iter().map(area_out).collect(),
        label,
    }))
}

/// Candidates listed in the message of an ambiguous address.
const LISTED_CANDIDATES: usize = 5;

/// The one place `address` stands for, `(lon, lat)`, or why there is none as a
/// message for the caller: nothing found, or several equally good places (listed).
pub fn place_address(geocoder: &Geocoder, address: &str) -> Result<(f64, f64), String> {
    let q = check_query(Some(address)).map_err(|e| format!("address_string: {e}"))?;
    if !geocoder.is_loaded() {
        return Err("the address index is loading; retry in a moment or send lat and long".into());
    }
    let result = geocoder
        .forward(
            q,
            &ForwardOptions {
                limit: LISTED_CANDIDATES,
                near: None,
            },
        )
        .map_err(|e| e.to_string())?;
    if is_confident(&result) {
        if let Some(c) = result.candidates.first() {
            return Ok((c.lon, c.lat));
        }
    }
    let listed: Vec<String> = result
        .candidates
        .iter()
        .filter(|c| c.score >= CONFIDENT_SCORE || result.ambiguous)
        .take(LISTED_CANDIDATES)
        .map(|c| format!("{} ({:.6},{:.6})", c.label, c.lon, c.lat))
        .collect();
    if result.ambiguous && listed.len() > 1 {
        Err(format!(
            "address_string is ambiguous: {}; send lat and long or a fuller address",
            listed.join("; ")
        ))
    } else {
        Err(format!(
            "address not found: {q:?}; send lat and long or another address"
        ))
    }
}

/// Radius of the "near …" address stored on a case reported without one, metres.
pub const NEAR_M: f64 = 150.0;

/// "near 沿江大道188号": what a case reported at `(lon, lat)` without an address
/// stores as its address; `None` when nothing is within [`NEAR_M`].
pub fn near_label(geocoder: &Geocoder, lon: f64, lat: f64) -> Option<String> {
    geocoder
        .describe(lon, lat, NEAR_M)
        .map(|label| format!("near {label}"))
}
