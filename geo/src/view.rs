//! A map view: a centre and a zoom that show a lon/lat box, and back.
//!
//! The city's *home view* is one of these: the box the pages open on, the default
//! style's `center` and `zoom`. [`HomeView::fit`] chooses the zoom at which a box fills
//! a viewport of [`VIEWPORT`] pixels (MapLibre's 512-pixel tiles), and
//! [`HomeView::around`] the box that a centre and zoom show in it.
//!
//! ```
//! use citygrid_geo::view::HomeView;
//!
//! // Central Helsinki.
//! let home = HomeView::fit([24.935, 60.164, 24.953, 60.179]).unwrap();
//! assert!((home.center[0] - 24.944).abs() < 1e-9);
//! assert_eq!(home.zoom, 13.75);
//! let back = HomeView::around([24.944, 60.1715], home.zoom).unwrap();
//! assert!(back.bbox[0] < 24.944 && back.bbox[2] > 24.944);
//! ```

use serde::Serialize;

use crate::tms::{
    lonlat_to_mercator, mercator_to_lonlat, MAX_LATITUDE as MAX_LAT,
    MERC_HALF_WORLD_M as HALF_WORLD_M,
};

/// The viewport a view is fitted to: width and height in CSS pixels (a laptop's map).
pub const VIEWPORT: (f64, f64) = (1024.0, 640.0);

/// The zoom range of a home view.
pub const ZOOM_RANGE: (f64, f64) = (0.0, 20.0);

/// Why a view cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ViewError {
    /// A box that is not `[west, south, east, north]` within lon/lat range.
    #[error("a box is [west, south, east, north] in degrees with west < east, south < north, longitudes within ±180 and latitudes within ±85.05: got {0:?}")]
    Bbox([f64; 4]),
    /// A centre outside lon/lat range.
    #[error("a centre is [longitude, latitude] within ±180 and ±85.05: got {0:?}")]
    Center([f64; 2]),
    /// A zoom outside [`ZOOM_RANGE`].
    #[error("a zoom is a number from 0 to 20: got {0}")]
    Zoom(f64),
}

/// A centre, a zoom and the lon/lat box they show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HomeView {
    /// `[longitude, latitude]`.
    pub center: [f64; 2],
    /// MapLibre zoom (512-pixel tiles).
    pub zoom: f64,
    /// `[west, south, east, north]` in degrees.
    pub bbox: [f64; 4],
}

/// Checks a `[west, south, east, north]` box.
pub fn check_bbox(b: [f64; 4]) -> Result<[f64; 4], ViewError> {
    let ok = b.iter().all(|v| v.is_finite())
        && (-180.0..=180.0).contains(&b[0])
        && (-180.0..=180.0).contains(&b[2])
        && (-MAX_LAT..=MAX_LAT).contains(&b[1])
        && (-MAX_LAT..=MAX_LAT).contains(&b[3])
        && b[0] < b[2]
        && b[1] < b[3];
    if ok {
        Ok(b)
    } else {
        Err(ViewError::Bbox(b))
    }
}

/// Checks a `[longitude, latitude]` centre.
pub fn check_center(c: [f64; 2]) -> Result<[f64; 2], ViewError> {
    if c.iter().all(|v| v.is_finite())
        && (-180.0..=180.0).contains(&c[0])
        && (-MAX_LAT..=MAX_LAT).contains(&c[1])
    {
        Ok(c)
    } else {
        Err(ViewError::Center(c))
    }
}

/// Checks a zoom.
pub fn check_zoom(z: f64) -> Result<f64, ViewError> {
    if z.is_finite() && (ZOOM_RANGE.0..=ZOOM_RANGE.1).contains(&z) {
        Ok(z)
    } else {
        Err(ViewError::Zoom(z))
    }
}

/// Metres of Web Mercator per CSS pixel at `zoom` (512-pixel tiles).
fn metres_per_pixel(zoom: f64) -> f64 {
    2.0 * HALF_WORLD_M / (512.0 * 2f64.powf(zoom))
}

