//! Tile maths for the OGC **WebMercatorQuad** tile matrix set (EPSG:3857, 256 px tiles,
//! origin top-left, `y` growing southwards – the "XYZ"/slippy-map scheme).
//!
//! Everything here is plain arithmetic on `f64`/integers: no I/O, no allocation beyond
//! the returned values, and no panics for any input (non-finite numbers give typed
//! errors or NaN results as documented per function).
//!
//! Two ways to ask which tiles a box needs: [`tiles_covering`] (closed: tiles whose
//! bounds touch the box, what a cache invalidation needs) and [`tiles_overlapping`]
//! (tiles that overlap the box by more than an edge, what a raster pyramid or an
//! archive export renders); [`Bbox::intersects`] and [`Bbox::overlaps`] are the
//! matching tests for one tile.

use geo::Coord;
use serde_json::{json, Value};
use thiserror::Error;

/// WGS84 semi-major axis used by spherical (Web) Mercator, in metres.
pub const EARTH_RADIUS_M: f64 = 6_378_137.0;

/// Half the width of the Web Mercator world in metres (`π · R`).
pub const MERC_HALF_WORLD_M: f64 = std::f64::consts::PI * EARTH_RADIUS_M;

/// Largest latitude representable in WebMercatorQuad (the world becomes a square).
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;

/// The highest zoom citygrid serves and stores (tiles, raster pyramids, archives; the
/// catalogue allows 0..=24); the limit of [`TileCoord::new`].
pub const MAX_ZOOM: u8 = 24;

/// Hard upper limit for a configurable maximum zoom (`2^30` columns still fit `u32`).
pub const MAX_SUPPORTED_ZOOM: u8 = 30;

/// Pixel size of a WebMercatorQuad tile.
pub const TILE_SIZE_PX: u32 = 256;

/// Errors of the tile maths.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TmsError {
    /// The zoom level is above the allowed maximum.
    #[error("zoom {z} is above the maximum zoom {max}; use a zoom between 0 and {max}")]
    ZoomTooHigh {
        /// Requested zoom.
        z: u8,
        /// Allowed maximum.
        max: u8,
    },
    /// The column is not below `2^z`.
    #[error("tile column {x} is out of range at zoom {z}; it must be below {limit}")]
    ColumnOutOfRange {
        /// Zoom.
        z: u8,
        /// Requested column.
        x: u32,
        /// `2^z`.
        limit: u64,
    },
    /// The row is not below `2^z`.
    #[error("tile row {y} is out of range at zoom {z}; it must be below {limit}")]
    RowOutOfRange {
        /// Zoom.
        z: u8,
        /// Requested row.
        y: u32,
        /// `2^z`.
        limit: u64,
    },
    /// The level is below the lowest level of a tile matrix set.
    #[error("tile matrix {z} is below the lowest level {min} of this tile matrix set")]
    ZoomTooLow {
        /// Requested level.
        z: u8,
        /// The set's lowest level.
        min: u8,
    },
    /// A configured maximum zoom above [`MAX_SUPPORTED_ZOOM`].
    #[error("maximum zoom {0} is not supported; use at most {MAX_SUPPORTED_ZOOM}")]
    InvalidMaxZoom(u8),
    /// A bounding box with NaN coordinates.
    #[error("bounding box has NaN coordinates")]
    NanBbox,
}

/// An axis-aligned bounding box `(min_x, min_y, max_x, max_y)` in one CRS (Web Mercator
/// metres or lon/lat degrees, depending on the function).
///
/// ```
/// use citygrid_geo::tms::Bbox;
/// let b = Bbox::new(10.0, 5.0, 0.0, 0.0); // corners in any order
/// assert_eq!((b.min_x, b.max_y), (0.0, 5.0));
/// assert!(b.intersects(&Bbox::new(5.0, 5.0, 20.0, 20.0)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    /// Smallest x (or longitude).
    pub min_x: f64,
    /// Smallest y (or latitude).
    pub min_y: f64,
    /// Largest x (or longitude).
    pub max_x: f64,
    /// Largest y (or latitude).
    pub max_y: f64,
}

