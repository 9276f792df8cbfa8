//! # Raster layers: orthophotos into Web Mercator tile pyramids in PostGIS
//!
//! `import_raster` reads any raster GDAL reads (GeoTIFF, COG… in any CRS; RGB,
//! RGBA, grey, paletted, 16-bit or float with a 2–98 % stretch; nodata and alpha
//! become transparency), warps it to EPSG:3857 tile by tile at the max zoom,
//! builds every lower zoom from the level above, encodes PNG/JPEG/WebP and
//! stores the tiles in `layers."<id>"(z, x, y, data)` (XYZ scheme). With the
//! geographic tile matrix sets (`--tms`, default: all of
//! `citygrid_geo::matrixset::MatrixSet`) a second pyramid is built the same way in
//! the geographic grid (warped to EPSG:4490 at the top level, averaged below) into
//! `layers."<id>#geographic"`.
//! [`read_tile`] and [`content_type`] serve them; [`archive`] exports a layer
//! as MBTiles or PMTiles.
//!
//! Module map, one job each (the tile maths is `citygrid_geo::tms`): [`source`] inspect the input,
//! [`warp`] GDAL reprojection per tile, [`pyramid`] the parallel pyramid,
//! [`encode`] image formats, [`store`] PostGIS, [`archive`] tile archives; the
//! progress display is the crate's [`crate::progress::TileProgress`].

pub mod archive;
pub mod encode;
pub mod error;
mod gdal_util;
pub mod pyramid;
pub mod source;
pub mod store;
pub mod warp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;

pub use citygrid_geo::matrixset::MatrixSet;
pub use encode::{content_type, decode_rgba, TileFormat};
pub use error::{RasterError, Result};
pub use pyramid::Tile;
pub use store::read_tile;
pub use warp::Resampling;

use crate::progress::TileProgress;
use citygrid_geo::matrixset::Grid;
use citygrid_geo::tms::{self, MAX_ZOOM};
use pyramid::Plan;
use warp::WarperPool;

/// What `citygrid import raster` asks for.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The raster file.
    pub file: PathBuf,
    /// The layer id (`[a-z0-9_]{1,48}`).
    pub layer: String,
    /// The title (default: the file name).
    pub title: Option<String>,
    /// The tile format (default: PNG when the warped image has transparency, else JPEG).
    pub format: Option<TileFormat>,
    /// Lowest zoom (default: where the whole image fits one tile).
    pub min_zoom: Option<u8>,
    /// Highest zoom (default: the first zoom whose pixels are at least as fine as the source's).
    pub max_zoom: Option<u8>,
    /// Overwrite an existing layer.
    pub replace: bool,
    /// Resampling from the source into max-zoom tiles.
    pub resampling: Resampling,
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// No progress display.
    pub quiet: bool,
    /// The tile matrix sets to build (WebMercatorQuad is always built; either
    /// geographic set builds the geographic pyramid both share).
    pub tms: Vec<MatrixSet>,
}

