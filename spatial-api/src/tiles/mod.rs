//! Serving tiles, for `GET /tiles/{ids}/{z}/{x}/{y}[.mvt|.pbf|.png|.jpg|.webp]`
//! ([`crate::routes::tiles`]) and OGC API – Tiles ([`crate::ogc::tiles`]): vector
//! tiles from the in-memory index (several layers in one tile, [`vector`]) and raster
//! tiles from PostGIS ([`raster`]), both through the tile cache, with ETag/304 and
//! Cache-Control.
//!
//! What differs per kind of layer is a [`TileSource`] (what TileJSON says beyond the
//! common fields, and the tile itself), one module per kind; [`source_for`] is the one
//! place that maps layers to their source, with an exhaustive `match` on [`LayerKind`],
//! so a new kind does not compile until it has a source. The trait lives here rather
//! than in `citygrid-tiles` (pure: no SQL, no HTTP) because a source reads the store
//! and answers with HTTP responses; this module is the neutral one both features
//! (`routes` and `ogc`) import, never each other.

pub mod database;
pub mod fast;
pub mod geographic;
pub mod raster;
pub mod vector;

use std::future::Future;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use citygrid_geo::matrixset::{Grid, GridTile, MatrixSet};
use citygrid_geo::tms::{TileCoord, MAX_ZOOM};
use citygrid_tiles::cache::{CachedTile, Encoding};
use citygrid_tiles::LayerKind;
use serde_json::Value;

use crate::auth::Principal;
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
pub use raster::RasterSource;
pub use vector::VectorSource;

/// What differs per kind of tile source.
pub trait TileSource {
    /// Adds to a TileJSON document what it says beyond the common fields (name,
    /// tiles, zooms, bounds…): `vector_layers` for vector layers, `format` for rasters.
    fn tilejson(&self, doc: &mut Value);

    /// The tile `tile` (`suffix`: the format suffix of the request, lowercase, if any)
    /// with ETag/304 and Cache-Control.
    fn tile(
        &self,
        state: &AppState,
        tile: TileCoord,
        suffix: Option<&str>,
        headers: &HeaderMap,
    ) -> impl Future<Output = ApiResult<Response>> + Send;
}

/// The source of one tile request's layers.
pub enum Source<'a> {
    /// One or more vector layers.
    Vector(VectorSource<'a>),
    /// A single raster layer.
    Raster(RasterSource<'a>),
}

/// The layers of a request mix a raster layer with others: refused (each caller says
/// so in its own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CannotCombine;

/// The source of the resolved layers `metas`: a raster layer alone, or vector layers.
pub fn source_for(metas: &[LayerMeta]) -> Result<Source<'_>, CannotCombine> {
    for meta in metas {
        match meta.kind {
            LayerKind::Raster if metas.len() > 1 => return Err(CannotCombine),
            LayerKind::Raster => return Ok(Source::Raster(RasterSource { meta })),
            LayerKind::Vector => {}
        }
    }
    Ok(Source::Vector(VectorSource { metas }))
}

impl TileSource for Source<'_> {
    fn tilejson(&self, doc: &mut Value) {
        match self {
            Source::Vector(s) => s.tilejson(doc),
            Source::Raster(s) => s.tilejson(doc),
        }
    }

    async fn tile(
        &self,
        state: &AppState,
        tile: TileCoord,
        suffix: Option<&str>,
        headers: &HeaderMap,
    ) -> ApiResult<Response> {
        match self {
            Source::Vector(s) => s.tile(state, tile, suffix, headers).await,
            Source::Raster(s) => s.tile(state, tile, suffix, headers).await,
        }
    }
}

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

