//! The coordinate reference systems the OGC API and the query endpoints speak, and
//! the transformations between them and lon/lat (WGS84; data are stored in
//! EPSG:4326).
//!
//! | CRS | axis order (OGC API Part 2) | how |
//! |---|---|---|
//! | `OGC:CRS84` (default) | lon, lat | identity |
//! | `EPSG:4326` | **lat, lon** | identity + axis swap |
//! | `EPSG:4490` (CGCS2000) | lat, lon | identity (CGCS2000 and WGS84 agree to a few cm) |
//! | `EPSG:3857` | x, y | exact spherical Mercator |
//! | `EPSG:4513`–`4554` (CGCS2000 3° Gauss–Krüger) | northing, easting | PROJ (feature `proj`) |
//! | `gcj02`, `bd09` (not in OGC lists) | lon, lat | [`crate::chinacrs`] |
//!
//! [`Crs::to_lonlat`] / [`Crs::from_lonlat`] always take and give easting/longitude
//! first; [`Crs::lat_first`] tells the OGC layer when to swap.
//!
//! The Gauss–Krüger transformations go through PROJ and need the crate's `proj`
//! feature (the HTTP service enables it); without it they fail with
//! [`CrsError::Transform`] and everything else works. PROJ objects are not
//! thread-safe: each thread keeps its own, built on first use.
//!
//! ```
//! use citygrid_geo::crs::Crs;
//! let gk = Crs::parse("http://www.opengis.net/def/crs/EPSG/0/4547").unwrap();
//! assert!(gk.lat_first());
//! let wm = Crs::parse("EPSG:3857").unwrap();
//! let (x, y) = wm.from_lonlat(114.3, 30.6).unwrap();
//! let (lon, lat) = wm.to_lonlat(x, y).unwrap();
//! assert!((lon - 114.3).abs() < 1e-8 && (lat - 30.6).abs() < 1e-8);
//! assert!(Crs::parse("EPSG:9999").is_err());
//! ```

use std::cell::RefCell;

use crate::chinacrs;
use crate::tms::{lonlat_to_mercator, mercator_to_lonlat};
use geo::{BoundingRect, Coord, Geometry, MapCoords, MapCoordsInPlace};

/// The default CRS of OGC API Features.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// A CRS error: unknown CRS or a point PROJ cannot transform.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrsError {
    /// Not one of the supported CRSs.
    #[error("unsupported CRS {0:?}: use CRS84, EPSG:4326, EPSG:4490, EPSG:3857, EPSG:4513–4554, gcj02 or bd09")]
    Unsupported(String),
    /// A coordinate could not be transformed.
    #[error("cannot transform coordinates: {0}")]
    Transform(String),
}

/// A supported CRS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// OGC:CRS84, lon/lat.
    Crs84,
    /// EPSG:4326, lat/lon axis order.
    Epsg4326,
    /// EPSG:4490 CGCS2000 geographic, lat/lon axis order.
    Cgcs2000,
    /// EPSG:3857 Web Mercator.
    WebMercator,
    /// EPSG:4513–4554, CGCS2000 3-degree Gauss–Krüger (northing, easting).
    GaussKruger(u16),
    /// GCJ-02 lon/lat.
    Gcj02,
    /// BD-09 lon/lat.
    Bd09,
}

impl Crs {
    /// Parses a CRS URI (`http://www.opengis.net/def/crs/EPSG/0/4326`), a URN, a
    /// (safe) CURIE (`[EPSG:4326]`), `EPSG:n`, `CRS84`, `gcj02` or `bd09`.
    pub fn parse(text: &str) -> Result<Crs, CrsError> {
        let t = text.trim();
        let t = t
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(t);
        let lower = t.to_ascii_lowercase();
        let unsupported = || CrsError::Unsupported(text.chars().take(100).collect());
        if matches!(lower.as_str(), "gcj02" | "gcj-02") {
            return Ok(Crs::Gcj02);
        }
        if matches!(lower.as_str(), "bd09" | "bd-09") {
            return Ok(Crs::Bd09);
        }
        let code = if let Some(rest) = lower
            .strip_prefix("http://www.opengis.net/def/crs/")
            .or_else(|| lower.strip_prefix("https://www.opengis.net/def/crs/"))
        {
            match rest.split('/').collect::<Vec<_>>().as_slice() {
                ["ogc", _, "crs84"] => return Ok(Crs::Crs84),
                ["epsg", _, code] => *code,
                _ => return Err(unsupported()),
            }
        } else if lower == "ogc:crs84"
            || lower == "crs84"
            || lower == "urn:ogc:def:crs:ogc:1.3:crs84"
        {
            return Ok(Crs::Crs84);
        } else if let Some(code) = lower
            .strip_prefix("epsg:")
            .or_else(|| lower.strip_prefix("urn:ogc:def:crs:epsg::"))
        {
            code
        } else {
            return Err(unsupported());
        };
        let code: u16 = code.parse().map_err(|_| unsupported())?;
        match code {
            4326 => Ok(Crs::Epsg4326),
            4490 => Ok(Crs::Cgcs2000),
            3857 => Ok(Crs::WebMercator),
            4513..=4554 => Ok(Crs::GaussKruger(code)),
            _ => Err(unsupported()),
        }
    }

