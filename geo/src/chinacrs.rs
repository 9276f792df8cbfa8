//! GCJ-02 and BD-09: the offset datums of China's consumer map services.
//!
//! GCJ-02 ("Mars coordinates", used by AMap/Gaode and Tencent) adds a deliberate,
//! smoothly varying offset of a few hundred metres to WGS84; BD-09 (Baidu) applies a
//! further rotation-like offset on top of GCJ-02. PROJ knows neither, so they are
//! implemented here with the widely published algorithm (the one of
//! `eviltransform` and `coordtransform`). Coordinates are `(lon, lat)` in degrees.
//!
//! - Outside China (the usual rough `out_of_china` box) every function is the identity,
//!   as the services themselves do.
//! - The forward directions are closed formulas; the inverse directions are solved
//!   by fixed-point iteration to better than 1e-9 degrees (≈ 0.1 mm), far below the
//!   0.5 m the importers promise.
//!
//! ```
//! use citygrid_geo::chinacrs::{gcj02_to_wgs84, wgs84_to_gcj02};
//! let (lon, lat) = wgs84_to_gcj02(116.377817, 39.911954);
//! assert!((lon - 116.38404722455657).abs() < 1e-9 && (lat - 39.91334545536069).abs() < 1e-9);
//! let (lon, lat) = gcj02_to_wgs84(lon, lat);
//! assert!((lon - 116.377817).abs() < 1e-8 && (lat - 39.911954).abs() < 1e-8);
//! ```

use std::f64::consts::PI;

/// Semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02.
const A: f64 = 6_378_245.0;
/// First eccentricity squared of Krasovsky 1940.
const EE: f64 = 0.006_693_421_622_965_943;
/// π·3000/180, Baidu's constant.
const X_PI: f64 = PI * 3000.0 / 180.0;
/// Convergence threshold of the inverse iterations, in degrees (≈ 0.1 mm).
const TOLERANCE_DEG: f64 = 1e-10;
/// Upper bound on inverse iterations (convergence takes 3–6 in practice).
const MAX_ITERATIONS: usize = 30;

/// Whether a point lies outside the rough box in which the Chinese offsets apply.
///
/// This is the box every public implementation uses (72.004–137.8347 E,
/// 0.8293–55.8271 N); it includes neighbouring countries, as the services do.
pub fn out_of_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// The GCJ-02 offset `(dlon, dlat)` at a WGS84 point inside China.
fn gcj_delta(lon: f64, lat: f64) -> (f64, f64) {
    let dlat = transform_lat(lon - 105.0, lat - 35.0);
    let dlon = transform_lon(lon - 105.0, lat - 35.0);
    let radlat = lat / 180.0 * PI;
    let magic = 1.0 - EE * radlat.sin() * radlat.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (A / sqrt_magic * radlat.cos() * PI);
    (dlon, dlat)
}

/// Solves `forward(x) = target` for x by fixed-point iteration, starting at `target`.
///
/// Both offsets are small and vary slowly, so `x ← x + (target − forward(x))`
/// converges geometrically.
fn invert(target: (f64, f64), forward: impl Fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let (mut lon, mut lat) = target;
    for _ in 0..MAX_ITERATIONS {
        let (flon, flat) = forward(lon, lat);
        let (elon, elat) = (target.0 - flon, target.1 - flat);
        lon += elon;
        lat += elat;
        if elon.abs() < TOLERANCE_DEG && elat.abs() < TOLERANCE_DEG {
            break;
        }
    }
    (lon, lat)
}

/// WGS84 → GCJ-02 (identity outside China).
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let (dlon, dlat) = gcj_delta(lon, lat);
    (lon + dlon, lat + dlat)
}

/// GCJ-02 → WGS84 (identity outside China), iterated to < 1e-9 degrees.
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    invert((lon, lat), wgs84_to_gcj02)
}

/// GCJ-02 → BD-09 (identity outside China).
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// BD-09 → GCJ-02 (identity outside China), iterated to < 1e-9 degrees.
///
/// Baidu's own closed-form inverse is only good to about a metre; iterating on the
/// exact forward formula removes that error.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    // Baidu's approximate inverse as the starting point, then refine.
    let x = lon - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    let (mut glon, mut glat) = (z * theta.cos(), z * theta.sin());
    for _ in 0..MAX_ITERATIONS {
        let (blon, blat) = gcj02_to_bd09(glon, glat);
        let (elon, elat) = (lon - blon, lat - blat);
        glon += elon;
        glat += elat;
        if elon.abs() < TOLERANCE_DEG && elat.abs() < TOLERANCE_DEG {
            break;
        }
    }
    (glon, glat)
}

/// WGS84 → BD-09 (identity outside China).
pub fn wgs84_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let (glon, glat) = wgs84_to_gcj02(lon, lat);
    gcj02_to_bd09(glon, glat)
}

/// BD-09 → WGS84 (identity outside China).
pub fn bd09_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let (glon, glat) = bd09_to_gcj02(lon, lat);
    gcj02_to_wgs84(glon, glat)
}

/// Ground distance in metres between two lon/lat points (haversine, mean radius);
/// good enough to check sub-metre agreement.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    const R: f64 = 6_371_008.8;
    let (lat1, lat2) = (a.1.to_radians(), b.1.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.0 - a.0).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values: the test table of eviltransform (go/transform_test.go,
    // github.com/googollee/eviltransform), reused by many ports — (wgs lon, wgs lat,
    // gcj lon, gcj lat).
    const WGS_GCJ: [(f64, f64, f64, f64); 3] = [
        (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597), // Shanghai
        (113.912316, 22.543847, 113.9171764808363, 22.540796131694766), // Shenzhen
        (116.377817, 39.911954, 116.38404722455657, 39.91334545536069), // Beijing
    ];

    #[test]
    fn forward_matches_published_values() {
        for (wlon, wlat, glon, glat) in WGS_GCJ {
            let (lon, lat) = wgs84_to_gcj02(wlon, wlat);
            assert!((lon - glon).abs() < 1e-9, "{lon} vs {glon}");
            assert!((lat - glat).abs() < 1e-9, "{lat} vs {glat}");
        }
    }

    #[test]
    fn bd09_matches_coordtransform() {
        // github.com/wandergis/coordtransform test/app.js: gcj02 (116.404, 39.915).
        let (lon, lat) = gcj02_to_bd09(116.404, 39.915);
        assert!((lon - 116.41036949371029).abs() < 1e-9);
        assert!((lat - 39.92133699351021).abs() < 1e-9);
    }

    #[test]
    fn inverses_are_sub_millimetre() {
        for (wlon, wlat, glon, glat) in WGS_GCJ {
            let back = gcj02_to_wgs84(glon, glat);
            assert!(distance_m(back, (wlon, wlat)) < 0.001);
            let bd = wgs84_to_bd09(wlon, wlat);
            assert!(distance_m(bd09_to_wgs84(bd.0, bd.1), (wlon, wlat)) < 0.001);
        }
    }

    #[test]
    fn identity_outside_china() {
        for p in [(24.94, 60.17), (-122.4, 37.8), (139.7, 35.7), (0.0, 0.0)] {
            assert_eq!(wgs84_to_gcj02(p.0, p.1), p);
            assert_eq!(gcj02_to_wgs84(p.0, p.1), p);
            assert_eq!(wgs84_to_bd09(p.0, p.1), p);
            assert_eq!(bd09_to_wgs84(p.0, p.1), p);
        }
    }
}