/// The catalogue entries of `ids` that the caller may read, in order. A layer that
/// does not exist and a layer the caller may not read are the same to the caller
/// (names do not leak): alone it is 404; in a composite of several layers it is left
/// out silently, and only when none is left is the answer 404. The tile cache is
/// keyed by the layers kept, so a tile made for one caller is only ever served to a
/// caller who may read every layer in it.
pub fn resolve_layers(
    state: &AppState,
    principal: &Principal,
    ids: &[String],
) -> ApiResult<Vec<LayerMeta>> {
    let mut metas = Vec::with_capacity(ids.len());
    for id in ids {
        if !state.catalog.may_read(principal, id) {
            continue;
        }
        if let Some(meta) = state.catalog.get(id) {
            metas.push(meta);
        }
    }
    if metas.is_empty() {
        let id = ids.first().map(String::as_str).unwrap_or_default();
        return Err(crate::catalog::not_found(id));
    }
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

/// Parses a tile of matrix set `set` (`level/col/row`, `row` may carry a format
/// suffix) into a valid tile.
pub fn parse_set_tile(
    set: MatrixSet,
    level: &str,
    col: &str,
    row: &str,
) -> ApiResult<(GridTile, Option<String>)> {
    let (row, suffix) = match row.split_once('.') {
        Some((r, s)) => (r, Some(s.to_ascii_lowercase())),
        None => (row, None),
    };
    let bad =
        |what: &str, v: &str| ApiError::BadRequest(format!("tile {what} {v:?} is not a number"));
    let level_n: u8 = level.parse().map_err(|_| bad("matrix", level))?;
    let col_n: u32 = col.parse().map_err(|_| bad("column", col))?;
    let row_n: u32 = row.parse().map_err(|_| bad("row", row))?;
    Ok((set.tile(level_n, col_n, row_n)?, suffix))
}

/// The tile `level/col/row` of matrix set `set` of the layers `ids` for
/// `principal`: WebMercatorQuad is [`serve`]; in the geographic sets vector layers
/// are encoded in degrees ([`geographic`]), raster layers read from their geographic
/// pyramid ([`raster::geographic_tile`]). Errors as [`serve`].
#[allow(clippy::too_many_arguments)]
pub async fn serve_in(
    state: &AppState,
    principal: &Principal,
    ids: &str,
    set: MatrixSet,
    level: &str,
    col: &str,
    row: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    if set == MatrixSet::WebMercatorQuad {
        return serve(state, principal, ids, level, col, row, headers).await;
    }
    let ids = parse_ids(ids)?;
    let (tile, suffix) = parse_set_tile(set, level, col, row)?;
    let metas = resolve_layers(state, principal, &ids)?;
    serve_resolved(state, &metas, tile, suffix.as_deref(), headers).await
}

/// The tile `tile` (any matrix set) of layers already resolved for the caller
/// ([`resolve_layers`]); `suffix` as in [`TileSource::tile`]. What [`serve_in`] does
/// after parsing, for callers that parsed and checked the request themselves (WMTS).
pub async fn serve_resolved(
    state: &AppState,
    metas: &[LayerMeta],
    tile: GridTile,
    suffix: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let source = source_for(metas).map_err(|CannotCombine| {
        ApiError::BadRequest(
            "a raster layer cannot be combined with other layers in one tile".into(),
        )
    })?;
    if tile.grid() == Grid::Mercator {
        return source.tile(state, tile.address(), suffix, headers).await;
    }
    match source {
        Source::Vector(v) => {
            if let Some(m) = v
                .metas
                .iter()
                .find(|m| state.catalog.serves_from_database(&m.id))
            {
                return Err(database::needs_memory(&m.id));
            }
            if matches!(suffix, Some("png" | "jpg" | "jpeg" | "webp")) {
                return Err(ApiError::BadRequest(
                    "vector layers are served as .mvt or .pbf".into(),
                ));
            }
            geographic::vector_tile(state, v.metas, tile.address(), headers).await
        }
        Source::Raster(r) => raster::geographic_tile(state, r.meta, tile.address(), headers).await,
    }
}

/// Cached tile bytes as a `Bytes` owner.
struct ArcBytes(std::sync::Arc<[u8]>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The form in which an encoded vector tile is cached: gzip-compressed once here
/// (kept as it is when empty, answered 204, or when compression does not make it
/// smaller).
pub(crate) fn cached_form(bytes: Vec<u8>) -> std::io::Result<CachedTile> {
    if bytes.is_empty() {
        return Ok(CachedTile::new(bytes));
    }
    let gzip = citygrid_tiles::compress::gzip(&bytes)?;
    Ok(CachedTile::compressed(&bytes, gzip))
}

/// Whether the request's `Accept-Encoding` accepts gzip: `gzip` (or `x-gzip`) with a
/// q-value above 0, or else `*` with a q-value above 0. `gzip;q=0` refuses it even
/// beside `*`; a q-value that does not parse counts as 0.
pub fn accepts_gzip(request: &HeaderMap) -> bool {
    accepted(request).gzip > 0.0
}

/// Whether the request's `Accept-Encoding` names brotli (`br`) with a q-value above 0
/// (`*` alone does not bring brotli: clients that want it name it).
pub fn accepts_brotli(request: &HeaderMap) -> bool {
    accepted(request).brotli > 0.0
}

/// How a compressed tile is sent to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `Content-Encoding: br`.
    Brotli,
    /// `Content-Encoding: gzip`.
    Gzip,
    /// As it is.
    Identity,
}

/// The coding a client gets for a compressed tile: brotli when it accepts brotli at
/// least as much as gzip, else gzip when it accepts that, else the tile as it is.
pub fn preferred_coding(request: &HeaderMap) -> Coding {
    accepted(request).preferred()
}

/// The q-values `Accept-Encoding` gives brotli and gzip (0: refused or not listed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accepted {
    /// `br`'s q-value.
    pub brotli: f32,
    /// `gzip`'s (or `x-gzip`'s) q-value, else that of `*`.
    pub gzip: f32,
}

