//! Vector layers into tile archives: every tile over the layer's extent in the
//! zoom range is encoded as MVT by the tile engine (`citygrid_tiles::mvt`, the
//! same encoder the HTTP service uses), in parallel, and written in batches.
//! Loading the layer's index from PostGIS is the caller's job (the service has
//! the loader).

use std::path::Path;
use std::time::Instant;

use citygrid_geo::tms::{tile_span_m, tiles_overlapping, Bbox, TileCoord, TileRange, MAX_ZOOM};
use citygrid_tiles::index::LayerIndex;
use citygrid_tiles::mvt::{encode_tile, query_bounds, EncodeOptions, TileLayer};
use citygrid_tiles::schema::FieldType;
use citygrid_tiles::tileprops::{TileFilter, TileProperties};
use rayon::prelude::*;

use super::{write_atomically, ArchiveKind, ArchiveMeta, ExportSummary, TileKind};
use crate::progress::TileProgress;
use crate::raster::error::{RasterError, Result};

/// The default highest zoom of a vector export: clients overzoom beyond it.
pub const DEFAULT_VECTOR_MAX_ZOOM: u8 = 14;

/// Tiles encoded per parallel batch (bounds memory).
const BATCH: usize = 512;

/// The tiles of zoom `z` whose buffered bounds (what the encoder queries, see
/// `query_bounds`) meet `bbox`: the tiles over the layer's extent and their
/// neighbours that the buffer reaches into, as the server serves them.
fn buffered_range(z: u8, bbox: &Bbox, options: &EncodeOptions) -> TileRange {
    let margin = tile_span_m(z) * f64::from(options.buffer) / f64::from(options.extent.max(1));
    tiles_overlapping(&bbox.expand(margin), z)
}

/// A vector layer to export: its index and what its tiles carry.
#[derive(Debug, Clone, Copy)]
pub struct VectorLayer<'a> {
    /// The layer id (the tile layer's name).
    pub name: &'a str,
    /// Its title (the archive's name).
    pub title: &'a str,
    /// Its features.
    pub index: &'a LayerIndex,
    /// Its tile schema in force (`LayerMeta::effective_tile_properties`): the
    /// archive's tiles carry what the server's do.
    pub tile_properties: &'a TileProperties,
}

/// Writes `layer` as MVT tiles for zooms `min_zoom..=max_zoom` into the archive at
/// `path` (blocking; uses the current rayon pool).
pub fn export_vector(
    path: &Path,
    layer: VectorLayer<'_>,
    min_zoom: u8,
    max_zoom: u8,
    quiet: bool,
) -> Result<ExportSummary> {
    let VectorLayer {
        name,
        title,
        index,
        tile_properties,
    } = layer;
    let filter = TileFilter::new(tile_properties, index.schema());
    let started = Instant::now();
    let kind = ArchiveKind::from_path(path)?;
    crate::raster::check_zoom_args(Some(min_zoom), Some(max_zoom))?;
    let (Some(merc), Some(lonlat)) = (index.bounds_merc(), index.bounds_lonlat()) else {
        return Err(RasterError::NotAvailable(format!(
            "layer {name:?} has no features to export"
        )));
    };
    let fields: serde_json::Map<String, serde_json::Value> = index
        .schema()
        .fields
        .iter()
        .filter(|f| tile_properties.includes(&f.name))
        .map(|f| {
            let ty = match f.ty {
                FieldType::String => "String",
                FieldType::Int | FieldType::Double => "Number",
                FieldType::Bool => "Boolean",
            };
            (f.name.clone(), serde_json::Value::from(ty))
        })
        .collect();
    let meta = ArchiveMeta {
        name: title.to_string(),
        description: format!("citygrid vector layer {name}"),
        kind: TileKind::Mvt {
            vector_layers: serde_json::json!([{
                "id": name, "fields": fields, "minzoom": min_zoom, "maxzoom": max_zoom
            }]),
        },
        bounds: [lonlat.min_x, lonlat.min_y, lonlat.max_x, lonlat.max_y],
        min_zoom,
        max_zoom,
    };
    let options = EncodeOptions::default();
    let total: u64 = (min_zoom..=max_zoom.min(MAX_ZOOM))
        .map(|z| buffered_range(z, &merc, &options).count())
        .sum();
    let progress = TileProgress::new(&format!("export {name}"), total, quiet);
    let (tiles, bytes) = write_atomically(path, kind, meta, |writer| {
        let mut written = 0u64;
        for z in min_zoom..=max_zoom {
            let coords: Vec<(u32, u32)> = buffered_range(z, &merc, &options)
                .iter()
                .map(|t| (t.x(), t.y()))
                .collect();
            for batch in coords.chunks(BATCH) {
                let encoded: Vec<Option<(u32, u32, Vec<u8>)>> = batch
                    .par_iter()
                    .map(|&(x, y)| -> Result<Option<(u32, u32, Vec<u8>)>> {
                        let tile = TileCoord::new(z, x, y)
                            .map_err(|e| RasterError::NotAvailable(e.to_string()))?;
                        let features =
                            filter.select(z, index.query_bbox_merc(&query_bounds(tile, &options)));
                        if features.is_empty() {
                            return Ok(None);
                        }
                        let properties = filter.properties_at(index.schema(), z);
                        let layer = TileLayer {
                            name,
                            schema: index.schema(),
                            features: &features,
                            properties: Some(&properties),
                        };
                        let out = encode_tile(tile, &[layer], &options).map_err(|e| {
                            RasterError::NotAvailable(format!("tile {z}/{x}/{y}: {e}"))
                        })?;
                        Ok((!out.bytes.is_empty()).then_some((x, y, out.bytes)))
                    })
                    .collect::<Result<_>>()?;
                progress.inc(batch.len() as u64);
                for (x, y, data) in encoded.into_iter().flatten() {
                    writer.add(z, x, y, &data)?;
                    written += 1;
                }
            }
        }
        Ok(written)
    })?;
    progress.finish();
    Ok(ExportSummary {
        tiles,
        bytes,
        min_zoom,
        max_zoom,
        seconds: started.elapsed().as_secs_f64(),
    })
}
