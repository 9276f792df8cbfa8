//! The tile matrix sets citygrid serves, in one place: **WebMercatorQuad** (EPSG:3857,
//! the XYZ scheme of [`crate::tms`]), **WorldCRS84Quad** (OGC 17-083r4: lon/lat
//! degrees, level 0 = 2×1 tiles of 180°) and **CGCS2000Quad** (EPSG:4490, aligned with
//! Tianditu's "c" matrix set: level `n` has the tile boundaries of WorldCRS84Quad level
//! `n − 1`, so level 1 = 2×1 tiles of 180°, 256 px tiles, top-left corner (-180°, 90°)).
//!
//! **One address space per grid.** A tile of a geographic set is addressed inside the
//! library by a [`TileCoord`] of the CGCS2000Quad level: level `n`, column `x < 2^n`,
//! row `y < 2^(n-1)` (a WorldCRS84Quad tile `z/x/y` is the address `(z+1)/x/y`). The two
//! geographic sets therefore share their encoded tiles and cache entries (CGCS2000 and
//! WGS 84 differ by centimetres, far below a pixel at any level served). A
//! [`Grid`] says how to read an address: [`Grid::Mercator`] or [`Grid::Geographic`].
//!
//! **Scale denominators** follow the rule of OGC 17-083r4 for geographic CRSs: a
//! degree is `2π · 6378137 m / 360` ([`METRES_PER_DEGREE`]) and a pixel 0.28 mm, so
//! CGCS2000Quad level 1 (0.703125°/px) has 279 541 132.014 358 8, the value of
//! WorldCRS84Quad level 0. Tianditu's own capabilities print 2.958 293 554 545 656E8
//! for that level (a 90.7 dpi rule of thumb); clients that derive the resolution from
//! the scale denominator and 0.28 mm (GDAL, OpenLayers, OWSLib) get exact 0.703125°
//! pixels only from the OGC value, so that is what citygrid publishes.
//!
//! ```
//! use citygrid_geo::matrixset::MatrixSet;
//! let c = MatrixSet::Cgcs2000Quad;
//! assert_eq!(c.matrix_size(1), (2, 1));
//! let t = c.tile(1, 1, 0).unwrap();
//! assert_eq!(c.tile_lonlat_bounds(&t).to_array(), [0.0, -90.0, 180.0, 90.0]);
//! assert!(c.tile(0, 0, 0).is_err());
//! let w = MatrixSet::WorldCrs84Quad;
//! assert_eq!(w.matrix_size(0), (2, 1));
//! assert_eq!(w.tile(0, 1, 0).unwrap().address(), t.address());
//! ```

use serde_json::{json, Value};

use crate::tms::{
    lonlat_bbox_to_mercator, pixel_size_m, tiles_covering, web_mercator_quad_json, Bbox, TileCoord,
    TmsError, EARTH_RADIUS_M, MAX_LATITUDE, MAX_ZOOM, MERC_HALF_WORLD_M, TILE_SIZE_PX,
};

/// Metres in one degree of a geographic CRS for scale denominators (OGC 17-083r4:
/// `2π · 6378137 / 360`).
pub const METRES_PER_DEGREE: f64 = 2.0 * std::f64::consts::PI * EARTH_RADIUS_M / 360.0;

/// The standardized rendering pixel size of OGC tile matrix sets and WMTS (0.28 mm).
pub const STANDARD_PIXEL_M: f64 = 0.000_28;

/// How a tile address ([`TileCoord`]) is read: Web Mercator `z/x/y`, or a geographic
/// tile of CGCS2000Quad level `z` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grid {
    /// WebMercatorQuad.
    Mercator,
    /// CGCS2000Quad levels (and WorldCRS84Quad one level lower): lon/lat degrees.
    Geographic,
}

impl Grid {
    /// Width (and height) of one tile of address level `z` in the grid's own units:
    /// Web Mercator metres or degrees.
    pub fn tile_span(self, z: u8) -> f64 {
        match self {
            Grid::Mercator => crate::tms::tile_span_m(z),
            Grid::Geographic => 360.0 / crate::tms::tiles_per_axis(z),
        }
    }

