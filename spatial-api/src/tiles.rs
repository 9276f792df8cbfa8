//! Serving tiles, for `GET /tiles/{ids}/{z}/{x}/{y}[.mvt|.pbf|.png|.jpg|.webp]`
//! ([`crate::routes::tiles`]) and OGC API – Tiles ([`crate::ogc::tiles`]): vector
//! tiles from the in-memory index (several layers in one tile) and raster tiles from
//! PostGIS, both through the tile cache, with ETag/304 and Cache-Control.

use std::sync::{Arc, LazyLock};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use citygrid_geo::tms::{TileCoord, MAX_ZOOM};
use citygrid_store::layers::LayerId;
use citygrid_tiles::cache::{CachedTile, TileKey};
use citygrid_tiles::index::Feature;
use citygrid_tiles::mvt::{encode_tile, query_bounds, EncodeOptions, TileLayer, MVT_TYPE};
use citygrid_tiles::LayerKind;
use tokio::sync::Semaphore;

use crate::auth::Principal;
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::layers::flights::{finished, on_miss, Miss};
use crate::layers::LoadedLayer;
use crate::state::AppState;

/// The most layers one tile request may combine.
pub const MAX_LAYERS_PER_TILE: usize = 32;

/// Parses `a,b,c` into checked layer ids (deduplicated, in order).
pub fn parse_ids(ids: &str) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for id in ids.split(',') {
        let ok = citygrid_db::is_identifier(id, 48);
        if !ok {
            return Err(ApiError::BadRequest(format!(
                "invalid layer id {id:?}: layer ids are [a-z0-9_]+, comma-separated"
            )));
        }
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    if out.len() > MAX_LAYERS_PER_TILE {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_LAYERS_PER_TILE} layers per tile"
        )));
    }
    Ok(out)
}

/// The catalogue entries of `ids`, checked against the caller's rights.
pub fn resolve_layers(
    state: &AppState,
    principal: &Principal,
    ids: &[String],
) -> ApiResult<Vec<LayerMeta>> {
    let mut metas = Vec::with_capacity(ids.len());
    for id in ids {
        let meta = state
            .catalog
            .get(id)
            .ok_or_else(|| ApiError::NotFound(format!("no layer {id:?} (see /catalog)")))?;
        metas.push(meta);
    }
    principal.require_layers(ids.iter().map(String::as_str))?;
    Ok(metas)
}

/// Parses z/x/y (y may carry a format suffix) into a valid tile.
pub fn parse_tile(z: &str, x: &str, y: &str) -> ApiResult<(TileCoord, Option<String>)> {
    let (y, suffix) = match y.split_once('.') {
        Some((y, s)) => (y, Some(s.to_ascii_lowercase())),
        None => (y, None),
    };
    if let Some(s) = &suffix {
        if !["mvt", "pbf", "png", "jpg", "jpeg", "webp"].contains(&s.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown tile suffix .{s}: use .mvt, .pbf, .png, .jpg or .webp"
            )));
        }
    }
    let bad =
        |what: &str, v: &str| ApiError::BadRequest(format!("tile {what} {v:?} is not a number"));
    let z: u8 = z.parse().map_err(|_| bad("zoom", z))?;
    let x: u32 = x.parse().map_err(|_| bad("column", x))?;
    let y: u32 = y.parse().map_err(|_| bad("row", y))?;
    let tile = TileCoord::with_max_zoom(z, x, y, MAX_ZOOM)?;
    Ok((tile, suffix))
}

fn content_type_of(format: Option<&str>) -> &'static str {
    match format {
        Some("png") => "image/png",
        Some("jpeg") | Some("jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => MVT_TYPE,
    }
}

/// Cached tile bytes as a `Bytes` owner.
struct ArcBytes(std::sync::Arc<[u8]>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn respond(
    state: &AppState,
    tile: &CachedTile,
    content_type: &'static str,
    request: &HeaderMap,
    max_age: u32,
) -> Response {
    let etag = format!("\"{}\"", tile.etag.trim_matches('"'));
    let visibility = if state.config.public_layers {
        "public"
    } else {
        "private"
    };
    let cache_control = format!("{visibility}, max-age={max_age}");
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else if tile.bytes.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        // The cached bytes are shared, not copied, into the response.
        let mut r = axum::body::Bytes::from_owner(ArcBytes(std::sync::Arc::clone(&tile.bytes)))
            .into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cache_control) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    response
}

