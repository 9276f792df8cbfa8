//! Precomputed per-zoom point aggregates (issue 17): for a layer of many points, the
//! points counted, per zoom, into the cells of the finest cluster grid of the size cap
//! ([`CELL`] tile units: `extent / 256` at the default extent of [`EXTENT`]), so that
//! a low-zoom tile over hundreds of thousands of points is encoded from its cells —
//! at most 264 × 264 of them — instead of from every point under it.
//!
//! A cell keeps what the encoder's clustering keeps of its members: their number, the
//! sums of their floored global tile-unit positions at that zoom, and the smallest
//! id (the cluster's representative), computed with the encoder's own projection.
//! Cells never straddle a tile or buffer border (both are multiples of [`CELL`]), so a
//! tile's clusters made from its cells are its clusters made from its points. The
//! encoder clusters at every level it tries once a tile holds more points than an
//! unclustered tile can (`max_tile_bytes / 9`, the smallest encoded feature), so from
//! there on a tile encoded from the cells is, byte for byte, the tile encoded from
//! the points ([`crate::index::LayerIndex::point_cells`] offers cells only then; the
//! tests compare both).
//!
//! **When and how much.** Built when a layer of at least [`MIN_POINTS`] single points
//! is indexed: zoom 0 upwards while a zoom has at most half as many cells as points
//! (deeper, a cell holds about one point and its tiles are small anyway) and all
//! zooms together at most one cell per point, up to [`MAX_ZOOM`]. A cell is about
//! 40 bytes with the map's overhead, so the aggregates add at most about that per
//! point (the layer's features take ~400). **Kept exact on change**: a patched point
//! leaves its old cells and joins its new ones; when a cell's representative leaves,
//! the smallest id among the points still in the cell is found through the layer's
//! R-tree. A patch that makes the layer other than single points drops them.

use std::collections::HashMap;

use citygrid_geo::tms::{Bbox, TileCoord, MERC_HALF_WORLD_M};
use foldhash::fast::FixedState;
use geo::Geometry;

use super::prepare::Frame;
use crate::index::Feature;

/// The tile extent the aggregates are made for (the encoder's default).
pub const EXTENT: u32 = 4096;
/// Cell side in tile units: the cluster cell of the size cap's first level at
/// [`EXTENT`] (`extent / 256`).
pub const CELL: i64 = 16;
/// Layers with fewer points get no aggregates.
pub const MIN_POINTS: usize = 50_000;
/// The deepest zoom aggregated.
pub const MAX_ZOOM: u8 = 16;

/// One cell: how many points, the sums of their floored global positions, the
/// smallest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agg {
    pub count: u32,
    pub sx: i64,
    pub sy: i64,
    pub rep: i64,
}

type Cells = HashMap<(i32, i32), Agg, FixedState>;

/// The aggregates of one point layer, zoom by zoom (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct PointAggregates {
    zooms: Vec<Cells>,
}

/// A tile's cells, ready for the encoder: `(kx, ky)` global cell, the cell, its
/// representative feature. Made by [`crate::index::LayerIndex::point_cells`].
#[derive(Debug, Clone)]
pub struct PointCells<'a> {
    pub(crate) cells: Vec<(i64, i64, Agg, &'a Feature)>,
    /// The points in all the cells.
    pub(crate) total: u64,
}

