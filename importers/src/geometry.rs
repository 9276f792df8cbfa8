//! Geometry normalisation: (ISO or extended) WKB in any CRS → 2D EWKB in EPSG:4326.
//!
//! One pass over the source WKB writes little-endian EWKB with SRID 4326 on the
//! top-level geometry, dropping Z and M, while the coordinates are collected; they are
//! then transformed in one call and written back. On the way:
//!
//! - empty geometries are reported as [`Outcome::Empty`] (the importer skips them);
//! - what PostGIS would refuse to parse is fixed or dropped and counted: unclosed
//!   rings are closed, rings with fewer than four points, lines with fewer than two
//!   points and parts left empty are dropped; a geometry with nothing left, a
//!   non-finite coordinate, or a coordinate outside lon/lat range after the
//!   transformation is [`Outcome::Invalid`];
//! - curves must already be linearised (the reader asks GDAL for that); a curve type
//!   here is invalid.
//!
//! A line is valid when it has two distinct points, which is checked here (also
//! after the transformation, see [`Outcome::Written`]); the topological validity of
//! polygons (self-intersections…) is checked and repaired later in the database with
//! `ST_MakeValid`.

use crate::crs::Transformer;

/// SRID of the stored geometry.
pub const SRID: u32 = 4326;
const EWKB_SRID_FLAG: u32 = 0x2000_0000;
/// Deepest nesting of multi-geometries and collections read (deeper input would
/// overflow the stack: found by the `wkb` fuzz target).
const MAX_NESTING: usize = 32;

/// The seven linear OGC geometry types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GeomType {
    /// POINT
    Point = 1,
    /// LINESTRING
    LineString = 2,
    /// POLYGON
    Polygon = 3,
    /// MULTIPOINT
    MultiPoint = 4,
    /// MULTILINESTRING
    MultiLineString = 5,
    /// MULTIPOLYGON
    MultiPolygon = 6,
    /// GEOMETRYCOLLECTION
    GeometryCollection = 7,
}

impl GeomType {
    /// From a WKB/OGR type code (any dimension flavour); `None` for other types.
    pub fn from_code(code: u32) -> Option<GeomType> {
        let base = (code & 0x0fff_ffff) % 1000;
        Some(match base {
            1 => GeomType::Point,
            2 => GeomType::LineString,
            3 => GeomType::Polygon,
            4 => GeomType::MultiPoint,
            5 => GeomType::MultiLineString,
            6 => GeomType::MultiPolygon,
            7 => GeomType::GeometryCollection,
            _ => return None,
        })
    }

    /// The PostGIS typmod name: `Point`, `MultiPolygon`…
    pub fn name(self) -> &'static str {
        match self {
            GeomType::Point => "Point",
            GeomType::LineString => "LineString",
            GeomType::Polygon => "Polygon",
            GeomType::MultiPoint => "MultiPoint",
            GeomType::MultiLineString => "MultiLineString",
            GeomType::MultiPolygon => "MultiPolygon",
            GeomType::GeometryCollection => "GeometryCollection",
        }
    }

    /// The Multi type of a single type; Multi types and collections map to themselves.
    pub fn multi(self) -> GeomType {
        match self {
            GeomType::Point => GeomType::MultiPoint,
            GeomType::LineString => GeomType::MultiLineString,
            GeomType::Polygon => GeomType::MultiPolygon,
            other => other,
        }
    }

    /// Whether this is Point, LineString or Polygon.
    pub fn is_single(self) -> bool {
        matches!(
            self,
            GeomType::Point | GeomType::LineString | GeomType::Polygon
        )
    }

    /// 0 points, 1 lines, 2 polygons, 3 collections.
    pub fn family(self) -> u8 {
        match self {
            GeomType::Point | GeomType::MultiPoint => 0,
            GeomType::LineString | GeomType::MultiLineString => 1,
            GeomType::Polygon | GeomType::MultiPolygon => 2,
            GeomType::GeometryCollection => 3,
        }
    }
}

