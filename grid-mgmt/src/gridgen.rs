//! Unit grid generation (单元网格划分) and validation (domain.md §1).
//!
//! [`generate`] divides the area of one community into unit grids:
//!
//! 1. the area (lon/lat, EPSG:4326 or 4490) is projected to a local transverse Mercator
//!    frame centred on it (`citygrid_geo::projection`), where metres are true ground metres to
//!    about 10⁻⁶ over a city district;
//! 2. square cells of `cell_size_m` (default 100 m → 10,000 m²), aligned on multiples of
//!    the cell size in that frame, are clipped to the area, row by row (geo BooleanOps);
//!    every connected piece of a clipped cell is a candidate grid;
//! 3. **slivers** — candidates smaller than `min_ratio` (default 0.5) of the nominal cell
//!    area — are merged into the neighbouring candidate they share the longest edge with
//!    (neighbours share edges only along grid lines), among the neighbours whose merged
//!    area stays within `max_ratio` (default 1.5) of the nominal area, or among all
//!    neighbours when none does. The most constrained sliver goes first (fewest such
//!    neighbours, then the largest); this repeats until no sliver with a neighbour is left.
//!    A group that still ends above `max_ratio` (its sliver had no neighbour within the
//!    limit) is cut into ⌈area / nominal⌉ slabs of equal area across its longer side. A sliver that touches no other candidate along an edge (an
//!    islet) stays a grid of its own. With the defaults every grid that has a neighbour
//!    ends between 50 % and, in practice, 150 % of the nominal area;
//! 4. grids are numbered west → east, then north → south: by the row (from the north) and
//!    column (from the west) of their largest piece, then by centroid. Sequences are 3
//!    digits per community, so more than 999 grids is an error (use a larger cell or
//!    split the community);
//! 5. geometry goes back to lon/lat and each grid gets its geodesic area in m².
//!
//! [`validate`] reports overlaps and gaps among the grid polygons of one community.
//!
//! ```
//! use geo::{polygon, MultiPolygon};
//! use citygrid_grid_mgmt::gridgen::{generate, GridOptions};
//!
//! // about 300 m × 200 m near Wuhan
//! let area = MultiPolygon(vec![polygon![
//!     (x: 114.2600, y: 30.6000), (x: 114.2631, y: 30.6000),
//!     (x: 114.2631, y: 30.6018), (x: 114.2600, y: 30.6018)]]);
//! let cells = generate(&area, &"420103".parse().unwrap(), &"001".parse().unwrap(),
//!                      &"001".parse().unwrap(), &GridOptions::default()).unwrap();
//! assert!(cells.len() >= 4 && cells.len() <= 9);
//! assert_eq!(cells[0].code.as_str(), "420103001001001");
//! assert!(cells.iter().all(|c| c.area_m2 > 5_000.0 && c.area_m2 < 15_000.0));
//! ```

use std::collections::{BTreeMap, HashMap};

use geo::orient::{Direction, Orient};
use geo::{
    Area, BooleanOps, BoundingRect, Centroid, Coord, GeodesicArea, LineString, MapCoords,
    MultiPolygon, Polygon, Rect,
};
use serde::{Deserialize, Serialize};

use crate::codes::{AdminCode, CodeError, CommunityCode, GridCode, StreetCode};
use citygrid_geo::projection::TransverseMercator;

/// Options of [`generate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridOptions {
    /// Cell side in metres (1 to 10,000; default 100).
    pub cell_size_m: f64,
    /// Candidates below this fraction of the nominal area are slivers (default 0.5).
    pub min_ratio: f64,
    /// Preferred maximum merged size as a fraction of the nominal area (default 1.5).
    pub max_ratio: f64,
}

impl Default for GridOptions {
    fn default() -> Self {
        Self {
            cell_size_m: 100.0,
            min_ratio: 0.5,
            max_ratio: 1.5,
        }
    }
}

/// One generated unit grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridCell {
    /// Its 15-digit code.
    pub code: GridCode,
    /// Geometry in lon/lat (one polygon, or several when an islet was kept apart).
    pub geometry: MultiPolygon<f64>,
    /// Geodesic ground area in m².
    pub area_m2: f64,
    /// Row of its largest piece, from the north (0-based).
    pub row: u32,
    /// Column of its largest piece, from the west (0-based).
    pub col: u32,
}

