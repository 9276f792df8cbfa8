//! `citygrid import vector`: any GDAL vector source into PostGIS layers.
//!
//! 1. [`open_source`]: the file is opened on the reader thread; its layers, fields
//!    and CRS are checked before the database is touched (missing CRS, unknown EPSG
//!    code, no features, coordinates that do not fit the CRS — see
//!    [`crs::check_extent`], `--force` — all fail here), and every selected layer is queued for
//!    reading at once. The command line runs this while it connects to the database.
//!    An `.osm.pbf` is read without GDAL ([`crate::osm::native`]: decoded on every
//!    core into the same five layers as GDAL's OSM driver); `CITYGRID_OSM_READER=gdal`
//!    selects GDAL's driver instead.
//! 2. [`import_opened`]: a connection per core (2 to [`MAX_WRITERS`]), each with a transaction
//!    of its own; stale staging tables are dropped, the target ids checked (existing
//!    layer without `--replace` fails here).
//! 3. Each writer takes the next layer: reader → conversion workers → binary COPY
//!    into `layers."_stage_<id>_<pid>"`, then repair (polygons and mixed layers;
//!    lines are checked during the conversion), primary key, GiST index, ANALYZE.
//!    The reader does not wait for the database: layer n+1 is read and converted
//!    (into bounded channels) while layer n is indexed.
//! 4. Each writer swaps its layers in: old table dropped (with `--replace`), staging
//!    table renamed, catalogue row upserted (version + 1), `NOTIFY citygrid_layers,
//!    '<id>'`.
//! 5. When every writer is done, all commit together. Any error or Ctrl-C before
//!    that rolls everything back: the previous version of every layer is untouched
//!    and no staging table remains (each layer is always wholly old or wholly new;
//!    only a failure between the commits themselves, milliseconds apart, could leave
//!    some layers of one file replaced and others not).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sqlx::{PgConnection, PgPool};

use crate::catalog;
use crate::control::{Cancel, Counters};
use crate::crs::{self, SourceCrs, Transformer};
use crate::error::{DbContext, ImportError};
use crate::load::{catalog_entry, stage_layer, swap_all, ImportReport, LayerReport, Prepared};
use crate::naming;
use crate::osm;
use crate::pipeline::{self, EncodedBatch};
use crate::progress::{Progress, ProgressMode};
use crate::reader::{LayerInfo, OpenOptions, ReadJob, SourceReader};
use crate::stage::{self, Column, PolygonRepair, StageSpec};

/// What `citygrid import vector` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct VectorOptions {
    /// The source file (or directory, or anything GDAL opens).
    pub file: PathBuf,
    /// `--layer`: the layer id (or the prefix of the ids of a multi-layer source).
    pub layer: Option<String>,
    /// `--source-crs`: overrides the file's CRS.
    pub source_crs: Option<String>,
    /// `--source-layer`: import only this layer of the source.
    pub source_layer: Option<String>,
    /// `--encoding`: the text encoding of the file (e.g. GBK).
    pub encoding: Option<String>,
    /// `--x-field` (CSV).
    pub x_field: Option<String>,
    /// `--y-field` (CSV).
    pub y_field: Option<String>,
    /// `--replace`: overwrite existing layers.
    pub replace: bool,
    /// `--title`.
    pub title: Option<String>,
    /// `--force`: import coordinates that do not fit the source CRS (see
    /// [`crate::crs::check_extent`]).
    pub force: bool,
}

struct Selected {
    info: LayerInfo,
    id: String,
    crs: SourceCrs,
    swap_xy: bool,
    /// One of several layers whose feature count was not known up front: when it
    /// turns out to have no feature at all it is skipped (as a layer known to be
    /// empty is), instead of failing the import.
    skip_if_empty: bool,
}

