//! GDAL → feature batches, on a thread of its own.
//!
//! GDAL is blocking and its datasets must stay on one thread, so a [`SourceReader`]
//! owns a dedicated thread that opens the file once, reports the layers it found
//! ([`LayerInfo`]), then reads the layers it is asked for and sends [`RawBatch`]es
//! (ISO WKB + already-encoded attribute fields) over a bounded channel. Curves come
//! out linearised, polyhedral surfaces and TINs as multipolygons.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Once};

use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use gdal_sys::{OGRLayerH, OGRwkbGeometryType};

use crate::control::{Cancel, Counters};
use crate::crs::SourceCrs;
use crate::error::ImportError;
use crate::fields::{self, FieldPlan, TextDecoder};
use crate::geometry::GeomType;
use crate::naming::ColumnNamer;

/// Features per batch sent to the conversion workers.
pub const BATCH_FEATURES: usize = 4096;
/// Bytes of WKB after which a batch is sent early.
const BATCH_BYTES: usize = 4 << 20;

/// A batch of source features.
#[derive(Default)]
pub struct RawBatch {
    /// Row ids, 1, 2, … in reading order.
    pub fids: Vec<i64>,
    /// Concatenated ISO WKB.
    pub wkb: Vec<u8>,
    /// End of each feature's WKB in `wkb`.
    pub wkb_ends: Vec<usize>,
    /// Concatenated binary COPY attribute fields.
    pub attrs: Vec<u8>,
    /// End of each feature's attributes in `attrs`.
    pub attr_ends: Vec<usize>,
}

impl RawBatch {
    /// Number of features.
    pub fn len(&self) -> usize {
        self.fids.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fids.is_empty()
    }
    /// Feature `i`: (fid, wkb, encoded attributes).
    pub fn feature(&self, i: usize) -> (i64, &[u8], &[u8]) {
        let w0 = if i == 0 { 0 } else { self.wkb_ends[i - 1] };
        let a0 = if i == 0 { 0 } else { self.attr_ends[i - 1] };
        (
            self.fids[i],
            &self.wkb[w0..self.wkb_ends[i]],
            &self.attrs[a0..self.attr_ends[i]],
        )
    }
}

/// What reading a file needs besides its path.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// `--encoding`: the encoding of the file's text.
    pub encoding: Option<String>,
    /// `--x-field` for CSV.
    pub x_field: Option<String>,
    /// `--y-field` for CSV.
    pub y_field: Option<String>,
    /// `--source-crs`: overrides the file's CRS.
    pub source_crs: Option<SourceCrs>,
}

/// One layer of the source as found on opening.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    /// GDAL layer index.
    pub index: usize,
    /// GDAL layer name.
    pub name: String,
    /// Feature count when GDAL knows it cheaply.
    pub feature_count: Option<u64>,
    /// Whether the layer has a geometry column.
    pub has_geometry: bool,
    /// Declared geometry type (linear, 2D); `None` when unknown or mixed.
    pub declared: Option<GeomType>,
    /// Attribute columns.
    pub fields: Vec<FieldPlan>,
    /// The source CRS and whether x/y must be swapped, or why there is none.
    pub crs: Result<(SourceCrs, bool), String>,
    /// The coordinates' extent `[min x, min y, max x, max y]` in the data's axis
    /// order, before any transformation: the driver's when it knows it cheaply,
    /// otherwise that of the first [`EXTENT_SAMPLE`] features. `None` when unknown.
    pub extent: Option<[f64; 4]>,
}

/// Features read for the extent of a layer whose driver does not know it.
pub const EXTENT_SAMPLE: usize = 10_000;

/// Installs (once) a GDAL error handler that logs through `tracing` instead of
/// printing to stderr; errors are then read with [`last_gdal_error`].
pub fn quiet_gdal() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        gdal::config::set_error_handler(|class, number, message| {
            tracing::debug!(target: "citygrid_importers::gdal", ?class, number, "{message}");
        });
        // SAFETY: a global flag; makes every driver return linear approximations.
        unsafe { gdal_sys::OGRSetNonLinearGeometriesEnabledFlag(0) };
    });
}

