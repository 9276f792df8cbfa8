//! The HTTP routes, one module per feature, composed in [`table`].

pub mod auth;
pub mod maps;
pub mod system;
pub mod tiles;

use axum::http::Method;
use axum::routing::{get, post};

use crate::auth::{Access, Role};
use crate::router::RouteTable;

const ADMIN: &[Role] = &[Role::Admin];

/// Every route of the service with its access policy.
pub fn table() -> RouteTable {
    RouteTable::default()
        .add(Method::GET, "/health", Access::Public, get(system::health))
        .add(
            Method::GET,
            "/metrics",
            Access::Public,
            get(system::metrics),
        )
        .add(
            Method::GET,
            crate::openapi::PATH,
            Access::Public,
            get(crate::openapi::serve),
        )
        .add(
            Method::GET,
            "/catalog",
            Access::Layers,
            get(system::catalog),
        )
        .add(
            Method::GET,
            "/catalog/{id}",
            Access::Layers,
            get(system::catalog_layer),
        )
        .add(
            Method::GET,
            "/tiles/{ids}",
            Access::Layers,
            get(maps::tilejson),
        )
        .add(
            Method::GET,
            "/tiles/{ids}/{z}/{x}/{y}",
            Access::Layers,
            get(tiles::tile),
        )
        .add(
            Method::GET,
            "/styles/{name}",
            Access::Layers,
            get(maps::style),
        )
        .add(
            Method::POST,
            "/api/auth/login",
            Access::Public,
            post(auth::login),
        )
        .add(
            Method::POST,
            "/api/auth/logout",
            Access::Authenticated,
            post(auth::logout),
        )
        .add(
            Method::GET,
            "/api/auth/me",
            Access::Authenticated,
            get(auth::me),
        )
        .add(
            Method::GET,
            "/api/routes",
            Access::Roles(ADMIN),
            get(route_list),
        )
        .with(crate::pages::routes)
        .with(crate::mgmt::routes)
        .with(crate::ogc::routes)
        .with(crate::query::routes)
}

/// `GET /api/routes`: the route table with each route's access policy.
async fn route_list() -> axum::Json<serde_json::Value> {
    let table = table();
    axum::Json(serde_json::json!({ "routes": table.entries() }))
}
