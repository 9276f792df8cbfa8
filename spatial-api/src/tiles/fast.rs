//! The fast path of `GET /tiles/{ids}/{z}/{x}/{y}`: a vector tile asked for by an
//! anonymous gzip or brotli client that is in the tile cache — or small enough to be encoded
//! on the request's own thread, as the full stack does with such tiles — is answered
//! straight from the request line (parse the path, check the layers, look the key
//! up, send the stored gzip or brotli bytes) without the middleware stack, the extractors or
//! the catalogue entries' copies (issue 17: the stack's per-request clones of the
//! application state and of the boxed route services cost more than the tile lookup
//! itself).
//!
//! It answers exactly as the full stack would, or not at all: everything else —
//! credentials (`Authorization`, `X-API-Key`, `?key=`), conditional requests
//! (`If-None-Match`), a client's `X-Request-Id`, a body, clients that accept neither
//! gzip nor brotli, a brotli client's first request for a large tile,
//! escapes in the path, image suffixes, raster layers, layers still loading, a
//! layer anonymous callers may not read (the layer check of
//! [`crate::catalog::Registry::may_read`]), the route policy refusing anonymous
//! callers (`public_layers` off), a rate-limit refusal, and a miss that is not a small tile — goes
//! on to the full router unchanged. What the stack adds to a hit is added here too:
//! the route's metrics, the access-log line, the request id, the CORS headers of map
//! data, `nosniff` and the referrer policy, the per-address rate limit.
//!
//! WMTS `GetTile` of vector tiles (RESTful and KVP, read by
//! [`crate::wmts::fast_key`]) takes the same path under the same cache keys, counted
//! and logged under the WMTS route; a geographic set's tile only when cached. So do
//! cached WMTS raster tiles ([`Fast::wmts_raster`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use citygrid_geo::matrixset::Grid;
use citygrid_geo::tms::{TileCoord, MAX_ZOOM};
use citygrid_tiles::cache::{Encoding, TileKey};
use citygrid_tiles::LayerKind;
use futures_util::future::{ready, Either, Ready};
use tower::Service;

use super::{accepted, Coding, MAX_LAYERS_PER_TILE};
use crate::auth::{self, Access, Principal};
use crate::layers::LoadedLayer;
use crate::ratelimit::RateLimiter;
use crate::state::AppState;

/// The route pattern the fast path answers (for the metrics and the access log).
const ROUTE: &str = "/tiles/{ids}/{z}/{x}/{y}";

/// What the fast path needs, shared by every connection.
struct Fast {
    state: AppState,
    limiter: Arc<RateLimiter>,
    /// The router's bound on request header bytes (more goes to the stack's 431).
    max_header_bytes: usize,
}

/// The application with the fast path in front (see the module documentation).
#[derive(Clone)]
struct FastTiles {
    inner: Router,
    fast: Arc<Fast>,
}

/// `router` with the tile fast path in front of it. `limiter` is the router's own
/// per-address limiter, so a tile is charged like any other request;
/// `max_header_bytes` its bound on request headers.
pub fn wrap(
    router: Router,
    state: AppState,
    limiter: Arc<RateLimiter>,
    max_header_bytes: usize,
) -> Router {
    Router::new().fallback_service(FastTiles {
        inner: router,
        fast: Arc::new(Fast {
            state,
            limiter,
            max_header_bytes,
        }),
    })
}

impl Service<Request> for FastTiles {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, <Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        <Router as Service<Request>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.fast.hit(&request) {
            Some(response) => Either::Left(ready(Ok(response))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// Cached tile bytes as a `Bytes` owner (shared, not copied).
struct ArcBytes(Arc<[u8]>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Headers whose presence sends a request to the full stack.
const FULL_STACK_HEADERS: [header::HeaderName; 6] = [
    header::AUTHORIZATION,
    header::IF_NONE_MATCH,
    header::IF_MATCH,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONTENT_TYPE,
];

/// The parts of a tile path: layer ids (checked, distinct), the tile.
struct TilePath<'a> {
    ids: Vec<&'a str>,
    tile: TileCoord,
}

/// `ids/z/x/y[.mvt|.pbf]` as the full route reads it, or `None` for anything the
/// fast path leaves to it (bad ids or numbers get their 400 there).
fn parse(rest: &str) -> Option<TilePath<'_>> {
    let mut parts = rest.split('/');
    let (ids, z, x, y) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let y = match y.split_once('.') {
        Some((y, suffix)) if suffix.eq_ignore_ascii_case("mvt") => y,
        Some((y, suffix)) if suffix.eq_ignore_ascii_case("pbf") => y,
        Some(_) => return None,
        None => y,
    };
    let mut list: Vec<&str> = Vec::with_capacity(4);
    for id in ids.split(',') {
        if !citygrid_db::is_identifier(id, 48) || list.contains(&id) {
            return None;
        }
        list.push(id);
    }
    if list.len() > MAX_LAYERS_PER_TILE {
        return None;
    }
    let tile =
        TileCoord::with_max_zoom(z.parse().ok()?, x.parse().ok()?, y.parse().ok()?, MAX_ZOOM)
            .ok()?;
    Some(TilePath { ids: list, tile })
}

impl Fast {
    /// Whether anonymous callers may read layer `id` — the layer check of every
    /// tile request (a layer they may not read is the full stack's 404).
    fn anonymous_may_read(&self, id: &str) -> bool {
        self.state.catalog.may_read(&Principal::Anonymous, id)
    }

