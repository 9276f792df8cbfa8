//! Evaluating a parsed CQL2 [`Expr`] against an in-memory [`Feature`], with SQL's
//! three-valued logic: a comparison with a missing value is *unknown*, `NOT
//! unknown` is unknown, and only features for which the filter is *true* match.
//! Spatial predicates are planar in lon/lat (as PostGIS on `geometry(…, 4326)`),
//! `S_DWITHIN` is in ground metres.

use std::cmp::Ordering;

use citygrid_tiles::index::Feature;
use citygrid_tiles::schema::PropValue;
use geo::{BoundingRect, Coord, Geometry, Intersects, Rect, Relate};

use super::cql2::{CmpOp, Expr, GeomOperand, Property, Scalar, SpatialOp};
use super::measure::ground_distance_m;

/// Whether `f` satisfies `expr`.
pub fn matches(expr: &Expr, f: &Feature) -> bool {
    eval(expr, f) == Some(true)
}

/// A value seen by the evaluator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Missing.
    Null,
    /// Text.
    Text(&'a str),
    /// Integer.
    Int(i64),
    /// Float.
    Num(f64),
    /// Boolean.
    Bool(bool),
}

/// The value of property `p` of `f`.
pub fn prop<'a>(f: &'a Feature, p: Property) -> Value<'a> {
    match p {
        Property::Id => Value::Int(f.id),
        Property::Geometry => Value::Null,
        Property::Field { index, .. } => match f.props.get(index) {
            Some(PropValue::String(s)) => Value::Text(s),
            Some(PropValue::Int(i)) => Value::Int(*i),
            Some(PropValue::Double(d)) => Value::Num(*d),
            Some(PropValue::Bool(b)) => Value::Bool(*b),
            Some(PropValue::Null) | None => Value::Null,
        },
    }
}

fn scalar<'a>(s: &'a Scalar, f: &'a Feature) -> Value<'a> {
    match s {
        Scalar::Prop(p) => prop(f, *p),
        Scalar::Text(t) => Value::Text(t),
        Scalar::Number(n) => Value::Num(*n),
        Scalar::Bool(b) => Value::Bool(*b),
    }
}

