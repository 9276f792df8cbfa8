//! `citygrid import vector FILE.osm.pbf` without GDAL: the file is decoded by
//! [`super::pbf`] on every core ([`open`]), then the five layers of GDAL's OSM driver
//! are built by [`super::ogr_layers`] and each is handed to the ordinary import
//! pipeline as [`RawBatch`]es as soon as it is built ([`NativeSource::stream`]) — the
//! same tables, columns and catalogue entries as the GDAL path (which
//! `CITYGRID_OSM_READER=gdal` still selects).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use crate::control::Counters;
use crate::copy;
use crate::crs::SourceCrs;
use crate::error::ImportError;
use crate::fields::FieldPlan;
use crate::naming::ColumnNamer;
use crate::osm::ogr_layers::{self, OgrFieldType, OgrLayer, OgrValue};
use crate::osm::pbf::{self, OsmData};
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

/// An extract decoded and waiting for its layers to be built ([`NativeSource::stream`]).
pub struct NativeSource {
    /// The five layers, as [`crate::reader::SourceReader::open`] would describe them
    /// (feature counts unknown until built).
    pub infos: Vec<LayerInfo>,
    data: OsmData,
}

/// Where [`NativeSource::stream`] sends one layer: its raw batches and its counters.
pub type LayerOutput = (Sender<Result<RawBatch, ImportError>>, Arc<Counters>);

/// Decodes `path` (blocking, CPU-bound: call it off the async runtime); `crs`
/// overrides the extract's EPSG:4326. A bad file fails here, before any layer is
/// built or any database touched.
pub fn open(path: &Path, crs: Option<SourceCrs>) -> Result<NativeSource, ImportError> {
    let started = std::time::Instant::now();
    let data = pbf::read_file(path)?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        nodes = data.node_count(),
        ways = data.ways.len(),
        relations = data.relations.len(),
        "extract decoded"
    );
    let crs = crs.unwrap_or_else(|| SourceCrs::epsg(4326));
    let infos = ogr_layers::layer_shapes()
        .iter()
        .enumerate()
        .map(|(index, shape)| info(index, shape, &crs))
        .collect();
    Ok(NativeSource { infos, data })
}

/// The order layers come out of [`NativeSource::stream`] (indexes into
/// [`NativeSource::infos`]): writers should take them in this order.
pub const STREAM_ORDER: [usize; 5] = ogr_layers::EMIT_ORDER;

impl NativeSource {
    /// Builds the layers (blocking: run it on a thread of its own) and sends each one
    /// with an output in `outputs` (indexed like `infos`) as soon as it is built: the
    /// points first, so their writer starts while the ways and relations are built.
    pub fn stream(self, outputs: Vec<Option<LayerOutput>>) {
        let started = std::time::Instant::now();
        let mut outputs = outputs;
        let data = self.data;
        ogr_layers::build_layers_each(&data, &mut |index, layer| {
            let Some((tx, counters)) = outputs.get_mut(index).and_then(Option::take) else {
                return;
            };
            let (batches, empty) = encode(layer);
            let features: u64 = batches.iter().map(|b| b.len() as u64).sum();
            counters.skipped_empty.fetch_add(empty, Ordering::Relaxed);
            counters.read.fetch_add(features + empty, Ordering::Relaxed);
            for batch in batches {
                if tx.send(Ok(batch)).is_err() {
                    return; // the import gave up on this layer
                }
            }
            tracing::debug!(
                index,
                seconds = started.elapsed().as_secs_f64(),
                "layer built"
            );
        });
        // Freeing the decoded extract is not on anybody's path.
        std::thread::spawn(move || drop(data));
    }
}

fn info(index: usize, shape: &OgrLayer, crs: &SourceCrs) -> LayerInfo {
    let mut namer = ColumnNamer::new();
    let fields: Vec<FieldPlan> = shape
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
    LayerInfo {
        index,
        name: shape.name.to_string(),
        feature_count: None,
        has_geometry: true,
        declared: Some(shape.geometry),
        fields,
        crs: Ok((crs.clone(), false)),
        // OSM coordinates are lon/lat by definition.
        extent: None,
    }
}

/// A layer's features as raw batches, and how many were empty.
fn encode(layer: OgrLayer) -> (Vec<RawBatch>, u64) {
    let fields = layer.fields.len();
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
        for i in 0..fields {
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
    (batches, empty)
}
