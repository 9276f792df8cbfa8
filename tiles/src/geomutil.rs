//! Small internal helpers over `geo::Geometry`: a part visitor, envelopes, finiteness,
//! memory estimates, closest points.

use geo::{Coord, CoordsIter, Geometry, LineString};

use citygrid_geo::tms::Bbox;

/// One primitive part of a geometry, borrowed where possible.
pub(crate) enum PartRef<'a> {
    /// A single position.
    Point(Coord<f64>),
    /// A polyline.
    Line(&'a [Coord<f64>]),
    /// A polygon: exterior ring then holes (rings as stored, maybe unclosed).
    Polygon {
        exterior: &'a [Coord<f64>],
        interiors: &'a [LineString<f64>],
    },
}

/// Calls `f` for every primitive part of `g` (collections are flattened).
pub(crate) fn for_each_part(g: &Geometry<f64>, f: &mut dyn FnMut(PartRef<'_>)) {
    match g {
        Geometry::Point(p) => f(PartRef::Point(p.0)),
        Geometry::MultiPoint(mp) => mp.iter().for_each(|p| f(PartRef::Point(p.0))),
        Geometry::Line(l) => {
            let arr = [l.start, l.end];
            f(PartRef::Line(&arr));
        }
        Geometry::LineString(ls) => f(PartRef::Line(&ls.0)),
        Geometry::MultiLineString(mls) => mls.iter().for_each(|ls| f(PartRef::Line(&ls.0))),
        Geometry::Polygon(p) => f(PartRef::Polygon {
            exterior: &p.exterior().0,
            interiors: p.interiors(),
        }),
        Geometry::MultiPolygon(mp) => mp.iter().for_each(|p| {
            f(PartRef::Polygon {
                exterior: &p.exterior().0,
                interiors: p.interiors(),
            })
        }),
        Geometry::Rect(r) => {
            let p = r.to_polygon();
            f(PartRef::Polygon {
                exterior: &p.exterior().0,
                interiors: &[],
            });
        }
        Geometry::Triangle(t) => {
            let p = t.to_polygon();
            f(PartRef::Polygon {
                exterior: &p.exterior().0,
                interiors: &[],
            });
        }
        Geometry::GeometryCollection(gc) => gc.iter().for_each(|g| for_each_part(g, f)),
    }
}

/// True when every coordinate is finite (true for empty geometries).
pub(crate) fn all_finite(g: &Geometry<f64>) -> bool {
    g.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite())
}

/// The envelope of all coordinates, `None` for an empty geometry.
pub(crate) fn envelope(g: &Geometry<f64>) -> Option<Bbox> {
    let mut it = g.coords_iter();
    let first = it.next()?;
    let mut b = Bbox::new(first.x, first.y, first.x, first.y);
    for c in it {
        b.min_x = b.min_x.min(c.x);
        b.min_y = b.min_y.min(c.y);
        b.max_x = b.max_x.max(c.x);
        b.max_y = b.max_y.max(c.y);
    }
    Some(b)
}

/// Rough number of heap bytes owned by a geometry.
pub(crate) fn heap_bytes(g: &Geometry<f64>) -> usize {
    let mut parts = 0usize;
    for_each_part(g, &mut |p| {
        parts += match p {
            PartRef::Point(_) => 0,
            PartRef::Line(_) => 1,
            PartRef::Polygon { interiors, .. } => 1 + interiors.len(),
        }
    });
    g.coords_count() * std::mem::size_of::<Coord<f64>>()
        + parts * std::mem::size_of::<Vec<Coord<f64>>>()
}

/// The point of segment `a`–`b` closest to `q`.
pub(crate) fn closest_on_segment(a: Coord<f64>, b: Coord<f64>, q: Coord<f64>) -> Coord<f64> {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 <= 0.0 || !len2.is_finite() {
        return a;
    }
    let t = (((q.x - a.x) * dx + (q.y - a.y) * dy) / len2).clamp(0.0, 1.0);
    Coord {
        x: a.x + t * dx,
        y: a.y + t * dy,
    }
}

/// The vertex or edge point of `g` nearest to `q` in the plane (boundaries only: the
/// caller tests containment separately). `None` for an empty geometry.
pub(crate) fn closest_boundary_point(g: &Geometry<f64>, q: Coord<f64>) -> Option<Coord<f64>> {
    let mut best: Option<(f64, Coord<f64>)> = None;
    let mut consider = |c: Coord<f64>| {
        let d2 = (c.x - q.x).powi(2) + (c.y - q.y).powi(2);
        if best.is_none_or(|(bd, _)| d2 < bd) {
            best = Some((d2, c));
        }
    };
    let path = |pts: &[Coord<f64>], consider: &mut dyn FnMut(Coord<f64>)| match pts {
        [] => {}
        [single] => consider(*single),
        _ => pts
            .windows(2)
            .for_each(|w| consider(closest_on_segment(w[0], w[1], q))),
    };
    for_each_part(g, &mut |p| match p {
        PartRef::Point(c) => consider(c),
        PartRef::Line(pts) => path(pts, &mut consider),
        PartRef::Polygon {
            exterior,
            interiors,
        } => {
            path(exterior, &mut consider);
            if let (Some(first), Some(last)) = (exterior.first(), exterior.last()) {
                consider(closest_on_segment(*last, *first, q));
            }
            for r in interiors {
                path(&r.0, &mut consider);
                if let (Some(first), Some(last)) = (r.0.first(), r.0.last()) {
                    consider(closest_on_segment(*last, *first, q));
                }
            }
        }
    });
    best.map(|(_, c)| c)
}
