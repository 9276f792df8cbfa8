//! The pure rules of an edit (no I/O): JSON merge patch, the attribute check
//! against a layer's fields, the geometry's fit to the layer's geometry type, the
//! `If-Match` comparison.

use geo::{Geometry, MultiLineString, MultiPoint, MultiPolygon};
use serde_json::{Map, Value};

/// RFC 7396 JSON merge patch: `patch` applied to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The kind of value a field's SQL type takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Number,
    Bool,
    Text,
    /// date, timestamptz…: text PostgreSQL parses.
    Temporal,
    Json,
}

fn kind(sql_type: &str) -> Kind {
    match sql_type {
        "smallint" | "integer" | "bigint" | "int" | "int2" | "int4" | "int8" => Kind::Int,
        "double precision" | "real" | "numeric" | "float4" | "float8" => Kind::Number,
        "boolean" | "bool" => Kind::Bool,
        "date" | "timestamptz" | "timestamp with time zone" | "timestamp" | "time" => {
            Kind::Temporal
        }
        "jsonb" | "json" => Kind::Json,
        _ => Kind::Text,
    }
}

fn short(v: &Value) -> String {
    v.to_string().chars().take(60).collect()
}

/// Checks `properties` against the layer's `(field, SQL type)` list: every key a
/// field, every value of the field's type (or null). Returns the attribute object
/// to write (a JSON text given for a JSON field is read as JSON).
pub fn check_attributes(
    properties: Option<&Value>,
    fields: &[(&str, &str)],
) -> Result<Map<String, Value>, String> {
    let empty = Map::new();
    let props = match properties {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(format!(
                "properties must be an object, not {}",
                short(other)
            ))
        }
    };
    let mut out = Map::new();
    for (name, value) in props {
        let Some((_, ty)) = fields.iter().find(|(f, _)| f == name) else {
            let names: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
            return Err(format!(
                "unknown property {:?}: the layer's fields are {}",
                name.chars().take(60).collect::<String>(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        };
        let wrong = |what: &str| {
            Err(format!(
                "property {name:?} is {ty} ({what}); {} is not",
                short(value)
            ))
        };
        let v = match (kind(ty), value) {
            (_, Value::Null) => Value::Null,
            (Kind::Int, Value::Number(n)) if n.as_i64().is_some() => value.clone(),
            (Kind::Int, Value::Number(n))
                if n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) =>
            {
                Value::from(n.as_f64().unwrap_or_default() as i64)
            }
            (Kind::Int, _) => return wrong("an integer"),
            (Kind::Number, Value::Number(_)) => value.clone(),
            (Kind::Number, _) => return wrong("a number"),
            (Kind::Bool, Value::Bool(_)) => value.clone(),
            (Kind::Bool, _) => return wrong("true or false"),
            (Kind::Text, Value::String(_)) => value.clone(),
            (Kind::Text, _) => return wrong("a string"),
            (Kind::Temporal, Value::String(_)) => value.clone(),
            (Kind::Temporal, _) => return wrong("a date or time as text"),
            (Kind::Json, Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(j @ (Value::Object(_) | Value::Array(_))) => j,
                _ => value.clone(),
            },
            (Kind::Json, _) => value.clone(),
        };
        out.insert(name.clone(), v);
    }
    Ok(out)
}

/// The GeoJSON name of a geometry's type.
pub fn type_name(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::LineString(_) | Geometry::Line(_) => "LineString",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "Polygon",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
    }
}

