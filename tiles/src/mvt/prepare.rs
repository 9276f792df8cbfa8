//! Per-tile preparation of features: the tile frame (global and local tile units),
//! clipping to the buffered tile, the whole-feature size used by size thresholds, and
//! a stable priority hash of the id.

use geo::Coord;

use super::clip::{self, Rect, P};
use crate::geomutil::{self, PartRef};
use crate::hash::mix64;
use crate::index::FeatureRef;
use citygrid_geo::matrixset::Grid;
use citygrid_geo::tms::{tiles_per_axis, TileCoord, MERC_HALF_WORLD_M};

/// Coordinates are clamped to ±this many tile units (only absurd input gets there:
/// the world at zoom 30 with extent 65536 is 2^46 units wide).
const CLAMP_UNITS: f64 = 1.0e15;

/// Geometry of one tile: global tile units are `(world fraction) · 2^z · extent`
/// with `y` down; local units subtract the tile origin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub extent: i64,
    pub buffer: i64,
    pub ox: i64,
    pub oy: i64,
    /// Global units per Web Mercator metre (per degree in a geographic grid).
    pub scale: f64,
    /// How the tile is addressed: Web Mercator, or lon/lat degrees (the features'
    /// `geom_lonlat()` then).
    pub grid: Grid,
    /// The buffered tile in local units.
    pub rect: Rect,
}

impl Frame {
    pub(crate) fn new(tile: TileCoord, extent: u32, buffer: u32) -> Self {
        Self::in_grid(Grid::Mercator, tile, extent, buffer)
    }

    /// The frame of a tile address of `grid` (see `citygrid_geo::matrixset`).
    pub(crate) fn in_grid(grid: Grid, tile: TileCoord, extent: u32, buffer: u32) -> Self {
        let e = i64::from(extent);
        let world_units = tiles_per_axis(tile.z()) * extent as f64;
        let world_width = match grid {
            Grid::Mercator => 2.0 * MERC_HALF_WORLD_M,
            Grid::Geographic => 360.0,
        };
        Frame {
            grid,
            extent: e,
            buffer: i64::from(buffer),
            ox: i64::from(tile.x()) * e,
            oy: i64::from(tile.y()) * e,
            scale: world_units / world_width,
            rect: Rect {
                lo: -f64::from(buffer),
                hi: f64::from(extent) + f64::from(buffer),
            },
        }
    }

    /// The geometry of a feature in the grid's CRS (computed for a geographic grid).
    pub(crate) fn geometry<'a>(
        &self,
        f: FeatureRef<'a>,
    ) -> std::borrow::Cow<'a, geo::Geometry<f64>> {
        match self.grid {
            Grid::Mercator => f.geom_merc(),
            Grid::Geographic => f.geom_lonlat(),
        }
    }

    /// Web Mercator metres (lon/lat degrees in a geographic grid) to global tile
    /// units (clamped to stay finite).
    pub(crate) fn global(&self, c: Coord<f64>) -> P {
        if self.grid == Grid::Geographic {
            return [
                ((c.x + 180.0) * self.scale).clamp(-CLAMP_UNITS, CLAMP_UNITS),
                ((90.0 - c.y) * self.scale).clamp(-CLAMP_UNITS, CLAMP_UNITS),
            ];
        }
        [
            ((c.x + MERC_HALF_WORLD_M) * self.scale).clamp(-CLAMP_UNITS, CLAMP_UNITS),
            ((MERC_HALF_WORLD_M - c.y) * self.scale).clamp(-CLAMP_UNITS, CLAMP_UNITS),
        ]
    }

    /// Web Mercator metres to local tile units.
    pub(crate) fn local(&self, c: Coord<f64>) -> P {
        let g = self.global(c);
        [g[0] - self.ox as f64, g[1] - self.oy as f64]
    }

    /// True when a global position is inside the buffered tile.
    pub(crate) fn global_inside(&self, g: P) -> bool {
        self.rect
            .contains([g[0] - self.ox as f64, g[1] - self.oy as f64])
    }
}

/// Clipped geometry of one prepared feature (one MVT geometry type).
#[derive(Debug, Clone)]
pub(crate) enum PGeom {
    /// One point position in *global* units (inside the buffered tile).
    Point(P),
    /// Point positions in *global* units (inside the buffered tile), at least one.
    Points(Vec<P>),
    /// Clipped line pieces in local units.
    Lines(Vec<Vec<P>>),
    /// Clipped rings of all polygons (even-odd), local units.
    Polygons(Vec<Vec<P>>),
}