    /// The CRS's URI (OGC form where there is one).
    pub fn uri(self) -> String {
        match self {
            Crs::Crs84 => CRS84.to_string(),
            Crs::Epsg4326 => "http://www.opengis.net/def/crs/EPSG/0/4326".to_string(),
            Crs::Cgcs2000 => "http://www.opengis.net/def/crs/EPSG/0/4490".to_string(),
            Crs::WebMercator => "http://www.opengis.net/def/crs/EPSG/0/3857".to_string(),
            Crs::GaussKruger(c) => format!("http://www.opengis.net/def/crs/EPSG/0/{c}"),
            Crs::Gcj02 => "gcj02".to_string(),
            Crs::Bd09 => "bd09".to_string(),
        }
    }

    /// Every CRS offered by the OGC API (URIs), CRS84 first.
    pub fn ogc_list() -> Vec<String> {
        let mut out = vec![
            Crs::Crs84.uri(),
            Crs::Epsg4326.uri(),
            Crs::Cgcs2000.uri(),
            Crs::WebMercator.uri(),
        ];
        out.extend((4513..=4554).map(|c| Crs::GaussKruger(c).uri()));
        out
    }

    /// Whether the authority's first axis is latitude / northing.
    pub fn lat_first(self) -> bool {
        matches!(self, Crs::Epsg4326 | Crs::Cgcs2000 | Crs::GaussKruger(_))
    }

    /// Whether coordinates are lon/lat degrees already (up to the axis order).
    pub fn is_wgs84(self) -> bool {
        matches!(self, Crs::Crs84 | Crs::Epsg4326 | Crs::Cgcs2000)
    }

    /// Easting/longitude-first coordinates of this CRS to lon/lat.
    pub fn to_lonlat(self, x: f64, y: f64) -> Result<(f64, f64), CrsError> {
        let out = match self {
            Crs::Crs84 | Crs::Epsg4326 | Crs::Cgcs2000 => (x, y),
            Crs::WebMercator => {
                let c = mercator_to_lonlat(x, y);
                (c.x, c.y)
            }
            Crs::Gcj02 => chinacrs::gcj02_to_wgs84(x, y),
            Crs::Bd09 => chinacrs::bd09_to_wgs84(x, y),
            Crs::GaussKruger(code) => gauss_kruger(code, false, (x, y))?,
        };
        finite(out)
    }

    /// Lon/lat to easting/longitude-first coordinates of this CRS.
    pub fn from_lonlat(self, lon: f64, lat: f64) -> Result<(f64, f64), CrsError> {
        let out = match self {
            Crs::Crs84 | Crs::Epsg4326 | Crs::Cgcs2000 => (lon, lat),
            Crs::WebMercator => {
                let c = lonlat_to_mercator(lon, lat);
                (c.x, c.y)
            }
            Crs::Gcj02 => chinacrs::wgs84_to_gcj02(lon, lat),
            Crs::Bd09 => chinacrs::wgs84_to_bd09(lon, lat),
            Crs::GaussKruger(code) => gauss_kruger(code, true, (lon, lat))?,
        };
        finite(out)
    }

    /// Transforms a geometry of this CRS (easting first) into lon/lat in place.
    pub fn geometry_to_lonlat(self, g: &mut Geometry<f64>) -> Result<(), CrsError> {
        if self.is_wgs84() {
            return Ok(());
        }
        let failure = RefCell::new(None);
        g.map_coords_in_place(|c| match self.to_lonlat(c.x, c.y) {
            Ok((x, y)) => Coord { x, y },
            Err(e) => {
                *failure.borrow_mut() = Some(e);
                c
            }
        });
        failure.into_inner().map_or(Ok(()), Err)
    }

    /// A copy of a lon/lat geometry in this CRS (easting first).
    pub fn geometry_from_lonlat(self, g: &Geometry<f64>) -> Result<Geometry<f64>, CrsError> {
        let failure = RefCell::new(None);
        let out = g.map_coords(|c| match self.from_lonlat(c.x, c.y) {
            Ok((x, y)) => Coord { x, y },
            Err(e) => {
                *failure.borrow_mut() = Some(e);
                c
            }
        });
        failure.into_inner().map_or(Ok(out), Err)
    }
}

/// Checks that a lon/lat geometry lies within ±180° longitude and ±90° latitude
/// (every coordinate finite).
pub fn check_lonlat(g: &Geometry<f64>) -> Result<(), CrsError> {
    if let Some(r) = g.bounding_rect() {
        let ok = [r.min().x, r.min().y, r.max().x, r.max().y]
            .iter()
            .all(|v| v.is_finite())
            && r.min().y >= -90.0
            && r.max().y <= 90.0
            && r.min().x >= -180.0
            && r.max().x <= 180.0;
        if !ok {
            return Err(CrsError::Transform(
                "coordinates outside ±180° longitude / ±90° latitude".into(),
            ));
        }
    }
    Ok(())
}

