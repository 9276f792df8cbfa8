//! A small, strict Mapbox Vector Tile 2.1 reader, written apart from the encoder
//! ([`crate::mvt`]) so that tests and fuzz targets can check the encoder's output
//! against the specification rather than against itself.
//!
//! - [`decode`] reads the protobuf into [`Layer`]s of [`Feature`]s (keys, values,
//!   tags and command streams as stored); malformed protobuf is a [`DecodeError`].
//! - [`Layer::props`] pairs a feature's tags with the layer's keys and values.
//! - [`geometry`] decodes a command stream into points, line parts or polygon
//!   rings, refusing any stream MVT 2.1 §4.3 forbids (wrong commands or counts,
//!   zero-length segments, rings of fewer than 3 positions); [`parts`] decodes
//!   without those checks.
//! - [`area2`] and [`polygons`] group rings into polygons by winding order.
//!
//! ```
//! use citygrid_tiles::decode::{decode, geometry, Geometry, Value};
//! use citygrid_tiles::index::{Feature, LayerIndex};
//! use citygrid_tiles::mvt::{encode_tile, EncodeOptions, TileLayer};
//! use citygrid_tiles::schema::{FieldType, PropValue, Schema};
//! use citygrid_geo::tms::TileCoord;
//!
//! // One point in the middle of tile 1/1/0 (the north-east quarter of the world).
//! let h = citygrid_geo::tms::MERC_HALF_WORLD_M;
//! let point = geo::Geometry::Point(geo::point!(x: h / 2.0, y: h / 2.0));
//! let feature = Feature::from_mercator(7, point, vec![PropValue::String("station".into())]);
//! let schema = Schema::new([("name", FieldType::String)]);
//! let index = LayerIndex::build(schema.clone(), vec![feature]).unwrap();
//! let features: Vec<_> = index.iter().collect();
//! let layer = TileLayer { name: "stops", schema: &schema, features: &features, properties: None };
//! let tile = TileCoord::new(1, 1, 0).unwrap();
//! let bytes = encode_tile(tile, &[layer], &EncodeOptions::default()).unwrap().bytes;
//!
//! let layers = decode(&bytes).unwrap();
//! let (stops, f) = (&layers[0], &layers[0].features[0]);
//! assert_eq!((stops.name.as_str(), stops.version, stops.extent), ("stops", 2, 4096));
//! assert_eq!(f.id, Some(7));
//! assert_eq!(stops.props(f).unwrap(), [("name".to_string(), Value::Str("station".into()))]);
//! assert_eq!(geometry(f).unwrap(), Geometry::Points(vec![(2048, 2048)]));
//! //! ```

use std::fmt;

/// A malformed tile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(m.into()))
}

/// A property value (MVT `Value`: exactly one of its fields).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `string_value`
    Str(String),
    /// `float_value`
    F32(f32),
    /// `double_value`
    F64(f64),
    /// `int_value`
    I64(i64),
    /// `uint_value`
    U64(u64),
    /// `sint_value` (zigzag)
    S64(i64),
    /// `bool_value`
    Bool(bool),
}

impl fmt::Display for Value {
    /// The value as text (a string as it is, numbers and booleans as Rust prints them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::I64(v) | Value::S64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// A feature as stored: tags and geometry commands undecoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feature {
    /// Its id, when it has one.
    pub id: Option<u64>,
    /// Pairs of key and value indices into its layer.
    pub tags: Vec<u32>,
    /// Geometry type: 0 unknown, 1 point, 2 line string, 3 polygon.
    pub ty: u64,
    /// The command stream.
    pub geometry: Vec<u32>,
}

/// A layer as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    /// Its name.
    pub name: String,
    /// The MVT version (1 when absent).
    pub version: u64,
    /// Tile units per side (4096 when absent).
    pub extent: u64,
    /// Property keys.
    pub keys: Vec<String>,
    /// Property values.
    pub values: Vec<Value>,
    /// Its features, in tile order.
    pub features: Vec<Feature>,
}