/// What became of one source geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// EWKB appended to the output; `fixed` when parts were closed or dropped.
    Written {
        /// The top-level type.
        kind: GeomType,
        /// Whether the geometry had to be fixed to be storable.
        fixed: bool,
        /// Whether a line collapsed to fewer than two distinct points only through the
        /// transformation: that row is then checked in the database (it is not [`Scratch::proven`]).
        check: bool,
    },
    /// No coordinates at all; nothing appended.
    Empty,
    /// Unusable; nothing appended.
    Invalid(String),
}

/// Reusable buffers for [`normalise`].
#[derive(Default)]
pub struct Scratch {
    coords: Vec<[f64; 2]>,
    /// Output offset of each coordinate in `coords`.
    offsets: Vec<usize>,
    /// Each line written: index of its first coordinate in `coords`, point count.
    lines: Vec<(usize, usize)>,
    /// Each polygon ring written: index of its first coordinate, point count.
    rings: Vec<(usize, usize)>,
    /// Whether the last written geometry is known to be valid (see [`Scratch::proven`]).
    proven: bool,
    /// Bounding box `[west, south, east, north]` of the last written geometry.
    bbox: [f64; 4],
}

impl Scratch {
    /// Whether the geometry [`normalise`] wrote last is valid in the OGC sense
    /// without asking the database: points; lines unless one collapsed in the
    /// transformation; a polygon of one simple ring (see [`ring_is_simple`]). Anything
    /// else may or may not be valid and is checked with `ST_IsValid`.
    pub fn proven(&self) -> bool {
        self.proven
    }

    /// The bounding box `[west, south, east, north]` of the geometry [`normalise`]
    /// wrote last, in the storage CRS (exact: from the stored coordinates).
    pub fn bbox(&self) -> [f64; 4] {
        self.bbox
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, String> {
        let b = *self.data.get(self.pos).ok_or("truncated WKB")?;
        self.pos += 1;
        Ok(b)
    }
    fn u32(&mut self, le: bool) -> Result<u32, String> {
        let s = self
            .data
            .get(self.pos..self.pos + 4)
            .ok_or("truncated WKB")?;
        self.pos += 4;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }
    fn f64(&mut self, le: bool) -> Result<f64, String> {
        let s = self
            .data
            .get(self.pos..self.pos + 8)
            .ok_or("truncated WKB")?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(if le {
            f64::from_le_bytes(a)
        } else {
            f64::from_be_bytes(a)
        })
    }
    /// A count that cannot exceed what is left of the input.
    fn count(&mut self, le: bool, min_item_bytes: usize) -> Result<usize, String> {
        let n = self.u32(le)? as usize;
        if n.saturating_mul(min_item_bytes) > self.data.len().saturating_sub(self.pos) {
            return Err("WKB count exceeds its data".into());
        }
        Ok(n)
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    scratch: &'a mut Scratch,
    fixed: bool,
}

impl Writer<'_> {
    fn header(&mut self, kind: u32, srid: bool) {
        self.out.push(1);
        if srid {
            self.out
                .extend_from_slice(&(kind | EWKB_SRID_FLAG).to_le_bytes());
            self.out.extend_from_slice(&SRID.to_le_bytes());
        } else {
            self.out.extend_from_slice(&kind.to_le_bytes());
        }
    }
    fn placeholder(&mut self) -> usize {
        let at = self.out.len();
        self.out.extend_from_slice(&0u32.to_le_bytes());
        at
    }
    fn patch(&mut self, at: usize, n: usize) {
        self.out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
    }
    fn coord(&mut self, c: [f64; 2]) {
        self.scratch.offsets.push(self.out.len());
        self.scratch.coords.push(c);
        self.out.extend_from_slice(&[0u8; 16]);
    }
    /// Forgets everything written after `len` (and the coordinates in it).
    fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
        while self.scratch.offsets.last().is_some_and(|&o| o >= len) {
            self.scratch.offsets.pop();
            self.scratch.coords.pop();
        }
        let kept = self.scratch.coords.len();
        while self
            .scratch
            .lines
            .last()
            .is_some_and(|&(first, _)| first >= kept)
        {
            self.scratch.lines.pop();
        }
        while self
            .scratch
            .rings
            .last()
            .is_some_and(|&(first, _)| first >= kept)
        {
            self.scratch.rings.pop();
        }
    }
}

