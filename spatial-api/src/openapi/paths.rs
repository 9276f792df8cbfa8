//! One operation per route of the route table ([`crate::table`]), described
//! with `utoipa::path` over the request and answer types. These functions are never
//! called: they carry the descriptions, so that the handlers stay as they are. Who may
//! call each operation (`security`) is not written here but taken from the route
//! table by [`super::document`]; so are the error answers common to all routes.
#![allow(dead_code)]

use super::schemas::*;
use crate::catalog::LayerMeta;
use crate::mgmt::admin::{NewCalendar, NewCategory, NewDepartment, NewRule, NewSla, RefQuery};
use crate::mgmt::cases::ActionBody;
use crate::mgmt::intake::NewCase;
use crate::mgmt::locate::LocateQuery;
use crate::mgmt::open311::O311Query;
use crate::mgmt::places::{NewComponent, NewGrid, PlaceQuery};
use crate::mgmt::search::ListQuery;
use crate::mgmt::stats::EvalQuery;
use crate::pages::embed::EmbedQuery;
use crate::routes::auth::Login;
use crate::routes::maps::{KeyQuery, StyleQuery};

// ---- system -------------------------------------------------------------------

#[utoipa::path(get, path = "/health", tag = "system",
    summary = "Whether the service and its database answer (at once, from the tracked state)",
    responses((status = 200, description = "`ok` or `degraded`", body = Health)))]
pub(super) fn health() {}

#[utoipa::path(get, path = "/metrics", tag = "system",
    summary = "Prometheus metrics (text exposition format)",
    responses((status = 200, description = "metrics", content(("text/plain; version=0.0.4")))))]
pub(super) fn metrics() {}

#[utoipa::path(get, path = "/openapi.json", tag = "system",
    summary = "This document: OpenAPI 3.1 of every route",
    responses((status = 200, description = "the OpenAPI document", body = Value)))]
pub(super) fn openapi_json() {}

#[utoipa::path(get, path = "/catalog", tag = "maps",
    summary = "Every layer the caller may read",
    responses((status = 200, description = "the layers", body = Catalog)))]
pub(super) fn catalog() {}

#[utoipa::path(get, path = "/catalog/{id}", tag = "maps",
    summary = "One layer",
    params(("id" = String, Path, description = "layer id, `[a-z0-9_]+`", example = "unit_grids")),
    responses((status = 200, description = "the layer", body = LayerMeta)))]
pub(super) fn catalog_layer() {}

#[utoipa::path(get, path = "/tiles/{ids}", tag = "maps",
    summary = "TileJSON 3.0.0 of one or more comma-separated layers: `/tiles/{ids}.json`",
    params(("ids" = String, Path, description = "`a,b,c.json`: layer ids and `.json`", example = "unit_grids,cases.json"), KeyQuery),
    responses((status = 200, description = "TileJSON", body = Value)))]
pub(super) fn tilejson() {}

#[utoipa::path(get, path = "/tiles/{ids}/{z}/{x}/{y}", tag = "maps",
    summary = "A tile: MVT of the comma-separated vector layers, or a raster tile",
    params(
        ("ids" = String, Path, description = "comma-separated layer ids", example = "unit_grids"),
        ("z" = u32, Path, description = "zoom", maximum = 24, example = 14),
        ("x" = u32, Path, description = "column", example = 9326),
        ("y" = String, Path, description = "row, with an optional extension: `.mvt`, `.pbf`, `.png`, `.jpg`, `.webp`", example = "4743.mvt"),
    ),
    responses(
        (status = 200, description = "the tile", content(
            (Binary = "application/vnd.mapbox-vector-tile"),
            (Binary = "image/png"),
            (Binary = "image/jpeg"),
            (Binary = "image/webp"))),
        (status = 204, description = "no feature in the tile"),
        (status = 304, description = "not modified (If-None-Match)"),
    ))]
pub(super) fn tile() {}

#[utoipa::path(get, path = "/styles/{name}", tag = "maps",
    summary = "A MapLibre style showing every layer: `/styles/default.json`",
    params(("name" = String, Path, description = "`default.json`", example = "default.json"), StyleQuery),
    responses((status = 200, description = "MapLibre style (glyphs and sprite served by this service)", body = Value),
        (status = 400, description = "lang is not zh or en")))]
pub(super) fn style() {}

#[utoipa::path(get, path = "/fonts/{fontstack}/{range}", tag = "maps",
    summary = "Map glyphs (MapLibre glyph protocol): 256 SDF glyphs of a fontstack, made from the installed fonts",
    params(
        ("fontstack" = String, Path, description = "one or more font names, comma-separated (a code point comes from the first that has it; Noto Sans faces fall back to Noto Sans CJK SC)", example = "Noto Sans Regular"),
        ("range" = String, Path, description = "`{start}-{end}.pbf`: start a multiple of 256, end = start + 255 ≤ 65535", example = "0-255.pbf"),
    ),
    responses(
        (status = 200, description = "glyphs (protobuf; Cache-Control immutable)", content((Binary = "application/x-protobuf"))),
        (status = 400, description = "malformed range"),
        (status = 404, description = "a font of the stack is not installed"),
    ))]
pub(super) fn glyphs() {}