impl Bbox {
    /// A box from two corners given in any order (NaN stays NaN, making the box
    /// invalid).
    pub fn new(x1: f64, y1: f64, x2: f64, y2: f64) -> Self {
        let (min_x, max_x) = if x1 <= x2 { (x1, x2) } else { (x2, x1) };
        let (min_y, max_y) = if y1 <= y2 { (y1, y2) } else { (y2, y1) };
        Bbox {
            min_x,
            min_y,
            max_x,
            max_y,
        }
    }

    /// The whole Web Mercator world in metres.
    pub fn world_mercator() -> Self {
        Bbox::new(
            -MERC_HALF_WORLD_M,
            -MERC_HALF_WORLD_M,
            MERC_HALF_WORLD_M,
            MERC_HALF_WORLD_M,
        )
    }

    /// True when no coordinate is NaN and `min <= max` on both axes.
    pub fn is_valid(&self) -> bool {
        self.min_x <= self.max_x && self.min_y <= self.max_y
    }

    /// The box `[min_x, min_y, max_x, max_y]` as given (corners not reordered).
    pub fn from_array(b: [f64; 4]) -> Self {
        Bbox {
            min_x: b[0],
            min_y: b[1],
            max_x: b[2],
            max_y: b[3],
        }
    }

    /// `[min_x, min_y, max_x, max_y]`.
    pub fn to_array(&self) -> [f64; 4] {
        [self.min_x, self.min_y, self.max_x, self.max_y]
    }

    /// Open-box overlap test: the boxes share more than an edge.
    ///
    /// ```
    /// use citygrid_geo::tms::Bbox;
    /// let a = Bbox::new(0.0, 0.0, 1.0, 1.0);
    /// assert!(a.intersects(&Bbox::new(1.0, 0.0, 2.0, 1.0)));
    /// assert!(!a.overlaps(&Bbox::new(1.0, 0.0, 2.0, 1.0)));
    /// ```
    pub fn overlaps(&self, other: &Bbox) -> bool {
        self.min_x < other.max_x
            && self.max_x > other.min_x
            && self.min_y < other.max_y
            && self.max_y > other.min_y
    }

    /// Closed-box intersection test (touching boxes intersect). False for invalid boxes.
    pub fn intersects(&self, other: &Bbox) -> bool {
        self.is_valid()
            && other.is_valid()
            && self.min_x <= other.max_x
            && other.min_x <= self.max_x
            && self.min_y <= other.max_y
            && other.min_y <= self.max_y
    }

    /// True when the point lies inside or on the border.
    pub fn contains_point(&self, x: f64, y: f64) -> bool {
        x >= self.min_x && x <= self.max_x && y >= self.min_y && y <= self.max_y
    }

    /// The box grown by `d` on every side.
    pub fn expand(&self, d: f64) -> Bbox {
        Bbox {
            min_x: self.min_x - d,
            min_y: self.min_y - d,
            max_x: self.max_x + d,
            max_y: self.max_y + d,
        }
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &Bbox) -> Bbox {
        Bbox {
            min_x: self.min_x.min(other.min_x),
            min_y: self.min_y.min(other.min_y),
            max_x: self.max_x.max(other.max_x),
            max_y: self.max_y.max(other.max_y),
        }
    }

    /// Width (`max_x - min_x`).
    pub fn width(&self) -> f64 {
        self.max_x - self.min_x
    }

    /// Height (`max_y - min_y`).
    pub fn height(&self) -> f64 {
        self.max_y - self.min_y
    }
}

/// Longitude/latitude (degrees, EPSG:4326 axis order lon, lat) to Web Mercator metres.
///
/// Latitudes are clamped to ±[`MAX_LATITUDE`]; NaN in gives NaN out.
///
/// ```
/// use citygrid_geo::tms::{lonlat_to_mercator, MERC_HALF_WORLD_M};
/// let c = lonlat_to_mercator(180.0, 0.0);
/// assert!((c.x - MERC_HALF_WORLD_M).abs() < 1e-6 && c.y.abs() < 1e-6);
/// ```
pub fn lonlat_to_mercator(lon: f64, lat: f64) -> Coord<f64> {
    let lat = lat.clamp(-MAX_LATITUDE, MAX_LATITUDE);
    let x = EARTH_RADIUS_M * lon.to_radians();
    let y = EARTH_RADIUS_M
        * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
            .tan()
            .ln();
    Coord { x, y }
}

