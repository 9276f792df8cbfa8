//! Tile archives for a CDN or offline use: a stored raster layer exported as
//! MBTiles ([`mbtiles`]) or PMTiles v3 ([`pmtiles`]); vector layers through the
//! tile engine ([`vector`]).

pub mod mbtiles;
pub mod pmtiles;
pub mod vector;

use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::TryStreamExt;
use sqlx::{PgPool, Row};

use super::encode::TileFormat;
use super::error::{RasterError, Result};
use super::store;
use crate::progress::TileProgress;
use citygrid_geo::tms::MAX_ZOOM;
use citygrid_tiles::LayerKind;

/// What an archive says about its tiles.
#[derive(Debug, Clone)]
pub struct ArchiveMeta {
    /// Name (the layer title).
    pub name: String,
    /// Description.
    pub description: String,
    /// What the tiles are.
    pub kind: TileKind,
    /// lon/lat `[w, s, e, n]`.
    pub bounds: [f64; 4],
    /// Lowest zoom present.
    pub min_zoom: u8,
    /// Highest zoom present.
    pub max_zoom: u8,
}

/// What the tiles of an archive are.
#[derive(Debug, Clone)]
pub enum TileKind {
    /// Raster images.
    Image(TileFormat),
    /// Mapbox Vector Tiles; `vector_layers` as in TileJSON.
    Mvt {
        /// TileJSON `vector_layers`.
        vector_layers: serde_json::Value,
    },
}

impl TileKind {
    /// MBTiles' `format` metadata value (`png`, `jpg`, `webp`, `pbf`).
    pub fn format_name(&self) -> &'static str {
        match self {
            TileKind::Image(format) => format.extension(),
            TileKind::Mvt { .. } => "pbf",
        }
    }
}

/// Writes into `partial` and renames it to `path` when `fill` and the writer
/// succeed; removes it otherwise.
pub fn write_atomically(
    path: &Path,
    kind: ArchiveKind,
    meta: ArchiveMeta,
    fill: impl FnOnce(&mut dyn ArchiveWriter) -> Result<u64>,
) -> Result<(u64, u64)> {
    let partial = partial_path(path);
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut writer: Box<dyn ArchiveWriter> = match kind {
            ArchiveKind::Mbtiles => Box::new(mbtiles::MbtilesWriter::create(&partial, &meta)?),
            ArchiveKind::Pmtiles => Box::new(pmtiles::PmtilesWriter::create(&partial, meta)?),
        };
        let tiles = fill(writer.as_mut())?;
        let bytes = writer.finish()?;
        std::fs::rename(&partial, path).map_err(|e| RasterError::Archive {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        Ok((tiles, bytes))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn partial_path(path: &Path) -> PathBuf {
    path.with_extension(format!(
        "{}.partial",
        path.extension().and_then(|e| e.to_str()).unwrap_or("tiles")
    ))
}

/// A tile archive being written. Tiles come in any order.
pub trait ArchiveWriter: Send {
    /// Adds tile `z/x/y` (XYZ scheme).
    fn add(&mut self, z: u8, x: u32, y: u32, data: &[u8]) -> Result<()>;
    /// Completes the archive; returns its size in bytes.
    fn finish(self: Box<Self>) -> Result<u64>;
}

/// The archive kinds, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// `.mbtiles`
    Mbtiles,
    /// `.pmtiles`
    Pmtiles,
}

impl ArchiveKind {
    /// The kind for `path`'s extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("mbtiles") => Ok(ArchiveKind::Mbtiles),
            Some("pmtiles") => Ok(ArchiveKind::Pmtiles),
            _ => Err(RasterError::Archive {
                path: path.to_path_buf(),
                detail: "unknown archive type: the file name must end in .pmtiles or .mbtiles"
                    .into(),
            }),
        }
    }
}

/// What `citygrid export` asks for.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The layer id.
    pub layer: String,
    /// The archive file (`.pmtiles` or `.mbtiles`); replaced if it exists.
    pub path: PathBuf,
    /// Lowest zoom to export (default: the layer's).
    pub min_zoom: Option<u8>,
    /// Highest zoom to export (default: the layer's).
    pub max_zoom: Option<u8>,
    /// No progress display.
    pub quiet: bool,
}

/// What an export did.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// Tiles written.
    pub tiles: u64,
    /// Archive size in bytes.
    pub bytes: u64,
    /// Zoom range exported.
    pub min_zoom: u8,
    /// Zoom range exported.
    pub max_zoom: u8,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Exports a stored layer as a tile archive. The archive is written next to