impl Layer {
    /// The properties of `f` (a feature of this layer) in tag order; an odd number
    /// of tags or an index outside the layer's keys or values is an error.
    pub fn props(&self, f: &Feature) -> Result<Vec<(String, Value)>, DecodeError> {
        if !f.tags.len().is_multiple_of(2) {
            return err("odd number of tags");
        }
        f.tags
            .chunks(2)
            .map(|pair| {
                match (
                    self.keys.get(pair[0] as usize),
                    self.values.get(pair[1] as usize),
                ) {
                    (Some(k), Some(v)) => Ok((k.clone(), v.clone())),
                    _ => err(format!("tag {pair:?} out of range")),
                }
            })
            .collect()
    }
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0 }
    }

    fn done(&self) -> bool {
        self.i >= self.b.len()
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let Some(&byte) = self.b.get(self.i) else {
                return err("a varint runs past the end");
            };
            self.i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift >= 64 {
                return err("varint too long");
            }
        }
    }

    fn fixed(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.i.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return err("a field runs past the end");
        };
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(self.varint()?).map_err(|_| DecodeError("length".into()))?;
        self.fixed(n)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| DecodeError("not UTF-8".into()))
    }

    fn key(&mut self) -> Result<(u64, u64), DecodeError> {
        let k = self.varint()?;
        Ok((k >> 3, k & 7))
    }

    fn skip(&mut self, wire: u64) -> Result<(), DecodeError> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.fixed(8).map(drop),
            2 => self.bytes().map(drop),
            5 => self.fixed(4).map(drop),
            w => err(format!("unexpected wire type {w}")),
        }
    }
}

fn packed(b: &[u8]) -> Result<Vec<u32>, DecodeError> {
    let mut r = Reader::new(b);
    let mut out = Vec::new();
    while !r.done() {
        let v = r.varint()?;
        out.push(u32::try_from(v).map_err(|_| DecodeError(format!("{v} exceeds uint32")))?);
    }
    Ok(out)
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    a
}

fn decode_value(b: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader::new(b);
    let mut out = None;
    while !r.done() {
        let v = match r.key()? {
            (1, 2) => Value::Str(r.string()?),
            (2, 5) => Value::F32(f32::from_le_bytes(array(r.fixed(4)?))),
            (3, 1) => Value::F64(f64::from_le_bytes(array(r.fixed(8)?))),
            (4, 0) => Value::I64(r.varint()? as i64),
            (5, 0) => Value::U64(r.varint()?),
            (6, 0) => {
                let z = r.varint()?;
                Value::S64(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            (7, 0) => Value::Bool(r.varint()? != 0),
            other => return err(format!("unexpected value field {other:?}")),
        };
        if out.is_some() {
            return err("a value must hold exactly one field");
        }
        out = Some(v);
    }
    out.ok_or_else(|| DecodeError("empty value".into()))
}

fn decode_feature(b: &[u8]) -> Result<Feature, DecodeError> {
    let mut r = Reader::new(b);
    let mut f = Feature::default();
    while !r.done() {
        match r.key()? {
            (1, 0) => f.id = Some(r.varint()?),
            (2, 2) => f.tags = packed(r.bytes()?)?,
            (3, 0) => f.ty = r.varint()?,
            (4, 2) => f.geometry = packed(r.bytes()?)?,
            (_, w) => r.skip(w)?,
        }
    }
    Ok(f)
}

fn decode_layer(b: &[u8]) -> Result<Layer, DecodeError> {
    let mut r = Reader::new(b);
    let mut l = Layer {
        version: 1,
        extent: 4096,
        ..Layer::default()
    };
    while !r.done() {
        match r.key()? {
            (15, 0) => l.version = r.varint()?,
            (1, 2) => l.name = r.string()?,
            (2, 2) => l.features.push(decode_feature(r.bytes()?)?),
            (3, 2) => l.keys.push(r.string()?),
            (4, 2) => l.values.push(decode_value(r.bytes()?)?),
            (5, 0) => l.extent = r.varint()?,
            (_, w) => r.skip(w)?,
        }
    }
    Ok(l)
}

/// Decodes a tile's layers (an empty tile has none).
pub fn decode(bytes: &[u8]) -> Result<Vec<Layer>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while !r.done() {
        match r.key()? {
            (3, 2) => out.push(decode_layer(r.bytes()?)?),
            (_, w) => r.skip(w)?,
        }
    }
    Ok(out)
}

/// A ring or line part: positions in tile units (rings open, as encoded).
pub type Ring = Vec<(i64, i64)>;

/// A decoded geometry.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// A point or multipoint.
    Points(Vec<(i64, i64)>),
    /// The parts of a line string or multi line string.
    Lines(Vec<Ring>),
    /// Polygon rings in order (exterior rings positive, holes negative: [`polygons`]).
    Rings(Vec<Ring>),
}