/// Why grids cannot be generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GridGenError {
    /// The area has no polygon or no area.
    #[error("the area is empty")]
    EmptyArea,
    /// A coordinate that is not a longitude/latitude.
    #[error("coordinate ({x}, {y}) is not a valid longitude/latitude")]
    BadCoordinate {
        /// x.
        x: f64,
        /// y.
        y: f64,
    },
    /// An option out of range.
    #[error("invalid option: {0}")]
    BadOption(&'static str),
    /// The area is too large for a local frame (more than 6° across).
    #[error("the area spans {0:.2}° — more than 6°; split it first")]
    TooWide(f64),
    /// More grids than a 3-digit sequence allows.
    #[error("{count} grids would be generated, but a community holds at most 999; use a larger cell size or split the community")]
    TooManyCells {
        /// How many grids.
        count: usize,
    },
    /// A code could not be built.
    #[error(transparent)]
    Code(#[from] CodeError),
}

fn check_lonlat(area: &MultiPolygon<f64>) -> Result<Rect<f64>, GridGenError> {
    use geo::CoordsIter;
    for c in area.coords_iter() {
        if !c.x.is_finite() || !c.y.is_finite() || c.x.abs() > 180.0 || c.y.abs() > 90.0 {
            return Err(GridGenError::BadCoordinate { x: c.x, y: c.y });
        }
    }
    let bbox = area.bounding_rect().ok_or(GridGenError::EmptyArea)?;
    let span = bbox.width().max(bbox.height());
    if span > 6.0 {
        return Err(GridGenError::TooWide(span));
    }
    Ok(bbox)
}

fn local_frame(bbox: Rect<f64>) -> TransverseMercator {
    let c = bbox.center();
    TransverseMercator::local(c.x, c.y)
}

fn project(tm: &TransverseMercator, g: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    g.map_coords(|c| {
        let (x, y) = tm.forward(c.x, c.y);
        Coord { x, y }
    })
}

fn unproject(tm: &TransverseMercator, g: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    g.map_coords(|c| {
        let (x, y) = tm.inverse(c.x, c.y);
        Coord { x, y }
    })
}

/// Coordinates in the local frame are kept on a 1 mm lattice: i_overlay moves vertices
/// by ~10⁻⁷ m depending on each operation's extent, so results are snapped back after
/// every operation. Edges shared by neighbouring cells then have bit-identical vertices
/// and dissolve cleanly.
fn snap(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn snap_mp(g: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    g.map_coords(|c| Coord {
        x: snap(c.x),
        y: snap(c.y),
    })
}

/// Insert into `ring` a vertex wherever an edge crosses a grid line (x or y = k·size,
/// snapped), so that clipping against cells never has to compute a crossing itself.
fn node_ring(ring: &LineString<f64>, size: f64) -> LineString<f64> {
    let gl = |k: f64| snap(k * size);
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(ring.0.len() * 2);
    for seg in ring.lines() {
        let (p, q) = (seg.start, seg.end);
        out.push(Coord {
            x: snap(p.x),
            y: snap(p.y),
        });
        let mut cuts: Vec<(f64, Coord<f64>)> = Vec::new();
        let (x0, x1) = (p.x.min(q.x), p.x.max(q.x));
        let mut k = (x0 / size).floor();
        while k * size <= x1 + size {
            let x = gl(k);
            if x > x0 && x < x1 {
                let t = (x - p.x) / (q.x - p.x);
                cuts.push((
                    t,
                    Coord {
                        x,
                        y: snap(p.y + t * (q.y - p.y)),
                    },
                ));
            }
            k += 1.0;
        }
        let (y0, y1) = (p.y.min(q.y), p.y.max(q.y));
        let mut k = (y0 / size).floor();
        while k * size <= y1 + size {
            let y = gl(k);
            if y > y0 && y < y1 {
                let t = (y - p.y) / (q.y - p.y);
                cuts.push((
                    t,
                    Coord {
                        x: snap(p.x + t * (q.x - p.x)),
                        y,
                    },
                ));
            }
            k += 1.0;
        }
        cuts.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.extend(cuts.into_iter().map(|(_, c)| c));
    }
    if let Some(&first) = out.first() {
        out.push(first);
    }
    out.dedup();
    LineString(out)
}

fn node(g: &MultiPolygon<f64>, size: f64) -> MultiPolygon<f64> {
    MultiPolygon(
        g.0.iter()
            .map(|p| {
                Polygon::new(
                    node_ring(p.exterior(), size),
                    p.interiors().iter().map(|r| node_ring(r, size)).collect(),
                )
            })
            .collect(),
    )
}

/// Union of polygons that do not overlap, in one operation (even-odd fill).
fn dissolve(polys: Vec<Polygon<f64>>) -> MultiPolygon<f64> {
    if polys.len() == 1 {
        return MultiPolygon(polys);
    }
    snap_mp(&MultiPolygon(polys).union(&MultiPolygon(Vec::new())))
}

/// Cut `g` into `k` slabs of equal area across the longer side of its bounding box.
fn split_equal(g: &MultiPolygon<f64>, k: usize) -> Vec<MultiPolygon<f64>> {
    let Some(bb) = g.bounding_rect() else {
        return vec![g.clone()];
    };
    let total = g.unsigned_area();
    let vertical = bb.width() >= bb.height();
    let (lo, hi) = if vertical {
        (bb.min().x, bb.max().x)
    } else {
        (bb.min().y, bb.max().y)
    };
    let slab = |a: f64, b: f64| {
        let r = if vertical {
            Rect::new(
                Coord {
                    x: a,
                    y: bb.min().y - 1.0,
                },
                Coord {
                    x: b,
                    y: bb.max().y + 1.0,
                },
            )
        } else {
            Rect::new(
                Coord {
                    x: bb.min().x - 1.0,
                    y: a,
                },
                Coord {
                    x: bb.max().x + 1.0,
                    y: b,
                },
            )
        };
        snap_mp(&g.intersection(&r.to_polygon()))
    };
    let mut cuts = vec![lo - 1.0];
    for i in 1..k {
        let want = total * i as f64 / k as f64;
        let (mut a, mut b) = (lo, hi);
        for _ in 0..40 {
            let m = 0.5 * (a + b);
            if slab(lo - 1.0, m).unsigned_area() < want {
                a = m;
            } else {
                b = m;
            }
        }
        cuts.push(snap(0.5 * (a + b)));
    }
    cuts.push(hi + 1.0);
    cuts.windows(2)
        .map(|w| slab(w[0], w[1]))
        .filter(|p| !p.0.is_empty())
        .collect()
}

/// A connected piece of one clipped cell, in the local frame.
struct Piece {
    row: usize,
    col: usize,
    poly: Polygon<f64>,
    area: f64,
}

/// Grid lines an edge may lie on: vertical (x = k·size) or horizontal (y = k·size).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Line {
    V(i64),
    H(i64),
}

/// The intervals of a piece's boundary that lie on grid lines.
fn grid_line_intervals(p: &Polygon<f64>, size: f64) -> HashMap<Line, Vec<(f64, f64)>> {
    let eps = size * 1e-6;
    let on = |v: f64| {
        let k = (v / size).round();
        ((v - snap(k * size)).abs() < eps).then_some(k as i64)
    };
    let mut out: HashMap<Line, Vec<(f64, f64)>> = HashMap::new();
    let rings = std::iter::once(p.exterior()).chain(p.interiors());
    for ring in rings {
        for seg in ring.lines() {
            let (a, b) = (seg.start, seg.end);
            if let (Some(k1), Some(k2)) = (on(a.x), on(b.x)) {
                if k1 == k2 && (a.y - b.y).abs() > eps {
                    out.entry(Line::V(k1))
                        .or_default()
                        .push((a.y.min(b.y), a.y.max(b.y)));
                    continue;
                }
            }
            if let (Some(k1), Some(k2)) = (on(a.y), on(b.y)) {
                if k1 == k2 && (a.x - b.x).abs() > eps {
                    out.entry(Line::H(k1))
                        .or_default()
                        .push((a.x.min(b.x), a.x.max(b.x)));
                }
            }
        }
    }
    out
}

fn overlap_length(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    let mut total = 0.0;
    for &(a0, a1) in a {
        for &(b0, b1) in b {
            let l = a1.min(b1) - a0.max(b0);
            if l > 0.0 {
                total += l;
            }
        }
    }
    total
}

fn union_all(mut parts: Vec<MultiPolygon<f64>>) -> MultiPolygon<f64> {
    if parts.is_empty() {
        return MultiPolygon(Vec::new());
    }
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len().div_ceil(2));
        let mut it = parts.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(snap_mp(&a.union(&b))),
                None => next.push(a),
            }
        }
        parts = next;
    }
    parts.pop().unwrap_or_else(|| MultiPolygon(Vec::new()))
}

