//! GeoJSON in and out: a bounded reader of request geometries and a fast writer of
//! features straight into a string (shared by the OGC API and the spatial queries).
//!
//! ```
//! use citygrid_spatial_api::geojson::{read_geometry, write_geometry};
//! let v = serde_json::json!({"type": "Point", "coordinates": [24.9, 60.2]});
//! let g = read_geometry(&v, 10).unwrap();
//! let mut out = String::new();
//! write_geometry(&mut out, &g, false);
//! assert_eq!(out, r#"{"type":"Point","coordinates":[24.9,60.2]}"#);
//! ```

use std::fmt::Write;

use citygrid_tiles::index::FeatureRef;
use citygrid_tiles::schema::{PropRef, Schema};
use geo::{Coord, Geometry, Polygon};

use citygrid_geo::crs::{Crs, CrsError};

/// The bounded reader of GeoJSON geometries lives with the CQL2-JSON parser, which reads
/// its geometry literals with it.
pub use citygrid_cql2::geojson::{read_geometry, GeoJsonError};

/// Writes a JSON number: integers without a fraction, others in the shortest form
/// that reads back to the same `f64` (ryu), non-finite values as `null`.
fn num(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

fn coord(out: &mut String, c: Coord<f64>, swap: bool) {
    out.push('[');
    let (a, b) = if swap { (c.y, c.x) } else { (c.x, c.y) };
    num(out, a);
    out.push(',');
    num(out, b);
    out.push(']');
}

fn coords<'a>(out: &mut String, cs: impl IntoIterator<Item = &'a Coord<f64>>, swap: bool) {
    out.push('[');
    for (i, c) in cs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        coord(out, *c, swap);
    }
    out.push(']');
}

fn polygon(out: &mut String, p: &Polygon<f64>, swap: bool) {
    out.push('[');
    coords(out, &p.exterior().0, swap);
    for r in p.interiors() {
        out.push(',');
        coords(out, &r.0, swap);
    }
    out.push(']');
}

