//! A small, independent MVT decoder and geometry checks for the tests.
#![allow(dead_code)]

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    F32(f32),
    F64(f64),
    I64(i64),
    U64(u64),
    S64(i64),
    Bool(bool),
}

#[derive(Debug, Clone, Default)]
pub struct Feat {
    pub id: Option<u64>,
    pub tags: Vec<u32>,
    pub ty: u64,
    pub geometry: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub name: String,
    pub version: u64,
    pub extent: u64,
    pub keys: Vec<String>,
    pub values: Vec<Val>,
    pub features: Vec<Feat>,
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.b[self.i];
            self.i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
            assert!(shift < 64, "varint too long");
        }
    }
    fn bytes(&mut self) -> &'a [u8] {
        let n = self.varint() as usize;
        let s = &self.b[self.i..self.i + n];
        self.i += n;
        s
    }
    fn fixed(&mut self, n: usize) -> &'a [u8] {
        let s = &self.b[self.i..self.i + n];
        self.i += n;
        s
    }
    fn key(&mut self) -> (u64, u64) {
        let k = self.varint();
        (k >> 3, k & 7)
    }
    fn skip(&mut self, wire: u64) {
        match wire {
            0 => {
                self.varint();
            }
            1 => {
                self.fixed(8);
            }
            2 => {
                self.bytes();
            }
            5 => {
                self.fixed(4);
            }
            w => panic!("unexpected wire type {w}"),
        }
    }
}

fn packed(b: &[u8]) -> Vec<u32> {
    let mut r = Reader { b, i: 0 };
    let mut out = Vec::new();
    while !r.done() {
        let v = r.varint();
        assert!(v <= u64::from(u32::MAX));
        out.push(v as u32);
    }
    out
}

fn decode_value(b: &[u8]) -> Val {
    let mut r = Reader { b, i: 0 };
    let mut out = None;
    while !r.done() {
        let (f, w) = r.key();
        let v = match (f, w) {
            (1, 2) => Val::Str(String::from_utf8(r.bytes().to_vec()).expect("utf8")),
            (2, 5) => Val::F32(f32::from_le_bytes(r.fixed(4).try_into().unwrap())),
            (3, 1) => Val::F64(f64::from_le_bytes(r.fixed(8).try_into().unwrap())),
            (4, 0) => Val::I64(r.varint() as i64),
            (5, 0) => Val::U64(r.varint()),
            (6, 0) => {
                let z = r.varint();
                Val::S64(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            (7, 0) => Val::Bool(r.varint() != 0),
            other => panic!("unexpected value field {other:?}"),
        };
        assert!(out.is_none(), "a value must hold exactly one field");
        out = Some(v);
    }
    out.expect("empty value")
}

fn decode_feature(b: &[u8]) -> Feat {
    let mut r = Reader { b, i: 0 };
    let mut f = Feat::default();
    while !r.done() {
        match r.key() {
            (1, 0) => f.id = Some(r.varint()),
            (2, 2) => f.tags = packed(r.bytes()),
            (3, 0) => f.ty = r.varint(),
            (4, 2) => f.geometry = packed(r.bytes()),
            (_, w) => r.skip(w),
        }
    }
    f
}

fn decode_layer(b: &[u8]) -> Layer {
    let mut r = Reader { b, i: 0 };
    let mut l = Layer {
        version: 1,
        extent: 4096,
        ..Layer::default()
    };
    while !r.done() {
        match r.key() {
            (15, 0) => l.version = r.varint(),
            (1, 2) => l.name = String::from_utf8(r.bytes().to_vec()).unwrap(),
            (2, 2) => l.features.push(decode_feature(r.bytes())),
            (3, 2) => l.keys.push(String::from_utf8(r.bytes().to_vec()).unwrap()),
            (4, 2) => l.values.push(decode_value(r.bytes())),
            (5, 0) => l.extent = r.varint(),
            (_, w) => r.skip(w),
        }
    }
    l
}

/// Decodes a tile; panics on malformed protobuf.
pub fn decode(bytes: &[u8]) -> Vec<Layer> {
    let mut r = Reader { b: bytes, i: 0 };
    let mut out = Vec::new();
    while !r.done() {
        match r.key() {
            (3, 2) => out.push(decode_layer(r.bytes())),
            (_, w) => r.skip(w),
        }
    }
    out
}

/// The properties of a feature, checking the tag structure.
pub fn props(l: &Layer, f: &Feat) -> HashMap<String, Val> {
    assert_eq!(f.tags.len() % 2, 0, "tags come in pairs");
    let mut m = HashMap::new();
    for t in f.tags.chunks(2) {
        let k = l.keys[t[0] as usize].clone();
        let v = l.values[t[1] as usize].clone();
        assert!(m.insert(k, v).is_none(), "duplicate key in one feature");
    }
    m
}

pub type Ring = Vec<(i64, i64)>;

/// Decoded geometry: points, line parts, or polygon rings (open, as encoded).
#[derive(Debug, Clone, PartialEq)]
pub enum G {
    Points(Vec<(i64, i64)>),
    Lines(Vec<Ring>),
    Rings(Vec<Ring>),
}

fn unzig(v: u32) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Decodes a geometry, validating the command structure for its type (MVT 2.1 §4.3).
pub fn geometry(f: &Feat) -> Result<G, String> {
    let g = &f.geometry;
    let (mut i, mut x, mut y) = (0usize, 0i64, 0i64);
    let next_cmd = |i: &mut usize| -> Result<(u32, usize), String> {
        let c = *g.get(*i).ok_or("missing command")?;
        *i += 1;
        Ok((c & 7, (c >> 3) as usize))
    };
    let params = |i: &mut usize, n: usize, x: &mut i64, y: &mut i64| -> Result<Ring, String> {
        let mut out = Vec::with_capacity(n);
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
            Ok(G::Points(pts))
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
                G::Lines(parts)
            } else {
                G::Rings(parts)
            })
        }
        t => Err(format!("unexpected geometry type {t}")),
    }
}