    /// The bounds of an address in the grid's own units (Web Mercator metres, or
    /// lon/lat degrees with `x` = longitude).
    pub fn native_bounds(self, t: TileCoord) -> Bbox {
        match self {
            Grid::Mercator => t.bounds(),
            Grid::Geographic => {
                let span = self.tile_span(t.z());
                let min_x = -180.0 + f64::from(t.x()) * span;
                let max_y = 90.0 - f64::from(t.y()) * span;
                Bbox {
                    min_x,
                    min_y: max_y - span,
                    max_x: min_x + span,
                    max_y,
                }
            }
        }
    }

    /// The bounds of address `z/x/y` in the grid's own units, unchecked (see
    /// [`Grid::native_bounds`]).
    pub fn bounds_of(self, z: u8, x: u32, y: u32) -> Bbox {
        match self {
            Grid::Mercator => crate::tms::tile_bounds(z, x, y),
            Grid::Geographic => {
                let span = self.tile_span(z);
                let min_x = -180.0 + f64::from(x) * span;
                let max_y = 90.0 - f64::from(y) * span;
                Bbox::new(min_x, max_y - span, min_x + span, max_y)
            }
        }
    }

    /// `(columns, rows)` of address level `z`.
    pub fn matrix_size(self, z: u8) -> (u64, u64) {
        let n = 1u64 << u32::from(z).min(62);
        match self {
            Grid::Mercator => (n, n),
            Grid::Geographic => (n, n / 2),
        }
    }

    /// The addresses of level `z` that a box in the grid's own units overlaps by more
    /// than an edge, clamped to the matrix (never empty: a box outside gives the
    /// nearest edge tiles), as inclusive `(min_x, min_y, max_x, max_y)`. The raster
    /// pyramid's rule ([`crate::tms::tiles_overlapping`] for Web Mercator).
    pub fn overlapping(self, bbox: &Bbox, z: u8) -> (u32, u32, u32, u32) {
        if self == Grid::Mercator {
            let r = crate::tms::tiles_overlapping(bbox, z);
            return r.limits().unwrap_or((0, 0, 0, 0));
        }
        let span = self.tile_span(z);
        let (w, h) = self.matrix_size(z);
        let eps = span * 1e-9;
        let clamp = |v: f64, n: u64| v.floor().clamp(0.0, n.saturating_sub(1) as f64) as u32;
        let x0 = clamp((bbox.min_x + 180.0 + eps) / span, w);
        let x1 = clamp((bbox.max_x + 180.0 - eps) / span, w);
        let y0 = clamp((90.0 - bbox.max_y + eps) / span, h);
        let y1 = clamp((90.0 - bbox.min_y - eps) / span, h);
        (x0, y0, x1.max(x0), y1.max(y0))
    }

    /// The bounds of an address in lon/lat degrees.
    pub fn lonlat_bounds(self, t: TileCoord) -> Bbox {
        match self {
            Grid::Mercator => t.lonlat_bounds(),
            Grid::Geographic => self.native_bounds(t),
        }
    }

    /// The address's bounds grown by `buffer` units of a tile of `extent` units (the
    /// MVT buffer), in the grid's own units. `extent == 0` gives the plain bounds.
    pub fn buffered_native_bounds(self, t: TileCoord, buffer: u32, extent: u32) -> Bbox {
        let b = self.native_bounds(t);
        if extent == 0 {
            return b;
        }
        b.expand(self.tile_span(t.z()) * f64::from(buffer) / f64::from(extent))
    }

    /// The buffered bounds as a Web Mercator box (latitudes clamped to the Mercator
    /// world): what to ask the index for and what a cache invalidation compares.
    pub fn buffered_bounds_merc(self, t: TileCoord, buffer: u32, extent: u32) -> Bbox {
        match self {
            Grid::Mercator => t.buffered_bounds(buffer, extent),
            Grid::Geographic => {
                let b = self.buffered_native_bounds(t, buffer, extent);
                let clamped = Bbox::new(
                    b.min_x,
                    b.min_y.clamp(-MAX_LATITUDE, MAX_LATITUDE),
                    b.max_x,
                    b.max_y.clamp(-MAX_LATITUDE, MAX_LATITUDE),
                );
                lonlat_bbox_to_mercator(&clamped)
            }
        }
    }
}

