//! Reprojection of the source into Web Mercator tiles with GDAL's warper.
//!
//! Each tile is warped straight from the source into a 256×256 in-memory
//! dataset on the tile's own grid, so every max-zoom tile is resampled exactly
//! once. GDAL datasets are not thread-safe: every worker thread takes its own
//! [`TileWarper`] (its own dataset handle) from a [`WarperPool`].

use std::sync::Mutex;

use gdal::Dataset;

use super::encode::TILE_SIZE;
use super::error::{RasterError, Result};
use super::gdal_util;
use super::source::{self, Colour, SourceInfo};
use citygrid_geo::matrixset::Grid;

/// An RGBA tile image, 256×256, row-major, 4 bytes per pixel, not premultiplied.
pub type Rgba = Vec<u8>;

/// Bytes in one [`Rgba`] tile.
pub const RGBA_LEN: usize = TILE_SIZE * TILE_SIZE * 4;

/// The resampling used when warping the source into max-zoom tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resampling {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear (the default).
    #[default]
    Bilinear,
    /// Cubic convolution.
    Cubic,
    /// Average of all contributing pixels.
    Average,
}

impl Resampling {
    /// The name `gdalwarp -r` knows.
    pub fn gdal_name(self) -> &'static str {
        match self {
            Resampling::Nearest => "near",
            Resampling::Bilinear => "bilinear",
            Resampling::Cubic => "cubic",
            Resampling::Average => "average",
        }
    }
}

impl std::str::FromStr for Resampling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "near" | "nearest" => Ok(Resampling::Nearest),
            "bilinear" => Ok(Resampling::Bilinear),
            "cubic" => Ok(Resampling::Cubic),
            "average" => Ok(Resampling::Average),
            other => Err(format!(
                "unknown resampling {other:?} (nearest, bilinear, cubic, average)"
            )),
        }
    }
}

/// One worker's handle on the source and the recipe to turn it into tiles.
pub struct TileWarper {
    dataset: Dataset,
    info: SourceInfo,
    resampling: Resampling,
}

impl TileWarper {
    /// Opens the source once more for this worker.
    pub fn open(info: &SourceInfo, resampling: Resampling) -> Result<Self> {
        Ok(Self {
            dataset: source::open(&info.path)?,
            info: info.clone(),
            resampling,
        })
    }

    /// Warps the tile `z/x/y` of `grid` (blocking, CPU and I/O): Web Mercator, or a
    /// geographic (CGCS2000Quad) tile warped to EPSG:4490.
    pub fn warp_tile(&mut self, grid: Grid, z: u8, x: u32, y: u32) -> Result<Rgba> {
        let b = grid.bounds_of(z, x, y).to_array();
        let srs = match grid {
            Grid::Mercator => "EPSG:3857",
            Grid::Geographic => "EPSG:4490",
        };
        self.warp_window_in(srs, b, TILE_SIZE, TILE_SIZE, self.resampling)
    }

    /// Warps the Web Mercator window `bounds` into an RGBA image of `width`×`height`.
    pub fn warp_window(
        &mut self,
        bounds: [f64; 4],
        width: usize,
        height: usize,
        resampling: Resampling,
    ) -> Result<Vec<u8>> {
        self.warp_window_in("EPSG:3857", bounds, width, height, resampling)
    }

