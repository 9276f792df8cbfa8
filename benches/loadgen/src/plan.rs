//! What to request: the tile lists, query points and case bodies, found from the
//! server's own catalogue and default style (the layers the web viewer asks for).

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Method, Request};
use serde_json::Value;

use crate::args::Options;
use crate::client::Conn;
use crate::rng::Rng;

/// The kinds of request, in report order.
pub const KINDS: [&str; 6] = ["tile", "raster", "locate", "nearest", "items", "case"];
/// Index of `case` in [`KINDS`].
pub const CASE: usize = 5;

/// At most this many tiles per zoom in a list (spread over the box).
const TILES_PER_ZOOM: usize = 400;
/// Event and component categories of the intake requests (as benches/intake).
const CATEGORIES: [&str; 6] = ["E0102", "E0104", "E0105", "E0101", "P0111", "P0102"];
/// The description every load-test case carries (the script counts them).
pub const CASE_DESCRIPTION: &str = "load test";

/// Everything the workers draw requests from.
pub struct Plan {
    host: String,
    /// `/tiles/{ids}/{z}/{x}/{y}.mvt` paths.
    pub vector_tiles: Vec<String>,
    /// Raster tile paths (empty when the server has no raster layer).
    pub raster_tiles: Vec<String>,
    /// The vector layers combined in one tile.
    pub vector_layers: Vec<String>,
    /// The raster layer, if any.
    pub raster_layer: Option<String>,
    weights: [u32; 5],
    tile_bbox: [f64; 4],
    case_bbox: [f64; 4],
    nearest_layer: String,
    items_layer: String,
    items_filter: String,
    tokens: Vec<String>,
    /// With `--idempotency-keys`: the run's prefix of every key (unique per run, so
    /// that the warm-up's keys are not the load run's).
    key_prefix: Option<String>,
}

/// Tile column and row of a point (Web Mercator, XYZ).
pub fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
    let x = ((lon + 180.0) / 360.0 * n).floor().clamp(0.0, n - 1.0);
    let y = ((1.0 - lat.tan().asinh() / std::f64::consts::PI) / 2.0 * n)
        .floor()
        .clamp(0.0, n - 1.0);
    (x as u32, y as u32)
}

/// Tiles covering `bbox` at each zoom of `zooms`, at most [`TILES_PER_ZOOM`] per zoom
/// (spread evenly when there are more).
pub fn tiles_in(bbox: [f64; 4], zooms: std::ops::RangeInclusive<u8>) -> Vec<(u8, u32, u32)> {
    let mut out = Vec::new();
    for z in zooms {
        let (x0, y0) = tile_of(bbox[0], bbox[3], z);
        let (x1, y1) = tile_of(bbox[2], bbox[1], z);
        let cells: Vec<(u32, u32)> = (x0..=x1)
            .flat_map(|x| (y0..=y1).map(move |y| (x, y)))
            .collect();
        let step = (cells.len() / TILES_PER_ZOOM).max(1);
        out.extend(
            cells
                .iter()
                .step_by(step)
                .take(TILES_PER_ZOOM)
                .map(|&(x, y)| (z, x, y)),
        );
    }
    out
}

/// A GET request with the Host header.
fn get(host: &str, path: &str) -> Request<Full<Bytes>> {
    let mut r = Request::new(Full::new(Bytes::new()));
    *r.uri_mut() = path.parse().unwrap_or_default();
    r.headers_mut()
        .insert(header::HOST, host.parse().expect("host is ip:port"));
    r
}