fn select_layers(
    options: &VectorOptions,
    layers: Vec<LayerInfo>,
) -> Result<Vec<Selected>, ImportError> {
    let file = options.file.display().to_string();
    let base = match &options.layer {
        Some(id) if naming::is_valid_layer_id(id) => id.clone(),
        Some(id) => {
            return Err(ImportError::Invalid(format!(
            "invalid layer id {id:?}: use lower-case letters, digits and _ (at most {} characters)",
            naming::MAX_LAYER_ID
        )))
        }
        None => naming::layer_id(
            options
                .file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("layer"),
        ),
    };
    let mut chosen: Vec<LayerInfo> = match &options.source_layer {
        Some(name) => {
            let found = layers
                .iter()
                .find(|l| &l.name == name)
                .or_else(|| layers.iter().find(|l| l.name.eq_ignore_ascii_case(name)));
            match found {
                Some(l) => vec![l.clone()],
                None => {
                    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
                    return Err(ImportError::Invalid(format!(
                        "{file} has no layer {name:?}; its layers are: {}",
                        names.join(", ")
                    )));
                }
            }
        }
        None => {
            for l in layers.iter().filter(|l| !l.has_geometry) {
                tracing::warn!(layer = %l.name, "skipping a layer without geometry");
            }
            layers.into_iter().filter(|l| l.has_geometry).collect()
        }
    };
    if chosen.is_empty() || chosen.iter().all(|l| !l.has_geometry) {
        let hint = if file.to_ascii_lowercase().ends_with(".csv") {
            ": for a CSV name the coordinate columns with --x-field/--y-field or provide a WKT column"
        } else {
            ""
        };
        return Err(ImportError::Empty(format!(
            "{file} has no layer with geometry{hint}"
        )));
    }
    let single = chosen.len() == 1;
    if !single {
        let before = chosen.len();
        chosen.retain(|l| {
            let empty = l.feature_count == Some(0);
            if empty {
                tracing::warn!(layer = %l.name, "skipping an empty layer");
            }
            !empty
        });
        if chosen.is_empty() {
            return Err(ImportError::Empty(format!(
                "all {before} layers of {file} are empty"
            )));
        }
    }
    let mut out = Vec::with_capacity(chosen.len());
    let mut seen = std::collections::HashSet::new();
    for info in chosen {
        let id = if single {
            base.clone()
        } else {
            naming::sublayer_id(&base, &info.name)
        };
        if !seen.insert(id.clone()) {
            return Err(ImportError::Invalid(format!(
                "two layers of {file} map to the same id {id}: import them one by one with --source-layer and --layer"
            )));
        }
        if info.feature_count == Some(0) {
            return Err(ImportError::Empty(format!(
                "{file} (layer {}) has no features",
                info.name
            )));
        }
        let (crs, swap_xy) = info.crs.clone().map_err(|_| {
            ImportError::NoCrs(if single {
                file.clone()
            } else {
                format!("{file} (layer {})", info.name)
            })
        })?;
        // Fail on an unknown CRS now, not in the workers.
        Transformer::new(&crs, swap_xy)?;
        // Coordinates that do not fit the CRS (lon/lat declared as metres, another
        // zone…) are refused before anything is read or written.
        if let Some(extent) = info.extent {
            if options.force {
                if let Err(e) =
                    crs::check_extent(&crs, swap_xy, extent, options.source_crs.is_some())
                {
                    tracing::warn!(layer = %info.name, "--force: {e}");
                }
            } else {
                crs::check_extent(&crs, swap_xy, extent, options.source_crs.is_some())?;
            }
        }
        out.push(Selected {
            skip_if_empty: !single && info.feature_count.is_none(),
            info,
            id,
            crs,
            swap_xy,
        });
    }
    Ok(out)
}

/// A source opened and checked, its layers already being read: the GDAL half of an
/// import, which needs no database (see [`open_source`]).
pub struct OpenedSource {
    /// GDAL's reader thread (`None` for a source read natively).
    reader: Option<SourceReader>,
    layers: Vec<(Selected, LayerPipe)>,
    started: Instant,
}

/// The conversion output of one layer, waiting for the database.
struct LayerPipe {
    counters: Arc<Counters>,
    batches: tokio::sync::mpsc::Receiver<Result<EncodedBatch, ImportError>>,
}

