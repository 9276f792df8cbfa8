//! Opens and checks a source raster and works out everything the pyramid needs
//! to know about it: bands, transparency, stretch, footprint and resolution in
//! Web Mercator.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use gdal::raster::{ColorInterpretation, GdalDataType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};

use super::error::{RasterError, Result};
use super::gdal_util::{last_error, reset_error};
use citygrid_geo::tms::{mercator_to_lonlat, MERC_HALF_WORLD_M};

/// How source values become 0..=255 colour values.
#[derive(Debug, Clone, PartialEq)]
pub enum Colour {
    /// 8-bit data: used as is.
    Direct,
    /// Other data types: a linear stretch per band from `lo` to `hi`
    /// (the 2nd and 98th percentile of the band's histogram).
    Stretch(Vec<(f64, f64)>),
    /// A single band with a colour table: RGBA per index.
    Palette(Vec<[u8; 4]>),
}

/// What the importer knows about a source raster.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The file.
    pub path: PathBuf,
    /// Width and height in pixels.
    pub size: (usize, usize),
    /// Number of bands in the file.
    pub band_count: usize,
    /// 1-based indices of the bands that make the colour: one (grey) or three (RGB).
    pub colour_bands: Vec<usize>,
    /// 1-based index of the alpha band, when the file has one.
    pub alpha_band: Option<usize>,
    /// Whether any band declares a nodata value.
    pub has_nodata: bool,
    /// How values become colours.
    pub colour: Colour,
    /// The source CRS as a short label (`EPSG:32617` or its name).
    pub crs: String,
    /// The footprint's bounding box in Web Mercator metres `[minx, miny, maxx, maxy]`.
    pub bbox: [f64; 4],
    /// The source pixel size in Web Mercator metres (as GDAL's suggested warp output).
    pub pixel_size: f64,
}

impl SourceInfo {
    /// The footprint as lon/lat `[west, south, east, north]`.
    pub fn bounds_lonlat(&self) -> [f64; 4] {
        let sw = mercator_to_lonlat(self.bbox[0], self.bbox[1]);
        let ne = mercator_to_lonlat(self.bbox[2], self.bbox[3]);
        [sw.x, sw.y, ne.x, ne.y]
    }

    /// Whether the data are 8-bit (warped as Byte) or need a float working type.
    pub fn is_byte(&self) -> bool {
        !matches!(self.colour, Colour::Stretch(_))
    }
}

/// Opens `path` read-only as a raster, with a clear error when it is not one.
pub fn open(path: &Path) -> Result<Dataset> {
    reset_error();
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_READONLY,
        ..Default::default()
    };
    let ds = Dataset::open_ex(path, options).map_err(|e| {
        let gdal = last_error();
        RasterError::NotRaster {
            path: path.to_path_buf(),
            detail: if gdal.is_empty() { e.to_string() } else { gdal },
        }
    })?;
    if ds.raster_count() == 0 {
        return Err(RasterError::NotRaster {
            path: path.to_path_buf(),
            detail: "it has no raster bands".into(),
        });
    }
    Ok(ds)
}

/// Opens and inspects `path` (blocking: call from a blocking thread).
pub fn inspect(path: &Path) -> Result<SourceInfo> {
    let ds = open(path)?;
    let unsupported = |detail: String| RasterError::Unsupported {
        path: path.to_path_buf(),
        detail,
    };
    let no_geo = |detail: &str| RasterError::NoGeoreference {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };

    // Georeferencing: a geotransform or GCPs, and a coordinate system.
    let has_transform = ds.geo_transform().is_ok();
    let has_gcps = !ds.gcps().is_empty();
    if !has_transform && !has_gcps {
        return Err(no_geo("no geotransform and no ground control points"));
    }
    let srs = if has_transform {
        ds.spatial_ref().ok()
    } else {
        ds.gcp_spatial_ref()
    };
    let Some(srs) = srs else {
        return Err(no_geo("no coordinate system"));
    };
    let crs = match (srs.auth_name(), srs.auth_code()) {
        (Some(name), Ok(code)) => format!("{name}:{code}"),
        _ => srs.name().unwrap_or_else(|| "unknown".to_string()),
    };

    // Bands.
    let band_count = ds.raster_count();
    let mut interps = Vec::with_capacity(band_count);
    let mut has_nodata = false;
    for i in 1..=band_count {
        let band = ds
            .rasterband(i)
            .map_err(|e| unsupported(format!("band {i}: {e}")))?;
        interps.push(band.color_interpretation());
        has_nodata |= band.no_data_value().is_some();
    }
    let alpha_band = (band_count > 1 && interps[band_count - 1] == ColorInterpretation::AlphaBand)
        .then_some(band_count);
    let data_bands = band_count - usize::from(alpha_band.is_some());
    let colour_bands: Vec<usize> = if data_bands >= 3 {
        vec![1, 2, 3]
    } else {
        vec![1]
    };

    let first = ds
        .rasterband(1)
        .map_err(|e| unsupported(format!("band 1: {e}")))?;
    let data_type = first.band_type();
    if matches!(
        data_type,
        GdalDataType::Unknown // complex types are reported as Unknown by the gdal crate
    ) {
        return Err(unsupported(format!(
            "data type {data_type:?} cannot be shown as an image"
        )));
    }
    let colour = if let Some(table) = first.color_table().filter(|_| colour_bands.len() == 1) {
        let mut entries = Vec::with_capacity(table.entry_count());
        for i in 0..table.entry_count().min(65_536) {
            let e = table.entry_as_rgb(i).unwrap_or(gdal::raster::RgbaEntry {
                r: 0,
                g: 0,
                b: 0,
                a: 0,
            });
            let c = |v: i16| v.clamp(0, 255) as u8;
            entries.push([c(e.r), c(e.g), c(e.b), c(e.a)]);
        }
        Colour::Palette(entries)
    } else if data_type == GdalDataType::UInt8 {
        Colour::Direct
    } else {
        let mut ranges = Vec::with_capacity(colour_bands.len());
        for &i in &colour_bands {
            let band = ds
                .rasterband(i)
                .map_err(|e| unsupported(format!("band {i}: {e}")))?;
            ranges.push(percentile_range(&band).map_err(|detail| RasterError::Read {
                path: path.to_path_buf(),
                detail,
            })?);
        }
        Colour::Stretch(ranges)
    };

    let (bbox, pixel_size) =
        suggested_warp_output(&ds).map_err(|detail| RasterError::NoGeoreference {
            path: path.to_path_buf(),
            detail: format!("cannot transform it to Web Mercator: {detail}"),
        })?;
    Ok(SourceInfo {
        path: path.to_path_buf(),
        size: ds.raster_size(),
        band_count,
        colour_bands,
        alpha_band,
        has_nodata,
        colour,
        crs,
        bbox,
        pixel_size,
    })
}