/// Compares two values; `None` when either is missing or the types differ.
pub fn compare(a: Value<'_>, b: Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(&y)),
        (Value::Int(x), Value::Num(y)) => (x as f64).partial_cmp(&y),
        (Value::Num(x), Value::Int(y)) => x.partial_cmp(&(y as f64)),
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(&y),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

fn eval(expr: &Expr, f: &Feature) -> Option<bool> {
    match expr {
        Expr::Bool(b) => Some(*b),
        Expr::And(items) => {
            let mut unknown = false;
            // Attribute tests first, exact geometry tests last: the result of a
            // three-valued AND does not depend on the order, the cost does.
            for spatial_pass in [false, true] {
                for e in items.iter().filter(|e| is_spatial(e) == spatial_pass) {
                    match eval(e, f) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
            }
            if unknown {
                None
            } else {
                Some(true)
            }
        }
        Expr::Or(items) => {
            let mut unknown = false;
            for spatial_pass in [false, true] {
                for e in items.iter().filter(|e| is_spatial(e) == spatial_pass) {
                    match eval(e, f) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
            }
            if unknown {
                None
            } else {
                Some(false)
            }
        }
        Expr::Not(e) => eval(e, f).map(|b| !b),
        Expr::Cmp(op, a, b) => {
            let o = compare(scalar(a, f), scalar(b, f))?;
            Some(match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            })
        }
        Expr::Like {
            value,
            pattern,
            negated,
            case_insensitive,
        } => {
            let Value::Text(s) = scalar(value, f) else {
                return None;
            };
            let hit = if *case_insensitive {
                like(&s.to_lowercase(), pattern)
            } else {
                like(s, pattern)
            };
            Some(hit != *negated)
        }
        Expr::Between {
            value,
            low,
            high,
            negated,
        } => {
            let v = scalar(value, f);
            let lo = compare(v, scalar(low, f))?;
            let hi = compare(v, scalar(high, f))?;
            Some((lo != Ordering::Less && hi != Ordering::Greater) != *negated)
        }
        Expr::In {
            value,
            list,
            negated,
        } => {
            let v = scalar(value, f);
            if v == Value::Null {
                return None;
            }
            let mut unknown = false;
            for item in list {
                match compare(v, scalar(item, f)) {
                    Some(Ordering::Equal) => return Some(!*negated),
                    None => unknown = true,
                    _ => {}
                }
            }
            if unknown {
                None
            } else {
                Some(*negated)
            }
        }
        Expr::IsNull { value, negated } => Some((scalar(value, f) == Value::Null) != *negated),
        Expr::Spatial {
            op,
            a,
            b,
            distance_m,
        } => {
            let ga = geom(a, f);
            let gb = geom(b, f);
            Some(spatial(*op, ga, gb, *distance_m))
        }
    }
}

/// Whether an expression is a geometry test (costly) rather than an attribute one.
fn is_spatial(e: &Expr) -> bool {
    match e {
        Expr::Spatial { .. } => true,
        Expr::And(v) | Expr::Or(v) => v.iter().any(is_spatial),
        Expr::Not(e) => is_spatial(e),
        _ => false,
    }
}

/// The rectangle of an axis-aligned box polygon (as a `bbox` parameter or a CQL2
/// `BBOX(…)` becomes), so that intersection with it can often be decided from
/// the other geometry's envelope alone.
fn as_rect(g: &Geometry<f64>) -> Option<Rect<f64>> {
    let Geometry::Polygon(p) = g else {
        return None;
    };
    let c = &p.exterior().0;
    if !p.interiors().is_empty() || c.len() != 5 || c[0] != c[4] {
        return None;
    }
    let r = Rect::new(c[0], c[2]);
    let on_corner = |q: &Coord<f64>| {
        (q.x == r.min().x || q.x == r.max().x) && (q.y == r.min().y || q.y == r.max().y)
    };
    // Four distinct corners joined by axis-parallel edges: the whole rectangle.
    let axis_aligned = c.windows(2).all(|w| w[0].x == w[1].x || w[0].y == w[1].y);
    let distinct = (0..4).all(|i| (i + 1..4).all(|j| c[i] != c[j]));
    let solid = r.width() > 0.0 && r.height() > 0.0;
    (solid && distinct && axis_aligned && c.iter().all(on_corner)).then_some(r)
}

/// `a.intersects(b)`, decided from envelopes when one side is a box.
fn intersects(a: &Geometry<f64>, b: &Geometry<f64>) -> bool {
    let boxed = match (as_rect(b), as_rect(a)) {
        (Some(r), _) => Some((r, a)),
        (None, Some(r)) => Some((r, b)),
        (None, None) => None,
    };
    if let Some((r, other)) = boxed {
        let Some(e) = other.bounding_rect() else {
            return false;
        };
        let (lo, hi) = (r.min(), r.max());
        if e.max().x < lo.x || e.min().x > hi.x || e.max().y < lo.y || e.min().y > hi.y {
            return false;
        }
        if e.min().x >= lo.x && e.max().x <= hi.x && e.min().y >= lo.y && e.max().y <= hi.y {
            return true;
        }
    }
    a.intersects(b)
}

fn geom<'a>(g: &'a GeomOperand, f: &'a Feature) -> &'a Geometry<f64> {
    match g {
        GeomOperand::Prop => &f.geom_lonlat,
        GeomOperand::Literal(l) => l,
    }
}

/// Whether `a op b` holds (planar in lon/lat; `S_DWITHIN` in ground metres).
pub fn spatial(op: SpatialOp, a: &Geometry<f64>, b: &Geometry<f64>, distance_m: f64) -> bool {
    match op {
        SpatialOp::Intersects => intersects(a, b),
        SpatialOp::Disjoint => !intersects(a, b),
        SpatialOp::DWithin => ground_distance_m(a, b) <= distance_m,
        _ => {
            if !a.intersects(b) {
                // Every remaining relation needs the two to meet.
                return false;
            }
            let m = a.relate(b);
            match op {
                SpatialOp::Within => m.is_within(),
                SpatialOp::Contains => m.is_contains(),
                SpatialOp::Equals => m.is_equal_topo(),
                SpatialOp::Touches => m.is_touches(),
                SpatialOp::Crosses => m.is_crosses(),
                SpatialOp::Overlaps => m.is_overlaps(),
                _ => false,
            }
        }
    }
}

/// SQL `LIKE`: `%` any run, `_` one character, `\` escapes the next one.
/// Linear-space dynamic programming: no exponential backtracking.
pub fn like(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Lit(char),
    }
    let mut pat = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Lit(chars.next().unwrap_or('\\')),
            c => P::Lit(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // row[j]: pattern[..i] matches text[..j]
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for p in &pat {
        let mut next = vec![false; text.len() + 1];
        match p {
            P::Any => {
                let mut seen = false;
                for j in 0..=text.len() {
                    seen |= row[j];
                    next[j] = seen;
                }
            }
            P::One => {
                next[1..].copy_from_slice(&row[..text.len()]);
            }
            P::Lit(c) => {
                for j in 1..=text.len() {
                    next[j] = row[j - 1] && text[j - 1] == *c;
                }
            }
        }
        row = next;
    }
    row[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_intersection_matches_the_exact_test() {
        use geo::{line_string, point, polygon};
        let bx = Geometry::Polygon(polygon![
            (x: 0.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)
        ]);
        assert!(as_rect(&bx).is_some());
        let tilted = Geometry::Polygon(polygon![
            (x: 0.0, y: 0.0), (x: 2.0, y: 0.5), (x: 2.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)
        ]);
        assert!(as_rect(&tilted).is_none());
        let others = [
            Geometry::Point(point!(x: 1.0, y: 0.5)),
            Geometry::Point(point!(x: 2.0, y: 1.0)),
            Geometry::Point(point!(x: 3.0, y: 0.5)),
            Geometry::LineString(line_string![(x: -1.0, y: 2.0), (x: 3.0, y: -2.0)]),
            Geometry::LineString(line_string![(x: -1.0, y: 2.0), (x: -0.5, y: -2.0)]),
            // Envelope overlaps the box, the shape does not.
            Geometry::LineString(
                line_string![(x: 2.5, y: 0.5), (x: 3.0, y: 1.5), (x: 1.9, y: 1.5)],
            ),
            tilted.clone(),
        ];
        for g in &others {
            assert_eq!(intersects(&bx, g), bx.intersects(g), "{g:?}");
            assert_eq!(intersects(g, &bx), g.intersects(&bx), "{g:?}");
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like("building", "b%"));
        assert!(like("building", "%ild%"));
        assert!(like("b1", "b_"));
        assert!(!like("b12", "b_"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("", "%"));
        assert!(!like("abc", "ABC"));
        let long = "a".repeat(5000);
        assert!(!like(&long, &format!("{}b", "%a".repeat(50))));
    }
}
