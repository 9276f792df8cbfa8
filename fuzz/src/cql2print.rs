//! Prints a parsed CQL2 [`Expr`] back as CQL2 text that the parser reads to the
//! same expression (names as resolved by [`crate::FuzzResolver`]).

use citygrid_cql2::temporal::{format_date, format_instant};
use citygrid_cql2::{Bound, CmpOp, Expr, GeomOperand, Property, Scalar, SpatialOp, TemporalOperand};
use geo::{Coord, Geometry, LineString, Polygon};

/// CQL2 text for `e`.
pub fn to_text(e: &Expr) -> String {
    let mut out = String::new();
    expr(&mut out, e);
    out
}

fn is_junction(e: &Expr) -> bool {
    matches!(e, Expr::And(_) | Expr::Or(_))
}

fn child(out: &mut String, e: &Expr) {
    if is_junction(e) {
        out.push('(');
        expr(out, e);
        out.push(')');
    } else {
        expr(out, e);
    }
}

fn expr(out: &mut String, e: &Expr) {
    match e {
        Expr::And(v) | Expr::Or(v) => {
            let sep = if matches!(e, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            for (i, c) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                child(out, c);
            }
        }
        Expr::Not(x) => {
            out.push_str("NOT ");
            child(out, x);
        }
        Expr::Bool(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        Expr::Cmp(op, a, b) => {
            scalar(out, a);
            out.push_str(match op {
                CmpOp::Eq => " = ",
                CmpOp::Ne => " <> ",
                CmpOp::Lt => " < ",
                CmpOp::Le => " <= ",
                CmpOp::Gt => " > ",
                CmpOp::Ge => " >= ",
            });
            scalar(out, b);
        }
        Expr::Like {
            value,
            pattern,
            negated,
            case_insensitive,
        } => {
            scalar(out, value);
            if *negated {
                out.push_str(" NOT");
            }
            out.push_str(if *case_insensitive {
                " ILIKE "
            } else {
                " LIKE "
            });
            text(out, pattern);
        }
        Expr::Between {
            value,
            low,
            high,
            negated,
        } => {
            scalar(out, value);
            if *negated {
                out.push_str(" NOT");
            }
            out.push_str(" BETWEEN ");
            scalar(out, low);
            out.push_str(" AND ");
            scalar(out, high);
        }
        Expr::In {
            value,
            list,
            negated,
        } => {
            scalar(out, value);
            if *negated {
                out.push_str(" NOT");
            }
            out.push_str(" IN (");
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                scalar(out, s);
            }
            out.push(')');
        }
        Expr::IsNull { value, negated } => {
            scalar(out, value);
            out.push_str(if *negated { " IS NOT NULL" } else { " IS NULL" });
        }
        Expr::Spatial {
            op,
            a,
            b,
            distance_m,
        } => {
            out.push_str(match op {
                SpatialOp::Intersects => "S_INTERSECTS(",
                SpatialOp::Disjoint => "S_DISJOINT(",
                SpatialOp::Within => "S_WITHIN(",
                SpatialOp::Contains => "S_CONTAINS(",
                SpatialOp::Equals => "S_EQUALS(",
                SpatialOp::Touches => "S_TOUCHES(",
                SpatialOp::Crosses => "S_CROSSES(",
                SpatialOp::Overlaps => "S_OVERLAPS(",
                SpatialOp::DWithin => "S_DWITHIN(",
            });
            operand(out, a);
            out.push_str(", ");
            operand(out, b);
            if *op == SpatialOp::DWithin {
                out.push_str(", ");
                number(out, *distance_m);
            }
            out.push(')');
        }
        Expr::Temporal { op, a, b } => {
            out.push_str(op.name());
            out.push('(');
            temporal(out, a);
            out.push_str(", ");
            temporal(out, b);
            out.push(')');
        }
    }
}

fn temporal(out: &mut String, o: &TemporalOperand) {
    match o {
        TemporalOperand::Prop(p) => out.push_str(property(p)),
        TemporalOperand::Instant(t) => out.push_str(&format!("TIMESTAMP('{}')", format_instant(*t))),
        TemporalOperand::Date(d) => out.push_str(&format!("DATE('{}')", format_date(*d))),
        TemporalOperand::Interval(s, e) => {
            out.push_str("INTERVAL(");
            bound(out, s);
            out.push_str(", ");
            bound(out, e);
            out.push(')');
        }
    }
}

fn bound(out: &mut String, b: &Bound) {
    match b {
        Bound::Open => out.push_str("'..'"),
        Bound::Prop(p) => out.push_str(property(p)),
        Bound::Instant(t) => out.push_str(&format!("TIMESTAMP('{}')", format_instant(*t))),
        Bound::Date(d) => out.push_str(&format!("DATE('{}')", format_date(*d))),
    }
}

fn property(p: &Property) -> &'static str {
    match p {
        Property::Field { index: 0, .. } => "name",
        Property::Field { index: 1, .. } => "rank",
        Property::Field { .. } => unreachable!("FuzzResolver only knows fields 0 and 1"),
        Property::Id => "id",
        Property::Geometry => "geometry",
    }
}

