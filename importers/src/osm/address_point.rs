//! The point of an OSM standard address: the node itself, or a point inside the area
//! that carries `addr:*` (a building, a parking lot …), taken from the feature's ISO
//! WKB as GDAL's OSM driver (or the native reader) gives it. Areas the extract's edge
//! cut down to slivers (a ring of two or three points) still have a place: the mean
//! of their vertices. Computed here rather than in PostGIS because such rings do not
//! parse there (non-closed ring), which would fail the whole import.

use geo::{Area, Coord, InteriorPoint, LineString, MultiPolygon, Polygon};

/// Deepest nesting of collections read.
const MAX_DEPTH: usize = 4;

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.at..self.at + N)?;
        self.at += N;
        s.try_into().ok()
    }

    fn u32(&mut self, le: bool) -> Option<u32> {
        let b = self.take::<4>()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn f64(&mut self, le: bool) -> Option<f64> {
        let b = self.take::<8>()?;
        Some(if le {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }

    fn coord(&mut self, le: bool, dims: usize) -> Option<Coord> {
        let x = self.f64(le)?;
        let y = self.f64(le)?;
        for _ in 2..dims {
            self.f64(le)?;
        }
        Some(Coord { x, y })
    }

    /// A point list: its count, then the points (the count checked against the bytes
    /// left before anything is allocated).
    fn points(&mut self, le: bool, dims: usize) -> Option<Vec<Coord>> {
        let n = self.u32(le)? as usize;
        if n > self.b.len().saturating_sub(self.at) / (8 * dims) {
            return None;
        }
        (0..n).map(|_| self.coord(le, dims)).collect()
    }
}

/// Reads one geometry: its polygons (rings) and all its vertices.
fn read(
    r: &mut Reader,
    polygons: &mut Vec<Vec<Vec<Coord>>>,
    vertices: &mut Vec<Coord>,
    depth: usize,
) -> Option<()> {
    let le = match r.take::<1>()?[0] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let code = r.u32(le)?;
    let dims = match code / 1000 {
        0 => 2,
        1 | 2 => 3,
        3 => 4,
        _ => return None,
    };
    match code % 1000 {
        1 => vertices.push(r.coord(le, dims)?),
        2 => vertices.extend(r.points(le, dims)?),
        3 => {
            let n = r.u32(le)? as usize;
            let mut rings = Vec::new();
            for _ in 0..n {
                rings.push(r.points(le, dims)?);
            }
            vertices.extend(rings.iter().flatten());
            polygons.push(rings);
        }
        4..=7 if depth < MAX_DEPTH => {
            let n = r.u32(le)?;
            for _ in 0..n {
                read(r, polygons, vertices, depth + 1)?;
            }
        }
        _ => return None,
    }
    Some(())
}

/// A usable closed ring of an area.
fn is_ring(ring: &[Coord]) -> bool {
    ring.len() >= 4 && ring.first() == ring.last()
}

/// The address point of a feature's geometry (ISO WKB, lon/lat): a point is itself;
/// an area gives a point inside it (its polygons with closed rings and an area), else
/// the mean of its vertices; a line, the mean of its vertices. `None` for WKB that
/// does not parse or holds no finite coordinate.
pub fn address_point(wkb: &[u8]) -> Option<[f64; 2]> {
    let (mut polygons, mut vertices) = (Vec::new(), Vec::new());
    read(
        &mut Reader { b: wkb, at: 0 },
        &mut polygons,
        &mut vertices,
        0,
    )?;
    let finite = |c: &Coord| c.x.is_finite() && c.y.is_finite();
    let areas: Vec<Polygon> = polygons
        .into_iter()
        .filter(|rings| rings.iter().flatten().all(finite))
        .filter_map(|rings| {
            let mut rings = rings.into_iter().filter(|r| is_ring(r));
            let exterior = LineString(rings.next()?);
            Some(Polygon::new(exterior, rings.map(LineString).collect()))
        })
        .filter(|p| p.unsigned_area() > 0.0)
        .collect();
    if !areas.is_empty() {
        if let Some(p) = MultiPolygon(areas).interior_point() {
            if p.x().is_finite() && p.y().is_finite() {
                return Some([p.x(), p.y()]);
            }
        }
    }
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
    for c in vertices.iter().filter(|c| finite(c)) {
        sx += c.x;
        sy += c.y;
        n += 1;
    }
    (n > 0).then(|| [sx / n as f64, sy / n as f64])
}

/// A 2-D point as little-endian WKB.
pub fn point_wkb(p: [f64; 2]) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    out.push(1);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&p[0].to_le_bytes());
    out.extend_from_slice(&p[1].to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polygon_wkb(rings: &[&[[f64; 2]]], multi: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if multi {
            out.push(1);
            out.extend_from_slice(&6u32.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        out.push(1);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(rings.len() as u32).to_le_bytes());
        for r in rings {
            out.extend_from_slice(&(r.len() as u32).to_le_bytes());
            for p in *r {
                out.extend_from_slice(&p[0].to_le_bytes());
                out.extend_from_slice(&p[1].to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn points_are_themselves() {
        assert_eq!(
            address_point(&point_wkb([24.95, 60.17])),
            Some([24.95, 60.17])
        );
        // big-endian, with Z
        let mut be = vec![0];
        be.extend_from_slice(&1001u32.to_be_bytes());
        for v in [1.5f64, 2.5, 9.0] {
            be.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(address_point(&be), Some([1.5, 2.5]));
    }

    #[test]
    fn an_area_gives_a_point_inside_it() {
        // an L shape: its centroid lies outside, the point must not
        let l: &[[f64; 2]] = &[
            [0.0, 0.0],
            [4.0, 0.0],
            [4.0, 1.0],
            [1.0, 1.0],
            [1.0, 4.0],
            [0.0, 4.0],
            [0.0, 0.0],
        ];
        let p = address_point(&polygon_wkb(&[l], true)).unwrap_or([9.0, 9.0]);
        let inside = (0.0..=4.0).contains(&p[0])
            && (0.0..=4.0).contains(&p[1])
            && (p[0] <= 1.0 || p[1] <= 1.0);
        assert!(inside, "{p:?}");
    }

    #[test]
    fn slivers_give_the_mean_of_their_vertices() {
        // a ring cut to two points by the extract's edge
        let sliver: &[[f64; 2]] = &[[1.0, 1.0], [3.0, 1.0]];
        assert_eq!(
            address_point(&polygon_wkb(&[sliver], true)),
            Some([2.0, 1.0])
        );
        // a closed ring without area
        let flat: &[[f64; 2]] = &[[0.0, 0.0], [2.0, 0.0], [4.0, 0.0], [0.0, 0.0]];
        assert_eq!(
            address_point(&polygon_wkb(&[flat], false)),
            Some([1.5, 0.0])
        );
    }

    #[test]
    fn bad_wkb_gives_none() {
        assert_eq!(address_point(&[]), None);
        assert_eq!(address_point(&[1, 1, 0]), None);
        assert_eq!(address_point(&[7, 1, 0, 0, 0]), None);
        // a ring claiming more points than the bytes hold
        let mut huge = vec![1];
        huge.extend_from_slice(&3u32.to_le_bytes());
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(address_point(&huge), None);
        // NaN only
        assert_eq!(address_point(&point_wkb([f64::NAN, f64::NAN])), None);
        // an empty multipolygon
        let mut empty = vec![1];
        empty.extend_from_slice(&6u32.to_le_bytes());
        empty.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(address_point(&empty), None);
    }
}
