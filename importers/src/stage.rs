//! The staging table of one layer: created, filled through binary COPY, repaired,
//! indexed and analysed — all inside the caller's transaction, so a failure or an
//! interruption leaves nothing behind.
//!
//! The geometry column gets the narrowest type that fits: the declared type, or the
//! type of the first batch; when a later batch mixes single and multi geometries of
//! one family the column becomes Multi (existing rows are wrapped with `ST_Multi`,
//! later single geometries are wrapped on the way); other mixes give `Geometry`.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use sqlx::PgConnection;
use tokio::sync::mpsc;

use crate::control::{Cancel, Counters};
use crate::copy::{self, ColumnType};
use crate::defaults::{self, IMPORTED_MARK};
use crate::error::{DbContext, ImportError};
use crate::geometry::GeomType;
use crate::naming::{layer_table, quote_ident};
use crate::pipeline::{EncodedBatch, Extent};

/// The type of the geometry column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeomColumn {
    /// `geometry(<type>, 4326)`.
    Typed(GeomType),
    /// `geometry(Geometry, 4326)`: mixed families.
    Mixed,
}

impl GeomColumn {
    /// `Point`, …, `Geometry`.
    pub fn name(self) -> &'static str {
        match self {
            GeomColumn::Typed(t) => t.name(),
            GeomColumn::Mixed => "Geometry",
        }
    }

    /// 0 points, 1 lines, 2 polygons, 3 mixed.
    pub fn family(self) -> u8 {
        match self {
            GeomColumn::Typed(t) => t.family(),
            GeomColumn::Mixed => 3,
        }
    }

    /// The column type that holds everything this one holds plus `kinds`.
    pub fn widen(current: Option<GeomColumn>, kinds: &BTreeSet<GeomType>) -> GeomColumn {
        let mut all: BTreeSet<GeomType> = kinds.clone();
        match current {
            Some(GeomColumn::Mixed) => return GeomColumn::Mixed,
            Some(GeomColumn::Typed(t)) => {
                all.insert(t);
            }
            None => {}
        }
        let mut iter = all.iter();
        let Some(&first) = iter.next() else {
            return current.unwrap_or(GeomColumn::Mixed);
        };
        if all.len() == 1 {
            return GeomColumn::Typed(first);
        }
        let multi = first.multi();
        if first.family() < 3 && all.iter().all(|k| k.multi() == multi) {
            GeomColumn::Typed(multi)
        } else {
            GeomColumn::Mixed
        }
    }
}

/// One attribute column.
#[derive(Debug, Clone)]
pub struct Column {
    /// Safe name.
    pub name: String,
    /// Type.
    pub column_type: ColumnType,
}

/// What a staging table is for.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// The layer it becomes.
    pub layer_id: String,
    /// Attribute columns after `fid` and `geom`.
    pub columns: Vec<Column>,
    /// The source's declared geometry type, if any.
    pub declared: Option<GeomType>,
    /// How invalid polygons are repaired (see [`setup_session`]).
    pub polygon_repair: PolygonRepair,
}

/// A filled, indexed staging table.
#[derive(Debug, Clone)]
pub struct Staged {
    /// Its name in schema `layers`.
    pub table: String,
    /// Final geometry column type.
    pub geometry: GeomColumn,
    /// Rows.
    pub rows: i64,
    /// [west, south, east, north].
    pub bounds: Option<[f64; 4]>,
    /// Default min zoom.
    pub min_zoom: i32,
    /// Name of its primary-key index (renamed to `<id>:pkey` on swap).
    pub pkey_index: String,
    /// Name of its GiST index (renamed to `<id>:geom` on swap).
    pub geom_index: String,
    /// Rows whose geometry is not known to be valid (see
    /// [`crate::geometry::Scratch::proven`]): the only ones `ST_IsValid` checks.
    pub unproven: Vec<i64>,
    /// What the rows sent cover.
    pub extent: Extent,
}