    /// The response to `request` if it is a cache hit the fast path may answer.
    fn hit(&self, request: &Request) -> Option<Response> {
        if request.method() != Method::GET {
            return None;
        }
        let uri = request.uri();
        // WMTS GetTile of vector tiles (RESTful and KVP): the same tiles and cache keys.
        let wmts = crate::wmts::fast_key::parse(uri.path(), uri.query());
        let rest = match wmts {
            Some(_) => "",
            None => uri.path().strip_prefix("/tiles/")?,
        };
        if wmts.is_none() && (uri.query().is_some() || rest.len() > 2048 || rest.contains('%')) {
            return None;
        }
        let headers = request.headers();
        let accepted = accepted(headers);
        if FULL_STACK_HEADERS.iter().any(|h| headers.contains_key(h))
            || headers.contains_key("x-api-key")
            || headers.contains_key("x-request-id")
            || accepted.preferred() == Coding::Identity
        {
            return None;
        }
        let header_bytes: usize = headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len())
            .sum();
        if header_bytes > self.max_header_bytes {
            return None;
        }
        let state = &self.state;
        // The route's policy for the anonymous caller, then each layer's.
        if auth::check(
            Access::Layers,
            &Principal::Anonymous,
            state.config.public_layers,
        )
        .is_err()
        {
            return None;
        }
        let start = Instant::now();
        let path = match wmts {
            Some(w) => TilePath {
                ids: vec![w.layer],
                tile: w.tile.address(),
            },
            None => parse(rest)?,
        };
        let (grid, route) = wmts.map_or((Grid::Mercator, ROUTE), |w| (w.tile.grid(), w.route));
        if let Some(w) = wmts.filter(|w| w.format != crate::wmts::fast_key::Format::Mvt) {
            return self.wmts_raster(request, &w, start);
        }
        let catalog = state.catalog.layers();
        // Each layer with the generation it had before the key is made (as the
        // full stack reads them: a tile encoded across a patch is not cached).
        let mut loaded: Vec<(Arc<LoadedLayer>, u64)> = Vec::with_capacity(path.ids.len());
        for id in &path.ids {
            let meta = catalog.iter().find(|m| m.id == *id)?;
            if meta.kind != LayerKind::Vector || !self.anonymous_may_read(id) {
                return None;
            }
            let layer = state.layers.get(id)?;
            let generation = layer.generation();
            loaded.push((layer, generation));
        }
        let key = TileKey::in_grid(
            grid,
            path.tile,
            loaded
                .iter()
                .map(|(l, _)| (l.meta.id.as_str(), l.tile_key_version())),
        );
        // Charged before any work; the full stack refuses with its 429.
        self.limiter.charge_address(request).ok()?;
        let cached = match state.layers.tiles.get(&key) {
            Some(cached) => cached,
            // Geographic (WMTS) tiles are encoded by the full stack only.
            None if grid != Grid::Mercator => {
                self.limiter.refund_address(request);
                return None;
            }
            // A small tile is encoded and cached right here, on the request's own
            // thread, as the full stack does; a larger one (or a failure) is its own.
            None => match super::vector::encode_small(state, &key, path.tile, &loaded) {
                Some(Ok(tile)) => tile,
                _ => {
                    self.limiter.refund_address(request);
                    return None;
                }
            },
        };
        // A brotli client's first request for a tile adds its brotli form (a large
        // tile's is made on a blocking thread by the full stack).
        let brotli = accepted.preferred() == Coding::Brotli;
        let cached = if brotli && cached.wants_brotli() {
            if cached.raw_len > super::INLINE_BROTLI_MAX_BYTES {
                self.limiter.refund_address(request);
                return None;
            }
            super::with_brotli(state, &key, cached)
        } else {
            cached
        };
        // An empty tile is kept as it is and answered 204; a tile kept compressed is
        // sent as its stored brotli bytes to a brotli client, as its stored gzip bytes
        // to a gzip client, one kept raw (gzip did not make it smaller) as it is.
        let empty = cached.raw_len == 0;
        let compressed = cached.encoding == Encoding::Gzip;
        let (coding, bytes, etag) = match (&cached.brotli, cached.brotli_etag()) {
            (Some(br), Some(etag)) if brotli => (Some("br"), Arc::clone(br), etag),
            _ if !compressed => (
                None,
                Arc::clone(&cached.bytes),
                format!("\"{}\"", cached.etag.trim_matches('"')),
            ),
            _ => match cached.gzip_etag() {
                Some(etag) if accepted.gzip > 0.0 => {
                    (Some("gzip"), Arc::clone(&cached.bytes), etag)
                }
                // a brotli-only client and no brotli form: the full stack's
                _ => {
                    self.limiter.refund_address(request);
                    return None;
                }
            },
        };
        let len = bytes.len() as u64;
        let status = if empty {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::OK
        };
        let mut response = if empty {
            Response::new(Body::empty())
        } else {
            Response::new(Body::from(Bytes::from_owner(ArcBytes(bytes))))
        };
        *response.status_mut() = status;
        let h = response.headers_mut();
        if !empty {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(citygrid_tiles::mvt::MVT_TYPE),
            );
        }
        if let Some(coding) = coding.filter(|_| !empty) {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        if compressed {
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        // Anonymous callers read only public layers here: shared caches may keep it.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
        self.finish(request, &mut response, route, start, len);
        Some(response)
    }

    /// A WMTS raster tile ([`crate::wmts::fast_key`]) of a layer anonymous callers may
    /// read, in the layer's own image format, that is in the tile cache: answered as
    /// `tiles::raster` answers it through the stack (the stored image, its ETag,
    /// `max-age=3600`, 204 where the pyramid has no tile). Anything else is `None`.
    fn wmts_raster(
        &self,
        request: &Request,
        w: &crate::wmts::fast_key::FastTile<'_>,
        start: Instant,
    ) -> Option<Response> {
        let state = &self.state;
        let catalog = state.catalog.layers();
        let meta = catalog.iter().find(|m| m.id == w.layer)?;
        if meta.kind != LayerKind::Raster || !self.anonymous_may_read(w.layer) {
            return None;
        }
        let content_type =
            crate::wmts::fast_key::raster_type(meta.tile_format.as_deref(), w.format)?;
        let key = TileKey::in_grid(
            w.tile.grid(),
            w.tile.address(),
            [(w.layer, meta.version as u64)],
        );
        self.limiter.charge_address(request).ok()?;
        let cached = match state.layers.tiles.get(&key) {
            Some(cached) if cached.encoding == Encoding::Identity => cached,
            _ => {
                self.limiter.refund_address(request);
                return None;
            }
        };
        let empty = cached.raw_len == 0;
        let len = cached.bytes.len() as u64;
        let (status, mut response) = if empty {
            (StatusCode::NO_CONTENT, Response::new(Body::empty()))
        } else {
            let body = Body::from(Bytes::from_owner(ArcBytes(cached.bytes)));
            (StatusCode::OK, Response::new(body))
        };
        *response.status_mut() = status;
        let h = response.headers_mut();
        if !empty {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", cached.etag.trim_matches('"'))) {
            h.insert(header::ETAG, v);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if state.config.public_layers {
                "public, max-age=3600"
            } else {
                "private, max-age=3600"
            }),
        );
        self.finish(request, &mut response, w.route, start, len);
        Some(response)
    }

