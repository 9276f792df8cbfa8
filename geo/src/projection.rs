//! A transverse Mercator projection written by hand (Krüger series to n⁴, as in Karney
//! 2011), accurate to well under a millimetre within a few degrees of the central
//! meridian. Used for local metric frames (unit grid generation) without PROJ.
//!
//! ```
//! use citygrid_geo::projection::{Ellipsoid, TransverseMercator};
//!
//! // CGCS2000 3-degree Gauss–Krüger zone, central meridian 114°E (EPSG:4547)
//! let gk = TransverseMercator::new(Ellipsoid::CGCS2000, 114.0, 1.0, 500_000.0, 0.0);
//! let (x, y) = gk.forward(114.30, 30.59);
//! assert!((x - 528_773.19).abs() < 0.01 && (y - 3_385_557.62).abs() < 0.01);
//! let (lon, lat) = gk.inverse(x, y);
//! assert!((lon - 114.30).abs() < 1e-10 && (lat - 30.59).abs() < 1e-10);
//! ```

use serde::{Deserialize, Serialize};

/// A reference ellipsoid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ellipsoid {
    /// Semi-major axis in metres.
    pub a: f64,
    /// Flattening.
    pub f: f64,
}

impl Ellipsoid {
    /// CGCS2000 (EPSG:1024), practically GRS 80.
    pub const CGCS2000: Ellipsoid = Ellipsoid {
        a: 6_378_137.0,
        f: 1.0 / 298.257_222_101,
    };
    /// WGS 84.
    pub const WGS84: Ellipsoid = Ellipsoid {
        a: 6_378_137.0,
        f: 1.0 / 298.257_223_563,
    };
}

/// A transverse Mercator projection (lon/lat degrees ↔ easting/northing metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransverseMercator {
    lon0: f64,
    k0a: f64,
    fe: f64,
    fn_: f64,
    e: f64,
    alpha: [f64; 4],
    beta: [f64; 4],
    delta: [f64; 4],
}

impl TransverseMercator {
    /// A projection with central meridian `lon0` (degrees), scale `k0` on it, and false
    /// easting/northing in metres (northing 0 at the equator).
    pub fn new(
        ell: Ellipsoid,
        lon0: f64,
        k0: f64,
        false_easting: f64,
        false_northing: f64,
    ) -> Self {
        let n = ell.f / (2.0 - ell.f);
        let (n2, n3, n4) = (n * n, n * n * n, n * n * n * n);
        let a_rect = ell.a / (1.0 + n) * (1.0 + n2 / 4.0 + n4 / 64.0);
        Self {
            lon0,
            k0a: k0 * a_rect,
            fe: false_easting,
            fn_: false_northing,
            e: 2.0 * n.sqrt() / (1.0 + n),
            alpha: [
                n / 2.0 - 2.0 * n2 / 3.0 + 5.0 * n3 / 16.0 + 41.0 * n4 / 180.0,
                13.0 * n2 / 48.0 - 3.0 * n3 / 5.0 + 557.0 * n4 / 1440.0,
                61.0 * n3 / 240.0 - 103.0 * n4 / 140.0,
                49561.0 * n4 / 161_280.0,
            ],
            beta: [
                n / 2.0 - 2.0 * n2 / 3.0 + 37.0 * n3 / 96.0 - n4 / 360.0,
                n2 / 48.0 + n3 / 15.0 - 437.0 * n4 / 1440.0,
                17.0 * n3 / 480.0 - 37.0 * n4 / 840.0,
                4397.0 * n4 / 161_280.0,
            ],
            delta: [
                2.0 * n - 2.0 * n2 / 3.0 - 2.0 * n3 + 116.0 * n4 / 45.0,
                7.0 * n2 / 3.0 - 8.0 * n3 / 5.0 - 227.0 * n4 / 45.0,
                56.0 * n3 / 15.0 - 136.0 * n4 / 35.0,
                4279.0 * n4 / 630.0,
            ],
        }
    }

