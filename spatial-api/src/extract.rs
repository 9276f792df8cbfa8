//! Typed extractors for the openings many handlers share, so that each rule (and
//! each error message) is written once:
//!
//! | extractor | what it checks | refusal |
//! |---|---|---|
//! | [`JsonFormat`] | the `f` parameter asks for JSON (or is absent) | 400 |
//! | [`Collection`] | the `{id}` of the path is a vector layer the caller may read, loaded | 404, 403, 409 |
//! | [`Paging`] | `limit` (default [`DEFAULT_LIMIT`], clamped to [`MAX_LIMIT`]) and `offset` (at most [`MAX_OFFSET`]) | 400 |
//! | [`Bbox`] | `bbox` in `bbox-crs` (default CRS84), as a lon/lat geometry | 400 |
//!
//! Each has a plain function beside it for callers whose input is not in the
//! request's path or query ([`collection`] for a layer id of a body,
//! [`Paging::from_params`], [`Bbox::from_params`]), and [`base_url`] gives the
//! service's address as the client sees it.
//!
//! ```
//! use axum::routing::get;
//! use citygrid_spatial_api::error::ApiResult;
//! use citygrid_spatial_api::extract::{Collection, JsonFormat, Paging};
//! use citygrid_spatial_api::state::AppState;
//!
//! // `GET /ogc/collections/{id}/…`: the handler starts with the checked collection.
//! async fn handler(_: JsonFormat, c: Collection, paging: Paging) -> ApiResult<String> {
//!     Ok(format!("{}: {} items from {}", c.id, paging.limit, paging.offset))
//! }
//! let _route: axum::Router<AppState> =
//!     axum::Router::new().route("/ogc/collections/{id}/sample", get(handler));
//! ```

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Query, RawPathParams};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use citygrid_geo::crs::Crs;
use citygrid_tiles::LayerKind;
use geo::Geometry;

use crate::auth::Principal;
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::layers::LoadedLayer;
use crate::state::AppState;

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page; larger `limit`s are clamped to it.
pub const MAX_LIMIT: usize = 10_000;
/// The largest `offset` accepted.
pub const MAX_OFFSET: usize = 1_000_000_000;

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

/// The query parameters of a request, in order (a malformed query is refused as
/// axum's `Query` refuses it).
async fn query_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Vec<(String, String)>, Response> {
    Query::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map(|Query(params)| params)
        .map_err(IntoResponse::into_response)
}

/// The one value of parameter `name`; a second one is a 400.
fn single<'a>(params: &'a [(String, String)], name: &str) -> ApiResult<Option<&'a str>> {
    let mut found = None;
    for (k, v) in params {
        if k == name {
            if found.is_some() {
                return Err(bad(format!("parameter {name} is given more than once")));
            }
            found = Some(v.as_str());
        }
    }
    Ok(found)
}

/// The base URL of every link the service writes: the configured `public_url`
/// when there is one (the `Host` header is then never used), else the one the
/// client used (`Host`, when it looks like a host, else the bind address; and
/// `X-Forwarded-Proto: https` behind a proxy).
pub fn base_url(headers: &HeaderMap, state: &AppState) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| state.config.bind.clone());
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

/// Checks the `f` parameter: JSON (or GeoJSON) only.
pub fn check_format(params: &[(String, String)]) -> ApiResult<()> {
    for (k, v) in params {
        if k == "f" && !v.contains("json") {
            return Err(ApiError::BadRequest(format!(
                "format {:?} is not offered: use f=json (or f=html for the pages of the OGC API)",
                v.chars().take(40).collect::<String>()
            )));
        }
    }
    Ok(())
}

/// A request whose `f` parameter, if any, asks for JSON ([`check_format`]).
#[derive(Debug, Clone, Copy)]
pub struct JsonFormat;

impl<S: Send + Sync> FromRequestParts<S> for JsonFormat {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = query_params(parts, state).await?;
        check_format(&params).map_err(IntoResponse::into_response)?;
        Ok(JsonFormat)
    }
}