/// The geodesic ground area of a lon/lat multipolygon in m², whatever the orientation of
/// its rings (exterior rings are treated as outer boundaries, interior rings as holes).
///
/// ```
/// use geo::{polygon, MultiPolygon};
/// // 0.001° × 0.001° at 30.6°N ≈ 95.8 m × 110.9 m, given clockwise
/// let sq = MultiPolygon(vec![polygon![(x: 114.0, y: 30.6), (x: 114.0, y: 30.601),
///     (x: 114.001, y: 30.601), (x: 114.001, y: 30.6)]]);
/// let a = citygrid_grid_mgmt::gridgen::ground_area(&sq);
/// assert!((a - 10_622.0).abs() < 10.0, "{a}");
/// ```
pub fn ground_area(g: &MultiPolygon<f64>) -> f64 {
    g.orient(Direction::Default).geodesic_area_unsigned()
}

/// Divide the area of one community into unit grids (see the module documentation).
pub fn generate(
    area: &MultiPolygon<f64>,
    admin: &AdminCode,
    street: &StreetCode,
    community: &CommunityCode,
    opts: &GridOptions,
) -> Result<Vec<GridCell>, GridGenError> {
    check_options(opts)?;
    let bbox = check_lonlat(area)?;
    let tm = local_frame(bbox);
    let projected = project(&tm, area);
    let cells = generate_in_frame(&projected, admin, street, community, opts)?;
    Ok(finish(&tm, cells, opts.cell_size_m))
}

/// Check the options of [`generate`].
fn check_options(opts: &GridOptions) -> Result<(), GridGenError> {
    let size = opts.cell_size_m;
    if !(1.0..=10_000.0).contains(&size) {
        return Err(GridGenError::BadOption(
            "cell_size_m must be between 1 and 10000",
        ));
    }
    if !(0.0..1.0).contains(&opts.min_ratio) {
        return Err(GridGenError::BadOption("min_ratio must be in [0, 1)"));
    }
    if !opts.max_ratio.is_finite() || opts.max_ratio < 1.0 + opts.min_ratio {
        return Err(GridGenError::BadOption(
            "max_ratio must be finite and at least 1 + min_ratio",
        ));
    }
    Ok(())
}

/// The community blocks of [`generate_communities`]: one generated community.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommunityGrids {
    /// The community's code (numbered west → east, then north → south).
    pub community: CommunityCode,
    /// The community's area in lon/lat (the part of the input area in its block).
    pub area: MultiPolygon<f64>,
    /// Its unit grids.
    pub cells: Vec<GridCell>,
}

/// Divide an area too large for one community (more than 999 grids) into communities:
/// square blocks of `block_cells` × `block_cells` cells (at most 31, so a block holds at
/// most 961 full cells) aligned on the cell lattice of one local frame, each generated
/// like [`generate`] in that same frame, so that grids of neighbouring communities share
/// their edges exactly. Communities are numbered from `first_community` west → east, then
/// north → south; blocks the area does not reach are skipped.
pub fn generate_communities(
    area: &MultiPolygon<f64>,
    admin: &AdminCode,
    street: &StreetCode,
    first_community: u16,
    block_cells: u32,
    opts: &GridOptions,
) -> Result<Vec<CommunityGrids>, GridGenError> {
    check_options(opts)?;
    if !(1..=31).contains(&block_cells) {
        return Err(GridGenError::BadOption(
            "block_cells must be between 1 and 31",
        ));
    }
    let bbox = check_lonlat(area)?;
    let tm = local_frame(bbox);
    let size = opts.cell_size_m;
    let projected = project(&tm, area);
    let lb = projected.bounding_rect().ok_or(GridGenError::EmptyArea)?;
    if (lb.width() + lb.height()) / size > 100_000.0 {
        return Err(GridGenError::BadOption(
            "cell_size_m is too small for the extent of the area (more than 100,000 rows and columns)",
        ));
    }
    let local = node(&projected, size);
    let block = size * f64::from(block_cells);
    let col0 = (lb.min().x / block).floor() as i64;
    let col1 = (lb.max().x / block).ceil() as i64;
    let top = (lb.max().y / block).ceil() as i64;
    let bottom = (lb.min().y / block).floor() as i64;
    let mut found: Vec<(CommunityCode, MultiPolygon<f64>, Vec<LocalCell>)> = Vec::new();
    let mut next = u32::from(first_community);
    for r in (bottom..top).rev() {
        for c in col0..col1 {
            let rect = Rect::new(
                Coord {
                    x: snap(c as f64 * block),
                    y: snap(r as f64 * block),
                },
                Coord {
                    x: snap((c + 1) as f64 * block),
                    y: snap((r + 1) as f64 * block),
                },
            )
            .to_polygon();
            let piece = snap_mp(&local.intersection(&rect));
            if piece.unsigned_area() <= size * size * 1e-6 {
                continue;
            }
            if next > 999 {
                return Err(GridGenError::BadOption(
                    "the area needs more than 999 communities; use a larger cell size",
                ));
            }
            let community: CommunityCode = format!("{next:03}").parse()?;
            next += 1;
            let cells = generate_in_frame(&piece, admin, street, &community, opts)?;
            found.push((community, piece, cells));
        }
    }
    if found.is_empty() {
        return Err(GridGenError::EmptyArea);
    }
    // node all grids together (neighbours across community edges too), then split again
    let counts: Vec<usize> = found.iter().map(|(_, _, cells)| cells.len()).collect();
    let all: Vec<LocalCell> = found
        .iter_mut()
        .flat_map(|(_, _, cells)| std::mem::take(cells))
        .collect();
    let mut finished = finish(&tm, all, size).into_iter();
    Ok(found
        .into_iter()
        .zip(counts)
        .map(|((community, piece, _), n)| CommunityGrids {
            area: unproject(&tm, &piece).orient(Direction::Default),
            community,
            cells: finished.by_ref().take(n).collect(),
        })
        .collect())
}

