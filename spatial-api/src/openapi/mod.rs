//! The OpenAPI 3.1 document of every route of the service, served at
//! `GET /openapi.json`.
//!
//! The operations are described in [`paths`] with `utoipa::path` over the handlers'
//! own request types (`NewCase`, `ActionBody`, `EvalQuery`… derive `ToSchema` or
//! `IntoParams` where they are defined) and, for answers the handlers assemble by hand,
//! over the types of [`schemas`]. [`document`] then walks the route table
//! ([`crate::table`]) and gives each operation its security from the route's
//! [`Access`] (public, bearer token, API key), the roles in `x-roles` and the error
//! answers every route shares. A route of the table without an operation here (or an
//! operation without a route) is reported by [`build`]; the unit tests fail on it.
//!
//! `/ogc/api` keeps its own OpenAPI 3.0 document (the OGC conformance class `oas30`,
//! with one items path per collection listing its queryables, as GDAL reads them).

pub mod paths;
pub mod schemas;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::auth::Access;
use crate::router::RouteEntry;
use crate::state::AppState;

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

/// The names of the security schemes.
pub const BEARER: &str = "bearer";
/// `X-API-Key: …`
pub const API_KEY_HEADER: &str = "api_key";
/// `?key=…`
pub const API_KEY_QUERY: &str = "api_key_query";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "citygrid",
        description = "The city's map layers (catalogue, vector and raster tiles, styles, OGC API – Features and Tiles, spatial queries), grid management (cases, reference data, unit grids, components, evaluation) and Open311 GeoReport v2. Errors are JSON `{\"error\", \"error_zh\", \"detail\"}`: the message in English and in Chinese (Open311: its own error list). Each operation's `security` says who may call it; `x-access` says it in words and `x-roles` lists the roles of role-restricted routes (admin may do everything).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        paths::health, paths::metrics, paths::openapi_json, paths::catalog, paths::catalog_layer,
        paths::tilejson, paths::tile, paths::style, paths::glyphs, paths::sprites,
        paths::login, paths::logout, paths::me, paths::routes, paths::home, paths::search,
        paths::geocode, paths::reverse_geocode,
        paths::layer_titles,
        paths::page_index, paths::page_inspector, paths::page_console, paths::page_bigscreen, paths::page_embed,
        paths::page_embed_map, paths::asset, paths::page_inspector_worker, paths::page_inspector_manifest,
        paths::locate, paths::create_case, paths::list_cases, paths::case_events, paths::one_case,
        paths::case_action, paths::upload_photo, paths::photo, paths::evaluation, paths::live_figures,
        paths::list_departments, paths::create_department, paths::one_department, paths::patch_department,
        paths::list_categories, paths::create_category, paths::one_category, paths::patch_category,
        paths::list_rules, paths::create_rule, paths::one_rule, paths::patch_rule,
        paths::list_sla, paths::create_sla, paths::one_sla, paths::patch_sla,
        paths::list_calendars, paths::create_calendar, paths::one_calendar, paths::patch_calendar,
        paths::list_holidays, paths::one_holidays, paths::put_holidays, paths::delete_holidays,
        paths::list_grids, paths::create_grid, paths::one_grid, paths::patch_grid,
        paths::list_components, paths::create_component, paths::one_component, paths::patch_component,
        paths::open311_top, paths::open311_post, paths::open311_service, paths::open311_request,
        paths::open311_token,
        paths::ogc_landing, paths::ogc_landing_slash, paths::ogc_conformance, paths::ogc_api,
        paths::ogc_collections, paths::ogc_collection, paths::ogc_queryables, paths::ogc_items,
        paths::ogc_item, paths::ogc_create, paths::ogc_replace, paths::ogc_update,
        paths::ogc_delete, paths::ogc_history, paths::ogc_restore, paths::ogc_matrix_sets, paths::ogc_matrix_set, paths::ogc_tilesets,
        paths::ogc_tileset, paths::ogc_tile,
        paths::wmts_kvp, paths::wmts_capabilities, paths::wmts_tile, paths::page_wmts_demo,
        paths::nearest, paths::spatial_query,
        paths::get_tile_properties, paths::put_tile_properties,
        paths::admin_layers, paths::admin_layer_access, paths::admin_layer_serve_from, paths::admin_layer_delete,
    ),
    components(schemas(schemas::Error)),
    tags(
        (name = "system", description = "health, metrics, this document, the route table"),
        (name = "maps", description = "catalogue, TileJSON, tiles, styles"),
        (name = "auth", description = "sign-in with bearer tokens"),
        (name = "pages", description = "the web pages (HTML) and their assets"),
        (name = "cases", description = "case intake and workflow, photos, evaluation"),
        (name = "reference", description = "departments, categories, routing rules, time limits, calendars"),
        (name = "places", description = "unit grids and city components"),
        (name = "open311", description = "Open311 GeoReport v2"),
        (name = "ogc", description = "OGC API – Features (Parts 1–3) and Tiles"),
        (name = "query", description = "spatial queries answered from memory"),
        (name = "wmts", description = "OGC WMTS 1.0.0 (KVP and RESTful) in WebMercatorQuad, WorldCRS84Quad and CGCS2000Quad"),
    )
)]
struct ApiDoc;