impl Accepted {
    /// See [`preferred_coding`].
    pub fn preferred(self) -> Coding {
        if self.brotli > 0.0 && self.brotli >= self.gzip {
            Coding::Brotli
        } else if self.gzip > 0.0 {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }
}

/// The request's `Accept-Encoding` read in one pass: each coding's q-value (the
/// highest if listed more than once); gzip's else that of `*`.
pub fn accepted(request: &HeaderMap) -> Accepted {
    let mut br: Option<f32> = None;
    let mut gz: Option<f32> = None;
    let mut star: Option<f32> = None;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let mut q = 1.0_f32;
            for param in parts {
                if let Some((name, v)) = param.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        q = v
                            .trim()
                            .parse::<f32>()
                            .ok()
                            .filter(|q| (0.0..=1.0).contains(q))
                            .unwrap_or(0.0);
                    }
                }
            }
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut gz
                } else if coding.eq_ignore_ascii_case("br") {
                    &mut br
                } else if coding == "*" {
                    &mut star
                } else {
                    continue;
                };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }
    Accepted {
        brotli: br.unwrap_or(0.0),
        gzip: gz.or(star).unwrap_or(0.0),
    }
}

/// Tiles up to this many raw bytes get their brotli form on the request's own
/// thread (a few hundred microseconds at most); larger ones on a blocking thread.
pub(crate) const INLINE_BROTLI_MAX_BYTES: usize = 32 << 10;

/// `tile` (cached under `key`) with its brotli form, made now from its gzip form and
/// kept in the cache beside it ([`citygrid_tiles::cache::TileCache::attach_brotli`]);
/// `tile` as it is if it has no gzip form or the brotli form cannot be made.
pub(crate) fn with_brotli(
    state: &AppState,
    key: &citygrid_tiles::cache::TileKey,
    tile: CachedTile,
) -> CachedTile {
    if !tile.wants_brotli() {
        return tile;
    }
    let made = citygrid_tiles::compress::gunzip(&tile.bytes, tile.raw_len)
        .and_then(|raw| citygrid_tiles::compress::brotli(&raw));
    match made {
        Ok(br) => state.layers.tiles.attach_brotli(key, tile, br),
        Err(e) => {
            tracing::warn!(error = %e, "a cached tile's brotli form could not be made");
            tile
        }
    }
}

/// [`with_brotli`] when `request` prefers brotli, on a blocking thread for a large
/// tile.
pub(crate) async fn brotli_for(
    state: &AppState,
    key: &citygrid_tiles::cache::TileKey,
    tile: CachedTile,
    request: &HeaderMap,
) -> CachedTile {
    if !tile.wants_brotli() || preferred_coding(request) != Coding::Brotli {
        return tile;
    }
    if tile.raw_len <= INLINE_BROTLI_MAX_BYTES {
        return with_brotli(state, key, tile);
    }
    let (state2, key2, tile2) = (state.clone(), key.clone(), tile.clone());
    tokio::task::spawn_blocking(move || with_brotli(&state2, &key2, tile2))
        .await
        .unwrap_or(tile)
}

