//! The end of every vector import (files through GDAL, OSM extracts): a layer's
//! batches COPYed into its staging table, its catalogue entry, and the swap of all
//! staged layers into place, with the reports these give.

use std::time::Instant;

use sqlx::PgConnection;

use crate::catalog::{self, CatalogEntry, ImportStats};
use crate::control::{Cancel, Counters};
use crate::error::ImportError;
use crate::fields::CatalogField;
use crate::pipeline::EncodedBatch;
use crate::stage::{self, StageSpec, Staged};

/// The outcome of one imported layer.
#[derive(Debug, Clone)]
pub struct LayerReport {
    /// Layer id.
    pub id: String,
    /// Final geometry type.
    pub geometry_type: String,
    /// Source CRS label.
    pub source_crs: String,
    /// Catalogue version after the import.
    pub version: i64,
    /// Counts and timing.
    pub stats: ImportStats,
}

/// The outcome of an import command.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// One entry per layer written.
    pub layers: Vec<LayerReport>,
    /// Wall-clock seconds overall.
    pub seconds: f64,
}

/// A layer staged and waiting for the swap.
pub(crate) struct Prepared {
    pub staged: Staged,
    pub entry: CatalogEntry,
}

/// COPYs a layer's batches into its staging table and completes it.
pub(crate) async fn stage_layer(
    conn: &mut PgConnection,
    spec: &StageSpec,
    batches: tokio::sync::mpsc::Receiver<Result<EncodedBatch, ImportError>>,
    cancel: &Cancel,
    counters: &Counters,
) -> Result<Staged, ImportError> {
    let started = Instant::now();
    let staged = stage::write(conn, spec, batches, cancel, counters).await?;
    tracing::debug!(layer = %spec.layer_id, seconds = started.elapsed().as_secs_f64(), "rows copied");
    if cancel.is_cancelled() {
        return Err(ImportError::Interrupted);
    }
    let staged = stage::finish(conn, staged, spec.polygon_repair, counters).await?;
    let invalid = Counters::get(&counters.skipped_invalid);
    if invalid > 0 {
        let first = counters.first_invalid.lock().ok().and_then(|f| f.clone());
        tracing::warn!(
            layer = %spec.layer_id,
            "{invalid} feature(s) skipped: unusable geometry{}",
            first.map(|r| format!(" (first: {r})")).unwrap_or_default()
        );
    }
    Ok(staged)
}

/// The catalogue entry of a staged layer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn catalog_entry(
    id: &str,
    title: Option<String>,
    source_layer: &str,
    source_file: &str,
    source_crs: &str,
    fields: Vec<CatalogField>,
    staged: &Staged,
    counters: &Counters,
    seconds: f64,
) -> CatalogEntry {
    let written = staged.rows.max(0) as u64;
    let stem = std::path::Path::new(source_file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(id)
        .to_string();
    let default_title = if source_layer.is_empty() || source_layer == stem {
        stem
    } else {
        format!("{stem} – {source_layer}")
    };
    CatalogEntry {
        id: id.to_string(),
        title,
        default_title,
        geometry_type: staged.geometry.name().to_string(),
        source_file: source_file.to_string(),
        source_crs: source_crs.to_string(),
        fields,
        feature_count: staged.rows,
        bounds: staged.bounds,
        min_zoom: staged.min_zoom,
        stats: ImportStats {
            read: Counters::get(&counters.read),
            written,
            repaired: Counters::get(&counters.repaired),
            skipped_empty: Counters::get(&counters.skipped_empty),
            skipped_invalid: Counters::get(&counters.skipped_invalid),
            seconds,
            rows_per_second: if seconds > 0.0 {
                written as f64 / seconds
            } else {
                0.0
            },
            source_layer: source_layer.to_string(),
        },
    }
}

/// Swaps every prepared layer into place (inside the caller's transaction).
pub(crate) async fn swap_all(
    conn: &mut PgConnection,
    prepared: Vec<Prepared>,
    replace: bool,
    cancel: &Cancel,
) -> Result<Vec<LayerReport>, ImportError> {
    let mut reports = Vec::new();
    for p in prepared {
        if cancel.is_cancelled() {
            return Err(ImportError::Interrupted);
        }
        let version = catalog::swap_in(conn, &p.staged, &p.entry, replace).await?;
        tracing::debug!(layer = %p.entry.id, version, rows = p.entry.feature_count, "layer imported");
        reports.push(LayerReport {
            id: p.entry.id.clone(),
            geometry_type: p.entry.geometry_type.clone(),
            source_crs: p.entry.source_crs.clone(),
            version,
            stats: p.entry.stats,
        });
    }
    Ok(reports)
}
