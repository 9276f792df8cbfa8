//! Integer polygon clean-up after quantisation: de-duplicated rings, a quick simplicity
//! test for small single rings, a robust rebuild with `i_overlay` otherwise (removes
//! self-intersections, spikes and the degenerate border edges of Sutherland–Hodgman),
//! and MVT 2.1 winding (exterior rings have positive surveyor area in tile
//! coordinates, i.e. clockwise on screen with `y` down; holes negative).

use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay::{Overlay, ShapeType};
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::i_float::int::point::IntPoint;

use super::clip::P;

/// Rings up to this many vertices are tested for simplicity directly (O(n²)).
const QUICK_SIMPLE_MAX: usize = 24;

/// Rounds to integer tile units, removing consecutive duplicates and the closing point.
pub(crate) fn quantise_ring(ring: &[P]) -> Vec<IntPoint> {
    let mut out: Vec<IntPoint> = Vec::with_capacity(ring.len());
    for p in ring {
        let q = IntPoint::new(p[0].round() as i32, p[1].round() as i32);
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

/// Twice the surveyor's-formula area of an open ring (positive = MVT exterior).
pub(crate) fn ring_area2(r: &[IntPoint]) -> i128 {
    let n = r.len();
    (0..n)
        .map(|i| {
            let (a, b) = (r[i], r[(i + 1) % n]);
            i128::from(a.x) * i128::from(b.y) - i128::from(b.x) * i128::from(a.y)
        })
        .sum()
}

fn orient(a: IntPoint, b: IntPoint, c: IntPoint) -> i64 {
    let (abx, aby) = (
        i64::from(b.x) - i64::from(a.x),
        i64::from(b.y) - i64::from(a.y),
    );
    let (acx, acy) = (
        i64::from(c.x) - i64::from(a.x),
        i64::from(c.y) - i64::from(a.y),
    );
    abx * acy - aby * acx
}

fn on_segment(a: IntPoint, b: IntPoint, p: IntPoint) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

/// Closed-segment intersection (touching and collinear overlap included).
fn segments_touch(a: IntPoint, b: IntPoint, c: IntPoint, d: IntPoint) -> bool {
    let (d1, d2) = (orient(c, d, a), orient(c, d, b));
    let (d3, d4) = (orient(a, b, c), orient(a, b, d));
    if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
        return true;
    }
    (d1 == 0 && on_segment(c, d, a))
        || (d2 == 0 && on_segment(c, d, b))
        || (d3 == 0 && on_segment(a, b, c))
        || (d4 == 0 && on_segment(a, b, d))
}

/// True when the open ring has ≥ 3 vertices, non-zero area and no two edges meet
/// except consecutive ones at their shared vertex (no spikes).
pub(crate) fn ring_is_simple(r: &[IntPoint]) -> bool {
    let n = r.len();
    if n < 3 || ring_area2(r) == 0 {
        return false;
    }
    for i in 0..n {
        let (a, b) = (r[i], r[(i + 1) % n]);
        for j in (i + 1)..n {
            let (c, d) = (r[j], r[(j + 1) % n]);
            if j == i + 1 {
                // b == c: spike when d lies back along b→a.
                if orient(a, b, d) == 0 && on_segment(a, b, d) {
                    return false;
                }
            } else if i == 0 && j == n - 1 {
                // d == a: spike when c lies along a→b.
                if orient(a, b, c) == 0 && on_segment(a, b, c) {
                    return false;
                }
            } else if segments_touch(a, b, c, d) {
                return false;
            }
        }
    }
    true
}

/// One output polygon: exterior ring first (area > 0), then holes (area < 0); rings
/// are open (MVT closes them with ClosePath).
pub(crate) type IntPolygon = Vec<Vec<IntPoint>>;

fn oriented(mut ring: Vec<IntPoint>, positive: bool) -> Option<Vec<IntPoint>> {
    let a = ring_area2(&ring);
    if ring.len() < 3 || a == 0 {
        return None;
    }
    if (a > 0) != positive {
        ring.reverse();
    }
    Some(ring)
}

/// Turns quantised rings (all rings of all polygons of one feature; holes and
/// exteriors combined with the even-odd rule) into valid, correctly wound polygons.
pub(crate) fn clean_polygons(rings: Vec<Vec<IntPoint>>) -> Vec<IntPolygon> {
    let rings: Vec<Vec<IntPoint>> = rings.into_iter().filter(|r| r.len() >= 3).collect();
    if rings.is_empty() {
        return Vec::new();
    }
    if rings.len() == 1 && rings[0].len() <= QUICK_SIMPLE_MAX && ring_is_simple(&rings[0]) {
        return rings
            .into_iter()
            .filter_map(|r| oriented(r, true))
            .map(|r| vec![r])
            .collect();
    }
    let total: usize = rings.iter().map(Vec::len).sum();
    let mut overlay = Overlay::new(total);
    for r in &rings {
        overlay.add_contour(r, ShapeType::Subject);
    }
    let shapes = overlay.overlay(OverlayRule::Subject, FillRule::EvenOdd);
    let mut out = Vec::with_capacity(shapes.len());
    for shape in shapes {
        let mut contours = shape.into_iter();
        let Some(ext) = contours.next().and_then(|r| oriented(r, true)) else {
            continue;
        };
        let mut poly = vec![ext];
        poly.extend(contours.filter_map(|r| oriented(r, false)));
        out.push(poly);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(pts: &[(i32, i32)]) -> Vec<IntPoint> {
        pts.iter().map(|&(x, y)| IntPoint::new(x, y)).collect()
    }

    #[test]
    fn simple_rings() {
        assert!(ring_is_simple(&ring(&[(0, 0), (10, 0), (10, 10), (0, 10)])));
        // Bow-tie.
        assert!(!ring_is_simple(&ring(&[
            (0, 0),
            (10, 10),
            (10, 0),
            (0, 10)
        ])));
        // Spike.
        assert!(!ring_is_simple(&ring(&[
            (0, 0),
            (10, 0),
            (20, 0),
            (10, 0),
            (10, 10)
        ])));
        assert!(!ring_is_simple(&ring(&[(0, 0), (10, 0), (20, 0)])));
    }

    #[test]
    fn cleaning_fixes_and_orients() {
        // Bow-tie becomes two triangles, both with positive area.
        let out = clean_polygons(vec![ring(&[(0, 0), (10, 10), (10, 0), (0, 10)])]);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|p| ring_area2(&p[0]) > 0 && ring_is_simple(&p[0])));
        // Square with a hole, hole given with the same winding as the exterior.
        let out = clean_polygons(vec![
            ring(&[(0, 0), (0, 10), (10, 10), (10, 0)]),
            ring(&[(2, 2), (2, 4), (4, 4), (4, 2)]),
        ]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 2);
        assert!(ring_area2(&out[0][0]) > 0 && ring_area2(&out[0][1]) < 0);
        assert_eq!(
            ring_area2(&out[0][0]) + ring_area2(&out[0][1]),
            2 * (100 - 4)
        );
        // Degenerate.
        assert!(clean_polygons(vec![ring(&[(0, 0), (5, 5), (10, 10)])]).is_empty());
        assert!(clean_polygons(vec![]).is_empty());
    }
}
