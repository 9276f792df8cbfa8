//! `/health`, `/metrics`, `/catalog` and the route table.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Whether the database answers within two seconds.
pub async fn db_ok(state: &AppState) -> bool {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ping).await,
        Ok(Ok(1))
    )
}

/// `GET /health`: `{"status": "ok"|"degraded", "db": "ok"|"down"}`, always 200 so
/// that the body can be read; `degraded` means reads are served from memory and
/// writes are refused until the database is back.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let db = db_ok(&state).await;
    Json(json!({
        "status": if db { "ok" } else { "degraded" },
        "db": if db { "ok" } else { "down" },
        "layers": state.catalog.layers().len(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    state.metrics.render(&mut out);
    let up = db_ok(&state).await;
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

/// `GET /catalog`: every layer the caller may read.
pub async fn catalog(State(state): State<AppState>, principal: Principal) -> Json<Value> {
    let layers: Vec<_> = state
        .catalog
        .layers()
        .iter()
        .filter(|l| principal.may_read_layer(&l.id))
        .cloned()
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
    Ok(Json(json!(layer)))
}