/// [`generate`] for an area already projected to a local frame (codes and local geometry;
/// [`finish`] brings them back to lon/lat).
fn generate_in_frame(
    projected: &MultiPolygon<f64>,
    admin: &AdminCode,
    street: &StreetCode,
    community: &CommunityCode,
    opts: &GridOptions,
) -> Result<Vec<LocalCell>, GridGenError> {
    check_options(opts)?;
    let size = opts.cell_size_m;
    let lb = projected.bounding_rect().ok_or(GridGenError::EmptyArea)?;
    let area_local = projected.unsigned_area();
    if area_local <= 0.0 {
        return Err(GridGenError::EmptyArea);
    }
    let nominal = size * size;
    // every grid holds at least min_ratio of a cell unless it is an islet; refuse early
    // when the area alone needs far more than 999
    let estimate = area_local / nominal;
    if estimate > 2_000.0 {
        return Err(GridGenError::TooManyCells {
            count: estimate.round() as usize,
        });
    }
    if (lb.width() + lb.height()) / size > 100_000.0 {
        return Err(GridGenError::BadOption(
            "cell_size_m is too small for the extent of the area (more than 100,000 rows and columns)",
        ));
    }
    let local = node(projected, size);
    // column k spans [k·size, (k+1)·size]; row r spans [(top−r−1)·size, (top−r)·size]
    let col0 = (lb.min().x / size).floor() as i64;
    let col1 = (lb.max().x / size).ceil() as i64;
    let top = (lb.max().y / size).ceil() as i64;
    let bottom = (lb.min().y / size).floor() as i64;
    let (ncols, nrows) = ((col1 - col0) as usize, (top - bottom) as usize);

    // 1. clip, row by row
    let mut pieces: Vec<Piece> = Vec::new();
    let margin = size;
    let gl = |k: i64| snap(k as f64 * size);
    for r in 0..nrows {
        let y1 = gl(top - r as i64);
        let y0 = gl(top - r as i64 - 1);
        let strip = Rect::new(
            Coord {
                x: lb.min().x - margin,
                y: y0,
            },
            Coord {
                x: lb.max().x + margin,
                y: y1,
            },
        )
        .to_polygon();
        let strip_area = snap_mp(&local.intersection(&strip));
        let Some(sb) = strip_area.bounding_rect() else {
            continue;
        };
        let c_from = (((sb.min().x / size).floor() as i64) - col0).max(0) as usize;
        let c_to = ((((sb.max().x / size).ceil() as i64) - col0) as usize).min(ncols);
        for c in c_from..c_to {
            let (x0, x1) = (gl(col0 + c as i64), gl(col0 + c as i64 + 1));
            let cell = Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }).to_polygon();
            for poly in snap_mp(&strip_area.intersection(&cell)) {
                let a = poly.unsigned_area();
                if a > nominal * 1e-9 {
                    pieces.push(Piece {
                        row: r,
                        col: c,
                        poly,
                        area: a,
                    });
                }
            }
        }
    }
    if pieces.is_empty() {
        return Err(GridGenError::EmptyArea);
    }

    // 2. adjacency between pieces of edge-neighbouring cells, by shared edge length
    let mut by_cell: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for (i, p) in pieces.iter().enumerate() {
        by_cell.entry((p.row, p.col)).or_default().push(i);
    }
    let intervals: Vec<_> = pieces
        .iter()
        .map(|p| grid_line_intervals(&p.poly, size))
        .collect();
    let mut adj: Vec<BTreeMap<usize, f64>> = vec![BTreeMap::new(); pieces.len()];
    for (i, p) in pieces.iter().enumerate() {
        // east neighbour shares the vertical line of column c+1; south neighbour shares
        // the horizontal line at the bottom of row r
        let east = ((p.row, p.col + 1), Line::V(col0 + p.col as i64 + 1));
        let south = ((p.row + 1, p.col), Line::H(top - p.row as i64 - 1));
        for (cell, line) in [east, south] {
            let Some(mine) = intervals[i].get(&line) else {
                continue;
            };
            for &j in by_cell.get(&cell).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(theirs) = intervals[j].get(&line) {
                    let l = overlap_length(mine, theirs);
                    if l > size * 1e-6 {
                        adj[i].insert(j, l);
                        adj[j].insert(i, l);
                    }
                }
            }
        }
    }

    // 3. merge slivers into neighbours
    let mut group_of: Vec<usize> = (0..pieces.len()).collect();
    let mut members: Vec<Vec<usize>> = (0..pieces.len()).map(|i| vec![i]).collect();
    let mut area: Vec<f64> = pieces.iter().map(|p| p.area).collect();
    let mut alive: Vec<bool> = vec![true; pieces.len()];
    loop {
        // most constrained first: the sliver with the fewest neighbours it can join without
        // exceeding max_ratio, then the largest (small slivers fit anywhere)
        let limit = opts.max_ratio * nominal;
        let feasible = |g: usize| {
            adj[g]
                .keys()
                .filter(|&&n| area[n] + area[g] <= limit)
                .count()
        };
        let sliver = (0..pieces.len())
            .filter(|&g| alive[g] && area[g] < opts.min_ratio * nominal && !adj[g].is_empty())
            .min_by(|&a, &b| {
                feasible(a)
                    .cmp(&feasible(b))
                    .then(area[b].total_cmp(&area[a]))
                    .then(a.cmp(&b))
            });
        let Some(s) = sliver else { break };
        let best = |within: bool| {
            adj[s]
                .iter()
                .filter(|(&n, _)| !within || area[n] + area[s] <= limit)
                .max_by(|(&n1, l1), (&n2, l2)| {
                    l1.total_cmp(l2)
                        .then(area[n2].total_cmp(&area[n1]))
                        .then(n2.cmp(&n1))
                })
                .map(|(&n, _)| n)
        };
        let Some(target) = best(true).or_else(|| best(false)) else {
            break;
        };
        // merge s into target
        let moved = std::mem::take(&mut members[s]);
        for &m in &moved {
            group_of[m] = target;
        }
        members[target].extend(moved);
        area[target] += area[s];
        alive[s] = false;
        let links = std::mem::take(&mut adj[s]);
        for (n, l) in links {
            adj[n].remove(&s);
            if n != target {
                *adj[target].entry(n).or_insert(0.0) += l;
                *adj[n].entry(target).or_insert(0.0) += l;
            }
        }
    }

    // 4. order and number
    struct Group {
        row: usize,
        col: usize,
        cx: f64,
        cy: f64,
        geom: MultiPolygon<f64>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for g in (0..pieces.len()).filter(|&g| alive[g]) {
        let main = members[g]
            .iter()
            .copied()
            .max_by(|&a, &b| pieces[a].area.total_cmp(&pieces[b].area))
            .unwrap_or(g);
        let geom = dissolve(members[g].iter().map(|&m| pieces[m].poly.clone()).collect());
        // a sliver that found no neighbour within max_ratio made its group too big: cut
        // the group into ⌈area / nominal⌉ equal slabs (each then 60–100 % of nominal)
        let parts = if area[g] > opts.max_ratio * nominal && members[g].len() > 1 {
            split_equal(&geom, (area[g] / nominal).ceil() as usize)
        } else {
            vec![geom]
        };
        for geom in parts {
            let c = geom.centroid().map(|p| p.0).unwrap_or_default();
            groups.push(Group {
                row: pieces[main].row,
                col: pieces[main].col,
                cx: c.x,
                cy: c.y,
                geom,
            });
        }
    }
    if groups.len() > 999 {
        return Err(GridGenError::TooManyCells {
            count: groups.len(),
        });
    }
    groups.sort_by(|a, b| {
        (a.row, a.col)
            .cmp(&(b.row, b.col))
            .then(b.cy.total_cmp(&a.cy))
            .then(a.cx.total_cmp(&b.cx))
    });

    // 5. codes (geometry stays in the local frame until [`finish`])
    groups
        .into_iter()
        .zip(1u16..)
        .map(|(g, seq)| {
            Ok(LocalCell {
                code: GridCode::new(admin, street, community, seq)?,
                geom: g.geom,
                row: g.row as u32,
                col: g.col as u32,
            })
        })
        .collect()
}