/// The 2nd and 98th percentile of a band, from GDAL's (approximate) statistics.
fn percentile_range(band: &gdal::raster::RasterBand) -> Result<(f64, f64), String> {
    let stats = band
        .compute_raster_min_max(true)
        .map_err(|e| e.to_string())?;
    let (min, max) = (stats.min, stats.max);
    if !min.is_finite() || !max.is_finite() || max <= min {
        return Ok((min, min + 1.0));
    }
    const BUCKETS: usize = 1024;
    let histogram = band
        .histogram(min, max, BUCKETS, true, true)
        .map_err(|e| e.to_string())?;
    let counts = histogram.counts();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Ok((min, max));
    }
    let width = (max - min) / BUCKETS as f64;
    let at = |fraction: f64| {
        let target = (total as f64 * fraction).ceil() as u64;
        let mut sum = 0;
        for (i, c) in counts.iter().enumerate() {
            sum += c;
            if sum >= target.max(1) {
                return min + width * (i as f64 + 0.5);
            }
        }
        max
    };
    let (lo, hi) = (at(0.02), at(0.98));
    Ok(if hi > lo { (lo, hi) } else { (min, max) })
}

/// GDAL's suggested warp output to EPSG:3857: the footprint's bounding box
/// (clamped to the Web Mercator square) and the pixel size that keeps the
/// source's resolution.
fn suggested_warp_output(ds: &Dataset) -> Result<([f64; 4], f64), String> {
    let option = CString::new("DST_SRS=EPSG:3857").map_err(|e| e.to_string())?;
    let mut options = [
        option.as_ptr() as *mut std::ffi::c_char,
        std::ptr::null_mut(),
    ];
    reset_error();
    // SAFETY: the option list is NULL-terminated and outlives the call; the
    // transformer is destroyed before returning; output buffers have the sizes
    // GDAL documents (6 for the geotransform, 4 for the extents).
    unsafe {
        let transformer = gdal_sys::GDALCreateGenImgProjTransformer2(
            ds.c_dataset(),
            std::ptr::null_mut(),
            options.as_mut_ptr(),
        );
        if transformer.is_null() {
            return Err(last_error());
        }
        let mut gt = [0.0f64; 6];
        let mut extents = [0.0f64; 4];
        let (mut pixels, mut lines) = (0, 0);
        let rv = gdal_sys::GDALSuggestedWarpOutput2(
            ds.c_dataset(),
            Some(gdal_sys::GDALGenImgProjTransform),
            transformer,
            gt.as_mut_ptr(),
            &mut pixels,
            &mut lines,
            extents.as_mut_ptr(),
            0,
        );
        gdal_sys::GDALDestroyGenImgProjTransformer(transformer);
        if rv != gdal_sys::CPLErr::CE_None {
            return Err(last_error());
        }
        let clamp = |v: f64| v.clamp(-MERC_HALF_WORLD_M, MERC_HALF_WORLD_M);
        let bbox = [
            clamp(extents[0]),
            clamp(extents[1]),
            clamp(extents[2]),
            clamp(extents[3]),
        ];
        let pixel = gt[1].abs();
        if !(pixel.is_finite() && pixel > 0.0) || bbox[2] <= bbox[0] || bbox[3] <= bbox[1] {
            return Err("the footprint is empty or outside the Web Mercator square".into());
        }
        Ok((bbox, pixel))
    }
}
