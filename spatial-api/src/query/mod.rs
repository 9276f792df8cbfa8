//! Spatial queries for planners, answered from the in-memory layer index:
//! `GET /api/nearest` ([`nearest`]) and `POST /api/query` ([`area`]), both writing
//! GeoJSON with [`crate::geojson`]. The CQL2-text and CQL2-JSON filters of the OGC API
//! (parsers, type check, evaluation against features) are the crate `citygrid_cql2`;
//! ground measures are `citygrid_geo::measure`.

pub mod area;
pub mod nearest;

use axum::http::Method;
use axum::routing::{get, post};

use crate::auth::Access;
use crate::router::RouteTable;

/// The query routes.
pub fn routes(t: RouteTable) -> RouteTable {
    t.add(
        Method::GET,
        "/api/nearest",
        Access::Layers,
        get(nearest::nearest),
    )
    .add(
        Method::POST,
        "/api/query",
        Access::Layers,
        post(area::query),
    )
}