/// Short index names for a staging table (its own name may be 63 characters, too
/// long to take a suffix).
fn stage_index_names() -> (String, String) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    (
        format!("_stage_{pid}_{n}_pkey"),
        format!("_stage_{pid}_{n}_geom"),
    )
}

/// The staging table name of layer `id` for this process.
pub fn stage_name(id: &str) -> String {
    format!("_stage_{id}_{}", std::process::id())
}

/// A dedicated connection for an import, configured like the pool's but without
/// statement logging: building an index on millions of rows is expected to be slow.
pub async fn connect(pool: &sqlx::PgPool) -> Result<PgConnection, ImportError> {
    use sqlx::{ConnectOptions, Connection};
    let options = (*pool.connect_options())
        .clone()
        .disable_statement_logging();
    PgConnection::connect_with(&options).await.db(&format!(
        "connecting to the database at {}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    ))
}

/// How `ST_MakeValid` repairs a polygon layer's invalid rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolygonRepair {
    /// GEOS's default `linework` method: every area the rings' linework encloses.
    #[default]
    Linework,
    /// `method=structure` (PostGIS ≥ 3.2 with GEOS ≥ 3.10): the shells unioned, the
    /// holes subtracted — what a polygon with overlapping or touching rings is meant
    /// to cover (an OSM multipolygon's overlapping outer ways stay covered instead of
    /// becoming a hole) — and about three times faster.
    Structure,
}

/// Prepares a writer's session in one round trip: loads PostGIS into the server
/// process (so that it is not loaded on the first COPY), compresses large values
/// (geometries, statistics) with LZ4 where the server has it — several times faster
/// than the default pglz both when writing and when tiles and queries read the
/// geometries back, at a similar size — and tells how the server can repair
/// polygons.
pub async fn setup_session(conn: &mut PgConnection) -> Result<PolygonRepair, ImportError> {
    let structure: bool = sqlx::query_scalar(
        "SELECT set_config('default_toast_compression',
                           CASE WHEN 'lz4' = ANY(enumvals) THEN 'lz4' ELSE setting END, false) <> ''
                AND regexp_replace(postgis_lib_version(), '^(\\d+)\\.(\\d+).*$', '{\\1,\\2}')::int[] >= '{3,2}'
                AND regexp_replace(postgis_geos_version(), '^(\\d+)\\.(\\d+).*$', '{\\1,\\2}')::int[] >= '{3,10}'
           FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_one(&mut *conn)
    .await
    .db("loading PostGIS")?;
    Ok(if structure {
        PolygonRepair::Structure
    } else {
        PolygonRepair::Linework
    })
}

/// Drops committed `_stage_*` tables in schema `layers`.
///
/// Imports create their staging tables inside their transaction, so a running import's
/// table is invisible to others and any committed one was left by a process that died
/// (or an older version); dropping it is always safe.
pub async fn cleanup_stale(conn: &mut PgConnection) -> Result<usize, ImportError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'layers' AND c.relkind = 'r' AND c.relname LIKE '\\_stage\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .db("looking for stale staging tables")?;
    for (name,) in &rows {
        tracing::info!(table = %name, "dropping a staging table left by an interrupted import");
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", layer_table(name)))
            .execute(&mut *conn)
            .await
            .db("dropping a stale staging table")?;
    }
    Ok(rows.len())
}

async fn exec(conn: &mut PgConnection, sql: &str, context: &str) -> Result<u64, ImportError> {
    Ok(sqlx::query(sql)
        .execute(&mut *conn)
        .await
        .db(context)?
        .rows_affected())
}

fn copy_statement(table: &str, spec: &StageSpec) -> String {
    let mut cols = vec!["fid".to_string(), "geom".to_string()];
    cols.extend(spec.columns.iter().map(|c| quote_ident(&c.name)));
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        layer_table(table),
        cols.join(", ")
    )
}