#[utoipa::path(get, path = "/sprites/{file}", tag = "maps",
    summary = "Map icons (MapLibre sprite): `default.json`, `default.png`, `default@2x.json`, `default@2x.png`",
    params(("file" = String, Path, description = "the sprite's index or sheet, at 1x or 2x", example = "default.json")),
    responses(
        (status = 200, description = "index (JSON) or sheet (PNG)", content((Value = "application/json"), (Binary = "image/png"))),
        (status = 404, description = "no such sprite file"),
    ))]
pub(super) fn sprites() {}

// ---- accounts -----------------------------------------------------------------

#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    summary = "Sign in: a bearer token",
    request_body = Login,
    responses((status = 200, description = "the token", body = LoginAnswer)))]
pub(super) fn login() {}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    summary = "Revoke the token of this request",
    responses((status = 204, description = "signed out")))]
pub(super) fn logout() {}

#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    summary = "Who is signed in",
    responses((status = 200, description = "the user", body = Me)))]
pub(super) fn me() {}

#[utoipa::path(get, path = "/api/routes", tag = "system",
    summary = "The route table with each route's access policy",
    responses((status = 200, description = "the routes", body = RouteList)))]
pub(super) fn routes() {}

#[utoipa::path(get, path = "/api/home", tag = "maps",
    summary = "The city's home view: where the pages and the default style open",
    description = "The configured box (`home_bbox`) or centre and zoom, else the bounds of the administrative divisions (then unit grids, streets, communities), else of the largest vector layer; never the union of every layer.",
    responses((status = 200, description = "centre, zoom, box and where they came from, and the city's time zone (`timezone`) the pages show dates in", body = crate::home::HomeAnswer)))]
pub(super) fn home() {}

#[utoipa::path(get, path = "/api/search", tag = "maps",
    summary = "Search the layers in memory by name or code, grouped by kind",
    description = "Case-, accent- and width-insensitive (full-width digits, traditional characters); ranked exact > prefix > word prefix > contains; a road's segments are one hit with the whole road's box. An API key finds only its layers; cases only for signed-in users who may see them.",
    params(crate::search::SearchQuery),
    responses((status = 200, description = "the hits by kind", body = crate::search::SearchAnswer),
        (status = 400, description = "q missing or longer than 100 characters, limit outside 1–100")))]
pub(super) fn search() {}

#[utoipa::path(get, path = "/api/geocode", tag = "maps",
    summary = "Forward geocoding: an address to ranked candidate places",
    description = "Normalised (full-/half-width, 號/号, spaces, case, abbreviations) and parsed (Chinese division prefix, road, number, building, unit; Western `road number, city`), matched exactly, then fuzzily, then by interpolation along the road; each candidate with its score, the level matched (house, interpolated, road, community, division), the point and the unit grid / community / street there. Answered from memory. Public like the map's layers.",
    params(crate::geocode::GeocodeQuery),
    responses((status = 200, description = "the parsed query and the candidates, best first; `confident` when the best is one sure place", body = crate::geocode::GeocodeAnswer),
        (status = 400, description = "q missing, longer than 200 characters or with control characters; limit outside 1–20")))]
pub(super) fn geocode() {}

#[utoipa::path(get, path = "/api/reverse", tag = "maps",
    summary = "Reverse geocoding: the nearest address and road, and the areas at a point",
    description = "`lon`/`lat` are the x/y of the point in `crs` (default CRS84; EPSG:4490, EPSG:3857, CGCS2000 Gauss-Krüger EPSG:4513–4554, gcj02, bd09). Answered from memory. Public like the map's layers.",
    params(crate::geocode::ReverseQuery),
    responses((status = 200, description = "nearest address and road within `max_distance` metres with their distances, the unit grid / community / street / division holding the point, and a label for \"near …\"", body = crate::geocode::ReverseAnswer),
        (status = 400, description = "lon or lat missing or not a number, the point outside ±180°/±90° after the crs, an unknown crs, max_distance outside 0–5000")))]
pub(super) fn reverse_geocode() {}

#[utoipa::path(put, path = "/api/admin/layers/{layer}/titles", tag = "maps",
    summary = "Set a layer's title and field names in Chinese and English",
    params(("layer" = String, Path, description = "layer id", example = "osm_roads")),
    request_body = citygrid_store::layer_titles::TitlesChange,
    responses((status = 200, description = "the layer's titles", body = citygrid_store::layer_titles::LayerTitles),
        (status = 404, description = "no such layer"),
        (status = 422, description = "an unknown field, a language other than zh/en, a title too long")))]
pub(super) fn layer_titles() {}

// ---- pages --------------------------------------------------------------------

#[utoipa::path(get, path = "/", tag = "pages", summary = "The map viewer (HTML)",
    responses((status = 200, description = "page", content(("text/html; charset=utf-8")))))]
pub(super) fn page_index() {}

#[utoipa::path(get, path = "/inspector", tag = "pages", summary = "The inspector's phone page (HTML)",
    responses((status = 200, description = "page", content(("text/html; charset=utf-8")))))]
pub(super) fn page_inspector() {}

#[utoipa::path(get, path = "/inspector/sw.js", tag = "pages",
    summary = "The inspector page's service worker (JavaScript; offline page, data and map)",
    responses((status = 200, description = "script", content(("text/javascript; charset=utf-8")))))]
pub(super) fn page_inspector_worker() {}

#[utoipa::path(get, path = "/inspector/manifest.webmanifest", tag = "pages",
    summary = "The inspector page's web app manifest (installable)",
    responses((status = 200, description = "manifest", content(("application/manifest+json")))))]
pub(super) fn page_inspector_manifest() {}