/// GDAL's last error message on this thread, or `fallback`.
pub fn last_gdal_error(fallback: &str) -> String {
    // SAFETY: returns a pointer to a thread-local string owned by GDAL.
    let msg = unsafe {
        let p = gdal_sys::CPLGetLastErrorMsg();
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().trim().to_string()
        }
    };
    if msg.is_empty() {
        fallback.to_string()
    } else {
        msg
    }
}

/// The message of a `gdal` crate error (GDAL's own text where there is one).
pub fn gdal_message(error: gdal::errors::GdalError, fallback: &str) -> String {
    let text = match error {
        gdal::errors::GdalError::NullPointer { msg, .. } => msg,
        gdal::errors::GdalError::CplError { msg, .. } => msg,
        other => other.to_string(),
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        last_gdal_error(fallback)
    } else {
        text
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Checks the companions of a Shapefile before GDAL sees it (GDAL opens a
/// Shapefile without its .dbf silently).
fn check_shapefile(path: &Path) -> Result<(), ImportError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let entries: Vec<String> = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .map(|rd| {
        rd.filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    })
    .unwrap_or_default();
    for ext in ["shx", "dbf"] {
        let wanted = format!("{stem}.{ext}");
        if !entries.iter().any(|n| n.eq_ignore_ascii_case(&wanted)) {
            return Err(ImportError::source(
                path,
                format!(
                    "{wanted} is missing: a Shapefile needs its .shp, .shx and .dbf side by side"
                ),
            ));
        }
    }
    Ok(())
}

/// Opens `path` as a vector dataset with the options its format needs; returns the
/// dataset and the encoding text still has to be recoded from.
fn open(path: &Path, options: &OpenOptions) -> Result<(Dataset, Option<String>), ImportError> {
    if !path.exists() {
        return Err(ImportError::NotFound(path.to_path_buf()));
    }
    let ext = extension(path);
    let mut open_options: Vec<String> = Vec::new();
    let mut recode = options.encoding.clone();
    match ext.as_str() {
        "shp" | "dbf" => {
            if ext == "shp" {
                check_shapefile(path)?;
            }
            if let Some(enc) = &options.encoding {
                open_options.push(format!("ENCODING={enc}"));
                recode = None;
            }
        }
        "dxf" => {
            if let Some(enc) = &options.encoding {
                // Thread-local: the reader thread is the only one reading this file.
                let _ = gdal::config::set_thread_local_config_option("DXF_ENCODING", enc);
                recode = None;
            }
        }
        "csv" | "tsv" => {
            let x = options.x_field.clone().unwrap_or_else(|| {
                "x,lon,lng,long,longitude,经度,easting,east,point_x".to_string()
            });
            let y = options
                .y_field
                .clone()
                .unwrap_or_else(|| "y,lat,latitude,纬度,northing,north,point_y".to_string());
            open_options.push(format!("X_POSSIBLE_NAMES={x}"));
            open_options.push(format!("Y_POSSIBLE_NAMES={y}"));
            open_options.push("GEOM_POSSIBLE_NAMES=wkt,geom,geometry,the_geom,shape".to_string());
            open_options.push("AUTODETECT_TYPE=YES".to_string());
            open_options.push("KEEP_GEOM_COLUMNS=NO".to_string());
        }
        _ => {}
    }
    let refs: Vec<&str> = open_options.iter().map(String::as_str).collect();
    let dataset = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            open_options: if refs.is_empty() { None } else { Some(&refs) },
            ..Default::default()
        },
    )
    .map_err(|e| {
        ImportError::source(
            path,
            gdal_message(e, "GDAL does not recognise it as a vector dataset"),
        )
    })?;
    Ok((dataset, recode))
}

