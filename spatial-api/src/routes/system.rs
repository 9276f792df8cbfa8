//! `/health`, `/metrics`, `/catalog` and the route table.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Whether the database answered when the service last tried (see [`crate::db_health`]).
pub fn db_ok(_state: &AppState) -> bool {
    crate::db_health::is_up()
}

/// `GET /health`: `{"status": "ok"|"degraded", "db": "ok"|"down"}`, always 200 so
/// that the body can be read; `degraded` means reads are served from memory and
/// writes are refused until the database is back. It answers at once from the state
/// the service tracks (a ping every 2 s, and every request that could not reach the
/// database); `db_checked_at` says when that was.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let db = db_ok(&state);
    Json(json!({
        "status": if db { "ok" } else { "degraded" },
        "db": if db { "ok" } else { "down" },
        "db_checked_at": crate::db_health::observed_at(),
        "layers": state.catalog.layers().len(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    state.metrics.render(&mut out);
    let up = db_ok(&state);
    out.push_str("# HELP citygrid_db_up Whether PostGIS answers.\n# TYPE citygrid_db_up gauge\n");
    out.push_str(&format!("citygrid_db_up {}\n", u8::from(up)));
    out.push_str("# HELP citygrid_layers Layers in the catalogue.\n# TYPE citygrid_layers gauge\n");
    out.push_str(&format!(
        "citygrid_layers {}\n",
        state.catalog.layers().len()
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// A catalogue entry with the feature count of the loaded layer: the catalogue row is
/// written by imports, while layers that change all day (cases) are counted live.
pub fn with_live_count(
    state: &AppState,
    meta: &crate::catalog::LayerMeta,
) -> crate::catalog::LayerMeta {
    let mut meta = meta.clone();
    if let Some(layer) = state.layers.get(&meta.id) {
        meta.feature_count = i64::try_from(layer.len()).unwrap_or(i64::MAX);
    }
    meta
}

/// `GET /catalog`: every layer the caller may read.
pub async fn catalog(State(state): State<AppState>, principal: Principal) -> Json<Value> {
    let layers: Vec<_> = state
        .catalog
        .layers()
        .iter()
        .filter(|l| principal.may_read_layer(&l.id))
        .map(|l| with_live_count(&state, l))
        .collect();
    Json(json!({ "layers": layers }))
}

/// `GET /catalog/{id}`: one layer (404 when unknown, 403 outside an API key's layers).
pub async fn catalog_layer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    // The key's limits first, so a key cannot learn which other layers exist.
    principal.require_layers([id.as_str()])?;
    let layer = state
        .catalog
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no layer {id:?}")))?;
    Ok(Json(json!(with_live_count(&state, &layer))))
}