/// Parses one (sub)geometry; returns its type and whether it has any coordinate.
/// Parts that cannot be stored are dropped (the caller sees `Ok(None)`).
fn geometry(
    r: &mut Reader,
    w: &mut Writer,
    depth: usize,
) -> Result<Option<(GeomType, bool)>, String> {
    if depth > MAX_NESTING {
        return Err(format!(
            "geometry collections nested more than {MAX_NESTING} deep"
        ));
    }
    let top = depth == 0;
    let le = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err("bad WKB byte order".into()),
    };
    let code = r.u32(le)?;
    let mut dims = 2;
    // Extended (EWKB) flags, then ISO thousands.
    if code & 0x8000_0000 != 0 {
        dims += 1;
    }
    if code & 0x4000_0000 != 0 {
        dims += 1;
    }
    if code & EWKB_SRID_FLAG != 0 {
        r.u32(le)?;
    }
    let iso = code & 0x0fff_ffff;
    dims += match iso / 1000 {
        0 => 0,
        1 | 2 => 1,
        3 => 2,
        _ => return Err(format!("unsupported WKB type {code}")),
    };
    let kind = GeomType::from_code(iso)
        .ok_or_else(|| format!("unsupported geometry type {code} (curves must be linearised)"))?;
    let start = w.out.len();
    w.header(kind as u32, top);
    let point_bytes = 8 * dims;
    let read_xy = |r: &mut Reader| -> Result<[f64; 2], String> {
        let x = r.f64(le)?;
        let y = r.f64(le)?;
        for _ in 2..dims {
            r.f64(le)?;
        }
        Ok([x, y])
    };
    let has_coords = match kind {
        GeomType::Point => {
            let c = read_xy(r)?;
            if c[0].is_nan() && c[1].is_nan() {
                // POINT EMPTY
                w.out.extend_from_slice(&f64::NAN.to_le_bytes());
                w.out.extend_from_slice(&f64::NAN.to_le_bytes());
                false
            } else {
                if !c[0].is_finite() || !c[1].is_finite() {
                    return Err("non-finite coordinate".into());
                }
                w.coord(c);
                true
            }
        }
        GeomType::LineString => {
            let n = r.count(le, point_bytes)?;
            let at = w.placeholder();
            let first_coord = w.scratch.coords.len();
            let mut first = [f64::NAN; 2];
            let mut distinct = false;
            for j in 0..n {
                let c = read_xy(r)?;
                if !c[0].is_finite() || !c[1].is_finite() {
                    return Err("non-finite coordinate".into());
                }
                if j == 0 {
                    first = c;
                } else if c != first {
                    distinct = true;
                }
                w.coord(c);
            }
            w.patch(at, n);
            if n > 0 && !distinct {
                // PostGIS refuses a one-point line, and a line with fewer than two
                // distinct points is invalid (ST_MakeValid makes it a point): dropped
                // here, so lines need no validity pass in the database.
                w.fixed = true;
                w.truncate(start);
                return Ok(None);
            }
            if n > 0 {
                w.scratch.lines.push((first_coord, n));
            }
            n > 0
        }
        GeomType::Polygon => {
            let rings = r.count(le, 4)?;
            let at = w.placeholder();
            let mut kept = 0;
            for i in 0..rings {
                let n = r.count(le, point_bytes)?;
                let ring_start = w.out.len();
                let ring_first = w.scratch.coords.len();
                let count_at = w.placeholder();
                let mut first = [f64::NAN; 2];
                let mut last = [f64::NAN; 2];
                for j in 0..n {
                    let c = read_xy(r)?;
                    if !c[0].is_finite() || !c[1].is_finite() {
                        return Err("non-finite coordinate".into());
                    }
                    if j == 0 {
                        first = c;
                    }
                    last = c;
                    w.coord(c);
                }
                let mut points = n;
                if n > 0 && first != last {
                    w.coord(first);
                    points += 1;
                    w.fixed = true;
                }
                if points < 4 {
                    w.truncate(ring_start);
                    if n > 0 {
                        w.fixed = true;
                    }
                    if i == 0 {
                        // No shell: the polygon is dropped, its holes read and ignored.
                        for _ in 1..rings {
                            let n = r.count(le, point_bytes)?;
                            for _ in 0..n {
                                read_xy(r)?;
                            }
                        }
                        w.truncate(start);
                        return Ok(None);
                    }
                    continue;
                }
                w.patch(count_at, points);
                w.scratch.rings.push((ring_first, points));
                kept += 1;
            }
            w.patch(at, kept);
            kept > 0
        }
        GeomType::MultiPoint
        | GeomType::MultiLineString
        | GeomType::MultiPolygon
        | GeomType::GeometryCollection => {
            let n = r.count(le, 5)?;
            let at = w.placeholder();
            let mut kept = 0;
            let mut any = false;
            for _ in 0..n {
                if let Some((part, has)) = geometry(r, w, depth + 1)? {
                    let allowed = match kind {
                        GeomType::MultiPoint => part == GeomType::Point,
                        GeomType::MultiLineString => part == GeomType::LineString,
                        GeomType::MultiPolygon => part == GeomType::Polygon,
                        _ => true,
                    };
                    if !allowed {
                        return Err(format!("{} inside {}", part.name(), kind.name()));
                    }
                    kept += 1;
                    any |= has;
                }
            }
            w.patch(at, kept);
            if n > 0 && kept == 0 {
                w.truncate(start);
                return Ok(None);
            }
            any
        }
    };
    Ok(Some((kind, has_coords)))
}

