//! Spatial queries for planners, answered from the in-memory layer index:
//! CQL2-text and CQL2-JSON filters ([`cql2`], [`cql2json`], [`eval`], with `LIKE` in
//! [`like`]), ground measures ([`measure`]),
//! GeoJSON in/out ([`geojson`]), `GET /api/nearest` ([`nearest`]) and
//! `POST /api/query` ([`area`]).

pub mod area;
pub mod cql2;
pub mod cql2json;
pub mod eval;
pub mod geojson;
pub mod like;
pub mod measure;
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
