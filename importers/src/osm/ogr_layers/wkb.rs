//! ISO WKB writers, little endian, 2D.

use super::rings::{Path, Pt};

fn header(out: &mut Vec<u8>, code: u32) {
    out.push(1);
    out.extend_from_slice(&code.to_le_bytes());
}

fn count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn coords(out: &mut Vec<u8>, pts: &[Pt]) {
    count(out, pts.len());
    for &(x, y) in pts {
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
    }
}

/// `INT_TO_DBL`: the driver's stored 1e-7 degree integers back to degrees.
pub(crate) fn int_to_dbl(x: i32) -> f64 {
    f64::from(x) / 1.0e7
}

/// Positions kept as 1e-7 degree integers.
pub(crate) type IntPath = [(i32, i32)];

fn int_coords(out: &mut Vec<u8>, pts: &IntPath) {
    count(out, pts.len());
    out.reserve(16 * pts.len());
    for &(x, y) in pts {
        out.extend_from_slice(&int_to_dbl(x).to_le_bytes());
        out.extend_from_slice(&int_to_dbl(y).to_le_bytes());
    }
}

/// `LINESTRING` of stored positions.
pub(crate) fn int_line(out: &mut Vec<u8>, pts: &IntPath) {
    header(out, 2);
    int_coords(out, pts);
}

/// `POLYGON` of one ring of stored positions.
fn int_polygon(out: &mut Vec<u8>, ring: &IntPath) {
    header(out, 3);
    count(out, 1);
    int_coords(out, ring);
}

/// `MULTIPOLYGON` of one polygon of one ring of stored positions.
pub(crate) fn int_single_multi_polygon(out: &mut Vec<u8>, ring: &IntPath) {
    header(out, 6);
    count(out, 1);
    int_polygon(out, ring);
}

/// `MULTILINESTRING` of stored positions.
pub(crate) fn int_multi_line(out: &mut Vec<u8>, lines: &[&IntPath]) {
    header(out, 5);
    count(out, lines.len());
    for l in lines {
        int_line(out, l);
    }
}

/// `POINT`.
pub(crate) fn point(out: &mut Vec<u8>, p: Pt) {
    header(out, 1);
    out.extend_from_slice(&p.0.to_le_bytes());
    out.extend_from_slice(&p.1.to_le_bytes());
}

/// `POLYGON`.
pub(crate) fn polygon(out: &mut Vec<u8>, rings: &[Path]) {
    header(out, 3);
    count(out, rings.len());
    for r in rings {
        coords(out, r);
    }
}

/// `MULTIPOLYGON`.
pub(crate) fn multi_polygon(out: &mut Vec<u8>, polys: &[Vec<Path>]) {
    header(out, 6);
    count(out, polys.len());
    for p in polys {
        polygon(out, p);
    }
}

/// A member of a `GEOMETRYCOLLECTION`.
pub(crate) enum Part<'a> {
    /// A node.
    Point(Pt),
    /// A way.
    Line(&'a IntPath),
    /// A closed way tagged as an area.
    Polygon(&'a IntPath),
}

/// `GEOMETRYCOLLECTION`.
pub(crate) fn collection(out: &mut Vec<u8>, parts: &[Part]) {
    header(out, 7);
    count(out, parts.len());
    for p in parts {
        match p {
            Part::Point(p) => point(out, *p),
            Part::Line(l) => int_line(out, l),
            Part::Polygon(r) => int_polygon(out, r),
        }
    }
}
