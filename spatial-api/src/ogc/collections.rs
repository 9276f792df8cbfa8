//! `GET /ogc/collections`, `/ogc/collections/{id}` and `…/queryables`: vector layers
//! as feature collections, raster layers as collections of map tiles (no items).

use axum::extract::{Path, State};
use axum::response::Response;
use citygrid_geo::matrixset::MatrixSet;
use citygrid_tiles::schema::FieldType;
use citygrid_tiles::LayerKind;
use serde_json::{json, Map, Value};

use super::tiles::{raster_collection, raster_sets};
use super::{json_response, link, OgcBase, GEOJSON_TYPE};
use crate::auth::Principal;
use crate::catalog::LayerMeta;
use crate::error::ApiResult;
use crate::extract::{Collection, JsonFormat};
use crate::layers::LoadedLayer;
use crate::state::AppState;
use citygrid_geo::crs::{Crs, CRS84};

/// The JSON Schema type of a field.
pub fn json_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Int => "integer",
        FieldType::Double => "number",
        FieldType::Bool => "boolean",
        FieldType::String => "string",
    }
}

/// The description of one collection.
pub fn describe(base: &str, meta: &LayerMeta, layer: Option<&LoadedLayer>) -> Value {
    let id = &meta.id;
    let bbox = layer
        .and_then(|l| l.index.read().ok().and_then(|i| i.bounds_lonlat()))
        .map(|b| vec![b.min_x, b.min_y, b.max_x, b.max_y])
        .or_else(|| meta.bounds.clone().filter(|b| b.len() == 4))
        .unwrap_or_else(|| vec![-180.0, -90.0, 180.0, 90.0]);
    let href = format!("{base}/collections/{id}");
    // The loaded layer's count: the catalogue row is not rewritten for every case.
    let count = layer.map_or(meta.feature_count, |l| {
        i64::try_from(l.len()).unwrap_or(i64::MAX)
    });
    json!({
        "id": id,
        "title": meta.title,
        "description": format!("{} ({} features, {})", meta.title, count,
            meta.geometry_type.as_deref().unwrap_or("geometry")),
        "itemType": "feature",
        "extent": { "spatial": { "bbox": [bbox], "crs": CRS84 } },
        "crs": Crs::ogc_list(),
        "storageCrs": CRS84,
        "links": [
            link(href.clone(), "self", "application/json", "this collection"),
            link(format!("{href}/items"), "items", GEOJSON_TYPE, "the features"),
            link(format!("{href}/queryables"), "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json", "queryable properties"),
            link(format!("{href}/queryables"), "queryables", "application/schema+json", "queryable properties"),
            link(format!("{href}/tiles"), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "application/json", "vector tilesets"),
        ]
    })
}

/// The description of a raster layer as a collection (OGC API – Tiles): map tiles
/// (`dataType: map`) in each tile matrix set of `sets`, no `itemType` and no items.
pub fn describe_raster(base: &str, meta: &LayerMeta, sets: &[MatrixSet]) -> Value {
    let id = &meta.id;
    let bbox = meta
        .bounds
        .clone()
        .filter(|b| b.len() == 4)
        .unwrap_or_else(|| vec![-180.0, -90.0, 180.0, 90.0]);
    let href = format!("{base}/collections/{id}");
    let mime = super::tiles::raster_type(meta);
    let mut links = vec![
        link(href.clone(), "self", "application/json", "this collection"),
        link(
            format!("{href}/tiles"),
            "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map",
            "application/json",
            "map tilesets",
        ),
    ];
    for set in sets {
        let tms = set.id();
        links.push(json!({
            "href": format!("{href}/tiles/{tms}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"),
            "rel": "item",
            "type": mime,
            "templated": true,
            "title": format!("map tiles in {tms}"),
        }));
    }
    json!({
        "id": id,
        "title": meta.title,
        "description": format!("{} (map tiles, {mime}; a raster coverage without features)", meta.title),
        "dataType": "map",
        "extent": { "spatial": { "bbox": [bbox], "crs": CRS84 } },
        "links": links,
    })
}

/// `GET /ogc/collections`: every layer the caller may read (raster layers as map
/// tiles, [`describe_raster`]).
pub async fn list(
    _: JsonFormat,
    State(state): State<AppState>,
    principal: Principal,
    OgcBase(base): OgcBase,
) -> ApiResult<Response> {
    let readable: Vec<LayerMeta> = state
        .catalog
        .layers()
        .iter()
        .filter(|m| state.catalog.may_read(&principal, &m.id))
        .cloned()
        .collect();
    let mut collections: Vec<Value> = Vec::with_capacity(readable.len());
    for m in &readable {
        collections.push(match m.kind {
            LayerKind::Vector => describe(&base, m, state.layers.get(&m.id).as_deref()),
            LayerKind::Raster => describe_raster(&base, m, &raster_sets(&state, m).await),
        });
    }
    let body = json!({
        "links": [link(format!("{base}/collections"), "self", "application/json", "the collections")],
        "crs": Crs::ogc_list(),
        "collections": collections,
    });
    Ok(json_response(&body, "application/json"))
}

/// `GET /ogc/collections/{id}`: a vector layer, or a raster layer's map tiles.
pub async fn one(
    _: JsonFormat,
    vector: Result<Collection, Response>,
    State(state): State<AppState>,
    principal: Principal,
    Path(path_id): Path<String>,
    OgcBase(base): OgcBase,
) -> ApiResult<Response> {
    let doc = match vector {
        Ok(c) => describe(&base, &c.meta, Some(&c.layer)),
        Err(refused) => match raster_collection(&state, &principal, &path_id) {
            Some(meta) => describe_raster(&base, &meta, &raster_sets(&state, &meta).await),
            None => return Ok(refused),
        },
    };
    Ok(json_response(&doc, "application/json"))
}

/// `GET /ogc/collections/{id}/queryables`: a JSON Schema of the filterable
/// properties (the layer's attribute fields and its geometry).
pub async fn queryables(
    _: JsonFormat,
    Collection { id, meta, layer }: Collection,
    OgcBase(base): OgcBase,
) -> ApiResult<Response> {
    let mut properties = Map::new();
    // Pre-standard clients (GDAL ≤ 3.6) read a "queryables" array of {id, type}.
    let mut legacy: Vec<Value> = Vec::new();
    let geometry_format = match meta.geometry_type.as_deref().map(str::to_ascii_lowercase) {
        Some(t) if t.contains("multipoint") => "geometry-multipoint",
        Some(t) if t.contains("multilinestring") => "geometry-multilinestring",
        Some(t) if t.contains("multipolygon") => "geometry-multipolygon",
        Some(t) if t.contains("point") => "geometry-point",
        Some(t) if t.contains("linestring") => "geometry-linestring",
        Some(t) if t.contains("polygon") => "geometry-polygon",
        _ => "geometry-any",
    };
    properties.insert(
        "geometry".into(),
        json!({ "title": "geometry", "format": geometry_format, "x-ogc-role": "primary-geometry" }),
    );
    if let Ok(index) = layer.index.read() {
        for field in &index.schema().fields {
            let ty = json_type(field.ty);
            legacy.push(json!({ "id": field.name, "type": ty }));
            properties.insert(
                field.name.clone(),
                json!({ "title": field.name, "type": ty }),
            );
        }
    }
    let body = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{base}/collections/{id}/queryables"),
        "type": "object",
        "title": meta.title,
        "properties": properties,
        "additionalProperties": false,
        "queryables": legacy,
    });
    Ok(json_response(&body, "application/schema+json"))
}
