//! Vector tiles: one or more layers from the in-memory index, encoded on demand and
//! cached gzip-compressed. Small tiles (most tiles deep in the pyramid) are encoded on
//! the request's own thread; the others on a blocking thread through the
//! recent-encodings table (`crate::layers::flights`), which shares concurrent misses.

use std::sync::{Arc, LazyLock};

use axum::http::HeaderMap;
use axum::response::Response;
use citygrid_geo::tms::TileCoord;
use citygrid_tiles::cache::{CachedTile, TileKey};
use citygrid_tiles::index::{FeatureRef, LayerIndex};
use citygrid_tiles::mvt::{
    encode_tile, encode_tile_with_cells, point_cells, query_bounds, EncodeOptions, PointCells,
    TileLayer, MVT_TYPE,
};
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use super::{respond, TileSource};
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::layers::flights::{finished, on_miss, Miss};
use crate::layers::LoadedLayer;
use crate::state::AppState;

/// Vector layers, combined into one tile (one tile layer each).
pub struct VectorSource<'a> {
    /// The layers' catalogue entries, in request order.
    pub metas: &'a [LayerMeta],
}

impl TileSource for VectorSource<'_> {
    fn tilejson(&self, doc: &mut Value) {
        doc["vector_layers"] = Value::Array(
            self.metas
                .iter()
                .map(|m| {
                    json!({
                        "id": m.id,
                        "description": m.title,
                        "minzoom": m.min_zoom,
                        "maxzoom": m.max_zoom,
                        "fields": vector_fields(m),
                    })
                })
                .collect(),
        );
    }

    /// 400 for an image suffix, 409 while a layer loads.
    async fn tile(
        &self,
        state: &AppState,
        tile: TileCoord,
        suffix: Option<&str>,
        headers: &HeaderMap,
    ) -> ApiResult<Response> {
        if matches!(suffix, Some("png" | "jpg" | "jpeg" | "webp")) {
            return Err(ApiError::BadRequest(
                "vector layers are served as .mvt or .pbf".into(),
            ));
        }
        if super::database::any(state, self.metas) {
            return super::database::tile(state, self.metas, tile, headers).await;
        }
        vector_tile(state, self.metas, tile, headers).await
    }
}

/// TileJSON `fields` of a vector layer: the columns its tiles carry (its tile
/// schema, `citygrid_tiles::tileprops`) as Number, Boolean or String.
fn vector_fields(meta: &LayerMeta) -> Value {
    let props = meta.effective_tile_properties();
    let mut fields = Map::new();
    for f in meta.fields.as_array().into_iter().flatten() {
        if let Some(name) = f
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| props.includes(name))
        {
            let ty = match f.get("type").and_then(Value::as_str).unwrap_or("text") {
                "smallint" | "integer" | "bigint" | "double precision" | "real" | "numeric" => {
                    "Number"
                }
                "boolean" => "Boolean",
                _ => "String",
            };
            fields.insert(name.to_string(), Value::String(ty.to_string()));
        }
    }
    Value::Object(fields)
}

/// The most vector tiles encoded at once for requests that have nothing to show
/// meanwhile (each also uses the rayon pool for its layers); further misses wait
/// their turn without holding a thread.
fn encoder_slots() -> usize {
    2 * std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub(super) static ENCODERS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(encoder_slots())));

/// Background re-encodings of changed tiles run one at a time, so a stream of edits
/// (cases reported every few hundred milliseconds) cannot take the CPU from requests.
static REFRESHERS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(1)));

/// One layer of a tile of zoom `z` as its tile schema has it: the `candidates` it
/// keeps (features held back below their zoom leave) and the properties it names.
pub(super) fn schema_view<'a>(
    layer: &LoadedLayer,
    index: &'a citygrid_tiles::index::LayerIndex,
    z: u8,
    candidates: Vec<FeatureRef<'a>>,
) -> (Vec<FeatureRef<'a>>, Vec<&'a str>) {
    let filter = layer.tile_filter();
    (
        filter.select(z, candidates),
        filter.properties_at(index.schema(), z),
    )
}