/// The layer's CRS as a [`SourceCrs`] plus whether the data has northing first.
unsafe fn layer_crs(layer: OGRLayerH) -> Result<(SourceCrs, bool), String> {
    let srs = gdal_sys::OGR_L_GetSpatialRef(layer);
    if srs.is_null() {
        return Err("no CRS".into());
    }
    // Data axis order: is the first data axis a northing/latitude?
    let mut n = 0;
    let mapping = gdal_sys::OSRGetDataAxisToSRSAxisMapping(srs, &mut n);
    let mut swap = false;
    if !mapping.is_null() && n >= 1 {
        let first = (*mapping).unsigned_abs() as i32;
        let mut orientation = gdal_sys::OGRAxisOrientation::OAO_Other;
        gdal_sys::OSRGetAxis(srs, std::ptr::null(), first - 1, &mut orientation);
        swap = matches!(
            orientation,
            gdal_sys::OGRAxisOrientation::OAO_North | gdal_sys::OGRAxisOrientation::OAO_South
        );
    }
    let epsg = |h| -> Option<u32> {
        let name = gdal_sys::OSRGetAuthorityName(h, std::ptr::null());
        let code = gdal_sys::OSRGetAuthorityCode(h, std::ptr::null());
        if name.is_null() || code.is_null() {
            return None;
        }
        if !CStr::from_ptr(name)
            .to_string_lossy()
            .eq_ignore_ascii_case("EPSG")
        {
            return None;
        }
        CStr::from_ptr(code).to_str().ok()?.parse().ok()
    };
    if let Some(code) = epsg(srs) {
        return Ok((SourceCrs::epsg(code), swap));
    }
    let clone = gdal_sys::OSRClone(srs);
    if !clone.is_null() {
        let found = if gdal_sys::OSRAutoIdentifyEPSG(clone) == 0 {
            epsg(clone)
        } else {
            None
        };
        gdal_sys::OSRDestroySpatialReference(clone);
        if let Some(code) = found {
            return Ok((SourceCrs::epsg(code), swap));
        }
    }
    // Unidentified: give PROJ the full WKT2 definition.
    let mut wkt: *mut std::ffi::c_char = std::ptr::null_mut();
    let format = c"FORMAT=WKT2_2019";
    let opts = [format.as_ptr(), std::ptr::null()];
    if gdal_sys::OSRExportToWktEx(srs, &mut wkt, opts.as_ptr()) != 0 || wkt.is_null() {
        return Err("the file's CRS cannot be exported".into());
    }
    let definition = CStr::from_ptr(wkt).to_string_lossy().into_owned();
    gdal_sys::VSIFree(wkt.cast());
    let name = gdal_sys::OSRGetName(srs);
    let label = if name.is_null() {
        "custom CRS".to_string()
    } else {
        CStr::from_ptr(name).to_string_lossy().into_owned()
    };
    Ok((SourceCrs::Proj { definition, label }, swap))
}