/// One of the tile matrix sets served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatrixSet {
    /// OGC WebMercatorQuad (EPSG:3857), levels 0–24.
    WebMercatorQuad,
    /// OGC WorldCRS84Quad (CRS84 lon/lat), levels 0–23.
    WorldCrs84Quad,
    /// CGCS2000 lon/lat (EPSG:4490) on Tianditu's "c" levels, 1–24.
    Cgcs2000Quad,
}

/// A validated tile of one matrix set: `level/col/row` as the set numbers them, with
/// its [`Grid`] address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GridTile {
    set: MatrixSet,
    level: u8,
    col: u32,
    row: u32,
    address: TileCoord,
}

impl GridTile {
    /// The matrix set.
    pub fn set(&self) -> MatrixSet {
        self.set
    }
    /// The tile matrix (level) as the set numbers it.
    pub fn level(&self) -> u8 {
        self.level
    }
    /// The column (west to east).
    pub fn col(&self) -> u32 {
        self.col
    }
    /// The row (north to south).
    pub fn row(&self) -> u32 {
        self.row
    }
    /// The address in the set's [`Grid`].
    pub fn address(&self) -> TileCoord {
        self.address
    }
    /// The grid of the address.
    pub fn grid(&self) -> Grid {
        self.set.grid()
    }
}

impl MatrixSet {
    /// Every set, in the order documents list them.
    pub const ALL: [MatrixSet; 3] = [
        MatrixSet::WebMercatorQuad,
        MatrixSet::WorldCrs84Quad,
        MatrixSet::Cgcs2000Quad,
    ];