/// Twice the surveyor's-formula area of an open ring.
pub fn area2(r: &Ring) -> i128 {
    let n = r.len();
    (0..n)
        .map(|i| {
            let (a, b) = (r[i], r[(i + 1) % n]);
            i128::from(a.0) * i128::from(b.1) - i128::from(b.0) * i128::from(a.1)
        })
        .sum()
}

/// Groups rings into polygons by winding (exterior > 0 starts a polygon).
pub fn polygons(rings: &[Ring]) -> Vec<Vec<Ring>> {
    let mut out: Vec<Vec<Ring>> = Vec::new();
    for r in rings {
        let a = area2(r);
        assert_ne!(a, 0, "zero-area ring");
        if a > 0 {
            out.push(vec![r.clone()]);
        } else {
            out.last_mut()
                .expect("a hole before any exterior ring")
                .push(r.clone());
        }
    }
    out
}

fn orient(a: (i64, i64), b: (i64, i64), c: (i64, i64)) -> i128 {
    i128::from(b.0 - a.0) * i128::from(c.1 - a.1) - i128::from(b.1 - a.1) * i128::from(c.0 - a.0)
}

/// True when the two closed segments cross at a point interior to both (proper
/// crossing) or overlap collinearly over a positive length.
pub fn bad_intersection(a: (i64, i64), b: (i64, i64), c: (i64, i64), d: (i64, i64)) -> bool {
    let (d1, d2, d3, d4) = (
        orient(c, d, a),
        orient(c, d, b),
        orient(a, b, c),
        orient(a, b, d),
    );
    if d1.signum() * d2.signum() < 0 && d3.signum() * d4.signum() < 0 {
        return true;
    }
    if d1 == 0 && d2 == 0 {
        // Collinear: overlap length along the dominant axis.
        let key = |p: (i64, i64)| if a.0 != b.0 { p.0 } else { p.1 };
        let (lo1, hi1) = (key(a).min(key(b)), key(a).max(key(b)));
        let (lo2, hi2) = (key(c).min(key(d)), key(c).max(key(d)));
        return lo1.max(lo2) < hi1.min(hi2);
    }
    false
}

/// OGC-style validity on the integer grid: every ring has ≥ 3 distinct vertices and
/// non-zero area; no two edges of the polygon (within or across rings) cross properly
/// or overlap. (Touching at vertices is allowed.)
pub fn assert_polygon_valid(poly: &[Ring]) {
    let mut edges = Vec::new();
    for r in poly {
        assert!(r.len() >= 3);
        assert_ne!(area2(r), 0);
        for i in 0..r.len() {
            edges.push((r[i], r[(i + 1) % r.len()]));
        }
    }
    for i in 0..edges.len() {
        for j in (i + 1)..edges.len() {
            let (a, b) = edges[i];
            let (c, d) = edges[j];
            assert!(
                !bad_intersection(a, b, c, d),
                "edges {a:?}-{b:?} and {c:?}-{d:?} intersect"
            );
        }
    }
}