#[utoipa::path(get, path = "/console", tag = "pages", summary = "The case centre (HTML)",
    responses((status = 200, description = "page", content(("text/html; charset=utf-8")))))]
pub(super) fn page_console() {}

#[utoipa::path(get, path = "/bigscreen", tag = "pages", summary = "The supervision hall's big screen (HTML): today's figures, open cases on the map, live",
    responses((status = 200, description = "page", content(("text/html; charset=utf-8")))))]
pub(super) fn page_bigscreen() {}

#[utoipa::path(get, path = "/embed", tag = "pages", summary = "How a department embeds a map (HTML)",
    responses((status = 200, description = "page", content(("text/html; charset=utf-8")))))]
pub(super) fn page_embed() {}

#[utoipa::path(get, path = "/embed/map", tag = "pages",
    summary = "The frameable map of an API key (HTML; `?key=` is the key)",
    params(EmbedQuery),
    responses(
        (status = 200, description = "page", content(("text/html; charset=utf-8"))),
        (status = "4XX", description = "a page saying why the map cannot be shown (bad layers, key or origin), or a JSON error",
            content(("text/html; charset=utf-8"), (Error = "application/json"))),
    ))]
pub(super) fn page_embed_map() {}

#[utoipa::path(get, path = "/assets/{path}", tag = "pages",
    summary = "A static asset of the pages (scripts, styles, fonts, sprites)",
    params(("path" = String, Path, description = "the asset's path under web/dist/assets")),
    responses(
        (status = 200, description = "the file", content(
            ("application/javascript"), ("text/css"), ("application/json"), ("image/png"),
            ("image/svg+xml"), ("application/x-protobuf"), ("application/octet-stream"))),
        (status = 304, description = "not modified"),
    ))]
pub(super) fn asset() {}

// ---- grid management -----------------------------------------------------------

#[utoipa::path(get, path = "/api/locate", tag = "cases",
    summary = "The unit grid, community, street and admin division of a point",
    params(LocateQuery),
    responses((status = 200, description = "where the point is", body = Value)))]
pub(super) fn locate() {}

#[utoipa::path(post, path = "/api/cases", tag = "cases",
    summary = "Report a case (located, linked, routed, with deadlines); exactly once with an `Idempotency-Key`",
    params(("Idempotency-Key" = Option<String>, Header, description = "1–200 printable ASCII characters (a UUID), per signed-in user, kept 7 days: the same key with the same body answers the first response again (header `Idempotent-Replayed: true`), with another body 422")),
    request_body = NewCase,
    responses(
        (status = 201, description = "the new case (or, replayed, the case the key created)", body = Value),
        (status = 400, description = "bad body or bad Idempotency-Key", body = Value),
        (status = 422, description = "refused (outside every grid, unknown category…), or the Idempotency-Key was used for a different request", body = Value)))]
pub(super) fn create_case() {}

#[utoipa::path(get, path = "/api/cases", tag = "cases",
    summary = "Cases the caller may see: search (`q`), filters, sorting, paging with the total",
    params(ListQuery),
    responses(
        (status = 200, description = "`{cases, total, limit, offset}`: a page of cases and how many match in all", body = Value),
        (status = 400, description = "a bad parameter (the message names it)", body = Value)))]
pub(super) fn list_cases() {}

#[utoipa::path(get, path = "/api/cases/events", tag = "cases",
    summary = "The live queue: Server-Sent Events of new and changed cases the caller may see",
    description = "`text/event-stream`. Events: `ready` (the stream is open), `case` (data `{\"kind\": \"new\" | \"changed\", \"case\": {…as in the list}}`), `resync` (notices were missed: reload the list), `end` (the session ended; the stream closes). A comment line every 15 s keeps the connection open. At most 4 streams per user (429 beyond).",
    responses(
        (status = 200, description = "the event stream", content(("text/event-stream"))),
        (status = 429, description = "too many open streams", body = Value)))]
pub(super) fn case_events() {}

#[utoipa::path(get, path = "/api/cases/{id}", tag = "cases",
    summary = "One case with its timeline and the actions the caller may take",
    params(("id" = String, Path, description = "case number or id")),
    responses((status = 200, description = "the case", body = Value)))]
pub(super) fn one_case() {}

#[utoipa::path(post, path = "/api/cases/{id}/actions", tag = "cases",
    summary = "One workflow step (403 and nothing changes when the role may not)",
    params(("id" = String, Path, description = "case number or id")),
    request_body = ActionBody,
    responses((status = 200, description = "the case after the step", body = Value)))]
pub(super) fn case_action() {}

#[utoipa::path(post, path = "/api/cases/{id}/photos", tag = "cases",
    summary = "Attach a photo of a workflow stage (JPEG, PNG or WebP; raw body or the first file of a multipart form): the reporter and acceptors add report photos at any time, the case's department feedback photos while it has the case, the checking inspector check photos; exactly once with an `Idempotency-Key`",
    params(("id" = String, Path, description = "case number or id"),
        ("stage" = Option<String>, Query, description = "`report`, `feedback` or `check` (default: a department's photo is feedback, the checking inspector's during the check is check, others report)"),
        ("Idempotency-Key" = Option<String>, Header, description = "as for POST /api/cases; the request is the photo's bytes and the stage asked for")),
    request_body(content(
        (Binary = "image/jpeg"), (Binary = "image/png"), (Binary = "image/webp"),
        (Binary = "multipart/form-data"))),
    responses(
        (status = 201, description = "the stored photo (id, case_id, content_type, size_bytes, stage, url)", body = Value),
        (status = 403, description = "this caller may not add photos of this stage to this case", body = Value),
        (status = 409, description = "not in this state (feedback: dispatched…handled; check: checking, checked)", body = Value),
        (status = 422, description = "not a picture, or the Idempotency-Key was used for a different request", body = Value)))]
