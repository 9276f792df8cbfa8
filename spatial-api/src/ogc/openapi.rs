//! The OpenAPI 3.0 document of `/ogc`: self-contained
//! (every `$ref` points inside the document).

use serde_json::{json, Value};

use crate::extract::{DEFAULT_LIMIT, MAX_LIMIT};
use citygrid_geo::crs::{self, Crs};

fn param(name: &str, location: &str, required: bool, description: &str, schema: Value) -> Value {
    json!({
        "name": name, "in": location, "required": required,
        "description": description, "schema": schema, "style": "form", "explode": false
    })
}

fn ok(description: &str, media: &str, schema: Value) -> Value {
    json!({
        "200": { "description": description, "content": { media: { "schema": schema } } },
        "400": { "$ref": "#/components/responses/Error" },
        "403": { "$ref": "#/components/responses/Error" },
        "404": { "$ref": "#/components/responses/Error" }
    })
}

fn get(summary: &str, id: &str, params: Vec<Value>, responses: Value) -> Value {
    json!({ "get": { "summary": summary, "operationId": id, "parameters": params, "responses": responses } })
}

/// One collection for the document: its id and its queryables with JSON types.
pub struct CollectionDoc {
    /// The collection id.
    pub id: String,
    /// `(name, JSON Schema type)` of each queryable attribute.
    pub queryables: Vec<(String, &'static str)>,
}

/// The document, with `servers` pointing at `base` (`http://host/ogc`), a generic
/// items path and one items path per collection listing its queryables as query
/// parameters (equality filters; clients such as GDAL read them from here).
pub fn document(base: &str, collections: &[CollectionDoc]) -> Value {
    let f = || {
        param(
            "f",
            "query",
            false,
            "the format: json (the only one)",
            json!({"type": "string", "enum": ["json", "geojson"]}),
        )
    };
    let id = || json!({"name": "collectionId", "in": "path", "required": true, "description": "a collection (layer) id", "schema": {"type": "string", "pattern": "^[a-z0-9_]+$"}});
    let crs_list = Crs::ogc_list();
    let items_params: Vec<Value> = vec![
        id(),
        f(),
        param("limit", "query", false,
            &format!("page size; default {DEFAULT_LIMIT}; larger values are clamped to {MAX_LIMIT} (not an error)"),
            json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT})),
        param("offset", "query", false, "features to skip (see the next/prev links)",
            json!({"type": "integer", "minimum": 0, "default": 0})),
        param("bbox", "query", false,
            "minx,miny,maxx,maxy in bbox-crs (axis order of that CRS: lat,lon for EPSG:4326); features intersecting it",
            json!({"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}})),
        param("bbox-crs", "query", false, "the CRS of bbox", json!({"type": "string", "format": "uri", "enum": crs_list.clone(), "default": crs::CRS84})),
        param("crs", "query", false, "the CRS of the returned geometries (Content-Crs header)", json!({"type": "string", "format": "uri", "enum": crs_list.clone(), "default": crs::CRS84})),
        param("filter", "query", false, "a CQL2 filter (text or JSON, see filter-lang) on the queryables: at most 8192 bytes, LIKE patterns at most 256 characters, and a bounded amount of work per request (400 beyond)", json!({"type": "string"})),
        param("filter-lang", "query", false, "the filter language", json!({"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"], "default": "cql2-text"})),
        param("filter-crs", "query", false, "the CRS of geometries in the filter", json!({"type": "string", "format": "uri", "enum": crs_list.clone(), "default": crs::CRS84})),
        param("sortby", "query", false, "comma-separated queryables, + ascending (default) or - descending; ties by id", json!({"type": "string", "example": "-rank,+name"})),
        param("datetime", "query", false, "an instant (2024-05-01T10:00:00+08:00, or a date) or an interval start/end with .. for an open end: features whose time field (the collection's first date or timestamp field) intersects it; 400 on a collection without one", json!({"type": "string", "example": "2024-05-01T00:00:00+08:00/.."})),
        param("properties", "query", false, "comma-separated property names: only these are returned (an empty value returns none; an unknown name is a 400)", json!({"type": "string", "example": "name,rank"})),
    ];
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "citygrid OGC API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "OGC API – Features (Parts 1–3, CQL2-text) and Tiles over the city's layers.",
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}
        },
        "servers": [{"url": base}],
        "paths": {
            "/": get("landing page", "getLandingPage", vec![f()], ok("links to the API", "application/json", json!({"$ref": "#/components/schemas/LandingPage"}))),
            "/conformance": get("conformance classes", "getConformance", vec![f()], ok("conformance classes", "application/json", json!({"$ref": "#/components/schemas/Conformance"}))),
            "/api": get("this document", "getApi", vec![f()], ok("OpenAPI 3.0", super::OPENAPI_TYPE, json!({"type": "object"}))),
            "/collections": get("the collections", "getCollections", vec![f()], ok("collections", "application/json", json!({"$ref": "#/components/schemas/Collections"}))),
            "/collections/{collectionId}": get("one collection", "describeCollection", vec![id(), f()], ok("a collection", "application/json", json!({"$ref": "#/components/schemas/Collection"}))),
            "/collections/{collectionId}/queryables": get("the queryable properties (JSON Schema)", "getQueryables", vec![id(), f()], ok("JSON Schema", "application/schema+json", json!({"type": "object"}))),
            "/collections/{collectionId}/items": get("features; any queryable may also be given as name=value (equality)", "getFeatures", items_params.clone(), ok("a FeatureCollection", super::GEOJSON_TYPE, json!({"$ref": "#/components/schemas/FeatureCollection"}))),
            "/collections/{collectionId}/items/{featureId}": get("one feature", "getFeature", vec![
                id(),
                json!({"name": "featureId", "in": "path", "required": true, "schema": {"type": "integer"}}),
                param("crs", "query", false, "the CRS of the geometry", json!({"type": "string", "format": "uri", "enum": crs_list})),
                f()
            ], ok("a Feature", super::GEOJSON_TYPE, json!({"$ref": "#/components/schemas/Feature"}))),
            "/tileMatrixSets": get("tile matrix sets", "getTileMatrixSets", vec![f()], ok("the list", "application/json", json!({"type": "object"}))),
            "/tileMatrixSets/{tileMatrixSetId}": get("one tile matrix set", "getTileMatrixSet", vec![
                json!({"name": "tileMatrixSetId", "in": "path", "required": true, "schema": {"type": "string", "enum": ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"]}}), f()
            ], ok("TileMatrixSet 2.0 JSON", "application/json", json!({"type": "object"}))),
            "/collections/{collectionId}/tiles": get("tilesets of a collection", "getCollectionTileSets", vec![id(), f()], ok("tilesets", "application/json", json!({"type": "object"}))),
            "/collections/{collectionId}/tiles/{tileMatrixSetId}": get("tileset metadata", "getCollectionTileSet", vec![
                id(), json!({"name": "tileMatrixSetId", "in": "path", "required": true, "schema": {"type": "string", "enum": ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"]}}), f()
            ], ok("tileset", "application/json", json!({"type": "object"}))),
            "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": get("a vector tile (MVT)", "getCollectionTile", vec![
                id(),
                json!({"name": "tileMatrixSetId", "in": "path", "required": true, "schema": {"type": "string", "enum": ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"]}}),
                json!({"name": "tileMatrix", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0, "maximum": 24}}),
                json!({"name": "tileRow", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}),
                json!({"name": "tileCol", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}})
            ], json!({
                "200": {"description": "the tile", "content": {"application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}}},
                "204": {"description": "no feature in the tile"},
                "400": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"}
            })),
        },
        "components": {
            "schemas": {
                "Link": {"type": "object", "required": ["href"], "properties": {
                    "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"}}},
                "LandingPage": {"type": "object", "properties": {"title": {"type": "string"}, "description": {"type": "string"},
                    "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}}},
                "Conformance": {"type": "object", "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}}},
                "Collection": {"type": "object", "required": ["id", "links"], "properties": {
                    "id": {"type": "string"}, "title": {"type": "string"}, "itemType": {"type": "string"},
                    "extent": {"type": "object"}, "crs": {"type": "array", "items": {"type": "string"}},
                    "storageCrs": {"type": "string"},
                    "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}}},
                "Collections": {"type": "object", "properties": {
                    "collections": {"type": "array", "items": {"$ref": "#/components/schemas/Collection"}},
                    "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}}},
                "Feature": {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
                    "type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "integer"},
                    "geometry": {"type": "object", "nullable": true}, "properties": {"type": "object", "nullable": true}}},
                "FeatureCollection": {"type": "object", "required": ["type", "features"], "properties": {
                    "type": {"type": "string", "enum": ["FeatureCollection"]},
                    "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}},
                    "numberMatched": {"type": "integer"}, "numberReturned": {"type": "integer"},
                    "timeStamp": {"type": "string", "format": "date-time"},
                    "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}}},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "detail": {}}}
            },
            "responses": {
                "Error": {"description": "an error; `error` says what to fix", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        }
    });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for c in collections {
            let mut params: Vec<Value> = items_params
                .iter()
                .filter(|p| p["name"] != "collectionId")
                .cloned()
                .collect();
            for (name, ty) in &c.queryables {
                params.push(param(
                    name,
                    "query",
                    false,
                    "equality filter on this queryable",
                    json!({ "type": ty }),
                ));
            }
            paths.insert(
                format!("/collections/{}/items", c.id),
                get(
                    &format!("features of {}", c.id),
                    &format!("getFeatures_{}", c.id),
                    params,
                    ok(
                        "a FeatureCollection",
                        super::GEOJSON_TYPE,
                        json!({"$ref": "#/components/schemas/FeatureCollection"}),
                    ),
                ),
            );
        }
    }
    super::edit::document(&mut doc);
    doc
}
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every `$ref` in `v` (also used by the whole service's document's tests).
    pub(crate) fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        out.push(v.as_str().unwrap_or_default().to_string());
                    }
                    refs(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// Asserts that `doc` has `$ref`s and that each is internal and resolves.
    pub fn assert_refs_resolve(doc: &Value) {
        let mut all = Vec::new();
        refs(doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let path = r.strip_prefix("#/").expect("internal ref");
            let mut node = doc;
            for part in path.split('/') {
                node = &node[part];
            }
            assert!(!node.is_null(), "{r} does not resolve");
        }
    }

    #[test]
    fn every_ref_is_internal_and_resolves() {
        let doc = document(
            "http://localhost/ogc",
            &[CollectionDoc {
                id: "roads".into(),
                queryables: vec![("name".into(), "string")],
            }],
        );
        assert!(
            doc["paths"]["/collections/roads/items"]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "name")
        );
        assert_refs_resolve(&doc);
    }
}
