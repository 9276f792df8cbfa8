//! OGC API – Features (Parts 1, 2 and 3) and OGC API – Tiles under `/ogc`, all
//! answered from the in-memory layer index.
//!
//! | path | module |
//! |---|---|
//! | `/ogc`, `/ogc/conformance`, `/ogc/api` | [`landing`], [`openapi`] |
//! | `/ogc/collections`, `/ogc/collections/{id}`, `…/queryables` | [`collections`] |
//! | `/ogc/collections/{id}/items`, `…/items/{fid}` | [`items`] |
//! | `POST …/items`, `PUT`/`PATCH`/`DELETE …/items/{fid}`, `…/items/{fid}/history…` | [`edit`] (Part 4) |
//! | `/ogc/tileMatrixSets…`, `/ogc/collections/{id}/tiles…` | [`tiles`] |
//!
//! JSON is the default (`f=json`, `f=geojson` or no `f`); the landing page,
//! conformance, collections, a collection, items and an item are also pages for
//! people (`f=html`, or a browser's `Accept: text/html`): [`html`].

pub mod collections;
pub mod edit;
pub mod html;
pub mod items;
pub mod landing;
pub mod openapi;
pub mod tiles;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use citygrid_tiles::schema::{FieldType, Schema};
use serde_json::{json, Value};

use crate::auth::Access;
use crate::router::RouteTable;
use crate::state::AppState;
use citygrid_cql2::{Property, Resolver};

/// The media type of the OpenAPI document.
pub const OPENAPI_TYPE: &str = "application/vnd.oai.openapi+json;version=3.0";
/// The media type of GeoJSON.
pub const GEOJSON_TYPE: &str = "application/geo+json";

/// Who may call the editing routes (each handler then checks the layer).
const EDITORS: Access = Access::Roles(&[crate::auth::Role::Department]);

/// A JSON route that is also an HTML page when the client asks for one.
fn page(route: axum::routing::MethodRouter<AppState>) -> axum::routing::MethodRouter<AppState> {
    route.layer(axum::middleware::from_fn(html::negotiate))
}

/// The OGC routes.
pub fn routes(t: RouteTable) -> RouteTable {
    use Method as M;
    let a = Access::Layers;
    t.add(M::GET, "/ogc", a, page(get(landing::landing)))
        .add(M::GET, "/ogc/", a, page(get(landing::landing)))
        .add(
            M::GET,
            "/ogc/conformance",
            a,
            page(get(landing::conformance)),
        )
        .add(M::GET, "/ogc/api", a, get(landing::api))
        .add(M::GET, "/ogc/collections", a, page(get(collections::list)))
        .add(
            M::GET,
            "/ogc/collections/{id}",
            a,
            page(get(collections::one)),
        )
        .add(
            M::GET,
            "/ogc/collections/{id}/queryables",
            a,
            get(collections::queryables),
        )
        .add(
            M::GET,
            "/ogc/collections/{id}/items",
            a,
            page(get(items::items)),
        )
        .add(
            M::GET,
            "/ogc/collections/{id}/items/{fid}",
            a,
            page(get(items::item)),
        )
        // Part 4: administrators and department staff (the handlers check the layer).
        .add(
            M::POST,
            "/ogc/collections/{id}/items",
            EDITORS,
            post(edit::create),
        )
        .add(
            M::PUT,
            "/ogc/collections/{id}/items/{fid}",
            EDITORS,
            put(edit::replace),
        )
        .add(
            M::PATCH,
            "/ogc/collections/{id}/items/{fid}",
            EDITORS,
            patch(edit::update),
        )
        .add(
            M::DELETE,
            "/ogc/collections/{id}/items/{fid}",
            EDITORS,
            delete(edit::delete),
        )
        .add(
            M::GET,
            "/ogc/collections/{id}/items/{fid}/history",
            EDITORS,
            get(edit::history_list),
        )
        .add(
            M::POST,
            "/ogc/collections/{id}/items/{fid}/history/{version}/restore",
            EDITORS,
            post(edit::restore),
        )
        .add(M::GET, "/ogc/tileMatrixSets", a, get(tiles::matrix_sets))
        .add(
            M::GET,
            "/ogc/tileMatrixSets/{tms}",
            a,
            get(tiles::matrix_set),
        )
        .add(
            M::GET,
            "/ogc/collections/{id}/tiles",
            a,
            get(tiles::tilesets),
        )
        .add(
            M::GET,
            "/ogc/collections/{id}/tiles/{tms}",
            a,
            get(tiles::tileset),
        )
        .add(
            M::GET,
            "/ogc/collections/{id}/tiles/{tms}/{z}/{y}/{x}",
            a,
            get(tiles::tile),
        )
}

/// The base URL of the OGC API as the client sees it (`http://host/ogc`).
pub fn ogc_base(headers: &HeaderMap, state: &AppState) -> String {
    format!("{}/ogc", crate::extract::base_url(headers, state))
}

/// The base URL of the OGC API ([`ogc_base`]) of a request.
pub struct OgcBase(pub String);

impl<S> FromRequestParts<S> for OgcBase
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(OgcBase(ogc_base(
            &parts.headers,
            &AppState::from_ref(state),
        )))
    }
}

/// A link object.
pub fn link(href: String, rel: &str, kind: &str, title: &str) -> Value {
    json!({ "href": href, "rel": rel, "type": kind, "title": title })
}

/// A JSON response with a given content type.
pub fn json_response(value: &Value, content_type: &'static str) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The queryables of a layer: its attribute fields and `geometry`.
pub struct Queryables<'a>(pub &'a Schema);

impl Resolver for Queryables<'_> {
    fn resolve(&self, name: &str) -> Option<Property> {
        if let Some(index) = self.0.position(name) {
            let numeric = matches!(self.0.fields[index].ty, FieldType::Int | FieldType::Double);
            return Some(Property::Field { index, numeric });
        }
        if name == "geometry" {
            return Some(Property::Geometry);
        }
        None
    }
}