pub(super) fn upload_photo() {}

#[utoipa::path(get, path = "/api/photos/{id}", tag = "cases",
    summary = "A photo",
    params(("id" = i64, Path, description = "photo id")),
    responses((status = 200, description = "the image", content(
        (Binary = "image/jpeg"), (Binary = "image/png"), (Binary = "image/webp")))))]
pub(super) fn photo() {}

#[utoipa::path(get, path = "/api/stats/evaluation", tag = "cases",
    summary = "Evaluation figures over a period, by department, grid, community, street or person",
    params(EvalQuery),
    responses((status = 200, description = "the figures (format=json), or the table as a download (csv, xlsx)",
        content((Value = "application/json"), (String = "text/csv"),
                (Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))))]
pub(super) fn evaluation() {}

#[utoipa::path(get, path = "/api/stats/live", tag = "cases",
    summary = "The supervision hall's figures at a glance (the big screen)",
    description = "Today (the city's time zone) by the service's clock: cases reported (and by source), open, overdue, closed and closed on time. For shift leaders, acceptors, dispatchers and admins.",
    responses((status = 200, description = "the figures", content((Value = "application/json")))))]
pub(super) fn live_figures() {}

#[utoipa::path(get, path = "/api/holidays", tag = "reference",
    summary = "The imported public-holiday arrangements and the years missing one",
    responses((status = 200, description = "arrangements, missing years, today and the time zone", body = Value)))]
pub(super) fn list_holidays() {}

#[utoipa::path(get, path = "/api/holidays/{year}", tag = "reference",
    summary = "A year's statutory holidays, its arrangement and the days off and make-up days deadlines use",
    params(("year" = i32, Path, description = "the year (1950–2199)")),
    responses((status = 200, description = "the year", body = Value)))]
pub(super) fn one_holidays() {}

#[utoipa::path(put, path = "/api/holidays/{year}", tag = "reference",
    summary = "Import a year's public-holiday arrangement (JSON or CSV), replacing that year's",
    params(("year" = i32, Path, description = "the year (1950–2199)")),
    request_body(content((citygrid_grid_mgmt::holidays::ArrangementSpec = "application/json"), (String = "text/csv"))),
    responses(
        (status = 201, description = "imported", body = Value),
        (status = 200, description = "replaced", body = Value),
        (status = 422, description = "refused, with the reason", body = Error)))]
pub(super) fn put_holidays() {}

#[utoipa::path(delete, path = "/api/holidays/{year}", tag = "reference",
    summary = "Remove a year's arrangement (its statutory holidays apply)",
    params(("year" = i32, Path, description = "the year (1950–2199)")),
    responses((status = 204, description = "removed"), (status = 404, description = "none", body = Error)))]
pub(super) fn delete_holidays() {}

/// The four operations of a piece of reference data: list, create, read, patch.
macro_rules! reference_paths {
    ($tag:literal, $list:literal, $one:literal, $key:literal, $key_ty:ty, $new:ty, $params:ty,
     $l:ident, $c:ident, $o:ident, $p:ident, $what:literal) => {
        #[utoipa::path(get, path = $list, tag = $tag, summary = concat!("List ", $what),
            params($params),
            responses((status = 200, description = "a page", body = Value)))]
        pub(super) fn $l() {}

        #[utoipa::path(post, path = $list, tag = $tag, summary = concat!("Create one of ", $what),
            request_body = $new,
            responses((status = 201, description = "created", body = Value)))]
        pub(super) fn $c() {}

        #[utoipa::path(get, path = $one, tag = $tag, summary = concat!("One of ", $what),
            params(($key = $key_ty, Path)),
            responses((status = 200, description = "found", body = Value)))]
        pub(super) fn $o() {}

        #[utoipa::path(patch, path = $one, tag = $tag,
            summary = concat!("Change fields of one of ", $what, " (a JSON object of the fields to change)"),
            params(($key = $key_ty, Path)),
            request_body = Value,
            responses((status = 200, description = "changed", body = Value)))]
        pub(super) fn $p() {}
    };
}

reference_paths!(
    "reference",
    "/api/departments",
    "/api/departments/{code}",
    "code",
    String,
    NewDepartment,
    RefQuery,
    list_departments,
    create_department,
    one_department,
    patch_department,
    "the departments"
);
reference_paths!(
    "reference",
    "/api/categories",
    "/api/categories/{code}",
    "code",
    String,
    NewCategory,
    RefQuery,
    list_categories,
    create_category,
    one_category,
    patch_category,
    "the case categories"
);
reference_paths!(
    "reference",
    "/api/routing-rules",
    "/api/routing-rules/{id}",
    "id",
    String,
    NewRule,
    RefQuery,
    list_rules,
    create_rule,
    one_rule,
    patch_rule,
    "the routing rules"
);
reference_paths!(
    "reference",
    "/api/sla-rules",
    "/api/sla-rules/{id}",
    "id",
    i64,
    NewSla,
    RefQuery,
    list_sla,
    create_sla,
    one_sla,
    patch_sla,
    "the time limits"
);
reference_paths!(
    "reference",
    "/api/calendar",
    "/api/calendar/{code}",
    "code",
    String,
    NewCalendar,
    RefQuery,
    list_calendars,
    create_calendar,
    one_calendar,
    patch_calendar,
    "the working calendars"
);
reference_paths!(
    "places",
    "/api/grids",
    "/api/grids/{code}",
    "code",
    String,
    NewGrid,
    PlaceQuery,
    list_grids,
    create_grid,
    one_grid,
    patch_grid,
    "the unit grids"
);
reference_paths!(
    "places",
    "/api/components",
    "/api/components/{id}",
    "id",
    String,
    NewComponent,
    PlaceQuery,
    list_components,
    create_component,
    one_component,
    patch_component,
    "the city components"
);