/// A cached tile as a response: a tile kept compressed goes as stored
/// (`Content-Encoding: gzip`, its own ETag) to a client that accepts gzip, as its
/// brotli form (`Content-Encoding: br`, its own ETag) to one that prefers brotli when
/// the tile has that form ([`brotli_for`]), and decompressed to any other; a tile
/// kept as it is goes as it is. 304 when `If-None-Match` matches the chosen form's
/// ETag, 204 when empty. Tiles kept compressed say `Vary: Accept-Encoding`.
fn respond(
    state: &AppState,
    tile: &CachedTile,
    content_type: &'static str,
    request: &HeaderMap,
    max_age: u32,
) -> Response {
    let compressed = tile.encoding == Encoding::Gzip;
    let coding = match (compressed, preferred_coding(request)) {
        (false, _) => Coding::Identity,
        (true, Coding::Brotli) if tile.brotli.is_some() => Coding::Brotli,
        (true, _) if accepts_gzip(request) => Coding::Gzip,
        (true, _) => Coding::Identity,
    };
    let etag = match coding {
        Coding::Brotli => tile.brotli_etag(),
        Coding::Gzip => tile.gzip_etag(),
        Coding::Identity => None,
    }
    .unwrap_or_else(|| format!("\"{}\"", tile.etag.trim_matches('"')));
    let visibility = if state.config.public_layers {
        "public"
    } else {
        "private"
    };
    let cache_control = format!("{visibility}, max-age={max_age}");
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t.strip_prefix("W/").unwrap_or(t) == etag || t == "*"
            })
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else if tile.raw_len == 0 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let body = match (coding, &tile.brotli) {
            // The rare client without gzip: the raw tile, decompressed for it.
            (Coding::Identity, _) if compressed => {
                match citygrid_tiles::compress::gunzip(&tile.bytes, tile.raw_len) {
                    Ok(raw) => axum::body::Bytes::from(raw),
                    Err(e) => {
                        return ApiError::Internal(format!("a cached tile did not decompress: {e}"))
                            .into_response()
                    }
                }
            }
            // The cached bytes are shared, not copied, into the response.
            (Coding::Brotli, Some(br)) => {
                axum::body::Bytes::from_owner(ArcBytes(std::sync::Arc::clone(br)))
            }
            _ => axum::body::Bytes::from_owner(ArcBytes(std::sync::Arc::clone(&tile.bytes))),
        };
        let mut r = body.into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        // Already compressed: the router's CompressionLayer leaves responses with a
        // Content-Encoding alone.
        match coding {
            Coding::Gzip => {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Coding::Brotli => {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            }
            Coding::Identity => {}
        }
        r
    };
    let headers = response.headers_mut();
    if compressed {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cache_control) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    response
}

/// The tile `z/x/y` (`y` may carry a format suffix) of the layers `ids` (`a,b,c`) for
/// `principal`: 400 for bad ids or coordinates, 404 for an unknown layer or one the
/// caller may not read (left out of a composite tile), 409 while a layer loads. A
/// tile with a layer that is not public is `Cache-Control: private`.
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
    let source = source_for(&metas).map_err(|CannotCombine| {
        ApiError::BadRequest(
            "a raster layer cannot be combined with other layers in one tile".into(),
        )
    })?;
    let mut response = source.tile(state, tile, suffix.as_deref(), headers).await?;
    if !metas.iter().all(|m| state.catalog.is_public(&m.id)) {
        keep_private(&mut response);
    }
    Ok(response)
}

