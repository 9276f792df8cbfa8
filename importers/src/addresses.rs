//! `citygrid import addresses`: standard addresses (门楼牌) from any GDAL source into the
//! `addresses` table (issue 21).
//!
//! The file is read by the importers' GDAL reader thread ([`crate::reader`]) with only
//! the mapped fields; geometries are brought to EPSG:4326 by the same
//! [`crate::geometry::normalise`] as every vector import (PROJ for CGCS2000 and its
//! Gauss-Krüger zones, GCJ-02/BD-09 by hand), and a polygon's address is stored at a
//! point on its surface. The rows of the same `source` are replaced in one transaction:
//! a file that fails anywhere leaves the previous rows as they were.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use citygrid_store::addresses::{self as store, NewAddress};
use sqlx::PgPool;

use crate::control::{Cancel, Counters};
use crate::copy::ColumnType;
use crate::crs::{self, SourceCrs, Transformer};
use crate::error::{DbContext, ImportError};
use crate::fields::FieldPlan;
use crate::geometry::{self, Outcome, Scratch};
use crate::progress::{Progress, ProgressMode};
use crate::reader::{OpenOptions, ReadJob, SourceReader};
use crate::stage;

/// Longest text kept of one field (longer values are cut at a character boundary).
pub const MAX_FIELD_CHARS: usize = 500;

/// Which source field holds each part of an address (names as in the file).
#[derive(Debug, Clone, Default)]
pub struct AddressFields {
    /// The whole address as written.
    pub full: Option<String>,
    /// Road name.
    pub road: Option<String>,
    /// House number.
    pub number: Option<String>,
    /// Building.
    pub building: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Community.
    pub community: Option<String>,
    /// Street office.
    pub street: Option<String>,
    /// District.
    pub district: Option<String>,
    /// City.
    pub city: Option<String>,
    /// GB/T 2260 code.
    pub division_code: Option<String>,
}

impl AddressFields {
    /// `(option name, field)` of every part, in [`NewAddress`] order.
    fn parts(&self) -> [(&'static str, &Option<String>); 10] {
        [
            ("--full-field", &self.full),
            ("--road-field", &self.road),
            ("--number-field", &self.number),
            ("--building-field", &self.building),
            ("--unit-field", &self.unit),
            ("--community-field", &self.community),
            ("--street-field", &self.street),
            ("--district-field", &self.district),
            ("--city-field", &self.city),
            ("--division-code-field", &self.division_code),
        ]
    }
}

/// What `citygrid import addresses` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct AddressOptions {
    /// The file.
    pub file: PathBuf,
    /// The source name whose rows are replaced (default: the file's stem).
    pub source: Option<String>,
    /// The layer of a multi-layer source.
    pub layer: Option<String>,
    /// A GDAL (OGR SQL) query whose result is imported instead of a layer:
    /// `SELECT * FROM mlp WHERE status = 'valid'`.
    pub sql: Option<String>,
    /// Overrides the file's CRS: `EPSG:n`, `gcj02`, `bd09`.
    pub source_crs: Option<String>,
    /// Text encoding of a file that declares none.
    pub encoding: Option<String>,
    /// CSV: the X / longitude column.
    pub x_field: Option<String>,
    /// CSV: the Y / latitude column.
    pub y_field: Option<String>,
    /// The field mapping.
    pub fields: AddressFields,
    /// Import although the coordinates do not fit the CRS.
    pub force: bool,
}