fn unzig(v: u32) -> i64 {
    i64::from(v >> 1) ^ -i64::from(v & 1)
}

/// The positions of a feature's command stream without checking its structure: each
/// MoveTo position starts a part, LineTo positions extend the last part, ClosePath is
/// skipped. A LineTo before any MoveTo, an unknown command or a missing parameter is
/// an error.
pub fn parts(f: &Feature) -> Result<Vec<Ring>, DecodeError> {
    let g = &f.geometry;
    let mut parts: Vec<Ring> = Vec::new();
    let (mut x, mut y) = (0i64, 0i64);
    let mut i = 0;
    while i < g.len() {
        let (cmd, count) = (g[i] & 7, (g[i] >> 3) as usize);
        i += 1;
        match cmd {
            1 | 2 => {
                for _ in 0..count {
                    let (Some(&dx), Some(&dy)) = (g.get(i), g.get(i + 1)) else {
                        return err("missing parameter");
                    };
                    i += 2;
                    x += unzig(dx);
                    y += unzig(dy);
                    if cmd == 1 {
                        parts.push(vec![(x, y)]);
                    } else {
                        match parts.last_mut() {
                            Some(p) => p.push((x, y)),
                            None => return err("LineTo before MoveTo"),
                        }
                    }
                }
            }
            7 => {}
            other => return err(format!("bad command {other}")),
        }
    }
    Ok(parts)
}

/// Decodes a geometry, validating the command structure for its type (MVT 2.1
/// §4.3): points are one MoveTo with count > 0; each line part is MoveTo(1) then
/// LineTo(n > 0); each ring is MoveTo(1), LineTo(n > 0), ClosePath(1) with at least 3
/// positions; no two consecutive positions are equal.
pub fn geometry(f: &Feature) -> Result<Geometry, String> {
    let g = &f.geometry;
    let (mut i, mut x, mut y) = (0usize, 0i64, 0i64);
    let next_cmd = |i: &mut usize| -> Result<(u32, usize), String> {
        let c = *g.get(*i).ok_or("missing command")?;
        *i += 1;
        Ok((c & 7, (c >> 3) as usize))
    };
    let params = |i: &mut usize, n: usize, x: &mut i64, y: &mut i64| -> Result<Ring, String> {
        let mut out = Vec::with_capacity(n.min(g.len()));
        for _ in 0..n {
            let dx = *g.get(*i).ok_or("missing parameter")?;
            let dy = *g.get(*i + 1).ok_or("missing parameter")?;
            *i += 2;
            *x += unzig(dx);
            *y += unzig(dy);
            out.push((*x, *y));
        }
        Ok(out)
    };
    match f.ty {
        1 => {
            let (id, n) = next_cmd(&mut i)?;
            if id != 1 || n == 0 {
                return Err(format!("point: expected MoveTo(n>0), got {id}/{n}"));
            }
            let pts = params(&mut i, n, &mut x, &mut y)?;
            if i != g.len() {
                return Err("point: trailing commands".into());
            }
            Ok(Geometry::Points(pts))
        }
        2 | 3 => {
            let mut parts = Vec::new();
            while i < g.len() {
                let (id, n) = next_cmd(&mut i)?;
                if id != 1 || n != 1 {
                    return Err(format!("expected MoveTo(1), got {id}/{n}"));
                }
                let mut part = params(&mut i, 1, &mut x, &mut y)?;
                let (id, n) = next_cmd(&mut i)?;
                if id != 2 || n == 0 {
                    return Err(format!("expected LineTo(n>0), got {id}/{n}"));
                }
                part.extend(params(&mut i, n, &mut x, &mut y)?);
                if f.ty == 3 {
                    let (id, n) = next_cmd(&mut i)?;
                    if id != 7 || n != 1 {
                        return Err(format!("expected ClosePath(1), got {id}/{n}"));
                    }
                    if part.len() < 3 {
                        return Err("ring with fewer than 3 points".into());
                    }
                }
                for w in part.windows(2) {
                    if w[0] == w[1] {
                        return Err("consecutive duplicate point".into());
                    }
                }
                parts.push(part);
            }
            if parts.is_empty() {
                return Err("empty geometry".into());
            }
            Ok(if f.ty == 2 {
                Geometry::Lines(parts)
            } else {
                Geometry::Rings(parts)
            })
        }
        t => Err(format!("unexpected geometry type {t}")),
    }
}