    /// A local frame on CGCS2000 centred on (`lon0`, `lat0`): that point maps to (0, 0),
    /// scale 1 on the central meridian.
    pub fn local(lon0: f64, lat0: f64) -> Self {
        let tm = Self::new(Ellipsoid::CGCS2000, lon0, 1.0, 0.0, 0.0);
        let (_, y0) = tm.forward(lon0, lat0);
        Self { fn_: -y0, ..tm }
    }

    /// Project lon/lat degrees to (easting, northing) metres.
    pub fn forward(&self, lon: f64, lat: f64) -> (f64, f64) {
        let phi = lat.to_radians();
        let dl = (lon - self.lon0).to_radians();
        let s = phi.sin();
        let t = (s.atanh() - self.e * (self.e * s).atanh()).sinh();
        let xi1 = t.atan2(dl.cos());
        let eta1 = (dl.sin() / (1.0 + t * t).sqrt()).atanh();
        let (mut x, mut y) = (eta1, xi1);
        for (j, a) in self.alpha.iter().enumerate() {
            let k = 2.0 * (j + 1) as f64;
            x += a * (k * xi1).cos() * (k * eta1).sinh();
            y += a * (k * xi1).sin() * (k * eta1).cosh();
        }
        (self.fe + self.k0a * x, self.fn_ + self.k0a * y)
    }

    /// Unproject (easting, northing) metres to lon/lat degrees.
    pub fn inverse(&self, x: f64, y: f64) -> (f64, f64) {
        let xi = (y - self.fn_) / self.k0a;
        let eta = (x - self.fe) / self.k0a;
        let (mut xi1, mut eta1) = (xi, eta);
        for (j, b) in self.beta.iter().enumerate() {
            let k = 2.0 * (j + 1) as f64;
            xi1 -= b * (k * xi).sin() * (k * eta).cosh();
            eta1 -= b * (k * xi).cos() * (k * eta).sinh();
        }
        let chi = (xi1.sin() / eta1.cosh()).asin();
        let mut phi = chi;
        for (j, d) in self.delta.iter().enumerate() {
            phi += d * (2.0 * (j + 1) as f64 * chi).sin();
        }
        let lon = self.lon0 + eta1.sinh().atan2(xi1.cos()).to_degrees();
        (lon, phi.to_degrees())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_epsg_4547_and_round_trips() {
        let gk = TransverseMercator::new(Ellipsoid::CGCS2000, 114.0, 1.0, 500_000.0, 0.0);
        let (x, y) = gk.forward(114.30, 30.59);
        assert!((x - 528_773.19).abs() < 0.006, "{x}");
        assert!((y - 3_385_557.62).abs() < 0.006, "{y}");
        // on the central meridian the easting is the false easting
        assert!((gk.forward(114.0, 30.0).0 - 500_000.0).abs() < 1e-6);
        for (lon, lat) in [(111.5, 20.0), (116.4, 45.0), (114.0, 0.0), (113.0, -33.0)] {
            let (x, y) = gk.forward(lon, lat);
            let (lo, la) = gk.inverse(x, y);
            assert!(
                (lo - lon).abs() < 1e-9 && (la - lat).abs() < 1e-9,
                "{lon},{lat}"
            );
        }
    }

    #[test]
    fn local_frame_is_centred_and_metric() {
        let tm = TransverseMercator::local(114.26, 30.60);
        let (x, y) = tm.forward(114.26, 30.60);
        assert!(x.abs() < 1e-6 && y.abs() < 1e-6);
        // one arc-minute of latitude ≈ 1847.6 m here (meridian arc at 30.6°N)
        let (_, y1) = tm.forward(114.26, 30.60 + 1.0 / 60.0);
        assert!((y1 - 1847.6).abs() < 1.0, "{y1}");
    }
}