// ---- Open311 GeoReport v2 -------------------------------------------------------

#[utoipa::path(get, path = "/open311/v2/{file}", tag = "open311",
    summary = "`discovery`, `services` or `requests`, as `.json` or `.xml`",
    params(("file" = String, Path, description = "`discovery.json`, `services.xml`, `requests.json`…", example = "services.json"), O311Query),
    responses(
        (status = 200, description = "the document", content((Value = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
        (status = "4XX", description = "Open311 errors", content((Open311ErrorAnswer = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
    ))]
pub(super) fn open311_top() {}

#[utoipa::path(post, path = "/open311/v2/{file}", tag = "open311",
    summary = "File a service request: `requests.json` or `requests.xml` (form with an `open311:write` key)",
    params(("file" = String, Path, description = "`requests.json` or `requests.xml`", example = "requests.json"),
        ("Idempotency-Key" = Option<String>, Header, description = "per API key, kept 7 days: the same form fields (any order) answer the first request's id and token again; other fields: 400")),
    request_body(content((Open311Form = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "the new request's id or token", content((Value = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
        (status = "4XX", description = "Open311 errors", content((Open311ErrorAnswer = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
    ))]
pub(super) fn open311_post() {}

#[utoipa::path(get, path = "/open311/v2/services/{file}", tag = "open311",
    summary = "One service definition: `services/{code}.json|xml`",
    params(("file" = String, Path, description = "`P0101.json`…", example = "E0101.json")),
    responses(
        (status = 200, description = "the definition", content((Value = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
        (status = "4XX", description = "Open311 errors", content((Open311ErrorAnswer = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
    ))]
pub(super) fn open311_service() {}

#[utoipa::path(get, path = "/open311/v2/requests/{file}", tag = "open311",
    summary = "One service request: `requests/{id}.json|xml`",
    params(("file" = String, Path, description = "`{id}.json` or `{id}.xml`"), O311Query),
    responses(
        (status = 200, description = "the request", content((Value = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
        (status = "4XX", description = "Open311 errors", content((Open311ErrorAnswer = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
    ))]
pub(super) fn open311_request() {}

#[utoipa::path(get, path = "/open311/v2/tokens/{file}", tag = "open311",
    summary = "The request id of a token: `tokens/{token}.json|xml`",
    params(("file" = String, Path, description = "`{token}.json` or `{token}.xml`")),
    responses(
        (status = 200, description = "the id", content((Value = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
        (status = "4XX", description = "Open311 errors", content((Open311ErrorAnswer = "application/json; charset=utf-8"), (String = "text/xml; charset=utf-8"))),
    ))]
pub(super) fn open311_token() {}

// ---- OGC API -------------------------------------------------------------------

#[utoipa::path(get, path = "/ogc", tag = "ogc", summary = "OGC API landing page",
    params(OgcFormat), responses((status = 200, description = "links", body = Value)))]
pub(super) fn ogc_landing() {}

#[utoipa::path(get, path = "/ogc/", tag = "ogc", summary = "OGC API landing page",
    params(OgcFormat), responses((status = 200, description = "links", body = Value)))]
pub(super) fn ogc_landing_slash() {}

#[utoipa::path(get, path = "/ogc/conformance", tag = "ogc", summary = "Conformance classes",
    params(OgcFormat), responses((status = 200, description = "conformsTo", body = Value)))]
pub(super) fn ogc_conformance() {}

#[utoipa::path(get, path = "/ogc/api", tag = "ogc",
    summary = "The OGC API's own OpenAPI 3.0 document (with a path per collection, for OGC clients)",
    params(OgcFormat),
    responses((status = 200, description = "OpenAPI 3.0", content((Value = "application/vnd.oai.openapi+json;version=3.0")))))]
pub(super) fn ogc_api() {}

#[utoipa::path(get, path = "/ogc/collections", tag = "ogc", summary = "The collections the caller may read",
    params(OgcFormat), responses((status = 200, description = "collections", body = Value)))]
pub(super) fn ogc_collections() {}

#[utoipa::path(get, path = "/ogc/collections/{id}", tag = "ogc", summary = "One collection",
    params(("id" = String, Path, description = "collection id, `[a-z0-9_]+`", example = "unit_grids"), OgcFormat),
    responses((status = 200, description = "the collection", body = Value)))]
pub(super) fn ogc_collection() {}

#[utoipa::path(get, path = "/ogc/collections/{id}/queryables", tag = "ogc",
    summary = "The queryable properties (JSON Schema)",
    params(("id" = String, Path, description = "collection id", example = "unit_grids"), OgcFormat),
    responses((status = 200, description = "JSON Schema", content((Value = "application/schema+json")))))]
pub(super) fn ogc_queryables() {}

#[utoipa::path(get, path = "/ogc/collections/{id}/items", tag = "ogc",
    summary = "Features (GeoJSON); any queryable may also be given as name=value",
    params(("id" = String, Path, description = "collection id", example = "unit_grids"), OgcItemsParams),
    responses((status = 200, description = "a FeatureCollection", content((FeatureCollection = "application/geo+json")))))]
pub(super) fn ogc_items() {}

#[utoipa::path(get, path = "/ogc/collections/{id}/items/{fid}", tag = "ogc", summary = "One feature (GeoJSON)",
    params(("id" = String, Path, description = "collection id", example = "unit_grids"), ("fid" = i64, Path, description = "feature id"), OgcItemParams),
    responses((status = 200, description = "a Feature", content((Value = "application/geo+json")))))]
