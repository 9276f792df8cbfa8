//! Moved to `citygrid_geo::crs` (issue 16). This re-export is temporary: it goes as
//! soon as every caller imports `citygrid_geo::crs` directly.

pub use citygrid_geo::crs::*;
