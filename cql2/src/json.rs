//! CQL2-JSON (`filter-lang=cql2-json`): the same filters as [`crate::text`] in
//! their JSON encoding, turned into the same [`Expr`]. Errors name the JSON
//! pointer of the offending node (e.g. `/args/1`).
//!
//! ```
//! use citygrid_cql2::text::{Property, Resolver};
//! use citygrid_cql2::json::parse;
//! struct R;
//! impl Resolver for R {
//!     fn resolve(&self, name: &str) -> Option<Property> {
//!         (name == "rank").then_some(Property::Field { index: 0, numeric: true })
//!     }
//! }
//! let f = serde_json::json!({"op": ">", "args": [{"property": "rank"}, 3]});
//! assert!(parse(&f.to_string(), &R).is_ok());
//! let bad = serde_json::json!({"op": "or", "args": [true, {"op": "=", "args": [{"property": "x"}, 1]}]});
//! assert!(parse(&bad.to_string(), &R).unwrap_err().to_string().contains("/args/1/args/0"));
//! ```

use geo::{Geometry, LineString, Polygon};
use serde_json::Value;

use crate::geojson::read_geometry;
use crate::like::LikePattern;
use crate::temporal::TemporalOp;
use crate::text::{
    comparable, CmpOp, Expr, GeomOperand, Property, Resolver, Scalar, SpatialOp, LIKE_NEEDS_TEXT,
    MAX_DEPTH, MAX_FILTER_BYTES, MAX_IN_ITEMS, MAX_VERTICES, NOT_COMPARABLE,
};
use crate::text::{Bound, TemporalOperand};

/// A CQL2-JSON error with the JSON pointer where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid cql2-json filter at {pointer}: {message}")]
pub struct Cql2JsonError {
    /// JSON pointer of the node.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

fn err<T>(pointer: &str, message: impl Into<String>) -> Result<T, Cql2JsonError> {
    Err(Cql2JsonError {
        pointer: if pointer.is_empty() {
            "/".into()
        } else {
            pointer.into()
        },
        message: message.into(),
    })
}

/// Parses a CQL2-JSON filter.
pub fn parse(text: &str, resolver: &dyn Resolver) -> Result<Expr, Cql2JsonError> {
    if text.len() > MAX_FILTER_BYTES {
        return err("", crate::text::too_long(text.len()));
    }
    // serde_json itself refuses nesting deeper than 128.
    let v: Value = serde_json::from_str(text).map_err(|e| Cql2JsonError {
        pointer: "/".into(),
        message: format!("not JSON: {e}"),
    })?;
    boolean(&v, "", 0, resolver)
}

fn args<'a>(v: &'a Value, at: &str) -> Result<&'a Vec<Value>, Cql2JsonError> {
    match v.get("args") {
        Some(Value::Array(a)) => Ok(a),
        _ => err(at, "expected \"args\": [...]"),
    }
}