pub(super) fn ogc_item() {}

#[utoipa::path(post, path = "/ogc/collections/{id}/items", tag = "ogc",
    summary = "Add a feature (OGC API – Features – Part 4): administrators and department staff, on imported layers",
    params(("id" = String, Path, description = "collection id", example = "parks"),
        ("Content-Crs" = Option<String>, Header, description = "the CRS of the geometry, `<URI>` (default CRS84; EPSG:4326, 4490, 3857, 4513–4554, gcj02, bd09)")),
    request_body(content((Value = "application/geo+json"), (Value = "application/json")), description = "a GeoJSON Feature whose properties are fields of the layer"),
    responses(
        (status = 201, description = "the feature as stored; `Location` and `ETag` name it", content((Value = "application/geo+json"))),
        (status = 400, description = "bad geometry (wrong type, invalid: ST_IsValidReason), unknown property (the fields listed), wrong type, unknown CRS", body = Value),
        (status = 405, description = "a layer citygrid maintains itself (cases, grids…)", body = Value),
        (status = 415, description = "not GeoJSON", body = Value)))]
pub(super) fn ogc_create() {}

#[utoipa::path(put, path = "/ogc/collections/{id}/items/{fid}", tag = "ogc",
    summary = "Replace a feature whole (Part 4); `If-Match` with its ETag required",
    params(("id" = String, Path, description = "collection id", example = "parks"), ("fid" = i64, Path, description = "feature id"),
        ("If-Match" = String, Header, description = "the feature's ETag from GET …/items/{fid}"),
        ("Content-Crs" = Option<String>, Header, description = "the CRS of the geometry, `<URI>`")),
    request_body(content((Value = "application/geo+json"), (Value = "application/json"))),
    responses(
        (status = 200, description = "the feature as stored (new ETag)", content((Value = "application/geo+json"))),
        (status = 412, description = "the feature changed since it was read", body = Value),
        (status = 428, description = "no If-Match", body = Value)))]
pub(super) fn ogc_replace() {}

#[utoipa::path(patch, path = "/ogc/collections/{id}/items/{fid}", tag = "ogc",
    summary = "Change a feature by a JSON merge patch of `geometry` and `properties` (Part 4); `If-Match` required",
    params(("id" = String, Path, description = "collection id", example = "parks"), ("fid" = i64, Path, description = "feature id"),
        ("If-Match" = String, Header, description = "the feature's ETag"),
        ("Content-Crs" = Option<String>, Header, description = "the CRS of a geometry in the patch, `<URI>`")),
    request_body(content((Value = "application/merge-patch+json"), (Value = "application/geo+json"), (Value = "application/json"))),
    responses(
        (status = 200, description = "the feature as stored (new ETag)", content((Value = "application/geo+json"))),
        (status = 412, description = "the feature changed since it was read", body = Value),
        (status = 428, description = "no If-Match", body = Value)))]
pub(super) fn ogc_update() {}

#[utoipa::path(delete, path = "/ogc/collections/{id}/items/{fid}", tag = "ogc",
    summary = "Delete a feature (Part 4); `If-Match` required",
    params(("id" = String, Path, description = "collection id", example = "parks"), ("fid" = i64, Path, description = "feature id"),
        ("If-Match" = String, Header, description = "the feature's ETag")),
    responses(
        (status = 204, description = "deleted"),
        (status = 412, description = "the feature changed since it was read", body = Value),
        (status = 428, description = "no If-Match", body = Value)))]
pub(super) fn ogc_delete() {}

#[utoipa::path(get, path = "/ogc/collections/{id}/items/{fid}/history", tag = "ogc",
    summary = "A feature's edits, oldest first: version, op, actor, at, before and after (GeoJSON); editors of the layer",
    params(("id" = String, Path, description = "collection id", example = "parks"), ("fid" = i64, Path, description = "feature id")),
    responses((status = 200, description = "`{collection, id, versions, links}`", body = Value),
        (status = 404, description = "no recorded edits", body = Value)))]
pub(super) fn ogc_history() {}

#[utoipa::path(post, path = "/ogc/collections/{id}/items/{fid}/history/{version}/restore", tag = "ogc",
    summary = "Write the feature back as edit `version` left it (recorded as an edit; re-creates a deleted feature)",
    params(("id" = String, Path, description = "collection id", example = "parks"), ("fid" = i64, Path, description = "feature id"),
        ("version" = i32, Path, description = "the edit's version"),
        ("If-Match" = Option<String>, Header, description = "if sent, the current feature's ETag")),
    responses((status = 200, description = "the feature as stored", content((Value = "application/geo+json"))),
        (status = 400, description = "that version deleted the feature, or no longer fits the layer", body = Value),
        (status = 412, description = "If-Match does not match", body = Value)))]