async fn create_table(
    conn: &mut PgConnection,
    table: &str,
    spec: &StageSpec,
    geom: GeomColumn,
) -> Result<(), ImportError> {
    let mut cols = vec![
        "fid bigint NOT NULL".to_string(),
        format!("geom geometry({},4326) NOT NULL", geom.name()),
    ];
    cols.extend(
        spec.columns
            .iter()
            .map(|c| format!("{} {}", quote_ident(&c.name), c.column_type.sql())),
    );
    let sql = format!("CREATE TABLE {} ({})", layer_table(table), cols.join(", "));
    exec(conn, &sql, "creating the staging table").await?;
    Ok(())
}

async fn alter_geometry(
    conn: &mut PgConnection,
    table: &str,
    to: GeomColumn,
) -> Result<(), ImportError> {
    let using = match to {
        GeomColumn::Typed(t) if !t.is_single() && t != GeomType::GeometryCollection => {
            "ST_Multi(geom)"
        }
        _ => "geom",
    };
    tracing::debug!(table, to = to.name(), "widening the geometry column");
    let sql = format!(
        "ALTER TABLE {} ALTER COLUMN geom TYPE geometry({},4326) USING {using}",
        layer_table(table),
        to.name()
    );
    exec(conn, &sql, "widening the geometry column").await?;
    Ok(())
}

/// Receives batches until the channel closes and COPYs them into a new staging
/// table. Runs inside the caller's transaction (`conn`); [`finish`] completes it.
pub async fn write(
    conn: &mut PgConnection,
    spec: &StageSpec,
    mut batches: mpsc::Receiver<Result<EncodedBatch, ImportError>>,
    cancel: &Cancel,
    counters: &Counters,
) -> Result<Staged, ImportError> {
    let table = stage_name(&spec.layer_id);
    let statement = copy_statement(&table, spec);
    let mut column: Option<GeomColumn> = None;
    // A batch that needs the table (re)shaped before it can be sent.
    let mut pending: Option<EncodedBatch> = None;
    let mut unproven: Vec<i64> = Vec::new();
    let mut extent = Extent::default();
    loop {
        let batch = match pending.take() {
            Some(b) => b,
            None => match next_batch(&mut batches, cancel).await? {
                Some(b) => b,
                None => break,
            },
        };
        let wanted = GeomColumn::widen(
            column.or(spec.declared.map(GeomColumn::Typed)),
            &kinds(&batch),
        );
        match column {
            None => create_table(conn, &table, spec, wanted).await?,
            Some(c) if c != wanted => alter_geometry(conn, &table, wanted).await?,
            Some(_) => {}
        }
        column = Some(wanted);
        // One COPY segment: runs until the input ends or a batch needs a wider column.
        let mut copy = conn.copy_in_raw(&statement).await.db("starting COPY")?;
        copy.send(copy::HEADER).await.db("writing rows")?;
        let mut next = Some(batch);
        while let Some(batch) = next.take() {
            let batch_kinds = kinds(&batch);
            if GeomColumn::widen(column, &batch_kinds) != wanted {
                pending = Some(batch);
                break;
            }
            let batch = match wanted {
                GeomColumn::Typed(t)
                    if !t.is_single() && batch_kinds.iter().any(|k| k.is_single()) =>
                {
                    batch.promoted(t.family())
                }
                _ => batch,
            };
            let rows = batch.rows.len() as u64;
            unproven.extend(batch.rows.iter().filter(|r| !r.proven).map(|r| r.fid));
            extent.merge(&batch.extent);
            copy.send(batch.buf).await.db("writing rows")?;
            counters.written.fetch_add(rows, Ordering::Relaxed);
            next = next_batch(&mut batches, cancel).await?;
        }
        copy.send(copy::TRAILER).await.db("writing rows")?;
        copy.finish().await.db("writing rows")?;
        if pending.is_none() {
            break;
        }
    }
    let Some(geometry) = column else {
        let reason = counters
            .first_invalid
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .map(|r| format!(" (first problem: {r})"))
            .unwrap_or_default();
        return Err(ImportError::Empty(format!(
            "no feature with a usable geometry for layer {}{reason}",
            spec.layer_id
        )));
    };
    let (pkey_index, geom_index) = stage_index_names();
    Ok(Staged {
        table,
        geometry,
        rows: 0,
        bounds: None,
        min_zoom: 0,
        pkey_index,
        geom_index,
        unproven,
        extent,
    })
}

