//! What an imported vector layer gets by default: its zooms in the catalogue and
//! the comment that marks its table as the importer's.
//!
//! Default `min_zoom` (the lowest zoom at which the layer is drawn):
//!
//! | geometry | min_zoom |
//! |---|---|
//! | points | 14 |
//! | lines | 10 |
//! | polygons, features typically < 1 km across | 10 |
//! | polygons, typically 1–10 km across (parks, districts of a town) | 8 |
//! | polygons, typically > 10 km across (districts, counties) | 5 |
//! | mixed / collections | 10 |
//!
//! "Typically" is the mean of the square root of each feature's bounding-box area.
//! `max_zoom` is 22 ([`DEFAULT_LAYER_MAX_ZOOM`]).

/// The `max_zoom` written in the catalogue row of an imported vector layer (the zoom
/// up to which it is drawn; not the tile-maths limit, `citygrid_geo::tms::MAX_ZOOM`).
pub const DEFAULT_LAYER_MAX_ZOOM: i32 = 22;

/// Default `min_zoom` for a geometry family (0 points, 1 lines, 2 polygons,
/// 3 mixed) and the typical feature size in degrees.
pub fn default_min_zoom(family: u8, typical_size_deg: Option<f64>) -> i32 {
    match family {
        0 => 14,
        2 => match typical_size_deg {
            Some(s) if s > 0.1 => 5,
            Some(s) if s > 0.01 => 8,
            _ => 10,
        },
        _ => 10,
    }
}

/// The comment that marks a table in schema `layers` as written by an importer;
/// only such tables are ever replaced.
pub const IMPORTED_MARK: &str = citygrid_store::edits::IMPORTED_MARK;

#[cfg(test)]
mod tests {
    use super::default_min_zoom;

    #[test]
    fn zooms() {
        assert_eq!(default_min_zoom(0, None), 14);
        assert_eq!(default_min_zoom(1, None), 10);
        assert_eq!(default_min_zoom(2, Some(0.001)), 10);
        assert_eq!(default_min_zoom(2, Some(0.05)), 8);
        assert_eq!(default_min_zoom(2, Some(0.3)), 5);
    }
}