/// Checks a collection id's form (`[a-z0-9_]+`) before any lookup.
pub fn check_id(id: &str) -> ApiResult<()> {
    let ok = citygrid_db::is_identifier(id, 64);
    if ok {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no collection {:?}: collection ids are [a-z0-9_]+",
            id.chars().take(64).collect::<String>()
        )))
    }
}

/// A vector collection the caller may read, with its loaded index: 404 when there
/// is no such layer or the caller may not read it (the same answer, so that names
/// do not leak), 404 saying so for a raster layer it may read (tiles only, no
/// features), 409 while it loads.
pub fn collection(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> ApiResult<(LayerMeta, Arc<LoadedLayer>)> {
    check_id(id)?;
    let meta = state
        .catalog
        .get(id)
        .filter(|_| state.catalog.may_read(principal, id))
        .ok_or_else(|| {
            ApiError::NotFound(format!("no collection {id:?} (see /ogc/collections)"))
        })?;
    if meta.kind != LayerKind::Vector {
        // A raster layer the caller may read is a collection of map tiles only.
        return Err(ApiError::NotFound(format!(
            "collection {id:?} is a raster coverage (map tiles only): it has no features \
             or queryables; its tiles are at /ogc/collections/{id}/tiles"
        )));
    }
    if state.catalog.serves_from_database(id) {
        return Err(crate::tiles::database::needs_memory(id));
    }
    let layer = state.layers.get(id).ok_or_else(|| {
        ApiError::Conflict(format!("collection {id:?} is still loading; retry shortly"))
    })?;
    Ok((meta, layer))
}

/// The collection named by the `{id}` of the path ([`collection`]).
pub struct Collection {
    /// The collection (layer) id.
    pub id: String,
    /// Its catalogue entry.
    pub meta: LayerMeta,
    /// Its loaded index.
    pub layer: Arc<LoadedLayer>,
}

impl<S> FromRequestParts<S> for Collection
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let id = params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| {
                ApiError::Internal("the route has no {id} parameter".into()).into_response()
            })?;
        let principal = match Principal::from_request_parts(parts, state).await {
            Ok(p) => p,
            Err(never) => match never {},
        };
        let app = AppState::from_ref(state);
        let (meta, layer) =
            collection(&app, &principal, &id).map_err(IntoResponse::into_response)?;
        Ok(Collection { id, meta, layer })
    }
}

/// `limit` and `offset` of a paged listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Page size: [`DEFAULT_LIMIT`] when not given, at most [`MAX_LIMIT`].
    pub limit: usize,
    /// Items skipped: 0 when not given, at most [`MAX_OFFSET`].
    pub offset: usize,
}

impl Paging {
    /// The parameters these are read from.
    pub const PARAMS: [&'static str; 2] = ["limit", "offset"];

    /// Reads `limit` and `offset`: `limit` is a positive integer (larger values
    /// than [`MAX_LIMIT`] are clamped, as OGC API – Features Part 1 allows), `offset`
    /// an integer from 0 to [`MAX_OFFSET`]; each at most once.
    pub fn from_params(params: &[(String, String)]) -> ApiResult<Paging> {
        let limit = match single(params, "limit")? {
            None => DEFAULT_LIMIT,
            Some(v)
                if !v.is_empty()
                    && v.len() <= 1000
                    && v.bytes().all(|b| b.is_ascii_digit())
                    && v.trim_start_matches('0').len() > 19 =>
            {
                MAX_LIMIT
            }
            Some(v) => match v.trim().parse::<u64>() {
                Ok(0) | Err(_) => {
                    return Err(bad(format!(
                        "limit must be a positive integer (values above {MAX_LIMIT} are clamped)"
                    )))
                }
                Ok(n) => (n.min(MAX_LIMIT as u64)) as usize,
            },
        };
        let offset = match single(params, "offset")? {
            None => 0,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n <= MAX_OFFSET as u64 => n as usize,
                _ => {
                    return Err(bad(format!(
                        "offset must be an integer between 0 and {MAX_OFFSET}"
                    )))
                }
            },
        };
        Ok(Paging { limit, offset })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = query_params(parts, state).await?;
        Paging::from_params(&params).map_err(IntoResponse::into_response)
    }
}

