//! OGC API – Tiles: the tile matrix sets of `citygrid_geo::matrixset`
//! (WebMercatorQuad, WorldCRS84Quad, CGCS2000Quad) and, for every vector collection,
//! a tileset in each; WebMercatorQuad tiles are the same MVT as
//! `/tiles/{id}/{z}/{x}/{y}` (note the `{z}/{y}/{x}` order of OGC paths), the
//! geographic sets' tiles are encoded in degrees (`crate::tiles::geographic`).

use axum::extract::{FromRequestParts, Path, Query, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use citygrid_geo::matrixset::MatrixSet;
use citygrid_store::layers::LayerId;
use citygrid_tiles::mvt::MVT_TYPE;
use citygrid_tiles::LayerKind;
use serde_json::json;

use super::{json_response, link, OgcBase};
use crate::auth::Principal;
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::extract::{collection, Collection, JsonFormat};
use crate::state::AppState;
use citygrid_geo::crs::CRS84;

fn check_tms(tms: &str) -> ApiResult<MatrixSet> {
    MatrixSet::parse(tms).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no tile matrix set {:?}: use {}",
            tms.chars().take(40).collect::<String>(),
            MatrixSet::ALL.map(MatrixSet::id).join(", ")
        ))
    })
}

/// A request whose `{tms}` path parameter names one of the tile matrix sets offered.
pub struct TileMatrixSet(pub MatrixSet);

impl<S: Send + Sync> FromRequestParts<S> for TileMatrixSet {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let tms = params
            .iter()
            .find(|(name, _)| *name == "tms")
            .map(|(_, value)| value)
            .unwrap_or_default();
        let set = check_tms(tms).map_err(IntoResponse::into_response)?;
        Ok(TileMatrixSet(set))
    }
}

/// `GET /ogc/tileMatrixSets`.
pub async fn matrix_sets(_: JsonFormat, OgcBase(base): OgcBase) -> ApiResult<Response> {
    let sets: Vec<serde_json::Value> = MatrixSet::ALL
        .iter()
        .map(|set| {
            let id = set.id();
            let mut entry = json!({
                "id": id,
                "title": set.title(),
                "crs": set.crs_uri(),
                "links": [link(format!("{base}/tileMatrixSets/{id}"), "self", "application/json", id)]
            });
            if let Some(uri) = set.uri() {
                entry["uri"] = json!(uri);
            }
            entry
        })
        .collect();
    let body = json!({ "tileMatrixSets": sets });
    Ok(json_response(&body, "application/json"))
}

/// `GET /ogc/tileMatrixSets/{tms}`.
pub async fn matrix_set(_: JsonFormat, TileMatrixSet(set): TileMatrixSet) -> ApiResult<Response> {
    Ok(json_response(&set.to_json(), "application/json"))
}

/// The `tileMatrixSetURI` of a tileset (the set's registered URI, else its document).
fn set_uri(set: MatrixSet, base: &str) -> String {
    set.uri()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{base}/tileMatrixSets/{}", set.id()))
}