impl HomeView {
    /// The view that shows box `b` whole in [`VIEWPORT`]: its centre (in Web
    /// Mercator, so the box's middle on the screen) and the zoom, rounded down to a
    /// quarter, that fits it; a box of one point gets zoom 16.
    pub fn fit(b: [f64; 4]) -> Result<HomeView, ViewError> {
        let point = b.iter().all(|v| v.is_finite()) && b[0] == b[2] && b[1] == b[3];
        if point {
            let center = check_center([b[0], b[1]])?;
            return HomeView::around(center, 16.0);
        }
        // Features along one parallel or one meridian (a row of points, a straight
        // road) have a box of no height or no width: widen it a hair so it fits.
        let mut b = b;
        if b.iter().all(|v| v.is_finite()) && b[0] <= b[2] && b[1] <= b[3] {
            if b[0] == b[2] {
                b[0] = (b[0] - 1e-6).max(-180.0);
                b[2] = (b[2] + 1e-6).min(180.0);
            }
            if b[1] == b[3] {
                b[1] = (b[1] - 1e-6).max(-MAX_LAT);
                b[3] = (b[3] + 1e-6).min(MAX_LAT);
            }
        }
        let b = check_bbox(b)?;
        let sw = lonlat_to_mercator(b[0], b[1]);
        let ne = lonlat_to_mercator(b[2], b[3]);
        let (w, h) = ((ne.x - sw.x).max(1.0), (ne.y - sw.y).max(1.0));
        let mpp = (w / VIEWPORT.0).max(h / VIEWPORT.1);
        let zoom = (2.0 * HALF_WORLD_M / (512.0 * mpp)).log2();
        let zoom = ((zoom * 4.0).floor() / 4.0).clamp(ZOOM_RANGE.0, ZOOM_RANGE.1);
        let c = mercator_to_lonlat((sw.x + ne.x) / 2.0, (sw.y + ne.y) / 2.0);
        Ok(HomeView {
            center: [c.x, c.y],
            zoom,
            bbox: b,
        })
    }

    /// The view at `center` and `zoom`, with the box it shows in [`VIEWPORT`].
    pub fn around(center: [f64; 2], zoom: f64) -> Result<HomeView, ViewError> {
        let center = check_center(center)?;
        let zoom = check_zoom(zoom)?;
        let m = lonlat_to_mercator(center[0], center[1]);
        let mpp = metres_per_pixel(zoom);
        let (dx, dy) = (VIEWPORT.0 / 2.0 * mpp, VIEWPORT.1 / 2.0 * mpp);
        let sw = mercator_to_lonlat((m.x - dx).max(-HALF_WORLD_M), (m.y - dy).max(-HALF_WORLD_M));
        let ne = mercator_to_lonlat((m.x + dx).min(HALF_WORLD_M), (m.y + dy).min(HALF_WORLD_M));
        Ok(HomeView {
            center,
            zoom,
            bbox: [
                sw.x.max(-180.0),
                sw.y.max(-MAX_LAT),
                ne.x.min(180.0),
                ne.y.min(MAX_LAT),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_city_box_fits_at_a_city_zoom() {
        let v = HomeView::fit([24.935, 60.164, 24.953, 60.179]).unwrap();
        assert_eq!(v.bbox, [24.935, 60.164, 24.953, 60.179]);
        assert!((v.center[0] - 24.944).abs() < 1e-9);
        // The Mercator middle lies a little north of the mean latitude.
        assert!(v.center[1] > 60.1715 && v.center[1] < 60.172);
        assert_eq!(v.zoom, 13.75);
        // The box it shows at that zoom holds the box asked for.
        let shown = HomeView::around(v.center, v.zoom).unwrap().bbox;
        assert!(
            shown[0] <= 24.935 && shown[1] <= 60.164 && shown[2] >= 24.953 && shown[3] >= 60.179
        );
    }

    #[test]
    fn a_larger_box_gets_a_smaller_zoom_and_the_world_zoom_zero() {
        let city = HomeView::fit([114.2, 30.5, 114.4, 30.7]).unwrap().zoom;
        let province = HomeView::fit([108.0, 29.0, 116.0, 33.0]).unwrap().zoom;
        assert!(province < city);
        let world = HomeView::fit([-180.0, -85.0, 180.0, 85.0]).unwrap();
        assert!(world.zoom < 1.0, "{world:?}");
    }

    #[test]
    fn a_row_of_points_or_a_straight_road_fits() {
        // points along one parallel: no height
        let v = HomeView::fit([24.9384, 60.1699, 24.9385, 60.1699]).unwrap();
        assert!((v.center[1] - 60.1699).abs() < 1e-6, "{v:?}");
        assert!(v.zoom > 15.0, "{v:?}");
        // a road along one meridian: no width
        let v = HomeView::fit([114.3, 30.5, 114.3, 30.6]).unwrap();
        assert!((v.center[0] - 114.3).abs() < 1e-6, "{v:?}");
        // a box the wrong way round is still refused
        assert!(HomeView::fit([24.95, 60.17, 24.94, 60.17]).is_err());
    }

    #[test]
    fn a_point_gets_a_street_zoom() {
        let v = HomeView::fit([24.94, 60.17, 24.94, 60.17]).unwrap();
        assert_eq!(v.center, [24.94, 60.17]);
        assert_eq!(v.zoom, 16.0);
    }

    #[test]
    fn bad_boxes_centres_and_zooms_are_refused() {
        assert!(HomeView::fit([10.0, 0.0, 5.0, 1.0]).is_err());
        assert!(HomeView::fit([0.0, 0.0, 1.0, f64::NAN]).is_err());
        assert!(HomeView::fit([0.0, 0.0, 190.0, 1.0]).is_err());
        assert!(HomeView::around([0.0, 89.0], 3.0).is_err());
        assert!(HomeView::around([0.0, 0.0], 25.0).is_err());
        assert!(HomeView::around([0.0, 0.0], -1.0).is_err());
    }
}
