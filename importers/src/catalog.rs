//! The layer catalogue (`layer_catalog`): checks before an import, the swap of a
//! staged table into place with its catalogue row and `NOTIFY`. The statements are
//! `citygrid_store::catalog`'s (the same table the service serves `/catalog` from).
//!
//! The defaults it writes (zooms, the table mark) are in [`crate::defaults`].

use citygrid_store::catalog as store;
use citygrid_tiles::LayerKind;
use serde::Serialize;
use sqlx::PgConnection;

use crate::defaults::{DEFAULT_LAYER_MAX_ZOOM, IMPORTED_MARK};
use crate::error::{DbContext, ImportError};
use crate::fields::CatalogField;
use crate::stage::Staged;

/// Import statistics kept in the catalogue row.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ImportStats {
    /// Features read from the source.
    pub read: u64,
    /// Rows in the layer.
    pub written: u64,
    /// Geometries repaired (rings closed, degenerate parts dropped, `ST_MakeValid`).
    pub repaired: u64,
    /// Features without geometry, or with an empty one.
    pub skipped_empty: u64,
    /// Features whose geometry could not be used.
    pub skipped_invalid: u64,
    /// Wall-clock seconds for this layer.
    pub seconds: f64,
    /// Rows written per second.
    pub rows_per_second: f64,
    /// Source layer name.
    pub source_layer: String,
}

/// Everything the catalogue row says about a layer.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// Layer id.
    pub id: String,
    /// `--title`, kept over any previous title.
    pub title: Option<String>,
    /// Title for a new layer without `--title`.
    pub default_title: String,
    /// `Point`, …, `Geometry`.
    pub geometry_type: String,
    /// The file, as given.
    pub source_file: String,
    /// `EPSG:4547`, `gcj02`…
    pub source_crs: String,
    /// Attribute columns.
    pub fields: Vec<CatalogField>,
    /// Rows.
    pub feature_count: i64,
    /// [west, south, east, north].
    pub bounds: Option<[f64; 4]>,
    /// Lowest zoom drawn.
    pub min_zoom: i32,
    /// Statistics.
    pub stats: ImportStats,
}

/// What already goes by a layer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    None,
    /// An imported vector layer (or a catalogue row without its table).
    Imported,
    /// A raster layer.
    Raster,
    /// A table citygrid maintains itself (unit grids, components, cases…).
    Managed,
}

/// What goes by layer id `id`.
pub async fn existing(conn: &mut PgConnection, id: &str) -> Result<Existing, ImportError> {
    let store::Occupant {
        kind,
        table,
        comment,
    } = store::occupant(&mut *conn, id)
        .await
        .db("reading the layer catalogue")?;
    let raster = matches!(
        kind.as_deref().map(str::parse::<LayerKind>),
        Some(Ok(LayerKind::Raster))
    );
    Ok(match (kind, table, comment) {
        _ if raster => Existing::Raster,
        (_, Some(_), Some(c)) if c.starts_with(IMPORTED_MARK) => Existing::Imported,
        (_, Some(_), _) => Existing::Managed,
        (Some(_), None, _) => Existing::Imported,
        (None, None, _) => Existing::None,
    })
}

/// Fails unless every id may be written: new, or an imported layer and `replace`.
pub async fn check_targets(
    conn: &mut PgConnection,
    ids: &[String],
    replace: bool,
) -> Result<(), ImportError> {
    for id in ids {
        match existing(conn, id).await? {
            Existing::None => {}
            Existing::Raster => {
                return Err(ImportError::Invalid(format!(
                    "layer {id} is a raster layer: choose another id with --layer"
                )))
            }
            Existing::Managed => {
                return Err(ImportError::Invalid(format!(
                    "layer {id} is maintained by citygrid itself, not imported: choose another id with --layer"
                )))
            }
            Existing::Imported if !replace => return Err(ImportError::Exists(id.clone())),
            Existing::Imported => {}
        }
    }
    Ok(())
}

/// Inside the caller's transaction: replaces layer `entry.id` with the staged table
/// (renaming its indexes to `<id>:pkey` and `<id>:geom`; the replaced table is kept in
/// schema `layer_history`, see `citygrid_store::history`), upserts the catalogue row (version + 1) and
/// announces the change on [`citygrid_db::LAYER_CHANNEL`]. Returns the new version.
pub async fn swap_in(
    conn: &mut PgConnection,
    staged: &Staged,
    entry: &CatalogEntry,
    replace: bool,
) -> Result<i64, ImportError> {
    let id = &entry.id;
    store::lock_layer(&mut *conn, id)
        .await
        .db("locking the layer")?;
    // Checked again under the lock: another import may have finished meanwhile.
    check_targets(conn, std::slice::from_ref(id), replace).await?;
    // The version being replaced is kept (schema layer_history) for the history's
    // retention, instead of being dropped.
    if let Some(kept) = citygrid_store::history::snapshot_previous(&mut *conn, id)
        .await
        .db(&format!("keeping the previous version of layer {id}"))?
    {
        tracing::info!(layer = %id, table = %kept, "previous version kept");
    }
    // One round trip (simple query protocol, inside the caller's transaction).
    let table = store::StagedTable {
        table: &staged.table,
        pkey_index: &staged.pkey_index,
        geom_index: &staged.geom_index,
    };
    store::replace_table(&mut *conn, id, table)
        .await
        .db(&format!("replacing layer {id}"))?;
    let fields = serde_json::to_value(&entry.fields).unwrap_or_default();
    let stats = serde_json::to_value(&entry.stats).unwrap_or_default();
    let bounds: Option<Vec<f64>> = entry.bounds.map(|b| b.to_vec());
    // The upsert and the NOTIFY (delivered at commit) in one statement.
    let row = store::VectorLayerRow {
        id,
        title: entry.title.as_deref(),
        default_title: &entry.default_title,
        geometry_type: &entry.geometry_type,
        source_file: &entry.source_file,
        source_crs: &entry.source_crs,
        fields,
        feature_count: entry.feature_count,
        bounds,
        min_zoom: entry.min_zoom,
        max_zoom: DEFAULT_LAYER_MAX_ZOOM,
        import_stats: stats,
    };
    let version = store::upsert_vector(&mut *conn, &row)
        .await
        .db("writing the catalogue row")?;
    Ok(version)
}