/// The outcome of an address import.
#[derive(Debug, Clone)]
pub struct AddressReport {
    /// The source name.
    pub source: String,
    /// Features read.
    pub read: u64,
    /// Addresses stored.
    pub written: u64,
    /// Features skipped: no geometry, unusable geometry, or neither road nor full address.
    pub skipped: u64,
    /// Rows of the source before the import (replaced).
    pub replaced: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The default source name of `file`: its stem.
pub fn default_source(file: &Path) -> String {
    file.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("addresses")
        .to_string()
}

/// Imports the addresses of `options.file`, replacing the rows of its source.
pub async fn import_addresses(
    pool: &PgPool,
    options: &AddressOptions,
    cancel: &Cancel,
    mode: ProgressMode,
) -> Result<AddressReport, ImportError> {
    let started = Instant::now();
    if !options.file.exists() {
        return Err(ImportError::NotFound(options.file.clone()));
    }
    let source = options
        .source
        .clone()
        .unwrap_or_else(|| default_source(&options.file));
    if source.is_empty() || source.chars().count() > 200 || source.starts_with("osm:") {
        return Err(ImportError::Invalid(format!(
            "invalid --source {source:?}: 1-200 characters, not starting with osm: (those are import osm's)"
        )));
    }
    if options.fields.full.is_none() && options.fields.road.is_none() {
        return Err(ImportError::Invalid(
            "give --road-field (with --number-field) or --full-field: which field holds the address"
                .into(),
        ));
    }
    let source_crs = options
        .source_crs
        .as_deref()
        .map(SourceCrs::parse)
        .transpose()?;
    let file = options.file.display().to_string();
    // --sql: the query's result layer, through an OGR VRT beside nothing else (removed
    // when the import ends).
    let sql_vrt = match &options.sql {
        Some(sql) => {
            if options.layer.is_some() {
                return Err(ImportError::Invalid(
                    "give --layer or --sql, not both".into(),
                ));
            }
            Some(SqlVrt::write(&options.file, sql, options)?)
        }
        None => None,
    };
    let read_path = sql_vrt
        .as_ref()
        .map_or_else(|| options.file.clone(), |v| v.path.clone());
    let (reader, layers) = SourceReader::open(
        read_path,
        OpenOptions {
            encoding: options.encoding.clone(),
            x_field: options.x_field.clone(),
            y_field: options.y_field.clone(),
            source_crs: source_crs.clone(),
        },
    )
    .await?;
    let with_geometry: Vec<_> = layers.into_iter().filter(|l| l.has_geometry).collect();
    let layer = match &options.layer {
        Some(name) => with_geometry
            .iter()
            .find(|l| &l.name == name)
            .cloned()
            .ok_or_else(|| {
                ImportError::Invalid(format!(
                    "{file} has no layer {name:?} with geometry; its layers: {}",
                    names(with_geometry.iter().map(|l| l.name.as_str()))
                ))
            })?,
        None if with_geometry.len() == 1 => with_geometry[0].clone(),
        None if with_geometry.is_empty() => {
            return Err(ImportError::Empty(format!(
                "{file} has no layer with geometry (a CSV needs --x-field and --y-field)"
            )))
        }
        None => {
            return Err(ImportError::Invalid(format!(
                "{file} has {} layers: choose one with --layer ({})",
                with_geometry.len(),
                names(with_geometry.iter().map(|l| l.name.as_str()))
            )))
        }
    };
    // The mapping: every named field must exist.
    let mut plans: Vec<FieldPlan> = Vec::new();
    let mut slots: Vec<Option<usize>> = Vec::new();
    let mut unknown = Vec::new();
    for (_, wanted) in options.fields.parts() {
        let Some(wanted) = wanted else {
            slots.push(None);
            continue;
        };
        let found = layer
            .fields
            .iter()
            .find(|f| &f.source_name == wanted)
            .or_else(|| {
                layer
                    .fields
                    .iter()
                    .find(|f| f.source_name.eq_ignore_ascii_case(wanted) || &f.name == wanted)
            });
        match found {
            Some(f) => {
                let at = plans
                    .iter()
                    .position(|p| p.index == f.index)
                    .unwrap_or_else(|| {
                        plans.push(f.clone());
                        plans.len() - 1
                    });
                slots.push(Some(at));
            }
            None => {
                unknown.push(wanted.clone());
                slots.push(None);
            }
        }
    }
    if !unknown.is_empty() {
        return Err(ImportError::Invalid(format!(
            "{file} has no field {}; its fields: {}",
            names(unknown.iter().map(|s| s.as_str())),
            names(layer.fields.iter().map(|f| f.source_name.as_str()))
        )));
    }
    let (crs, swap_xy) = layer
        .crs
        .clone()
        .map_err(|_| ImportError::NoCrs(file.clone()))?;
    let mut transformer = Transformer::new(&crs, swap_xy)?;
    if let Some(extent) = layer.extent {
        let checked = crs::check_extent(&crs, swap_xy, extent, source_crs.is_some());
        match checked {
            Err(e) if options.force => tracing::warn!("--force: {e}"),
            other => other?,
        }
    }

    let counters = Arc::new(Counters::default());
    let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel(4);
    let plans = Arc::new(plans);
    reader.read(ReadJob {
        layer: layer.index,
        fields: Arc::clone(&plans),
        out: raw_tx,
        cancel: cancel.clone(),
        counters: Arc::clone(&counters),
    })?;
    // Conversion on a thread of its own: attribute decoding, PROJ.
    let (rows_tx, mut rows_rx) =
        tokio::sync::mpsc::channel::<Result<Vec<NewAddress>, ImportError>>(4);
    let conv_counters = Arc::clone(&counters);
    let conv_plans = Arc::clone(&plans);
    std::thread::Builder::new()
        .name("citygrid-addresses".into())
        .spawn(move || {
            let mut scratch = Scratch::default();
            let mut out = Vec::with_capacity(store::BATCH_ROWS);
            while let Ok(batch) = raw_rx.recv() {
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = rows_tx.blocking_send(Err(e));
                        return;
                    }
                };
                for i in 0..batch.len() {
                    let (_, wkb, attrs) = batch.feature(i);
                    let values = decode_attrs(attrs, &conv_plans);
                    let pick =
                        |slot: Option<usize>| slot.and_then(|s| values.get(s).cloned().flatten());
                    let mut ewkb = Vec::new();
                    match geometry::normalise(wkb, &mut transformer, &mut scratch, &mut ewkb) {
                        Outcome::Written { .. } => {}
                        _ => {
                            conv_counters
                                .skipped_invalid
                                .fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                    let row = NewAddress {
                        full: pick(slots[0]),
                        road: pick(slots[1]),
                        number: pick(slots[2]),
                        building: pick(slots[3]),
                        unit: pick(slots[4]),
                        community: pick(slots[5]),
                        street: pick(slots[6]),
                        district: pick(slots[7]),
                        city: pick(slots[8]),
                        division_code: pick(slots[9])
                            .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())),
                        geom_ewkb: ewkb,
                    };
                    if row.full.is_none() && row.road.is_none() {
                        conv_counters.skipped_empty.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    out.push(row);
                    if out.len() >= store::BATCH_ROWS
                        && rows_tx
                            .blocking_send(Ok(std::mem::replace(
                                &mut out,
                                Vec::with_capacity(store::BATCH_ROWS),
                            )))
                            .is_err()
                    {
                        return;
                    }
                }
            }
            if !out.is_empty() {
                let _ = rows_tx.blocking_send(Ok(out));
            }
        })
        .map_err(|e| ImportError::Internal(format!("cannot start the address converter: {e}")))?;