pub(super) fn ogc_restore() {}

#[utoipa::path(get, path = "/ogc/tileMatrixSets", tag = "ogc", summary = "Tile matrix sets",
    params(OgcFormat), responses((status = 200, description = "the list", body = Value)))]
pub(super) fn ogc_matrix_sets() {}

#[utoipa::path(get, path = "/ogc/tileMatrixSets/{tms}", tag = "ogc", summary = "One tile matrix set (TMS 2.0 JSON)",
    params(("tms" = String, Path, description = "`WebMercatorQuad`, `WorldCRS84Quad` or `CGCS2000Quad`", example = "WebMercatorQuad"), OgcFormat),
    responses((status = 200, description = "the tile matrix set", body = Value)))]
pub(super) fn ogc_matrix_set() {}

#[utoipa::path(get, path = "/ogc/collections/{id}/tiles", tag = "ogc", summary = "Tilesets of a collection",
    params(("id" = String, Path, description = "collection id", example = "unit_grids"), OgcFormat),
    responses((status = 200, description = "tilesets", body = Value)))]
pub(super) fn ogc_tilesets() {}

#[utoipa::path(get, path = "/ogc/collections/{id}/tiles/{tms}", tag = "ogc", summary = "Tileset metadata",
    params(("id" = String, Path, description = "collection id", example = "unit_grids"), ("tms" = String, Path, description = "`WebMercatorQuad`, `WorldCRS84Quad` or `CGCS2000Quad`", example = "WebMercatorQuad"), OgcFormat),
    responses((status = 200, description = "tileset", body = Value)))]
pub(super) fn ogc_tileset() {}

#[utoipa::path(get, path = "/ogc/collections/{id}/tiles/{tms}/{z}/{y}/{x}", tag = "ogc",
    summary = "A vector tile (MVT); note the `{z}/{y}/{x}` order",
    params(
        ("id" = String, Path, description = "collection id", example = "unit_grids"),
        ("tms" = String, Path, description = "`WebMercatorQuad`, `WorldCRS84Quad` or `CGCS2000Quad`", example = "WebMercatorQuad"),
        ("z" = u32, Path, description = "tile matrix (zoom)", maximum = 24),
        ("y" = u32, Path, description = "tile row"),
        ("x" = u32, Path, description = "tile column"),
        OgcFormat,
    ),
    responses(
        (status = 200, description = "the tile", content((Binary = "application/vnd.mapbox-vector-tile"))),
        (status = 204, description = "no feature in the tile"),
        (status = 304, description = "not modified"),
    ))]
pub(super) fn ogc_tile() {}

#[utoipa::path(get, path = "/wmts", tag = "wmts",
    summary = "OGC WMTS 1.0.0 KVP: GetCapabilities, GetTile (parameter names in any case)",
    params(
        ("SERVICE" = String, Query, description = "`WMTS`"),
        ("REQUEST" = String, Query, description = "`GetCapabilities` or `GetTile`"),
        ("LAYER" = Option<String>, Query, description = "GetTile: layer id"),
        ("STYLE" = Option<String>, Query, description = "GetTile: `default`"),
        ("FORMAT" = Option<String>, Query, description = "GetTile: `image/png`, `image/jpeg`, `image/webp` or `application/vnd.mapbox-vector-tile` (the layer's)"),
        ("TILEMATRIXSET" = Option<String>, Query, description = "GetTile: `WebMercatorQuad`, `WorldCRS84Quad` or `CGCS2000Quad`"),
        ("TILEMATRIX" = Option<String>, Query, description = "GetTile: level"),
        ("TILEROW" = Option<u32>, Query, description = "GetTile: row"),
        ("TILECOL" = Option<u32>, Query, description = "GetTile: column"),
    ),
    responses(
        (status = 200, description = "capabilities (XML) or the tile", content(("application/xml"), (Binary = "image/png"), (Binary = "image/jpeg"), (Binary = "image/webp"), (Binary = "application/vnd.mapbox-vector-tile"))),
        (status = 204, description = "no data in the tile"),
        (status = 400, description = "OWS ExceptionReport: MissingParameterValue, InvalidParameterValue or TileOutOfRange", content(("application/xml"))),
        (status = 501, description = "OWS ExceptionReport: OperationNotSupported", content(("application/xml"))),
    ))]
pub(super) fn wmts_kvp() {}

#[utoipa::path(get, path = "/wmts/1.0.0/WMTSCapabilities.xml", tag = "wmts",
    summary = "OGC WMTS 1.0.0 capabilities (RESTful): the layers the caller may read, the three tile matrix sets",
    responses((status = 200, description = "capabilities", content(("application/xml")))))]
pub(super) fn wmts_capabilities() {}

#[utoipa::path(get, path = "/wmts/{layer}/{style}/{tms}/{matrix}/{row}/{col}", tag = "wmts",
    summary = "OGC WMTS 1.0.0 GetTile (RESTful); `{col}` carries the format suffix (`.png`, `.jpg`, `.webp`, `.mvt`)",
    params(
        ("layer" = String, Path, description = "layer id"),
        ("style" = String, Path, description = "`default`"),
        ("tms" = String, Path, description = "`WebMercatorQuad`, `WorldCRS84Quad` or `CGCS2000Quad`"),
        ("matrix" = u32, Path, description = "tile matrix (level)"),
        ("row" = u32, Path, description = "tile row"),
        ("col" = String, Path, description = "tile column and format suffix", example = "843.png"),
    ),
    responses(
        (status = 200, description = "the tile", content((Binary = "image/png"), (Binary = "image/jpeg"), (Binary = "image/webp"), (Binary = "application/vnd.mapbox-vector-tile"))),
        (status = 204, description = "no data in the tile"),
        (status = 400, description = "OWS ExceptionReport", content(("application/xml"))),
    ))]
