//! PMTiles v3 archives (<https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md>),
//! written by the `pmtiles` crate's writer.
//!
//! What the archive holds: the 127-byte header (tile type, tile and internal
//! compression, zooms, bounds, centre, counts), a root directory that fits the
//! first 16 KiB with the header (longer directories go to leaf directories),
//! gzip-compressed directories and JSON metadata (`vector_layers` for vector
//! tiles), and the tile data in tile-id order (`clustered`). Vector tiles are
//! stored gzip-compressed (tile compression `gzip`); PNG, JPEG and WebP tiles as
//! they are (tile compression `none`). Identical tiles are stored once, and runs
//! of consecutive tile ids with the same contents share one directory entry.
//!
//! Tiles come in any order: they are spooled to a side file as they come and
//! handed to the writer sorted by tile id when the archive is finished.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use pmtiles::{PmTilesWriter, TileCoord, TileId, TileType};

use super::{ArchiveMeta, ArchiveWriter, TileKind};
use crate::raster::encode::TileFormat;
use crate::raster::error::{RasterError, Result};

/// The PMTiles tile id of `z/x/y`: the number of tiles on all lower zooms plus
/// the position of `(x, y)` on the zoom's Hilbert curve; `None` outside the
/// tile grid.
///
/// ```
/// use citygrid_importers::raster::archive::pmtiles::tile_id;
/// assert_eq!(tile_id(0, 0, 0), Some(0));
/// assert_eq!(tile_id(1, 1, 0), Some(4));
/// assert_eq!(tile_id(12, 3423, 1763), Some(19_078_479));
/// assert_eq!(tile_id(1, 2, 0), None);
/// ```
pub fn tile_id(z: u8, x: u32, y: u32) -> Option<u64> {
    TileCoord::new(z, x, y)
        .ok()
        .map(|c| TileId::from(c).value())
}

/// The PMTiles tile type of `kind`.
fn tile_type(kind: &TileKind) -> TileType {
    match kind {
        TileKind::Mvt { .. } => TileType::Mvt,
        TileKind::Image(TileFormat::Png) => TileType::Png,
        TileKind::Image(TileFormat::Jpeg) => TileType::Jpeg,
        TileKind::Image(TileFormat::Webp) => TileType::Webp,
    }
}

/// The archive's JSON metadata (TileJSON-like; `vector_layers` for MVT).
fn metadata(meta: &ArchiveMeta) -> String {
    let mut metadata = serde_json::json!({
        "name": meta.name,
        "description": meta.description,
        "format": meta.kind.format_name(),
        "type": if matches!(meta.kind, TileKind::Mvt { .. }) { "overlay" } else { "baselayer" },
        "generator": "citygrid",
        "bounds": meta.bounds,
        "minzoom": meta.min_zoom,
        "maxzoom": meta.max_zoom,
    });
    if let TileKind::Mvt { vector_layers } = &meta.kind {
        metadata["vector_layers"] = vector_layers.clone();
    }
    metadata.to_string()
}

/// A tile waiting in the spool file.
#[derive(Debug, Clone, Copy)]
struct Spooled {
    tile_id: u64,
    offset: u64,
    length: u32,
}

/// Writes a PMTiles archive: tiles go to a side file as they come, and
/// [`ArchiveWriter::finish`] hands them to the writer in tile-id order.
pub struct PmtilesWriter {
    path: PathBuf,
    meta: ArchiveMeta,
    spool_path: PathBuf,
    spool: BufWriter<File>,
    spool_len: u64,
    tiles: Vec<Spooled>,
}

impl PmtilesWriter {
    /// Starts an archive at `path` (overwritten).
    pub fn create(path: &Path, meta: ArchiveMeta) -> Result<Self> {
        let spool_path = path.with_extension("pmtiles-spool");
        let spool = File::create(&spool_path).map_err(|e| io_err(&spool_path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            meta,
            spool_path,
            spool: BufWriter::new(spool),
            spool_len: 0,
            tiles: Vec::new(),
        })
    }