/// Web Mercator metres to longitude/latitude degrees (the inverse of
/// [`lonlat_to_mercator`]).
///
/// ```
/// use citygrid_geo::tms::{lonlat_to_mercator, mercator_to_lonlat};
/// let m = lonlat_to_mercator(116.397, 39.909);
/// let ll = mercator_to_lonlat(m.x, m.y);
/// assert!((ll.x - 116.397).abs() < 1e-9 && (ll.y - 39.909).abs() < 1e-9);
/// ```
pub fn mercator_to_lonlat(x: f64, y: f64) -> Coord<f64> {
    let lon = (x / EARTH_RADIUS_M).to_degrees();
    let lat = (2.0 * (y / EARTH_RADIUS_M).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    Coord { x: lon, y: lat }
}

/// Converts a lon/lat box to a Web Mercator box (latitudes clamped).
pub fn lonlat_bbox_to_mercator(b: &Bbox) -> Bbox {
    let lo = lonlat_to_mercator(b.min_x, b.min_y);
    let hi = lonlat_to_mercator(b.max_x, b.max_y);
    Bbox::new(lo.x, lo.y, hi.x, hi.y)
}

/// Number of tiles along one axis at zoom `z` (`2^z`), as `f64` (exact for any `u8`).
pub fn tiles_per_axis(z: u8) -> f64 {
    2f64.powi(i32::from(z))
}

/// Width of one tile in Web Mercator metres at zoom `z`.
///
/// ```
/// use citygrid_geo::tms::tile_span_m;
/// assert!((tile_span_m(0) - 40_075_016.685_578_49).abs() < 1e-6);
/// ```
pub fn tile_span_m(z: u8) -> f64 {
    2.0 * MERC_HALF_WORLD_M / tiles_per_axis(z)
}

/// Size of one pixel in Web Mercator metres at zoom `z` for tiles of `tile_size_px`
/// pixels (256 for WebMercatorQuad; 4096 gives the size of one MVT unit at the default
/// extent). This is the ground size at the equator; multiply by `cos(lat)` elsewhere.
///
/// ```
/// use citygrid_geo::tms::pixel_size_m;
/// assert!((pixel_size_m(0, 256) - 156_543.033_928_041).abs() < 1e-6);
/// assert_eq!(pixel_size_m(3, 0), 0.0);
/// ```
pub fn pixel_size_m(z: u8, tile_size_px: u32) -> f64 {
    if tile_size_px == 0 {
        return 0.0;
    }
    tile_span_m(z) / f64::from(tile_size_px)
}

/// A validated tile address `z/x/y` of WebMercatorQuad (`y = 0` is the northernmost row).
///
/// ```
/// use citygrid_geo::tms::TileCoord;
/// let t = TileCoord::new(3, 4, 2).unwrap();
/// assert_eq!((t.z(), t.x(), t.y()), (3, 4, 2));
/// assert!(TileCoord::new(3, 8, 0).is_err());
/// assert!(TileCoord::new(25, 0, 0).is_err());
/// assert!(TileCoord::with_max_zoom(25, 0, 0, 26).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileCoord {
    z: u8,
    x: u32,
    y: u32,
}

impl TileCoord {
    /// Validates `z ≤ MAX_ZOOM` (24) and `x, y < 2^z`.
    pub fn new(z: u8, x: u32, y: u32) -> Result<Self, TmsError> {
        Self::with_max_zoom(z, x, y, MAX_ZOOM)
    }

    /// Validates with a configurable maximum zoom (at most [`MAX_SUPPORTED_ZOOM`]).
    pub fn with_max_zoom(z: u8, x: u32, y: u32, max_zoom: u8) -> Result<Self, TmsError> {
        if max_zoom > MAX_SUPPORTED_ZOOM {
            return Err(TmsError::InvalidMaxZoom(max_zoom));
        }
        if z > max_zoom {
            return Err(TmsError::ZoomTooHigh { z, max: max_zoom });
        }
        let limit = 1u64 << z;
        if u64::from(x) >= limit {
            return Err(TmsError::ColumnOutOfRange { z, x, limit });
        }
        if u64::from(y) >= limit {
            return Err(TmsError::RowOutOfRange { z, y, limit });
        }
        Ok(TileCoord { z, x, y })
    }