/// The tile `z/x/y` (`y` may carry a format suffix) of the layers `ids` (`a,b,c`) for
/// `principal`: 400 for bad ids or coordinates, 404 for an unknown layer, 403 for a
/// layer the caller may not read, 409 while a layer loads.
pub async fn serve(
    state: &AppState,
    principal: &Principal,
    ids: &str,
    z: &str,
    x: &str,
    y: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let ids = parse_ids(ids)?;
    let (tile, suffix) = parse_tile(z, x, y)?;
    let metas = resolve_layers(state, principal, &ids)?;
    let rasters = metas.iter().filter(|m| m.kind == LayerKind::Raster).count();
    if rasters > 0 {
        if metas.len() > 1 {
            return Err(ApiError::BadRequest(
                "a raster layer cannot be combined with other layers in one tile".into(),
            ));
        }
        return raster_tile(state, &metas[0], tile, headers).await;
    }
    if matches!(suffix.as_deref(), Some("png" | "jpg" | "jpeg" | "webp")) {
        return Err(ApiError::BadRequest(
            "vector layers are served as .mvt or .pbf".into(),
        ));
    }
    vector_tile(state, &metas, tile, headers).await
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

/// The most vector tiles encoded at once for requests that have nothing to show
/// meanwhile (each also uses the rayon pool for its layers); further misses wait
/// their turn without holding a thread.
fn encoder_slots() -> usize {
    2 * std::thread::available_parallelism().map_or(2, |n| n.get())
}

static ENCODERS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(encoder_slots())));

/// Background re-encodings of changed tiles run one at a time, so a stream of edits
/// (cases reported every few hundred milliseconds) cannot take the CPU from requests.
static REFRESHERS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(1)));

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
            .map(|(l, _)| (l.meta.id.clone(), l.meta.version as u64)),
    );
    if let Some(cached) = state.layers.tiles.get(&key) {
        return Ok(respond(state, &cached, MVT_TYPE, headers, 60));
    }
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
    Ok(respond(state, &cached, MVT_TYPE, headers, 60))
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
    let options = EncodeOptions {
        max_tile_bytes: state.config.max_tile_bytes,
        ..EncodeOptions::default()
    };
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
            let mut selections: Vec<Vec<&Feature>> = Vec::with_capacity(loaded.len());
            for guard in &guards {
                match guard {
                    Ok(index) => selections.push(index.query_bbox_merc(&bounds)),
                    Err(_) => selections.push(Vec::new()),
                }
            }
            let mut tile_layers = Vec::with_capacity(loaded.len());
            for (((layer, _), guard), features) in loaded.iter().zip(&guards).zip(&selections) {
                if let Ok(index) = guard {
                    tile_layers.push(TileLayer {
                        name: &layer.meta.id,
                        schema: index.schema(),
                        features,
                        properties: None,
                    });
                }
            }
            encode_tile(tile, &tile_layers, &options).map(|t| t.bytes)
        }
        .map_err(|e| format!("tile encoding failed: {e}"))?;
        Ok(store.cache_tile(key, bytes, &loaded))
    });
    task.await
        .map_err(|e| format!("the tile task stopped: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tiles_are_checked() {
        assert_eq!(parse_ids("a,b,a").unwrap(), vec!["a", "b"]);
        assert!(parse_ids("a;drop table").is_err());
        assert!(parse_ids("").is_err());
        assert!(parse_tile("3", "7", "7.mvt").is_ok());
        assert!(parse_tile("3", "8", "1").is_err());
        assert!(parse_tile("25", "0", "0").is_err());
        assert!(parse_tile("-1", "0", "0").is_err());
        assert!(parse_tile("1", "0", "0.exe").is_err());
        assert!(parse_tile("1", "0", "NaN").is_err());
    }
}