    /// Warps the window `bounds` of CRS `srs` (x = easting or longitude) into an RGBA
    /// image of `width`×`height`.
    pub fn warp_window_in(
        &mut self,
        srs: &str,
        bounds: [f64; 4],
        width: usize,
        height: usize,
        resampling: Resampling,
    ) -> Result<Vec<u8>> {
        // A colour table is indexed data: only nearest neighbour makes sense.
        let resampling = if matches!(self.info.colour, Colour::Palette(_)) {
            Resampling::Nearest
        } else {
            resampling
        };
        let working_type = if self.info.is_byte() {
            "Byte"
        } else {
            "Float32"
        };
        let args: Vec<String> = [
            "-of",
            "MEM",
            "-t_srs",
            srs,
            "-r",
            resampling.gdal_name(),
            "-ot",
            working_type,
            "-dstalpha",
            "-wo",
            "DST_ALPHA_MAX=255",
            "-et",
            "0.125",
            "-te",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(bounds.iter().map(|v| format!("{v:.10}")))
        .chain(["-ts".to_string(), width.to_string(), height.to_string()])
        .collect();
        let out = gdal_util::warp(&self.dataset, &args).map_err(|detail| RasterError::Read {
            path: self.info.path.clone(),
            detail,
        })?;
        self.to_rgba(&out, width, height)
    }

    /// Turns the warped bands (data bands then alpha last) into RGBA bytes.
    fn to_rgba(&self, ds: &Dataset, width: usize, height: usize) -> Result<Vec<u8>> {
        let read_err = |e: gdal::errors::GdalError| RasterError::Read {
            path: self.info.path.clone(),
            detail: e.to_string(),
        };
        let n = width * height;
        let read = |index: usize| -> Result<Vec<f32>> {
            let band = ds.rasterband(index).map_err(read_err)?;
            let buf = band
                .read_as::<f32>((0, 0), (width, height), (width, height), None)
                .map_err(read_err)?;
            Ok(buf.into_shape_and_vec().1)
        };
        let alpha = read(ds.raster_count())?;
        let bands: Vec<Vec<f32>> = self
            .info
            .colour_bands
            .iter()
            .map(|&i| read(i))
            .collect::<Result<_>>()?;
        let mut out = vec![0u8; n * 4];
        for p in 0..n {
            let a = alpha
                .get(p)
                .copied()
                .unwrap_or(0.0)
                .round()
                .clamp(0.0, 255.0) as u8;
            if a == 0 {
                continue;
            }
            let px = &mut out[p * 4..p * 4 + 4];
            match &self.info.colour {
                Colour::Direct => {
                    let v = |b: usize| bands[b][p].round().clamp(0.0, 255.0) as u8;
                    let (r, g, bl) = if bands.len() == 3 {
                        (v(0), v(1), v(2))
                    } else {
                        (v(0), v(0), v(0))
                    };
                    px.copy_from_slice(&[r, g, bl, a]);
                }
                Colour::Stretch(ranges) => {
                    let v = |b: usize| {
                        let (lo, hi) = ranges[b];
                        ((f64::from(bands[b][p]) - lo) / (hi - lo) * 255.0)
                            .round()
                            .clamp(0.0, 255.0) as u8
                    };
                    let (r, g, bl) = if bands.len() == 3 {
                        (v(0), v(1), v(2))
                    } else {
                        (v(0), v(0), v(0))
                    };
                    px.copy_from_slice(&[r, g, bl, a]);
                }
                Colour::Palette(entries) => {
                    let index = bands[0][p].round();
                    let e = if index >= 0.0 {
                        entries.get(index as usize).copied().unwrap_or([0, 0, 0, 0])
                    } else {
                        [0, 0, 0, 0]
                    };
                    let alpha = ((u16::from(e[3]) * u16::from(a)) / 255) as u8;
                    px.copy_from_slice(&[e[0], e[1], e[2], alpha]);
                }
            }
            if px[3] == 0 {
                px.fill(0);
            }
        }
        Ok(out)
    }
}

/// Hands out one [`TileWarper`] per concurrently working thread, opening a new
/// one only when all existing ones are in use.
pub struct WarperPool {
    info: SourceInfo,
    resampling: Resampling,
    idle: Mutex<Vec<TileWarper>>,
}

impl WarperPool {
    /// A pool for `info`'s source.
    pub fn new(info: SourceInfo, resampling: Resampling) -> Self {
        Self {
            info,
            resampling,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with a warper that no other thread uses meanwhile.
    pub fn with<T>(&self, f: impl FnOnce(&mut TileWarper) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let mut warper = match taken {
            Some(w) => w,
            None => TileWarper::open(&self.info, self.resampling)?,
        };
        let result = f(&mut warper);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(warper);
        }
        result
    }
}

/// Whether the warped image has any transparent pixel inside its footprint's
/// bounding box, judged on a nearest-neighbour preview of at most 1024 pixels a
/// side (blocking). Decides PNG versus JPEG when no format is given.
pub fn has_transparency(pool: &WarperPool, info: &SourceInfo) -> Result<bool> {
    let (w, h) = (info.bbox[2] - info.bbox[0], info.bbox[3] - info.bbox[1]);
    let scale = (1024.0 / (w.max(h) / info.pixel_size)).min(1.0);
    let width = ((w / info.pixel_size * scale).round() as usize).clamp(1, 1024);
    let height = ((h / info.pixel_size * scale).round() as usize).clamp(1, 1024);
    let rgba =
        pool.with(|warper| warper.warp_window(info.bbox, width, height, Resampling::Nearest))?;
    Ok(rgba.chunks_exact(4).any(|px| px[3] < 255))
}
