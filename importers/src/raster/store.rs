//! PostGIS storage of raster tiles: `layers."<id>"(z, x, y, data)` (WebMercatorQuad)
//! and, when the geographic tile matrix sets were asked for, the same table
//! `layers."<id>#geographic"` of the geographic grid's tiles (CGCS2000Quad levels,
//! shared with WorldCRS84Quad one level lower: `citygrid_geo::matrixset`).
//!
//! An import streams tiles with binary `COPY` into a staging table, then swaps
//! it in with the catalogue upsert and `NOTIFY citygrid_layers` in one
//! transaction, so readers see either the old layer or the complete new one.
//! A session advisory lock keeps two imports of one layer apart.

use citygrid_tiles::LayerKind;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row};

use super::error::{RasterError, Result};
use super::pyramid::Tile;

/// Checks a layer id against the contract: `[a-z0-9_]{1,48}`.
///
/// ```
/// use citygrid_importers::raster::store::check_layer_id;
/// assert!(check_layer_id("ortho_2024").is_ok());
/// assert!(check_layer_id("Ortho;drop").is_err());
/// ```
pub fn check_layer_id(id: &str) -> Result<()> {
    let ok = citygrid_db::is_identifier(id, 48);
    if ok {
        Ok(())
    } else {
        Err(RasterError::LayerId(id.to_string()))
    }
}

/// `layers."<id>"` (the id must have passed [`check_layer_id`]).
pub fn table(id: &str) -> String {
    format!("layers.\"{id}\"")
}

/// The staging table's bare name; `#` cannot occur in a layer id.
fn staging_name(id: &str) -> String {
    format!("{id}#raster_staging")
}

/// The bare name of the table of the geographic grid's tiles.
pub fn geographic_name(id: &str) -> String {
    format!("{id}#geographic")
}

/// The staging table of the geographic grid's tiles.
fn geo_staging_name(id: &str) -> String {
    format!("{id}#geo_staging")
}

