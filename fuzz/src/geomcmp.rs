//! Geometry comparison: the same shape (types and part/ring/vertex counts) and
//! coordinates equal up to a few units in the last place (JSON float parsing is
//! not guaranteed to be bit-exact without serde_json's `float_roundtrip`).

use geo::{Coord, CoordsIter, Geometry};

/// A text signature of the shape of `g`: types and counts, no coordinates.
pub fn shape(g: &Geometry<f64>) -> String {
    let mut s = String::new();
    sig(&mut s, g);
    s
}

fn sig(s: &mut String, g: &Geometry<f64>) {
    use std::fmt::Write;
    match g {
        Geometry::Point(_) => s.push('P'),
        Geometry::LineString(l) => {
            let _ = write!(s, "L{}", l.0.len());
        }
        Geometry::Polygon(p) => {
            let _ = write!(s, "A{}", p.exterior().0.len());
            for r in p.interiors() {
                let _ = write!(s, ",{}", r.0.len());
            }
            s.push(';');
        }
        Geometry::MultiPoint(m) => {
            let _ = write!(s, "MP{};", m.0.len());
        }
        Geometry::MultiLineString(m) => {
            s.push_str("ML[");
            for l in &m.0 {
                let _ = write!(s, "{},", l.0.len());
            }
            s.push(']');
        }
        Geometry::MultiPolygon(m) => {
            s.push_str("MA[");
            for p in &m.0 {
                sig(s, &Geometry::Polygon(p.clone()));
            }
            s.push(']');
        }
        Geometry::GeometryCollection(c) => {
            s.push_str("GC[");
            for x in &c.0 {
                sig(s, x);
                s.push('|');
            }
            s.push(']');
        }
        other => {
            let _ = write!(s, "?{other:?}");
        }
    }
}

/// True when `a` and `b` are equal up to `ulps` units in the last place.
pub fn close(a: f64, b: f64, ulps: u64) -> bool {
    if a == b {
        return true;
    }
    if !a.is_finite() || !b.is_finite() || a.signum() != b.signum() {
        return false;
    }
    a.to_bits().abs_diff(b.to_bits()) <= ulps
}

/// Panics unless `a` and `b` have the same shape and close coordinates;
/// `swap` compares `a`'s (x, y) with `b`'s (y, x).
pub fn assert_same(a: &Geometry<f64>, b: &Geometry<f64>, swap: bool) {
    assert_eq!(shape(a), shape(b), "shapes differ: {a:?} vs {b:?}");
    let ca: Vec<Coord<f64>> = a.coords_iter().collect();
    let cb: Vec<Coord<f64>> = b.coords_iter().collect();
    assert_eq!(ca.len(), cb.len());
    for (p, q) in ca.iter().zip(&cb) {
        let q = if swap { Coord { x: q.y, y: q.x } } else { *q };
        assert!(
            close(p.x, q.x, 4) && close(p.y, q.y, 4),
            "coordinates differ: {p:?} vs {q:?}"
        );
    }
}