/// A generated grid still in the local frame.
struct LocalCell {
    code: GridCode,
    geom: MultiPolygon<f64>,
    row: u32,
    col: u32,
}

/// Nodes the cells against each other (see [`node_shared`]) and brings them back to
/// lon/lat with their ground areas.
fn finish(tm: &TransverseMercator, mut cells: Vec<LocalCell>, size: f64) -> Vec<GridCell> {
    let mut geoms: Vec<MultiPolygon<f64>> = cells
        .iter_mut()
        .map(|c| std::mem::replace(&mut c.geom, MultiPolygon(Vec::new())))
        .collect();
    node_shared(&mut geoms, size);
    cells
        .into_iter()
        .zip(geoms)
        .map(|(c, g)| {
            let geometry = unproject(tm, &g).orient(Direction::Default);
            GridCell {
                code: c.code,
                area_m2: ground_area(&geometry),
                geometry,
                row: c.row,
                col: c.col,
            }
        })
        .collect()
}

/// Inserts into every ring each vertex of the other polygons that lies on one of its
/// edges (a T-junction), so that neighbours share identical vertex lists along their
/// common edges. Without it, a straight edge of the local frame and the same edge split
/// at a neighbour's vertex map to slightly different lines in lon/lat (the projection is
/// not linear), leaving sub-millimetre overlaps and gaps that `ST_Overlaps` reports.
fn node_shared(polys: &mut [MultiPolygon<f64>], size: f64) {
    const TOL: f64 = 1e-4;
    let key = |c: &Coord<f64>| ((c.x / size).floor() as i64, (c.y / size).floor() as i64);
    let mut buckets: HashMap<(i64, i64), Vec<Coord<f64>>> = HashMap::new();
    for p in polys.iter() {
        for poly in &p.0 {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for c in &ring.0 {
                    buckets.entry(key(c)).or_default().push(*c);
                }
            }
        }
    }
    for v in buckets.values_mut() {
        v.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
        v.dedup();
    }
    let node_ring = |ring: &LineString<f64>| -> LineString<f64> {
        let mut out: Vec<Coord<f64>> = Vec::with_capacity(ring.0.len());
        for seg in ring.lines() {
            let (p, q) = (seg.start, seg.end);
            out.push(p);
            let (dx, dy) = (q.x - p.x, q.y - p.y);
            let len2 = dx * dx + dy * dy;
            if len2 <= 0.0 {
                continue;
            }
            let len = len2.sqrt();
            let (k0, k1) = (
                key(&Coord {
                    x: p.x.min(q.x) - TOL,
                    y: p.y.min(q.y) - TOL,
                }),
                key(&Coord {
                    x: p.x.max(q.x) + TOL,
                    y: p.y.max(q.y) + TOL,
                }),
            );
            let mut cuts: Vec<(f64, Coord<f64>)> = Vec::new();
            for i in k0.0..=k1.0 {
                for j in k0.1..=k1.1 {
                    for c in buckets.get(&(i, j)).map(Vec::as_slice).unwrap_or(&[]) {
                        if *c == p || *c == q {
                            continue;
                        }
                        let t = ((c.x - p.x) * dx + (c.y - p.y) * dy) / len2;
                        if t * len <= TOL || (1.0 - t) * len <= TOL {
                            continue;
                        }
                        let dist = ((c.x - p.x) * dy - (c.y - p.y) * dx).abs() / len;
                        if dist < TOL {
                            cuts.push((t, *c));
                        }
                    }
                }
            }
            cuts.sort_by(|a, b| a.0.total_cmp(&b.0));
            out.extend(cuts.into_iter().map(|(_, c)| c));
        }
        if let Some(&first) = out.first() {
            out.push(first);
        }
        out.dedup();
        LineString(out)
    };
    for p in polys.iter_mut() {
        for poly in p.0.iter_mut() {
            *poly = Polygon::new(
                node_ring(poly.exterior()),
                poly.interiors().iter().map(&node_ring).collect(),
            );
        }
    }
}