async fn vector_tile(
    state: &AppState,
    metas: &[LayerMeta],
    tile: TileCoord,
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
    let key = TileKey::new(
        tile,
        loaded
            .iter()
            .map(|(l, _)| (l.meta.id.clone(), l.tile_key_version())),
    );
    if let Some(cached) = state.layers.tiles.get(&key) {
        let cached = super::brotli_for(state, &key, cached, headers).await;
        return Ok(respond(state, &cached, MVT_TYPE, headers, 60));
    }
    if let Some(encoded) = encode_small(state, &key, tile, &loaded) {
        let cached = encoded.map_err(ApiError::Internal)?;
        let cached = super::brotli_for(state, &key, cached, headers).await;
        return Ok(respond(state, &cached, MVT_TYPE, headers, 60));
    }
    let brotli_key = key.clone();
    let cached = match on_miss(&state.tile_flights, key.clone()) {
        Miss::Serve(found) => found,
        Miss::Refresh(previous, flight) => {
            let state = state.clone();
            tokio::spawn(async move {
                let _ = flight
                    .outcome
                    .get_or_init(|| encode_vector(&state, key.clone(), tile, loaded, &REFRESHERS))
                    .await;
                finished(&state.tile_flights, &key, &flight);
            });
            previous
        }
        Miss::Wait(flight) => {
            let outcome = flight
                .outcome
                .get_or_init(|| encode_vector(state, key.clone(), tile, loaded, &ENCODERS))
                .await
                .clone();
            finished(&state.tile_flights, &key, &flight);
            outcome.map_err(ApiError::Internal)?
        }
    };
    let cached = super::brotli_for(state, &brotli_key, cached, headers).await;
    Ok(respond(state, &cached, MVT_TYPE, headers, 60))
}

/// Candidate coordinates (all layers of a tile together) up to which a tile is
/// encoded on the request's own thread: a few hundred microseconds of work at most,
/// less than handing it to a blocking thread and back costs. Most tiles deep in the
/// pyramid are this small; a crawler asking for distinct ones is served at the rate
/// of cache hits.
const INLINE_MAX_VERTICES: usize = 4096;

pub(super) fn encode_options(state: &AppState) -> EncodeOptions {
    EncodeOptions {
        max_tile_bytes: state.config.max_tile_bytes,
        ..EncodeOptions::default()
    }
}

/// One layer of a tile as the encoder takes it.
pub(super) fn tile_layer<'a>(
    layer: &'a LoadedLayer,
    index: &'a LayerIndex,
    (features, properties): &'a (Vec<FeatureRef<'a>>, Vec<&'a str>),
) -> TileLayer<'a> {
    TileLayer {
        name: &layer.meta.id,
        schema: index.schema(),
        features,
        properties: Some(properties),
    }
}

/// Encodes, compresses and caches a small tile right here, without a thread
/// hand-off, a slot or the recent-encodings table (a small tile is cheaper to
/// encode than to share); always from the index as it is now, so never stale.
/// `None` when the tile is not small or an index is busy (a patch holds or waits
/// for its write lock: this thread must not block), for the usual path.
pub(super) fn encode_small(
    state: &AppState,
    key: &TileKey,
    tile: TileCoord,
    loaded: &[(Arc<LoadedLayer>, u64)],
) -> Option<Result<CachedTile, String>> {
    let options = encode_options(state);
    let bounds = query_bounds(tile, &options);
    let encoded = {
        let mut guards = Vec::with_capacity(loaded.len());
        for (layer, _) in loaded {
            guards.push(layer.index.try_read().ok()?);
        }
        let mut budget = INLINE_MAX_VERTICES;
        let mut selections = Vec::with_capacity(guards.len());
        for (index, (layer, _)) in guards.iter().zip(loaded) {
            let candidates = index.query_bbox_merc_small(&bounds, &mut budget)?;
            selections.push(schema_view(layer, index, tile.z(), candidates));
        }
        let layers: Vec<TileLayer<'_>> = loaded
            .iter()
            .zip(&guards)
            .zip(&selections)
            .map(|(((layer, _), index), features)| tile_layer(layer, index, features))
            .collect();
        encode_tile(tile, &layers, &options)
    };
    Some(
        encoded
            .map_err(|e| format!("tile encoding failed: {e}"))
            .and_then(|t| {
                super::cached_form(t.bytes).map_err(|e| format!("tile compression failed: {e}"))
            })
            .map(|t| state.layers.cache_tile(key.clone(), t, loaded)),
    )
}

