//! Raster tiles: stored image tiles read from the store, through the tile cache.

use axum::http::HeaderMap;
use axum::response::Response;
use citygrid_geo::matrixset::Grid;
use citygrid_geo::tms::TileCoord;
use citygrid_store::layers::LayerId;
use citygrid_tiles::cache::TileKey;
use citygrid_tiles::mvt::MVT_TYPE;
use serde_json::Value;

use super::{respond, TileSource};
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// One raster layer (a raster layer is never combined with others in a tile).
pub struct RasterSource<'a> {
    /// The layer's catalogue entry.
    pub meta: &'a LayerMeta,
}

impl TileSource for RasterSource<'_> {
    fn tilejson(&self, doc: &mut Value) {
        if let Some(format) = &self.meta.tile_format {
            doc["format"] = Value::String(format.clone());
        }
    }

    /// The stored tile whatever the suffix asks for: its content type is the layer's.
    async fn tile(
        &self,
        state: &AppState,
        tile: TileCoord,
        _suffix: Option<&str>,
        headers: &HeaderMap,
    ) -> ApiResult<Response> {
        raster_tile(state, self.meta, tile, headers).await
    }
}

fn content_type_of(format: Option<&str>) -> &'static str {
    match format {
        Some("png") => "image/png",
        Some("jpeg") | Some("jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => MVT_TYPE,
    }
}

/// The stored tile of the geographic grid at `address` (a CGCS2000Quad
/// level/column/row) of raster layer `meta`, through the tile cache (the grid in the
/// key); 204 where the pyramid has no tile or the layer has no geographic pyramid.
pub async fn geographic_tile(
    state: &AppState,
    meta: &LayerMeta,
    address: TileCoord,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let content_type = content_type_of(meta.tile_format.as_deref());
    let key = TileKey::in_grid(
        Grid::Geographic,
        address,
        [(meta.id.clone(), meta.version as u64)],
    );
    if let Some(cached) = state.layers.tiles.get(&key) {
        return Ok(respond(state, &cached, content_type, headers, 3600));
    }
    let id = LayerId::new(&meta.id)
        .ok_or_else(|| ApiError::Internal(format!("invalid layer id {:?}", meta.id)))?;
    let data = citygrid_store::layers::raster_tile_geographic(
        &state.pool,
        id,
        address.z(),
        address.x(),
        address.y(),
    )
    .await?;
    let cached = state.layers.tiles.insert(key, data.unwrap_or_default());
    Ok(respond(state, &cached, content_type, headers, 3600))
}

async fn raster_tile(
    state: &AppState,
    meta: &LayerMeta,
    tile: TileCoord,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let content_type = content_type_of(meta.tile_format.as_deref());
    let key = TileKey::new(tile, [(meta.id.clone(), meta.version as u64)]);
    if let Some(cached) = state.layers.tiles.get(&key) {
        return Ok(respond(state, &cached, content_type, headers, 3600));
    }
    let id = LayerId::new(&meta.id)
        .ok_or_else(|| ApiError::Internal(format!("invalid layer id {:?}", meta.id)))?;
    let data =
        citygrid_store::layers::raster_tile(&state.pool, id, tile.z(), tile.x(), tile.y()).await?;
    // No patch generations to check: straight into the cache, without waiting for
    // the store's invalidation lock (a vector layer patch may hold it a while).
    let cached = state.layers.tiles.insert(key, data.unwrap_or_default());
    Ok(respond(state, &cached, content_type, headers, 3600))
}
