//! Web Mercator (EPSG:3857) tile maths for the XYZ scheme (y counted from the north).

use citygrid_tiles::tms::MAX_ZOOM;

/// Half the width of the Web Mercator square, metres.
pub const ORIGIN_SHIFT: f64 = 20_037_508.342_789_244;

/// Tile size in pixels.
pub const TILE_SIZE: usize = 256;

/// Width of one tile at `z`, metres (Web Mercator).
pub fn tile_span(z: u8) -> f64 {
    2.0 * ORIGIN_SHIFT / f64::from(1u32 << z)
}

/// Size of one pixel at `z`, Web Mercator metres.
///
/// ```
/// use citygrid_importers::raster::tms::resolution;
/// assert!((resolution(0) - 156_543.033_928).abs() < 1e-3);
/// ```
pub fn resolution(z: u8) -> f64 {
    tile_span(z) / TILE_SIZE as f64
}

/// The bounds `[minx, miny, maxx, maxy]` of tile `z/x/y` in Web Mercator metres.
pub fn tile_bounds(z: u8, x: u32, y: u32) -> [f64; 4] {
    let span = tile_span(z);
    let minx = -ORIGIN_SHIFT + f64::from(x) * span;
    let maxy = ORIGIN_SHIFT - f64::from(y) * span;
    [minx, maxy - span, minx + span, maxy]
}

/// The inclusive tile range `(x0, y0, x1, y1)` at `z` that covers `bbox`
/// (`[minx, miny, maxx, maxy]`, Web Mercator metres), clamped to the world.
pub fn tile_range(z: u8, bbox: [f64; 4]) -> (u32, u32, u32, u32) {
    let span = tile_span(z);
    let n = f64::from(1u32 << z);
    // A box edge exactly on a tile edge must not pull in the next tile.
    let eps = span * 1e-9;
    let clamp = |v: f64| v.floor().clamp(0.0, n - 1.0) as u32;
    let x0 = clamp((bbox[0] + ORIGIN_SHIFT + eps) / span);
    let x1 = clamp((bbox[2] + ORIGIN_SHIFT - eps) / span);
    let y0 = clamp((ORIGIN_SHIFT - bbox[3] + eps) / span);
    let y1 = clamp((ORIGIN_SHIFT - bbox[1] - eps) / span);
    (x0, y0, x1.max(x0), y1.max(y0))
}

/// Whether tile `z/x/y` overlaps `bbox` (Web Mercator metres) by more than an edge.
pub fn intersects(z: u8, x: u32, y: u32, bbox: [f64; 4]) -> bool {
    let b = tile_bounds(z, x, y);
    b[0] < bbox[2] && b[2] > bbox[0] && b[1] < bbox[3] && b[3] > bbox[1]
}

/// Web Mercator metres to lon/lat degrees.
pub fn mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = x / ORIGIN_SHIFT * 180.0;
    let lat = (2.0 * (y / ORIGIN_SHIFT * std::f64::consts::PI).exp().atan()
        - std::f64::consts::FRAC_PI_2)
        .to_degrees();
    (lon, lat)
}

/// The finest zoom needed to show pixels of `pixel_size` Web Mercator metres
/// without loss: the lowest zoom whose pixel is at least as fine as the source's.
/// Clamped to [`MAX_ZOOM`].
///
/// ```
/// use citygrid_importers::raster::tms::max_zoom_for_pixel;
/// assert_eq!(max_zoom_for_pixel(30.0), 13); // 19.1 m pixels at z13, 38.2 m at z12
/// ```
pub fn max_zoom_for_pixel(pixel_size: f64) -> u8 {
    (0..=MAX_ZOOM)
        .find(|&z| resolution(z) <= pixel_size * (1.0 + 1e-6))
        .unwrap_or(MAX_ZOOM)
}

/// The highest zoom at which an extent of `size` Web Mercator metres (the larger
/// of width and height) still fits in one tile.
///
/// ```
/// use citygrid_importers::raster::tms::min_zoom_for_extent;
/// assert_eq!(min_zoom_for_extent(60_000.0), 9); // a tile is 78 km wide at z9
/// ```
pub fn min_zoom_for_extent(size: f64) -> u8 {
    (0..=MAX_ZOOM)
        .rev()
        .find(|&z| tile_span(z) >= size)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_tile_bounds_and_range_agree() {
        let b = tile_bounds(1, 1, 0);
        assert_eq!(b, [0.0, 0.0, ORIGIN_SHIFT, ORIGIN_SHIFT]);
        assert_eq!(tile_range(1, b), (1, 0, 1, 0));
        assert_eq!(tile_range(3, [-1.0, -1.0, 1.0, 1.0]), (3, 3, 4, 4));
        assert!(intersects(1, 1, 0, [1.0, 1.0, 2.0, 2.0]));
        assert!(!intersects(1, 0, 0, [1.0, 1.0, 2.0, 2.0]));
    }

    #[test]
    fn raster_mercator_inverse() {
        let (lon, lat) = mercator_to_lonlat(ORIGIN_SHIFT, 0.0);
        assert!((lon - 180.0).abs() < 1e-9 && lat.abs() < 1e-9);
        let (_, lat) = mercator_to_lonlat(0.0, ORIGIN_SHIFT);
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
}
