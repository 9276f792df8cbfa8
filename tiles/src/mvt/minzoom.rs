//! Default minimum zoom of a layer from its geometry type and feature density.

use geo::Geometry;

use citygrid_geo::tms::{tile_span_m, Bbox};

/// The broad geometry class of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeometryKind {
    /// Points and multi-points.
    Point,
    /// Lines and multi-lines.
    Line,
    /// Polygons and multi-polygons (and rects, triangles).
    Polygon,
}

impl GeometryKind {
    /// The class of a geometry (a collection takes the class of its first member;
    /// `None` for an empty collection).
    pub fn of(g: &Geometry<f64>) -> Option<Self> {
        match g {
            Geometry::Point(_) | Geometry::MultiPoint(_) => Some(GeometryKind::Point),
            Geometry::Line(_) | Geometry::LineString(_) | Geometry::MultiLineString(_) => {
                Some(GeometryKind::Line)
            }
            Geometry::Polygon(_)
            | Geometry::MultiPolygon(_)
            | Geometry::Rect(_)
            | Geometry::Triangle(_) => Some(GeometryKind::Polygon),
            Geometry::GeometryCollection(gc) => gc.iter().find_map(GeometryKind::of),
        }
    }

    /// The default minimum zoom of a dense layer: points 14, lines 10, polygons 8.
    pub fn base_min_zoom(self) -> u8 {
        match self {
            GeometryKind::Point => 14,
            GeometryKind::Line => 10,
            GeometryKind::Polygon => 8,
        }
    }

    /// Features per tile that a layer may show at its minimum zoom.
    pub fn target_per_tile(self) -> f64 {
        match self {
            GeometryKind::Point => 500.0,
            GeometryKind::Line => 2_000.0,
            GeometryKind::Polygon => 2_000.0,
        }
    }
}

/// The default minimum zoom of a layer.
///
/// Rule: start from the type's base (points 14, lines 10, polygons 8); a sparser layer
/// appears earlier, at the lowest zoom `z` where the expected number of features in one
/// tile, `count · min(1, tile_area(z) / layer_area)`, is at most the type's target
/// (points 500, lines and polygons 2000). The layer area is its Web Mercator bbox area
/// (at least one square metre). An empty layer gets the base zoom.
///
/// ```
/// use citygrid_tiles::mvt::{default_min_zoom, GeometryKind};
/// use citygrid_geo::tms::Bbox;
/// let city = Bbox::new(0.0, 0.0, 30_000.0, 30_000.0); // 30 km square
/// assert_eq!(default_min_zoom(GeometryKind::Point, 2_000_000, Some(&city)), 14);
/// assert_eq!(default_min_zoom(GeometryKind::Polygon, 200_000, Some(&city)), 8);
/// assert_eq!(default_min_zoom(GeometryKind::Point, 300, Some(&city)), 0);
/// assert_eq!(default_min_zoom(GeometryKind::Line, 0, None), 10);
/// ```
pub fn default_min_zoom(
    kind: GeometryKind,
    feature_count: usize,
    bounds_merc: Option<&Bbox>,
) -> u8 {
    let base = kind.base_min_zoom();
    let Some(b) = bounds_merc else { return base };
    if feature_count == 0 {
        return base;
    }
    let area = (b.width() * b.height()).max(1.0);
    let area = if area.is_finite() { area } else { f64::MAX };
    let n = feature_count as f64;
    (0..base)
        .find(|&z| {
            let tile_area = tile_span_m(z).powi(2);
            n * (tile_area / area).min(1.0) <= kind.target_per_tile()
        })
        .unwrap_or(base)
}
