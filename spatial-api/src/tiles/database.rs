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
//! Concurrent misses of one tile share one statement (the flights table
//! `AppState::db_tile_flights`, as in-memory tiles share one encoding): every
//! waiter gets its bytes, or its 413 or 503 (with `Retry-After`) as it is. A failed
//! statement is not kept: the next miss runs it again. Stale serving is off for
//! these tiles (a finished statement is not served again once its tile left the
//! cache; a notice gives new keys anyway), only running statements are shared.
//! `citygrid_tile_db_queries_total` in `/metrics` counts the statements run,
//! `citygrid_tile_db_waiting` the requests waiting for one now.
//!
//! Several layers served from the database combine into one tile (one statement:
//! one MVT layer each, concatenated); mixing them with layers served from
//! memory is refused (400). Routes that need the layer in memory (features, query,
//! nearest, OGC items and edits, geographic tile matrix sets) answer 409 with
//! [`needs_memory`].

use axum::http::HeaderMap;
use axum::response::Response;
use citygrid_geo::tms::TileCoord;
use citygrid_store::layer_serve::{self, MvtOptions};
use citygrid_store::layers::LayerId;
use citygrid_tiles::cache::{CachedTile, TileKey};
use citygrid_tiles::mvt::MVT_TYPE;

use super::respond;
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::layers::flights::{finished, on_miss, Miss};
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

/// A WAL position (`X/Y`, two hexadecimal numbers) as one number, to compare them
/// (0 for a text that is not one).
fn lsn_value(lsn: &str) -> u64 {
    lsn.split_once('/')
        .and_then(|(hi, lo)| {
            Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
        })
        .unwrap_or(0)
}

/// Tile `tile` of `metas`, every one served from the database (400 when some are
/// served from memory): from the cache, else made by PostGIS (one statement shared
/// by concurrent misses of the tile) and cached. 413 when the tile would exceed
/// `max_tile_bytes` (nothing is thinned here: set the layer's tile properties, or ask
/// a deeper zoom).
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
        let cached = super::brotli_for(state, &key, cached, headers).await;
        return Ok(respond(state, &cached, MVT_TYPE, headers, 60));
    }
    let cached = match on_miss(&state.db_tile_flights, key.clone()) {
        Miss::Wait(flight) => {
            let waiting = state.metrics.tile_db_wait();
            let outcome = flight
                .outcome
                .get_or_init(|| make(state, metas, &changes, &key, tile))
                .await
                .clone();
            drop(waiting);
            finished(&state.db_tile_flights, &key, &flight);
            outcome?
        }
        // Not with stale serving off (the table of these tiles has it off); a
        // finished tile of this very key would be as fresh as the cache's.
        Miss::Serve(found) | Miss::Refresh(found, _) => found,
    };
    // Its brotli form too, for a client that prefers it (as the in-memory path),
    // unless a notice came while it was made (it was kept out of the cache).
    let cached = if unchanged(state, metas, &changes) {
        super::brotli_for(state, &key, cached, headers).await
    } else {
        cached
    };
    Ok(respond(state, &cached, MVT_TYPE, headers, 60))
}

/// Whether no change notice of `metas` came since their `changes` were read.
fn unchanged(state: &AppState, metas: &[LayerMeta], changes: &[(u64, Option<String>)]) -> bool {
    metas
        .iter()
        .zip(changes)
        .all(|(m, (n, _))| state.catalog.database_layer_state(&m.id).0 == *n)
}

/// Makes tile `tile` of `metas` with one statement and caches it under `key` (413
/// over `max_tile_bytes`, 503 when the database does not answer).
async fn make(
    state: &AppState,
    metas: &[LayerMeta],
    changes: &[(u64, Option<String>)],
    key: &TileKey,
    tile: TileCoord,
) -> Result<CachedTile, ApiError> {
    let options = super::vector::encode_options(state);
    let mvt = MvtOptions {
        extent: options.extent,
        buffer: options.buffer,
    };
    // One statement for every layer of the tile (one MVT layer each, concatenated),
    // read where the layers' last change notices have been replayed.
    let coords = (tile.z(), tile.x(), tile.y());
    let mut ids = Vec::with_capacity(metas.len());
    for meta in metas {
        ids.push(
            LayerId::new(&meta.id)
                .ok_or_else(|| ApiError::Internal(format!("invalid layer id {:?}", meta.id)))?,
        );
    }
    let props: Vec<_> = metas
        .iter()
        .map(|m| m.effective_tile_properties())
        .collect();
    let columns: Vec<Vec<(&str, &str)>> = metas
        .iter()
        .zip(&props)
        .map(|(m, p)| layer_serve::tile_columns(m, p, tile.z()))
        .collect();
    let layers: Vec<layer_serve::TileLayer<'_>> = ids
        .iter()
        .zip(&columns)
        .zip(&props)
        .map(|((id, columns), props)| layer_serve::TileLayer {
            id: *id,
            columns,
            props,
        })
        .collect();
    // The latest WAL position any of them must have replayed.
    let lsn = changes
        .iter()
        .filter_map(|(_, l)| l.as_deref())
        .max_by_key(|l| lsn_value(l));
    let pool = state.reads.replayed_to(lsn).await;
    state.metrics.tile_db_query();
    let bytes = match layer_serve::tile(pool, &layers, coords, mvt).await {
        Ok(b) => b,
        // A standby that does not answer: the primary has everything.
        Err(e) if !std::ptr::eq(pool, state.reads.primary()) => {
            tracing::warn!(error = %e, "standby tile read failed: reading from the primary");
            state.metrics.tile_db_query();
            layer_serve::tile(state.reads.primary(), &layers, coords, mvt).await?
        }
        Err(e) => return Err(e.into()),
    };
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
    Ok(if unchanged(state, metas, changes) {
        state.layers.tiles.insert_tile(key.clone(), cached)
    } else {
        cached
    })
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

    #[test]
    fn wal_positions_compare_as_numbers() {
        assert!(lsn_value("1/0") > lsn_value("0/FFFFFFF"));
        assert!(lsn_value("0/16B3748") > lsn_value("0/16B3740"));
        assert_eq!(lsn_value("junk"), 0);
    }
}