fn kinds(batch: &EncodedBatch) -> BTreeSet<GeomType> {
    batch.rows.iter().map(|r| r.kind).collect()
}

/// The next non-empty batch, `None` at the end; Ctrl-C and upstream errors are errors.
async fn next_batch(
    batches: &mut mpsc::Receiver<Result<EncodedBatch, ImportError>>,
    cancel: &Cancel,
) -> Result<Option<EncodedBatch>, ImportError> {
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(ImportError::Interrupted),
            next = batches.recv() => next,
        };
        match next {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(b)) if b.rows.is_empty() => continue,
            Some(Ok(b)) => return Ok(Some(b)),
        }
    }
}

/// Repairs invalid geometries (`ST_MakeValid`, keeping the column's family), adds
/// the primary key and the GiST index, analyses, and measures the table.
pub async fn finish(
    conn: &mut PgConnection,
    mut staged: Staged,
    polygon_repair: PolygonRepair,
    counters: &Counters,
) -> Result<Staged, ImportError> {
    let t = layer_table(&staged.table);
    let started = std::time::Instant::now();
    // Points are always valid, lines were checked during the conversion (unless one
    // collapsed in the transformation), and so were polygons of one simple ring: only
    // the rest is checked here.
    let changed =
        !staged.unproven.is_empty() && repair(conn, &mut staged, polygon_repair, counters).await?;
    tracing::debug!(table = %staged.table, seconds = started.elapsed().as_secs_f64(), "validity checked");
    // One round trip (simple query protocol, still inside the transaction): primary
    // key, GiST index, the importer's mark, statistics.
    let sql = format!(
        "ALTER TABLE {t} ADD CONSTRAINT {pkey} PRIMARY KEY (fid);
         CREATE INDEX {gist} ON {t} USING gist (geom);
         COMMENT ON TABLE {t} IS '{mark}';
         ANALYZE {t}",
        pkey = quote_ident(&staged.pkey_index),
        gist = quote_ident(&staged.geom_index),
        mark = IMPORTED_MARK,
    );
    sqlx::raw_sql(&sql)
        .execute(&mut *conn)
        .await
        .db("indexing and analysing the table")?;
    tracing::debug!(table = %staged.table, seconds = started.elapsed().as_secs_f64(), "indexed and analysed");
    if !changed {
        // The table holds exactly the rows sent: measured while they were encoded.
        // The table holds exactly the rows sent (counted as they were copied):
        // measured while they were encoded.
        let sent = Counters::get(&counters.written) as i64;
        staged.rows = sent;
        staged.bounds = staged.extent.bounds;
        let typical_size = (sent > 0).then(|| staged.extent.size_sum / sent as f64);
        staged.min_zoom = defaults::default_min_zoom(staged.geometry.family(), typical_size);
        return Ok(staged);
    }
    // Repairs changed or dropped rows: measure what the table holds now.
    let size_expr = if staged.geometry.family() == 2 {
        "avg(sqrt(greatest((ST_XMax(geom) - ST_XMin(geom)) * (ST_YMax(geom) - ST_YMin(geom)), 0)))"
    } else {
        "NULL::float8"
    };
    type Measures = (
        i64,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );
    let row: Measures = sqlx::query_as(&format!(
        "SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), s
           FROM (SELECT count(*) AS n, ST_Extent(geom) AS e, {size_expr} AS s FROM {t}) x"
    ))
    .fetch_one(&mut *conn)
    .await
    .db("measuring the layer")?;
    let count = row.0;
    staged.rows = count;
    staged.bounds = match (row.1, row.2, row.3, row.4) {
        (Some(w), Some(s), Some(e), Some(n)) => Some([w, s, e, n]),
        _ => None,
    };
    staged.min_zoom = defaults::default_min_zoom(staged.geometry.family(), row.5);
    Ok(staged)
}