/// Opens `options.file`, checks its layers, fields and CRS, and starts reading every
/// selected layer (one after another on the reader thread, each through its own
/// conversion workers into a bounded channel). Touches no database, so the caller
/// can connect meanwhile; then [`import_opened`] writes the layers.
pub async fn open_source(options: &VectorOptions) -> Result<OpenedSource, ImportError> {
    let started = Instant::now();
    let source_crs = options
        .source_crs
        .as_deref()
        .map(SourceCrs::parse)
        .transpose()?;
    if let Some(enc) = &options.encoding {
        if enc.is_empty()
            || !enc
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(ImportError::Invalid(format!("invalid --encoding {enc:?}")));
        }
    }
    if osm::native::applies_to(&options.file) {
        return open_native(options, source_crs, started).await;
    }
    let open_options = OpenOptions {
        encoding: options.encoding.clone(),
        x_field: options.x_field.clone(),
        y_field: options.y_field.clone(),
        source_crs,
    };
    let (reader, layers) = SourceReader::open(options.file.clone(), open_options).await?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "source opened");
    let selected = select_layers(options, layers)?;
    // Every layer is queued now: the reader goes from one to the next without waiting
    // for the database, so layer n+1 is read while layer n is indexed.
    let mut out = Vec::with_capacity(selected.len());
    for layer in selected {
        let counters = Arc::new(Counters::default());
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel(4);
        reader.read(ReadJob {
            layer: layer.info.index,
            fields: Arc::new(layer.info.fields.clone()),
            out: raw_tx,
            cancel: Cancel::new(),
            counters: Arc::clone(&counters),
        })?;
        out.push(convert(layer, raw_rx, counters));
    }
    Ok(OpenedSource {
        reader: Some(reader),
        layers: out,
        started,
    })
}

/// Starts the conversion workers of a layer whose raw batches arrive on `raw`.
fn convert(
    layer: Selected,
    raw: std::sync::mpsc::Receiver<Result<crate::reader::RawBatch, ImportError>>,
    counters: Arc<Counters>,
) -> (Selected, LayerPipe) {
    let (enc_tx, enc_rx) = tokio::sync::mpsc::channel::<Result<EncodedBatch, ImportError>>(8);
    pipeline::spawn_converters(
        pipeline::converter_threads(),
        layer.crs.clone(),
        layer.swap_xy,
        2 + layer.info.fields.len(),
        raw,
        enc_tx,
        Arc::clone(&counters),
    );
    (
        layer,
        LayerPipe {
            counters,
            batches: enc_rx,
        },
    )
}

/// [`open_source`] for an `.osm.pbf` read natively ([`osm::native`]): the whole
/// extract is decoded and its layers encoded on every core, then each selected
/// layer's batches wait in its channel for the conversion workers.
async fn open_native(
    options: &VectorOptions,
    source_crs: Option<SourceCrs>,
    started: Instant,
) -> Result<OpenedSource, ImportError> {
    let path = options.file.clone();
    let native = tokio::task::spawn_blocking(move || osm::native::open(&path, source_crs))
        .await
        .map_err(|e| ImportError::Internal(format!("the OSM reader stopped: {e}")))??;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "source opened");
    let mut selected = select_layers(options, native.infos.clone())?;
    // The writers take the layers in the order they are built.
    selected.sort_by_key(|l| {
        osm::native::STREAM_ORDER
            .iter()
            .position(|&i| i == l.info.index)
    });
    let mut outputs: Vec<Option<osm::native::LayerOutput>> =
        native.infos.iter().map(|_| None).collect();
    let mut out = Vec::with_capacity(selected.len());
    for layer in selected {
        let counters = Arc::new(Counters::default());
        // Unbounded: the data is in memory already, the builder never waits.
        let (raw_tx, raw_rx) = std::sync::mpsc::channel();
        if let Some(slot) = outputs.get_mut(layer.info.index) {
            *slot = Some((raw_tx, Arc::clone(&counters)));
        }
        out.push(convert(layer, raw_rx, counters));
    }
    std::thread::Builder::new()
        .name("citygrid-osm".into())
        .spawn(move || native.stream(outputs))
        .map_err(|e| ImportError::Internal(format!("cannot start the OSM layer builder: {e}")))?;
    Ok(OpenedSource {
        reader: None,
        layers: out,
        started,
    })
}

/// Imports a vector file. See the module documentation for the steps.
pub async fn import_vector(
    pool: &PgPool,
    options: &VectorOptions,
    cancel: &Cancel,
    mode: ProgressMode,
) -> Result<ImportReport, ImportError> {
    let source = open_source(options).await?;
    import_opened(pool, options, source, cancel, mode).await
}

/// Writes the layers of a source opened with [`open_source`] (with the same
/// `options`): staging tables, repair, indexes, then the swap of every layer.
///
/// Layers are written by up to one connection per core ([`MAX_WRITERS`] at most) at once (each takes the
/// next layer when it is free), each in a transaction of its own that also swaps its
/// layers in. Nothing is committed until every writer has finished: then all commit
/// together. An error, Ctrl-C or a killed process before that rolls every
/// transaction back — the previous version of every layer stays and no staging table
/// remains. (Only a failure between the commits themselves, a matter of
/// milliseconds, could leave some layers of a file new and others old; each layer is
/// always either wholly old or wholly new.)
pub async fn import_opened(
    pool: &PgPool,
    options: &VectorOptions,
    source: OpenedSource,
    cancel: &Cancel,
    mode: ProgressMode,
) -> Result<ImportReport, ImportError> {
    let writers = open_writers(pool).await?;
    import_with_writers(options, source, writers, cancel, mode).await
}