/// Encodes a vector tile on a blocking thread and caches it (unless a layer was
/// patched meanwhile).
///
/// Not on a rayon worker: the encoder itself runs parallel iterators, and a rayon
/// worker waiting for them may pick up another queued tile job on the same thread
/// while it still holds this tile's index read locks; with a layer patch waiting for
/// its write lock (std's `RwLock` then holds back new readers) that thread waits for
/// itself. The load test found this deadlock. The read locks are released before the
/// cache insert, which takes the store's invalidation lock.
async fn encode_vector(
    state: &AppState,
    key: TileKey,
    tile: TileCoord,
    loaded: Vec<(Arc<LoadedLayer>, u64)>,
    slots: &Arc<Semaphore>,
) -> Result<CachedTile, String> {
    // A request that missed the cache just before the previous encoding finished.
    if let Some(cached) = state.layers.tiles.get(&key) {
        return Ok(cached);
    }
    let options = encode_options(state);
    let permit = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(|_| "the tile encoders are closed".to_string())?;
    // Read the generations again: a patch while this waited for a slot is in the
    // index now, and must not keep the result out of the cache.
    let loaded: Vec<(Arc<LoadedLayer>, u64)> = loaded
        .into_iter()
        .map(|(l, _)| {
            let g = l.generation();
            (l, g)
        })
        .collect();
    let store = Arc::clone(&state.layers);
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let bytes = {
            let bounds = query_bounds(tile, &options);
            let guards: Vec<_> = loaded.iter().map(|(l, _)| l.index.read()).collect();
            let mut selections: Vec<(Vec<FeatureRef<'_>>, Vec<&str>)> =
                Vec::with_capacity(loaded.len());
            // A large point layer at a low zoom comes as its precomputed cells, not
            // as every point under the tile (the same tile, see point_cells).
            let mut cells: Vec<Option<PointCells<'_>>> = Vec::with_capacity(loaded.len());
            for (guard, (layer, _)) in guards.iter().zip(&loaded) {
                match guard {
                    Ok(index) => {
                        let filter = layer.tile_filter();
                        let aggregated = filter
                            .holds_nothing_back(tile.z())
                            .then(|| point_cells(index, tile, &options))
                            .flatten();
                        match aggregated {
                            Some(c) => {
                                let properties = filter.properties_at(index.schema(), tile.z());
                                selections.push((Vec::new(), properties));
                                cells.push(Some(c));
                            }
                            None => {
                                let candidates = index.query_bbox_merc(&bounds);
                                selections.push(schema_view(layer, index, tile.z(), candidates));
                                cells.push(None);
                            }
                        }
                    }
                    Err(_) => {
                        selections.push((Vec::new(), Vec::new()));
                        cells.push(None);
                    }
                }
            }
            let mut tile_layers = Vec::with_capacity(loaded.len());
            let mut layer_cells = Vec::with_capacity(loaded.len());
            for ((((layer, _), guard), features), c) in
                loaded.iter().zip(&guards).zip(&selections).zip(cells)
            {
                if let Ok(index) = guard {
                    tile_layers.push(tile_layer(layer, index, features));
                    layer_cells.push(c);
                }
            }
            if layer_cells.iter().any(Option::is_some) {
                encode_tile_with_cells(tile, &tile_layers, &layer_cells, &options).map(|t| t.bytes)
            } else {
                encode_tile(tile, &tile_layers, &options).map(|t| t.bytes)
            }
        }
        .map_err(|e| format!("tile encoding failed: {e}"))?;
        // Compressed once here, off the async runtime, and sent as-is to gzip clients.
        let tile =
            super::cached_form(bytes).map_err(|e| format!("tile compression failed: {e}"))?;
        Ok(store.cache_tile(key, tile, &loaded))
    });
    task.await
        .map_err(|e| format!("the tile task stopped: {e}"))?
}