impl PGeom {
    /// True for point geometries.
    pub(crate) fn is_point(&self) -> bool {
        matches!(self, PGeom::Point(_) | PGeom::Points(_))
    }

    /// The first point position (global units), for clustering.
    pub(crate) fn first_point(&self) -> Option<P> {
        match self {
            PGeom::Point(p) => Some(*p),
            PGeom::Points(v) => v.first().copied(),
            _ => None,
        }
    }

    /// Rank used to order the parts of one feature in a layer.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            PGeom::Point(_) | PGeom::Points(_) => 0,
            PGeom::Lines(_) => 1,
            PGeom::Polygons(_) => 2,
        }
    }
}

/// A feature ready for the per-level encoding.
#[derive(Debug, Clone)]
pub(crate) struct Prepared<'a> {
    pub feature: FeatureRef<'a>,
    pub geom: PGeom,
    /// Whole-feature size in tile units at this zoom: length for lines, area for
    /// polygons, +∞ for points. Independent of the tile, so neighbours agree.
    pub size: f64,
    /// Stable pseudo-random priority from the id (lower survives longer).
    pub prio: u64,
}

/// Splits a feature by geometry type and clips it to the buffered tile. Features with
/// non-finite coordinates or nothing inside the buffered tile give nothing.
pub(crate) fn prepare<'a>(f: FeatureRef<'a>, frame: &Frame, out: &mut Vec<Prepared<'a>>) {
    let prio = mix64(f.id() as u64);
    // Fast path for the most common (and most numerous) case.
    let geom = frame.geometry(f);
    let geom = &*geom;
    if let geo::Geometry::Point(p) = geom {
        let g = frame.global(p.0);
        if p.0.x.is_finite() && p.0.y.is_finite() && frame.global_inside(g) {
            out.push(Prepared {
                feature: f,
                geom: PGeom::Point(g),
                size: f64::INFINITY,
                prio,
            });
        }
        return;
    }
    if !geomutil::all_finite(geom) {
        return;
    }
    let mut points: Vec<P> = Vec::new();
    let mut lines: Vec<Vec<P>> = Vec::new();
    let mut rings: Vec<Vec<P>> = Vec::new();
    let (mut length_m, mut area_m2) = (0.0f64, 0.0f64);
    geomutil::for_each_part(geom, &mut |part| match part {
        PartRef::Point(c) => {
            let g = frame.global(c);
            if frame.global_inside(g) {
                points.push(g);
            }
        }
        PartRef::Line(pts) => {
            length_m += pts
                .windows(2)
                .map(|w| (w[1].x - w[0].x).hypot(w[1].y - w[0].y))
                .sum::<f64>();
            let local: Vec<P> = pts.iter().map(|&c| frame.local(c)).collect();
            lines.extend(clip::clip_line(&local, &frame.rect));
        }
        PartRef::Polygon {
            exterior,
            interiors,
        } => {
            area_m2 += shoelace(exterior).abs();
            area_m2 -= interiors.iter().map(|r| shoelace(&r.0).abs()).sum::<f64>();
            let ext: Vec<P> = exterior.iter().map(|&c| frame.local(c)).collect();
            let ext = clip::clip_ring(&ext, &frame.rect);
            if ext.len() < 3 {
                return;
            }
            rings.push(ext);
            for hole in interiors {
                let h: Vec<P> = hole.0.iter().map(|&c| frame.local(c)).collect();
                let h = clip::clip_ring(&h, &frame.rect);
                if h.len() >= 3 {
                    rings.push(h);
                }
            }
        }
    });
    if !points.is_empty() {
        out.push(Prepared {
            feature: f,
            geom: PGeom::Points(points),
            size: f64::INFINITY,
            prio,
        });
    }
    if !lines.is_empty() {
        out.push(Prepared {
            feature: f,
            geom: PGeom::Lines(lines),
            size: length_m * frame.scale,
            prio,
        });
    }
    if !rings.is_empty() {
        out.push(Prepared {
            feature: f,
            geom: PGeom::Polygons(rings),
            size: area_m2.max(0.0) * frame.scale * frame.scale,
            prio,
        });
    }
}

/// Signed shoelace area of a ring (open or closed).
fn shoelace(r: &[Coord<f64>]) -> f64 {
    let n = r.len();
    if n < 3 {
        return 0.0;
    }
    // Relative to the first vertex for precision with large Mercator values.
    let o = r[0];
    let mut s = 0.0;
    for i in 0..n {
        let (a, b) = (r[i], r[(i + 1) % n]);
        s += (a.x - o.x) * (b.y - o.y) - (b.x - o.x) * (a.y - o.y);
    }
    s / 2.0
}
