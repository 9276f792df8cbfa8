//! An MBTiles 1.3 writer (SQLite, `metadata` and `tiles` tables; rows counted
//! from the south: TMS `tile_row = 2^z - 1 - y`).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::{ArchiveMeta, ArchiveWriter, TileKind};
use crate::raster::error::{RasterError, Result};

/// Writes tiles into a new MBTiles file inside one SQLite transaction.
pub struct MbtilesWriter {
    path: PathBuf,
    conn: Connection,
    /// Vector tiles are stored gzip-compressed, as the MBTiles spec requires.
    gzip: bool,
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> RasterError + '_ {
    move |e| RasterError::Archive {
        path: path.to_path_buf(),
        detail: format!("SQLite: {e}"),
    }
}

impl MbtilesWriter {
    /// Creates the file (which must not exist) with its schema and metadata.
    pub fn create(path: &Path, meta: &ArchiveMeta) -> Result<Self> {
        let err = sql_err(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 4096;
             CREATE TABLE metadata (name text, value text);
             CREATE UNIQUE INDEX name ON metadata (name);
             CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob);
             BEGIN;",
        )
        .map_err(&err)?;
        let [w, s, e, n] = meta.bounds;
        let is_mvt = matches!(meta.kind, TileKind::Mvt { .. });
        let mut rows = vec![
            ("name", meta.name.clone()),
            ("description", meta.description.clone()),
            ("format", meta.kind.format_name().to_string()),
            (
                "type",
                if is_mvt { "overlay" } else { "baselayer" }.to_string(),
            ),
            ("version", "1.1".to_string()),
            ("minzoom", meta.min_zoom.to_string()),
            ("maxzoom", meta.max_zoom.to_string()),
            ("bounds", format!("{w},{s},{e},{n}")),
            (
                "center",
                format!("{},{},{}", (w + e) / 2.0, (s + n) / 2.0, meta.min_zoom),
            ),
        ];
        if let TileKind::Mvt { vector_layers } = &meta.kind {
            rows.push((
                "json",
                serde_json::json!({ "vector_layers": vector_layers }).to_string(),
            ));
        }
        for (name, value) in rows {
            conn.execute(
                "INSERT INTO metadata (name, value) VALUES (?1, ?2)",
                params![name, value],
            )
            .map_err(&err)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn,
            gzip: is_mvt,
        })
    }
}

impl ArchiveWriter for MbtilesWriter {
    fn add(&mut self, z: u8, x: u32, y: u32, data: &[u8]) -> Result<()> {
        let row = (1i64 << z) - 1 - i64::from(y);
        let compressed = if self.gzip {
            let bytes = citygrid_tiles::compress::gzip(data).map_err(|e| RasterError::Archive {
                path: self.path.clone(),
                detail: format!("gzip: {e}"),
            })?;
            Some(bytes)
        } else {
            None
        };
        let data = compressed.as_deref().unwrap_or(data);
        self.conn
            .prepare_cached("INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut stmt| stmt.execute(params![i64::from(z), i64::from(x), row, data]))
            .map_err(sql_err(&self.path))?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64> {
        let err = sql_err(&self.path);
        self.conn
            .execute_batch(
                "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row); COMMIT; ANALYZE;",
            )
            .map_err(&err)?;
        self.conn.close().map_err(|(_, e)| err(e))?;
        Ok(std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0))
    }
}