async fn get_json(conn: &mut Conn, host: &str, path: &str) -> anyhow::Result<Value> {
    let (status, body) = conn
        .send(get(host, path))
        .await
        .map_err(|e| anyhow::anyhow!("GET {path}: {}", e.name()))?;
    if !status.is_success() {
        bail!("GET {path}: status {status}");
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
}

/// Escapes a query-string value (RFC 3986 unreserved characters stay).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Plan {
    /// Asks the server which layers there are and builds the request lists.
    pub async fn discover(o: &Options) -> anyhow::Result<Plan> {
        let host = o.addr.to_string();
        let mut conn = Conn::new(o.addr, o.timeout);
        let catalog = get_json(&mut conn, &host, "/catalog").await?;
        let layers = catalog["layers"]
            .as_array()
            .context("/catalog has no layers")?;
        // The viewer's vector sources: the static layers in one tile request and the
        // live ones (cases) in another, as the default style asks for them.
        let style = get_json(&mut conn, &host, "/styles/default.json").await?;
        let mut vector_layers: Vec<String> = Vec::new();
        let mut vector_tiles: Vec<String> = Vec::new();
        let cells = tiles_in(o.tile_bbox, o.zooms.0..=o.zooms.1);
        for source in ["citygrid", "citygrid-live"] {
            let Some(url) = style["sources"][source]["url"].as_str() else {
                continue;
            };
            let ids = url
                .split("/tiles/")
                .nth(1)
                .and_then(|s| s.split(".json").next())
                .context("unexpected vector source url")?;
            vector_layers.extend(ids.split(',').map(String::from));
            vector_tiles.extend(
                cells
                    .iter()
                    .map(|(z, x, y)| format!("/tiles/{ids}/{z}/{x}/{y}.mvt")),
            );
        }
        if vector_tiles.is_empty() {
            bail!("the default style has no citygrid vector source");
        }
        // A raster layer (the sample orthophoto): its own area, its top five zooms.
        let mut raster_layer = None;
        let mut raster_tiles = Vec::new();
        if let Some(r) = layers.iter().find(|l| l["kind"] == "raster") {
            let id = r["id"].as_str().context("raster layer without id")?;
            let b: Vec<f64> = r["bounds"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let max = r["max_zoom"].as_u64().unwrap_or(18).min(22) as u8;
            let min = (r["min_zoom"].as_u64().unwrap_or(0) as u8).max(max.saturating_sub(4));
            let suffix = match r["tile_format"].as_str() {
                Some("jpeg") | Some("jpg") => "jpg",
                Some("webp") => "webp",
                _ => "png",
            };
            if b.len() == 4 {
                raster_tiles = tiles_in([b[0], b[1], b[2], b[3]], min..=max)
                    .into_iter()
                    .map(|(z, x, y)| format!("/tiles/{id}/{z}/{x}/{y}.{suffix}"))
                    .collect();
                raster_layer = Some(id.to_string());
            }
        }
        let has = |id: &str| layers.iter().any(|l| l["id"] == id);
        let mut weights = [0u32; 5];
        for (i, (name, w)) in o.mix.iter().enumerate() {
            weights[i] = *w;
            let missing = match name.as_str() {
                "raster" => raster_tiles.is_empty(),
                "nearest" => !has(&o.nearest_layer),
                "items" => !has(&o.items_layer),
                _ => false,
            };
            if missing && *w > 0 {
                eprintln!("loadgen: no layer for {name} on the server; its weight is set to 0");
                weights[i] = 0;
            }
        }
        if weights.iter().all(|w| *w == 0) && o.case_rate == 0.0 {
            bail!("nothing left to send");
        }
        Ok(Plan {
            host,
            vector_tiles,
            raster_tiles,
            vector_layers,
            raster_layer,
            weights,
            tile_bbox: o.tile_bbox,
            case_bbox: o.case_bbox,
            nearest_layer: o.nearest_layer.clone(),
            items_layer: o.items_layer.clone(),
            items_filter: o.items_filter.clone(),
            tokens: o.tokens.clone(),
            key_prefix: o.idempotency_keys.then(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                format!("lg{nanos:x}")
            }),
        })
    }

    /// Draws a kind from the weights (not `case`: cases are paced separately).
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total: u32 = self.weights.iter().sum();
        let mut r = rng.below(total as usize) as u32;
        for (i, w) in self.weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        0
    }

    /// True when the mix has something besides cases.
    pub fn has_mix(&self) -> bool {
        self.weights.iter().any(|w| *w > 0)
    }

    fn point(rng: &mut Rng, b: [f64; 4]) -> (f64, f64) {
        (rng.between(b[0], b[2]), rng.between(b[1], b[3]))
    }

    /// A request of kind `kind` (an index of [`KINDS`]).
    pub fn request(&self, kind: usize, rng: &mut Rng) -> Request<Full<Bytes>> {
        let h = &self.host;
        match KINDS[kind] {
            "tile" => get(h, &self.vector_tiles[rng.below(self.vector_tiles.len())]),
            "raster" => get(h, &self.raster_tiles[rng.below(self.raster_tiles.len())]),
            "locate" => {
                let (lon, lat) = Self::point(rng, self.case_bbox);
                get(h, &format!("/api/locate?lon={lon:.6}&lat={lat:.6}"))
            }
            "nearest" => {
                let (lon, lat) = Self::point(rng, self.tile_bbox);
                get(
                    h,
                    &format!(
                        "/api/nearest?layer={}&lon={lon:.6}&lat={lat:.6}&k=10&max_distance_m=2000",
                        self.nearest_layer
                    ),
                )
            }
            "items" => {
                // a box of about 300 m × 300 m somewhere in the city
                let (lon, lat) = Self::point(rng, self.tile_bbox);
                let (dx, dy) = (0.0027, 0.00135);
                get(
                    h,
                    &format!(
                        "/ogc/collections/{}/items?bbox={:.6},{:.6},{:.6},{:.6}&filter={}&filter-lang=cql2-text&limit=50",
                        self.items_layer,
                        lon - dx,
                        lat - dy,
                        lon + dx,
                        lat + dy,
                        escape(&self.items_filter)
                    ),
                )
            }
            _ => self.case_request(rng),
        }
    }

    fn case_request(&self, rng: &mut Rng) -> Request<Full<Bytes>> {
        // 20 m inside the edges of the gridded area
        let b = self.case_bbox;
        let (mx, my) = (0.0004, 0.0002);
        let lon = rng.between(b[0] + mx, b[2] - mx);
        let lat = rng.between(b[1] + my, b[3] - my);
        let category = CATEGORIES[rng.below(CATEGORIES.len())];
        let body = serde_json::json!({
            "category": category,
            "lon": (lon * 1e7).round() / 1e7,
            "lat": (lat * 1e7).round() / 1e7,
            "description": CASE_DESCRIPTION,
        })
        .to_string();
        let token = &self.tokens[rng.below(self.tokens.len())];
        let key = self
            .key_prefix
            .as_ref()
            .map(|p| format!("{p}-{:016x}", rng.next_u64()));
        let mut r = Request::new(Full::new(Bytes::from(body)));
        *r.method_mut() = Method::POST;
        *r.uri_mut() = hyper::Uri::from_static("/api/cases");
        let headers = r.headers_mut();
        headers.insert(header::HOST, self.host.parse().expect("host is ip:port"));
        headers.insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("static"),
        );
        if let Ok(v) = format!("Bearer {token}").parse() {
            headers.insert(header::AUTHORIZATION, v);
        }
        if let Some(Ok(v)) = key.map(|k| k.parse()) {
            headers.insert("idempotency-key", v);
        }
        r
    }

    /// Whether case requests carry an `Idempotency-Key` (and may be sent again).
    pub fn keyed(&self) -> bool {
        self.key_prefix.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_box() {
        // central Helsinki at z12 is one tile: 2331/1185
        let t = tiles_in([24.935, 60.164, 24.953, 60.179], 12..=12);
        assert_eq!(t, vec![(12, 2331, 1185)]);
        let many = tiles_in([24.0, 60.0, 25.0, 61.0], 16..=16);
        assert_eq!(many.len(), TILES_PER_ZOOM);
        assert_eq!(escape("a = 'b'"), "a%20%3D%20%27b%27");
    }
}