    fn assemble(&mut self) -> Result<u64> {
        self.spool
            .flush()
            .map_err(|e| io_err(&self.spool_path, e))?;
        self.tiles.sort_by_key(|t| t.tile_id);
        if self.tiles.windows(2).any(|w| w[0].tile_id == w[1].tile_id) {
            return Err(archive_err(&self.path, "duplicate tile"));
        }
        let [w, s, e, n] = self.meta.bounds;
        let file = File::create(&self.path).map_err(|e| io_err(&self.path, e))?;
        // MVT tiles are gzip-compressed by the writer, images stored as they are;
        // directories and metadata are gzip-compressed.
        let mut writer = PmTilesWriter::new(tile_type(&self.meta.kind))
            .min_zoom(self.meta.min_zoom)
            .max_zoom(self.meta.max_zoom)
            .bounds(w, s, e, n)
            .center_zoom(self.meta.min_zoom)
            .center((w + e) / 2.0, (s + n) / 2.0)
            .metadata(metadata(&self.meta))
            .create(file)
            .map_err(|e| archive_err(&self.path, e))?;
        let mut spool =
            BufReader::new(File::open(&self.spool_path).map_err(|e| io_err(&self.spool_path, e))?);
        let mut buf: Vec<u8> = Vec::new();
        for tile in &self.tiles {
            buf.resize(tile.length as usize, 0);
            spool
                .seek(SeekFrom::Start(tile.offset))
                .and_then(|_| spool.read_exact(&mut buf))
                .map_err(|e| io_err(&self.spool_path, e))?;
            let coord = TileId::new(tile.tile_id)
                .map(TileCoord::from)
                .map_err(|e| archive_err(&self.path, e))?;
            writer
                .add_tile(coord, &buf)
                .map_err(|e| archive_err(&self.path, e))?;
        }
        writer.finalize().map_err(|e| archive_err(&self.path, e))?;
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|e| io_err(&self.path, e))
    }
}