impl ImportOptions {
    /// Options with the defaults for `file` into `layer`.
    pub fn new(file: impl Into<PathBuf>, layer: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            layer: layer.into(),
            title: None,
            format: None,
            min_zoom: None,
            max_zoom: None,
            replace: false,
            resampling: Resampling::default(),
            threads: None,
            quiet: false,
            tms: MatrixSet::ALL.to_vec(),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// Layer id.
    pub layer: String,
    /// Tile format used.
    pub format: TileFormat,
    /// Zoom range.
    pub min_zoom: u8,
    /// Zoom range.
    pub max_zoom: u8,
    /// Tiles written per zoom `(z, count)`.
    pub per_zoom: Vec<(u8, u64)>,
    /// Tiles written in all.
    pub tiles: u64,
    /// Fully transparent tiles not stored.
    pub skipped: u64,
    /// Footprint lon/lat `[w, s, e, n]`.
    pub bounds: [f64; 4],
    /// The source CRS.
    pub source_crs: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Checks zoom values given by the user (before any work).
pub fn check_zoom_args(min_zoom: Option<u8>, max_zoom: Option<u8>) -> Result<()> {
    for (name, z) in [("min zoom", min_zoom), ("max zoom", max_zoom)] {
        if let Some(z) = z.filter(|&z| z > MAX_ZOOM) {
            return Err(RasterError::Zoom(format!("{name} {z} is above {MAX_ZOOM}")));
        }
    }
    if let (Some(lo), Some(hi)) = (min_zoom, max_zoom) {
        if lo > hi {
            return Err(RasterError::Zoom(format!(
                "min zoom {lo} is above max zoom {hi}"
            )));
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RasterError::Interrupted(format!("worker task failed: {e}")))?
}

/// Builds the pyramid of `plan` on a pool of `threads` worker threads, off the async
/// runtime, sending each tile to `tx` (the database writer) as it is made.
fn spawn_pyramid(
    plan: Plan,
    warpers: Arc<WarperPool>,
    threads: usize,
    progress: Arc<TileProgress>,
    tx: tokio::sync::mpsc::Sender<Tile>,
) -> tokio::task::JoinHandle<Result<pyramid::PyramidStats>> {
    tokio::task::spawn_blocking(move || -> Result<pyramid::PyramidStats> {
        let workers = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("citygrid-raster-{i}"))
            .build()
            .map_err(|e| RasterError::Interrupted(format!("cannot start worker threads: {e}")))?;
        let emit = move |tile: Tile| {
            tx.blocking_send(tile)
                .map_err(|_| RasterError::Interrupted("the database writer stopped".into()))
        };
        workers.install(|| pyramid::build(plan, &warpers, &emit, &|n| progress.inc(n)))
    })
}

/// Imports a raster file as a tile pyramid layer (see the module docs). The
/// previous layer of that id stays intact on any error.
pub async fn import_raster(pool: &PgPool, options: ImportOptions) -> Result<ImportSummary> {
    let started = Instant::now();
    store::check_layer_id(&options.layer)?;
    check_zoom_args(options.min_zoom, options.max_zoom)?;
    gdal_util::quiet_gdal_messages();
    if !options.replace && store::layer_kind(pool, &options.layer).await?.is_some() {
        return Err(RasterError::LayerExists(options.layer.clone()));
    }

    let file = options.file.clone();
    let info = blocking(move || source::inspect(&file)).await?;
    let max_zoom = options
        .max_zoom
        .unwrap_or_else(|| tms::max_zoom_for_pixel(info.pixel_size));
    let extent = (info.bbox[2] - info.bbox[0]).max(info.bbox[3] - info.bbox[1]);
    let min_zoom = options
        .min_zoom
        .unwrap_or_else(|| tms::min_zoom_for_extent(extent).min(max_zoom));
    check_zoom_args(Some(min_zoom), Some(max_zoom))?;
    tracing::info!(
        file = %info.path.display(), crs = %info.crs, size = ?info.size, pixel_m = info.pixel_size,
        min_zoom, max_zoom, "importing raster"
    );

    let warpers = Arc::new(WarperPool::new(info.clone(), options.resampling));
    let format = match options.format {
        Some(format) => format,
        None => {
            let (warpers, info) = (warpers.clone(), info.clone());
            let transparent = blocking(move || warp::has_transparency(&warpers, &info)).await?;
            if transparent {
                TileFormat::Png
            } else {
                TileFormat::Jpeg
            }
        }
    };
    let plan = Plan {
        min_zoom,
        max_zoom,
        bbox: info.bbox,
        format,
        grid: Grid::Mercator,
    };
    let geographic = options.tms.iter().any(|s| s.grid() == Grid::Geographic);

    let mut writer = store::LayerWriter::begin(pool, &options.layer, options.replace).await?;
    if geographic {
        if let Err(e) = writer.stage_geographic().await {
            writer.abort().await;
            return Err(e);
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Tile>(256);
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let progress = Arc::new(TileProgress::new(
        &format!("import raster {}", options.layer),
        plan.candidate_tiles(),
        options.quiet,
    ));
    let producer = spawn_pyramid(
        plan,
        Arc::clone(&warpers),
        threads,
        Arc::clone(&progress),
        tx,
    );
    let copied = writer.copy_from(&mut rx).await;
    drop(rx);
    let built = producer
        .await
        .map_err(|e| RasterError::Interrupted(format!("worker task failed: {e}")));
    progress.finish();
    let stats = match (built, copied) {
        (Ok(Ok(stats)), Ok(_)) => stats,
        // The producer's error is the cause when both failed.
        (Ok(Err(e)), _) | (Err(e), _) | (Ok(Ok(_)), Err(e)) => {
            writer.abort().await;
            return Err(e);
        }
    };
    if stats.total() == 0 {
        writer.abort().await;
        return Err(RasterError::Read {
            path: options.file.clone(),
            detail: "every tile is transparent (all nodata?)".into(),
        });
    }
    // The geographic pyramid: the same levels (a CGCS2000Quad level has the
    // longitude resolution of the Web Mercator zoom of that number), from level 1.
    let geo_tiles = if geographic {
        let b = info.bounds_lonlat();
        let geo_plan = Plan {
            min_zoom: min_zoom.max(1),
            max_zoom: max_zoom.max(1),
            bbox: b,
            format,
            grid: Grid::Geographic,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Tile>(256);
        let progress = Arc::new(TileProgress::new(
            &format!("import raster {} (geographic grid)", options.layer),
            geo_plan.candidate_tiles(),
            options.quiet,
        ));
        let producer = spawn_pyramid(
            geo_plan,
            Arc::clone(&warpers),
            threads,
            Arc::clone(&progress),
            tx,
        );
        let copied = writer.copy_geographic_from(&mut rx).await;
        drop(rx);
        let built = producer
            .await
            .map_err(|e| RasterError::Interrupted(format!("worker task failed: {e}")));
        progress.finish();
        match (built, copied) {
            (Ok(Ok(stats)), Ok(_)) => Some(stats.total()),
            (Ok(Err(e)), _) | (Err(e), _) | (Ok(Ok(_)), Err(e)) => {
                writer.abort().await;
                return Err(e);
            }
        }
    } else {
        None
    };

    let seconds = started.elapsed().as_secs_f64();
    let per_zoom: Vec<(u8, u64)> = (min_zoom..=max_zoom)
        .map(|z| (z, stats.written.get(usize::from(z)).copied().unwrap_or(0)))
        .collect();
    let bounds = info.bounds_lonlat();
    let import_stats = serde_json::json!({
        "written": stats.total(),
        "skipped_empty": stats.skipped,
        "tiles_per_zoom": per_zoom.iter().map(|(z, n)| (z.to_string(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "source_size": [info.size.0, info.size.1],
        "source_pixel_m": info.pixel_size,
        "resampling": options.resampling.gdal_name(),
        "tile_matrix_sets": if geo_tiles.is_some() { MatrixSet::ALL.map(MatrixSet::id).to_vec() } else { vec!["WebMercatorQuad"] },
        "geographic_tiles": geo_tiles,
    });
    let title = options.title.clone().unwrap_or_else(|| {
        options
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| options.layer.clone())
    });
    let entry = store::CatalogEntry {
        id: options.layer.clone(),
        title,
        source_file: options.file.display().to_string(),
        source_crs: info.crs.clone(),
        tiles: i64::try_from(stats.total()).unwrap_or(i64::MAX),
        bounds,
        min_zoom,
        max_zoom,
        tile_format: format.as_str().to_string(),
        import_stats,
    };
    writer.commit(&entry).await?;
    Ok(ImportSummary {
        layer: options.layer,
        format,
        min_zoom,
        max_zoom,
        per_zoom,
        tiles: stats.total(),
        skipped: stats.skipped,
        bounds,
        source_crs: info.crs,
        seconds: started.elapsed().as_secs_f64(),
    })
}