impl PointCells<'_> {
    /// The number of points the cells hold.
    pub fn points(&self) -> u64 {
        self.total
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// The encoder's frame of zoom `z` (its projection does not depend on the tile).
fn frame(z: u8) -> Option<Frame> {
    Some(Frame::new(TileCoord::new(z, 0, 0).ok()?, EXTENT, 0))
}

/// The cell and floored global position of `f` at `frame`'s zoom, if `f` is a single
/// finite point (as the encoder places it).
fn place(frame: &Frame, f: &Feature) -> Option<(i32, i32, i64, i64)> {
    let Geometry::Point(p) = &f.geom_merc else {
        return None;
    };
    if !(p.0.x.is_finite() && p.0.y.is_finite()) {
        return None;
    }
    let g = frame.global(p.0);
    let (fx, fy) = (g[0].floor() as i64, g[1].floor() as i64);
    let kx = i32::try_from(fx.div_euclid(CELL)).ok()?;
    let ky = i32::try_from(fy.div_euclid(CELL)).ok()?;
    Some((kx, ky, fx, fy))
}

fn join(cells: &mut Cells, (kx, ky, fx, fy): (i32, i32, i64, i64), id: i64) {
    cells
        .entry((kx, ky))
        .and_modify(|a| {
            a.count += 1;
            a.sx += fx;
            a.sy += fy;
            a.rep = a.rep.min(id);
        })
        .or_insert(Agg {
            count: 1,
            sx: fx,
            sy: fy,
            rep: id,
        });
}

/// The Web Mercator box of cell `(kx, ky)` of zoom `frame`, a little larger (the
/// points found in it are placed again to keep only the cell's own).
fn cell_bbox(frame: &Frame, kx: i32, ky: i32) -> Bbox {
    let to_x = |g: i64| g as f64 / frame.scale - MERC_HALF_WORLD_M;
    let to_y = |g: i64| MERC_HALF_WORLD_M - g as f64 / frame.scale;
    let (gx0, gy0) = (i64::from(kx) * CELL, i64::from(ky) * CELL);
    let margin = 1.0 / frame.scale;
    Bbox::new(
        to_x(gx0) - margin,
        to_y(gy0 + CELL) - margin,
        to_x(gx0 + CELL) + margin,
        to_y(gy0) + margin,
    )
}

impl PointAggregates {
    /// The aggregates of a layer of `features`: `None` unless they are at least
    /// [`MIN_POINTS`] single finite points.
    pub fn build(features: &[Feature]) -> Option<PointAggregates> {
        if features.len() < MIN_POINTS {
            return None;
        }
        let mut zooms = Vec::new();
        let mut total = 0usize;
        for z in 0..=MAX_ZOOM {
            let frame = frame(z)?;
            let mut cells = Cells::default();
            for f in features {
                join(&mut cells, place(&frame, f)?, f.id);
            }
            if z > 0 && (cells.len() > features.len() / 2 || total + cells.len() > features.len()) {
                break;
            }
            total += cells.len();
            zooms.push(cells);
        }
        Some(PointAggregates { zooms })
    }

    /// The deepest zoom aggregated.
    pub fn max_zoom(&self) -> Option<u8> {
        self.zooms
            .len()
            .checked_sub(1)
            .and_then(|z| u8::try_from(z).ok())
    }

    /// Cells over all zooms.
    pub fn cells(&self) -> usize {
        self.zooms.iter().map(HashMap::len).sum()
    }

    /// Approximate memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.zooms
            .iter()
            .map(|c| c.capacity() * (std::mem::size_of::<((i32, i32), Agg)>() + 1))
            .sum()
    }

    /// Adds point `f` (just indexed). `false` when `f` is not a single finite point:
    /// the aggregates no longer describe the layer and must be dropped.
    pub(crate) fn add(&mut self, f: &Feature) -> bool {
        for (z, cells) in self.zooms.iter_mut().enumerate() {
            let Some(place) = frame(z as u8).and_then(|fr| place(&fr, f)) else {
                return false;
            };
            join(cells, place, f.id);
        }
        true
    }

    /// Removes point `f` (just taken out of the index); `points_in` finds the points
    /// still indexed in a Web Mercator box (to find a cell's new representative).
    /// `false` when `f` is not a single finite point or was not counted: drop them.
    pub(crate) fn remove<'i>(
        &mut self,
        f: &Feature,
        points_in: impl Fn(&Bbox) -> Vec<&'i Feature>,
    ) -> bool {
        for (z, cells) in self.zooms.iter_mut().enumerate() {
            let Some(fr) = frame(z as u8) else {
                return false;
            };
            let Some((kx, ky, fx, fy)) = place(&fr, f) else {
                return false;
            };
            let Some(a) = cells.get_mut(&(kx, ky)) else {
                return false;
            };
            if a.count <= 1 {
                cells.remove(&(kx, ky));
                continue;
            }
            a.count -= 1;
            a.sx -= fx;
            a.sy -= fy;
            if a.rep == f.id {
                let rep = points_in(&cell_bbox(&fr, kx, ky))
                    .into_iter()
                    .filter(|p| place(&fr, p).is_some_and(|(x, y, _, _)| (x, y) == (kx, ky)))
                    .map(|p| p.id)
                    .min();
                match rep {
                    Some(rep) => a.rep = rep,
                    None => return false,
                }
            }
        }
        true
    }

    /// The cells of `tile` and of its buffer (`buffer` tile units, a multiple of
    /// [`CELL`]) at the tile's zoom, or `None` when that zoom is not aggregated.
    pub(crate) fn cells_of(&self, tile: TileCoord, buffer: u32) -> Option<Vec<(i64, i64, Agg)>> {
        let cells = self.zooms.get(usize::from(tile.z()))?;
        let (e, b) = (i64::from(EXTENT), i64::from(buffer));
        let (x0, y0) = (i64::from(tile.x()) * e - b, i64::from(tile.y()) * e - b);
        let (x1, y1) = (x0 + e + 2 * b, y0 + e + 2 * b);
        let (kx0, ky0) = (x0.div_euclid(CELL), y0.div_euclid(CELL));
        let (kx1, ky1) = (x1.div_euclid(CELL), y1.div_euclid(CELL));
        let inside = |kx: i64, ky: i64| kx >= kx0 && kx < kx1 && ky >= ky0 && ky < ky1;
        let area = ((kx1 - kx0) * (ky1 - ky0)).max(0) as usize;
        let mut out = Vec::new();
        if cells.len() <= area {
            for (&(kx, ky), a) in cells {
                let (kx, ky) = (i64::from(kx), i64::from(ky));
                if inside(kx, ky) {
                    out.push((kx, ky, *a));
                }
            }
        } else {
            for ky in ky0..ky1 {
                for kx in kx0..kx1 {
                    let (Ok(x), Ok(y)) = (i32::try_from(kx), i32::try_from(ky)) else {
                        continue;
                    };
                    if let Some(a) = cells.get(&(x, y)) {
                        out.push((kx, ky, *a));
                    }
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, point};

    fn pt(id: i64, lon: f64, lat: f64) -> Feature {
        Feature::from_lonlat(id, Geometry::Point(point!(x: lon, y: lat)), vec![])
    }

    /// `n` points spread over a few kilometres, ids shuffled against positions.
    fn cloud(n: usize) -> Vec<Feature> {
        (0..n)
            .map(|i| {
                let (a, b) = ((i * 7919) % 1000, (i * 104_729) % 997);
                pt(
                    ((i * 31) % n) as i64 + 1,
                    114.30 + a as f64 * 0.0001,
                    30.55 + b as f64 * 0.0001,
                )
            })
            .collect()
    }

    #[test]
    fn counts_are_kept_and_means_lie_in_their_cells() {
        let points = cloud(MIN_POINTS);
        let agg = PointAggregates::build(&points).expect("enough points");
        let top = agg.max_zoom().unwrap();
        assert!(top >= 8, "zooms 0..={top}");
        assert!(agg.cells() <= points.len(), "at most one cell per point");
        for (z, cells) in agg.zooms.iter().enumerate() {
            let n: u64 = cells.values().map(|a| u64::from(a.count)).sum();
            assert_eq!(n, points.len() as u64, "zoom {z}: every point counted once");
            for (&(kx, ky), a) in cells {
                let (mx, my) = (a.sx / i64::from(a.count), a.sy / i64::from(a.count));
                let (x0, y0) = (i64::from(kx) * CELL, i64::from(ky) * CELL);
                assert!((x0..x0 + CELL).contains(&mx) && (y0..y0 + CELL).contains(&my));
            }
        }
        // The representative is the smallest id among the cell's points.
        let fr = frame(top).unwrap();
        let mut best: HashMap<(i32, i32), i64> = HashMap::new();
        for p in &points {
            let (kx, ky, _, _) = place(&fr, p).unwrap();
            let e = best.entry((kx, ky)).or_insert(p.id);
            *e = (*e).min(p.id);
        }
        for (k, a) in &agg.zooms[usize::from(top)] {
            assert_eq!(a.rep, best[k]);
        }
        // Too few points, or not only points: none.
        assert!(PointAggregates::build(&points[..MIN_POINTS - 1]).is_none());
        let mut mixed = points.clone();
        mixed[5].geom_merc = Geometry::LineString(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)]);
        assert!(PointAggregates::build(&mixed).is_none());
    }

    #[test]
    fn patches_keep_them_as_a_rebuild_makes_them() {
        let mut points = cloud(MIN_POINTS);
        let mut agg = PointAggregates::build(&points).unwrap();
        // Move the point of the smallest id (a representative everywhere) far away,
        // remove another, add a new one.
        let first = points.iter().position(|p| p.id == 1).unwrap();
        let old = points[first].clone();
        let all = points.clone();
        let others = |b: &Bbox| -> Vec<&Feature> {
            all.iter()
                .filter(|p| p.id != old.id)
                .filter(|p| {
                    let Geometry::Point(q) = &p.geom_merc else {
                        return false;
                    };
                    b.contains_point(q.x(), q.y())
                })
                .collect()
        };
        assert!(agg.remove(&old, others));
        points[first] = pt(1, 114.45, 30.70);
        assert!(agg.add(&points[first]));
        let gone = points.pop().unwrap();
        let rest = points.clone();
        let in_rest = |b: &Bbox| -> Vec<&Feature> {
            rest.iter()
                .filter(|p| {
                    let Geometry::Point(q) = &p.geom_merc else {
                        return false;
                    };
                    b.contains_point(q.x(), q.y())
                })
                .collect()
        };
        assert!(agg.remove(&gone, in_rest));
        let new = pt(10_000_000, 114.31, 30.56);
        assert!(agg.add(&new));
        points.push(new);
        let rebuilt = PointAggregates::build(&points).unwrap();
        for (z, cells) in agg.zooms.iter().enumerate() {
            assert_eq!(cells, &rebuilt.zooms[z], "zoom {z}");
        }
        // A line makes them useless.
        let line = Feature::from_mercator(
            5,
            Geometry::LineString(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)]),
            vec![],
        );
        assert!(!agg.add(&line));
    }

    #[test]
    fn a_tile_gets_its_cells_and_its_buffer_only() {
        let points = cloud(MIN_POINTS);
        let agg = PointAggregates::build(&points).unwrap();
        let z = 10;
        let fr = frame(z).unwrap();
        let (_, _, fx, fy) = place(&fr, &points[0]).unwrap();
        let e = i64::from(EXTENT);
        let tile = TileCoord::new(z, (fx / e) as u32, (fy / e) as u32).unwrap();
        let cells = agg.cells_of(tile, 64).unwrap();
        let (lo_x, lo_y) = (i64::from(tile.x()) * e - 64, i64::from(tile.y()) * e - 64);
        let mut n = 0u64;
        for (kx, ky, a) in &cells {
            assert!(kx * CELL >= lo_x && (kx + 1) * CELL <= lo_x + e + 128);
            assert!(ky * CELL >= lo_y && (ky + 1) * CELL <= lo_y + e + 128);
            n += u64::from(a.count);
        }
        let expected = points
            .iter()
            .filter(|p| {
                let (_, _, x, y) = place(&fr, p).unwrap();
                (lo_x..lo_x + e + 128).contains(&x) && (lo_y..lo_y + e + 128).contains(&y)
            })
            .count() as u64;
        assert_eq!(n, expected);
        assert!(agg
            .cells_of(TileCoord::new(MAX_ZOOM, 0, 0).unwrap(), 64)
            .is_none());
    }
}