    /// Zoom level.
    pub fn z(&self) -> u8 {
        self.z
    }

    /// Column (west to east).
    pub fn x(&self) -> u32 {
        self.x
    }

    /// Row (north to south).
    pub fn y(&self) -> u32 {
        self.y
    }

    /// The tile one zoom up that contains this one (`None` at zoom 0).
    pub fn parent(&self) -> Option<TileCoord> {
        if self.z == 0 {
            None
        } else {
            Some(TileCoord {
                z: self.z - 1,
                x: self.x / 2,
                y: self.y / 2,
            })
        }
    }

    /// The tile bounds in Web Mercator metres.
    ///
    /// ```
    /// use citygrid_geo::tms::{TileCoord, MERC_HALF_WORLD_M};
    /// let b = TileCoord::new(1, 1, 0).unwrap().bounds();
    /// assert_eq!((b.min_x, b.min_y), (0.0, 0.0));
    /// assert!((b.max_x - MERC_HALF_WORLD_M).abs() < 1e-6);
    /// ```
    pub fn bounds(&self) -> Bbox {
        tile_bounds(self.z, self.x, self.y)
    }

    /// The tile bounds grown by `buffer` units of a tile of `extent` units per side
    /// (MVT geometry buffer). `extent == 0` gives the plain bounds.
    pub fn buffered_bounds(&self, buffer: u32, extent: u32) -> Bbox {
        if extent == 0 {
            return self.bounds();
        }
        let d = tile_span_m(self.z) * f64::from(buffer) / f64::from(extent);
        self.bounds().expand(d)
    }

    /// The tile bounds in lon/lat degrees.
    ///
    /// ```
    /// use citygrid_geo::tms::TileCoord;
    /// let b = TileCoord::new(0, 0, 0).unwrap().lonlat_bounds();
    /// assert!((b.min_x + 180.0).abs() < 1e-9 && (b.max_y - 85.0511287798).abs() < 1e-9);
    /// ```
    pub fn lonlat_bounds(&self) -> Bbox {
        let b = self.bounds();
        let lo = mercator_to_lonlat(b.min_x, b.min_y);
        let hi = mercator_to_lonlat(b.max_x, b.max_y);
        Bbox::new(lo.x, lo.y, hi.x, hi.y)
    }
}

/// The bounds of tile `z/x/y` in Web Mercator metres, without checking that the tile
/// exists (see [`TileCoord::bounds`] for a checked tile).
///
/// ```
/// use citygrid_geo::tms::{tile_bounds, MERC_HALF_WORLD_M};
/// let b = tile_bounds(1, 1, 0);
/// assert_eq!(b.to_array(), [0.0, 0.0, MERC_HALF_WORLD_M, MERC_HALF_WORLD_M]);
/// ```
pub fn tile_bounds(z: u8, x: u32, y: u32) -> Bbox {
    let span = tile_span_m(z);
    let min_x = -MERC_HALF_WORLD_M + f64::from(x) * span;
    let max_y = MERC_HALF_WORLD_M - f64::from(y) * span;
    Bbox {
        min_x,
        min_y: max_y - span,
        max_x: min_x + span,
        max_y,
    }
}

impl std::fmt::Display for TileCoord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// The tile containing a Web Mercator point at zoom `z` (points outside the world are
/// clamped to its edge). `None` for NaN input or an unsupported zoom.
///
/// ```
/// use citygrid_geo::tms::tile_for_mercator;
/// let t = tile_for_mercator(1.0, 1.0, 1).unwrap();
/// assert_eq!((t.x(), t.y()), (1, 0));
/// ```
pub fn tile_for_mercator(x: f64, y: f64, z: u8) -> Option<TileCoord> {
    if x.is_nan() || y.is_nan() || z > MAX_SUPPORTED_ZOOM {
        return None;
    }
    let (col, row) = (axis_index(x, z, false), axis_index(y, z, true));
    Some(TileCoord { z, x: col, y: row })
}

/// Index of the tile column (or row when `flip`) holding coordinate `v`, clamped.
fn axis_index(v: f64, z: u8, flip: bool) -> u32 {
    let n = tiles_per_axis(z);
    let t = if flip {
        (MERC_HALF_WORLD_M - v) / tile_span_m(z)
    } else {
        (v + MERC_HALF_WORLD_M) / tile_span_m(z)
    };
    // `as` saturates; clamp to the last valid index.
    t.floor().clamp(0.0, n - 1.0) as u32
}

