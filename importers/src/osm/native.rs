//! `citygrid import vector FILE.osm.pbf` without GDAL: the file is decoded by
//! [`super::pbf`] on every core, the five layers of GDAL's OSM driver are built by
//! [`super::ogr_layers`], and each layer is handed to the ordinary import pipeline
//! as ready [`RawBatch`]es — the same tables, columns and catalogue entries as the
//! GDAL path (which `CITYGRID_OSM_READER=gdal` still selects).

use std::path::Path;

use rayon::prelude::*;

use crate::copy;
use crate::crs::SourceCrs;
use crate::error::ImportError;
use crate::fields::FieldPlan;
use crate::naming::ColumnNamer;
use crate::osm::ogr_layers::{self, OgrFieldType, OgrLayer, OgrValue};
use crate::osm::pbf;
use crate::reader::{LayerInfo, RawBatch, BATCH_FEATURES};

/// Environment variable that selects the reader of `.osm.pbf` files for
/// `import vector` and `import osm`: `native`, `gdal`, or unset (native up to
/// [`MAX_NATIVE_BYTES`], GDAL above).
pub const READER_ENV: &str = "CITYGRID_OSM_READER";

/// Largest file read natively unless `CITYGRID_OSM_READER=native` asks for it: the
/// native reader holds the decoded extract in memory (about 50 times the file's size
/// on the sample), GDAL's driver spills to a temporary database instead.
pub const MAX_NATIVE_BYTES: u64 = 64 << 20;

/// Whether `import vector` / `import osm` read `path` natively: an `.osm.pbf` up to
/// [`MAX_NATIVE_BYTES`], or any size with `CITYGRID_OSM_READER=native`;
/// `CITYGRID_OSM_READER=gdal` always uses GDAL's driver.
pub fn applies_to(path: &Path) -> bool {
    if !pbf::is_pbf_path(path) {
        return false;
    }
    let choice = std::env::var(READER_ENV).unwrap_or_default();
    match choice.trim().to_ascii_lowercase().as_str() {
        "gdal" => false,
        "native" => true,
        _ => {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            if size > MAX_NATIVE_BYTES {
                tracing::info!(
                    bytes = size,
                    "a large extract: reading it with GDAL's OSM driver (CITYGRID_OSM_READER=native reads it in memory)"
                );
                return false;
            }
            true
        }
    }
}

/// The layers of an extract, encoded and waiting for the pipeline.
pub struct NativeLayers {
    /// The layers, as [`crate::reader::SourceReader::open`] would describe them.
    pub infos: Vec<LayerInfo>,
    /// Per layer: its batches and the number of features skipped as empty.
    batches: Vec<Option<(Vec<RawBatch>, u64)>>,
}

impl NativeLayers {
    /// Takes the batches of layer `index` (once) with the count of empty features.
    pub fn take(&mut self, index: usize) -> (Vec<RawBatch>, u64) {
        self.batches
            .get_mut(index)
            .and_then(Option::take)
            .unwrap_or_default()
    }
}

/// Reads `path` and encodes its layers (blocking, CPU-bound: call it off the async
/// runtime). `crs` overrides the extract's EPSG:4326.
pub fn read(path: &Path, crs: Option<SourceCrs>) -> Result<NativeLayers, ImportError> {
    let started = std::time::Instant::now();
    let data = pbf::read_file(path)?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        nodes = data.node_count(),
        ways = data.ways.len(),
        relations = data.relations.len(),
        "extract decoded"
    );
    let layers = ogr_layers::build_layers(&data);
    // Freeing the decoded extract is not on anybody's path.
    std::thread::spawn(move || drop(data));
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "layers built");
    let crs = crs.unwrap_or_else(|| SourceCrs::epsg(4326));
    let encoded: Vec<(LayerInfo, (Vec<RawBatch>, u64))> = layers
        .into_par_iter()
        .enumerate()
        .map(|(index, layer)| encode(index, layer, &crs))
        .collect();
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "layers encoded");
    let (infos, batches) = encoded.into_iter().map(|(info, b)| (info, Some(b))).unzip();
    Ok(NativeLayers { infos, batches })
}

fn encode(index: usize, layer: OgrLayer, crs: &SourceCrs) -> (LayerInfo, (Vec<RawBatch>, u64)) {
    let mut namer = ColumnNamer::new();
    let fields: Vec<FieldPlan> = layer
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldPlan::native(
                i,
                f.name,
                matches!(f.field_type, OgrFieldType::Integer),
                &mut namer,
            )
        })
        .collect();
    let info = LayerInfo {
        index,
        name: layer.name.to_string(),
        feature_count: Some(layer.features.len() as u64),
        has_geometry: true,
        declared: Some(layer.geometry),
        fields,
        crs: Ok((crs.clone(), false)),
    };
    let mut batches = Vec::new();
    let mut batch = RawBatch::default();
    let mut empty = 0u64;
    let mut next_fid = 1i64;
    for feature in layer.features {
        if feature.wkb.is_empty() {
            empty += 1;
            continue;
        }
        batch.wkb.extend_from_slice(&feature.wkb);
        for i in 0..info.fields.len() {
            match feature.values.get(i).and_then(Option::as_ref) {
                None => copy::null(&mut batch.attrs),
                Some(OgrValue::Text(s)) => copy::text(&mut batch.attrs, s),
                Some(OgrValue::Integer(v)) => copy::bigint(&mut batch.attrs, *v),
            }
        }
        batch.fids.push(next_fid);
        next_fid += 1;
        batch.wkb_ends.push(batch.wkb.len());
        batch.attr_ends.push(batch.attrs.len());
        if batch.len() >= BATCH_FEATURES {
            batches.push(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    (info, (batches, empty))
}