/// The layer's extent in the data's axis order (see [`LayerInfo::extent`]);
/// `sample`: read the first features when the driver does not know it.
unsafe fn layer_extent(layer: OGRLayerH, sample: bool) -> Option<[f64; 4]> {
    let finite = |b: [f64; 4]| b.iter().all(|v| v.is_finite()) && b[0] <= b[2] && b[1] <= b[3];
    let mut env = gdal_sys::OGREnvelope {
        MinX: 0.0,
        MaxX: 0.0,
        MinY: 0.0,
        MaxY: 0.0,
    };
    if gdal_sys::OGR_L_GetExtent(layer, &mut env, 0) == gdal_sys::OGRErr::OGRERR_NONE {
        let b = [env.MinX, env.MinY, env.MaxX, env.MaxY];
        if finite(b) {
            return Some(b);
        }
    }
    if !sample {
        return None;
    }
    // The driver would have to read everything: take the first features.
    gdal_sys::CPLErrorReset();
    gdal_sys::OGR_L_ResetReading(layer);
    let mut out: Option<[f64; 4]> = None;
    for _ in 0..EXTENT_SAMPLE {
        let feature = gdal_sys::OGR_L_GetNextFeature(layer);
        if feature.is_null() {
            break;
        }
        let geom = gdal_sys::OGR_F_GetGeometryRef(feature);
        if !geom.is_null() && gdal_sys::OGR_G_IsEmpty(geom) == 0 {
            gdal_sys::OGR_G_GetEnvelope(geom, &mut env);
            let b = [env.MinX, env.MinY, env.MaxX, env.MaxY];
            if finite(b) {
                out = Some(match out {
                    None => b,
                    Some(o) => [
                        o[0].min(b[0]),
                        o[1].min(b[1]),
                        o[2].max(b[2]),
                        o[3].max(b[3]),
                    ],
                });
            }
        }
        gdal_sys::OGR_F_Destroy(feature);
    }
    gdal_sys::OGR_L_ResetReading(layer);
    // A read error here is reported when the layer is read.
    gdal_sys::CPLErrorReset();
    out
}

/// Declared linear 2D geometry type of a GDAL type code.
pub fn declared_type(code: OGRwkbGeometryType::Type) -> Option<GeomType> {
    // SAFETY: pure functions on a type code.
    let linear = unsafe { gdal_sys::OGR_GT_GetLinear(gdal_sys::OGR_GT_Flatten(code)) };
    match linear {
        OGRwkbGeometryType::wkbPolyhedralSurface | OGRwkbGeometryType::wkbTIN => {
            Some(GeomType::MultiPolygon)
        }
        OGRwkbGeometryType::wkbTriangle => Some(GeomType::Polygon),
        other => GeomType::from_code(other),
    }
}

unsafe fn describe(ds: &Dataset, options: &OpenOptions, decoder: &TextDecoder) -> Vec<LayerInfo> {
    let h = ds.c_dataset();
    let count = gdal_sys::OGR_DS_GetLayerCount(h);
    // GDAL's OSM driver reads its layers interleaved (and OSM is lon/lat): no
    // sampling of features there.
    let sample_extent = ds.driver().short_name() != "OSM";
    let mut out = Vec::new();
    for i in 0..count {
        let layer = gdal_sys::OGR_DS_GetLayer(h, i);
        if layer.is_null() {
            continue;
        }
        let name = CStr::from_ptr(gdal_sys::OGR_L_GetName(layer))
            .to_string_lossy()
            .into_owned();
        let gtype = gdal_sys::OGR_L_GetGeomType(layer);
        let has_geometry = gtype != OGRwkbGeometryType::wkbNone;
        let count = gdal_sys::OGR_L_GetFeatureCount(layer, 0);
        let mut namer = ColumnNamer::new();
        let fields = fields::plan_fields(gdal_sys::OGR_L_GetLayerDefn(layer), &mut namer, decoder);
        let crs = match &options.source_crs {
            Some(c) => Ok((c.clone(), false)),
            None => layer_crs(layer),
        };
        out.push(LayerInfo {
            index: i as usize,
            name,
            feature_count: u64::try_from(count).ok(),
            has_geometry,
            declared: declared_type(gtype),
            fields,
            crs,
            extent: if has_geometry {
                layer_extent(layer, sample_extent)
            } else {
                None
            },
        });
    }
    out
}

/// What to read from one layer.
pub struct ReadJob {
    /// GDAL layer index.
    pub layer: usize,
    /// Attribute columns (from [`LayerInfo::fields`]).
    pub fields: Arc<Vec<FieldPlan>>,
    /// Where batches go; closed when the layer is done.
    pub out: SyncSender<Result<RawBatch, ImportError>>,
    /// Set on Ctrl-C.
    pub cancel: Cancel,
    /// Progress counters (`read`, `skipped_empty`).
    pub counters: Arc<Counters>,
}

