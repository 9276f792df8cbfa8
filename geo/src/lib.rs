//! # citygrid-geo
//!
//! The coordinate maths of citygrid, in one place: plain numbers in, plain numbers
//! out. No SQL, no HTTP, no file I/O, no GDAL.
//!
//! - [`chinacrs`]: GCJ-02 and BD-09, the offset datums of China's consumer map
//!   services, both ways (identity outside China).
//! - [`projection`]: a hand-written transverse Mercator (Gauss–Krüger) on the CGCS2000
//!   or WGS 84 ellipsoid, and local metric frames (ground metres around a point).
//! - [`crs`]: the CRSs the service speaks ([`crs::Crs`]: CRS84, EPSG:4326, EPSG:4490,
//!   EPSG:3857, the CGCS2000 3° Gauss–Krüger zones EPSG:4513–4554, GCJ-02, BD-09),
//!   parsing their URIs and transforming points and geometries to and from lon/lat.
//!   The Gauss–Krüger zones go through PROJ and need the `proj` feature.
//! - [`bbox`]: the one rule for `bbox` parameters ([`bbox::parse`]).
//! - [`measure`]: ground metres on lon/lat geometries (WGS 84 ellipsoid): geodesic
//!   lengths, areas and distances, metres per degree.
//! - [`tms`]: the WebMercatorQuad tile matrix set: `z/x/y` ↔ bounds
//!   ([`tms::TileCoord`]), lon/lat ↔ EPSG:3857, tile ranges over a box, zoom choice for
//!   a pixel size, and the one [`tms::MAX_ZOOM`].
//! - [`matrixset`]: the tile matrix sets served (WebMercatorQuad, WorldCRS84Quad and
//!   CGCS2000Quad on Tianditu's "c" levels), their OGC JSON documents, scale
//!   denominators and tile bounds, and the [`matrixset::Grid`] a tile address is read in.
//! - [`view`]: a map view (centre, zoom and the box they show): the city's home view.
//!
//! ```
//! use citygrid_geo::{bbox, chinacrs, crs::Crs, tms};
//!
//! // A GCJ-02 point from a Chinese map service, back to WGS 84.
//! let (lon, lat) = chinacrs::gcj02_to_wgs84(116.38404722455657, 39.91334545536069);
//! assert!((lon - 116.377817).abs() < 1e-8 && (lat - 39.911954).abs() < 1e-8);
//!
//! // The tile of zoom 14 holding it, and that tile's bounds in Web Mercator metres.
//! let m = tms::lonlat_to_mercator(lon, lat);
//! let tile = tms::tile_for_mercator(m.x, m.y, 14).unwrap();
//! assert_eq!(tile.to_string(), "14/13488/6207");
//! assert!(tile.bounds().contains_point(m.x, m.y));
//!
//! // A request's bbox, in EPSG:4326 axis order (lat,lon).
//! let b = bbox::parse("39.9,116.3,40.0,116.5", Crs::parse("EPSG:4326").unwrap()).unwrap();
//! assert_eq!((b.min_x, b.min_y), (116.3, 39.9));
//! ```

// Links the PROJ trampolines, so libproj loads on first use (lazylib/README.md).
#[cfg(feature = "proj")]
use citygrid_lazylib as _;

pub mod bbox;
pub mod chinacrs;
pub mod crs;
pub mod matrixset;
pub mod measure;
pub mod projection;
pub mod tms;
pub mod view;