/// The path of a route pattern as OpenAPI writes it (`/assets/{*path}` → `/assets/{path}`).
pub fn openapi_path(route: &str) -> String {
    route.replace("{*", "{")
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The security requirements of a route's access policy; `public_layers` says whether
/// map data may be read without credentials.
pub fn security(access: Access, public_layers: bool) -> Value {
    let bearer = json!({ BEARER: [] });
    match access {
        Access::Public => json!([]),
        Access::Layers => {
            let mut any = vec![
                bearer,
                json!({ API_KEY_HEADER: [] }),
                json!({ API_KEY_QUERY: [] }),
            ];
            if public_layers {
                any.push(json!({}));
            }
            Value::Array(any)
        }
        Access::Authenticated | Access::Roles(_) => json!([bearer]),
    }
}

/// The document for a route table, with the routes of the table that have no
/// operation in it and the operations that have no route (both empty when every
/// route is documented).
pub fn build(entries: &[RouteEntry], public_layers: bool) -> (Value, Vec<String>, Vec<String>) {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    let mut undocumented = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for entry in entries {
            let path = openapi_path(&entry.path);
            let method = entry.method.to_ascii_lowercase();
            let Some(op) = paths
                .get_mut(&path)
                .and_then(|p| p.get_mut(&method))
                .and_then(Value::as_object_mut)
            else {
                undocumented.push(format!("{} {}", entry.method, entry.path));
                continue;
            };
            seen.insert((path, method));
            decorate(op, entry.access, public_layers);
        }
    }
    let mut stale = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                if item.get(method).is_some() && !seen.contains(&(path.clone(), method.to_string()))
                {
                    stale.push(format!("{} {path}", method.to_ascii_uppercase()));
                }
            }
        }
    }
    if let Some(root) = doc.as_object_mut() {
        let components = root
            .entry("components")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(components) = components {
            components.insert(
                "securitySchemes".into(),
                json!({
                    BEARER: {"type": "http", "scheme": "bearer",
                        "description": "a token from POST /api/auth/login (`Authorization: Bearer …`)"},
                    API_KEY_HEADER: {"type": "apiKey", "in": "header", "name": "X-API-Key",
                        "description": "an API key (`citygrid key create`); map data needs the `maps` scope, and a key limited to layers or origins is refused (403) outside them"},
                    API_KEY_QUERY: {"type": "apiKey", "in": "query", "name": "key",
                        "description": "the same API key as a query parameter (embedded maps)"}
                }),
            );
            components.insert(
                "responses".into(),
                json!({
                    "Error": {"description": "an error; `error` says what to fix",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "Unavailable": {"description": "the database is away (writes) or the request took too long; retry after `Retry-After` seconds",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }),
            );
        }
    }
    (doc, undocumented, stale)
}

/// Security, access in words and the shared error answers of one operation.
fn decorate(op: &mut Map<String, Value>, access: Access, public_layers: bool) {
    op.insert("security".into(), security(access, public_layers));
    op.insert("x-access".into(), Value::String(access.describe()));
    if let Access::Roles(roles) = access {
        let mut names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        if !names.contains(&"admin") {
            names.push("admin");
        }
        op.insert("x-roles".into(), json!(names));
    }
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        responses
            .entry("4XX")
            .or_insert_with(|| json!({"$ref": "#/components/responses/Error"}));
        responses
            .entry("503")
            .or_insert_with(|| json!({"$ref": "#/components/responses/Unavailable"}));
    }
}

/// The document of this service's route table.
pub fn document(public_layers: bool) -> Value {
    let table = crate::table();
    build(table.entries(), public_layers).0
}

