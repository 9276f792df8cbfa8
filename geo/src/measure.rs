//! Ground measures on lon/lat geometries (WGS84 ellipsoid): geodesic lengths and
//! areas, and distances between geometries.
//!
//! ```
//! use citygrid_geo::measure::{ground_distance_m, ground_measures};
//! use geo::{point, polygon, Geometry};
//! let a = Geometry::Point(point!(x: 24.94, y: 60.17));
//! let b = Geometry::Point(point!(x: 24.94, y: 60.18));
//! assert!((ground_distance_m(&a, &b) - 1114.0).abs() < 2.0);
//! let square = Geometry::Polygon(polygon![(x: 0.0, y: 0.0), (x: 0.01, y: 0.0), (x: 0.01, y: 0.01), (x: 0.0, y: 0.01)]);
//! let (length, area) = ground_measures(&square);
//! assert_eq!(length, 0.0);
//! assert!((area - 1_230_000.0).abs() < 10_000.0);
//! ```

use geo::orient::{Direction, Orient};
use geo::{
    Coord, Distance, Euclidean, Geodesic, GeodesicArea, Geometry, Intersects, Length, MapCoords,
    Point, Polygon,
};

/// WGS84 semi-major axis (m).
const A: f64 = 6_378_137.0;
/// WGS84 first eccentricity squared.
const E2: f64 = 0.006_694_379_990_141_316;

/// Metres per degree of longitude and of latitude at latitude `lat` (degrees).
pub fn metres_per_degree(lat: f64) -> (f64, f64) {
    let phi = lat.to_radians();
    let s = phi.sin();
    let w = (1.0 - E2 * s * s).sqrt();
    let n = A / w;
    let m = A * (1.0 - E2) / (w * w * w);
    let rad = std::f64::consts::PI / 180.0;
    (n * phi.cos() * rad, m * rad)
}

/// The ground distance in metres between two lon/lat geometries: 0 when they
/// intersect, the exact geodesic distance between two points, and otherwise the
/// distance in a local equidistant approximation around the geometries (errors
/// well under 0.1% for city distances).
pub fn ground_distance_m(a: &Geometry<f64>, b: &Geometry<f64>) -> f64 {
    if let (Geometry::Point(p), Geometry::Point(q)) = (a, b) {
        return Geodesic::distance(*p, *q);
    }
    if a.intersects(b) {
        return 0.0;
    }
    let Some(lat) = reference_lat(a).or_else(|| reference_lat(b)) else {
        return f64::INFINITY;
    };
    let (mx, my) = metres_per_degree(lat);
    let project = |g: &Geometry<f64>| {
        g.map_coords(|c| Coord {
            x: c.x * mx,
            y: c.y * my,
        })
    };
    let (pa, pb) = (project(a), project(b));
    Euclidean::distance(&pa, &pb)
}

fn reference_lat(g: &Geometry<f64>) -> Option<f64> {
    use geo::BoundingRect;
    let r = g.bounding_rect()?;
    Some((r.min().y + r.max().y) / 2.0)
}

/// Geodesic length (lines, metres) and area (polygons, square metres) of a lon/lat
/// geometry; points measure 0; collections sum their parts.
pub fn ground_measures(g: &Geometry<f64>) -> (f64, f64) {
    match g {
        Geometry::LineString(l) => (l.length::<Geodesic>(), 0.0),
        Geometry::MultiLineString(l) => (l.length::<Geodesic>(), 0.0),
        Geometry::Line(l) => (l.length::<Geodesic>(), 0.0),
        Geometry::Polygon(p) => (0.0, polygon_area(p)),
        Geometry::MultiPolygon(p) => (0.0, p.0.iter().map(polygon_area).sum::<f64>()),
        Geometry::Rect(r) => (0.0, polygon_area(&r.to_polygon())),
        Geometry::Triangle(t) => (0.0, polygon_area(&t.to_polygon())),
        Geometry::GeometryCollection(c) => c.0.iter().fold((0.0, 0.0), |(l, a), g| {
            let (gl, ga) = ground_measures(g);
            (l + gl, a + ga)
        }),
        Geometry::Point(_) | Geometry::MultiPoint(_) => (0.0, 0.0),
    }
}

/// Geodesic area of a polygon whatever the winding of its rings (an exterior
/// ring wound clockwise would otherwise measure the rest of the Earth).
fn polygon_area(p: &Polygon<f64>) -> f64 {
    p.orient(Direction::Default).geodesic_area_unsigned()
}

/// The geodesic distance between two lon/lat points in metres.
pub fn point_distance_m(a: Coord<f64>, b: Coord<f64>) -> f64 {
    Geodesic::distance(Point(a), Point(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, point};

    #[test]
    fn line_to_point_distance_is_close_to_geodesic() {
        let line = Geometry::LineString(line_string![(x: 24.90, y: 60.20), (x: 24.96, y: 60.20)]);
        let p = Geometry::Point(point!(x: 24.93, y: 60.21));
        let d = ground_distance_m(&line, &p);
        let exact = point_distance_m(Coord { x: 24.93, y: 60.20 }, Coord { x: 24.93, y: 60.21 });
        assert!((d - exact).abs() / exact < 1e-3, "{d} vs {exact}");
    }
}