/// Appends `wkb` as 2D EWKB (SRID 4326) to `out`, transforming the coordinates with
/// `transformer`. On any outcome but `Written`, `out` is left as it was.
pub fn normalise(
    wkb: &[u8],
    transformer: &mut Transformer,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> Outcome {
    scratch.coords.clear();
    scratch.offsets.clear();
    scratch.lines.clear();
    scratch.rings.clear();
    scratch.proven = false;
    let start = out.len();
    let mut r = Reader { data: wkb, pos: 0 };
    let mut w = Writer {
        out,
        scratch,
        fixed: false,
    };
    let parsed = geometry(&mut r, &mut w, 0);
    let fixed = w.fixed;
    let (kind, has_coords) = match parsed {
        Ok(Some(v)) => v,
        Ok(None) => {
            out.truncate(start);
            return Outcome::Invalid("no part of the geometry can be stored".into());
        }
        Err(e) => {
            out.truncate(start);
            return Outcome::Invalid(e);
        }
    };
    if !has_coords {
        out.truncate(start);
        return Outcome::Empty;
    }
    transformer.transform(&mut scratch.coords);
    let mut bbox = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for (c, &at) in scratch.coords.iter().zip(&scratch.offsets) {
        if !(c[0].is_finite()
            && c[1].is_finite()
            && c[0].abs() <= 180.000_001
            && c[1].abs() <= 90.000_001)
        {
            out.truncate(start);
            return Outcome::Invalid(format!(
                "coordinate ({}, {}) is outside lon/lat range after the transformation (is the source CRS right?)",
                c[0], c[1]
            ));
        }
        out[at..at + 8].copy_from_slice(&c[0].to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&c[1].to_le_bytes());
        bbox = [
            bbox[0].min(c[0]),
            bbox[1].min(c[1]),
            bbox[2].max(c[0]),
            bbox[3].max(c[1]),
        ];
    }
    scratch.bbox = bbox;
    let check = scratch.lines.iter().any(|&(first, n)| {
        let line = &scratch.coords[first..first + n];
        line.iter().all(|c| *c == line[0])
    });
    scratch.proven = match kind {
        GeomType::Point | GeomType::MultiPoint => true,
        GeomType::LineString | GeomType::MultiLineString => !check,
        GeomType::Polygon | GeomType::MultiPolygon => {
            // One ring in all: one polygon without holes (a kept polygon has a shell).
            scratch.rings.len() == 1
                && scratch
                    .rings
                    .first()
                    .is_some_and(|&(first, n)| ring_is_simple(&scratch.coords[first..first + n]))
        }
        _ => false,
    };
    Outcome::Written { kind, fixed, check }
}

/// Longest ring [`ring_is_simple`] examines (it compares every pair of segments).
const MAX_PROOF_POINTS: usize = 256;

/// Whether a closed ring is simple — a valid polygon shell by itself: at least
/// three distinct segments once repeated consecutive points are dropped (those are
/// allowed), no two segments touching except consecutive ones at their shared
/// point, and no consecutive segments folding back onto each other. Decided with
/// exact orientation predicates, so it agrees with GEOS; `false` also for rings too
/// long to examine here (over [`MAX_PROOF_POINTS`]), which the database then checks.
pub fn ring_is_simple(ring: &[[f64; 2]]) -> bool {
    use geo::kernels::{Kernel, Orientation, RobustKernel};
    if ring.len() > MAX_PROOF_POINTS {
        return false;
    }
    let mut p: Vec<geo::Coord<f64>> = Vec::with_capacity(ring.len());
    for c in ring {
        let c = geo::Coord { x: c[0], y: c[1] };
        if p.last() != Some(&c) {
            p.push(c);
        }
    }
    let m = p.len();
    if m < 4 || p[0] != p[m - 1] {
        return false;
    }
    let orient = |a, b, c| RobustKernel::orient2d(a, b, c);
    let dot = |u: geo::Coord<f64>, v: geo::Coord<f64>| u.x * v.x + u.y * v.y;
    let on_segment = |a: geo::Coord<f64>, b: geo::Coord<f64>, c: geo::Coord<f64>| {
        a.x.min(b.x) <= c.x && c.x <= a.x.max(b.x) && a.y.min(b.y) <= c.y && c.y <= a.y.max(b.y)
    };
    let segments = m - 1;
    for i in 0..segments {
        let (a, b) = (p[i], p[i + 1]);
        for j in i + 1..segments {
            let (c, d) = (p[j], p[j + 1]);
            if j == i + 1 {
                // Consecutive, sharing b = c: d must not fold back along a→b.
                if orient(a, b, d) == Orientation::Collinear && dot(b - a, d - b) <= 0.0 {
                    return false;
                }
                continue;
            }
            if i == 0 && j == segments - 1 {
                // The closing segment c→d with d = a: b must not fold back along c→d.
                if orient(c, d, b) == Orientation::Collinear && dot(d - c, b - a) <= 0.0 {
                    return false;
                }
                continue;
            }
            // Segments whose bounding boxes are apart share no point (the
            // comparisons are exact); most pairs of a ring end here.
            if a.x.max(b.x) < c.x.min(d.x)
                || c.x.max(d.x) < a.x.min(b.x)
                || a.y.max(b.y) < c.y.min(d.y)
                || c.y.max(d.y) < a.y.min(b.y)
            {
                continue;
            }
            let (o1, o2) = (orient(a, b, c), orient(a, b, d));
            let (o3, o4) = (orient(c, d, a), orient(c, d, b));
            if o1 != o2 && o3 != o4 {
                return false;
            }
            let touches = (o1 == Orientation::Collinear && on_segment(a, b, c))
                || (o2 == Orientation::Collinear && on_segment(a, b, d))
                || (o3 == Orientation::Collinear && on_segment(c, d, a))
                || (o4 == Orientation::Collinear && on_segment(c, d, b));
            if touches {
                return false;
            }
        }
    }
    true
}

/// Wraps a top-level single-type EWKB (from [`normalise`]) into its Multi type with
/// one part.
pub fn promote_to_multi(ewkb: &[u8], out: &mut Vec<u8>) {
    let code = u32::from_le_bytes([ewkb[1], ewkb[2], ewkb[3], ewkb[4]]) & 0x0fff_ffff;
    let multi = GeomType::from_code(code).map_or(code, |k| k.multi() as u32);
    out.push(1);
    out.extend_from_slice(&(multi | EWKB_SRID_FLAG).to_le_bytes());
    out.extend_from_slice(&SRID.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.push(1);
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&ewkb[9..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crs::SourceCrs;

    fn identity() -> Transformer {
        Transformer::new(&SourceCrs::epsg(4326), false).unwrap()
    }

    fn wkb_polygon_z(rings: &[&[[f64; 3]]]) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend_from_slice(&1003u32.to_le_bytes());
        v.extend_from_slice(&(rings.len() as u32).to_le_bytes());
        for ring in rings {
            v.extend_from_slice(&(ring.len() as u32).to_le_bytes());
            for p in *ring {
                for c in p {
                    v.extend_from_slice(&c.to_le_bytes());
                }
            }
        }
        v
    }

    #[test]
    fn drops_z_and_closes_rings() {
        let wkb = wkb_polygon_z(&[&[[0.0, 0.0, 5.0], [1.0, 0.0, 5.0], [1.0, 1.0, 5.0]]]);
        let mut out = Vec::new();
        let o = normalise(&wkb, &mut identity(), &mut Scratch::default(), &mut out);
        assert_eq!(
            o,
            Outcome::Written {
                kind: GeomType::Polygon,
                fixed: true,
                check: false
            }
        );
        // header 9 + rings 4 + count 4 + 4 points * 16
        assert_eq!(out.len(), 9 + 4 + 4 + 64);
        assert_eq!(
            u32::from_le_bytes([out[1], out[2], out[3], out[4]]),
            3 | EWKB_SRID_FLAG
        );
    }

    /// Found with the `wkb` fuzz target (fuzz/regressions/wkb/): 200 000 nested
    /// GEOMETRYCOLLECTIONs (1.8 MB) overflowed the stack and killed the process.
    #[test]
    fn fuzz_regression_deep_nesting_is_invalid() {
        let deep = |n: usize| -> Vec<u8> {
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(1u8);
                v.extend_from_slice(&7u32.to_le_bytes());
                v.extend_from_slice(&1u32.to_le_bytes());
            }
            v.push(1);
            v.extend_from_slice(&1u32.to_le_bytes());
            v.extend_from_slice(&1f64.to_le_bytes());
            v.extend_from_slice(&2f64.to_le_bytes());
            v
        };
        let mut out = Vec::new();
        let mut s = Scratch::default();
        assert!(matches!(
            normalise(&deep(200_000), &mut identity(), &mut s, &mut out),
            Outcome::Invalid(m) if m.contains("nested")
        ));
        assert!(out.is_empty());
        assert!(matches!(
            normalise(&deep(5), &mut identity(), &mut s, &mut out),
            Outcome::Written {
                kind: GeomType::GeometryCollection,
                ..
            }
        ));
    }

    #[test]
    fn empty_and_degenerate() {
        let mut out = Vec::new();
        let mut s = Scratch::default();
        let empty_point: Vec<u8> = [
            vec![1u8],
            1u32.to_le_bytes().to_vec(),
            f64::NAN.to_le_bytes().to_vec(),
            f64::NAN.to_le_bytes().to_vec(),
        ]
        .concat();
        assert_eq!(
            normalise(&empty_point, &mut identity(), &mut s, &mut out),
            Outcome::Empty
        );
        let line: Vec<u8> = [
            vec![1u8],
            2u32.to_le_bytes().to_vec(),
            1u32.to_le_bytes().to_vec(),
            1f64.to_le_bytes().to_vec(),
            1f64.to_le_bytes().to_vec(),
        ]
        .concat();
        assert!(matches!(
            normalise(&line, &mut identity(), &mut s, &mut out),
            Outcome::Invalid(_)
        ));
        assert!(matches!(
            normalise(&[1, 2, 0], &mut identity(), &mut s, &mut out),
            Outcome::Invalid(_)
        ));
        assert!(out.is_empty());
    }

    fn wkb_lines(lines: &[&[[f64; 2]]]) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend_from_slice(&5u32.to_le_bytes());
        v.extend_from_slice(&(lines.len() as u32).to_le_bytes());
        for line in lines {
            v.push(1);
            v.extend_from_slice(&2u32.to_le_bytes());
            v.extend_from_slice(&(line.len() as u32).to_le_bytes());
            for p in *line {
                for c in p {
                    v.extend_from_slice(&c.to_le_bytes());
                }
            }
        }
        v
    }

    #[test]
    fn lines_need_two_distinct_points() {
        let mut s = Scratch::default();
        let mut out = Vec::new();
        // One part collapsed to a single repeated point: dropped, the rest kept.
        let wkb = wkb_lines(&[&[[1.0, 1.0], [1.0, 1.0]], &[[0.0, 0.0], [1.0, 1.0]]]);
        assert_eq!(
            normalise(&wkb, &mut identity(), &mut s, &mut out),
            Outcome::Written {
                kind: GeomType::MultiLineString,
                fixed: true,
                check: false
            }
        );
        // header 9 + count 4 + one line (header 5 + count 4 + 2 points)
        assert_eq!(out.len(), 9 + 4 + 5 + 4 + 32);
        out.clear();
        // Nothing left: unusable.
        let wkb = wkb_lines(&[&[[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]]);
        assert!(matches!(
            normalise(&wkb, &mut identity(), &mut s, &mut out),
            Outcome::Invalid(_)
        ));
        assert!(out.is_empty());
        let wkb = wkb_lines(&[&[[0.0, 0.0], [0.0, 0.0], [2.0, 0.0]]]);
        assert_eq!(
            normalise(&wkb, &mut identity(), &mut s, &mut out),
            Outcome::Written {
                kind: GeomType::MultiLineString,
                fixed: false,
                check: false
            }
        );
    }

    #[test]
    fn out_of_range_is_invalid() {
        let p: Vec<u8> = [
            vec![1u8],
            1u32.to_le_bytes().to_vec(),
            500000f64.to_le_bytes().to_vec(),
            3000000f64.to_le_bytes().to_vec(),
        ]
        .concat();
        let mut out = Vec::new();
        assert!(matches!(
            normalise(&p, &mut identity(), &mut Scratch::default(), &mut out),
            Outcome::Invalid(_)
        ));
    }

    #[test]
    fn promotes() {
        let p: Vec<u8> = [
            vec![1u8],
            1u32.to_le_bytes().to_vec(),
            1f64.to_le_bytes().to_vec(),
            2f64.to_le_bytes().to_vec(),
        ]
        .concat();
        let mut ewkb = Vec::new();
        normalise(&p, &mut identity(), &mut Scratch::default(), &mut ewkb);
        let mut multi = Vec::new();
        promote_to_multi(&ewkb, &mut multi);
        assert_eq!(multi.len(), ewkb.len() + 9);
        assert_eq!(
            u32::from_le_bytes([multi[1], multi[2], multi[3], multi[4]]),
            4 | EWKB_SRID_FLAG
        );
    }

    #[test]
    fn simple_rings_are_proven_and_others_are_not() {
        let sq = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert!(ring_is_simple(&sq));
        // Repeated consecutive points are allowed; collinear vertices too.
        let rep = [
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 0.0],
            [2.0, 0.0],
            [2.0, 1.0],
            [0.0, 0.0],
        ];
        assert!(ring_is_simple(&rep));
        // A bow tie crosses itself.
        let bowtie = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]];
        assert!(!ring_is_simple(&bowtie));
        // A spike folds back on itself.
        let spike = [
            [0.0, 0.0],
            [2.0, 0.0],
            [2.0, 1.0],
            [2.0, 3.0],
            [2.0, 2.0],
            [0.0, 2.0],
            [0.0, 0.0],
        ];
        assert!(!ring_is_simple(&spike));
        // Passing twice through one vertex (an inverted hole) is invalid as well.
        let touch = [
            [0.0, 0.0],
            [4.0, 0.0],
            [2.0, 2.0],
            [4.0, 4.0],
            [0.0, 4.0],
            [2.0, 2.0],
            [0.0, 0.0],
        ];
        assert!(!ring_is_simple(&touch));
        // A vertex lying on another edge.
        let on_edge = [
            [0.0, 0.0],
            [4.0, 0.0],
            [4.0, 4.0],
            [2.0, 0.0],
            [0.0, 4.0],
            [0.0, 0.0],
        ];
        assert!(!ring_is_simple(&on_edge));
        // Degenerate: all points on a line; too few points; not closed.
        assert!(!ring_is_simple(&[
            [0.0, 0.0],
            [1.0, 0.0],
            [2.0, 0.0],
            [0.0, 0.0]
        ]));
        assert!(!ring_is_simple(&[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]));
        assert!(!ring_is_simple(&[
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0]
        ]));
        // Too long to examine: left to the database.
        let n = MAX_PROOF_POINTS + 1;
        let circle: Vec<[f64; 2]> = (0..n)
            .map(|i| {
                let a = std::f64::consts::TAU * (i % (n - 1)) as f64 / (n - 1) as f64;
                [a.cos(), a.sin()]
            })
            .collect();
        assert!(!ring_is_simple(&circle));
        assert!(ring_is_simple(
            &circle[..0]
                .iter()
                .copied()
                .chain((0..101).map(|i| {
                    let a = std::f64::consts::TAU * (i % 100) as f64 / 100.0;
                    [a.cos(), a.sin()]
                }))
                .collect::<Vec<_>>()
        ));
    }

    #[test]
    fn normalise_marks_what_it_proved() {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        let square = wkb_polygon_z(&[&[
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 1.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0],
        ]]);
        normalise(&square, &mut identity(), &mut scratch, &mut out);
        assert!(scratch.proven());
        let bowtie = wkb_polygon_z(&[&[
            [0.0, 0.0, 0.0],
            [1.0, 1.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0],
        ]]);
        normalise(&bowtie, &mut identity(), &mut scratch, &mut out);
        assert!(!scratch.proven());
        // With a hole: not examined here.
        let holed = wkb_polygon_z(&[
            &[
                [0.0, 0.0, 0.0],
                [4.0, 0.0, 0.0],
                [4.0, 4.0, 0.0],
                [0.0, 4.0, 0.0],
                [0.0, 0.0, 0.0],
            ],
            &[
                [1.0, 1.0, 0.0],
                [2.0, 1.0, 0.0],
                [2.0, 2.0, 0.0],
                [1.0, 1.0, 0.0],
            ],
        ]);
        normalise(&holed, &mut identity(), &mut scratch, &mut out);
        assert!(!scratch.proven());
    }
}