    let progress = Progress::start(
        mode,
        &format!("addresses {source}"),
        layer.feature_count,
        Arc::clone(&counters),
    );
    let mut conn = stage::connect(pool).await?;
    let mut tx = sqlx::Connection::begin(&mut conn)
        .await
        .db("starting the transaction")?;
    let replaced = store::delete_source(&mut tx, &source)
        .await
        .db("replacing the previous addresses")?;
    let mut written = 0u64;
    while let Some(rows) = rows_rx.recv().await {
        if cancel.is_cancelled() {
            return Err(ImportError::Interrupted);
        }
        let rows = rows?;
        let n = store::insert_batch(&mut tx, &source, &rows)
            .await
            .db("writing addresses")?;
        written += n;
        counters.written.fetch_add(n, Ordering::Relaxed);
    }
    if cancel.is_cancelled() {
        return Err(ImportError::Interrupted);
    }
    drop(reader);
    progress.finish();
    let read = Counters::get(&counters.read);
    if written == 0 {
        return Err(ImportError::Empty(format!(
            "{file} has no usable address (read {read} features); nothing was changed"
        )));
    }
    tx.commit().await.db("committing")?;
    let _ = sqlx::Connection::close(conn).await;
    Ok(AddressReport {
        source,
        read,
        written,
        skipped: read.saturating_sub(written),
        replaced,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The OGR VRT of `--sql`: one layer, the query's result on the source (with the CSV
/// open options a CSV source would get); the file is removed when dropped.
struct SqlVrt {
    path: PathBuf,
}

impl SqlVrt {
    fn write(source: &Path, sql: &str, options: &AddressOptions) -> Result<SqlVrt, ImportError> {
        let sql = sql.trim();
        if sql.is_empty() || sql.len() > 10_000 {
            return Err(ImportError::Invalid(
                "--sql must be 1-10000 characters of OGR SQL".into(),
            ));
        }
        let source = std::fs::canonicalize(source)
            .map_err(|e| ImportError::source(source, e.to_string()))?;
        let ext = source
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut open_options = String::new();
        if ext == "csv" || ext == "tsv" {
            let x = options.x_field.clone().unwrap_or_else(|| {
                "x,lon,lng,long,longitude,经度,easting,east,point_x".to_string()
            });
            let y = options
                .y_field
                .clone()
                .unwrap_or_else(|| "y,lat,latitude,纬度,northing,north,point_y".to_string());
            for (k, v) in [
                ("X_POSSIBLE_NAMES", x.as_str()),
                ("Y_POSSIBLE_NAMES", y.as_str()),
                ("AUTODETECT_TYPE", "YES"),
                ("KEEP_GEOM_COLUMNS", "NO"),
            ] {
                open_options.push_str(&format!("<OOI key=\"{k}\">{}</OOI>", xml(v)));
            }
            open_options = format!("<OpenOptions>{open_options}</OpenOptions>");
        }
        let doc = format!(
            "<OGRVRTDataSource><OGRVRTLayer name=\"sql\"><SrcDataSource>{}</SrcDataSource>{open_options}<SrcSQL>{}</SrcSQL></OGRVRTLayer></OGRVRTDataSource>\n",
            xml(&source.to_string_lossy()),
            xml(sql)
        );
        let path = std::env::temp_dir().join(format!(
            "citygrid-addresses-{}-{}.vrt",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::write(&path, doc).map_err(|e| ImportError::source(&path, e.to_string()))?;
        Ok(SqlVrt { path })
    }
}

impl Drop for SqlVrt {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `s` escaped for XML text and attributes.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `a, b, c` (at most 40 names).
fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = it.collect();
    let mut s = all.iter().take(40).copied().collect::<Vec<_>>().join(", ");
    if all.len() > 40 {
        s.push_str(&format!(" … ({} in all)", all.len()));
    }
    if s.is_empty() {
        s.push_str("(none)");
    }
    s
}

/// Decodes the binary COPY fields of one feature (as the reader encoded them for
/// `plans`) to text: numbers as written (`188`, not `188.0`), NULL and empty as `None`.
fn decode_attrs(mut attrs: &[u8], plans: &[FieldPlan]) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        if attrs.len() < 4 {
            out.push(None);
            continue;
        }
        let len = i32::from_be_bytes([attrs[0], attrs[1], attrs[2], attrs[3]]);
        attrs = &attrs[4..];
        if len < 0 {
            out.push(None);
            continue;
        }
        let len = (len as usize).min(attrs.len());
        let (value, rest) = attrs.split_at(len);
        attrs = rest;
        let text = match plan.column_type {
            ColumnType::Text => Some(String::from_utf8_lossy(value).into_owned()),
            ColumnType::BigInt if value.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(value);
                Some(i64::from_be_bytes(b).to_string())
            }
            ColumnType::Double if value.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(value);
                let v = f64::from_be_bytes(b);
                Some(if v.fract() == 0.0 && v.abs() < 1e15 {
                    format!("{}", v as i64)
                } else {
                    v.to_string()
                })
            }
            // jsonb: a version byte, then the JSON text
            ColumnType::Jsonb if !value.is_empty() => {
                Some(String::from_utf8_lossy(&value[1..]).into_owned())
            }
            _ => None,
        };
        out.push(text.map(|t| clip(t.trim())).filter(|t| !t.is_empty()));
    }
    out
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_FIELD_CHARS) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_text_numbers_and_nulls() {
        let mut namer = crate::naming::ColumnNamer::default();
        let plans = vec![
            FieldPlan::native(0, "road", false, &mut namer),
            FieldPlan::native(1, "number", true, &mut namer),
            FieldPlan::native(2, "unit", false, &mut namer),
        ];
        let mut buf = Vec::new();
        let road = "沿江大道".as_bytes();
        buf.extend_from_slice(&(road.len() as i32).to_be_bytes());
        buf.extend_from_slice(road);
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&188i64.to_be_bytes());
        buf.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            decode_attrs(&buf, &plans),
            vec![Some("沿江大道".to_string()), Some("188".to_string()), None]
        );
        assert_eq!(clip(&"号".repeat(600)).chars().count(), MAX_FIELD_CHARS);
    }
}
