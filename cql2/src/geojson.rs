//! The bounded reader of GeoJSON geometries (the geometry literals of CQL2-JSON, and
//! the request geometries of the service's spatial queries).
//!
//! ```
//! use citygrid_cql2::geojson::{read_geometry, GeoJsonError};
//! let v = serde_json::json!({"type": "Point", "coordinates": [24.9, 60.2]});
//! assert!(read_geometry(&v, 10).is_ok());
//! let line = serde_json::json!({"type": "LineString", "coordinates": [[0, 0], [1, 1]]});
//! assert_eq!(read_geometry(&line, 1), Err(GeoJsonError::TooLarge(1)));
//! ```

use geo::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon,
};
use serde_json::Value;

/// Why a GeoJSON geometry was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoJsonError {
    /// Malformed.
    #[error("invalid GeoJSON geometry: {0}")]
    Invalid(String),
    /// More vertices than allowed.
    #[error("the geometry has more than {0} vertices")]
    TooLarge(usize),
}

struct Reader {
    vertices: usize,
    max: usize,
    depth: usize,
}

/// Reads a GeoJSON geometry (or a Feature's geometry) with at most `max_vertices`
/// positions; every coordinate must be a finite number (ranges are checked by
/// the caller, which knows the CRS).
pub fn read_geometry(v: &Value, max_vertices: usize) -> Result<Geometry<f64>, GeoJsonError> {
    let mut r = Reader {
        vertices: 0,
        max: max_vertices,
        depth: 0,
    };
    let v = match v.get("type").and_then(Value::as_str) {
        Some("Feature") => v
            .get("geometry")
            .ok_or_else(|| GeoJsonError::Invalid("the Feature has no geometry".into()))?,
        _ => v,
    };
    r.geometry(v)
}

fn invalid<T>(m: &str) -> Result<T, GeoJsonError> {
    Err(GeoJsonError::Invalid(m.to_string()))
}

impl Reader {
    fn geometry(&mut self, v: &Value) -> Result<Geometry<f64>, GeoJsonError> {
        self.depth += 1;
        if self.depth > 8 {
            return invalid("geometry collections nested too deeply");
        }
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| GeoJsonError::Invalid("missing \"type\"".into()))?;
        let g = if kind == "GeometryCollection" {
            let parts = v
                .get("geometries")
                .and_then(Value::as_array)
                .ok_or_else(|| GeoJsonError::Invalid("missing \"geometries\"".into()))?;
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                out.push(self.geometry(p)?);
            }
            Geometry::GeometryCollection(GeometryCollection(out))
        } else {
            let c = v
                .get("coordinates")
                .ok_or_else(|| GeoJsonError::Invalid("missing \"coordinates\"".into()))?;
            match kind {
                "Point" => Geometry::Point(Point(self.position(c)?)),
                "MultiPoint" => Geometry::MultiPoint(MultiPoint(
                    self.list(c)?
                        .iter()
                        .map(|p| self.position(p).map(Point))
                        .collect::<Result<_, _>>()?,
                )),
                "LineString" => Geometry::LineString(self.line(c, 2)?),
                "MultiLineString" => Geometry::MultiLineString(MultiLineString(
                    self.list(c)?
                        .iter()
                        .map(|l| self.line(l, 2))
                        .collect::<Result<_, _>>()?,
                )),
                "Polygon" => Geometry::Polygon(self.polygon(c)?),
                "MultiPolygon" => Geometry::MultiPolygon(MultiPolygon(
                    self.list(c)?
                        .iter()
                        .map(|p| self.polygon(p))
                        .collect::<Result<_, _>>()?,
                )),
                other => {
                    return Err(GeoJsonError::Invalid(format!(
                        "unknown geometry type {:?}",
                        other.chars().take(40).collect::<String>()
                    )))
                }
            }
        };
        self.depth -= 1;
        Ok(g)
    }

    fn list<'v>(&self, v: &'v Value) -> Result<&'v Vec<Value>, GeoJsonError> {
        v.as_array()
            .ok_or_else(|| GeoJsonError::Invalid("coordinates must be arrays".into()))
    }

    fn position(&mut self, v: &Value) -> Result<Coord<f64>, GeoJsonError> {
        self.vertices += 1;
        if self.vertices > self.max {
            return Err(GeoJsonError::TooLarge(self.max));
        }
        let a = self.list(v)?;
        if a.len() < 2 || a.len() > 4 {
            return invalid("a position has 2 to 4 numbers");
        }
        let x = a[0].as_f64();
        let y = a[1].as_f64();
        match (x, y) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Ok(Coord { x, y }),
            _ => invalid("coordinates must be finite numbers"),
        }
    }

    fn line(&mut self, v: &Value, min: usize) -> Result<LineString<f64>, GeoJsonError> {
        let a = self.list(v)?;
        if a.len() < min {
            return Err(GeoJsonError::Invalid(format!(
                "a line or ring needs at least {min} positions"
            )));
        }
        let coords = a
            .iter()
            .map(|p| self.position(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LineString::from(coords))
    }

    fn polygon(&mut self, v: &Value) -> Result<Polygon<f64>, GeoJsonError> {
        let rings = self.list(v)?;
        if rings.is_empty() {
            return invalid("a polygon needs an exterior ring");
        }
        let mut out = Vec::with_capacity(rings.len());
        for r in rings {
            let ring = self.line(r, 4)?;
            if ring.0.first() != ring.0.last() {
                return invalid("polygon rings must be closed (first = last position)");
            }
            out.push(ring);
        }
        let exterior = out.remove(0);
        Ok(Polygon::new(exterior, out))
    }
}