fn boolean(v: &Value, at: &str, depth: usize, r: &dyn Resolver) -> Result<Expr, Cql2JsonError> {
    if depth > MAX_DEPTH {
        return err(at, format!("nested more than {MAX_DEPTH} levels deep"));
    }
    if let Value::Bool(b) = v {
        return Ok(Expr::Bool(*b));
    }
    let op = match v.get("op").and_then(Value::as_str) {
        Some(op) => op.to_ascii_lowercase(),
        None => return err(at, "expected {\"op\": ..., \"args\": [...]} or true/false"),
    };
    let a = args(v, at)?;
    let arg = |i: usize| format!("{at}/args/{i}");
    let count = |n: usize| -> Result<(), Cql2JsonError> {
        if a.len() == n {
            Ok(())
        } else {
            err(at, format!("{op} takes {n} arguments"))
        }
    };
    let cmp = match op.as_str() {
        "=" => Some(CmpOp::Eq),
        "<>" => Some(CmpOp::Ne),
        "<" => Some(CmpOp::Lt),
        "<=" => Some(CmpOp::Le),
        ">" => Some(CmpOp::Gt),
        ">=" => Some(CmpOp::Ge),
        _ => None,
    };
    if let Some(c) = cmp {
        count(2)?;
        let (left, right) = (scalar(&a[0], &arg(0), r)?, scalar(&a[1], &arg(1), r)?);
        if !comparable(&left, &right) {
            return err(at, NOT_COMPARABLE);
        }
        return Ok(Expr::Cmp(c, left, right));
    }
    Ok(match op.as_str() {
        "and" | "or" => {
            if a.len() < 2 {
                return err(at, format!("{op} takes at least 2 arguments"));
            }
            let items = a
                .iter()
                .enumerate()
                .map(|(i, x)| boolean(x, &arg(i), depth + 1, r))
                .collect::<Result<Vec<_>, _>>()?;
            if op == "and" {
                Expr::And(items)
            } else {
                Expr::Or(items)
            }
        }
        "not" => {
            count(1)?;
            Expr::Not(Box::new(boolean(&a[0], &arg(0), depth + 1, r)?))
        }
        "like" => {
            count(2)?;
            let pattern = match &a[1] {
                Value::String(s) => LikePattern::new(s).or_else(|e| err(&arg(1), e.to_string()))?,
                _ => return err(&arg(1), "LIKE needs a text pattern"),
            };
            let value = scalar(&a[0], &arg(0), r)?;
            if matches!(value, Scalar::Prop(Property::Field { numeric: true, .. })) {
                return err(&arg(0), LIKE_NEEDS_TEXT);
            }
            Expr::Like {
                value,
                pattern,
                negated: false,
                case_insensitive: false,
            }
        }
        "between" => {
            count(3)?;
            let value = scalar(&a[0], &arg(0), r)?;
            let low = scalar(&a[1], &arg(1), r)?;
            let high = scalar(&a[2], &arg(2), r)?;
            if !comparable(&value, &low) || !comparable(&value, &high) {
                return err(at, NOT_COMPARABLE);
            }
            Expr::Between {
                value,
                low,
                high,
                negated: false,
            }
        }
        "in" => {
            count(2)?;
            let list = match &a[1] {
                Value::Array(items) if !items.is_empty() && items.len() <= MAX_IN_ITEMS => items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| scalar(x, &format!("{}/{i}", arg(1)), r))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return err(
                        &arg(1),
                        format!("IN needs a list of 1 to {MAX_IN_ITEMS} values"),
                    )
                }
            };
            let value = scalar(&a[0], &arg(0), r)?;
            if list.iter().any(|item| !comparable(&value, item)) {
                return err(at, NOT_COMPARABLE);
            }
            Expr::In {
                value,
                list,
                negated: false,
            }
        }
        "isnull" => {
            count(1)?;
            Expr::IsNull {
                value: scalar(&a[0], &arg(0), r)?,
                negated: false,
            }
        }
        s if s.starts_with("t_") => {
            let Some(top) = TemporalOp::from_name(s) else {
                return err(at, format!("unknown temporal operator {s:?}"));
            };
            count(2)?;
            Expr::Temporal {
                op: top,
                a: temporal_operand(&a[0], &arg(0), r)?,
                b: temporal_operand(&a[1], &arg(1), r)?,
            }
        }
        s if s.starts_with("s_") => {
            let sop = match s {
                "s_intersects" => SpatialOp::Intersects,
                "s_disjoint" => SpatialOp::Disjoint,
                "s_within" => SpatialOp::Within,
                "s_contains" => SpatialOp::Contains,
                "s_equals" => SpatialOp::Equals,
                "s_touches" => SpatialOp::Touches,
                "s_crosses" => SpatialOp::Crosses,
                "s_overlaps" => SpatialOp::Overlaps,
                "s_dwithin" => SpatialOp::DWithin,
                _ => return err(at, format!("unknown spatial operator {s:?}")),
            };
            let mut distance_m = 0.0;
            if sop == SpatialOp::DWithin {
                count(3)?;
                distance_m = match a[2].as_f64() {
                    Some(d) if d >= 0.0 && d.is_finite() => d,
                    _ => return err(&arg(2), "S_DWITHIN needs a distance in metres"),
                };
            } else {
                count(2)?;
            }
            Expr::Spatial {
                op: sop,
                a: geometry(&a[0], &arg(0), r)?,
                b: geometry(&a[1], &arg(1), r)?,
                distance_m,
            }
        }
        _ => {
            return err(
                at,
                format!(
                    "unknown operator {:?}",
                    op.chars().take(40).collect::<String>()
                ),
            )
        }
    })
}