/// The database connections an import writes with, opened ahead (see
/// [`open_writers`]).
pub struct Writers {
    conns: Vec<PgConnection>,
    /// How the server repairs polygons (the same for every connection).
    polygon_repair: PolygonRepair,
}

/// Opens the connections of the writers (one per core, 2 to [`MAX_WRITERS`]), makes
/// sure the schema is migrated (on the first of them: `pool` itself connects only
/// when there is something to migrate, so the command line can pass a lazy pool
/// and open no other connection), has each server process load PostGIS and use
/// LZ4 for TOAST, and drops stale staging tables — everything that does not depend
/// on the file, so the command line does it while the file is being read.
pub async fn open_writers(pool: &PgPool) -> Result<Writers, ImportError> {
    let mut conns =
        futures_util::future::try_join_all((0..max_writers()).map(|_| stage::connect(pool)))
            .await?;
    let Some(first) = conns.first_mut() else {
        return Err(ImportError::Internal("no database connection".into()));
    };
    citygrid_db::migrate_using(pool, first).await?;
    stage::cleanup_stale(first).await?;
    let repairs =
        futures_util::future::try_join_all(conns.iter_mut().map(stage::setup_session)).await?;
    let polygon_repair = repairs.first().copied().unwrap_or_default();
    Ok(Writers {
        conns,
        polygon_repair,
    })
}