/// The kind (`vector`/`raster`) of an existing layer.
pub async fn layer_kind(pool: &PgPool, id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT kind FROM layer_catalog WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// One stored tile of a raster layer, or `None` when there is none (no tile
/// there, or no such raster layer).
pub async fn read_tile(
    pool: &PgPool,
    layer: &str,
    z: u8,
    x: u32,
    y: u32,
) -> Result<Option<Vec<u8>>> {
    check_layer_id(layer)?;
    let (Ok(x), Ok(y)) = (i32::try_from(x), i32::try_from(y)) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT data FROM {} WHERE z = $1 AND x = $2 AND y = $3",
        table(layer)
    );
    match sqlx::query_scalar::<_, Vec<u8>>(&sql)
        .bind(i16::from(z))
        .bind(x)
        .bind(y)
        .fetch_optional(pool)
        .await
    {
        Ok(tile) => Ok(tile),
        // 42P01: undefined_table (no such layer); 42703: a vector layer's table.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("42P01") | Some("42703")) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// What the catalogue records about a raster layer.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// Layer id.
    pub id: String,
    /// Human title.
    pub title: String,
    /// The source file as given.
    pub source_file: String,
    /// The source CRS label.
    pub source_crs: String,
    /// Number of tiles stored.
    pub tiles: i64,
    /// Footprint lon/lat `[w, s, e, n]`.
    pub bounds: [f64; 4],
    /// Zoom range.
    pub min_zoom: u8,
    /// Zoom range.
    pub max_zoom: u8,
    /// `png` | `jpeg` | `webp`.
    pub tile_format: String,
    /// Counts and timings.
    pub import_stats: serde_json::Value,
}

/// An import's hold on a layer: a connection with the layer's advisory lock and
/// a fresh staging table. Call [`LayerWriter::commit`] or [`LayerWriter::abort`].
pub struct LayerWriter {
    conn: PoolConnection<Postgres>,
    id: String,
    replace: bool,
    /// A geographic pyramid is staged too ([`LayerWriter::stage_geographic`]).
    geographic: bool,
}

const BATCH_BYTES: usize = 1 << 20;

impl LayerWriter {
    /// Locks the layer for this import and creates its staging table.
    pub async fn begin(pool: &PgPool, id: &str, replace: bool) -> Result<Self> {
        check_layer_id(id)?;
        let mut conn = pool.acquire().await?;
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('citygrid_layer:' || $1))")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        if !locked {
            return Err(RasterError::Busy(id.to_string()));
        }
        let mut writer = Self {
            conn,
            id: id.to_string(),
            replace,
            geographic: false,
        };
        if let Err(e) = writer.create_staging().await {
            writer.abort().await;
            return Err(e);
        }
        Ok(writer)
    }

    /// Creates the staging table of the geographic grid's tiles: the layer will
    /// have them ([`LayerWriter::copy_geographic_from`]).
    pub async fn stage_geographic(&mut self) -> Result<()> {
        self.geographic = true;
        let name = geo_staging_name(&self.id);
        self.create_table(&name).await
    }

    async fn create_staging(&mut self) -> Result<()> {
        let name = staging_name(&self.id);
        self.create_table(&name).await
    }

    async fn create_table(&mut self, name: &str) -> Result<()> {
        let staging = format!("layers.\"{name}\"");
        sqlx::query(&format!("DROP TABLE IF EXISTS {staging}"))
            .execute(&mut *self.conn)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE {staging} (z smallint NOT NULL, x integer NOT NULL, y integer NOT NULL, data bytea NOT NULL)"
        ))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Streams tiles from `tiles` into the staging table with binary COPY until
    /// the channel closes. Returns the number of rows copied.
    pub async fn copy_from(
        &mut self,
        tiles: &mut tokio::sync::mpsc::Receiver<Tile>,
    ) -> Result<u64> {
        let name = staging_name(&self.id);
        self.copy_into(&name, tiles).await
    }

    /// As [`LayerWriter::copy_from`] for the geographic grid's tiles (after
    /// [`LayerWriter::stage_geographic`]).
    pub async fn copy_geographic_from(
        &mut self,
        tiles: &mut tokio::sync::mpsc::Receiver<Tile>,
    ) -> Result<u64> {
        let name = geo_staging_name(&self.id);
        self.copy_into(&name, tiles).await
    }

    async fn copy_into(
        &mut self,
        table: &str,
        tiles: &mut tokio::sync::mpsc::Receiver<Tile>,
    ) -> Result<u64> {
        let sql = format!("COPY layers.\"{table}\" (z, x, y, data) FROM STDIN (FORMAT binary)");
        let mut copy = self.conn.copy_in_raw(&sql).await?;
        let mut buf = Vec::with_capacity(BATCH_BYTES + 64 * 1024);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        while let Some(tile) = tiles.recv().await {
            let (Ok(x), Ok(y), Ok(len)) = (
                i32::try_from(tile.x),
                i32::try_from(tile.y),
                i32::try_from(tile.data.len()),
            ) else {
                let _ = copy.abort("tile out of range").await;
                return Err(RasterError::Interrupted(format!(
                    "tile {}/{}/{} out of range",
                    tile.z, tile.x, tile.y
                )));
            };
            buf.extend_from_slice(&4i16.to_be_bytes());
            buf.extend_from_slice(&2i32.to_be_bytes());
            buf.extend_from_slice(&i16::from(tile.z).to_be_bytes());
            buf.extend_from_slice(&4i32.to_be_bytes());
            buf.extend_from_slice(&x.to_be_bytes());
            buf.extend_from_slice(&4i32.to_be_bytes());
            buf.extend_from_slice(&y.to_be_bytes());
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&tile.data);
            if buf.len() >= BATCH_BYTES {
                copy.send(std::mem::take(&mut buf)).await?;
                buf.reserve(BATCH_BYTES + 64 * 1024);
            }
        }
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        copy.send(buf).await?;
        Ok(copy.finish().await?)
    }

    /// Indexes the staging table and swaps it in with the catalogue upsert and
    /// the change notification, in one transaction; then releases the lock.
    pub async fn commit(mut self, entry: &CatalogEntry) -> Result<()> {
        let result = self.swap(entry).await;
        if result.is_err() {
            self.drop_staging().await;
        }
        self.unlock().await;
        result
    }

    async fn swap(&mut self, entry: &CatalogEntry) -> Result<()> {
        let id = self.id.clone();
        let staging = staging_name(&id);
        sqlx::query(&format!(
            "ALTER TABLE layers.\"{staging}\" ADD CONSTRAINT \"{staging}_pkey\" PRIMARY KEY (z, x, y)"
        ))
        .execute(&mut *self.conn)
        .await?;
        let (geo, geo_staging) = (geographic_name(&id), geo_staging_name(&id));
        if self.geographic {
            sqlx::query(&format!(
                "ALTER TABLE layers.\"{geo_staging}\" ADD CONSTRAINT \"{geo_staging}_pkey\" PRIMARY KEY (z, x, y)"
            ))
            .execute(&mut *self.conn)
            .await?;
        }
        let mut tx = sqlx::Connection::begin(&mut *self.conn).await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT kind FROM layer_catalog WHERE id = $1 FOR UPDATE")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
        if existing.is_some() && !self.replace {
            return Err(RasterError::LayerExists(id));
        }
        // The pyramid being replaced is kept (schema layer_history) for the history's
        // retention, as a vector re-import keeps its table; its geographic pyramid is
        // built again from the source and not kept.
        if existing.is_some() {
            if let Some(kept) = citygrid_store::history::snapshot_previous(&mut tx, &id).await? {
                tracing::info!(layer = %id, table = %kept, "previous raster version kept");
            }
        }
        sqlx::query(&format!("DROP TABLE IF EXISTS layers.\"{id}\" CASCADE"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "ALTER TABLE layers.\"{staging}\" RENAME TO \"{id}\""
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "ALTER TABLE layers.\"{id}\" RENAME CONSTRAINT \"{staging}_pkey\" TO \"{id}_pkey\""
        ))
        .execute(&mut *tx)
        .await?;
        // The geographic tiles of a previous import go with it, replaced or not.
        sqlx::query(&format!("DROP TABLE IF EXISTS layers.\"{geo}\""))
            .execute(&mut *tx)
            .await?;
        if self.geographic {
            sqlx::query(&format!(
                "ALTER TABLE layers.\"{geo_staging}\" RENAME TO \"{geo}\""
            ))
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!(
                "ALTER TABLE layers.\"{geo}\" RENAME CONSTRAINT \"{geo_staging}_pkey\" TO \"{geo}_pkey\""
            ))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO layer_catalog (id, title, kind, geometry_type, source_file, source_crs, srid, fields, \
                 feature_count, bounds, min_zoom, max_zoom, tile_format, import_stats, version, imported_at, updated_at) \
             VALUES ($1, $2, 'raster', NULL, $3, $4, 3857, '[]'::jsonb, $5, $6, $7, $8, $9, $10, 1, now(), now()) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, kind = 'raster', geometry_type = NULL, \
                 source_file = EXCLUDED.source_file, source_crs = EXCLUDED.source_crs, srid = 3857, \
                 fields = '[]'::jsonb, feature_count = EXCLUDED.feature_count, bounds = EXCLUDED.bounds, \
                 min_zoom = EXCLUDED.min_zoom, max_zoom = EXCLUDED.max_zoom, tile_format = EXCLUDED.tile_format, \
                 import_stats = EXCLUDED.import_stats, version = layer_catalog.version + 1, \
                 imported_at = now(), updated_at = now()",
        )
        .bind(&id)
        .bind(&entry.title)
        .bind(&entry.source_file)
        .bind(&entry.source_crs)
        .bind(entry.tiles)
        .bind(entry.bounds.to_vec())
        .bind(i32::from(entry.min_zoom))
        .bind(i32::from(entry.max_zoom))
        .bind(&entry.tile_format)
        .bind(&entry.import_stats)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(citygrid_db::LAYER_CHANNEL)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops the staging table and releases the lock; the previous layer is untouched.
    pub async fn abort(mut self) {
        self.drop_staging().await;
        self.unlock().await;
    }

    async fn drop_staging(&mut self) {
        for name in [staging_name(&self.id), geo_staging_name(&self.id)] {
            let sql = format!("DROP TABLE IF EXISTS layers.\"{name}\"");
            if let Err(e) = sqlx::query(&sql).execute(&mut *self.conn).await {
                tracing::warn!("could not drop the staging table of layer {}: {e}", self.id);
            }
        }
    }

    async fn unlock(&mut self) {
        let result = sqlx::query("SELECT pg_advisory_unlock(hashtext('citygrid_layer:' || $1))")
            .bind(&self.id)
            .execute(&mut *self.conn)
            .await;
        if let Err(e) = result {
            // Closing the connection releases the lock for certain.
            tracing::warn!("could not release the lock of layer {}: {e}", self.id);
            self.conn.close_on_drop();
        }
    }
}