fn scalar(out: &mut String, s: &Scalar) {
    match s {
        Scalar::Prop(p) => out.push_str(property(p)),
        Scalar::Text(t) => text(out, t),
        Scalar::Number(n) => number(out, *n),
        Scalar::Bool(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        Scalar::Timestamp(t) => out.push_str(&format!("TIMESTAMP('{}')", format_instant(*t))),
        Scalar::Date(d) => out.push_str(&format!("DATE('{}')", format_date(*d))),
    }
}

fn text(out: &mut String, t: &str) {
    out.push('\'');
    out.push_str(&t.replace('\'', "''"));
    out.push('\'');
}

/// Rust's `{:?}` of an `f64` is the shortest text that parses back to the same bits
/// (`1e300`, `-0.5`, `3.0`); the CQL2 tokenizer reads all of those forms.
fn number(out: &mut String, n: f64) {
    assert!(
        n.is_finite(),
        "a parsed filter holds a non-finite number {n}"
    );
    out.push_str(&format!("{n:?}"));
}

fn operand(out: &mut String, g: &GeomOperand) {
    match g {
        GeomOperand::Prop => out.push_str("geometry"),
        GeomOperand::Literal(g) => wkt(out, g),
    }
}

fn coord(out: &mut String, c: &Coord<f64>) {
    number(out, c.x);
    out.push(' ');
    number(out, c.y);
}

fn line(out: &mut String, l: &LineString<f64>) {
    out.push('(');
    for (i, c) in l.0.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        coord(out, c);
    }
    out.push(')');
}

fn polygon(out: &mut String, p: &Polygon<f64>) {
    out.push('(');
    line(out, p.exterior());
    for r in p.interiors() {
        out.push_str(", ");
        line(out, r);
    }
    out.push(')');
}

fn list<T>(out: &mut String, items: &[T], mut f: impl FnMut(&mut String, &T)) {
    out.push('(');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        f(out, x);
    }
    out.push(')');
}

/// WKT of `g` as the CQL2 parser reads it.
pub fn wkt(out: &mut String, g: &Geometry<f64>) {
    match g {
        Geometry::Point(p) => {
            out.push_str("POINT(");
            coord(out, &p.0);
            out.push(')');
        }
        Geometry::LineString(l) => {
            out.push_str("LINESTRING");
            line(out, l);
        }
        Geometry::Polygon(p) => {
            out.push_str("POLYGON");
            polygon(out, p);
        }
        Geometry::MultiPoint(m) => {
            out.push_str("MULTIPOINT");
            list(out, &m.0, |o, p| {
                o.push('(');
                coord(o, &p.0);
                o.push(')');
            });
        }
        Geometry::MultiLineString(m) => {
            out.push_str("MULTILINESTRING");
            list(out, &m.0, line);
        }
        Geometry::MultiPolygon(m) => {
            out.push_str("MULTIPOLYGON");
            list(out, &m.0, polygon);
        }
        Geometry::GeometryCollection(c) => {
            out.push_str("GEOMETRYCOLLECTION");
            list(out, &c.0, wkt);
        }
        // The parsers never produce these.
        Geometry::Line(_) | Geometry::Rect(_) | Geometry::Triangle(_) => {
            unreachable!("not produced by the CQL2 parsers")
        }
    }
}

/// True when every geometry literal of `e` can be written in CQL2 text (the text
/// grammar has no empty MULTI*/GEOMETRYCOLLECTION, which GeoJSON can express).
pub fn text_expressible(e: &Expr) -> bool {
    fn geom_ok(g: &Geometry<f64>) -> bool {
        match g {
            Geometry::MultiPoint(m) => !m.0.is_empty(),
            Geometry::MultiLineString(m) => !m.0.is_empty(),
            Geometry::MultiPolygon(m) => !m.0.is_empty(),
            Geometry::GeometryCollection(c) => !c.0.is_empty() && c.0.iter().all(geom_ok),
            _ => true,
        }
    }
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().all(text_expressible),
        Expr::Not(x) => text_expressible(x),
        Expr::Spatial { a, b, .. } => [a, b].iter().all(|o| match o {
            GeomOperand::Prop => true,
            GeomOperand::Literal(g) => geom_ok(g),
        }),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FuzzResolver;
    use citygrid_cql2::text::parse;

    #[test]
    fn round_trips_the_unit_test_filters() {
        for f in [
            "name = 'a'",
            "rank > 3 AND rank <= 5 OR NOT (name LIKE 'b%')",
            "rank NOT IN (1, 2, 3) AND (name ILIKE 'B%' OR name IS NULL)",
            "\"name\" <> 'it''s'",
            "S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))",
            "s_within(geometry, BBOX(24.9, 60.1, 25.0, 60.2))",
            "S_DWITHIN(geometry, POINT(24.9 60.1), 1.5, km)",
            "S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT(1 2), MULTIPOINT((1 2), (3 4))))",
            "TRUE = TRUE AND NOT FALSE",
            "rank = -1.5e2",
        ] {
            let e = parse(f, &FuzzResolver).unwrap();
            let t = to_text(&e);
            assert_eq!(parse(&t, &FuzzResolver).unwrap(), e, "{f} → {t}");
        }
    }
}