/// Two grids that overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    /// Id of the first grid.
    pub a: String,
    /// Id of the second grid.
    pub b: String,
    /// Overlap area in m².
    pub area_m2: f64,
}

/// A gap: area inside the community (or a hole among the grids) covered by no grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// The gap in lon/lat.
    pub geometry: Polygon<f64>,
    /// Its area in m².
    pub area_m2: f64,
}

/// The result of [`validate`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Overlapping pairs.
    pub overlaps: Vec<Overlap>,
    /// Gaps.
    pub gaps: Vec<Gap>,
}

impl ValidationReport {
    /// Neither overlaps nor gaps.
    pub fn is_clean(&self) -> bool {
        self.overlaps.is_empty() && self.gaps.is_empty()
    }
}

/// Slivers thinner than this (2·area / perimeter, in metres) are numerical noise of
/// coordinate round-trips, not real overlaps or gaps.
pub const MIN_SLIVER_WIDTH_M: f64 = 0.01;

fn thickness(g: &MultiPolygon<f64>) -> f64 {
    use geo::{Euclidean, Length};
    let perimeter: f64 =
        g.0.iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .map(|r| r.length::<Euclidean>())
            .sum();
    if perimeter > 0.0 {
        2.0 * g.unsigned_area() / perimeter
    } else {
        0.0
    }
}

/// Check the grids of one community (`(id, geometry)` in lon/lat) for overlaps and gaps
/// larger than `tolerance_m2` and wider than [`MIN_SLIVER_WIDTH_M`]. Gaps are measured against `boundary` (the community's
/// area) when given, else they are the holes enclosed by the union of the grids.
/// Areas are measured in a local transverse Mercator frame (true ground m²).
pub fn validate(
    cells: &[(&str, &MultiPolygon<f64>)],
    boundary: Option<&MultiPolygon<f64>>,
    tolerance_m2: f64,
) -> Result<ValidationReport, GridGenError> {
    let mut all = MultiPolygon(Vec::new());
    for (_, g) in cells {
        all.0.extend(g.0.iter().cloned());
    }
    if let Some(b) = boundary {
        all.0.extend(b.0.iter().cloned());
    }
    if all.0.is_empty() {
        return Ok(ValidationReport::default());
    }
    let tm = local_frame(check_lonlat(&all)?);
    type Local<'a> = (&'a str, MultiPolygon<f64>, Option<Rect<f64>>);
    let local: Vec<Local<'_>> = cells
        .iter()
        .map(|(id, g)| {
            let p = snap_mp(&project(&tm, g));
            let bb = p.bounding_rect();
            (*id, p, bb)
        })
        .collect();
    let mut report = ValidationReport::default();
    for i in 0..local.len() {
        for j in i + 1..local.len() {
            let (Some(a), Some(b)) = (local[i].2, local[j].2) else {
                continue;
            };
            if a.max().x <= b.min().x
                || b.max().x <= a.min().x
                || a.max().y <= b.min().y
                || b.max().y <= a.min().y
            {
                continue;
            }
            let inter = local[i].1.intersection(&local[j].1);
            let ov = inter.unsigned_area();
            if ov > tolerance_m2 && thickness(&inter) > MIN_SLIVER_WIDTH_M {
                report.overlaps.push(Overlap {
                    a: local[i].0.to_owned(),
                    b: local[j].0.to_owned(),
                    area_m2: ov,
                });
            }
        }
    }
    // without overlaps one even-odd operation dissolves everything exactly; with
    // overlaps, union pairwise (even-odd would cancel the overlapping parts)
    let union = if report.overlaps.is_empty() {
        dissolve(
            local
                .iter()
                .flat_map(|(_, g, _)| g.0.iter().cloned())
                .collect(),
        )
    } else {
        union_all(local.iter().map(|(_, g, _)| g.clone()).collect())
    };
    let gaps: Vec<Polygon<f64>> = match boundary {
        Some(b) => snap_mp(&snap_mp(&project(&tm, b)).difference(&union)).0,
        None => union
            .0
            .iter()
            .flat_map(|p| {
                p.interiors()
                    .iter()
                    .map(|r| Polygon::new(r.clone(), vec![]))
            })
            .collect(),
    };
    for g in gaps {
        let a = g.unsigned_area();
        if a > tolerance_m2 && thickness(&MultiPolygon(vec![g.clone()])) > MIN_SLIVER_WIDTH_M {
            let ll = unproject(&tm, &MultiPolygon(vec![g]));
            if let Some(geometry) = ll.0.into_iter().next() {
                report.gaps.push(Gap {
                    geometry,
                    area_m2: a,
                });
            }
        }
    }
    Ok(report)
}