/// Checks the unproven rows and repairs the invalid ones; returns whether any row
/// changed.
async fn repair(
    conn: &mut PgConnection,
    staged: &mut Staged,
    polygon_repair: PolygonRepair,
    counters: &Counters,
) -> Result<bool, ImportError> {
    let t = layer_table(&staged.table);
    // ST_IsValid reports every problem as a NOTICE: keep them off the client.
    exec(
        conn,
        "SET LOCAL client_min_messages = warning",
        "configuring the session",
    )
    .await?;
    // One query finds the invalid rows among those not proven valid during the
    // conversion; usually there are none and that is all.
    let (bad,): (Option<Vec<i64>>,) = sqlx::query_as(&format!(
        "SELECT array_agg(fid) FROM {t} WHERE fid = ANY($1) AND NOT ST_IsValid(geom)"
    ))
    .bind(&staged.unproven)
    .fetch_one(&mut *conn)
    .await
    .db("checking geometries")?;
    let Some(bad) = bad.filter(|b| !b.is_empty()) else {
        return Ok(false);
    };
    let make_valid = match (polygon_repair, staged.geometry) {
        (PolygonRepair::Structure, GeomColumn::Typed(k)) if k.family() == 2 => {
            "ST_MakeValid(geom, 'method=structure')"
        }
        _ => "ST_MakeValid(geom)",
    };
    let extract = match staged.geometry {
        GeomColumn::Typed(GeomType::GeometryCollection) => {
            format!("ST_ForceCollection({make_valid})")
        }
        GeomColumn::Typed(k) => format!("ST_CollectionExtract({make_valid}, {})", k.family() + 1),
        GeomColumn::Mixed => make_valid.to_string(),
    };
    let (repaired, dropped) = match staged.geometry {
        GeomColumn::Typed(k) if k.is_single() => {
            repair_single(conn, staged, k, &extract, &bad).await?
        }
        // A Multi, collection or mixed column takes whatever ST_MakeValid gives: one
        // statement repairs the rows and drops those that vanish.
        _ => {
            let fixed = match staged.geometry {
                GeomColumn::Typed(GeomType::GeometryCollection) | GeomColumn::Mixed => "f.g",
                GeomColumn::Typed(_) => "ST_Multi(f.g)",
            };
            let (dropped, repaired): (i64, i64) = sqlx::query_as(&format!(
                "WITH fix AS (SELECT fid, {extract} AS g FROM {t} WHERE fid = ANY($1)),
                      gone AS (DELETE FROM {t} s USING fix f
                                WHERE s.fid = f.fid AND (f.g IS NULL OR ST_IsEmpty(f.g)) RETURNING 1),
                      done AS (UPDATE {t} s SET geom = {fixed} FROM fix f
                                WHERE s.fid = f.fid AND NOT (f.g IS NULL OR ST_IsEmpty(f.g)) RETURNING 1)
                 SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM done)"
            ))
            .bind(&bad)
            .fetch_one(&mut *conn)
            .await
            .db("repairing geometries")?;
            (repaired.max(0) as u64, dropped.max(0) as u64)
        }
    };
    counters.repaired.fetch_add(repaired, Ordering::Relaxed);
    counters
        .skipped_invalid
        .fetch_add(dropped, Ordering::Relaxed);
    counters.written.fetch_sub(
        dropped.min(counters.written.load(Ordering::Relaxed)),
        Ordering::Relaxed,
    );
    tracing::info!(table = %staged.table, repaired, dropped, "invalid geometries repaired");
    Ok(true)
}

