//! `GET /ogc` (landing page), `/ogc/conformance` and `/ogc/api` (OpenAPI 3.0).

use axum::extract::State;
use axum::response::Response;
use citygrid_tiles::LayerKind;
use serde_json::json;

use super::openapi::CollectionDoc;
use super::{json_response, link, OgcBase, OPENAPI_TYPE};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::extract::JsonFormat;
use crate::state::AppState;

/// The conformance classes this server implements.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
];

/// `GET /ogc`: the landing page.
pub async fn landing(_: JsonFormat, OgcBase(base): OgcBase) -> ApiResult<Response> {
    let body = json!({
        "title": "citygrid",
        "description": "The city's map layers as OGC API – Features and Tiles: GeoJSON items with bbox, CRS and CQL2 filters, vector tiles.",
        "links": [
            link(base.clone(), "self", "application/json", "this document"),
            link(format!("{base}/api"), "service-desc", super::OPENAPI_TYPE, "the API definition (OpenAPI 3.0)"),
            link(format!("{base}/conformance"), "conformance", "application/json", "conformance classes"),
            link(format!("{base}/conformance"), "http://www.opengis.net/def/rel/ogc/1.0/conformance", "application/json", "conformance classes"),
            link(format!("{base}/collections"), "data", "application/json", "the collections"),
            link(format!("{base}/collections"), "http://www.opengis.net/def/rel/ogc/1.0/data", "application/json", "the collections"),
            link(format!("{base}/tileMatrixSets"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "application/json", "tile matrix sets"),
        ]
    });
    Ok(json_response(&body, "application/json"))
}

/// `GET /ogc/conformance`.
pub async fn conformance(_: JsonFormat) -> ApiResult<Response> {
    Ok(json_response(
        &json!({ "conformsTo": CONFORMANCE }),
        "application/json",
    ))
}

/// `GET /ogc/api`: the OpenAPI 3.0 document (self-contained), with the
/// collections the caller may read.
pub async fn api(
    _: JsonFormat,
    State(state): State<AppState>,
    principal: Principal,
    OgcBase(base): OgcBase,
) -> ApiResult<Response> {
    let collections: Vec<CollectionDoc> = state
        .catalog
        .layers()
        .iter()
        .filter(|m| m.kind == LayerKind::Vector && state.catalog.may_read(&principal, &m.id))
        .filter_map(|m| {
            let layer = state.layers.get(&m.id)?;
            let index = layer.index.read().ok()?;
            let queryables = index
                .schema()
                .fields
                .iter()
                .map(|f| (f.name.clone(), super::collections::json_type(f.ty)))
                .collect();
            Some(CollectionDoc {
                id: m.id.clone(),
                queryables,
            })
        })
        .collect();
    Ok(json_response(
        &super::openapi::document(&base, &collections),
        OPENAPI_TYPE,
    ))
}