/// A raster layer the caller may read, by the `{id}` of the path: raster layers
/// are OGC API – Tiles collections too (tiles only, no items).
pub(crate) fn raster_collection(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Option<LayerMeta> {
    state
        .catalog
        .get(id)
        .filter(|m| m.kind == LayerKind::Raster && state.catalog.may_read(principal, id))
}

/// The tile matrix sets a raster layer has tiles in (the geographic ones when it was
/// imported with them).
pub(crate) async fn raster_sets(state: &AppState, meta: &LayerMeta) -> Vec<MatrixSet> {
    let geographic = match LayerId::new(&meta.id) {
        Some(id) => citygrid_store::layers::has_geographic_pyramid(&state.pool, id)
            .await
            .unwrap_or(false),
        None => false,
    };
    if geographic {
        MatrixSet::ALL.to_vec()
    } else {
        vec![MatrixSet::WebMercatorQuad]
    }
}

/// The media type of a raster layer's tiles.
pub(crate) fn raster_type(meta: &LayerMeta) -> &'static str {
    match meta.tile_format.as_deref() {
        Some("jpeg" | "jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => "image/png",
    }
}

/// `GET /ogc/collections/{id}/tiles`: the tilesets of a collection (a vector layer in
/// every set; a raster layer in the sets it has tiles in).
pub async fn tilesets(
    _: JsonFormat,
    vector: Result<Collection, Response>,
    State(state): State<AppState>,
    principal: Principal,
    Path(path_id): Path<String>,
    OgcBase(base): OgcBase,
) -> ApiResult<Response> {
    let (id, meta, sets, data_type) = match vector {
        Ok(Collection { id, meta, .. }) => (id, meta, MatrixSet::ALL.to_vec(), "vector"),
        Err(refused) => match raster_collection(&state, &principal, &path_id) {
            Some(meta) => {
                let sets = raster_sets(&state, &meta).await;
                (path_id, meta, sets, "map")
            }
            None => return Ok(refused),
        },
    };
    let tilesets: Vec<serde_json::Value> = sets
        .iter()
        .map(|&set| {
            let tms = set.id();
            json!({
                "title": meta.title,
                "dataType": data_type,
                "crs": set.crs_uri(),
                "tileMatrixSetURI": set_uri(set, &base),
                "links": [
                    link(format!("{base}/collections/{id}/tiles/{tms}"), "self", "application/json", "tileset"),
                    link(format!("{base}/tileMatrixSets/{tms}"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "application/json", tms),
                ]
            })
        })
        .collect();
    let body = json!({
        "links": [link(format!("{base}/collections/{id}/tiles"), "self", "application/json", "tilesets")],
        "tilesets": tilesets,
    });
    Ok(json_response(&body, "application/json"))
}

/// `GET /ogc/collections/{id}/tiles/{tms}`: tileset metadata.
#[allow(clippy::too_many_arguments)]
pub async fn tileset(
    _: JsonFormat,
    TileMatrixSet(set): TileMatrixSet,
    vector: Result<Collection, Response>,
    State(state): State<AppState>,
    principal: Principal,
    Path((path_id, _)): Path<(String, String)>,
    OgcBase(base): OgcBase,
) -> ApiResult<Response> {
    let Collection { id, meta, layer } = match vector {
        Ok(c) => c,
        Err(refused) => {
            return match raster_collection(&state, &principal, &path_id) {
                Some(meta) => raster_tileset(&state, set, &meta, &base).await,
                None => Ok(refused),
            }
        }
    };
    let bounds = layer
        .index
        .read()
        .ok()
        .and_then(|i| i.bounds_lonlat())
        .map(|b| vec![b.min_x, b.min_y, b.max_x, b.max_y])
        .unwrap_or_else(|| vec![-180.0, -85.0511, 180.0, 85.0511]);
    let fields: serde_json::Map<String, serde_json::Value> = layer
        .index
        .read()
        .map(|i| {
            i.schema()
                .fields
                .iter()
                .map(|f| (f.name.clone(), json!(format!("{:?}", f.ty))))
                .collect()
        })
        .unwrap_or_default();
    let tms = set.id();
    let template =
        format!("{base}/collections/{id}/tiles/{tms}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}");
    // The layer's first zoom in Web Mercator levels, as the nearest level of the set
    // (the geographic sets' level n is about Web Mercator zoom n − 1).
    let min_level = i32::from(set.min_level());
    let max_level = i32::from(set.max_level());
    let min_zoom = match set {
        MatrixSet::WebMercatorQuad | MatrixSet::Cgcs2000Quad => meta.min_zoom,
        MatrixSet::WorldCrs84Quad => meta.min_zoom - 1,
    }
    .clamp(min_level, max_level);
    let body = json!({
        "title": meta.title,
        "dataType": "vector",
        "crs": set.crs_uri(),
        "tileMatrixSetURI": set_uri(set, &base),
        "boundingBox": { "lowerLeft": [bounds[0], bounds[1]], "upperRight": [bounds[2], bounds[3]], "crs": CRS84 },
        "tileMatrixSetLimits": [],
        "layers": [{
            "id": id,
            "dataType": "vector",
            "geometryType": meta.geometry_type.as_deref().map(str::to_ascii_lowercase).unwrap_or_else(|| "geometry".into()),
            "minTileMatrix": min_zoom.to_string(),
            "maxTileMatrix": max_level.to_string(),
            "propertiesSchema": { "type": "object", "properties": fields },
        }],
        "links": [
            link(format!("{base}/collections/{id}/tiles/{tms}"), "self", "application/json", "this tileset"),
            link(format!("{base}/tileMatrixSets/{tms}"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "application/json", tms),
            link(format!("{base}/collections/{id}"), "collection", "application/json", "the collection"),
            json!({"href": template, "rel": "item", "type": MVT_TYPE, "templated": true, "title": "tiles (MVT)"}),
        ]
    });
    Ok(json_response(&body, "application/json"))
}

/// A raster layer's tileset in `set` (404 when it has no tiles there).
async fn raster_tileset(
    state: &AppState,
    set: MatrixSet,
    meta: &LayerMeta,
    base: &str,
) -> ApiResult<Response> {
    if !raster_sets(state, meta).await.contains(&set) {
        return Err(ApiError::NotFound(format!(
            "raster layer {:?} has no tiles in {}",
            meta.id,
            set.id()
        )));
    }
    let (id, tms) = (&meta.id, set.id());
    let shift = i32::from(set == MatrixSet::WorldCrs84Quad);
    let clamp = |z: i32| (z - shift).clamp(i32::from(set.min_level()), i32::from(set.max_level()));
    let bounds = meta
        .bounds
        .clone()
        .filter(|b| b.len() == 4)
        .unwrap_or_else(|| vec![-180.0, -85.0511, 180.0, 85.0511]);
    let template =
        format!("{base}/collections/{id}/tiles/{tms}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}");
    let mime = raster_type(meta);
    let body = json!({
        "title": meta.title,
        "dataType": "map",
        "crs": set.crs_uri(),
        "tileMatrixSetURI": set_uri(set, base),
        "boundingBox": { "lowerLeft": [bounds[0], bounds[1]], "upperRight": [bounds[2], bounds[3]], "crs": CRS84 },
        "tileMatrixSetLimits": [],
        "layers": [{
            "id": id,
            "dataType": "map",
            "minTileMatrix": clamp(meta.min_zoom).to_string(),
            "maxTileMatrix": clamp(meta.max_zoom).to_string(),
        }],
        "links": [
            link(format!("{base}/collections/{id}/tiles/{tms}"), "self", "application/json", "this tileset"),
            link(format!("{base}/tileMatrixSets/{tms}"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "application/json", tms),
            json!({"href": template, "rel": "item", "type": mime, "templated": true, "title": "tiles"}),
        ]
    });
    Ok(json_response(&body, "application/json"))
}

/// `GET /ogc/collections/{id}/tiles/{tms}/{z}/{y}/{x}`: the MVT of
/// `/tiles/{id}/{z}/{x}/{y}` in WebMercatorQuad, encoded in degrees in the
/// geographic sets.
pub async fn tile(
    TileMatrixSet(set): TileMatrixSet,
    State(state): State<AppState>,
    principal: Principal,
    Path((id, _, z, y, x)): Path<(String, String, String, String, String)>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(meta) = raster_collection(&state, &principal, &id) {
        // A raster layer: its stored images, in the sets it has tiles in.
        let mime = raster_type(&meta);
        for (k, v) in &params {
            if k == "f"
                && !(v == mime
                    || mime.ends_with(v.as_str())
                    || (v == "jpg" && mime == "image/jpeg"))
            {
                return Err(ApiError::BadRequest(format!(
                    "the tiles of raster layer {id:?} are offered as {mime} only"
                )));
            }
        }
        return crate::tiles::serve_in(&state, &principal, &id, set, &z, &x, &y, &headers).await;
    }
    for (k, v) in &params {
        if k == "f"
            && !matches!(
                v.as_str(),
                "mvt" | "pbf" | "application/vnd.mapbox-vector-tile"
            )
        {
            return Err(ApiError::BadRequest(
                "tiles are offered as f=mvt only".into(),
            ));
        }
    }
    collection(&state, &principal, &id)?;
    crate::tiles::serve_in(&state, &principal, &id, set, &z, &x, &y, &headers).await
}