/// A raster layer's catalogue facts needed to export it.
#[derive(Debug, Clone)]
pub struct LayerFacts {
    /// Vector or raster.
    pub kind: LayerKind,
    /// Title.
    pub title: String,
    /// `png` | `jpeg` | `webp` for raster layers.
    pub tile_format: Option<String>,
    /// lon/lat `[w, s, e, n]`.
    pub bounds: Option<Vec<f64>>,
    /// Zoom range.
    pub min_zoom: i32,
    /// Zoom range.
    pub max_zoom: i32,
}

/// Looks up a layer in the catalogue.
pub async fn layer_facts(pool: &PgPool, id: &str) -> Result<LayerFacts> {
    check_layer_id(id)?;
    let row = sqlx::query("SELECT kind, title, tile_format, bounds, min_zoom, max_zoom FROM layer_catalog WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| RasterError::NoLayer(id.to_string()))?;
    let kind: String = row.try_get("kind")?;
    let kind = kind
        .parse::<LayerKind>()
        .map_err(|e| RasterError::NotAvailable(format!("layer {id:?}: {e}")))?;
    Ok(LayerFacts {
        kind,
        title: row.try_get("title")?,
        tile_format: row.try_get("tile_format")?,
        bounds: row.try_get("bounds")?,
        min_zoom: row.try_get("min_zoom")?,
        max_zoom: row.try_get("max_zoom")?,
    })
}