/// The reading thread of one source file.
///
/// Jobs queue up without limit and are read one after another, so an importer can
/// hand over every layer at once: the next layer is then read (and converted) while
/// the database still indexes the previous one.
pub struct SourceReader {
    jobs: Option<Sender<ReadJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set when the reader is dropped: queued and running jobs stop at once.
    closed: Arc<AtomicBool>,
}

impl SourceReader {
    /// Opens `path` on a new thread; returns the reader and the source's layers.
    pub async fn open(
        path: PathBuf,
        options: OpenOptions,
    ) -> Result<(SourceReader, Vec<LayerInfo>), ImportError> {
        let (info_tx, info_rx) = tokio::sync::oneshot::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel::<ReadJob>();
        let closed = Arc::new(AtomicBool::new(false));
        let closed_flag = Arc::clone(&closed);
        let thread = std::thread::Builder::new()
            .name("citygrid-gdal".into())
            .spawn(move || {
                quiet_gdal();
                let (ds, recode) = match open(&path, &options) {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = info_tx.send(Err(e));
                        return;
                    }
                };
                let decoder = TextDecoder::new(recode.as_deref());
                // SAFETY: the dataset is valid for the whole call.
                let layers = unsafe { describe(&ds, &options, &decoder) };
                let _ = info_tx.send(Ok(layers));
                serve(&ds, &path, &decoder, jobs_rx, &closed_flag);
            })
            .map_err(|e| ImportError::Internal(format!("cannot start the reader thread: {e}")))?;
        let layers = info_rx
            .await
            .map_err(|_| ImportError::Internal("the reader thread stopped".into()))??;
        Ok((
            SourceReader {
                jobs: Some(jobs_tx),
                thread: Some(thread),
                closed,
            },
            layers,
        ))
    }

    /// Queues reading one layer (never blocks); batches arrive on `job.out`.
    pub fn read(&self, job: ReadJob) -> Result<(), ImportError> {
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or_else(|| ImportError::Internal("the reader thread stopped".into()))
    }
}

impl Drop for SourceReader {
    fn drop(&mut self) {
        // Closing the job channel and setting the flag ends the thread within a
        // feature; it is not joined, so dropping never blocks.
        self.closed.store(true, Ordering::SeqCst);
        self.jobs.take();
        self.thread.take();
    }
}

fn serve(
    ds: &Dataset,
    path: &Path,
    decoder: &TextDecoder,
    jobs: Receiver<ReadJob>,
    closed: &AtomicBool,
) {
    while let Ok(job) = jobs.recv() {
        if closed.load(Ordering::SeqCst) {
            return;
        }
        // SAFETY: the dataset outlives the read.
        let result = unsafe { read_layer(ds, path, decoder, &job, closed) };
        if let Err(e) = result {
            let _ = job.out.send(Err(e));
        }
    }
}

