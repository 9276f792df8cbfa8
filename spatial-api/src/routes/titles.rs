//! `PUT /api/admin/layers/{layer}/titles`: a layer's title and field names in Chinese
//! and English (admin only; the router's audit layer records it).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use citygrid_store::layer_titles::{self, LayerTitles, TitlesChange};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `PUT /api/admin/layers/{layer}/titles`: sets what the body gives (`""` or `null`
/// for a field removes it) and answers the layer's titles; every server reloads its
/// catalogue.
pub async fn put(
    State(state): State<AppState>,
    Path(layer): Path<String>,
    body: Result<Json<TitlesChange>, JsonRejection>,
) -> ApiResult<Json<LayerTitles>> {
    let Json(change) = body.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let meta = state
        .catalog
        .get(&layer)
        .ok_or_else(|| ApiError::NotFound(format!("no layer {layer:?}")))?;
    let fields: Vec<&str> = meta
        .fields
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("name").and_then(|n| n.as_str()))
        .collect();
    layer_titles::check(&change, &fields).map_err(ApiError::Unprocessable)?;
    let titles = layer_titles::set(&state.pool, &layer, &change)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no layer {layer:?}")))?;
    if let Err(e) = state.catalog.reload(&state.pool, &layer).await {
        tracing::warn!(error = %e, "cannot reload the layer catalogue");
    }
    Ok(Json(titles))
}