    /// What the stack adds to an answer of map data — CORS for the caller's origin,
    /// `nosniff`, the referrer policy, a request id — then the route's metrics and
    /// its access-log line (`len`: the body's bytes).
    fn finish(
        &self,
        request: &Request,
        response: &mut Response,
        route: &'static str,
        start: Instant,
        len: u64,
    ) {
        let state = &self.state;
        let status = response.status();
        let headers = request.headers();
        let uri = request.uri();
        let h = response.headers_mut();
        if let Some(origin) = headers.get(header::ORIGIN) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("ETag, Retry-After"),
            );
        }
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            "referrer-policy",
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        let id = format!("{:016x}", rand::random::<u64>());
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert("x-request-id", v);
        }
        let elapsed = start.elapsed();
        state
            .metrics
            .record(route, "GET", status.as_u16(), elapsed.as_secs_f64());
        if state.config.access_log {
            let client = request
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string());
            tracing::info!(
                target: "citygrid_access",
                request_id = %id,
                method = "GET",
                path = ?uri.path(),
                query = ?uri.query().unwrap_or(""),
                route = ?route,
                status = status.as_u16(),
                ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
                bytes = Some(len),
                client = client.as_deref().unwrap_or("-"),
                "request"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_as_the_route_reads_them() {
        let p = parse("a,b/3/1/2.mvt").unwrap();
        assert_eq!(p.ids, vec!["a", "b"]);
        assert_eq!(p.tile, TileCoord::new(3, 1, 2).unwrap());
        assert!(parse("a/3/1/2.PBF").is_some());
        assert!(parse("a/3/1/2").is_some());
        // everything else is the full stack's: image suffixes, bad ids, duplicates,
        // tiles outside the grid, extra segments, too many layers
        for bad in [
            "a/3/1/2.png",
            "a/3/1/2.",
            "A/3/1/2",
            "a,a/3/1/2",
            "a,/3/1/2",
            "a/3/8/2",
            "a/25/0/0",
            "a/3/1/2/4",
            "a/3/1",
            "a/x/1/2",
            "",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_LAYERS_PER_TILE).map(|i| format!("l{i}")).collect();
        assert!(parse(&format!("{}/0/0/0", many.join(","))).is_none());
        assert!(parse(&format!("{}/0/0/0", many[1..].join(","))).is_some());
    }
}