    /// The identifier used in URLs and documents.
    pub fn id(self) -> &'static str {
        match self {
            MatrixSet::WebMercatorQuad => "WebMercatorQuad",
            MatrixSet::WorldCrs84Quad => "WorldCRS84Quad",
            MatrixSet::Cgcs2000Quad => "CGCS2000Quad",
        }
    }

    /// The set named `id` (exactly as [`MatrixSet::id`] spells it).
    pub fn parse(id: &str) -> Option<MatrixSet> {
        MatrixSet::ALL.into_iter().find(|s| s.id() == id)
    }

    /// A human title.
    pub fn title(self) -> &'static str {
        match self {
            MatrixSet::WebMercatorQuad => "Google Maps Compatible for the World",
            MatrixSet::WorldCrs84Quad => "CRS84 for the World",
            MatrixSet::Cgcs2000Quad => "CGCS2000 for the World (Tianditu \"c\" levels)",
        }
    }

    /// The registered URI of the set (none for CGCS2000Quad).
    pub fn uri(self) -> Option<&'static str> {
        match self {
            MatrixSet::WebMercatorQuad => {
                Some("http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad")
            }
            MatrixSet::WorldCrs84Quad => {
                Some("http://www.opengis.net/def/tilematrixset/OGC/1.0/WorldCRS84Quad")
            }
            MatrixSet::Cgcs2000Quad => None,
        }
    }

    /// The CRS as an OGC HTTP URI.
    pub fn crs_uri(self) -> &'static str {
        match self {
            MatrixSet::WebMercatorQuad => "http://www.opengis.net/def/crs/EPSG/0/3857",
            MatrixSet::WorldCrs84Quad => "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            MatrixSet::Cgcs2000Quad => "http://www.opengis.net/def/crs/EPSG/0/4490",
        }
    }

    /// The CRS as the URN WMTS capabilities use (`SupportedCRS`).
    pub fn crs_urn(self) -> &'static str {
        match self {
            MatrixSet::WebMercatorQuad => "urn:ogc:def:crs:EPSG::3857",
            MatrixSet::WorldCrs84Quad => "urn:ogc:def:crs:OGC:1.3:CRS84",
            MatrixSet::Cgcs2000Quad => "urn:ogc:def:crs:EPSG::4490",
        }
    }

    /// The well-known scale set, where there is one.
    pub fn well_known_scale_set(self) -> Option<&'static str> {
        match self {
            MatrixSet::WebMercatorQuad => {
                Some("http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible")
            }
            MatrixSet::WorldCrs84Quad => {
                Some("http://www.opengis.net/def/wkss/OGC/1.0/GoogleCRS84Quad")
            }
            MatrixSet::Cgcs2000Quad => None,
        }
    }

    /// True when the CRS's first axis is latitude (EPSG:4490): corners in documents
    /// are written `lat lon`.
    pub fn lat_first(self) -> bool {
        self == MatrixSet::Cgcs2000Quad
    }

    /// The grid of the set's addresses.
    pub fn grid(self) -> Grid {
        match self {
            MatrixSet::WebMercatorQuad => Grid::Mercator,
            MatrixSet::WorldCrs84Quad | MatrixSet::Cgcs2000Quad => Grid::Geographic,
        }
    }

    /// Address level minus set level.
    fn offset(self) -> u8 {
        match self {
            MatrixSet::WorldCrs84Quad => 1,
            MatrixSet::WebMercatorQuad | MatrixSet::Cgcs2000Quad => 0,
        }
    }

    /// The lowest level.
    pub fn min_level(self) -> u8 {
        match self {
            MatrixSet::Cgcs2000Quad => 1,
            MatrixSet::WebMercatorQuad | MatrixSet::WorldCrs84Quad => 0,
        }
    }

    /// The highest level served (address level [`MAX_ZOOM`]).
    pub fn max_level(self) -> u8 {
        MAX_ZOOM - self.offset()
    }

    /// The set level of an address level (`None` when the set has no such level).
    pub fn level_of_address(self, z: u8) -> Option<u8> {
        z.checked_sub(self.offset())
            .filter(|l| (self.min_level()..=self.max_level()).contains(l))
    }

    /// The address level of a set level.
    pub fn address_level(self, level: u8) -> u8 {
        level.saturating_add(self.offset())
    }

    /// `(matrixWidth, matrixHeight)` of a level.
    pub fn matrix_size(self, level: u8) -> (u64, u64) {
        let z = u32::from(self.address_level(level)).min(62);
        match self.grid() {
            Grid::Mercator => (1 << z, 1 << z),
            Grid::Geographic => (1 << z, (1u64 << z) / 2),
        }
    }

    /// The tile `level/col/row`, checked.
    pub fn tile(self, level: u8, col: u32, row: u32) -> Result<GridTile, TmsError> {
        if level > self.max_level() {
            return Err(TmsError::ZoomTooHigh {
                z: level,
                max: self.max_level(),
            });
        }
        if level < self.min_level() {
            return Err(TmsError::ZoomTooLow {
                z: level,
                min: self.min_level(),
            });
        }
        let (w, h) = self.matrix_size(level);
        if u64::from(col) >= w {
            return Err(TmsError::ColumnOutOfRange {
                z: level,
                x: col,
                limit: w,
            });
        }
        if u64::from(row) >= h {
            return Err(TmsError::RowOutOfRange {
                z: level,
                y: row,
                limit: h,
            });
        }
        let address = TileCoord::new(self.address_level(level), col, row)?;
        Ok(GridTile {
            set: self,
            level,
            col,
            row,
            address,
        })
    }

    /// The size of one pixel at `level` in the CRS's units (metres or degrees).
    pub fn cell_size(self, level: u8) -> f64 {
        let z = self.address_level(level);
        match self.grid() {
            Grid::Mercator => pixel_size_m(z, TILE_SIZE_PX),
            Grid::Geographic => Grid::Geographic.tile_span(z) / f64::from(TILE_SIZE_PX),
        }
    }

    /// The OGC scale denominator of `level` (0.28 mm pixels; a degree is
    /// [`METRES_PER_DEGREE`]).
    pub fn scale_denominator(self, level: u8) -> f64 {
        let metres = match self.grid() {
            Grid::Mercator => self.cell_size(level),
            Grid::Geographic => self.cell_size(level) * METRES_PER_DEGREE,
        };
        metres / STANDARD_PIXEL_M
    }

    /// The top-left corner `(x, y)` in lon/lat order for geographic sets (metres for
    /// WebMercatorQuad).
    pub fn origin(self) -> (f64, f64) {
        match self.grid() {
            Grid::Mercator => (-MERC_HALF_WORLD_M, MERC_HALF_WORLD_M),
            Grid::Geographic => (-180.0, 90.0),
        }
    }

    /// The top-left corner in the CRS's axis order (`lat lon` for EPSG:4490).
    pub fn origin_in_axis_order(self) -> [f64; 2] {
        let (x, y) = self.origin();
        if self.lat_first() {
            [y, x]
        } else {
            [x, y]
        }
    }

    /// The bounds of a tile in the set's CRS, `x` = easting or longitude.
    pub fn tile_native_bounds(self, t: &GridTile) -> Bbox {
        self.grid().native_bounds(t.address)
    }

    /// The bounds of a tile in lon/lat degrees.
    pub fn tile_lonlat_bounds(self, t: &GridTile) -> Bbox {
        self.grid().lonlat_bounds(t.address)
    }

    /// The tiles of `level` whose closed bounds touch a lon/lat box, as inclusive
    /// `(min_col, min_row, max_col, max_row)` (WMTS `TileMatrixSetLimits`); `None`
    /// when the box is invalid or outside the set's world.
    pub fn tile_limits(self, lonlat: &Bbox, level: u8) -> Option<(u32, u32, u32, u32)> {
        if !lonlat.is_valid() || level < self.min_level() || level > self.max_level() {
            return None;
        }
        let z = self.address_level(level);
        match self.grid() {
            Grid::Mercator => {
                let world = Bbox::new(-180.0, -MAX_LATITUDE, 180.0, MAX_LATITUDE);
                if !lonlat.intersects(&world) {
                    return None;
                }
                tiles_covering(&lon_lat_clamped(lonlat, MAX_LATITUDE), z)
                    .ok()?
                    .limits()
            }
            Grid::Geographic => {
                if !lonlat.intersects(&Bbox::new(-180.0, -90.0, 180.0, 90.0)) {
                    return None;
                }
                let span = Grid::Geographic.tile_span(z);
                let (w, h) = self.matrix_size(level);
                let idx = |v: f64, n: u64| (v / span).floor().clamp(0.0, (n - 1) as f64) as u32;
                Some((
                    idx(lonlat.min_x + 180.0, w),
                    idx(90.0 - lonlat.max_y, h),
                    idx(lonlat.max_x + 180.0, w),
                    idx(90.0 - lonlat.min_y, h),
                ))
            }
        }
    }

    /// The OGC Two Dimensional Tile Matrix Set (2.0 JSON) document of the set.
    /// WebMercatorQuad is [`web_mercator_quad_json`] at [`MAX_ZOOM`].
    pub fn to_json(self) -> Value {
        if self == MatrixSet::WebMercatorQuad {
            return web_mercator_quad_json(MAX_ZOOM);
        }
        let matrices: Vec<Value> = (self.min_level()..=self.max_level())
            .map(|level| {
                let (w, h) = self.matrix_size(level);
                json!({
                    "id": level.to_string(),
                    "scaleDenominator": self.scale_denominator(level),
                    "cellSize": self.cell_size(level),
                    "cornerOfOrigin": "topLeft",
                    "pointOfOrigin": self.origin_in_axis_order(),
                    "tileWidth": TILE_SIZE_PX,
                    "tileHeight": TILE_SIZE_PX,
                    "matrixWidth": w,
                    "matrixHeight": h,
                })
            })
            .collect();
        let (axes, lower, upper) = if self.lat_first() {
            (["Lat", "Lon"], [-90.0, -180.0], [90.0, 180.0])
        } else {
            (["Lon", "Lat"], [-180.0, -90.0], [180.0, 90.0])
        };
        let mut doc = json!({
            "id": self.id(),
            "title": self.title(),
            "crs": self.crs_uri(),
            "orderedAxes": axes,
            "boundingBox": { "lowerLeft": lower, "upperRight": upper, "crs": self.crs_uri() },
            "tileMatrices": matrices,
        });
        if let Some(uri) = self.uri() {
            doc["uri"] = json!(uri);
        }
        if let Some(wkss) = self.well_known_scale_set() {
            doc["wellKnownScaleSet"] = json!(wkss);
        }
        doc
    }
}

