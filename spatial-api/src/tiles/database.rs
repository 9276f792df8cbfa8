//! Vector tiles of layers served from the database (`serve_from = database`, issue
//! 24): a layer too big for memory is not loaded; each tile is made by PostGIS with
//! one `ST_AsMVT` statement (`citygrid_store::layer_serve::tile`: the layer's tile
//! properties at the zoom, the extent and buffer of the in-memory encoder, the
//! feature id as MVT id) on a standby when one is configured, behind the same tile
//! cache, gzip, ETag/304 and access rules as the in-memory layers.
//!
//! Freshness: a change notice of such a layer gives its tiles new cache keys (the
//! layer's change count is part of them) and drops the cached ones; the next tile is
//! read from a standby only once it has replayed the primary's WAL position taken at
//! the notice (else from the primary, after the bound), so a tile never shows the old
//! version after a notice.
//!
//! Several layers served from the database combine into one tile (each query makes
//! one MVT layer; MVT layers are concatenated); mixing them with layers served from
//! memory is refused (400). Routes that need the layer in memory (features, query,
//! nearest, OGC items and edits, geographic tile matrix sets) answer 409 with
//! [`needs_memory`].

use axum::http::HeaderMap;
use axum::response::Response;
use citygrid_geo::tms::TileCoord;
use citygrid_store::layer_serve::{self, MvtOptions};
use citygrid_store::layers::LayerId;
use citygrid_tiles::cache::TileKey;
use citygrid_tiles::mvt::MVT_TYPE;

use super::respond;
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Whether any of `metas` is served from the database.
pub fn any(state: &AppState, metas: &[LayerMeta]) -> bool {
    metas
        .iter()
        .any(|m| state.catalog.serves_from_database(&m.id))
}

/// The answer of a route that needs layer `id` in memory while it is served from the
/// database: 409, saying so and where its tiles are.
pub fn needs_memory(id: &str) -> ApiError {
    ApiError::Conflict(format!(
        "layer {id:?} is served from the database (serve_from = database): only its \
         vector tiles (/tiles/{id}/{{z}}/{{x}}/{{y}}.mvt) are served; this route needs the \
         layer in memory (citygrid layer set-serve-from {id} memory)"
    ))
}

/// The layer's version in tile cache keys: its catalogue version, its tile schema
/// version and its change count mixed (FNV-1a), with a mark of its own so that a key
/// never equals one of the in-memory layer's.
fn key_version(meta: &LayerMeta, changes: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for word in [
        0xdb_u64,
        meta.version as u64,
        meta.tile_properties_version as u64,
        changes,
    ] {
        for byte in word.to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Tile `tile` of `metas`, every one served from the database (400 when some are
/// served from memory): from the cache, else made by PostGIS and cached. 413 when the
/// tile would exceed `max_tile_bytes` (nothing is thinned here: set the layer's tile
/// properties, or ask a deeper zoom).
pub async fn tile(
    state: &AppState,
    metas: &[LayerMeta],
    tile: TileCoord,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    if let Some(m) = metas
        .iter()
        .find(|m| !state.catalog.serves_from_database(&m.id))
    {
        return Err(ApiError::BadRequest(format!(
            "layer {:?} is served from memory and cannot be combined in one tile with layers \
             served from the database; ask for them in separate tiles",
            m.id
        )));
    }
    let changes: Vec<(u64, Option<String>)> = metas
        .iter()
        .map(|m| state.catalog.database_layer_state(&m.id))
        .collect();
    let key = TileKey::new(
        tile,
        metas
            .iter()
            .zip(&changes)
            .map(|(m, (n, _))| (m.id.clone(), key_version(m, *n))),
    );
    if let Some(cached) = state.layers.tiles.get(&key) {
        return Ok(respond(state, &cached, MVT_TYPE, headers, 60));
    }
    let options = super::vector::encode_options(state);
    let mvt = MvtOptions {
        extent: options.extent,
        buffer: options.buffer,
    };
    // One statement per layer, all at once (each on a connection of its own).
    let coords = (tile.z(), tile.x(), tile.y());
    let layers = metas.iter().zip(&changes).map(|(meta, (_, lsn))| async move {
        let id = LayerId::new(&meta.id)
            .ok_or_else(|| ApiError::Internal(format!("invalid layer id {:?}", meta.id)))?;
        let props = meta.effective_tile_properties();
        let columns = layer_serve::tile_columns(meta, &props, tile.z());
        let pool = state.reads.replayed_to(lsn.as_deref()).await;
        match layer_serve::tile(pool, id, &columns, &props, coords, mvt).await {
            Ok(b) => Ok(b),
            // A standby that does not answer: the primary has everything.
            Err(e) if !std::ptr::eq(pool, state.reads.primary()) => {
                tracing::warn!(layer = %meta.id, error = %e, "standby tile read failed: reading from the primary");
                Ok(layer_serve::tile(state.reads.primary(), id, &columns, &props, coords, mvt).await?)
            }
            Err(e) => Err(ApiError::from(e)),
        }
    });
    let parts: Vec<Vec<u8>> = futures_util::future::try_join_all(layers).await?;
    // MVT layers are concatenated: each statement made one.
    let bytes = parts.concat();
    if bytes.len() > options.max_tile_bytes {
        return Err(ApiError::TooLarge(format!(
            "tile {}/{}/{} of {} is over {} bytes (max_tile_bytes); layers served from the \
             database are not thinned: ask a deeper zoom or limit the layer's tile properties \
             (citygrid layer set-tile-properties)",
            tile.z(),
            tile.x(),
            tile.y(),
            metas
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(","),
            options.max_tile_bytes
        )));
    }
    let cached = tokio::task::spawn_blocking(move || super::cached_form(bytes))
        .await
        .map_err(|e| ApiError::Internal(format!("the tile task stopped: {e}")))?
        .map_err(|e| ApiError::Internal(format!("tile compression failed: {e}")))?;
    // A notice while the tile was made: serve it, but keep it out of the cache (its
    // key is the old one, never asked again, so caching it would only waste room).
    let unchanged = metas
        .iter()
        .zip(&changes)
        .all(|(m, (n, _))| state.catalog.database_layer_state(&m.id).0 == *n);
    let cached = if unchanged {
        state.layers.tiles.insert_tile(key, cached)
    } else {
        cached
    };
    Ok(respond(state, &cached, MVT_TYPE, headers, 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use citygrid_tiles::LayerKind;

    #[test]
    fn keys_change_with_every_version_and_notice() {
        let meta = LayerMeta {
            id: "big".into(),
            title: "Big".into(),
            kind: LayerKind::Vector,
            geometry_type: None,
            feature_count: 0,
            bounds: None,
            min_zoom: 0,
            max_zoom: 14,
            tile_format: None,
            fields: serde_json::json!([]),
            source_crs: None,
            version: 3,
            tile_properties: None,
            tile_properties_version: 3,
        };
        let base = key_version(&meta, 0);
        assert_ne!(base, key_version(&meta, 1));
        let mut newer = meta.clone();
        newer.version = 4;
        assert_ne!(base, key_version(&newer, 0));
        let mut schema = meta.clone();
        schema.tile_properties_version = 4;
        assert_ne!(base, key_version(&schema, 0));
        assert_eq!(base, key_version(&meta.clone(), 0));
    }
}