/// Twice the surveyor's-formula area of an open ring (tile coordinates, y down:
/// MVT 2.1 exterior rings are positive).
pub fn area2(r: &[(i64, i64)]) -> i128 {
    let n = r.len();
    (0..n)
        .map(|i| {
            let (a, b) = (r[i], r[(i + 1) % n]);
            i128::from(a.0) * i128::from(b.1) - i128::from(b.0) * i128::from(a.1)
        })
        .sum()
}

/// Groups rings into polygons by winding (a positive ring starts a polygon, negative
/// ones are its holes); a zero-area ring or a hole before any exterior is an error.
pub fn polygons(rings: &[Ring]) -> Result<Vec<Vec<Ring>>, String> {
    let mut out: Vec<Vec<Ring>> = Vec::new();
    for r in rings {
        let a = area2(r);
        if a == 0 {
            return Err(format!("a ring with zero area: {r:?}"));
        }
        if a > 0 {
            out.push(vec![r.clone()]);
        } else {
            match out.last_mut() {
                Some(p) => p.push(r.clone()),
                None => return Err(format!("the first ring is a hole (area {a}): {r:?}")),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        for bytes in [
            &[0x1a][..],             // layer field, no length
            &[0x1a, 0x05, 0x0a][..], // length past the end
            &[0x1a, 0x02, 0x0a, 0x01][..],
            &[0xff; 12][..], // varint too long
            &[0x1f][..],     // wire type 7
        ] {
            assert!(decode(bytes).is_err(), "{bytes:?}");
        }
        assert_eq!(decode(&[]).unwrap(), Vec::new());
    }

    #[test]
    fn command_streams() {
        let square = Feature {
            ty: 3,
            // MoveTo(0,0) LineTo(10,0)(10,10)(0,10) ClosePath
            geometry: vec![9, 0, 0, 26, 20, 0, 0, 20, 19, 0, 15],
            ..Feature::default()
        };
        let Geometry::Rings(rings) = geometry(&square).unwrap() else {
            panic!("not rings")
        };
        assert_eq!(rings[0], vec![(0, 0), (10, 0), (10, 10), (0, 10)]);
        assert_eq!(area2(&rings[0]), 200);
        assert_eq!(polygons(&rings).unwrap().len(), 1);
        assert_eq!(parts(&square).unwrap(), rings);
        let zero_length = Feature {
            ty: 2,
            geometry: vec![9, 2, 2, 10, 0, 0],
            ..Feature::default()
        };
        assert!(geometry(&zero_length).is_err());
        let multipoint = Feature {
            ty: 1,
            geometry: vec![17, 2, 2, 2, 2],
            ..Feature::default()
        };
        assert_eq!(
            geometry(&multipoint).unwrap(),
            Geometry::Points(vec![(1, 1), (2, 2)])
        );
        assert_eq!(
            parts(&multipoint).unwrap(),
            vec![vec![(1, 1)], vec![(2, 2)]]
        );
        assert!(parts(&Feature {
            ty: 2,
            geometry: vec![10, 2, 2],
            ..Feature::default()
        })
        .is_err());
    }
}
