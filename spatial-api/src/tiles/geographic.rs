//! Vector tiles of the geographic tile matrix sets (WorldCRS84Quad, CGCS2000Quad:
//! `citygrid_geo::matrixset`): the same layers, tile schema, size cap, cache and
//! freshness as the Web Mercator tiles of [`super::vector`], encoded in lon/lat
//! degrees of the tile (`citygrid_tiles::mvt::encode_tile_in`). Both sets share their
//! addresses and so their cached tiles; cache keys carry the grid, and an edit drops
//! the geographic tiles it touches like the Web Mercator ones.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use citygrid_geo::matrixset::Grid;
use citygrid_geo::tms::TileCoord;
use citygrid_tiles::cache::{CachedTile, TileKey};
use citygrid_tiles::index::FeatureRef;
use citygrid_tiles::mvt::{encode_tile_in, query_bounds_in, MVT_TYPE};

use super::respond;
use super::vector::{encode_options, schema_view, tile_layer, ENCODERS};
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::layers::LoadedLayer;
use crate::state::AppState;

/// The geographic tile at `address` (a CGCS2000Quad level/column/row) of the vector
/// layers `metas`: from the cache, or encoded on a blocking thread (one of the
/// encoder slots the Web Mercator tiles use) and cached unless a layer was patched
/// meanwhile. 409 while a layer loads.
pub async fn vector_tile(
    state: &AppState,
    metas: &[LayerMeta],
    address: TileCoord,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let mut loaded: Vec<(Arc<LoadedLayer>, u64)> = Vec::with_capacity(metas.len());
    for meta in metas {
        let layer = state.layers.get(&meta.id).ok_or_else(|| {
            ApiError::Conflict(format!(
                "layer {:?} is still loading; retry shortly",
                meta.id
            ))
        })?;
        let generation = layer.generation();
        loaded.push((layer, generation));
    }
    let key = TileKey::in_grid(
        Grid::Geographic,
        address,
        loaded
            .iter()
            .map(|(l, _)| (l.meta.id.clone(), l.tile_key_version())),
    );
    if let Some(cached) = state.layers.tiles.get(&key) {
        let cached = super::brotli_for(state, &key, cached, headers).await;
        return Ok(respond(state, &cached, MVT_TYPE, headers, 60));
    }
    let cached = encode(state, key.clone(), address, loaded)
        .await
        .map_err(ApiError::Internal)?;
    let cached = super::brotli_for(state, &key, cached, headers).await;
    Ok(respond(state, &cached, MVT_TYPE, headers, 60))
}

async fn encode(
    state: &AppState,
    key: TileKey,
    address: TileCoord,
    loaded: Vec<(Arc<LoadedLayer>, u64)>,
) -> Result<CachedTile, String> {
    let options = encode_options(state);
    let permit = Arc::clone(&ENCODERS)
        .acquire_owned()
        .await
        .map_err(|_| "the tile encoders are closed".to_string())?;
    let store = Arc::clone(&state.layers);
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let bytes = {
            let bounds = query_bounds_in(Grid::Geographic, address, &options);
            let guards: Vec<_> = loaded.iter().map(|(l, _)| l.index.read()).collect();
            let mut selections: Vec<(Vec<FeatureRef<'_>>, Vec<&str>)> =
                Vec::with_capacity(loaded.len());
            for (guard, (layer, _)) in guards.iter().zip(&loaded) {
                match guard {
                    Ok(index) => {
                        let candidates = index.query_bbox_merc(&bounds);
                        selections.push(schema_view(layer, index, address.z(), candidates));
                    }
                    Err(_) => selections.push((Vec::new(), Vec::new())),
                }
            }
            let mut tile_layers = Vec::with_capacity(loaded.len());
            for (((layer, _), guard), features) in loaded.iter().zip(&guards).zip(&selections) {
                if let Ok(index) = guard {
                    tile_layers.push(tile_layer(layer, index, features));
                }
            }
            encode_tile_in(Grid::Geographic, address, &tile_layers, &options).map(|t| t.bytes)
        }
        .map_err(|e| format!("tile encoding failed: {e}"))?;
        let tile =
            super::cached_form(bytes).map_err(|e| format!("tile compression failed: {e}"))?;
        Ok(store.cache_tile(key, tile, &loaded))
    });
    task.await
        .map_err(|e| format!("the tile task stopped: {e}"))?
}
