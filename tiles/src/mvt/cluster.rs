//! Grid clustering of point features for the size cap. Cells are squares of `cell`
//! tile units aligned to the *global* tile-unit grid of the zoom (cells never straddle
//! a tile border), so neighbouring tiles compute identical clusters for the cells they
//! both show. A cell is emitted only when it lies wholly inside the buffered tile, so
//! each emitted cluster is complete (given the caller passed every feature of the
//! buffered tile).

use super::prepare::{Frame, Prepared};

/// Aggregate of one cell.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cell {
    pub count: u64,
    /// Sums of the integer (floored) global coordinates of the members.
    pub sx: i128,
    pub sy: i128,
    /// Index (into the prepared list) of the representative: smallest id, then index.
    pub rep: usize,
}

/// A dense grid of cells covering the buffered tile.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    pub cell: i64,
    /// Global cell index of column/row 0.
    pub kx0: i64,
    pub ky0: i64,
    pub nx: usize,
    pub ny: usize,
    pub cells: Vec<Cell>,
}

fn rep_better(prepared: &[Prepared<'_>], a: usize, b: usize) -> bool {
    (prepared[a].feature.id(), a) < (prepared[b].feature.id(), b)
}

impl Grid {
    fn empty(frame: &Frame, cell: i64) -> Grid {
        let kx0 = (frame.ox - frame.buffer).div_euclid(cell);
        let ky0 = (frame.oy - frame.buffer).div_euclid(cell);
        let kx1 = (frame.ox + frame.extent + frame.buffer).div_euclid(cell);
        let ky1 = (frame.oy + frame.extent + frame.buffer).div_euclid(cell);
        let nx = (kx1 - kx0 + 1).max(1) as usize;
        let ny = (ky1 - ky0 + 1).max(1) as usize;
        Grid {
            cell,
            kx0,
            ky0,
            nx,
            ny,
            cells: vec![Cell::default(); nx * ny],
        }
    }

    fn slot(&self, kx: i64, ky: i64) -> Option<usize> {
        let (ix, iy) = (kx - self.kx0, ky - self.ky0);
        if ix < 0 || iy < 0 || ix >= self.nx as i64 || iy >= self.ny as i64 {
            return None;
        }
        Some(iy as usize * self.nx + ix as usize)
    }

    fn add(&mut self, prepared: &[Prepared<'_>], kx: i64, ky: i64, c: Cell) {
        let Some(s) = self.slot(kx, ky) else { return };
        let cur = &mut self.cells[s];
        if cur.count == 0 {
            *cur = c;
            return;
        }
        cur.count += c.count;
        cur.sx += c.sx;
        cur.sy += c.sy;
        if rep_better(prepared, c.rep, cur.rep) {
            cur.rep = c.rep;
        }
    }

    /// Clusters the point features of `prepared` (first position of each).
    pub(crate) fn from_points(prepared: &[Prepared<'_>], frame: &Frame, cell: i64) -> Grid {
        let mut g = Grid::empty(frame, cell);
        for (i, p) in prepared.iter().enumerate() {
            let Some(pos) = p.geom.first_point() else {
                continue;
            };
            let (fx, fy) = (pos[0].floor() as i64, pos[1].floor() as i64);
            let c = Cell {
                count: 1,
                sx: i128::from(fx),
                sy: i128::from(fy),
                rep: i,
            };
            g.add(prepared, fx.div_euclid(cell), fy.div_euclid(cell), c);
        }
        g
    }

    /// A grid of `cell` from cells counted already (precomputed point aggregates).
    pub(crate) fn from_cells(
        prepared: &[Prepared<'_>],
        frame: &Frame,
        cell: i64,
        cells: impl IntoIterator<Item = (i64, i64, Cell)>,
    ) -> Grid {
        let mut g = Grid::empty(frame, cell);
        for (kx, ky, c) in cells {
            g.add(prepared, kx, ky, c);
        }
        g
    }

    /// The grid with cells twice as large.
    pub(crate) fn coarser(&self, prepared: &[Prepared<'_>], frame: &Frame) -> Grid {
        let mut g = Grid::empty(frame, self.cell * 2);
        for iy in 0..self.ny {
            for ix in 0..self.nx {
                let c = self.cells[iy * self.nx + ix];
                if c.count > 0 {
                    let (kx, ky) = (self.kx0 + ix as i64, self.ky0 + iy as i64);
                    g.add(prepared, kx.div_euclid(2), ky.div_euclid(2), c);
                }
            }
        }
        g
    }

    /// Non-empty cells wholly inside the buffered tile, as `(kx, ky, cell)`, ordered by
    /// representative (id, index).
    pub(crate) fn complete_cells(
        &self,
        prepared: &[Prepared<'_>],
        frame: &Frame,
    ) -> Vec<(i64, i64, Cell)> {
        let (lo_x, hi_x) = (
            frame.ox - frame.buffer,
            frame.ox + frame.extent + frame.buffer,
        );
        let (lo_y, hi_y) = (
            frame.oy - frame.buffer,
            frame.oy + frame.extent + frame.buffer,
        );
        let mut out = Vec::new();
        for iy in 0..self.ny {
            for ix in 0..self.nx {
                let c = self.cells[iy * self.nx + ix];
                let (kx, ky) = (self.kx0 + ix as i64, self.ky0 + iy as i64);
                let inside = kx * self.cell >= lo_x
                    && (kx + 1) * self.cell <= hi_x
                    && ky * self.cell >= lo_y
                    && (ky + 1) * self.cell <= hi_y;
                if c.count > 0 && inside {
                    out.push((kx, ky, c));
                }
            }
        }
        out.sort_by_key(|&(_, _, c)| (prepared[c.rep].feature.id(), c.rep));
        out
    }
}