/// Writes a geometry as GeoJSON; `swap` writes y before x (lat-first CRSs).
pub fn write_geometry(out: &mut String, g: &Geometry<f64>, swap: bool) {
    match g {
        Geometry::Point(p) => {
            out.push_str(r#"{"type":"Point","coordinates":"#);
            coord(out, p.0, swap);
        }
        Geometry::MultiPoint(m) => {
            out.push_str(r#"{"type":"MultiPoint","coordinates":"#);
            coords(out, m.0.iter().map(|p| &p.0), swap);
        }
        Geometry::LineString(l) => {
            out.push_str(r#"{"type":"LineString","coordinates":"#);
            coords(out, &l.0, swap);
        }
        Geometry::Line(l) => {
            out.push_str(r#"{"type":"LineString","coordinates":"#);
            coords(out, &[l.start, l.end], swap);
        }
        Geometry::MultiLineString(m) => {
            out.push_str(r#"{"type":"MultiLineString","coordinates":["#);
            for (i, l) in m.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                coords(out, &l.0, swap);
            }
            out.push(']');
        }
        Geometry::Polygon(p) => {
            out.push_str(r#"{"type":"Polygon","coordinates":"#);
            polygon(out, p, swap);
        }
        Geometry::MultiPolygon(m) => {
            out.push_str(r#"{"type":"MultiPolygon","coordinates":["#);
            for (i, p) in m.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                polygon(out, p, swap);
            }
            out.push(']');
        }
        Geometry::Rect(r) => return write_geometry(out, &Geometry::Polygon(r.to_polygon()), swap),
        Geometry::Triangle(t) => {
            return write_geometry(out, &Geometry::Polygon(t.to_polygon()), swap)
        }
        Geometry::GeometryCollection(c) => {
            out.push_str(r#"{"type":"GeometryCollection","geometries":["#);
            for (i, g) in c.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_geometry(out, g, swap);
            }
            out.push_str("]}");
            return;
        }
    }
    out.push('}');
}

/// Writes a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `start..i` are whole characters.
        out.push_str(&s[start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes the properties object of a feature.
pub fn write_properties<'a>(
    out: &mut String,
    schema: &Schema,
    props: impl IntoIterator<Item = PropRef<'a>>,
) {
    out.push('{');
    for (i, (field, value)) in schema.fields.iter().zip(props).enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_property(out, &field.name, value);
    }
    out.push('}');
}

/// Writes only the properties at `only` (schema positions, in that order): the
/// OGC API's `properties=` selection.
pub fn write_selected_properties(
    out: &mut String,
    schema: &Schema,
    f: FeatureRef<'_>,
    only: &[usize],
) {
    out.push('{');
    let mut first = true;
    for &i in only {
        let (Some(field), Some(value)) = (schema.fields.get(i), f.prop(i)) else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        write_property(out, &field.name, value);
    }
    out.push('}');
}

fn write_property(out: &mut String, name: &str, value: PropRef<'_>) {
    write_str(out, name);
    out.push(':');
    match value {
        PropRef::Null => out.push_str("null"),
        PropRef::String(s) => write_str(out, s),
        PropRef::Int(v) => out.push_str(itoa::Buffer::new().format(v)),
        PropRef::Double(v) => num(out, v),
        PropRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
    }
}

/// Writes one feature as GeoJSON in `crs`; `swap` writes y before x (the OGC API
/// follows the CRS's axis order, plain GeoJSON is always easting first); `extra`
/// is appended inside the feature object (`,"key":value…`).
pub fn write_feature(
    out: &mut String,
    schema: &Schema,
    f: FeatureRef<'_>,
    crs: Crs,
    swap: bool,
    extra: &str,
) -> Result<(), CrsError> {
    write_feature_selected(out, schema, f, crs, swap, extra, None)
}

/// [`write_feature`] with only the properties at `only` (schema positions), or all
/// of them when `None`.
pub fn write_feature_selected(
    out: &mut String,
    schema: &Schema,
    f: FeatureRef<'_>,
    crs: Crs,
    swap: bool,
    extra: &str,
    only: Option<&[usize]>,
) -> Result<(), CrsError> {
    out.push_str(r#"{"type":"Feature","id":"#);
    let _ = write!(out, "{}", f.id());
    out.push_str(r#","geometry":"#);
    if crs.is_wgs84() {
        write_geometry(out, &f.geom_lonlat(), swap);
    } else {
        let g = crs.geometry_from_lonlat(&f.geom_lonlat())?;
        write_geometry(out, &g, swap);
    }
    out.push_str(r#","properties":"#);
    match only {
        Some(only) => write_selected_properties(out, schema, f, only),
        None => write_properties(out, schema, f.props()),
    }
    out.push_str(extra);
    out.push('}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn strings_and_numbers_are_valid_json() {
        for text in [
            "plain",
            "quote \" and \\ back",
            "tab\tnl\ncr\r\u{1}\u{1f}\u{8}\u{c}",
            "Åbo 街道 /",
            "",
        ] {
            let mut out = String::new();
            write_str(&mut out, text);
            assert_eq!(out, serde_json::to_string(text).unwrap());
        }
        for v in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            24.812345,
            60.1,
            1e-7,
            1e300,
            123456789012345.0,
            0.1 + 0.2,
        ] {
            let mut out = String::new();
            num(&mut out, v);
            let back: f64 = serde_json::from_str(&out).unwrap();
            assert_eq!(back, v, "{out}");
        }
        let mut out = String::new();
        num(&mut out, f64::NAN);
        assert_eq!(out, "null");
    }

    #[test]
    fn reader_checks_and_bounds() {
        let poly = json!({"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]});
        assert!(read_geometry(&poly, 10).is_ok());
        assert_eq!(read_geometry(&poly, 3), Err(GeoJsonError::TooLarge(3)));
        let open = json!({"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1]]]});
        assert!(read_geometry(&open, 10).is_err());
        let nan = json!({"type": "Point", "coordinates": ["NaN", 1]});
        assert!(read_geometry(&nan, 10).is_err());
        let mut deep = json!({"type": "Point", "coordinates": [0, 0]});
        for _ in 0..20 {
            deep = json!({"type": "GeometryCollection", "geometries": [deep]});
        }
        assert!(read_geometry(&deep, 10).is_err());
        let mut out = String::new();
        write_geometry(&mut out, &read_geometry(&poly, 10).unwrap(), true);
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["coordinates"][0][1], json!([0, 1]));
    }
}