/// Parses a CRS parameter; the message names the parameter.
pub fn crs_param(value: &str, name: &str) -> ApiResult<Crs> {
    Crs::parse(value).map_err(|e| bad(format!("{name}: {e}")))
}

/// The `bbox` of a request (with its `bbox-crs`) as a lon/lat geometry, `None`
/// when not given ([`bbox_geometry`] says what is accepted).
#[derive(Debug, Clone, Default)]
pub struct Bbox(pub Option<Geometry<f64>>);

impl Bbox {
    /// The parameters this is read from.
    pub const PARAMS: [&'static str; 2] = ["bbox", "bbox-crs"];

    /// Reads `bbox-crs` (default CRS84) and `bbox`, each at most once.
    pub fn from_params(params: &[(String, String)]) -> ApiResult<Bbox> {
        let crs = single(params, "bbox-crs")?
            .map(|c| crs_param(c, "bbox-crs"))
            .transpose()?
            .unwrap_or(Crs::Crs84);
        match single(params, "bbox")? {
            Some(text) => Ok(Bbox(Some(bbox_geometry(text, crs)?))),
            None => Ok(Bbox(None)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bbox {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = query_params(parts, state).await?;
        Bbox::from_params(&params).map_err(IntoResponse::into_response)
    }
}

/// The lon/lat geometry of a `bbox` parameter given in `crs` (axis order of `crs`),
/// by the one rule of [`citygrid_geo::bbox`]: 4 (or 6) finite numbers; a lon/lat box
/// with `minlon > maxlon` crosses the antimeridian; boxes in projected or shifted
/// CRSs are densified, then transformed. The refusal is a 400 with the rule's message.
pub fn bbox_geometry(text: &str, crs: Crs) -> ApiResult<Geometry<f64>> {
    citygrid_geo::bbox::lonlat_geometry(text, crs).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use geo::BoundingRect;

    /// Query parameters from pairs (for the handlers' parsing tests).
    pub fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn paging_defaults_bounds_and_refusals() {
        assert_eq!(
            Paging::from_params(&[]).unwrap(),
            Paging {
                limit: DEFAULT_LIMIT,
                offset: 0
            }
        );
        let huge = Paging::from_params(&p(&[("limit", "99999999999999999999999")])).unwrap();
        assert_eq!(huge.limit, MAX_LIMIT);
        assert_eq!(
            Paging::from_params(&p(&[("limit", "7"), ("offset", "3")])).unwrap(),
            Paging {
                limit: 7,
                offset: 3
            }
        );
        for bad in [
            vec![("limit", "0")],
            vec![("limit", "x")],
            vec![("offset", "-1")],
            vec![("offset", "1000000001")],
            vec![("limit", "1"), ("limit", "2")],
        ] {
            assert!(Paging::from_params(&p(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bbox_in_its_crs() {
        assert!(Bbox::from_params(&[]).unwrap().0.is_none());
        // EPSG:4326 bboxes are lat,lon.
        let Bbox(Some(g)) = Bbox::from_params(&p(&[
            ("bbox", "60.1,24.9,60.2,25.0"),
            ("bbox-crs", "EPSG:4326"),
        ]))
        .unwrap() else {
            panic!("no bbox")
        };
        let r = g.bounding_rect().unwrap();
        assert_eq!((r.min().x, r.min().y), (24.9, 60.1));
        for bad in [
            vec![("bbox", "NaN,0,1,1")],
            vec![("bbox", "0,0,1,91")],
            vec![("bbox", "0,0,1")],
            vec![("bbox", "0,0,1,1"), ("bbox-crs", "EPSG:1")],
            vec![("bbox", "0,0,1,1"), ("bbox", "0,0,1,1")],
        ] {
            assert!(Bbox::from_params(&p(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_and_ids() {
        assert!(check_format(&p(&[("f", "json")])).is_ok());
        assert!(check_format(&p(&[("f", "geojson")])).is_ok());
        assert!(check_format(&p(&[("f", "html")])).is_err());
        assert!(check_id("roads_2").is_ok());
        assert!(matches!(check_id("Roads;--"), Err(ApiError::NotFound(_))));
    }
}
