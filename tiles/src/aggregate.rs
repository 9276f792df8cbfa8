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
//! the points ([`crate::mvt::point_cells`] offers cells only then; the tests compare
//! both). The projection is the encoder's (`mvt::prepare::Frame::global`), written
//! out here so that this module depends on no other of the crate.
//!
//! **When and how much.** Built when a layer of at least [`MIN_POINTS`] single points
//! is indexed: zoom 0 upwards while a zoom has at most half as many cells as points
//! (deeper, a cell holds about one point and its tiles are small anyway) and all
//! zooms together at most one cell per point, up to [`MAX_ZOOM`]. A cell is about
//! 40 bytes with the map's overhead, so the aggregates add at most about that per
//! point (the layer's features take ~400). **Kept exact on change**: a patched point
//! leaves its old cells and joins its new ones (where it stays in its cell, only the
//! cell's sums change); when a cell's representative leaves it, the smallest id
//! among the points still in the cell is found through the layer's R-tree. A patch
//! that makes the layer other than single points drops them.

use std::collections::HashMap;

use citygrid_geo::tms::{tiles_per_axis, Bbox, TileCoord, MERC_HALF_WORLD_M};
use foldhash::fast::FixedState;
use geo::Coord;

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
pub struct Agg {
    /// Points in the cell.
    pub count: u32,
    /// Sum of their floored global x (tile units at the cell's zoom).
    pub sx: i64,
    /// Sum of their floored global y.
    pub sy: i64,
    /// The smallest id among them.
    pub rep: i64,
}

type Cells = HashMap<(i32, i32), Agg, FixedState>;

/// Coordinates are clamped to ± this many tile units (as the encoder does).
const CLAMP_UNITS: f64 = 1.0e15;

/// The aggregates of one point layer, zoom by zoom (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct PointAggregates {
    zooms: Vec<Cells>,
}

/// Global tile units per Web Mercator metre at zoom `z` and [`EXTENT`], computed as
/// the encoder's frame computes it.
#[derive(Debug, Clone, Copy)]
struct Frame {
    scale: f64,
}

fn frame(z: u8) -> Option<Frame> {
    (z <= MAX_ZOOM).then(|| Frame {
        scale: tiles_per_axis(z) * f64::from(EXTENT) / (2.0 * MERC_HALF_WORLD_M),
    })
}