/// `GET /openapi.json` (made once per process for each value of `public_layers`).
pub async fn serve(State(state): State<AppState>) -> Response {
    static DOCS: [std::sync::OnceLock<axum::body::Bytes>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let public_layers = state.config.public_layers;
    let body = DOCS[usize::from(public_layers)]
        .get_or_init(|| {
            serde_json::to_vec(&document(public_layers))
                .unwrap_or_default()
                .into()
        })
        .clone();
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ogc::openapi::tests::assert_refs_resolve;

    #[test]
    fn every_route_is_documented_and_every_operation_is_a_route() {
        let table = crate::table();
        let (doc, undocumented, stale) = build(table.entries(), true);
        assert!(
            undocumented.is_empty(),
            "routes without an operation in the OpenAPI document (add them to openapi/paths.rs): {undocumented:?}"
        );
        assert!(
            stale.is_empty(),
            "operations in the OpenAPI document without a route: {stale:?}"
        );
        assert_eq!(doc["openapi"], "3.1.0");
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| METHODS.iter().filter(|m| item.get(**m).is_some()).count())
            .sum();
        assert_eq!(operations, table.entries().len());
        assert!(table.entries().iter().any(|e| e.path == PATH));
    }

    #[test]
    fn a_route_added_without_documentation_is_reported() {
        let table = crate::table().add(
            axum::http::Method::GET,
            "/api/undocumented",
            Access::Public,
            axum::routing::get(|| async { "" }),
        );
        let (_, undocumented, _) = build(table.entries(), true);
        assert_eq!(undocumented, vec!["GET /api/undocumented".to_string()]);
    }

    #[test]
    fn each_operation_states_the_security_of_its_route() {
        for public_layers in [true, false] {
            let table = crate::table();
            let (doc, _, _) = build(table.entries(), public_layers);
            for e in table.entries() {
                let op = &doc["paths"][openapi_path(&e.path)][e.method.to_ascii_lowercase()];
                let security = op["security"].as_array().expect("security");
                let names: Vec<&str> = security
                    .iter()
                    .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
                    .collect();
                let anonymous = security.is_empty()
                    || security.iter().any(|r| r.as_object().unwrap().is_empty());
                match e.access {
                    Access::Public => assert!(security.is_empty(), "{} {}", e.method, e.path),
                    Access::Layers => {
                        assert_eq!(names, [BEARER, API_KEY_HEADER, API_KEY_QUERY]);
                        assert_eq!(anonymous, public_layers, "{} {}", e.method, e.path);
                    }
                    Access::Authenticated => assert_eq!(names, [BEARER]),
                    Access::Roles(roles) => {
                        assert_eq!(names, [BEARER]);
                        let listed = op["x-roles"].as_array().unwrap();
                        for r in roles {
                            assert!(listed.contains(&json!(r.as_str())));
                        }
                    }
                }
                assert_eq!(op["x-access"], e.access.describe());
                assert!(
                    op["responses"]["4XX"].is_object(),
                    "{} {}",
                    e.method,
                    e.path
                );
            }
        }
    }

    #[test]
    fn every_ref_resolves_and_the_request_types_are_the_handlers() {
        let doc = document(true);
        assert_refs_resolve(&doc);
        let schemas = &doc["components"]["schemas"];
        // NewCase refuses unknown fields and needs category, lon, lat.
        assert_eq!(schemas["NewCase"]["additionalProperties"], false);
        let required = schemas["NewCase"]["required"].as_array().unwrap();
        for f in ["category", "lon", "lat"] {
            assert!(required.contains(&json!(f)), "{f}");
        }
        assert!(schemas["ActionBody"]["properties"]["action"].is_object());
        let params = doc["paths"]["/api/stats/evaluation"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["from", "to", "period", "by", "format"]);
        // The OGC limits the descriptions state.
        assert_eq!(crate::ogc::items::DEFAULT_LIMIT, 100);
        assert_eq!(crate::ogc::items::MAX_LIMIT, 10_000);
        assert!(schemas.get("OgcItemsParams").is_none());
        // The calendar body's spec is grid-mgmt's CalendarSpec.
        assert_eq!(
            schemas["NewCalendar"]["properties"]["spec"]["$ref"],
            "#/components/schemas/CalendarSpec"
        );
        assert!(schemas["CalendarSpec"]["properties"]["periods"].is_object());
        // Open311 errors: the GeoReport list, or the service's own error.
        let any = schemas["Open311ErrorAnswer"]["oneOf"].as_array().unwrap();
        assert_eq!(any.len(), 2);
        assert_eq!(any[0]["type"], "array");
        assert_eq!(any[1]["$ref"], "#/components/schemas/Error");
        assert_eq!(
            schemas["FeatureCollection"]["properties"]["type"]["type"],
            "string"
        );
    }
}