/// A lon/lat box clamped to ±`max_lat` and converted to Web Mercator.
fn lon_lat_clamped(b: &Bbox, max_lat: f64) -> Bbox {
    lonlat_bbox_to_mercator(&Bbox::new(
        b.min_x.clamp(-180.0, 180.0),
        b.min_y.clamp(-max_lat, max_lat),
        b.max_x.clamp(-180.0, 180.0),
        b.max_y.clamp(-max_lat, max_lat),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tianditu's "c" (CGCS2000 lon/lat) matrix set as it publishes it: level 1 has a
    /// resolution of 0.703125°/px, each level halves it, tiles are 256 px, the top-left
    /// corner is (90°N, 180°W) and level 1 is 2 columns × 1 row.
    fn tianditu_c(level: u8, col: u32, row: u32) -> [f64; 4] {
        let mut res = 0.703125_f64;
        for _ in 1..level {
            res /= 2.0;
        }
        let tile_deg = 256.0 * res;
        let west = -180.0 + f64::from(col) * tile_deg;
        let north = 90.0 - f64::from(row) * tile_deg;
        [west, north - tile_deg, west + tile_deg, north]
    }

    #[test]
    fn cgcs2000_levels_1_to_18_are_tianditu_c() {
        let set = MatrixSet::Cgcs2000Quad;
        // Tianditu c: matrix widths 2, 4, 8 … and heights 1, 2, 4 …
        for level in 1..=18u8 {
            let cols = 2u64 << (level - 1);
            assert_eq!(set.matrix_size(level), (cols, cols / 2), "level {level}");
            // A sample of tiles: the corners of the world and the one over Beijing.
            let span = 180.0 / f64::from(1u32 << (level - 1));
            let beijing = (
                ((116.3975 + 180.0) / span).floor() as u32,
                ((90.0 - 39.9087) / span).floor() as u32,
            );
            let last = (cols - 1) as u32;
            for (col, row) in [(0, 0), (last, (cols / 2 - 1) as u32), beijing] {
                let t = set.tile(level, col, row).unwrap();
                assert_eq!(
                    set.tile_lonlat_bounds(&t).to_array(),
                    tianditu_c(level, col, row),
                    "level {level} tile {col}/{row}"
                );
            }
            let b = set.tile(level, beijing.0, beijing.1).unwrap();
            assert!(set.tile_lonlat_bounds(&b).contains_point(116.3975, 39.9087));
            // Resolution 0.703125° / 2^(level-1).
            let res = 0.703125 / f64::from(1u32 << (level - 1));
            assert_eq!(set.cell_size(level), res);
            // Out of range: one column / row past the matrix.
            assert!(set.tile(level, cols as u32, 0).is_err());
            assert!(set.tile(level, 0, (cols / 2) as u32).is_err());
        }
        assert!(matches!(
            set.tile(0, 0, 0),
            Err(TmsError::ZoomTooLow { .. })
        ));
        assert!(matches!(
            set.tile(25, 0, 0),
            Err(TmsError::ZoomTooHigh { .. })
        ));
    }

    #[test]
    fn world_crs84_quad_is_cgcs2000_one_level_up() {
        let w = MatrixSet::WorldCrs84Quad;
        let c = MatrixSet::Cgcs2000Quad;
        assert_eq!(w.matrix_size(0), (2, 1));
        assert_eq!(w.max_level(), 23);
        for level in 0..=w.max_level() {
            assert_eq!(w.matrix_size(level), c.matrix_size(level + 1));
            assert_eq!(w.scale_denominator(level), c.scale_denominator(level + 1));
            let (cols, rows) = w.matrix_size(level);
            let (col, row) = ((cols - 1) as u32, (rows - 1) as u32);
            assert_eq!(
                w.tile(level, col, row).unwrap().address(),
                c.tile(level + 1, col, row).unwrap().address()
            );
        }
    }

    #[test]
    fn scale_denominators_are_those_of_ogc_17_083r4() {
        // WorldCRS84Quad in OGC 17-083r4 annex D (levels 0, 1, 2 and 17).
        let w = MatrixSet::WorldCrs84Quad;
        for (level, published) in [
            (0u8, 279_541_132.014_358_8),
            (1, 139_770_566.007_179_4),
            (2, 69_885_283.003_589_7),
            (17, 2_132.729_583_849_784),
        ] {
            let ours = w.scale_denominator(level);
            assert!(
                ((ours - published) / published).abs() < 1e-9,
                "level {level}: {ours} vs {published}"
            );
        }
        // CGCS2000Quad level 1 = WorldCRS84Quad level 0; WebMercatorQuad as before.
        let c1 = MatrixSet::Cgcs2000Quad.scale_denominator(1);
        assert!((c1 - 279_541_132.014_358_8).abs() < 1e-3);
        let m0 = MatrixSet::WebMercatorQuad.scale_denominator(0);
        assert!((m0 - 559_082_264.028_717_7).abs() < 1e-3);
    }

    #[test]
    fn documents_and_limits() {
        assert_eq!(
            MatrixSet::WebMercatorQuad.to_json(),
            web_mercator_quad_json(MAX_ZOOM)
        );
        let c = MatrixSet::Cgcs2000Quad.to_json();
        assert_eq!(c["id"], "CGCS2000Quad");
        assert_eq!(c["orderedAxes"], json!(["Lat", "Lon"]));
        assert_eq!(c["tileMatrices"][0]["id"], "1");
        assert_eq!(c["tileMatrices"][0]["pointOfOrigin"], json!([90.0, -180.0]));
        assert_eq!(c["tileMatrices"][0]["matrixWidth"], 2);
        assert_eq!(c["tileMatrices"][0]["matrixHeight"], 1);
        let w = MatrixSet::WorldCrs84Quad.to_json();
        assert_eq!(w["tileMatrices"][0]["pointOfOrigin"], json!([-180.0, 90.0]));
        assert_eq!(w["tileMatrices"].as_array().map(Vec::len), Some(24));
        for s in MatrixSet::ALL {
            assert_eq!(MatrixSet::parse(s.id()), Some(s));
        }
        assert_eq!(MatrixSet::parse("webmercatorquad"), None);

        let city = Bbox::new(116.0, 39.5, 117.0, 40.5);
        assert_eq!(
            MatrixSet::Cgcs2000Quad.tile_limits(&city, 1),
            Some((1, 0, 1, 0))
        );
        assert_eq!(
            MatrixSet::WorldCrs84Quad.tile_limits(&city, 0),
            Some((1, 0, 1, 0))
        );
        let (x0, y0, x1, y1) = MatrixSet::WebMercatorQuad.tile_limits(&city, 10).unwrap();
        assert!(x0 <= x1 && y0 <= y1);
        assert_eq!(
            MatrixSet::Cgcs2000Quad.tile_limits(&Bbox::new(200.0, 0.0, 210.0, 1.0), 3),
            None
        );
        // Buffered Mercator bounds of a geographic tile hold its lon/lat bounds.
        let t = MatrixSet::Cgcs2000Quad.tile(10, 843, 143).unwrap();
        let ll = MatrixSet::Cgcs2000Quad.tile_lonlat_bounds(&t);
        let merc = Grid::Geographic.buffered_bounds_merc(t.address(), 64, 4096);
        let lo = crate::tms::lonlat_to_mercator(ll.min_x, ll.min_y);
        let hi = crate::tms::lonlat_to_mercator(ll.max_x, ll.max_y);
        assert!(merc.contains_point(lo.x, lo.y) && merc.contains_point(hi.x, hi.y));
        // The raster pyramid's ranges in the geographic grid.
        let g = Grid::Geographic;
        assert_eq!(g.bounds_of(10, 843, 143), ll);
        assert_eq!(g.overlapping(&ll, 10), (843, 143, 843, 143));
        assert_eq!(g.overlapping(&ll, 11), (1686, 286, 1687, 287));
        assert_eq!(
            g.overlapping(&Bbox::new(-500.0, -100.0, 500.0, 100.0), 1),
            (0, 0, 1, 0)
        );
    }
}