fn archive_err(path: &Path, detail: impl std::fmt::Display) -> RasterError {
    RasterError::Archive {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

fn io_err(path: &Path, e: std::io::Error) -> RasterError {
    archive_err(path, e)
}

impl ArchiveWriter for PmtilesWriter {
    fn add(&mut self, z: u8, x: u32, y: u32, data: &[u8]) -> Result<()> {
        let length = u32::try_from(data.len()).map_err(|_| {
            archive_err(&self.path, format!("tile {z}/{x}/{y} is larger than 4 GiB"))
        })?;
        let tile_id = tile_id(z, x, y).ok_or_else(|| {
            archive_err(&self.path, format!("tile {z}/{x}/{y} is not in the grid"))
        })?;
        self.spool
            .write_all(data)
            .map_err(|e| io_err(&self.spool_path, e))?;
        self.tiles.push(Spooled {
            tile_id,
            offset: self.spool_len,
            length,
        });
        self.spool_len += u64::from(length);
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        let result = self.assemble();
        let _ = std::fs::remove_file(&self.spool_path);
        result
    }
}

impl Drop for PmtilesWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.spool_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_pmtiles_tile_ids() {
        let expected = [
            (0, 0, 0, 0),
            (1, 0, 0, 1),
            (1, 0, 1, 2),
            (1, 1, 1, 3),
            (1, 1, 0, 4),
            (2, 0, 0, 5),
        ];
        for (z, x, y, id) in expected {
            assert_eq!(tile_id(z, x, y), Some(id), "{z}/{x}/{y}");
        }
        // Ids of one zoom are a permutation of a contiguous range.
        let mut ids: Vec<u64> = (0..8)
            .flat_map(|x| (0..8).filter_map(move |y| tile_id(3, x, y)))
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (21..85).collect::<Vec<_>>());
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
    }

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .expect("gzip");
        out
    }

    /// Writes `tiles` (in reverse order) as an archive of `kind`; returns its bytes.
    fn write(kind: TileKind, tiles: &[(u8, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("citygrid-pmtiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(format!("{}.pmtiles", kind.format_name()));
        let meta = ArchiveMeta {
            name: "t".into(),
            description: "d".into(),
            kind,
            bounds: [114.0, 30.0, 115.0, 31.0],
            min_zoom: 1,
            max_zoom: 2,
        };
        let mut w: Box<dyn ArchiveWriter> =
            Box::new(PmtilesWriter::create(&path, meta).expect("create"));
        for (z, x, y, data) in tiles.iter().rev() {
            w.add(*z, *x, *y, data).expect("add");
        }
        let size = w.finish().expect("finish");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(size, bytes.len() as u64);
        let _ = std::fs::remove_dir_all(&dir);
        bytes
    }

    #[test]
    fn raster_pmtiles_header_declares_compression_and_type() {
        // Four z2 tiles: the first two equal (a run), the last equal to the first.
        let same = b"same tile".to_vec();
        let tiles = vec![
            (2, 0, 0, same.clone()),
            (2, 0, 1, same.clone()),
            (2, 1, 1, b"other".to_vec()),
            (2, 1, 0, same.clone()),
        ];
        let b = write(
            TileKind::Mvt {
                vector_layers: serde_json::json!([{"id": "l", "fields": {}}]),
            },
            &tiles,
        );
        assert_eq!(&b[0..7], b"PMTiles");
        assert_eq!(b[7], 3);
        // clustered, internal gzip, tile gzip, MVT, zooms 1..2
        assert_eq!(&b[96..102], &[1, 2, 2, 1, 1, 2]);
        // 4 addressed tiles, 3 entries (one run of two), 2 distinct contents.
        assert_eq!((u64_at(&b, 72), u64_at(&b, 80), u64_at(&b, 88)), (4, 3, 2));
        let (root_at, root_len) = (u64_at(&b, 8) as usize, u64_at(&b, 16) as usize);
        assert!(root_at + root_len <= 16_384);
        // The root directory is gzip'd: 3 entries.
        assert_eq!(gunzip(&b[root_at..root_at + root_len])[0], 3);
        let (meta_at, meta_len) = (u64_at(&b, 24) as usize, u64_at(&b, 32) as usize);
        let metadata: serde_json::Value =
            serde_json::from_slice(&gunzip(&b[meta_at..meta_at + meta_len])).expect("json");
        assert_eq!(metadata["vector_layers"][0]["id"], "l");
        // The tiles themselves are gzip'd.
        let data_at = u64_at(&b, 56) as usize;
        let data_len = u64_at(&b, 64) as usize;
        assert_eq!(&b[data_at..data_at + 2], &[0x1f, 0x8b]);
        assert!(data_len > 0);

        let png = write(TileKind::Image(TileFormat::Png), &tiles);
        // clustered, internal gzip, tiles as they are, PNG
        assert_eq!(&png[96..100], &[1, 2, 1, 2]);
        let data_at = u64_at(&png, 56) as usize;
        assert_eq!(&png[data_at..data_at + 9], b"same tile");
        let jpeg = write(TileKind::Image(TileFormat::Jpeg), &tiles);
        assert_eq!(&jpeg[98..100], &[1, 3]);
        let webp = write(TileKind::Image(TileFormat::Webp), &tiles);
        assert_eq!(&webp[98..100], &[1, 4]);
    }

    #[test]
    fn raster_pmtiles_rejects_duplicates_and_tiles_off_the_grid() {
        let dir = std::env::temp_dir().join(format!("citygrid-pmtiles-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let meta = ArchiveMeta {
            name: "t".into(),
            description: "d".into(),
            kind: TileKind::Image(TileFormat::Png),
            bounds: [0.0, 0.0, 1.0, 1.0],
            min_zoom: 0,
            max_zoom: 1,
        };
        let mut w = PmtilesWriter::create(&dir.join("a.pmtiles"), meta.clone()).expect("create");
        assert!(w.add(1, 2, 0, b"x").is_err());
        w.add(1, 1, 0, b"x").expect("add");
        w.add(1, 1, 0, b"y").expect("add");
        let err = Box::new(w).finish().expect_err("duplicate");
        assert!(err.to_string().contains("duplicate tile"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
