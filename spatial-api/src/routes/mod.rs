//! The service's own HTTP routes (health, metrics, catalogue, tiles, styles, sign-in),
//! one module per feature; [`crate::table`] composes them with the other features'.

pub mod auth;
pub mod layer_admin;
pub mod maps;
pub mod system;
pub mod tiles;
pub mod titles;

/// `GET /api/routes`: the route table with each route's access policy.
pub async fn route_list() -> axum::Json<serde_json::Value> {
    let table = crate::table();
    axum::Json(serde_json::json!({ "routes": table.entries() }))
}
