//! The tile pyramid: max-zoom tiles warped from the source, every lower level
//! built from the four tiles above it (alpha-weighted 2×2 average), in parallel
//! with rayon.
//!
//! The pyramid is walked depth-first from the min-zoom tiles, so only the tiles
//! on the current paths are held in memory whatever the size of the image.
//! Tiles outside the footprint are never visited; fully transparent tiles are
//! not stored.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use super::encode::TILE_SIZE;
use super::encode::{encode, TileFormat};
use super::error::{RasterError, Result};
use super::warp::{Rgba, WarperPool, RGBA_LEN};
use citygrid_geo::matrixset::Grid;
use citygrid_geo::tms::{Bbox, MAX_ZOOM};

/// One encoded tile, XYZ scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// Zoom.
    pub z: u8,
    /// Column.
    pub x: u32,
    /// Row from the north.
    pub y: u32,
    /// The encoded image.
    pub data: Vec<u8>,
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Lowest zoom.
    pub min_zoom: u8,
    /// Highest zoom (tiles warped from the source).
    pub max_zoom: u8,
    /// The footprint in the grid's units (Web Mercator metres, or lon/lat degrees).
    pub bbox: [f64; 4],
    /// The layer's tile format.
    pub format: TileFormat,
    /// The tile grid: Web Mercator, or the geographic grid of CGCS2000Quad levels
    /// (`citygrid_geo::matrixset`; zooms are then its levels, at least 1).
    pub grid: Grid,
}

impl Plan {
    /// The number of tiles whose square meets the footprint, all zooms: the
    /// most that can be written (for progress).
    pub fn candidate_tiles(&self) -> u64 {
        (self.min_zoom..=self.max_zoom)
            .map(|z| {
                let (x0, y0, x1, y1) = self.grid.overlapping(&Bbox::from_array(self.bbox), z);
                (u64::from(x1 - x0) + 1) * (u64::from(y1 - y0) + 1)
            })
            .sum()
    }
}

/// Counts of a finished pyramid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PyramidStats {
    /// Tiles written per zoom, index = zoom.
    pub written: Vec<u64>,
    /// Tiles in the footprint's box that were fully transparent (not stored).
    pub skipped: u64,
}

impl PyramidStats {
    /// All tiles written.
    pub fn total(&self) -> u64 {
        self.written.iter().sum()
    }
}

struct Walk<'a> {
    plan: Plan,
    warpers: &'a WarperPool,
    emit: &'a (dyn Fn(Tile) -> Result<()> + Sync),
    progress: &'a (dyn Fn(u64) + Sync),
    written: Vec<AtomicU64>,
    skipped: AtomicU64,
    failed: AtomicBool,
}