/// A rectangular block of tiles at one zoom (inclusive column/row ranges); may be empty.
///
/// ```
/// use citygrid_geo::tms::{tiles_covering, TileCoord};
/// let b = TileCoord::new(2, 1, 1).unwrap().bounds();
/// let r = tiles_covering(&b.expand(-1.0), 2).unwrap();
/// assert_eq!(r.count(), 1);
/// assert_eq!(r.iter().next(), Some(TileCoord::new(2, 1, 1).unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRange {
    z: u8,
    min_x: u32,
    min_y: u32,
    max_x: u32,
    max_y: u32,
    empty: bool,
}

impl TileRange {
    /// Zoom of the range.
    pub fn z(&self) -> u8 {
        self.z
    }

    /// True when the range holds no tile.
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// Inclusive `(min_x, min_y, max_x, max_y)`; `None` when empty.
    pub fn limits(&self) -> Option<(u32, u32, u32, u32)> {
        (!self.empty).then_some((self.min_x, self.min_y, self.max_x, self.max_y))
    }

    /// Number of tiles in the range.
    pub fn count(&self) -> u64 {
        if self.empty {
            0
        } else {
            (u64::from(self.max_x - self.min_x) + 1) * (u64::from(self.max_y - self.min_y) + 1)
        }
    }

    /// True when the tile is at this zoom and inside the range.
    pub fn contains(&self, t: &TileCoord) -> bool {
        !self.empty
            && t.z == self.z
            && (self.min_x..=self.max_x).contains(&t.x)
            && (self.min_y..=self.max_y).contains(&t.y)
    }

    /// Tiles row by row (north to south, west to east).
    pub fn iter(&self) -> impl Iterator<Item = TileCoord> + '_ {
        let (xs, ys) = (self.min_x..=self.max_x, self.min_y..=self.max_y);
        let z = self.z;
        ys.filter(|_| !self.empty)
            .flat_map(move |y| xs.clone().map(move |x| TileCoord { z, x, y }))
    }
}

/// The tiles at zoom `z` whose (closed) bounds touch a Web Mercator bbox. Parts of the
/// box outside the world are ignored; a box entirely outside gives an empty range.
///
/// Errors: NaN coordinates, or `z > MAX_SUPPORTED_ZOOM`.
pub fn tiles_covering(bbox: &Bbox, z: u8) -> Result<TileRange, TmsError> {
    if z > MAX_SUPPORTED_ZOOM {
        return Err(TmsError::ZoomTooHigh {
            z,
            max: MAX_SUPPORTED_ZOOM,
        });
    }
    if bbox.min_x.is_nan() || bbox.min_y.is_nan() || bbox.max_x.is_nan() || bbox.max_y.is_nan() {
        return Err(TmsError::NanBbox);
    }
    let empty = TileRange {
        z,
        min_x: 0,
        min_y: 0,
        max_x: 0,
        max_y: 0,
        empty: true,
    };
    if !bbox.intersects(&Bbox::world_mercator()) {
        return Ok(empty);
    }
    Ok(TileRange {
        z,
        min_x: axis_index(bbox.min_x, z, false),
        max_x: axis_index(bbox.max_x, z, false),
        min_y: axis_index(bbox.max_y, z, true),
        max_y: axis_index(bbox.min_y, z, true),
        empty: false,
    })
}