fn finite((x, y): (f64, f64)) -> Result<(f64, f64), CrsError> {
    if x.is_finite() && y.is_finite() {
        Ok((x, y))
    } else {
        Err(CrsError::Transform(
            "the point is outside the CRS's domain".into(),
        ))
    }
}

#[cfg(feature = "proj")]
thread_local! {
    static PROJS: RefCell<std::collections::HashMap<(u16, bool), proj::Proj>> =
        RefCell::new(std::collections::HashMap::new());
}

/// Runs `f` with this thread's PROJ transformation between CGCS2000 lon/lat and
/// EPSG:`code` (`forward`: to the projected CRS), built on first use.
#[cfg(feature = "proj")]
fn with_proj<T>(
    code: u16,
    forward: bool,
    f: impl FnOnce(&proj::Proj) -> Result<T, proj::ProjError>,
) -> Result<T, CrsError> {
    PROJS.with(|cell| {
        let mut map = cell.borrow_mut();
        let p = match map.entry((code, forward)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let projected = format!("EPSG:{code}");
                let (from, to) = if forward {
                    ("EPSG:4490", projected.as_str())
                } else {
                    (projected.as_str(), "EPSG:4490")
                };
                let p = proj::Proj::new_known_crs(from, to, None).map_err(|e| {
                    CrsError::Transform(format!("PROJ cannot set up EPSG:{code}: {e}"))
                })?;
                v.insert(p)
            }
        };
        f(p).map_err(|e| CrsError::Transform(e.to_string()))
    })
}

/// Easting-first EPSG:`code` coordinates to CGCS2000 lon/lat, or back (`forward`),
/// through PROJ.
#[cfg(feature = "proj")]
fn gauss_kruger(code: u16, forward: bool, xy: (f64, f64)) -> Result<(f64, f64), CrsError> {
    with_proj(code, forward, |p| p.convert(xy))
}

/// Without the `proj` feature there is no Gauss–Krüger transformation: a clear error.
#[cfg(not(feature = "proj"))]
fn gauss_kruger(code: u16, _forward: bool, _xy: (f64, f64)) -> Result<(f64, f64), CrsError> {
    Err(CrsError::Transform(format!(
        "EPSG:{code} needs PROJ (citygrid-geo is built without its proj feature)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(Crs::parse(CRS84).unwrap(), Crs::Crs84);
        assert_eq!(Crs::parse("[EPSG:4326]").unwrap(), Crs::Epsg4326);
        assert_eq!(
            Crs::parse("urn:ogc:def:crs:EPSG::3857").unwrap(),
            Crs::WebMercator
        );
        assert_eq!(Crs::parse("EPSG:4513").unwrap(), Crs::GaussKruger(4513));
        assert_eq!(Crs::parse("GCJ02").unwrap(), Crs::Gcj02);
        assert!(Crs::parse("EPSG:4512").is_err());
        assert!(Crs::parse("EPSG:4555").is_err());
        assert!(Crs::parse("'; DROP TABLE x").is_err());
        assert_eq!(Crs::ogc_list().len(), 4 + 42);
    }

    #[cfg(feature = "proj")]
    #[test]
    fn gauss_kruger_round_trips() {
        let gk = Crs::parse("http://www.opengis.net/def/crs/EPSG/0/4547").unwrap();
        assert!(gk.lat_first());
        let (e, n) = gk.from_lonlat(114.3, 30.6).unwrap();
        let (lon, lat) = gk.to_lonlat(e, n).unwrap();
        assert!((lon - 114.3).abs() < 1e-8 && (lat - 30.6).abs() < 1e-8);
        assert!(Crs::parse("EPSG:9999").is_err());
    }

    #[cfg(not(feature = "proj"))]
    #[test]
    fn gauss_kruger_without_proj_is_an_error() {
        let err = Crs::GaussKruger(4547).from_lonlat(114.0, 30.0).unwrap_err();
        assert!(err.to_string().contains("EPSG:4547 needs PROJ"), "{err}");
        assert!(Crs::GaussKruger(4547).to_lonlat(500_000.0, 0.0).is_err());
    }

    #[cfg(feature = "proj")]
    #[test]
    fn gauss_kruger_matches_known_values() {
        // EPSG:4547 is CGCS2000 / 3-degree GK CM 114E: x = 500 km at 114°E.
        let (e, n) = Crs::GaussKruger(4547).from_lonlat(114.0, 30.0).unwrap();
        assert!((e - 500_000.0).abs() < 1e-3, "{e}");
        assert!((n - 3_320_113.40).abs() < 0.01, "{n}");
        // EPSG:4513 is zone 25 (CM 75E) with the zone number in the easting.
        let (e, _) = Crs::GaussKruger(4513).from_lonlat(75.0, 40.0).unwrap();
        assert!((e - 25_500_000.0).abs() < 1e-3, "{e}");
        let (x, y) = Crs::WebMercator.from_lonlat(24.9, 60.2).unwrap();
        let (lon, lat) = Crs::WebMercator.to_lonlat(x, y).unwrap();
        assert!((lon - 24.9).abs() < 1e-9 && (lat - 60.2).abs() < 1e-9);
    }
}
