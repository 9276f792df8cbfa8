//! Types that exist only to describe HTTP messages whose handlers build their JSON or
//! read their parameters by hand (answers assembled with `json!`, OGC and nearest
//! parameters read as a list of pairs so unknown ones can be refused). The request
//! bodies and query structs the handlers deserialise carry their own `ToSchema` /
//! `IntoParams` derives next to their definitions.

use serde_json::Value;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::catalog::LayerMeta;
use crate::router::RouteEntry;

/// Binary content (tiles, photos, images).
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

/// Every error of the service (except Open311's own format): what to fix, and details.
#[derive(ToSchema, serde::Deserialize)]
#[allow(dead_code)]
pub struct Error {
    /// What went wrong, in words a caller can act on (English).
    pub error: String,
    /// The same in Chinese (the pages show the reader's language).
    pub error_zh: String,
    /// Details (the limit that was passed, the field, …) or null.
    pub detail: Value,
}

/// One Open311 error (the answer is a list of them, in JSON or XML).
#[derive(ToSchema, serde::Deserialize)]
#[allow(dead_code)]
pub struct Open311Error {
    /// The HTTP status.
    pub code: u16,
    /// What went wrong.
    pub description: String,
}

/// An error of an Open311 route: the GeoReport list, or `{"error", "detail"}` when
/// the request was refused before it reached Open311 (a NUL in the URL, a body over
/// the limit, the rate limit).
#[derive(ToSchema, serde::Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Open311ErrorAnswer {
    /// GeoReport v2 errors.
    List(Vec<Open311Error>),
    /// Refused by the service's common checks.
    Service(Error),
}

/// `GET /health`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// `ok`, or `degraded` while PostGIS is away (reads from memory, writes 503).
    #[schema(pattern = "^(ok|degraded)$")]
    pub status: String,
    /// `ok` or `down`.
    #[schema(pattern = "^(ok|down)$")]
    pub db: String,
    /// When the database was last observed (RFC 3339), null before the first check.
    pub db_checked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Layers in the catalogue.
    pub layers: u64,
    /// The service's version.
    pub version: String,
}

/// `GET /catalog`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Catalog {
    /// Every layer the caller may read.
    pub layers: Vec<LayerMeta>,
}

/// `GET /api/routes`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RouteList {
    /// Every route with who may call it.
    pub routes: Vec<RouteEntry>,
}

/// `POST /api/auth/login`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginAnswer {
    /// The bearer token (`Authorization: Bearer …`); only its hash is stored.
    pub token: String,
    /// `Bearer`.
    pub token_type: String,
    /// The user's role.
    pub role: String,
    /// The user name.
    pub username: String,
    /// The user's department, if any.
    pub department: Option<String>,
    /// When the token expires (RFC 3339).
    pub expires_at: String,
}

/// `GET /api/auth/me`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Me {
    /// User id.
    pub id: i64,
    /// User name.
    pub username: String,
    /// Role.
    pub role: String,
    /// Department, if any.
    pub department: Option<String>,
}

/// The relation of `POST /api/query`.
#[derive(ToSchema, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SpatialOp {
    /// Features that intersect the geometry.
    Intersects,
    /// Features entirely within the geometry.
    Within,
}

/// Body of `POST /api/query` (read field by field by `query::area`; unknown fields are refused).
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SpatialQuery {
    /// A GeoJSON geometry (Polygon, MultiPolygon, LineString, Point…) in `crs`.
    pub geometry: Value,
    /// The layers to measure.
    pub layers: Vec<String>,
    /// `intersects` (default) or `within`.
    pub op: Option<SpatialOp>,
    /// The CRS of the geometry (`EPSG:4326` default, `EPSG:4547`…).
    pub crs: Option<String>,
    /// Features listed per layer when `include_features` (bounded).
    pub limit: Option<u32>,
    /// Whether to list the matching features.
    pub include_features: Option<bool>,
}

/// Parameters of `GET /api/nearest` (read as pairs; unknown ones are refused).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct NearestParams {
    /// The layer.
    pub layer: String,
    /// Longitude (or x in `crs`).
    pub lon: f64,
    /// Latitude (or y in `crs`).
    pub lat: f64,
    /// How many features (default 5).
    pub k: Option<u32>,
    /// Search radius in metres.
    pub max_distance_m: Option<f64>,
    /// The CRS of lon/lat and of the answer's geometries.
    pub crs: Option<String>,
}

/// The `f` parameter of the OGC API: JSON only.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OgcFormat {
    /// `json` or `geojson` (the only formats offered; anything else is 400).
    #[param(pattern = "json")]
    pub f: Option<String>,
}

