//! `GET /tiles/{ids}/{z}/{x}/{y}[.mvt|.pbf|.png|.jpg|.webp]`: the tile of one or more
//! layers, served by [`crate::tiles`].

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

/// `GET /tiles/{ids}/{z}/{x}/{y}`.
pub async fn tile(
    State(state): State<AppState>,
    principal: Principal,
    Path((ids, z, x, y)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    crate::tiles::serve(&state, &principal, &ids, &z, &x, &y, &headers).await
}
