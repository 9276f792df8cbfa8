//! A PMTiles v3 writer (<https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md>).
//!
//! Layout: 127-byte header, root directory, JSON metadata, leaf directories,
//! tile data. Tile ids follow the Hilbert curve per zoom; tile data are written
//! in tile-id order (`clustered = true`); runs of consecutive tiles with equal
//! contents share one entry (`run_length`). Directories are varint-encoded and
//! not compressed (internal compression "none"); the root directory fits the
//! first 16 KiB together with the header, longer directories go to leaves.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{ArchiveMeta, ArchiveWriter, TileKind};
use crate::raster::encode::TileFormat;
use crate::raster::error::{RasterError, Result};

/// Size of the fixed header.
pub const HEADER_LEN: usize = 127;
/// The header and the root directory must fit in this many bytes.
const ROOT_MAX: usize = 16_384;

/// The PMTiles tile id of `z/x/y`: the number of tiles on all lower zooms plus
/// the position of `(x, y)` on the zoom's Hilbert curve.
///
/// ```
/// use citygrid_importers::raster::archive::pmtiles::zxy_to_tile_id;
/// assert_eq!(zxy_to_tile_id(0, 0, 0), 0);
/// assert_eq!(zxy_to_tile_id(1, 1, 0), 4);
/// assert_eq!(zxy_to_tile_id(12, 3423, 1763), 19_078_479);
/// ```
pub fn zxy_to_tile_id(z: u8, x: u32, y: u32) -> u64 {
    let z = u32::from(z.min(31));
    let base = ((1u64 << (2 * z)) - 1) / 3;
    let n = 1u64 << z;
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    let mut d = 0u64;
    let mut s = n / 2;
    while s > 0 {
        let rx = u64::from(x & s > 0);
        let ry = u64::from(y & s > 0);
        d += s * s * ((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    base + d
}

/// One directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// First tile id.
    pub tile_id: u64,
    /// Offset in the tile data (or leaf directory) section.
    pub offset: u64,
    /// Length in bytes.
    pub length: u32,
    /// Number of consecutive tile ids with these contents; 0 for a leaf pointer.
    pub run_length: u32,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Serialises a directory (entries sorted by tile id).
pub fn serialize_directory(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 6 + 8);
    varint(&mut out, entries.len() as u64);
    let mut last = 0;
    for e in entries {
        varint(&mut out, e.tile_id - last);
        last = e.tile_id;
    }
    for e in entries {
        varint(&mut out, u64::from(e.run_length));
    }
    for e in entries {
        varint(&mut out, u64::from(e.length));
    }
    for (i, e) in entries.iter().enumerate() {
        let follows = i > 0 && e.offset == entries[i - 1].offset + u64::from(entries[i - 1].length);
        varint(&mut out, if follows { 0 } else { e.offset + 1 });
    }
    out
}

/// Splits `entries` into a root directory and leaf directories so that the root
/// fits in the first 16 KiB. Returns `(root, leaves)`.
pub fn build_directories(entries: &[Entry]) -> (Vec<u8>, Vec<u8>) {
    let root = serialize_directory(entries);
    if root.len() <= ROOT_MAX - HEADER_LEN {
        return (root, Vec::new());
    }
    let mut leaf_size = 4096usize;
    loop {
        let mut leaves = Vec::new();
        let mut root_entries = Vec::new();
        for chunk in entries.chunks(leaf_size) {
            let leaf = serialize_directory(chunk);
            root_entries.push(Entry {
                tile_id: chunk[0].tile_id,
                offset: leaves.len() as u64,
                length: leaf.len() as u32,
                run_length: 0,
            });
            leaves.extend_from_slice(&leaf);
        }
        let root = serialize_directory(&root_entries);
        if root.len() <= ROOT_MAX - HEADER_LEN {
            return (root, leaves);
        }
        leaf_size += leaf_size / 5;
    }
}

fn tile_type(kind: &TileKind) -> u8 {
    match kind {
        TileKind::Mvt { .. } => 1,
        TileKind::Image(TileFormat::Png) => 2,
        TileKind::Image(TileFormat::Jpeg) => 3,
        TileKind::Image(TileFormat::Webp) => 4,
    }
}

/// Section offsets and counts that go into the header.
struct Layout {
    root_len: u64,
    metadata_len: u64,
    leaves_len: u64,
    data_len: u64,
    addressed: u64,
    entries: u64,
    contents: u64,
}

fn header(meta: &ArchiveMeta, l: &Layout) -> [u8; HEADER_LEN] {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(b"PMTiles");
    h.push(3);
    let root_offset = HEADER_LEN as u64;
    let metadata_offset = root_offset + l.root_len;
    let leaves_offset = metadata_offset + l.metadata_len;
    let data_offset = leaves_offset + l.leaves_len;
    for v in [
        root_offset,
        l.root_len,
        metadata_offset,
        l.metadata_len,
        leaves_offset,
        l.leaves_len,
        data_offset,
        l.data_len,
        l.addressed,
        l.entries,
        l.contents,
    ] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.push(1); // clustered
    h.push(1); // internal compression: none
    h.push(1); // tile compression: none (images are compressed already)
    h.push(tile_type(&meta.kind));
    h.push(meta.min_zoom);
    h.push(meta.max_zoom);
    let e7 = |v: f64| (v * 1e7).round() as i32;
    let [w, s, e, n] = meta.bounds;
    for v in [e7(w), e7(s), e7(e), e7(n)] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.push(meta.min_zoom);
    h.extend_from_slice(&e7((w + e) / 2.0).to_le_bytes());
    h.extend_from_slice(&e7((s + n) / 2.0).to_le_bytes());
    let mut out = [0u8; HEADER_LEN];
    out.copy_from_slice(&h[..HEADER_LEN]);
    out
}

/// Writes a PMTiles archive: tiles go to a side file as they come, and
/// [`ArchiveWriter::finish`] sorts them by tile id and assembles the archive.
pub struct PmtilesWriter {
    path: PathBuf,
    meta: ArchiveMeta,
    spool_path: PathBuf,
    spool: BufWriter<File>,
    spool_len: u64,
    tiles: Vec<Entry>,
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
        self.tiles.sort_by_key(|e| e.tile_id);
        if self.tiles.windows(2).any(|w| w[0].tile_id == w[1].tile_id) {
            return Err(RasterError::Archive {
                path: self.path.clone(),
                detail: "duplicate tile".into(),
            });
        }
        // Pass 1: tile data in tile-id order into a second side file, merging
        // runs of consecutive ids with equal contents.
        let data_path = self.path.with_extension("pmtiles-data");
        let result = self.write_sorted_data(&data_path);
        let result = result.and_then(|(entries, data_len, contents)| {
            // Pass 2: header, directories, metadata, then the data.
            let (root, leaves) = build_directories(&entries);
            let mut metadata = serde_json::json!({
                "name": self.meta.name,
                "description": self.meta.description,
                "format": self.meta.kind.format_name(),
                "type": if matches!(self.meta.kind, TileKind::Mvt { .. }) { "overlay" } else { "baselayer" },
                "generator": "citygrid",
                "bounds": self.meta.bounds,
                "minzoom": self.meta.min_zoom,
                "maxzoom": self.meta.max_zoom,
            });
            if let TileKind::Mvt { vector_layers } = &self.meta.kind {
                metadata["vector_layers"] = vector_layers.clone();
            }
            let metadata = metadata.to_string().into_bytes();
            let layout = Layout {
                root_len: root.len() as u64,
                metadata_len: metadata.len() as u64,
                leaves_len: leaves.len() as u64,
                data_len,
                addressed: entries.iter().map(|e| u64::from(e.run_length)).sum(),
                entries: entries.len() as u64,
                contents,
            };
            let file = File::create(&self.path).map_err(|e| io_err(&self.path, e))?;
            let mut out = BufWriter::new(file);
            let io = |e| io_err(&self.path, e);
            out.write_all(&header(&self.meta, &layout)).map_err(io)?;
            out.write_all(&root).map_err(io)?;
            out.write_all(&metadata).map_err(io)?;
            out.write_all(&leaves).map_err(io)?;
            let mut data = File::open(&data_path).map_err(|e| io_err(&data_path, e))?;
            std::io::copy(&mut data, &mut out).map_err(io)?;
            out.flush().map_err(io)?;
            Ok(HEADER_LEN as u64
                + layout.root_len
                + layout.metadata_len
                + layout.leaves_len
                + data_len)
        });
        let _ = std::fs::remove_file(&data_path);
        result
    }

    fn write_sorted_data(&self, data_path: &Path) -> Result<(Vec<Entry>, u64, u64)> {
        let mut spool =
            BufReader::new(File::open(&self.spool_path).map_err(|e| io_err(&self.spool_path, e))?);
        let mut data = BufWriter::new(File::create(data_path).map_err(|e| io_err(data_path, e))?);
        let mut entries: Vec<Entry> = Vec::with_capacity(self.tiles.len());
        let mut previous: Vec<u8> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let (mut data_len, mut contents) = (0u64, 0u64);
        for tile in &self.tiles {
            buf.resize(tile.length as usize, 0);
            spool
                .seek(SeekFrom::Start(tile.offset))
                .and_then(|_| spool.read_exact(&mut buf))
                .map_err(|e| io_err(&self.spool_path, e))?;
            if let Some(last) = entries.last_mut() {
                if buf == previous && last.tile_id + u64::from(last.run_length) == tile.tile_id {
                    last.run_length += 1;
                    continue;
                }
            }
            data.write_all(&buf).map_err(|e| io_err(data_path, e))?;
            entries.push(Entry {
                tile_id: tile.tile_id,
                offset: data_len,
                length: tile.length,
                run_length: 1,
            });
            data_len += u64::from(tile.length);
            contents += 1;
            std::mem::swap(&mut previous, &mut buf);
        }
        data.flush().map_err(|e| io_err(data_path, e))?;
        Ok((entries, data_len, contents))
    }
}

fn io_err(path: &Path, e: std::io::Error) -> RasterError {
    RasterError::Archive {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

impl ArchiveWriter for PmtilesWriter {
    fn add(&mut self, z: u8, x: u32, y: u32, data: &[u8]) -> Result<()> {
        let length = u32::try_from(data.len()).map_err(|_| RasterError::Archive {
            path: self.path.clone(),
            detail: format!("tile {z}/{x}/{y} is larger than 4 GiB"),
        })?;
        self.spool
            .write_all(data)
            .map_err(|e| io_err(&self.spool_path, e))?;
        self.tiles.push(Entry {
            tile_id: zxy_to_tile_id(z, x, y),
            offset: self.spool_len,
            length,
            run_length: 1,
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
            assert_eq!(zxy_to_tile_id(z, x, y), id, "{z}/{x}/{y}");
        }
        assert_eq!(zxy_to_tile_id(12, 3423, 1763), 19_078_479);
        // Ids of one zoom are a permutation of a contiguous range.
        let mut ids: Vec<u64> = (0..8)
            .flat_map(|x| (0..8).map(move |y| zxy_to_tile_id(3, x, y)))
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (21..85).collect::<Vec<_>>());
    }

    #[test]
    fn raster_pmtiles_directory_encoding() {
        let entries = [
            Entry {
                tile_id: 0,
                offset: 0,
                length: 10,
                run_length: 1,
            },
            Entry {
                tile_id: 1,
                offset: 10,
                length: 5,
                run_length: 2,
            },
            Entry {
                tile_id: 5,
                offset: 0,
                length: 10,
                run_length: 1,
            },
        ];
        let bytes = serialize_directory(&entries);
        assert_eq!(bytes, vec![3, 0, 1, 4, 1, 2, 1, 10, 5, 10, 1, 0, 1]);
        let many: Vec<Entry> = (0..20_000u64)
            .map(|i| Entry {
                tile_id: i * 3,
                offset: i * 100,
                length: 100,
                run_length: 1,
            })
            .collect();
        let (root, leaves) = build_directories(&many);
        assert!(root.len() <= ROOT_MAX - HEADER_LEN);
        assert!(!leaves.is_empty());
    }
}