/// Builds the pyramid, handing every encoded tile to `emit` (from worker
/// threads) and reporting each visited tile to `progress`. Blocking: run it on a
/// blocking thread; it uses the current rayon pool.
pub fn build(
    plan: Plan,
    warpers: &WarperPool,
    emit: &(dyn Fn(Tile) -> Result<()> + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<PyramidStats> {
    if plan.min_zoom > plan.max_zoom
        || plan.max_zoom > MAX_ZOOM
        || (plan.grid == Grid::Geographic && plan.min_zoom == 0)
    {
        return Err(RasterError::Zoom(format!(
            "min zoom {} and max zoom {} (0..={MAX_ZOOM}, min <= max)",
            plan.min_zoom, plan.max_zoom
        )));
    }
    let walk = Walk {
        plan,
        warpers,
        emit,
        progress,
        written: (0..=MAX_ZOOM).map(|_| AtomicU64::new(0)).collect(),
        skipped: AtomicU64::new(0),
        failed: AtomicBool::new(false),
    };
    let z = plan.min_zoom;
    let (x0, y0, x1, y1) = plan.grid.overlapping(&Bbox::from_array(plan.bbox), z);
    let roots: Vec<(u32, u32)> = (y0..=y1)
        .flat_map(|y| (x0..=x1).map(move |x| (x, y)))
        .collect();
    roots
        .par_iter()
        .map(|&(x, y)| walk.node(z, x, y).map(|_| ()))
        .collect::<Result<Vec<()>>>()?;
    let written: Vec<u64> = walk
        .written
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    Ok(PyramidStats {
        written: written[..=usize::from(plan.max_zoom)].to_vec(),
        skipped: walk.skipped.load(Ordering::Relaxed),
    })
}

impl Walk<'_> {
    /// Makes tile `z/x/y` and everything above it; returns its image when the
    /// level below needs it.
    fn node(&self, z: u8, x: u32, y: u32) -> Result<Option<Rgba>> {
        if !self
            .plan
            .grid
            .bounds_of(z, x, y)
            .overlaps(&Bbox::from_array(self.plan.bbox))
        {
            return Ok(None);
        }
        if self.failed.load(Ordering::Relaxed) {
            return Err(RasterError::Interrupted("another tile failed".into()));
        }
        let image = if z == self.plan.max_zoom {
            let result = self.warpers.with(|w| w.warp_tile(self.plan.grid, z, x, y));
            if result.is_err() {
                self.failed.store(true, Ordering::Relaxed);
            }
            Some(result?)
        } else {
            let children = [
                (2 * x, 2 * y),
                (2 * x + 1, 2 * y),
                (2 * x, 2 * y + 1),
                (2 * x + 1, 2 * y + 1),
            ];
            let kids: Vec<Option<Rgba>> = children
                .par_iter()
                .map(|&(cx, cy)| self.node(z + 1, cx, cy))
                .collect::<Result<_>>()?;
            if kids.iter().all(Option::is_none) {
                None
            } else {
                Some(downsample(&kids))
            }
        };
        (self.progress)(1);
        let image = image.filter(|img| img.chunks_exact(4).any(|p| p[3] != 0));
        let Some(image) = image else {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        let data = encode(&image, self.plan.format)?;
        if let Err(e) = (self.emit)(Tile { z, x, y, data }) {
            self.failed.store(true, Ordering::Relaxed);
            return Err(e);
        }
        self.written[usize::from(z)].fetch_add(1, Ordering::Relaxed);
        Ok((z > self.plan.min_zoom).then_some(image))
    }
}

/// Halves four child tiles (NW, NE, SW, SE; `None` = transparent) into their
/// parent: each parent pixel is the alpha-weighted mean colour of its 2×2
/// children pixels, with their mean alpha.
pub fn downsample(kids: &[Option<Rgba>]) -> Rgba {
    let half = TILE_SIZE / 2;
    let mut out = vec![0u8; RGBA_LEN];
    for (q, kid) in kids.iter().enumerate().take(4) {
        let Some(kid) = kid else { continue };
        if kid.len() < RGBA_LEN {
            continue;
        }
        let (qx, qy) = (q % 2, q / 2);
        for oy in 0..half {
            for ox in 0..half {
                let mut sum = [0u32; 3];
                let mut alpha = 0u32;
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let i = ((2 * oy + dy) * TILE_SIZE + 2 * ox + dx) * 4;
                    let a = u32::from(kid[i + 3]);
                    alpha += a;
                    for c in 0..3 {
                        sum[c] += u32::from(kid[i + c]) * a;
                    }
                }
                if alpha == 0 {
                    continue;
                }
                let o = ((qy * half + oy) * TILE_SIZE + qx * half + ox) * 4;
                for c in 0..3 {
                    out[o + c] = ((sum[c] + alpha / 2) / alpha) as u8;
                }
                out[o + 3] = ((alpha + 2) / 4) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_downsample_is_alpha_weighted() {
        let mut nw = vec![0u8; RGBA_LEN];
        // Top-left 2×2 block: one opaque red pixel, three transparent ones.
        nw[0..4].copy_from_slice(&[255, 0, 0, 255]);
        // Next block: all opaque, two white and two black.
        for (i, v) in [
            (2usize, 255u8),
            (3, 255),
            (TILE_SIZE + 2, 0),
            (TILE_SIZE + 3, 0),
        ] {
            nw[i * 4..i * 4 + 4].copy_from_slice(&[v, v, v, 255]);
        }
        let out = downsample(&[Some(nw), None, None, None]);
        // Colour is not darkened by the transparent neighbours; alpha is the mean.
        assert_eq!(&out[0..4], &[255, 0, 0, 64]);
        assert_eq!(&out[4..8], &[128, 128, 128, 255]);
        // The other quadrants stay transparent.
        assert_eq!(
            &out[(TILE_SIZE / 2) * 4..(TILE_SIZE / 2) * 4 + 4],
            &[0, 0, 0, 0]
        );
    }
}