fn property(name: &str, at: &str, r: &dyn Resolver) -> Result<Property, Cql2JsonError> {
    r.resolve(name).ok_or_else(|| Cql2JsonError {
        pointer: at.into(),
        message: format!(
            "{:?} is not a queryable property of this collection (see its /queryables)",
            name.chars().take(60).collect::<String>()
        ),
    })
}

fn scalar(v: &Value, at: &str, r: &dyn Resolver) -> Result<Scalar, Cql2JsonError> {
    match v {
        Value::String(s) => Ok(Scalar::Text(s.clone())),
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Scalar::Number(f)),
            _ => err(at, "numbers must be finite"),
        },
        Value::Object(o) => {
            if let Some(Value::String(name)) = o.get("property") {
                return match property(name, at, r)? {
                    Property::Geometry => err(at, "the geometry only goes into spatial operators"),
                    p => Ok(Scalar::Prop(p)),
                };
            }
            if let Some(t) = time_scalar(o, at)? {
                return Ok(t);
            }
            err(
                at,
                "expected {\"property\": name}, a literal, {\"date\": …} or {\"timestamp\": …}",
            )
        }
        _ => err(at, "expected a property or a literal"),
    }
}

/// `{"date": "…"}` or `{"timestamp": "…"}` as a scalar; `None` for other objects.
fn time_scalar(
    o: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<Option<Scalar>, Cql2JsonError> {
    for (k, func) in [("date", "DATE"), ("timestamp", "TIMESTAMP")] {
        if let Some(v) = o.get(k) {
            let Value::String(s) = v else {
                return err(at, format!("{{\"{k}\": …}} needs a string"));
            };
            return crate::text::time_literal(func, s, 0)
                .map(Some)
                .or_else(|e| err(at, e.message));
        }
    }
    Ok(None)
}

/// An operand of a temporal operator: a property, a date, a timestamp or
/// `{"interval": [start, end]}` (each end a date/timestamp string, `".."`, a
/// property or a date/timestamp object).
fn temporal_operand(
    v: &Value,
    at: &str,
    r: &dyn Resolver,
) -> Result<TemporalOperand, Cql2JsonError> {
    if let Some(Value::Array(ends)) = v.get("interval") {
        if ends.len() != 2 {
            return err(at, "an interval has a start and an end");
        }
        let start = interval_end(&ends[0], &format!("{at}/interval/0"), r)?;
        let end = interval_end(&ends[1], &format!("{at}/interval/1"), r)?;
        return Ok(TemporalOperand::Interval(start, end));
    }
    match interval_end(v, at, r)? {
        Bound::Open => err(at, "\"..\" only goes inside an interval"),
        Bound::Prop(p) => Ok(TemporalOperand::Prop(p)),
        Bound::Instant(t) => Ok(TemporalOperand::Instant(t)),
        Bound::Date(d) => Ok(TemporalOperand::Date(d)),
    }
}

fn interval_end(v: &Value, at: &str, r: &dyn Resolver) -> Result<Bound, Cql2JsonError> {
    match v {
        Value::String(s) if s == ".." => Ok(Bound::Open),
        Value::String(s) => {
            if let Some(d) = crate::temporal::parse_date(s) {
                Ok(Bound::Date(d))
            } else if let Some(t) = crate::temporal::parse_timestamp(s) {
                Ok(Bound::Instant(t))
            } else {
                err(
                    at,
                    format!("{s:?} is not a date (YYYY-MM-DD), a timestamp (RFC 3339) or \"..\""),
                )
            }
        }
        Value::Object(o) => {
            if let Some(Value::String(name)) = o.get("property") {
                return match property(name, at, r)? {
                    Property::Geometry => err(at, "the geometry is not a time"),
                    Property::Field { numeric: true, .. } => {
                        err(at, "a number is not a date or a timestamp")
                    }
                    p => Ok(Bound::Prop(p)),
                };
            }
            match time_scalar(o, at)? {
                Some(Scalar::Date(d)) => Ok(Bound::Date(d)),
                Some(Scalar::Timestamp(t)) => Ok(Bound::Instant(t)),
                _ => err(
                    at,
                    "expected a property, a date, a timestamp or an interval",
                ),
            }
        }
        _ => err(
            at,
            "expected a property, a date, a timestamp or an interval",
        ),
    }
}

fn geometry(v: &Value, at: &str, r: &dyn Resolver) -> Result<GeomOperand, Cql2JsonError> {
    if let Some(Value::String(name)) = v.get("property") {
        return match property(name, at, r)? {
            Property::Geometry => Ok(GeomOperand::Prop),
            _ => err(at, "not a geometry property"),
        };
    }
    if let Some(b) = v.get("bbox") {
        let n: Vec<f64> = b
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let (x0, y0, x1, y1) = match n.as_slice() {
            [a, b, c, d] => (*a, *b, *c, *d),
            [a, b, _, c, d, _] => (*a, *b, *c, *d),
            _ => return err(at, "bbox needs 4 (or 6) numbers"),
        };
        if ![x0, y0, x1, y1].iter().all(|v| v.is_finite()) || x0 > x1 || y0 > y1 {
            return err(
                at,
                "bbox needs finite minx, miny, maxx, maxy with min <= max",
            );
        }
        return Ok(GeomOperand::Literal(Geometry::Polygon(Polygon::new(
            LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
            vec![],
        ))));
    }
    read_geometry(v, MAX_VERTICES)
        .map(GeomOperand::Literal)
        .map_err(|e| Cql2JsonError {
            pointer: at.into(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R;
    impl Resolver for R {
        fn resolve(&self, name: &str) -> Option<Property> {
            match name {
                "name" => Some(Property::Field {
                    index: 0,
                    numeric: false,
                }),
                "rank" => Some(Property::Field {
                    index: 1,
                    numeric: true,
                }),
                _ => None,
            }
        }
    }

    /// CQL2 JSON refuses what CQL2 text refuses: a number compared with text (in
    /// =, BETWEEN and IN) and LIKE on a number.
    #[test]
    fn types_are_checked_as_in_cql2_text() {
        let refused = [
            r#"{"op":"=","args":[{"property":"rank"},"x"]}"#,
            r#"{"op":"<","args":[{"property":"name"},3]}"#,
            r#"{"op":"between","args":[{"property":"rank"},1,"9"]}"#,
            r#"{"op":"in","args":[{"property":"rank"},[1,"two"]]}"#,
            r#"{"op":"like","args":[{"property":"rank"},"1%"]}"#,
        ];
        for f in refused {
            let e = parse(f, &R).unwrap_err();
            assert!(e.message.contains("number"), "{f}: {}", e.message);
        }
        for f in [
            r#"{"op":"=","args":[{"property":"rank"},3]}"#,
            r#"{"op":"between","args":[{"property":"rank"},1,9]}"#,
            r#"{"op":"in","args":[{"property":"name"},["a","b"]]}"#,
            r#"{"op":"like","args":[{"property":"name"},"a%"]}"#,
        ] {
            assert!(parse(f, &R).is_ok(), "{f}");
        }
    }

    /// The size limits of CQL2 text hold for CQL2 JSON too.
    #[test]
    fn filter_and_pattern_sizes_are_bounded() {
        let pattern = |n: usize| {
            format!(
                r#"{{"op":"like","args":[{{"property":"name"}},"{}"]}}"#,
                "%".repeat(n)
            )
        };
        assert!(parse(&pattern(256), &R).is_ok());
        let e = parse(&pattern(257), &R).unwrap_err();
        assert_eq!(e.pointer, "/args/1");
        assert!(
            e.message.contains("at most 256 characters"),
            "{}",
            e.message
        );
        let long = format!(
            r#"{{"op":"=","args":[{{"property":"name"}},"{}"]}}"#,
            "x".repeat(MAX_FILTER_BYTES)
        );
        assert!(parse(&long, &R)
            .unwrap_err()
            .message
            .contains("at most 8192 bytes"));
    }

    /// Found by the `cql2_json` fuzz target (fuzz/regressions/cql2_json/): an empty
    /// IN list was accepted although CQL2 text (and the CQL2 grammar) needs at least
    /// one item.
    #[test]
    fn fuzz_regression_empty_in_list() {
        let e = parse(r#"{"op":"in","args":[{"property":"name"},[]]}"#, &R).unwrap_err();
        assert_eq!(e.pointer, "/args/1");
        assert!(parse(r#"{"op":"in","args":[{"property":"name"},["a"]]}"#, &R).is_ok());
    }
}