/// Fits `g` to a layer of `layer_type` (`Point`, …, `Geometry`; `None`: any): the
/// same type, a single part given to a multi layer (made a multi of one part), or a
/// multi of one part given to a single layer (made that part).
pub fn fit_geometry(g: Geometry<f64>, layer_type: Option<&str>) -> Result<Geometry<f64>, String> {
    let given = type_name(&g);
    let wanted = match layer_type {
        None | Some("Geometry" | "GEOMETRY" | "GeometryCollection") => return Ok(g),
        Some(t) => t,
    };
    if given.eq_ignore_ascii_case(wanted) {
        return Ok(g);
    }
    let fitted = match (wanted.to_ascii_lowercase().as_str(), g) {
        ("multipoint", Geometry::Point(p)) => Some(Geometry::MultiPoint(MultiPoint(vec![p]))),
        ("multilinestring", Geometry::LineString(l)) => {
            Some(Geometry::MultiLineString(MultiLineString(vec![l])))
        }
        ("multipolygon", Geometry::Polygon(p)) => {
            Some(Geometry::MultiPolygon(MultiPolygon(vec![p])))
        }
        // A multi of one part (as a repair may give) for a single layer.
        ("point", Geometry::MultiPoint(mut m)) if m.0.len() == 1 => m.0.pop().map(Geometry::Point),
        ("linestring", Geometry::MultiLineString(mut m)) if m.0.len() == 1 => {
            m.0.pop().map(Geometry::LineString)
        }
        ("polygon", Geometry::MultiPolygon(mut m)) if m.0.len() == 1 => {
            m.0.pop().map(Geometry::Polygon)
        }
        _ => None,
    };
    fitted.ok_or_else(|| format!("the layer holds {wanted} geometries; a {given} does not fit"))
}

/// Whether an `If-Match` header value matches the current `etag` (strong
/// comparison: a weak tag never matches; `*` matches any current feature).
pub fn if_match(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, point, polygon};
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": [1, 2]});
        merge_patch(&mut doc, &json!({"a": [3], "n": null}));
        assert_eq!(doc, json!({"a": [3]}));
    }

    #[test]
    fn attributes_are_checked_against_the_fields() {
        let fields = [
            ("name", "text"),
            ("rank", "bigint"),
            ("width", "double precision"),
            ("open", "boolean"),
            ("since", "date"),
            ("tags", "jsonb"),
        ];
        let ok = check_attributes(
            Some(&json!({"name": "A", "rank": 3.0, "width": 2.5, "open": true, "since": "2026-01-02", "tags": "{\"a\":1}"})),
            &fields,
        )
        .unwrap();
        assert_eq!(ok["rank"], json!(3));
        assert_eq!(ok["tags"], json!({"a": 1}));
        let e = check_attributes(Some(&json!({"colour": "red"})), &fields).unwrap_err();
        assert!(
            e.contains("colour") && e.contains("name, rank, width"),
            "{e}"
        );
        for bad in [
            json!({"rank": "three"}),
            json!({"rank": 2.5}),
            json!({"width": "wide"}),
            json!({"open": 1}),
            json!({"name": 5}),
            json!({"since": 20260102}),
        ] {
            assert!(check_attributes(Some(&bad), &fields).is_err(), "{bad}");
        }
        assert!(check_attributes(Some(&json!([1])), &fields).is_err());
        assert!(check_attributes(None, &fields).unwrap().is_empty());
    }

    #[test]
    fn geometries_fit_their_layer() {
        let p = Geometry::Point(point!(x: 1.0, y: 2.0));
        assert!(fit_geometry(p.clone(), Some("Point")).is_ok());
        assert!(matches!(
            fit_geometry(p.clone(), Some("MultiPoint")),
            Ok(Geometry::MultiPoint(_))
        ));
        assert!(fit_geometry(p.clone(), Some("Geometry")).is_ok());
        let e = fit_geometry(p, Some("Polygon")).unwrap_err();
        assert!(e.contains("Polygon") && e.contains("Point"), "{e}");
        let l = Geometry::LineString(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)]);
        assert!(fit_geometry(l, Some("MultiLineString")).is_ok());
        let poly =
            Geometry::Polygon(polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)]);
        assert!(fit_geometry(poly.clone(), Some("LineString")).is_err());
        let Geometry::Polygon(inner) = poly else {
            unreachable!()
        };
        let one = Geometry::MultiPolygon(MultiPolygon(vec![inner.clone()]));
        assert!(matches!(
            fit_geometry(one, Some("Polygon")),
            Ok(Geometry::Polygon(_))
        ));
        let two = Geometry::MultiPolygon(MultiPolygon(vec![inner.clone(), inner]));
        assert!(fit_geometry(two, Some("Polygon")).is_err());
    }

    #[test]
    fn if_match_is_a_strong_comparison() {
        assert!(if_match("\"abc\"", "\"abc\""));
        assert!(if_match("\"x\", \"abc\"", "\"abc\""));
        assert!(if_match("*", "\"abc\""));
        assert!(!if_match("W/\"abc\"", "\"abc\""));
        assert!(!if_match("\"abd\"", "\"abc\""));
    }
}