/// Turns `Cache-Control: public` into `private`: a tile with a layer that not everyone
/// may read must not be kept by shared caches (proxies, CDNs).
fn keep_private(response: &mut Response) {
    let headers = response.headers_mut();
    let private = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.replacen("public", "private", 1))
        .unwrap_or_else(|| "private".to_string());
    if let Ok(v) = HeaderValue::from_str(&private) {
        headers.insert(header::CACHE_CONTROL, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn accept_encoding_is_parsed_with_q_values() {
        for yes in [
            &["gzip"][..],
            &["gzip, deflate, br, zstd"],
            &["br;q=1.0, GZIP;q=0.5"],
            &["x-gzip"],
            &["*"],
            &["br", "gzip;q=0.1"],
            &["identity;q=1, *;q=0.3"],
            &["gzip;q=0, gzip;q=0.8"],
        ] {
            assert!(accepts_gzip(&accept(yes)), "{yes:?} accepts gzip");
        }
        for no in [
            &[][..],
            &[""],
            &["identity"],
            &["br, deflate"],
            &["gzip;q=0"],
            &["gzip; q=0.000"],
            &["gzip;q=0, *"],
            &["*;q=0"],
            &["gzip;q=abc"],
            &["gzip;q=2"],
            &["gzipx, xgzip"],
        ] {
            assert!(!accepts_gzip(&accept(no)), "{no:?} does not accept gzip");
        }
    }

    #[test]
    fn brotli_is_preferred_when_accepted_at_least_as_much_as_gzip() {
        for (values, want) in [
            (&["gzip, deflate, br, zstd"][..], Coding::Brotli),
            (&["br"], Coding::Brotli),
            (&["BR;q=0.5, gzip;q=0.5"], Coding::Brotli),
            (&["*"], Coding::Gzip),
            (&["gzip", "br;q=0.9"], Coding::Gzip),
            (&["gzip, br;q=0"], Coding::Gzip),
            (&["br;q=0, *"], Coding::Gzip),
            (&["gzip"], Coding::Gzip),
            (&["identity"], Coding::Identity),
            (&[], Coding::Identity),
            (&["br;q=0, gzip;q=0"], Coding::Identity),
            (&["brotli, xbr"], Coding::Identity),
        ] {
            assert_eq!(preferred_coding(&accept(values)), want, "{values:?}");
        }
        assert!(accepts_brotli(&accept(&["gzip, br"])));
        assert!(!accepts_brotli(&accept(&["gzip"])));
        assert!(!accepts_brotli(&accept(&["br;q=0, *"])));
    }

    #[test]
    fn tiles_are_cached_compressed_unless_it_does_not_pay() {
        let empty = cached_form(Vec::new()).unwrap();
        assert_eq!((empty.encoding, empty.raw_len), (Encoding::Identity, 0));
        let raw: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
        let kept = cached_form(raw.clone()).unwrap();
        assert_eq!((kept.encoding, kept.raw_len), (Encoding::Gzip, raw.len()));
        assert!(kept.held_bytes() < raw.len() / 4);
        assert_eq!(
            citygrid_tiles::compress::gunzip(&kept.bytes, kept.raw_len).unwrap(),
            raw
        );
        assert_eq!(kept.etag, citygrid_tiles::cache::etag_of(&raw));
        let tiny = cached_form(vec![0x1a, 0x02]).unwrap();
        assert_eq!(
            (tiny.encoding, &tiny.bytes[..]),
            (Encoding::Identity, &[0x1a, 0x02][..])
        );
    }

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

    fn meta(id: &str, kind: LayerKind) -> LayerMeta {
        LayerMeta {
            id: id.into(),
            title: id.to_uppercase(),
            kind,
            geometry_type: None,
            feature_count: 0,
            bounds: None,
            min_zoom: 0,
            max_zoom: 14,
            tile_format: (kind == LayerKind::Raster).then(|| "png".into()),
            fields: serde_json::json!([{"name": "height", "type": "double precision"}]),
            source_crs: None,
            version: 1,
            tile_properties: None,
            tile_properties_version: 0,
        }
    }

    #[test]
    fn each_kind_has_its_source_and_rasters_stand_alone() {
        let roads = meta("roads", LayerKind::Vector);
        let parks = meta("parks", LayerKind::Vector);
        let photo = meta("photo", LayerKind::Raster);

        let vectors = [roads.clone(), parks];
        let Ok(Source::Vector(source)) = source_for(&vectors) else {
            panic!("vector layers have a vector source");
        };
        let mut doc = serde_json::json!({});
        source.tilejson(&mut doc);
        assert_eq!(doc["vector_layers"][1]["id"], "parks");
        assert_eq!(doc["vector_layers"][0]["fields"]["height"], "Number");
        assert!(doc.get("format").is_none());

        let alone = [photo.clone()];
        let Ok(Source::Raster(source)) = source_for(&alone) else {
            panic!("a raster layer alone has a raster source");
        };
        let mut doc = serde_json::json!({});
        source.tilejson(&mut doc);
        assert_eq!(doc, serde_json::json!({"format": "png"}));

        assert_eq!(
            source_for(&[roads.clone(), photo.clone()]).err(),
            Some(CannotCombine)
        );
        assert_eq!(
            source_for(&[photo.clone(), roads]).err(),
            Some(CannotCombine)
        );
        assert_eq!(
            source_for(&[photo.clone(), photo]).err(),
            Some(CannotCombine)
        );
    }
}