pub(super) fn wmts_tile() {}

#[utoipa::path(get, path = "/wmts-demo", tag = "pages", summary = "The WMTS sample page (HTML): an OpenLayers map in EPSG:4490 from the WMTS capabilities",
    responses((status = 200, description = "page", content(("text/html; charset=utf-8")))))]
pub(super) fn page_wmts_demo() {}

// ---- spatial queries -----------------------------------------------------------

#[utoipa::path(get, path = "/api/nearest", tag = "query",
    summary = "The k nearest features of a layer with geodesic distances in metres",
    params(NearestParams),
    responses((status = 200, description = "the features", body = Value)))]
pub(super) fn nearest() {}

#[utoipa::path(post, path = "/api/query", tag = "query",
    summary = "Counts, lengths (m) and areas (m², on the ellipsoid) per layer inside a geometry",
    request_body = SpatialQuery,
    responses((status = 200, description = "the figures per layer", body = Value)))]
pub(super) fn spatial_query() {}

// ---- layer administration -------------------------------------------------------

#[utoipa::path(get, path = "/api/admin/layers/{layer}/tile-properties", tag = "maps",
    summary = "A vector layer's tile schema: which properties its tiles carry, from which zoom, and from which zoom features appear",
    params(("layer" = String, Path, description = "layer id", example = "osm_roads")),
    responses((status = 200, description = "the schema in force", body = LayerTileProperties)))]
pub(super) fn get_tile_properties() {}

#[utoipa::path(put, path = "/api/admin/layers/{layer}/tile-properties", tag = "maps",
    summary = "Set a vector layer's tile schema (or `null`: back to the default rule); every server drops the layer's cached tiles",
    params(("layer" = String, Path, description = "layer id", example = "osm_roads")),
    request_body(content = Option<TileProperties>, description = "the new schema, or null"),
    responses(
        (status = 200, description = "stored; the schema in force", body = LayerTileProperties),
        (status = 409, description = "a raster layer"),
        (status = 422, description = "not a tile schema, a zoom over 24, or a field the layer does not have (the message lists its fields)", body = Error),
    ))]
pub(super) fn put_tile_properties() {}

#[utoipa::path(get, path = "/api/admin/layers", tag = "maps",
    summary = "Every layer with its owner and access",
    description = "`{\"layers\": [{\"id\", \"title\", \"kind\", \"feature_count\", \"version\", \"access\": {\"owner\" (null: the platform's), \"read\" (the policy in force), \"read_set\" (null: the server's default), \"edit\"}}]}`",
    responses((status = 200, description = "the layers", body = Value)))]
pub(super) fn admin_layers() {}

#[utoipa::path(put, path = "/api/admin/layers/{layer}/access", tag = "maps",
    summary = "Set who may read and edit a layer, and its owning department; every server applies it at once",
    description = "Body `{\"read\", \"edit\", \"owner\"}`, each optional: `read` is `public`, `users`, `departments:A,B`, `roles:R,S`, `admins` or terms joined by `;` (`default` or null: the server's default); `edit` is `departments:A,B` or a list of department codes; `owner` a department code or null. Departments must exist.",
    params(("layer" = String, Path, description = "layer id", example = "osm_roads")),
    request_body(content = Value, description = "the change"),
    responses(
        (status = 200, description = "stored: `{\"layer\", \"access\"}`", body = Value),
        (status = 404, description = "no such layer", body = Error),
        (status = 422, description = "a policy that does not parse, an unknown role or department (the message lists the departments), an unknown field, nothing to change", body = Error),
    ))]
pub(super) fn admin_layer_access() {}

#[utoipa::path(put, path = "/api/admin/layers/{layer}/serve-from", tag = "maps",
    summary = "Serve a vector layer's tiles from memory or from the database (PostGIS ST_AsMVT); every server applies it at once",
    description = "Body `{\"serve_from\": \"memory\"}` (the default: loaded into every server's memory) or `{\"serve_from\": \"database\"}` (not loaded: each tile is made by PostGIS on a standby when one is configured, behind the tile cache; the layer then has tiles only, its features, queries and OGC items answer 409).",
    params(("layer" = String, Path, description = "layer id", example = "osm_buildings")),
    request_body(content = Value, description = "`{\"serve_from\": \"memory\" | \"database\"}`"),
    responses(
        (status = 200, description = "stored: `{\"layer\", \"serve_from\"}`", body = Value),
        (status = 404, description = "no such layer", body = Error),
        (status = 409, description = "a raster layer (its tiles are always read from the database)", body = Error),
        (status = 422, description = "another body or value", body = Error),
    ))]
pub(super) fn admin_layer_serve_from() {}

#[utoipa::path(delete, path = "/api/admin/layers/{layer}", tag = "maps",
    summary = "Delete a layer: its table, its catalogue row, and on every server its index and cached tiles",
    params(("layer" = String, Path, description = "layer id", example = "osm_roads")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such layer", body = Error),
        (status = 409, description = "a layer of grid management", body = Error),
    ))]
pub(super) fn admin_layer_delete() {}