/// Parameters of `GET /ogc/collections/{id}/items`; any queryable may also be given as
/// `name=value` (equality).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OgcItemsParams {
    /// `json` or `geojson`.
    #[param(pattern = "json")]
    pub f: Option<String>,
    /// Page size: default 100, at most 10000 (larger values are clamped, not an error).
    pub limit: Option<u64>,
    /// Features to skip (see the next/prev links).
    pub offset: Option<u64>,
    /// `minx,miny,maxx,maxy` in `bbox-crs` (lat,lon order for EPSG:4326).
    pub bbox: Option<String>,
    /// The CRS of `bbox` (a URI of the collection's CRS list).
    #[param(rename = "bbox-crs")]
    pub bbox_crs: Option<String>,
    /// The CRS of the returned geometries (Content-Crs header).
    pub crs: Option<String>,
    /// A CQL2 filter (text or JSON): at most 8192 bytes, LIKE patterns at most 256
    /// characters, a bounded amount of work per request (400 beyond).
    pub filter: Option<String>,
    /// `cql2-text` (default), `cql2-json` or `cql-text`.
    #[param(rename = "filter-lang")]
    pub filter_lang: Option<String>,
    /// The CRS of geometries in the filter.
    #[param(rename = "filter-crs")]
    pub filter_crs: Option<String>,
    /// Comma-separated queryables, `+` ascending (default) or `-` descending.
    pub sortby: Option<String>,
}

/// Parameters of `GET /ogc/collections/{id}/items/{fid}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OgcItemParams {
    /// `json` or `geojson`.
    #[param(pattern = "json")]
    pub f: Option<String>,
    /// The CRS of the geometry.
    pub crs: Option<String>,
}

/// The form of `POST /open311/v2/requests.{json,xml}` (GeoReport v2); extra
/// category attributes as `attribute[code]=value` (or `attribute[code][]` for lists).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Open311Form {
    /// An API key with the `open311:write` scope.
    pub api_key: String,
    /// Jurisdiction id.
    pub jurisdiction_id: Option<String>,
    /// The category (`service_code` of `services.json`).
    pub service_code: String,
    /// Latitude (WGS84), with `long`.
    pub lat: Option<f64>,
    /// Longitude (WGS84), with `lat`.
    pub long: Option<f64>,
    /// Address text (when no lat/long).
    pub address_string: Option<String>,
    /// Address id.
    pub address_id: Option<String>,
    /// Reporter's email.
    pub email: Option<String>,
    /// Device id.
    pub device_id: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Description, at most 4000 characters.
    pub description: Option<String>,
    /// A photo URL.
    pub media_url: Option<String>,
}

/// A GeoJSON FeatureCollection (OGC items).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FeatureCollection {
    /// `FeatureCollection`.
    #[schema(rename = "type")]
    pub kind: String,
    /// The features.
    pub features: Vec<Value>,
    /// Features matching the query.
    #[schema(rename = "numberMatched")]
    pub number_matched: Option<u64>,
    /// Features in this page.
    #[schema(rename = "numberReturned")]
    pub number_returned: Option<u64>,
    /// next/prev/self links.
    pub links: Option<Vec<Value>>,
}

/// A vector layer's tile schema (`citygrid_tiles::tileprops::TileProperties`): which
/// properties its tiles carry, from which zoom, and from which zoom features appear.
/// Every member is optional; `null` instead of the object returns the layer to the
/// default rule (every field; OSM layers and layers over 100,000 features leave out
/// their tag bags `tags`/`other_tags`/`all_tags`, large layers also json fields).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TileProperties {
    /// The fields tiles carry; `null` or absent: every field.
    #[schema(example = json!(["name", "highway", "ref"]))]
    pub include: Option<Vec<String>>,
    /// Fields left out.
    #[schema(example = json!(["other_tags"]))]
    pub exclude: Option<Vec<String>>,
    /// Field → the lowest zoom (0–24) whose tiles carry it.
    #[schema(example = json!({"name": 14}))]
    pub min_zoom: Option<std::collections::BTreeMap<String, u8>>,
    /// Field → (value → the lowest zoom at which features with that value appear);
    /// values match as text (`"3"` matches the number 3, `"true"` the boolean).
    #[schema(example = json!({"highway": {"residential": 13, "service": 14}}))]
    pub feature_min_zoom:
        Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, u8>>>,
}

/// One field of a layer in its tile schema.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TileField {
    /// Field name.
    pub name: String,
    /// Its SQL type.
    #[schema(rename = "type")]
    pub ty: String,
    /// Whether tiles carry it (at some zoom).
    pub in_tiles: bool,
    /// From which zoom tiles carry it.
    pub min_zoom: u8,
}

/// A layer's tile schema as `GET`/`PUT /api/admin/layers/{layer}/tile-properties`
/// answer it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LayerTileProperties {
    /// The layer id.
    pub layer: String,
    /// True when none is set and the default rule applies.
    pub default: bool,
    /// The schema in force.
    pub tile_properties: TileProperties,
    /// The layer's fields.
    pub fields: Vec<TileField>,
}