/// [`import_opened`] with connections opened by [`open_writers`].
pub async fn import_with_writers(
    options: &VectorOptions,
    source: OpenedSource,
    writers: Writers,
    cancel: &Cancel,
    mode: ProgressMode,
) -> Result<ImportReport, ImportError> {
    let OpenedSource {
        reader,
        layers,
        started,
    } = source;
    // Ctrl-C stops the reading too (dropping the reader on return ends its thread).
    if cancel.is_cancelled() {
        return Err(ImportError::Interrupted);
    }
    let Writers {
        mut conns,
        polygon_repair,
    } = writers;
    let spare = conns.split_off(layers.len().clamp(1, conns.len().max(1)));
    for conn in spare {
        let _ = sqlx::Connection::close(conn).await;
    }
    let Some(first) = conns.first_mut() else {
        return Err(ImportError::Internal("no database connection".into()));
    };
    let ids: Vec<String> = layers.iter().map(|(s, _)| s.id.clone()).collect();
    catalog::check_targets(first, &ids, options.replace).await?;

    // The writers take the layers in the order the source fills them (a writer
    // waiting for a later layer of a GDAL reader would wait forever for an earlier
    // one nobody drains).
    let queue: LayerQueue = std::sync::Mutex::new(
        layers
            .into_iter()
            .enumerate()
            .map(|(i, (s, p))| (i, s, p))
            .collect(),
    );
    let file = options.file.display().to_string();
    // The writers run concurrently (their work is in the database and on the
    // conversion threads). Every writer must be ready before anything is committed;
    // the first failure drops the others, and dropping their connections rolls their
    // transactions back.
    let job = WriterJob {
        queue: &queue,
        cancel,
        mode,
        file: &file,
        title: options.title.as_deref(),
        replace: options.replace,
        polygon_repair,
    };
    let ready =
        futures_util::future::try_join_all(conns.into_iter().map(|conn| write_layers(conn, &job)))
            .await?;
    drop(reader);
    if cancel.is_cancelled() {
        return Err(ImportError::Interrupted);
    }
    if ready.iter().all(|(_, written)| written.is_empty()) {
        return Err(ImportError::Empty(format!(
            "every layer of {} is empty",
            options.file.display()
        )));
    }
    let mut reports = Vec::new();
    let commits = ready.into_iter().map(|(mut conn, written)| {
        let names: Vec<String> = written.iter().map(|(_, r)| r.id.clone()).collect();
        reports.extend(written);
        async move {
            let result = sqlx::raw_sql("COMMIT").execute(&mut conn).await;
            let _ = sqlx::Connection::close(conn).await;
            (names, result)
        }
    });
    let committing = Instant::now();
    let outcomes = futures_util::future::join_all(commits.collect::<Vec<_>>()).await;
    tracing::debug!(seconds = committing.elapsed().as_secs_f64(), "committed");
    let (mut committed, mut failed) = (Vec::new(), Vec::new());
    for (names, result) in outcomes {
        match result {
            Ok(_) => committed.extend(names),
            Err(e) => failed.push(format!("{} ({e})", names.join(", "))),
        }
    }
    if !failed.is_empty() {
        return Err(ImportError::Internal(format!(
            "committing layers {} failed; layers {} were committed",
            failed.join("; "),
            if committed.is_empty() {
                "none".to_string()
            } else {
                committed.join(", ")
            }
        )));
    }
    reports.sort_by_key(|(i, _)| *i);
    Ok(ImportReport {
        layers: reports.into_iter().map(|(_, r)| r).collect(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What every writer of one import shares.
#[derive(Clone, Copy)]
struct WriterJob<'a> {
    /// The layers still to write.
    queue: &'a LayerQueue,
    cancel: &'a Cancel,
    mode: ProgressMode,
    /// The source file, for the catalogue.
    file: &'a str,
    /// `--title`.
    title: Option<&'a str>,
    /// `--replace`.
    replace: bool,
    polygon_repair: PolygonRepair,
}

/// The layers waiting for a writer: (position in the report, layer, its batches).
type LayerQueue = std::sync::Mutex<std::collections::VecDeque<(usize, Selected, LayerPipe)>>;

/// Most connections one import writes with at once.
pub const MAX_WRITERS: usize = 4;

/// Connections one import writes with: one per core, at least 2, at most
/// [`MAX_WRITERS`] (each connection's server process works on one core, and each
/// pays for loading PostGIS once).
fn max_writers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, MAX_WRITERS)
}

/// One writer of [`import_opened`]: opens a transaction on `conn`, stages and swaps
/// layers from `queue` until it is empty, and returns the connection with the
/// transaction still open (the caller commits) and its layers' reports.
async fn write_layers(
    mut conn: PgConnection,
    job: &WriterJob<'_>,
) -> Result<(PgConnection, Vec<(usize, LayerReport)>), ImportError> {
    let WriterJob {
        queue,
        cancel,
        mode,
        file,
        title,
        replace,
        polygon_repair,
    } = *job;
    // A writer must never wait for a lock another writer of this import holds (they
    // commit together): their layers are distinct, and this bounds any surprise.
    sqlx::raw_sql("BEGIN; SET LOCAL lock_timeout = '60s'")
        .execute(&mut conn)
        .await
        .db("starting the transaction")?;
    let mut prepared = Vec::new();
    loop {
        let next = queue.lock().ok().and_then(|mut q| q.pop_front());
        let Some((position, layer, pipe)) = next else {
            break;
        };
        let layer_started = Instant::now();
        let counters = pipe.counters;
        let progress = Progress::start(
            mode,
            &layer.id,
            layer.info.feature_count,
            Arc::clone(&counters),
        );
        let spec = StageSpec {
            layer_id: layer.id.clone(),
            columns: layer
                .info
                .fields
                .iter()
                .map(|f| Column {
                    name: f.name.clone(),
                    column_type: f.column_type,
                })
                .collect(),
            declared: layer.info.declared,
            polygon_repair,
        };
        let staged = stage_layer(&mut conn, &spec, pipe.batches, cancel, &counters).await;
        progress.finish();
        let staged = match staged {
            Err(ImportError::Empty(_))
                if layer.skip_if_empty && Counters::get(&counters.read) == 0 =>
            {
                tracing::warn!(layer = %layer.info.name, "skipping an empty layer");
                continue;
            }
            other => other?,
        };
        let entry = catalog_entry(
            &layer.id,
            title.map(str::to_string),
            &layer.info.name,
            file,
            layer.crs.label(),
            layer.info.fields.iter().map(|f| f.catalog()).collect(),
            &staged,
            &counters,
            layer_started.elapsed().as_secs_f64(),
        );
        prepared.push((position, Prepared { staged, entry }));
    }
    let positions: Vec<usize> = prepared.iter().map(|(p, _)| *p).collect();
    let reports = swap_all(
        &mut conn,
        prepared.into_iter().map(|(_, p)| p).collect(),
        replace,
        cancel,
    )
    .await?;
    Ok((conn, positions.into_iter().zip(reports).collect()))
}