/// its final name and renamed into place when complete.
pub async fn export_layer(pool: &PgPool, options: ExportOptions) -> Result<ExportSummary> {
    let started = Instant::now();
    let kind = ArchiveKind::from_path(&options.path)?;
    super::check_zoom_args(options.min_zoom, options.max_zoom)?;
    let facts = store::layer_facts(pool, &options.layer).await?;
    if facts.kind != LayerKind::Raster {
        return Err(RasterError::NotAvailable(
            "export of vector layers needs the tile engine: not yet available".into(),
        ));
    }
    let format: TileFormat = facts
        .tile_format
        .as_deref()
        .unwrap_or("png")
        .parse()
        .map_err(RasterError::NotAvailable)?;
    let zoom = |z: i32| u8::try_from(z.clamp(0, i32::from(MAX_ZOOM))).unwrap_or(0);
    let lo = options.min_zoom.unwrap_or(zoom(facts.min_zoom));
    let hi = options.max_zoom.unwrap_or(zoom(facts.max_zoom));
    super::check_zoom_args(Some(lo), Some(hi))?;

    let table = store::table(&options.layer);
    let row = sqlx::query(&format!(
        "SELECT count(*) AS n, min(z) AS lo, max(z) AS hi FROM {table} WHERE z BETWEEN $1 AND $2"
    ))
    .bind(i16::from(lo))
    .bind(i16::from(hi))
    .fetch_one(pool)
    .await?;
    let count: i64 = row.try_get("n")?;
    if count == 0 {
        return Err(RasterError::NotAvailable(format!(
            "layer {:?} has no tiles between zoom {lo} and {hi}",
            options.layer
        )));
    }
    let present = |name: &str| -> Result<u8> {
        let z: Option<i16> = row.try_get(name)?;
        Ok(u8::try_from(z.unwrap_or(0)).unwrap_or(0))
    };
    let bounds = facts
        .bounds
        .as_deref()
        .and_then(|b| <[f64; 4]>::try_from(b).ok())
        .unwrap_or([-180.0, -85.051_128_78, 180.0, 85.051_128_78]);
    let meta = ArchiveMeta {
        name: facts.title.clone(),
        description: format!("citygrid raster layer {}", options.layer),
        kind: TileKind::Image(format),
        bounds,
        min_zoom: present("lo")?,
        max_zoom: present("hi")?,
    };

    let progress = std::sync::Arc::new(TileProgress::new(
        &format!("export {}", options.layer),
        u64::try_from(count).unwrap_or(0),
        options.quiet,
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, u32, u32, Vec<u8>)>(64);
    let writer_task = {
        let (path, meta, progress) = (options.path.clone(), meta.clone(), progress.clone());
        tokio::task::spawn_blocking(move || {
            write_atomically(&path, kind, meta, |writer| {
                let mut n = 0;
                while let Some((z, x, y, data)) = rx.blocking_recv() {
                    writer.add(z, x, y, &data)?;
                    progress.inc(1);
                    n += 1;
                }
                Ok(n)
            })
        })
    };
    let read = async {
        let sql = format!("SELECT z, x, y, data FROM {table} WHERE z BETWEEN $1 AND $2");
        let mut rows = sqlx::query(&sql)
            .bind(i16::from(lo))
            .bind(i16::from(hi))
            .fetch(pool);
        while let Some(row) = rows.try_next().await? {
            let z: i16 = row.try_get("z")?;
            let x: i32 = row.try_get("x")?;
            let y: i32 = row.try_get("y")?;
            let data: Vec<u8> = row.try_get("data")?;
            let (Ok(z), Ok(x), Ok(y)) = (u8::try_from(z), u32::try_from(x), u32::try_from(y))
            else {
                continue;
            };
            if tx.send((z, x, y, data)).await.is_err() {
                break; // the writer failed; its error is reported below
            }
        }
        Ok::<(), RasterError>(())
    };
    let read = read.await;
    drop(tx);
    let written = writer_task
        .await
        .map_err(|e| RasterError::Interrupted(format!("archive writer failed: {e}")))?;
    progress.finish();
    // A read error leaves the writer with fewer tiles: report it and drop the file.
    if let Err(e) = read {
        let _ = std::fs::remove_file(&options.path);
        return Err(e);
    }
    let (tiles, bytes) = written?;
    Ok(ExportSummary {
        tiles,
        bytes,
        min_zoom: meta.min_zoom,
        max_zoom: meta.max_zoom,
        seconds: started.elapsed().as_secs_f64(),
    })
}