/// Takes the feature's geometry as linear ISO WKB; `false` when it is null or empty.
pub(crate) unsafe fn geometry_wkb(geom: gdal_sys::OGRGeometryH, out: &mut Vec<u8>) -> bool {
    if geom.is_null() || gdal_sys::OGR_G_IsEmpty(geom) != 0 {
        return false;
    }
    let flat = gdal_sys::OGR_GT_Flatten(gdal_sys::OGR_G_GetGeometryType(geom));
    let mut owned: gdal_sys::OGRGeometryH = std::ptr::null_mut();
    if gdal_sys::OGR_GT_IsNonLinear(flat) != 0 {
        owned = gdal_sys::OGR_G_GetLinearGeometry(geom, 0.0, std::ptr::null_mut());
    } else if matches!(
        flat,
        OGRwkbGeometryType::wkbPolyhedralSurface
            | OGRwkbGeometryType::wkbTIN
            | OGRwkbGeometryType::wkbTriangle
    ) {
        owned = gdal_sys::OGR_G_ForceTo(
            gdal_sys::OGR_G_Clone(geom),
            OGRwkbGeometryType::wkbMultiPolygon,
            std::ptr::null_mut(),
        );
    }
    let g = if owned.is_null() { geom } else { owned };
    let size = gdal_sys::OGR_G_WkbSize(g).max(0) as usize;
    let start = out.len();
    out.resize(start + size, 0);
    let err = gdal_sys::OGR_G_ExportToIsoWkb(
        g,
        gdal_sys::OGRwkbByteOrder::wkbNDR,
        out[start..].as_mut_ptr(),
    );
    if !owned.is_null() {
        gdal_sys::OGR_G_DestroyGeometry(owned);
    }
    if err != gdal_sys::OGRErr::OGRERR_NONE {
        out.truncate(start);
        // An unexportable geometry: hand over an invalid marker the converter rejects.
        out.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff]);
    }
    true
}

unsafe fn read_layer(
    ds: &Dataset,
    path: &Path,
    decoder: &TextDecoder,
    job: &ReadJob,
    closed: &AtomicBool,
) -> Result<(), ImportError> {
    let layer = gdal_sys::OGR_DS_GetLayer(ds.c_dataset(), job.layer as i32);
    if layer.is_null() {
        return Err(ImportError::source(
            path,
            format!("layer {} vanished", job.layer),
        ));
    }
    gdal_sys::OGR_L_ResetReading(layer);
    let mut batch = RawBatch::default();
    let mut next_fid: i64 = 1;
    loop {
        if job.cancel.is_cancelled() {
            return Err(ImportError::Interrupted);
        }
        if closed.load(Ordering::Relaxed) {
            return Ok(()); // nobody waits for this layer any more
        }
        gdal_sys::CPLErrorReset();
        let feature = gdal_sys::OGR_L_GetNextFeature(layer);
        let failed = gdal_sys::CPLGetLastErrorType() == gdal_sys::CPLErr::CE_Failure
            || gdal_sys::CPLGetLastErrorType() == gdal_sys::CPLErr::CE_Fatal;
        if failed {
            let message = last_gdal_error("read error");
            if !feature.is_null() {
                gdal_sys::OGR_F_Destroy(feature);
            }
            return Err(ImportError::source(
                path,
                format!("feature {}: {message}", next_fid),
            ));
        }
        if feature.is_null() {
            break;
        }
        job.counters.read.fetch_add(1, Ordering::Relaxed);
        let geom = gdal_sys::OGR_F_GetGeometryRef(feature);
        let wkb_start = batch.wkb.len();
        if !geometry_wkb(geom, &mut batch.wkb) {
            batch.wkb.truncate(wkb_start);
            job.counters.skipped_empty.fetch_add(1, Ordering::Relaxed);
            gdal_sys::OGR_F_Destroy(feature);
            continue;
        }
        let attr_start = batch.attrs.len();
        let encoded = fields::encode_fields(feature, &job.fields, decoder, &mut batch.attrs);
        gdal_sys::OGR_F_Destroy(feature);
        if let Err(e) = encoded {
            batch.attrs.truncate(attr_start);
            return Err(ImportError::source(
                path,
                format!("field {}: {}", e.field, e.message),
            ));
        }
        batch.fids.push(next_fid);
        next_fid += 1;
        batch.wkb_ends.push(batch.wkb.len());
        batch.attr_ends.push(batch.attrs.len());
        let full = batch.len() >= BATCH_FEATURES || batch.wkb.len() >= BATCH_BYTES;
        if full && job.out.send(Ok(std::mem::take(&mut batch))).is_err() {
            return Ok(()); // the writer gave up; it reports why
        }
    }
    if !batch.is_empty() {
        let _ = job.out.send(Ok(batch));
    }
    Ok(())
}
