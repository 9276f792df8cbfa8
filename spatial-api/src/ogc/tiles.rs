//! OGC API – Tiles: the WebMercatorQuad tile matrix set and, for every vector
//! collection, its tileset; tiles are the same MVT as `/tiles/{id}/{z}/{x}/{y}`
//! (note the `{z}/{y}/{x}` order of OGC paths).

use axum::extract::{FromRequestParts, Path, Query, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use citygrid_geo::tms::{web_mercator_quad_json, MAX_ZOOM};
use citygrid_tiles::mvt::MVT_TYPE;
use serde_json::json;

use super::{json_response, link, OgcBase};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{collection, Collection, JsonFormat};
use crate::state::AppState;
use citygrid_geo::crs::CRS84;

const TMS_ID: &str = "WebMercatorQuad";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";

fn check_tms(tms: &str) -> ApiResult<()> {
    if tms == TMS_ID {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no tile matrix set {:?}: only WebMercatorQuad",
            tms.chars().take(40).collect::<String>()
        )))
    }
}

/// A request whose `{tms}` path parameter names the one tile matrix set offered.
pub struct TileMatrixSet;

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
        check_tms(tms).map_err(IntoResponse::into_response)?;
        Ok(TileMatrixSet)
    }
}

/// `GET /ogc/tileMatrixSets`.
pub async fn matrix_sets(_: JsonFormat, OgcBase(base): OgcBase) -> ApiResult<Response> {
    let body = json!({
        "tileMatrixSets": [{
            "id": TMS_ID,
            "title": "Google Maps Compatible for the World",
            "uri": TMS_URI,
            "links": [link(format!("{base}/tileMatrixSets/{TMS_ID}"), "self", "application/json", TMS_ID)]
        }]
    });
    Ok(json_response(&body, "application/json"))
}

/// `GET /ogc/tileMatrixSets/{tms}`.
pub async fn matrix_set(_: JsonFormat, _: TileMatrixSet) -> ApiResult<Response> {
    Ok(json_response(
        &web_mercator_quad_json(MAX_ZOOM),
        "application/json",
    ))
}

/// `GET /ogc/collections/{id}/tiles`: the tilesets of a collection.
pub async fn tilesets(
    _: JsonFormat,
    Collection { id, meta, .. }: Collection,
    OgcBase(base): OgcBase,
) -> ApiResult<Response> {
    let href = format!("{base}/collections/{id}/tiles/{TMS_ID}");
    let body = json!({
        "links": [link(format!("{base}/collections/{id}/tiles"), "self", "application/json", "tilesets")],
        "tilesets": [{
            "title": meta.title,
            "dataType": "vector",
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
            "tileMatrixSetURI": TMS_URI,
            "links": [
                link(href.clone(), "self", "application/json", "tileset"),
                link(format!("{base}/tileMatrixSets/{TMS_ID}"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "application/json", TMS_ID),
            ]
        }]
    });
    Ok(json_response(&body, "application/json"))
}

/// `GET /ogc/collections/{id}/tiles/{tms}`: tileset metadata.
pub async fn tileset(
    _: JsonFormat,
    _: TileMatrixSet,
    Collection { id, meta, layer }: Collection,
    OgcBase(base): OgcBase,
) -> ApiResult<Response> {
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
    let template =
        format!("{base}/collections/{id}/tiles/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}");
    let min_zoom = meta.min_zoom.clamp(0, i32::from(MAX_ZOOM));
    let body = json!({
        "title": meta.title,
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "boundingBox": { "lowerLeft": [bounds[0], bounds[1]], "upperRight": [bounds[2], bounds[3]], "crs": CRS84 },
        "tileMatrixSetLimits": [],
        "layers": [{
            "id": id,
            "dataType": "vector",
            "geometryType": meta.geometry_type.as_deref().map(str::to_ascii_lowercase).unwrap_or_else(|| "geometry".into()),
            "minTileMatrix": min_zoom.to_string(),
            "maxTileMatrix": MAX_ZOOM.to_string(),
            "propertiesSchema": { "type": "object", "properties": fields },
        }],
        "links": [
            link(format!("{base}/collections/{id}/tiles/{TMS_ID}"), "self", "application/json", "this tileset"),
            link(format!("{base}/tileMatrixSets/{TMS_ID}"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "application/json", TMS_ID),
            link(format!("{base}/collections/{id}"), "collection", "application/json", "the collection"),
            json!({"href": template, "rel": "item", "type": MVT_TYPE, "templated": true, "title": "tiles (MVT)"}),
        ]
    });
    Ok(json_response(&body, "application/json"))
}

/// `GET /ogc/collections/{id}/tiles/{tms}/{z}/{y}/{x}`: the MVT of
/// `/tiles/{id}/{z}/{x}/{y}`.
pub async fn tile(
    _: TileMatrixSet,
    State(state): State<AppState>,
    principal: Principal,
    Path((id, _, z, y, x)): Path<(String, String, String, String, String)>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
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
    crate::tiles::serve(&state, &principal, &id, &z, &x, &y, &headers).await
}