/// Repairs rows `bad` of a single-type column (`kind`): when a repaired geometry
/// fell apart into several parts the column becomes Multi, otherwise one-part Multi
/// results are unwrapped. Returns (repaired, dropped).
async fn repair_single(
    conn: &mut PgConnection,
    staged: &mut Staged,
    kind: GeomType,
    extract: &str,
    bad: &[i64],
) -> Result<(u64, u64), ImportError> {
    let t = layer_table(&staged.table);
    exec(
        conn,
        "DROP TABLE IF EXISTS pg_temp._citygrid_fix",
        "repairing geometries",
    )
    .await?;
    sqlx::query(&format!(
        "CREATE TEMP TABLE _citygrid_fix AS SELECT fid, {extract} AS g FROM {t} WHERE fid = ANY($1)"
    ))
    .bind(bad)
    .execute(&mut *conn)
    .await
    .db("repairing geometries")?;
    let dropped = exec(
        conn,
        &format!("DELETE FROM {t} s USING pg_temp._citygrid_fix f WHERE s.fid = f.fid AND (f.g IS NULL OR ST_IsEmpty(f.g))"),
        "repairing geometries",
    )
    .await?;
    let (multi_parts,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_temp._citygrid_fix WHERE NOT ST_IsEmpty(g) AND ST_NumGeometries(g) > 1",
    )
    .fetch_one(&mut *conn)
    .await
    .db("repairing geometries")?;
    let fixed_expr = if multi_parts > 0 {
        // A repaired polygon fell apart into several: the layer becomes Multi.
        let multi = GeomColumn::Typed(kind.multi());
        alter_geometry(conn, &staged.table, multi).await?;
        staged.geometry = multi;
        "ST_Multi(f.g)"
    } else {
        "CASE WHEN ST_NumGeometries(f.g) = 1 AND GeometryType(f.g) LIKE 'MULTI%' THEN ST_GeometryN(f.g, 1) ELSE f.g END"
    };
    let repaired = exec(
        conn,
        &format!(
            "UPDATE {t} s SET geom = {fixed_expr} FROM pg_temp._citygrid_fix f WHERE s.fid = f.fid"
        ),
        "repairing geometries",
    )
    .await?;
    exec(
        conn,
        "DROP TABLE pg_temp._citygrid_fix",
        "repairing geometries",
    )
    .await?;
    Ok((repaired, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &[GeomType]) -> BTreeSet<GeomType> {
        k.iter().copied().collect()
    }

    #[test]
    fn widening() {
        use GeomType::*;
        assert_eq!(
            GeomColumn::widen(None, &set(&[Polygon])),
            GeomColumn::Typed(Polygon)
        );
        assert_eq!(
            GeomColumn::widen(None, &set(&[Polygon, MultiPolygon])),
            GeomColumn::Typed(MultiPolygon)
        );
        assert_eq!(
            GeomColumn::widen(Some(GeomColumn::Typed(Polygon)), &set(&[MultiPolygon])),
            GeomColumn::Typed(MultiPolygon)
        );
        assert_eq!(
            GeomColumn::widen(Some(GeomColumn::Typed(MultiPolygon)), &set(&[Polygon])),
            GeomColumn::Typed(MultiPolygon)
        );
        assert_eq!(
            GeomColumn::widen(None, &set(&[Point, LineString])),
            GeomColumn::Mixed
        );
        assert_eq!(
            GeomColumn::widen(Some(GeomColumn::Typed(Point)), &set(&[Point])),
            GeomColumn::Typed(Point)
        );
        assert_eq!(
            GeomColumn::widen(None, &set(&[GeometryCollection])),
            GeomColumn::Typed(GeometryCollection)
        );
    }
}