/// A closed ring helper for tests and callers: `LineString` from `(x, y)` pairs.
pub fn ring(coords: &[(f64, f64)]) -> LineString<f64> {
    LineString::from(coords.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn codes() -> (AdminCode, StreetCode, CommunityCode) {
        (
            "420103".parse().unwrap(),
            "002".parse().unwrap(),
            "003".parse().unwrap(),
        )
    }

    /// An L-shaped area (≈ 1.2 km × 0.9 km minus a corner) with a hole (a pond), with a
    /// slanted edge so that cells get clipped.
    fn synthetic() -> MultiPolygon<f64> {
        let outer = ring(&[
            (114.250, 30.600),
            (114.2625, 30.601),
            (114.2625, 30.605),
            (114.257, 30.605),
            (114.257, 30.608),
            (114.250, 30.608),
            (114.250, 30.600),
        ]);
        let pond = ring(&[
            (114.2520, 30.6020),
            (114.2535, 30.6020),
            (114.2535, 30.6030),
            (114.2520, 30.6030),
            (114.2520, 30.6020),
        ]);
        MultiPolygon(vec![Polygon::new(outer, vec![pond])])
    }

    fn check(area: &MultiPolygon<f64>, cells: &[GridCell], nominal: f64) {
        let total: f64 = cells.iter().map(|c| c.area_m2).sum();
        let expect = ground_area(area);
        assert!(
            ((total - expect) / expect).abs() < 0.005,
            "sum {total} vs area {expect}"
        );
        for c in cells {
            assert!(
                c.area_m2 > 0.5 * nominal && c.area_m2 < 1.5 * nominal,
                "{} has {} m²",
                c.code,
                c.area_m2
            );
            assert_eq!(c.geometry.0.len(), 1, "{} is not one polygon", c.code);
        }
        let mut seen: Vec<&str> = cells.iter().map(|c| c.code.as_str()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), cells.len(), "codes are unique");
        for (i, c) in cells.iter().enumerate() {
            assert_eq!(usize::from(c.code.sequence()), i + 1);
            let again: GridCode = c.code.as_str().parse().unwrap();
            assert_eq!(again, c.code);
        }
        let ids: Vec<String> = cells.iter().map(|c| c.code.to_string()).collect();
        let pairs: Vec<(&str, &MultiPolygon<f64>)> = ids
            .iter()
            .map(String::as_str)
            .zip(cells.iter().map(|c| &c.geometry))
            .collect();
        let report = validate(&pairs, Some(area), 1.0).unwrap();
        assert!(report.is_clean(), "{:?}", report);
    }

    #[test]
    fn synthetic_area_with_a_hole() {
        let area = synthetic();
        let (a, s, c) = codes();
        let cells = generate(&area, &a, &s, &c, &GridOptions::default()).unwrap();
        check(&area, &cells, 10_000.0);
        // about 0.92 km² → roughly 90 grids
        assert!((70..=110).contains(&cells.len()), "{}", cells.len());
        // numbering: rows from the north, west to east within a row
        for w in cells.windows(2) {
            assert!((w[0].row, w[0].col) <= (w[1].row, w[1].col));
        }
        let first = cells[0].geometry.centroid().unwrap();
        let last = cells.last().unwrap().geometry.centroid().unwrap();
        assert!(first.y() > last.y());
        assert_eq!(cells[0].code.as_str(), "420103002003001");
        // the pond is not covered: no grid contains its centre
        use geo::Contains;
        let pond_centre = geo::Point::new(114.25275, 30.6025);
        assert!(!cells.iter().any(|c| c.geometry.contains(&pond_centre)));
    }

    #[test]
    fn larger_cells_and_lenient_ratio() {
        let area = synthetic();
        let (a, s, c) = codes();
        let opts = GridOptions {
            cell_size_m: 200.0,
            ..GridOptions::default()
        };
        let cells = generate(&area, &a, &s, &c, &opts).unwrap();
        check(&area, &cells, 40_000.0);
        // with min_ratio 0 nothing is merged: more, smaller grids covering the same area
        let raw = generate(
            &area,
            &a,
            &s,
            &c,
            &GridOptions {
                min_ratio: 0.0,
                max_ratio: 1.5,
                ..opts
            },
        )
        .unwrap();
        assert!(raw.len() > cells.len());
        let t1: f64 = cells.iter().map(|c| c.area_m2).sum();
        let t2: f64 = raw.iter().map(|c| c.area_m2).sum();
        assert!((t1 - t2).abs() / t1 < 1e-6);
    }

    #[test]
    fn errors() {
        let (a, s, c) = codes();
        let o = GridOptions::default();
        assert_eq!(
            generate(&MultiPolygon(vec![]), &a, &s, &c, &o).unwrap_err(),
            GridGenError::EmptyArea
        );
        let bad = MultiPolygon(vec![
            polygon![(x: 200.0, y: 0.0), (x: 201.0, y: 0.0), (x: 201.0, y: 1.0)],
        ]);
        assert!(matches!(
            generate(&bad, &a, &s, &c, &o),
            Err(GridGenError::BadCoordinate { .. })
        ));
        let nan = MultiPolygon(vec![
            polygon![(x: f64::NAN, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)],
        ]);
        assert!(matches!(
            generate(&nan, &a, &s, &c, &o),
            Err(GridGenError::BadCoordinate { .. })
        ));
        let wide = MultiPolygon(vec![
            polygon![(x: 100.0, y: 30.0), (x: 110.0, y: 30.0), (x: 110.0, y: 31.0)],
        ]);
        assert!(matches!(
            generate(&wide, &a, &s, &c, &o),
            Err(GridGenError::TooWide(_))
        ));
        let zero = GridOptions {
            cell_size_m: 0.0,
            ..o
        };
        assert!(matches!(
            generate(&synthetic(), &a, &s, &c, &zero),
            Err(GridGenError::BadOption(_))
        ));
        let nan_opt = GridOptions {
            cell_size_m: f64::NAN,
            ..o
        };
        assert!(matches!(
            generate(&synthetic(), &a, &s, &c, &nan_opt),
            Err(GridGenError::BadOption(_))
        ));
        // 0.92 km² in 25 m cells ≈ 1,470 grids > 999
        let small = GridOptions {
            cell_size_m: 25.0,
            ..o
        };
        let e = generate(&synthetic(), &a, &s, &c, &small).unwrap_err();
        assert!(
            matches!(e, GridGenError::TooManyCells { count } if count > 999),
            "{e}"
        );
        // a degenerate (zero-area) polygon
        let line = MultiPolygon(vec![
            polygon![(x: 114.0, y: 30.0), (x: 114.1, y: 30.0), (x: 114.0, y: 30.0)],
        ]);
        assert_eq!(
            generate(&line, &a, &s, &c, &o).unwrap_err(),
            GridGenError::EmptyArea
        );
    }

    #[test]
    fn validate_finds_overlaps_and_gaps() {
        let sq = |x0: f64, y0: f64, d: f64| {
            MultiPolygon(vec![Polygon::new(
                ring(&[
                    (x0, y0),
                    (x0 + d, y0),
                    (x0 + d, y0 + d),
                    (x0, y0 + d),
                    (x0, y0),
                ]),
                vec![],
            )])
        };
        let d = 0.001; // ≈ 96 m × 111 m at 30.6°N
        let a = sq(114.0, 30.6, d);
        let b = sq(114.0 + d * 0.9, 30.6, d); // overlaps a by 10 %
        let c = sq(114.0, 30.6 + d, d);
        let cells = [("a", &a), ("b", &b), ("c", &c)];
        let boundary = sq(114.0, 30.6, 2.0 * d);
        let r = validate(&cells, Some(&boundary), 1.0).unwrap();
        assert_eq!(r.overlaps.len(), 1);
        assert_eq!(
            (r.overlaps[0].a.as_str(), r.overlaps[0].b.as_str()),
            ("a", "b")
        );
        // overlap ≈ 0.1 × 96 m × 111 m ≈ 1,070 m²
        assert!(
            (r.overlaps[0].area_m2 - 1070.0).abs() < 30.0,
            "{}",
            r.overlaps[0].area_m2
        );
        // b covers x ∈ [0.9d, 1.9d] of the south row only, so the gaps are the north-east
        // square (x, y ∈ [d, 2d]) and the strip x ∈ [1.9d, 2d] of the south row: 1.1 cells.
        let total: f64 = r.gaps.iter().map(|g| g.area_m2).sum();
        let cell = 96.0 * 111.0;
        assert!((total - 1.1 * cell).abs() < 0.03 * cell, "{total}");
        // a ring of grids around a missing middle one: the hole is a gap without boundary
        let mut ring_cells = Vec::new();
        for i in 0..3 {
            for j in 0..3 {
                if (i, j) != (1, 1) {
                    ring_cells.push(sq(114.0 + i as f64 * d, 30.6 + j as f64 * d, d));
                }
            }
        }
        let ids: Vec<String> = (0..8).map(|i| i.to_string()).collect();
        let pairs: Vec<(&str, &MultiPolygon<f64>)> = ids
            .iter()
            .map(String::as_str)
            .zip(ring_cells.iter())
            .collect();
        let r = validate(&pairs, None, 1.0).unwrap();
        assert!(r.overlaps.is_empty());
        assert_eq!(r.gaps.len(), 1);
        assert!((r.gaps[0].area_m2 - cell).abs() < 0.03 * cell);
    }

    #[test]
    fn large_area_is_split_into_communities_sharing_exact_edges() {
        // about 1.9 km × 1.3 km: with 300 m blocks (3 × 3 cells of 100 m) many communities
        let area = MultiPolygon(vec![Polygon::new(
            ring(&[
                (114.2600, 30.6000),
                (114.2800, 30.6010),
                (114.2790, 30.6120),
                (114.2610, 30.6110),
                (114.2600, 30.6000),
            ]),
            vec![],
        )]);
        let (a, s, _) = codes();
        let out = generate_communities(&area, &a, &s, 1, 3, &GridOptions::default()).unwrap();
        assert!(out.len() > 20, "{} communities", out.len());
        assert_eq!(out[0].community.as_str(), "001");
        let total: f64 = out.iter().flat_map(|c| &c.cells).map(|c| c.area_m2).sum();
        let expect = ground_area(&area);
        assert!(
            ((total - expect) / expect).abs() < 0.005,
            "{total} vs {expect}"
        );
        // every vertex of a grid that lies on another grid's edge is a vertex of that
        // edge too (no T-junctions), across community borders as well
        let all: Vec<&MultiPolygon<f64>> = out
            .iter()
            .flat_map(|c| c.cells.iter().map(|g| &g.geometry))
            .collect();
        let ids: Vec<String> = (0..all.len()).map(|i| i.to_string()).collect();
        let pairs: Vec<(&str, &MultiPolygon<f64>)> = ids
            .iter()
            .map(String::as_str)
            .zip(all.iter().copied())
            .collect();
        let report = validate(&pairs, Some(&area), 0.01).unwrap();
        assert!(report.overlaps.is_empty(), "{:?}", report.overlaps);
        assert!(generate_communities(&area, &a, &s, 1, 40, &GridOptions::default()).is_err());
    }
}