/// The tiles at zoom `z` that a Web Mercator bbox overlaps by more than an edge (a box
/// edge exactly on a tile edge does not pull in the next tile), clamped to the world:
/// never empty, a box outside the world gives the nearest edge tiles. Callers check
/// each tile with [`Bbox::overlaps`] where that matters. `z` at most [`MAX_ZOOM`].
///
/// ```
/// use citygrid_geo::tms::{tile_bounds, tiles_overlapping};
/// let r = tiles_overlapping(&tile_bounds(1, 1, 0), 1);
/// assert_eq!(r.limits(), Some((1, 0, 1, 0)));
/// ```
pub fn tiles_overlapping(bbox: &Bbox, z: u8) -> TileRange {
    let span = tile_span_m(z);
    let n = tiles_per_axis(z);
    // A box edge exactly on a tile edge must not pull in the next tile.
    let eps = span * 1e-9;
    let clamp = |v: f64| v.floor().clamp(0.0, n - 1.0) as u32;
    let x0 = clamp((bbox.min_x + MERC_HALF_WORLD_M + eps) / span);
    let x1 = clamp((bbox.max_x + MERC_HALF_WORLD_M - eps) / span);
    let y0 = clamp((MERC_HALF_WORLD_M - bbox.max_y + eps) / span);
    let y1 = clamp((MERC_HALF_WORLD_M - bbox.min_y - eps) / span);
    TileRange {
        z,
        min_x: x0,
        min_y: y0,
        max_x: x1.max(x0),
        max_y: y1.max(y0),
        empty: false,
    }
}

/// The finest zoom needed to show pixels of `pixel_size` Web Mercator metres
/// without loss: the lowest zoom whose pixel is at least as fine as the source's.
/// Clamped to [`MAX_ZOOM`].
///
/// ```
/// use citygrid_geo::tms::max_zoom_for_pixel;
/// assert_eq!(max_zoom_for_pixel(30.0), 13); // 19.1 m pixels at z13, 38.2 m at z12
/// ```
pub fn max_zoom_for_pixel(pixel_size: f64) -> u8 {
    (0..=MAX_ZOOM)
        .find(|&z| pixel_size_m(z, TILE_SIZE_PX) <= pixel_size * (1.0 + 1e-6))
        .unwrap_or(MAX_ZOOM)
}

/// The highest zoom at which an extent of `size` Web Mercator metres (the larger
/// of width and height) still fits in one tile.
///
/// ```
/// use citygrid_geo::tms::min_zoom_for_extent;
/// assert_eq!(min_zoom_for_extent(60_000.0), 9); // a tile is 78 km wide at z9
/// ```
pub fn min_zoom_for_extent(size: f64) -> u8 {
    (0..=MAX_ZOOM)
        .rev()
        .find(|&z| tile_span_m(z) >= size)
        .unwrap_or(0)
}