/// The cell and floored global position of `point` (Web Mercator; `None` for a
/// feature that is not a single point) at `frame`'s zoom, if it is finite (placed as
/// the encoder places it).
fn place(frame: &Frame, point: Option<Coord<f64>>) -> Option<(i32, i32, i64, i64)> {
    let p = point?;
    if !(p.x.is_finite() && p.y.is_finite()) {
        return None;
    }
    let g = [
        ((p.x + MERC_HALF_WORLD_M) * frame.scale).clamp(-CLAMP_UNITS, CLAMP_UNITS),
        ((MERC_HALF_WORLD_M - p.y) * frame.scale).clamp(-CLAMP_UNITS, CLAMP_UNITS),
    ];
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

/// Takes point `id` at `place` out of its cell of zoom `frame` (the cell goes with
/// its last point); when it was the representative, the smallest id among the points
/// `points_in` still finds in the cell takes its place. `false` when the point was
/// not counted there.
fn leave(
    cells: &mut Cells,
    frame: &Frame,
    (kx, ky, fx, fy): (i32, i32, i64, i64),
    id: i64,
    points_in: &impl Fn(&Bbox) -> Vec<(i64, Option<Coord<f64>>)>,
) -> bool {
    let Some(a) = cells.get_mut(&(kx, ky)) else {
        return false;
    };
    if a.count <= 1 {
        cells.remove(&(kx, ky));
        return true;
    }
    a.count -= 1;
    a.sx -= fx;
    a.sy -= fy;
    if a.rep == id {
        let rep = points_in(&cell_bbox(frame, kx, ky))
            .into_iter()
            .filter(|(_, g)| place(frame, *g).is_some_and(|(x, y, _, _)| (x, y) == (kx, ky)))
            .map(|(id, _)| id)
            .min();
        match rep {
            Some(rep) => a.rep = rep,
            None => return false,
        }
    }
    true
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
    /// The aggregates of a layer of `features` (`(id, Web Mercator position of a
    /// single point, None for another geometry)`): `None` unless they are at least
    /// [`MIN_POINTS`] single finite points.
    pub fn build(features: &[(i64, Option<Coord<f64>>)]) -> Option<PointAggregates> {
        if features.len() < MIN_POINTS {
            return None;
        }
        let mut zooms = Vec::new();
        let mut total = 0usize;
        for z in 0..=MAX_ZOOM {
            let frame = frame(z)?;
            let mut cells = Cells::default();
            for (id, geom) in features {
                join(&mut cells, place(&frame, *geom)?, *id);
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

    /// Adds point `id` at `geom` (just indexed). `false` when it is not a single
    /// finite point: the aggregates no longer describe the layer and must be dropped.
    pub fn add(&mut self, id: i64, geom: Option<Coord<f64>>) -> bool {
        for (z, cells) in self.zooms.iter_mut().enumerate() {
            let Some(place) = frame(z as u8).and_then(|fr| place(&fr, geom)) else {
                return false;
            };
            join(cells, place, id);
        }
        true
    }

    /// Removes point `id` at `geom` (just taken out of the index); `points_in` finds
    /// the points still indexed in a Web Mercator box, as `(id, geometry)` (to find a
    /// cell's new representative). `false` when it is not a single finite point or
    /// was not counted: drop the aggregates.
    pub fn remove(
        &mut self,
        id: i64,
        geom: Option<Coord<f64>>,
        points_in: impl Fn(&Bbox) -> Vec<(i64, Option<Coord<f64>>)>,
    ) -> bool {
        for (z, cells) in self.zooms.iter_mut().enumerate() {
            let Some(fr) = frame(z as u8) else {
                return false;
            };
            let Some(from) = place(&fr, geom) else {
                return false;
            };
            if !leave(cells, &fr, from, id, &points_in) {
                return false;
            }
        }
        true
    }

    /// Moves point `id` from `old` (its version just taken out of the index) to
    /// `new` (the version about to go in), `points_in` as for
    /// [`remove`](Self::remove). Where both lie in one cell only the sums change:
    /// `id` is still among the cell's points, so its representative stays, and an
    /// edit that keeps a point in its cell never searches the layer for a new one (at
    /// the lowest zooms one cell holds most of a city's points). The same cells as
    /// [`remove`](Self::remove) then [`add`](Self::add); `false` as for those.
    pub fn replace(
        &mut self,
        id: i64,
        old: Option<Coord<f64>>,
        new: Option<Coord<f64>>,
        points_in: impl Fn(&Bbox) -> Vec<(i64, Option<Coord<f64>>)>,
    ) -> bool {
        for (z, cells) in self.zooms.iter_mut().enumerate() {
            let Some(fr) = frame(z as u8) else {
                return false;
            };
            let (Some(from), Some(to)) = (place(&fr, old), place(&fr, new)) else {
                return false;
            };
            if (from.0, from.1) == (to.0, to.1) {
                let Some(a) = cells.get_mut(&(from.0, from.1)) else {
                    return false;
                };
                a.sx += to.2 - from.2;
                a.sy += to.3 - from.3;
                continue;
            }
            if !leave(cells, &fr, from, id, &points_in) {
                return false;
            }
            join(cells, to, id);
        }
        true
    }

    /// The cells of `tile` and of its buffer (`buffer` tile units, a multiple of
    /// [`CELL`]) at the tile's zoom, or `None` when that zoom is not aggregated.
    pub fn cells_of(&self, tile: TileCoord, buffer: u32) -> Option<Vec<(i64, i64, Agg)>> {
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
    use citygrid_geo::tms::lonlat_to_mercator;
    use geo::{line_string, point, Geometry};

    type Pt = (i64, Geometry<f64>);

    /// The position of a single point (as `Feature::point_merc`).
    fn pc(g: &Geometry<f64>) -> Option<Coord<f64>> {
        match g {
            Geometry::Point(p) => Some(p.0),
            _ => None,
        }
    }

    fn pt(id: i64, lon: f64, lat: f64) -> Pt {
        let c = lonlat_to_mercator(lon, lat);
        (id, Geometry::Point(point!(x: c.x, y: c.y)))
    }

    fn refs(points: &[Pt]) -> Vec<(i64, Option<Coord<f64>>)> {
        points.iter().map(|(id, g)| (*id, pc(g))).collect()
    }

    /// The points of `points` (but `except`) in a box, as the index would find them.
    fn finder<'a>(
        points: &'a [Pt],
        except: i64,
    ) -> impl Fn(&Bbox) -> Vec<(i64, Option<Coord<f64>>)> + 'a {
        move |b: &Bbox| {
            points
                .iter()
                .filter(|(id, g)| {
                    *id != except
                        && matches!(g, Geometry::Point(q) if b.contains_point(q.x(), q.y()))
                })
                .map(|(id, g)| (*id, pc(g)))
                .collect()
        }
    }

    /// `n` points spread over a few kilometres, ids shuffled against positions.
    fn cloud(n: usize) -> Vec<Pt> {
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
        let agg = PointAggregates::build(&refs(&points)).expect("enough points");
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
        for (id, g) in &points {
            let (kx, ky, _, _) = place(&fr, pc(g)).unwrap();
            let e = best.entry((kx, ky)).or_insert(*id);
            *e = (*e).min(*id);
        }
        for (k, a) in &agg.zooms[usize::from(top)] {
            assert_eq!(a.rep, best[k]);
        }
        // Too few points, or not only points: none.
        assert!(PointAggregates::build(&refs(&points[..MIN_POINTS - 1])).is_none());
        let mut mixed = points.clone();
        mixed[5].1 = Geometry::LineString(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)]);
        assert!(PointAggregates::build(&refs(&mixed)).is_none());
    }

    #[test]
    fn patches_keep_them_as_a_rebuild_makes_them() {
        let mut points = cloud(MIN_POINTS);
        let mut agg = PointAggregates::build(&refs(&points)).unwrap();
        // Move the point of the smallest id (a representative everywhere) far away,
        // remove another, add a new one.
        let first = points.iter().position(|p| p.0 == 1).unwrap();
        let old = points[first].clone();
        let before = points.clone();
        assert!(agg.remove(old.0, pc(&old.1), finder(&before, old.0)));
        points[first] = pt(1, 114.45, 30.70);
        assert!(agg.add(1, pc(&points[first].1)));
        let gone = points.pop().unwrap();
        let rest = points.clone();
        assert!(agg.remove(gone.0, pc(&gone.1), finder(&rest, gone.0)));
        let new = pt(10_000_000, 114.31, 30.56);
        assert!(agg.add(new.0, pc(&new.1)));
        points.push(new);
        let rebuilt = PointAggregates::build(&refs(&points)).unwrap();
        for (z, cells) in agg.zooms.iter().enumerate() {
            assert_eq!(cells, &rebuilt.zooms[z], "zoom {z}");
        }
        // A line makes them useless.
        let line = Geometry::LineString(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)]);
        assert!(!agg.add(5, pc(&line)));
    }

    #[test]
    fn a_point_moved_within_its_cells_searches_only_where_it_left_one() {
        let mut points = cloud(MIN_POINTS);
        let mut agg = PointAggregates::build(&refs(&points)).unwrap();
        let zooms = agg.zooms.len();
        // The smallest id, the representative of its cell at every zoom, moved some
        // 300 m: the same cell at the low zooms, another one deeper.
        let first = points.iter().position(|p| p.0 == 1).unwrap();
        let old = points[first].clone();
        let before = points.clone();
        let searches = std::cell::Cell::new(0);
        let find = finder(&before, 1);
        let counting = |b: &Bbox| {
            searches.set(searches.get() + 1);
            find(b)
        };
        let moved = pt(1, 114.30 + 0.003, 30.55 + 0.002);
        let left: usize = (0..zooms)
            .filter(|&z| {
                let fr = frame(z as u8).unwrap();
                let (a, b) = (
                    place(&fr, pc(&old.1)).unwrap(),
                    place(&fr, pc(&moved.1)).unwrap(),
                );
                (a.0, a.1) != (b.0, b.1)
            })
            .count();
        assert!(
            left > 0 && left < zooms,
            "{left} of {zooms} zooms change cell"
        );
        assert!(agg.replace(1, pc(&old.1), pc(&moved.1), counting));
        assert_eq!(
            searches.get(),
            left,
            "a search only where the point left its cell"
        );
        points[first] = moved;
        let rebuilt = PointAggregates::build(&refs(&points)).unwrap();
        for (z, cells) in agg.zooms.iter().enumerate() {
            assert_eq!(cells, &rebuilt.zooms[z], "zoom {z}");
        }
        // Moved far: every cell changes, still what a rebuild makes; a line drops them.
        let far = pt(1, 114.45, 30.70);
        let now = points.clone();
        assert!(agg.replace(1, pc(&points[first].1), pc(&far.1), finder(&now, 1)));
        points[first] = far;
        let rebuilt = PointAggregates::build(&refs(&points)).unwrap();
        for (z, cells) in agg.zooms.iter().enumerate() {
            assert_eq!(cells, &rebuilt.zooms[z], "zoom {z}");
        }
        let line = Geometry::LineString(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)]);
        assert!(!agg.replace(1, pc(&points[first].1), pc(&line), finder(&points, 1)));
    }

    #[test]
    fn a_tile_gets_its_cells_and_its_buffer_only() {
        let points = cloud(MIN_POINTS);
        let agg = PointAggregates::build(&refs(&points)).unwrap();
        let z = 10;
        let fr = frame(z).unwrap();
        let (_, _, fx, fy) = place(&fr, pc(&points[0].1)).unwrap();
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
            .filter(|(_, g)| {
                let (_, _, x, y) = place(&fr, pc(g)).unwrap();
                (lo_x..lo_x + e + 128).contains(&x) && (lo_y..lo_y + e + 128).contains(&y)
            })
            .count() as u64;
        assert_eq!(n, expected);
        assert!(agg
            .cells_of(TileCoord::new(MAX_ZOOM, 0, 0).unwrap(), 64)
            .is_none());
    }
}