/// The OGC API – Tiles description of WebMercatorQuad (OGC TileMatrixSet 2.0 JSON
/// encoding) for zooms `0..=max_zoom` (capped at [`MAX_SUPPORTED_ZOOM`]).
///
/// ```
/// let tms = citygrid_geo::tms::web_mercator_quad_json(2);
/// assert_eq!(tms["id"], "WebMercatorQuad");
/// assert_eq!(tms["tileMatrices"].as_array().unwrap().len(), 3);
/// assert_eq!(tms["tileMatrices"][2]["matrixWidth"], 4);
/// ```
pub fn web_mercator_quad_json(max_zoom: u8) -> Value {
    let max_zoom = max_zoom.min(MAX_SUPPORTED_ZOOM);
    let matrices: Vec<Value> = (0..=max_zoom)
        .map(|z| {
            let cell = pixel_size_m(z, TILE_SIZE_PX);
            let n = 1u64 << z;
            json!({
                "id": z.to_string(),
                "scaleDenominator": cell / 0.000_28,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-MERC_HALF_WORLD_M, MERC_HALF_WORLD_M],
                "tileWidth": TILE_SIZE_PX,
                "tileHeight": TILE_SIZE_PX,
                "matrixWidth": n,
                "matrixHeight": n,
            })
        })
        .collect();
    json!({
        "id": "WebMercatorQuad",
        "title": "Google Maps Compatible for the World",
        "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "boundingBox": {
            "lowerLeft": [-MERC_HALF_WORLD_M, -MERC_HALF_WORLD_M],
            "upperRight": [MERC_HALF_WORLD_M, MERC_HALF_WORLD_M],
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        },
        "tileMatrices": matrices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_clamp() {
        let m = lonlat_to_mercator(0.0, 90.0);
        assert!((m.y - MERC_HALF_WORLD_M).abs() < 1e-3);
        let n = lonlat_to_mercator(f64::NAN, 10.0);
        assert!(n.x.is_nan());
        let inf = lonlat_to_mercator(f64::INFINITY, f64::INFINITY);
        assert!(inf.x.is_infinite() && inf.y.is_finite());
    }

    #[test]
    fn covering_edge_cases() {
        assert!(tiles_covering(&Bbox::new(f64::NAN, 0.0, 1.0, 1.0), 3).is_err());
        let all = tiles_covering(
            &Bbox::new(
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::INFINITY,
            ),
            3,
        )
        .unwrap();
        assert_eq!(all.count(), 64);
        let out = tiles_covering(&Bbox::new(1e9, 1e9, 2e9, 2e9), 3).unwrap();
        assert!(out.is_empty() && out.iter().next().is_none());
        let huge = tiles_covering(&Bbox::world_mercator(), 30).unwrap();
        assert_eq!(huge.count(), 1u64 << 60);
        assert!(tiles_covering(&Bbox::world_mercator(), 31).is_err());
        // Every tile's own bounds cover itself (and the closed edges its neighbours).
        let t = TileCoord::new(5, 7, 9).unwrap();
        let r = tiles_covering(&t.bounds().expand(-1e-3), 5).unwrap();
        assert_eq!(r.count(), 1);
        assert!(r.contains(&t));
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            TileCoord::new(2, 4, 0),
            Err(TmsError::ColumnOutOfRange {
                z: 2,
                x: 4,
                limit: 4
            })
        );
        assert!(matches!(
            TileCoord::new(2, 0, 4),
            Err(TmsError::RowOutOfRange { .. })
        ));
        assert!(matches!(
            TileCoord::with_max_zoom(0, 0, 0, 31),
            Err(TmsError::InvalidMaxZoom(31))
        ));
        assert!(TileCoord::with_max_zoom(30, (1 << 30) - 1, 0, 30).is_ok());
        assert_eq!(tile_for_mercator(f64::NAN, 0.0, 3), None);
        let t = tile_for_mercator(-1e30, 1e30, 3).unwrap();
        assert_eq!((t.x(), t.y()), (0, 0));
    }

    #[test]
    fn raster_tile_bounds_and_range_agree() {
        let b = tile_bounds(1, 1, 0);
        assert_eq!(
            b.to_array(),
            [0.0, 0.0, MERC_HALF_WORLD_M, MERC_HALF_WORLD_M]
        );
        assert_eq!(tiles_overlapping(&b, 1).limits(), Some((1, 0, 1, 0)));
        assert_eq!(
            tiles_overlapping(&Bbox::from_array([-1.0, -1.0, 1.0, 1.0]), 3).limits(),
            Some((3, 3, 4, 4))
        );
        assert!(tile_bounds(1, 1, 0).overlaps(&Bbox::from_array([1.0, 1.0, 2.0, 2.0])));
        assert!(!tile_bounds(1, 0, 0).overlaps(&Bbox::from_array([1.0, 1.0, 2.0, 2.0])));
    }

    #[test]
    fn raster_mercator_inverse() {
        let c = mercator_to_lonlat(MERC_HALF_WORLD_M, 0.0);
        let (lon, lat) = (c.x, c.y);
        assert!((lon - 180.0).abs() < 1e-9 && lat.abs() < 1e-9);
        let lat = mercator_to_lonlat(0.0, MERC_HALF_WORLD_M).y;
        assert!((lat - 85.051_128_78).abs() < 1e-6);
    }

    #[test]
    fn raster_zoom_choice() {
        assert_eq!(max_zoom_for_pixel(0.115), 21);
        assert_eq!(max_zoom_for_pixel(1e-9), MAX_ZOOM);
        assert_eq!(max_zoom_for_pixel(1e9), 0);
        assert_eq!(min_zoom_for_extent(1e9), 0);
        assert_eq!(min_zoom_for_extent(46.0), 19);
    }

    #[test]
    fn pixel_sizes() {
        assert!((pixel_size_m(14, 256) - 9.554_628_535_647_032).abs() < 1e-9);
        let tms = web_mercator_quad_json(24);
        assert_eq!(tms["tileMatrices"].as_array().map(|a| a.len()), Some(25));
        let lb = TileCoord::new(1, 0, 1).unwrap().lonlat_bounds();
        assert!((lb.min_x + 180.0).abs() < 1e-9 && lb.max_x.abs() < 1e-9);
        assert!((lb.min_y + MAX_LATITUDE).abs() < 1e-9 && lb.max_y.abs() < 1e-9);
    }
}
